"""The re-generated feed for mirror sites: RSS 2.0, Atom 1.0 and JSON Feed 1.1.

Mirror sites republish articles and credit where they were first published,
so every item carries:

- its **original** publication date as its date (``Article.published``),
- the canonical source link and a stable id,
- author, categories, the standfirst as its summary, the full sanitised HTML,
- a credit line, "First published on 13 October 2022 by Anti*Capitalist
  Resistance at https://…", at the end of both the content and the summary,
- for a repost, the original (RSS ``<source>`` and ``dc:source``, Atom
  ``<source>`` and ``<link rel="via">``, JSON ``_syndicate.source``).

Only http(s) links leave: an article's link, image or credit link that is
anything else (``javascript:``, ``data:`` …) is left out here even if it got
past ``parse``/``page``, and an id with such a scheme becomes a ``urn:uuid``.

``render_feeds`` is pure (articles + config + clock → bytes); ``write_feeds``
writes the files atomically and leaves a file alone when only its build date
would change, so its mtime (and the ETag a server derives from it) is stable.

RSS and Atom are built with feedgen; JSON Feed with the standard library.
Text is stripped of characters that XML 1.0 forbids before it reaches lxml.
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from syndicate.compose import format_date
from syndicate.config import OutputConfig
from syndicate.models import Article
from syndicate.summary import web_url

__all__ = [
    "ATOM_FILE",
    "FEED_FILES",
    "JSON_FILE",
    "MEDIA_TYPES",
    "RSS_FILE",
    "credit_line",
    "render_feeds",
    "write_feeds",
]

RSS_FILE = "feed.xml"
ATOM_FILE = "feed.atom"
JSON_FILE = "feed.json"
FEED_FILES = (RSS_FILE, ATOM_FILE, JSON_FILE)
MEDIA_TYPES = {
    RSS_FILE: "application/rss+xml; charset=utf-8",
    ATOM_FILE: "application/atom+xml; charset=utf-8",
    JSON_FILE: "application/feed+json; charset=utf-8",
}

GENERATOR = "syndicate"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"

_ATOM_NS = "http://www.w3.org/2005/Atom"
# Characters XML 1.0 does not allow (C0 controls except TAB/LF/CR, lone
# surrogates, U+FFFE/U+FFFF); lxml refuses them and feedparser flags them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SPACE = re.compile(r"\s+")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_ID_SCHEMES = frozenset({"http", "https", "urn", "tag"})  # an id in another scheme is not used as a URI
_ID_NAMESPACE = uuid.UUID("7f1e6f2c-7d53-5b8e-9a52-3c1f0e6b9a10")


# --- text and dates -------------------------------------------------------------


def _clean(text: str | None) -> str:
    """Text with the characters XML 1.0 forbids removed."""
    return _XML_INVALID.sub("", text) if text else ""


def _line(text: str | None) -> str:
    """One line of clean text: whitespace runs collapsed, ends stripped."""
    return _SPACE.sub(" ", _clean(text)).strip()


def _link(url: str | None) -> str:
    """An http(s) URL with a host, or "" (the last check before a link leaves)."""
    return web_url(_line(url)) or ""


def _utc(dt: datetime) -> datetime:
    """An aware UTC datetime (a naive one is taken to be UTC already)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _rfc3339(dt: datetime) -> str:
    return _utc(dt).isoformat()


def _host(url: str | None) -> str:
    try:
        host = urlsplit(url or "").hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


# --- the credit line ------------------------------------------------------------


def _credit_parts(article: Article, site_name: str | None) -> tuple[datetime, str, str]:
    """(date, source name, link) of the "first published" credit."""
    source = article.source
    source_url = _link(source.url) if source else ""
    date = (source.published if source and source.published else None) or article.published
    link = source_url or _link(article.link)
    if source and (source.name or source_url):
        name = _line(source.name) or _host(source_url)
    else:
        name = _line(site_name) or _host(_link(article.link))
    return date, name or "the original site", link


