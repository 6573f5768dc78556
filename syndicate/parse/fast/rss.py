"""RSS 2.0 for the fast path: ``RssReader`` (the channel and its items), and the item and channel
elements RSS 1.0 shares with it (``item_entry``, ``Channel``), which ``rdf`` reads the same way.

Taken: ``<rss version="2.0">`` with one ``<channel>`` and no ``xml:base`` / ``xml:lang``; in the
channel ``title``, ``link``, ``description``, ``language``, ``dc:language``, ``copyright``,
``dc:rights``, ``dc:date``, ``atom:link`` (not ``alternate``), the ignored ``generator``,
``docs``, ``ttl``, ``lastBuildDate``, ``pubDate``, ``image``, ``webMaster``,
``managingEditor``, ``sy:*``, and the items; in an item ``title``, ``link``, ``guid``
(``isPermaLink``), ``pubDate``, ``description`` (once), ``content:encoded``, ``dc:creator`` (no
e-mail address in it), ``category`` (``domain``), ``dc:subject``, ``dc:date``, ``dc:source``,
``dc:language``, ``dc:rights``, and ``comments``, ``wfw:commentRss``, ``slash:comments`` and
``dc:identifier``, ``dc:publisher``, ``dc:type``, ``dc:format`` (skipped: feedparser keeps
them, nothing here reads them); each holding text only (no child elements, no other
attributes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from feedparser.datetimes import _parse_date

from syndicate.parse.fast.common import (
    ATOM,
    CONTENT,
    DC,
    EMAIL,
    SLASH,
    SY,
    WFW,
    Refused,
    category,
    child_base,
    end_author,
    feed_start,
    fixed,
    has_base_or_lang,
    is_element,
    join,
    lang_of,
    looks_like_html,
    text_of,
)

__all__ = ["PRISM", "Channel", "RssReader", "item_entry"]

_IGNORED_IN_CHANNEL = frozenset({"generator", "docs", "ttl", "lastBuildDate", "pubDate", "image", "webMaster",
                                 "managingEditor"})
# feedparser keeps them (comments, wfw_commentrss, slash_comments, dc_identifier, …); nothing reads them
SKIPPED_IN_ITEM = frozenset({"comments", f"{WFW[0]}commentRss", f"{WFW[1]}commentRss", f"{SLASH}comments",
                             f"{DC}identifier", f"{DC}publisher", f"{DC}type", f"{DC}format"})
SKIPPED_IN_CHANNEL = frozenset({f"{DC}identifier", f"{DC}publisher"})
PRISM = "{http://prismstandard.org/namespaces/1.2/basic/}"  # feedparser keeps prism_* keys: none read
RSS_ONLY_IN_ITEM = frozenset({"guid", "category", "pubDate"})
_ENTITY_REF = re.compile("&([A-Za-z0-9_]+);")


class RssReader:
    """``<rss version="2.0"><channel>…</channel></rss>``: the items are at depth 3."""

    entry_depth = 3

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.channel = Channel(headers)
        self.base = self.channel.base  # rss, channel, item: one step each (idempotent after one)
        self._channels = 0

    def open(self, el: Any, depth: int) -> None:
        if depth == 1:
            if el.tag != "rss" or el.get("version") != "2.0" or has_base_or_lang(el):
                raise Refused
            self.base = child_base(self.base, el)
        else:
            self._channels += 1
            if self._channels > 1 or el.tag != "channel" or el.attrib:
                raise Refused
            self.base = self.channel.base = child_base(self.base, el)

    def is_entry(self, el: Any) -> bool:
        return bool(el.tag == "item")

    def child(self, el: Any) -> None:
        self.channel.child(el, el.tag)

    def entry(self, el: Any) -> dict[str, Any]:
        if el.attrib:
            raise Refused
        return item_entry(el, child_base(self.base, el), self.channel.lang, rdf=False)

    def close(self) -> None:
        if self._channels != 1:
            raise Refused

    def result(self, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return self.channel.result(entries, "rss20")


class Channel:
    """The channel's own elements, read in order into feedparser's ``feed`` dict."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = headers
        self.base, self.lang, self.feed = feed_start(headers)
        self._title_done = False

    def result(self, entries: Sequence[dict[str, Any]], version: str) -> dict[str, Any]:
        return {"bozo": False, "entries": entries, "feed": self.feed, "version": version,
                "headers": dict(self.headers), "encoding": "utf-8"}

    def child(self, child: Any, tag: str) -> None:
        """``child``, whose tag (RSS 1.0's namespace taken off) is ``tag``."""
        feed, base, lang = self.feed, self.base, self.lang
        if tag in _IGNORED_IN_CHANNEL or tag.startswith(SY):
            if has_base_or_lang(child):
                raise Refused
            return
        if tag == f"{ATOM}link":
            feed.setdefault("links", []).append(_atom_link(child, base))
            return
        out = text_of(child)
        if tag in SKIPPED_IN_CHANNEL or tag.startswith(PRISM):
            return
        if tag == "title":
            if self._title_done:
                raise Refused
            kind = "text/html" if looks_like_html(out) else "text/plain"
            feed["title"] = out = fixed(out)
            feed["title_detail"] = {"type": kind, "language": lang_of(lang), "base": base, "value": out}
            self._title_done = bool(out)
        elif tag == "link":
            out = fixed(join(base, out) if out else out)
            out = _ENTITY_REF.sub(r"&\g<1>", out)
            feed["link"] = out
            feed.setdefault("links", []).append({"rel": "alternate", "type": "text/html", "href": out})
        elif tag == "description":
            feed["subtitle"] = out = fixed(out)
            feed["subtitle_detail"] = {"type": "text/html", "language": lang_of(lang), "base": base,
                                       "value": out}
        elif tag in ("language", f"{DC}language"):
            feed["language"] = fixed(out)  # the items' language stays the header's: feedparser
            # restores its language at each element's end (its ``langstack``)
        elif tag in ("copyright", f"{DC}rights"):
            kind = "text/html" if looks_like_html(out) else "text/plain"
            feed["rights"] = out = fixed(out)
            feed["rights_detail"] = {"type": kind, "language": lang_of(lang), "base": base, "value": out}
        elif tag == f"{DC}date":
            feed["updated"] = out = fixed(out)
            feed["updated_parsed"] = _parse_date(out)
        else:
            raise Refused


