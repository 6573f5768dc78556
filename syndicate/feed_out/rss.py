"""RSS 2.0 (``feed.xml``), written with lxml.

Per item: ``title``, ``link``, ``guid``, ``pubDate`` (the original date),
``description`` (standfirst + credit), ``content:encoded`` (full HTML, URLs
absolute, + credit), ``dc:creator``, ``category``, ``dc:language``,
``dc:rights``; for a repost ``<source url="…">``, and *not* also
``dc:source`` (the W3C validator warns about both); the lead image as
``<enclosure>`` and ``media:content`` with its alt text in
``media:description``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.utils import format_datetime

from lxml import etree

from syndicate.feed_out.items import GENERATOR, RSS_FILE, Channel, Item, utc

ATOM_NS = "http://www.w3.org/2005/Atom"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
MEDIA_NS = "http://search.yahoo.com/mrss/"
NSMAP = {"atom": ATOM_NS, "content": CONTENT_NS, "dc": DC_NS, "media": MEDIA_NS}
RSS_DOCS = "https://www.rssboard.org/rss-specification"


def rfc822(dt: datetime) -> str:
    return format_datetime(utc(dt).replace(microsecond=0))


def _add(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrs)
    if text:
        el.text = text
    return el


def _item(channel_el: etree._Element, item: Item) -> None:
    el = _add(channel_el, "item")
    _add(el, "title", item.title)
    if item.link:
        _add(el, "link", item.link)
    _add(el, "description", item.summary_html)
    _add(el, f"{{{CONTENT_NS}}}encoded", item.content_html)
    _add(el, "guid", item.id, isPermaLink="true" if item.id == item.link else "false")
    _add(el, "pubDate", rfc822(item.published))
    _add(el, f"{{{DC_NS}}}creator", item.author)
    for term in item.categories:
        _add(el, "category", term)
    if item.language:
        _add(el, f"{{{DC_NS}}}language", item.language)
    if item.rights:
        _add(el, f"{{{DC_NS}}}rights", item.rights)
    if item.repost_url:
        _add(el, "source", item.repost_name, url=item.repost_url)
    if item.image:
        _add(el, "enclosure", url=item.image, length="0", type=item.image_type)
        media = _add(el, f"{{{MEDIA_NS}}}content", url=item.image, medium="image", type=item.image_type)
        _add(media, f"{{{MEDIA_NS}}}description", item.image_alt, type="plain")


def render_rss(items: Sequence[Item], channel: Channel, now: datetime) -> bytes:
    root = etree.Element("rss", nsmap=NSMAP, version="2.0")
    ch = _add(root, "channel")
    _add(ch, "title", channel.title)
    _add(ch, "link", channel.link)
    _add(ch, "description", channel.description)
    if RSS_FILE in channel.self_urls:
        _add(ch, f"{{{ATOM_NS}}}link", href=channel.self_urls[RSS_FILE], rel="self",
             type="application/rss+xml")
    if channel.hub:
        _add(ch, f"{{{ATOM_NS}}}link", href=channel.hub, rel="hub")
    if channel.language:
        _add(ch, "language", channel.language)
    if channel.rights:
        _add(ch, "copyright", channel.rights)
    _add(ch, "docs", RSS_DOCS)
    _add(ch, "generator", GENERATOR)
    _add(ch, "lastBuildDate", rfc822(now))
    for item in items:
        _item(ch, item)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