def credit_line(article: Article, site_name: str | None = None) -> str:
    """``First published on 13 October 2022 by Anti*Capitalist Resistance at https://…``.

    A repost credits its original source (``article.source``: name, else the
    host of its URL; its URL; its date, else ``article.published``).  Anything
    else credits ``site_name`` (the feed's display name; default: the host of
    the article's link) at the article's own link.
    """
    date, name, link = _credit_parts(article, site_name)
    text = f"First published on {format_date(date)} by {name}"
    return f"{text} at {link}" if link else text


def _credit_html(article: Article, site_name: str | None) -> str:
    date, name, link = _credit_parts(article, site_name)
    text = f"First published on {format_date(date)} by {html.escape(name, quote=False)}"
    if link:
        href = html.escape(link)
        text += f' at <a href="{href}">{href}</a>'
    return f"<p><em>{text}</em></p>"


# --- items, prepared once for all three formats ----------------------------------


@dataclass(frozen=True, slots=True)
class _Item:
    id: str  # the article's id (RSS guid, JSON id)
    atom_id: str  # an IRI: the id itself when it is one
    link: str
    title: str
    published: datetime
    updated: datetime
    author: str
    categories: tuple[str, ...]
    standfirst: str
    credit: str
    content_html: str  # article HTML + credit paragraph
    summary_text: str  # standfirst + credit, plain text
    summary_html: str  # standfirst + credit, HTML (RSS description)
    source_name: str  # the credited source (the repost's, else the site)
    source_url: str
    repost_name: str  # set only for a repost with a known name and URL
    repost_url: str  # set for a repost with a known URL
    image: str
    language: str


def _atom_id(article_id: str) -> str:
    if _URI.match(article_id):
        return article_id
    return f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, article_id)}"


def _item_id(article_id: str) -> str:
    """The article's id, unless it is a URI in a scheme no reader should follow (``javascript:``)."""
    if _URI.match(article_id) and article_id.split(":", 1)[0].lower() not in _ID_SCHEMES:
        return f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, article_id)}"
    return article_id


def _prepare(article: Article, site_name: str | None) -> _Item:
    link = _link(article.link)
    item_id = _item_id(_line(article.id)) or link
    title = _line(article.title) or link or item_id
    published = _utc(article.published)
    updated = _utc(article.updated) if article.updated else published
    standfirst = _clean(article.standfirst).strip()
    credit = _clean(credit_line(article, site_name))
    credit_html = _clean(_credit_html(article, site_name))
    body = _clean(article.content_html).strip()
    content_html = f"{body}\n{credit_html}" if body else credit_html
    summary_text = f"{standfirst}\n\n{credit}" if standfirst else credit
    summary_html = (
        f"<p>{html.escape(standfirst, quote=False)}</p>\n{credit_html}" if standfirst else credit_html
    )
    categories = tuple(dict.fromkeys(c for c in (_line(x) for x in article.categories) if c))
    _date, source_name, source_url = _credit_parts(article, site_name)
    source = article.source
    repost_url = _link(source.url) if source else ""
    repost_name = _line(source.name) if source and repost_url else ""
    return _Item(
        id=item_id,
        atom_id=_atom_id(item_id),
        link=link,
        title=title,
        published=published,
        updated=updated,
        author=_line(article.author),
        categories=categories,
        standfirst=standfirst,
        credit=credit,
        content_html=content_html,
        summary_text=summary_text,
        summary_html=summary_html,
        source_name=_clean(source_name),
        source_url=_clean(source_url),
        repost_name=repost_name,
        repost_url=repost_url,
        image=_link(article.image),
        language=_line(article.language),
    )


def _select(
    articles: Sequence[Article], output: OutputConfig, site_names: Mapping[str, str] | None
) -> list[_Item]:
    """The newest ``max_items`` by original publication date, newest first, one per id."""
    names = site_names or {}
    ordered = sorted(articles, key=lambda a: (_utc(a.published), a.id), reverse=True)
    items: list[_Item] = []
    seen: set[str] = set()
    for article in ordered:
        item = _prepare(article, names.get(article.feed))
        if item.id in seen:
            continue
        seen.add(item.id)
        items.append(item)
        if len(items) >= output.max_items:
            break
    return items


# --- channel -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Channel:
    title: str
    link: str
    description: str
    language: str
    hub: str
    self_urls: Mapping[str, str]  # file name → where it is published


