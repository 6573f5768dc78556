"""Atom 1.0 for the fast path: ``AtomReader``, the feed's own elements and its entries.

Taken: a ``<feed>`` in the Atom 1.0 namespace (declared on it, and neither RSS 1.0's nor RSS
0.90's: feedparser's version is the first of these it meets), ``xml:base`` and ``xml:lang``
anywhere (resolved and inherited as feedparser's ``basestack`` / ``langstack`` do); in the
feed, before its first entry, ``id``, ``title``, ``subtitle``, ``link``, ``updated``,
``author``, ``contributor``, ``category``, ``rights`` and the ignored ``generator``, ``icon``,
``logo``; in an entry ``id``, ``title``, ``link`` (any number, any ``rel``), ``published``,
``updated``, ``author``, ``contributor``, ``category``, ``rights``, ``summary`` (once before a
content), ``content``; an author or contributor of ``name``, ``email``, ``uri``.  Text
constructs of ``type`` text or html only (``xhtml``, another media type, ``src`` and ``mode``
are feedparser's to read), and a few foreign elements feedparser keeps under keys nothing here
reads (``thr:total``, openSearch, Blogger's and GData's), as text or attributes alone.

An entry may hold empty ``media:content`` and ``media:thumbnail`` elements (Blogger's).

Not taken (feedparser reads them): ``source``, the rest of Media RSS, any other namespace, and an element
with children or attributes other than those named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from feedparser.datetimes import _parse_date
from feedparser.mixin import _FeedParserMixin

from syndicate.parse.fast.common import (
    ATOM,
    XML_BASE,
    XML_LANG,
    Refused,
    category,
    child_base,
    child_lang,
    end_author,
    feed_start,
    fixed,
    is_element,
    join,
    lang_of,
    save_author,
    value_of,
)

__all__ = ["AtomReader"]

_VERSIONS = ("http://purl.org/rss/1.0/", "http://my.netscape.com/rdf/simple/0.9/")  # feedparser's others
_THREAD = "{http://purl.org/syndication/thread/1.0}"
# Namespaces whose elements feedparser keeps as ``<prefix>_<name>`` (from the document's own
# prefix) and nothing here reads, with the prefixes they are written with: skipped, unless the key
# is one that is read or one of feedparser's handlers would take it.
_FOREIGN = {_THREAD[1:-1]: {"thr"}, "http://a9.com/-/spec/opensearchrss/1.0/": {"openSearch", "opensearch"},
            "http://a9.com/-/spec/opensearch/1.1/": {"openSearch", "opensearch"},
            "http://schemas.google.com/g/2005": {"gd"}, "http://schemas.google.com/blogger/2008": {"blogger"}}
_READ_KEYS = frozenset({"media_content", "media_thumbnail", "dc_source", "title_detail", "summary_detail",
                        "author_detail", "published_parsed", "updated_parsed", "rights_detail"})
_PLAIN, _HTML = "text/plain", "text/html"
# the text constructs' types read here; every link type as feedparser's map_content_type names it
_TYPES = {"text": _PLAIN, "plain": _PLAIN, "text/plain": _PLAIN, "html": _HTML, "text/html": _HTML}
_MAPPED = {"text": _PLAIN, "plain": _PLAIN, "html": _HTML, "xhtml": "application/xhtml+xml"}
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_SCOPE = frozenset({XML_BASE, XML_LANG})
_TYPED = _SCOPE | {"type"}
_LINK_ATTRS = _SCOPE | {"rel", "type", "href", "hreflang", "title", "length", f"{_THREAD}count",
                        f"{_THREAD}updated"}
_CATEGORY_ATTRS = _SCOPE | {"term", "scheme", "label"}
_MEDIA = {f"{{{ns}}}{name}": f"media_{name}" for ns in ("http://search.yahoo.com/mrss/", "http://search.yahoo.com/mrss")
          for name in ("content", "thumbnail")}
_MEDIA_ATTRS = frozenset({"url", "type", "medium", "width", "height", "filesize", "fileSize", "duration",
                          "bitrate", "isDefault", "isdefault", "expression", "time"})
_IGNORED_IN_FEED = frozenset({f"{ATOM}generator", f"{ATOM}icon", f"{ATOM}logo"})


class AtomReader:
    """``<feed xmlns="http://www.w3.org/2005/Atom">``: the entries are at depth 2."""

    entry_depth = 2

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = headers
        self.base, self.lang, self.feed = feed_start(headers)
        self._title_done = False
        self._entries_begun = False

    def open(self, el: Any, depth: int) -> None:
        if el.tag != f"{ATOM}feed" or set(el.attrib) - _SCOPE:
            raise Refused
        declared = [uri.lower() for uri in el.nsmap.values()]
        if any(uri in declared for uri in _VERSIONS):
            raise Refused
        self.base = child_base(self.base, el)
        self.lang = child_lang(self.lang, el)
        if self.lang:
            self.feed["language"] = self.lang.replace("_", "-")

    def is_entry(self, el: Any) -> bool:
        if el.tag == f"{ATOM}entry":
            self._entries_begun = True
            return True
        return False

    def child(self, el: Any) -> None:
        if self._entries_begun:
            raise Refused  # the feed's own elements after an entry: feedparser's title_depth differs
        tag = el.tag
        if tag in _IGNORED_IN_FEED:
            _no_children(el)
            return
        base, lang = child_base(self.base, el), child_lang(self.lang, el)
        if tag == f"{ATOM}title":
            if self._title_done:
                _check_text_construct(el)
                value_of(el)
            else:
                self._title_done = bool(_text_construct(self.feed, "title", el, base, lang))
        elif tag == f"{ATOM}subtitle":
            _text_construct(self.feed, "subtitle", el, base, lang)
        elif not _common(self.feed, tag, el, base, lang):
            raise Refused

    def entry(self, el: Any) -> dict[str, Any]:
        if set(el.attrib) - _SCOPE:
            raise Refused
        e: dict[str, Any] = {}
        entry_base, entry_lang = child_base(self.base, el), child_lang(self.lang, el)
        title_done = has_content = has_summary = False
        for child in el:
            if not is_element(child):
                continue
            tag = child.tag
            base, lang = child_base(entry_base, child), child_lang(entry_lang, child)
            if tag == f"{ATOM}title":
                if title_done:  # feedparser keeps the first title that says something
                    _check_text_construct(child)
                    value_of(child)
                else:
                    title_done = bool(_text_construct(e, "title", child, base, lang))
            elif tag == f"{ATOM}summary":
                if has_summary and not has_content:
                    raise Refused  # a second summary is content to feedparser
                has_summary = True
                _text_construct(e, "summary", child, base, lang)
            elif tag == f"{ATOM}content":
                has_content = True
                kind = _check_text_construct(child)
                out = fixed(value_of(child))
                e.setdefault("content", []).append({"type": kind, "language": lang_of(lang), "base": base,
                                                    "value": out})
                e.setdefault("summary", out)  # text and html are copied to the summary when it has none
            elif tag == f"{ATOM}published":
                _date(e, "published", child)
            elif tag in _MEDIA:
                _media(e, _MEDIA[tag], child)
            elif not _common(e, tag, child, base, lang):
                raise Refused
        return e

    def close(self) -> None:
        pass

    def result(self, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return {"bozo": False, "entries": entries, "feed": self.feed, "version": "atom10",
                "headers": dict(self.headers), "encoding": "utf-8"}


def _common(c: dict[str, Any], tag: str, el: Any, base: str, lang: str | None) -> bool:
    """An element the feed and its entries read alike, into ``c``; False: not one of them."""
    if tag == f"{ATOM}id":
        _scope_only(el)
        out = value_of(el)
        if out:
            out = join(base, out)  # guidislink: an Atom id is a permalink to feedparser
        c["id"] = out = fixed(out)
        c.setdefault("guidislink", "link" not in c)
        c.setdefault("link", out)
    elif tag == f"{ATOM}link":
        _link(c, el, base)
    elif tag == f"{ATOM}updated":
        _date(c, "updated", el)
    elif tag == f"{ATOM}author":
        _person(c, el, base, author=True)
    elif tag == f"{ATOM}contributor":
        _person(c, el, base, author=False)
    elif tag == f"{ATOM}category":
        if set(el.attrib) - _CATEGORY_ATTRS:
            raise Refused
        category(c, el.get("term"), el.get("scheme"), el.get("label"), fixed(value_of(el)))
    elif tag == f"{ATOM}rights":
        _text_construct(c, "rights", el, base, lang)
    else:
        return _foreign(c, el)
    return True


def _foreign(c: dict[str, Any], el: Any) -> bool:
    """A foreign element feedparser keeps where nothing here reads it: skipped (True)."""
    tag = el.tag
    if not tag.startswith("{") or len(el) or el.prefix not in _FOREIGN.get(tag[1:].split("}", 1)[0], ()):
        return False
    key = f"{el.prefix.lower()}_{tag.rsplit('}', 1)[1].lower()}"
    if key in _READ_KEYS or key in c or hasattr(_FeedParserMixin, f"_start_{key}") \
            or hasattr(_FeedParserMixin, f"_end_{key}"):
        return False
    if el.attrib and ((el.text or "").strip() or set(el.attrib) & {XML_BASE, XML_LANG}):
        return False  # feedparser gives the text of an element with attributes to its parent
    return True


def _scope_only(el: Any) -> None:
    if set(el.attrib) - _SCOPE:
        raise Refused


def _no_children(el: Any) -> None:
    if len(el):
        raise Refused


def _check_text_construct(el: Any) -> str:
    """The media type of a text construct that is text or html, as feedparser names it."""
    if set(el.attrib) - _TYPED:
        raise Refused
    kind = _TYPES.get(el.get("type", "text").lower())
    if kind is None:
        raise Refused  # xhtml (its markup is feedparser's to rebuild), base64, another type
    return kind


def _text_construct(c: dict[str, Any], key: str, el: Any, base: str, lang: str | None) -> str:
    """``title``, ``subtitle``, ``summary`` or ``rights``: the value and its ``…_detail``."""
    kind = _check_text_construct(el)
    c[key] = out = fixed(value_of(el))
    c[f"{key}_detail"] = {"type": kind, "language": lang_of(lang), "base": base, "value": out}
    return out


def _date(c: dict[str, Any], key: str, el: Any) -> None:
    _scope_only(el)
    c[key] = out = fixed(value_of(el))
    c[f"{key}_parsed"] = _parse_date(out)


def _link(c: dict[str, Any], el: Any, base: str) -> None:
    """feedparser's ``_start_link``: every link kept, the last alternate HTML one the ``link``."""
    if set(el.attrib) - _LINK_ATTRS or "href" not in el.attrib or len(el) or (el.text or "").strip():
        raise Refused  # a link without href is read from its text, by feedparser's rules
    attrs = {k: (v.lower() if k in ("rel", "type") else v) for k, v in el.attrib.items() if k[0] != "{"}
    attrs.setdefault("rel", "alternate")
    attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
    attrs["href"] = href = join(base, attrs["href"])
    c.setdefault("links", []).append(attrs)
    if attrs["rel"] == "alternate" and _MAPPED.get(attrs["type"], attrs["type"]) in _HTML_TYPES:
        c["link"] = href


