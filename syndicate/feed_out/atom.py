"""Atom 1.0 (``feed.atom``), written with lxml.

Per entry: ``id``, ``title``, ``published`` (the original date),
``updated``, an ``author`` always (the article's, else the credited
source), ``link rel="alternate"``, for a repost ``link rel="via"`` and a
``<source>`` with the ``id``, ``title``, ``link`` and ``updated`` the W3C
validator asks for, the lead image as ``link rel="enclosure"`` (its alt text
as the link's title), ``category``, ``summary`` (text), ``content`` (HTML),
``rights``, the item's language as ``xml:lang``, and ``link rel="syndication"``
to each post made of it.  After the entries, an RFC 6721 ``at:deleted-entry``
per article gone at source in the last 30 days (``changes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from lxml import etree

from syndicate.feed_out.changes import TOMBSTONES_NS, Tombstone
from syndicate.feed_out.items import ATOM_FILE, GENERATOR, Channel, Item, rfc3339, tag_uri, utc

ATOM_NS = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _add(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
    if text:
        el.text = text
    return el


def _entry(feed: etree._Element, item: Item) -> None:
    el = _add(feed, "entry")
    if item.language:
        el.set(XML_LANG, item.language)
    _add(el, "id", item.atom_id)
    _add(el, "title", item.title, type="text")
    _add(el, "published", rfc3339(item.published))
    _add(el, "updated", rfc3339(item.updated))
    author = _add(el, "author")
    _add(author, "name", item.author)
    if item.link:
        _add(el, "link", href=item.link, rel="alternate", type="text/html")
    if item.repost_url:
        _add(el, "link", href=item.repost_url, rel="via", type="text/html")
    if item.image:
        _add(el, "link", href=item.image, rel="enclosure", type=item.image_type, title=item.image_alt)
    for post in item.posts:  # the posts made of it, where its discussion is
        _add(el, "link", href=post, rel="syndication", type="text/html")
    for term in item.categories:
        _add(el, "category", term=term)
    _add(el, "summary", item.summary_text, type="text")
    _add(el, "content", item.content_html, type="html")
    if item.rights:
        _add(el, "rights", item.rights, type="text")
    if item.repost_url:
        source = _add(el, "source")
        _add(source, "id", tag_uri(item.repost_url))
        _add(source, "title", item.repost_name, type="text")
        _add(source, "link", href=item.repost_url, rel="alternate", type="text/html")
        _add(source, "updated", rfc3339(item.repost_published or item.published))


def _tombstone(feed: etree._Element, stone: Tombstone) -> None:
    """RFC 6721: ``<at:deleted-entry ref="…" when="…">`` with the page and why."""
    el = etree.SubElement(feed, f"{{{TOMBSTONES_NS}}}deleted-entry", ref=stone.ref, when=rfc3339(stone.when))
    if stone.link:
        _add(el, "link", href=stone.link, rel="alternate", type="text/html")
    comment = etree.SubElement(el, f"{{{TOMBSTONES_NS}}}comment")
    comment.text = "Unpublished at source: gone from its feed, its page answers 404/410."


def render_atom(items: Sequence[Item], channel: Channel, now: datetime,
                tombstones: Sequence[Tombstone] = ()) -> bytes:
    """The Atom feed of ``items``, and a tombstone (RFC 6721) for each article in ``tombstones``."""
    self_url = channel.self_urls.get(ATOM_FILE, "")
    nsmap = {None: ATOM_NS, "at": TOMBSTONES_NS} if tombstones else {None: ATOM_NS}
    root = etree.Element(f"{{{ATOM_NS}}}feed", nsmap=nsmap)
    if channel.language:
        root.set(XML_LANG, channel.language)
    _add(root, "id", tag_uri(self_url or channel.link or channel.title))
    _add(root, "title", channel.title, type="text")
    _add(root, "subtitle", channel.description, type="text")
    _add(root, "updated", rfc3339(utc(now).replace(microsecond=0)))
    if self_url:
        _add(root, "link", href=self_url, rel="self", type="application/atom+xml")
    if channel.hub:
        _add(root, "link", href=channel.hub, rel="hub")
    if channel.link:
        _add(root, "link", href=channel.link, rel="alternate", type="text/html")
    if channel.rights:
        _add(root, "rights", channel.rights, type="text")
    _add(root, "generator", GENERATOR)
    for item in items:
        _entry(root, item)
    for stone in tombstones:
        _tombstone(root, stone)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