def self_urls(self_url: str) -> dict[str, str]:
    """Where each file is published, from ``output.self_url``.

    ``https://x/feeds/`` or ``https://x/feeds/feed.xml`` (any of the three
    names) give all three; any other URL is taken to be the RSS feed's only.
    """
    if not self_url:
        return {}
    last = urlsplit(self_url).path.rsplit("/", 1)[-1]
    if self_url.endswith("/") or last in FEED_FILES:
        return {name: urljoin(self_url, name) for name in FEED_FILES}
    return {RSS_FILE: self_url}


def _channel(output: OutputConfig) -> _Channel:
    title = _line(output.title) or GENERATOR
    return _Channel(
        title=title,
        link=_line(output.link),
        description=_line(output.description) or title,
        language=_line(output.language),
        hub=_line(output.websub_hub),
        self_urls=self_urls(_line(output.self_url)),
    )


class _HubExtension(BaseExtension):
    """Adds ``<atom:link rel="hub">`` to an RSS channel (feedgen only writes rel=self)."""

    def __init__(self) -> None:
        self.hub = ""

    def extend_ns(self) -> dict[str, str]:
        return {"atom": _ATOM_NS}

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        if self.hub:
            etree.SubElement(feed[0], f"{{{_ATOM_NS}}}link", href=self.hub, rel="hub")
        return feed

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        return feed


def _generator(channel: _Channel, now: datetime, self_url: str, *, hub: bool) -> FeedGenerator:
    fg = FeedGenerator()
    fg.title(channel.title)
    fg.description(channel.description)
    if self_url:
        fg.link(href=self_url, rel="self")
    if hub and channel.hub:
        fg.link(href=channel.hub, rel="hub")
    if channel.link:  # last: feedgen takes the RSS <link> from the last link added
        fg.link(href=channel.link, rel="alternate")
    if channel.language:
        fg.language(channel.language)
    fg.generator(GENERATOR)
    fg.updated(_utc(now).replace(microsecond=0))
    return fg


# --- RSS 2.0 -------------------------------------------------------------------


def _render_rss(items: Sequence[_Item], channel: _Channel, now: datetime) -> bytes:
    fg = _generator(channel, now, channel.self_urls.get(RSS_FILE, ""), hub=False)
    fg.id(channel.link or channel.title)
    fg.load_extension("dc", atom=False, rss=True)
    if channel.hub:
        fg.register_extension("websub", _HubExtension, None, atom=False, rss=True)
        fg.websub.hub = channel.hub
    for item in items:
        fe = fg.add_entry(order="append")
        fe.title(item.title)
        if item.link:
            fe.link(href=item.link)
        fe.guid(item.id, permalink=item.id == item.link)
        fe.description(item.summary_html)
        fe.content(item.content_html)  # → content:encoded
        fe.pubDate(item.published)
        for term in item.categories:
            fe.category(term=term)
        if item.author:
            fe.dc.dc_creator(item.author)
        if item.repost_url:
            fe.dc.dc_source(item.repost_url)
            if item.repost_name:
                fe.source(url=item.repost_url, title=item.repost_name)
    return fg.rss_str(pretty=True)


# --- Atom 1.0 ------------------------------------------------------------------


def _render_atom(items: Sequence[_Item], channel: _Channel, now: datetime) -> bytes:
    self_url = channel.self_urls.get(ATOM_FILE, "")
    fg = _generator(channel, now, self_url, hub=True)
    fg.id(self_url or channel.link or channel.title)
    for item in items:
        fe = fg.add_entry(order="append")
        fe.id(item.atom_id)
        fe.title(item.title)
        if item.link:
            # Only one link: feedgen 1.0 drops the rel of entry links, so a
            # rel="via" link would read back as a second alternate.
            fe.link(href=item.link, rel="alternate")
        fe.published(item.published)
        fe.updated(item.updated)
        # Atom wants an author on every entry: fall back to the credited source.
        fe.author(name=item.author or item.source_name)
        for term in item.categories:
            fe.category(term=term)
        fe.summary(item.summary_text)
        fe.content(item.content_html, type="html")
        if item.repost_name:
            fe.source(url=item.repost_url, title=item.repost_name)
    return fg.atom_str(pretty=True)


# --- JSON Feed 1.1 -------------------------------------------------------------