def _media(e: dict[str, Any], key: str, el: Any) -> None:
    """An empty ``media:content`` or ``media:thumbnail``: its attributes, as feedparser keeps them
    (names lower-cased, ``type`` too); one with children, text or a ``lang`` is feedparser's."""
    if len(el) or (el.text or "").strip() or set(el.attrib) - _MEDIA_ATTRS:
        raise Refused
    attrs = {k.lower(): (v.lower() if k.lower() == "type" else v) for k, v in el.attrib.items()}
    if len(attrs) != len(el.attrib):
        raise Refused  # the same attribute twice, in two cases
    e.setdefault(key, []).append(attrs)


def _person(c: dict[str, Any], el: Any, base: str, *, author: bool) -> None:
    """An ``author`` (``_start_author`` … ``_end_author``) or a ``contributor``; ``base`` is its own."""
    _scope_only(el)
    if (el.text or "").strip():
        raise Refused  # an author's own text is a name to be taken apart
    if author:
        c.setdefault("authors", []).append({})
    else:
        c.setdefault("contributors", []).append({})
    for child in el:
        if not is_element(child):
            continue
        if (child.tail or "").strip():
            raise Refused
        tag = child.tag
        if tag in (f"{ATOM}name", f"{ATOM}email"):
            _scope_only(child)
            key, out = tag[len(ATOM):], value_of(child)  # feedparser keeps these as given, not fixed
        elif tag == f"{ATOM}uri":
            _scope_only(child)
            key, out = "href", value_of(child)
            if out:
                out = join(child_base(base, child), out)
            c["href"] = out = fixed(out)  # what feedparser's pop of an ``href`` keeps, too
        elif author and _foreign(c, child):
            continue
        else:
            raise Refused
        if author:
            save_author(c, key, out)
        else:
            c["contributors"][-1][key] = out
    if author:
        end_author(c, "")