def item_entry(item: Any, base: str, lang: str | None, *, rdf: bool) -> dict[str, Any]:
    """An RSS 2.0 item (or, ``rdf``, an RSS 1.0 one, whose ``rdf:about`` the caller has taken) as
    feedparser's ``entries`` hold it; ``base`` is the item's own."""
    e: dict[str, Any] = {}
    lang = lang_of(lang)
    title_done = has_content = False
    for child in item:
        if not is_element(child):
            continue
        tag = child.tag
        if rdf:
            tag = _rdf_tag(tag)
        if tag == "category" or tag == f"{DC}subject":
            domain = child.get("domain") if tag == "category" else None
            if set(child.attrib) - ({"domain"} if tag == "category" else set()):
                raise Refused
            category(e, None, domain, None, fixed(text_of(child, attrs=True)))
            continue
        if tag == "guid":
            if set(child.attrib) - {"isPermaLink"}:
                raise Refused
            guidislink = child.get("isPermaLink", "true") == "true"
            out = text_of(child, attrs=True)
            if guidislink and out:
                out = join(base, out)
            e["id"] = out = fixed(out)
            e.setdefault("guidislink", guidislink and "link" not in e)
            if guidislink:
                e.setdefault("link", out)
            continue
        out = text_of(child)
        if tag in SKIPPED_IN_ITEM or tag.startswith(PRISM):
            continue
        if tag == "title":
            if title_done:
                continue  # feedparser keeps the first title that says something
            kind = "text/html" if looks_like_html(out) else "text/plain"
            e["title"] = out = fixed(out)
            e["title_detail"] = {"type": kind, "language": lang, "base": base, "value": out}
            title_done = bool(out)
        elif tag == "link":
            out = fixed(join(base, out) if out else out)
            out = _ENTITY_REF.sub(r"&\g<1>", out.replace("&amp;", "&"))
            e.setdefault("links", []).append({"rel": "alternate", "type": "text/html"})
            e["link"] = out
            if out:
                e["links"][-1]["href"] = out
        elif tag == "pubDate":
            e["published"] = out = fixed(out)
            e["published_parsed"] = _parse_date(out)
        elif tag == f"{DC}date":
            e["updated"] = out = fixed(out)
            e["updated_parsed"] = _parse_date(out)
        elif tag == "description":
            if "summary" in e and not has_content:
                raise Refused  # a second description is content to feedparser
            e["summary"] = out = fixed(out)
            e["summary_detail"] = {"type": "text/html", "language": lang, "base": base, "value": out}
        elif tag == f"{CONTENT}encoded":
            has_content = True
            out = fixed(out)
            e.setdefault("content", []).append({"type": "text/html", "language": lang, "base": base,
                                                "value": out})
            e.setdefault("summary", out)
        elif tag == f"{DC}creator":
            _creator(e, fixed(out))
        elif tag == f"{DC}source":
            e["dc_source"] = fixed(out)
        elif tag == f"{DC}language":
            e["language"] = fixed(out)
        elif tag == f"{DC}rights":
            kind = "text/html" if looks_like_html(out) else "text/plain"
            e["rights"] = out = fixed(out)
            e["rights_detail"] = {"type": kind, "language": lang, "base": base, "value": out}
        else:
            raise Refused
    return e


def _rdf_tag(tag: str) -> str:
    """An RSS 1.0 item's child's tag as RSS 2.0 writes it: its own namespace off, and none of
    the tags only RSS 2.0 has (an RSS 1.0 item written without its namespace is not read here)."""
    if tag.startswith("{http://purl.org/rss/1.0/}"):
        tag = tag[26:]
        if tag in RSS_ONLY_IN_ITEM or tag.startswith("{"):
            raise Refused
        return tag
    if not tag.startswith("{"):
        raise Refused
    return tag


def _creator(e: dict[str, Any], name: str) -> None:
    """``dc:creator`` as feedparser's ``_start_author``, ``_end_author`` and ``_sync_author_detail``,
    without an e-mail address in it (feedparser takes that apart)."""
    if EMAIL.search(name):
        raise Refused
    e.setdefault("authors", []).append({})
    end_author(e, name)


def _atom_link(link: Any, base: str) -> dict[str, Any]:
    attrs = dict(link.attrib)
    if any(k.startswith("{") for k in attrs) or "href" not in attrs or set(attrs) & {"base", "lang"}:
        raise Refused
    attrs.setdefault("rel", "alternate")
    if attrs["rel"] == "alternate" or len(link) or (link.text or "").strip():
        raise Refused  # it would be the feed's link
    attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
    attrs["href"] = join(base, attrs["href"])
    return attrs