def _render_json(items: Sequence[_Item], channel: _Channel) -> bytes:
    feed: dict[str, object] = {"version": JSON_FEED_VERSION, "title": channel.title}
    if channel.link:
        feed["home_page_url"] = channel.link
    if JSON_FILE in channel.self_urls:
        feed["feed_url"] = channel.self_urls[JSON_FILE]
    feed["description"] = channel.description
    if channel.language:
        feed["language"] = channel.language
    if channel.hub:
        feed["hubs"] = [{"type": "WebSub", "url": channel.hub}]
    entries = []
    for item in items:
        entry: dict[str, object] = {"id": item.id}
        if item.link:
            entry["url"] = item.link
        entry["title"] = item.title
        entry["content_html"] = item.content_html
        entry["summary"] = item.summary_text
        if item.image:
            entry["image"] = item.image
        entry["date_published"] = _rfc3339(item.published)
        entry["date_modified"] = _rfc3339(item.updated)
        if item.author:
            entry["authors"] = [{"name": item.author}]
        if item.categories:
            entry["tags"] = list(item.categories)
        if item.language:
            entry["language"] = item.language
        entry["_syndicate"] = {
            "first_published": _rfc3339(item.published),
            "source": {"name": item.source_name, "url": item.source_url or None},
            "credit": item.credit,
        }
        entries.append(entry)
    feed["items"] = entries
    return (json.dumps(feed, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


# --- public ----------------------------------------------------------------------


def render_feeds(
    articles: Sequence[Article],
    output: OutputConfig,
    *,
    now: datetime,
    site_names: Mapping[str, str] | None = None,
) -> dict[str, bytes]:
    """``{"feed.xml": RSS 2.0, "feed.atom": Atom 1.0, "feed.json": JSON Feed 1.1}``.

    Items are the ``output.max_items`` newest by original publication date,
    newest first.  ``now`` is the build date (RSS ``lastBuildDate``, Atom
    ``updated``), to the second.  ``site_names`` maps ``Article.feed`` to the
    name the credit line gives a feed's own articles.
    """
    items = _select(articles, output, site_names)
    channel = _channel(output)
    return {
        RSS_FILE: _render_rss(items, channel, now),
        ATOM_FILE: _render_atom(items, channel, now),
        JSON_FILE: _render_json(items, channel),
    }


def _build_date(name: str, data: bytes) -> datetime | None:
    """The build date written in a previously rendered file, if it has one."""
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
        if name == RSS_FILE:
            text = root.findtext("channel/lastBuildDate")
            return parsedate_to_datetime(text) if text else None
        if name == ATOM_FILE:
            text = root.findtext(f"{{{_ATOM_NS}}}updated")
            return datetime.fromisoformat(text) if text else None
    except (etree.XMLSyntaxError, ValueError, TypeError):
        return None
    return None


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a synced temporary file and ``os.replace``."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644  # mirror sites' web servers must be able to read it
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def write_feeds(
    articles: Sequence[Article],
    output: OutputConfig,
    *,
    now: datetime,
    site_names: Mapping[str, str] | None = None,
) -> list[Path]:
    """Render the feeds and write them atomically into ``output.dir`` (created if missing).

    A file is rewritten only when its content changed: when the only
    difference is the build date, the old file (and its date, mtime and ETag)
    is kept, so the build date is the time the content last changed.
    Returns the paths that were (re)written.
    """
    directory = Path(output.dir)
    directory.mkdir(parents=True, exist_ok=True)
    items = _select(articles, output, site_names)
    channel = _channel(output)
    renderers: dict[str, Callable[[datetime], bytes]] = {
        RSS_FILE: lambda when: _render_rss(items, channel, when),
        ATOM_FILE: lambda when: _render_atom(items, channel, when),
        JSON_FILE: lambda when: _render_json(items, channel),
    }
    written: list[Path] = []
    for name, render in renderers.items():
        path = directory / name
        data = render(now)
        try:
            old = path.read_bytes()
        except FileNotFoundError:
            old = None
        if old is not None:
            if old == data:
                continue
            previous = _build_date(name, old)
            if previous is not None and render(previous) == old:
                continue
        _atomic_write(path, data)
        written.append(path)
    return written
