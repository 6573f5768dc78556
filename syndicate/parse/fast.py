"""The fast path of ``parse_feed``: a well-formed RSS 2.0 document read with lxml, its entries
as feedparser would give them.

``read(content, headers)`` returns what ``feedparser.parse`` would (a dict with ``feed``,
``entries``, ``version``, ``bozo``, ``headers``, holding the keys ``parse`` reads), or None
when the document is not one it fully understands; the caller then runs feedparser over the
whole document.  It takes only documents where feedparser's strict (expat) parser would read
them without complaint and every element is one it knows:

- UTF-8 bytes served (after ``feed._feed_headers``) with an XML content type and
  ``charset=utf-8``, an XML declaration saying UTF-8 (or none), no BOM, no DOCTYPE (no
  entities beyond XML's own), no ``xml:base`` / ``xml:lang`` (nor ``base`` / ``lang``);
- ``<rss version="2.0">`` with one ``<channel>``; in the channel: ``title``, ``link``,
  ``description``, ``language``, ``copyright``, ``dc:rights``, ``atom:link`` (not
  ``alternate``), the ignored ``generator``, ``docs``, ``ttl``, ``lastBuildDate``,
  ``pubDate``, ``image``, ``webMaster``, ``managingEditor``, ``sy:*``, and the items;
- in an item: ``title``, ``link``, ``guid`` (``isPermaLink``), ``pubDate``, ``description``
  (once), ``content:encoded``, ``dc:creator`` (no e-mail address in it), ``category``
  (``domain``), and ``comments``, ``wfw:commentRss``, ``slash:comments`` (skipped: feedparser
  keeps them, nothing here reads them); each holding text only (no child elements, no other
  attributes).

What feedparser does to each value is done the same way, in the same order, with its own
helpers where it has them (``_urljoin``, ``make_safe_absolute_uri``, ``_parse_date``,
``looks_like_html``, the cp1252 table): whitespace stripped; links, permalink guids and
comment URLs resolved against the base; a text/plain title that looks like HTML called
text/html; text that is UTF-8 read as latin-1 put right; the first non-empty title kept; a
summary from ``content:encoded`` when there is no description; tags and authors as its
handlers build them.  ``tests/test_parse_fast.py`` holds the two to the same ``Entry`` and
``Article`` over every golden case and a Hypothesis corpus.

Not taken (feedparser reads them): Atom, RDF (RSS 1.0), RSS 0.9x, enclosures, Media RSS,
``source``, ``dc:source``, iTunes, and anything not listed above.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any, overload

from feedparser.datetimes import _parse_date
from feedparser.mixin import _cp1252, _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri
from lxml import etree

__all__ = ["Items", "Unsupported", "read"]

CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"
ATOM = "{http://www.w3.org/2005/Atom}"
SY = "{http://purl.org/rss/1.0/modules/syndication/}"
WFW = ("{http://wellformedweb.org/CommentAPI/}", "{http://wellformedweb.org/commentAPI/}")
SLASH = "{http://purl.org/rss/1.0/modules/slash/}"
XML_NS = "{http://www.w3.org/XML/1998/namespace}"

_IGNORED_IN_CHANNEL = frozenset({"generator", "docs", "ttl", "lastBuildDate", "pubDate", "image", "webMaster",
                                 "managingEditor"})
_UNREAD_IN_ITEM = frozenset({"comments", f"{WFW[0]}commentRss", f"{WFW[1]}commentRss", f"{SLASH}comments"})
_XML_TYPES = frozenset({"application/xml", "application/xml-dtd", "application/xml-external-parsed-entity",
                        "text/xml", "text/xml-external-parsed-entity"})
# feedparser's _sync_author_detail: an e-mail address in an author's name is taken apart
_EMAIL = re.compile(r"(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|"
                    r"(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?")
_ENTITY_REF = re.compile("&([A-Za-z0-9_]+);")
_DECL = re.compile(rb"^<\?xml[^>]*\bencoding\s*=\s*[\"']([^\"']*)[\"']", re.IGNORECASE)
_looks_like_html = _FeedParserMixin.looks_like_html
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_comments=False, remove_pis=False, strip_cdata=True)


class _Unsupported(Exception):
    """The document holds something the fast path does not read as feedparser does."""


class Unsupported(Exception):
    """An item read late (``Items``) held something the fast path does not read: read the whole
    document with feedparser instead."""


def _xml_type(content_type: str) -> bool:
    ctype = content_type.split(";", 1)[0].strip().lower()
    return ctype in _XML_TYPES or (ctype.startswith(("application/", "text/")) and ctype.endswith("+xml"))


def read(content: bytes, headers: Mapping[str, str], *, lazy: bool = True) -> dict[str, Any] | None:
    """feedparser's result for ``content`` (see the module docstring), or None: use feedparser.

    ``lazy``: its ``entries`` an ``Items``, each item read when first asked for (a read that
    stops early reads no more); else a list, every item read as the parse streams by."""
    ctype = headers.get("content-type", "")
    if "charset=utf-8" not in ctype.replace(" ", "").lower() or not _xml_type(ctype):
        return None
    if content.startswith((b"\xef\xbb\xbf", b"\xfe\xff", b"\xff\xfe")) \
            or not content.lstrip().startswith(b"<"):
        return None
    declared = _DECL.match(content)
    if declared and declared.group(1).strip().lower() not in (b"utf-8", b"utf8"):
        return None
    if not lazy:
        try:
            return _stream(content, headers)
        except _Unsupported:
            return None
    try:
        root = etree.fromstring(content, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None  # not well-formed: feedparser's loose parser reads what it can
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        return None
    try:
        return _rss(root, headers)
    except _Unsupported:
        return None


def _rss(root: Any, headers: Mapping[str, str]) -> dict[str, Any]:
    """The whole tree at hand: items read when asked for (``Items``)."""
    _check_root(root)
    channels = [child for child in root if _is_element(child)]
    if len(channels) != 1:
        raise _Unsupported
    _check_channel(channels[0])
    channel = _Channel(headers)
    items: list[Any] = []
    for child in channels[0]:
        if not _is_element(child):
            continue
        if child.tag == "item":
            items.append(child)
        else:
            channel.child(child)
    return channel.result(Items(items, channel.base, channel.lang))


def _stream(content: bytes, headers: Mapping[str, str]) -> dict[str, Any] | None:
    """Every item read as the parse goes, each element freed once read: a big feed's tree is
    never whole in memory (the peak of a first read of 5,000 items, bench figure 3c)."""
    events = etree.iterparse(io.BytesIO(content), events=("start", "end"), resolve_entities=False,
                             no_network=True, load_dtd=False, huge_tree=False, strip_cdata=True,
                             remove_comments=False, remove_pis=False)
    channel = _Channel(headers)
    entries: list[dict[str, Any]] = []
    depth = channels = 0
    try:
        for event, el in events:
            if event == "start":
                depth += 1
                if depth == 1:
                    docinfo = el.getroottree().docinfo
                    if docinfo.doctype or docinfo.internalDTD is not None:
                        return None
                    _check_root(el)
                elif depth == 2:
                    channels += 1
                    if channels > 1:
                        raise _Unsupported
                    _check_channel(el)
                continue
            if depth == 3:  # a child of the channel, whole
                if el.tag == "item":
                    entries.append(_item(el, channel.base, channel.lang))
                else:
                    channel.child(el)
                el.clear()
                parent = el.getparent()
                while parent is not None and el.getprevious() is not None:
                    del parent[0]
            elif depth == 2:
                for node in el:  # what is left: comments, processing instructions
                    _is_element(node)
            elif depth == 1:
                for node in el:
                    _is_element(node)
            depth -= 1
    except etree.XMLSyntaxError:
        return None  # not well-formed: feedparser's loose parser reads what it can
    if channels != 1:
        raise _Unsupported
    return channel.result(entries)


def _check_root(root: Any) -> None:
    if root.tag != "rss" or root.get("version") != "2.0" or _has_base_or_lang(root):
        raise _Unsupported


def _check_channel(channel: Any) -> None:
    if channel.tag != "channel" or channel.attrib:
        raise _Unsupported


class _Channel:
    """The channel's own elements, read in order into feedparser's ``feed`` dict."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = headers
        contentloc = headers.get("content-location", "")
        base = make_safe_absolute_uri("", contentloc) or contentloc
        for _ in range(3):  # what feedparser makes of it at each element start (idempotent after one)
            base = make_safe_absolute_uri(base, base) or base if base else _urljoin(base, base)
        self.base = base
        self.lang: str | None = headers.get("content-language") or None
        self.feed: dict[str, Any] = {}
        self._title_done = False

    def result(self, entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return {"bozo": False, "entries": entries, "feed": self.feed, "version": "rss20",
                "headers": dict(self.headers), "encoding": "utf-8"}

    def child(self, child: Any) -> None:
        feed, base, lang = self.feed, self.base, self.lang
        tag = child.tag
        if tag in _IGNORED_IN_CHANNEL or (isinstance(tag, str) and tag.startswith(SY)):
            if _has_base_or_lang(child):
                raise _Unsupported
            return
        if tag == f"{ATOM}link":
            feed.setdefault("links", []).append(_atom_link(child, base))
            return
        out = _text(child)
        if tag == "title":
            if self._title_done:
                raise _Unsupported
            kind = "text/html" if _looks_like_html(out) else "text/plain"
            feed["title"] = out = _fixed(out)
            feed["title_detail"] = {"type": kind, "language": _lang(lang), "base": base, "value": out}
            self._title_done = bool(out)
        elif tag == "link":
            out = _fixed(_urljoin(base, out) if out else out)
            out = _ENTITY_REF.sub(r"&\g<1>", out)
            feed["link"] = out
            feed.setdefault("links", []).append({"rel": "alternate", "type": "text/html", "href": out})
        elif tag == "description":
            feed["subtitle"] = out = _fixed(out)
            feed["subtitle_detail"] = {"type": "text/html", "language": _lang(lang), "base": base,
                                       "value": out}
        elif tag == "language":
            feed["language"] = _fixed(out)  # the items' language stays the header's: feedparser
            # restores its language at each element's end (its ``langstack``)
        elif tag in ("copyright", f"{DC}rights"):
            kind = "text/html" if _looks_like_html(out) else "text/plain"
            feed["rights"] = out = _fixed(out)
            feed["rights_detail"] = {"type": kind, "language": _lang(lang), "base": base, "value": out}
        else:
            raise _Unsupported


class Items(Sequence[dict[str, Any]]):
    """The items' entries, each read when first asked for (a read that stops early reads no more);
    an item the fast path does not understand raises ``Unsupported`` then."""

    def __init__(self, items: list[Any], base: str, lang: str | None) -> None:
        self._items = items
        self._base = base
        self._lang = lang
        self._read: dict[int, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[dict[str, Any]]: ...

    def __getitem__(self, i: int | slice) -> dict[str, Any] | Sequence[dict[str, Any]]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self._items)
        found = self._read.get(i)
        if found is None:
            item = self._items[i]
            try:
                found = self._read[i] = _item(item, self._base, self._lang)
            except _Unsupported:
                raise Unsupported from None
        return found

    def check(self) -> None:
        """Read every item now (``Unsupported`` if one is not for the fast path)."""
        for i in range(len(self)):
            self[i]


def _item(item: Any, base: str, lang: str | None) -> dict[str, Any]:
    if item.attrib:
        raise _Unsupported
    e: dict[str, Any] = {}
    lang = _lang(lang)
    title_done = has_content = False
    guidislink = False
    for child in item:
        if not _is_element(child):
            continue
        tag = child.tag
        if tag == "category":
            if set(child.attrib) - {"domain"}:
                raise _Unsupported
            _category(e, child.get("domain"), _fixed(_text(child, attrs=True)))
            continue
        if tag == "guid":
            if set(child.attrib) - {"isPermaLink"}:
                raise _Unsupported
            guidislink = child.get("isPermaLink", "true") == "true"
            out = _text(child, attrs=True)
            if guidislink and out:
                out = _urljoin(base, out)
            e["id"] = out = _fixed(out)
            e.setdefault("guidislink", guidislink and "link" not in e)
            if guidislink:
                e.setdefault("link", out)
            continue
        if tag in _UNREAD_IN_ITEM:
            continue  # feedparser keeps them (comments, wfw_commentrss, slash_comments); nothing reads them
        out = _text(child)
        if tag == "title":
            if title_done:
                continue  # feedparser keeps the first title that says something
            kind = "text/html" if _looks_like_html(out) else "text/plain"
            e["title"] = out = _fixed(out)
            e["title_detail"] = {"type": kind, "language": lang, "base": base, "value": out}
            title_done = bool(out)
        elif tag == "link":
            out = _fixed(_urljoin(base, out) if out else out)
            out = _ENTITY_REF.sub(r"&\g<1>", out.replace("&amp;", "&"))
            e.setdefault("links", []).append({"rel": "alternate", "type": "text/html"})
            e["link"] = out
            if out:
                e["links"][-1]["href"] = out
        elif tag == "pubDate":
            e["published"] = out = _fixed(out)
            e["published_parsed"] = _parse_date(out)
        elif tag == "description":
            if "summary" in e and not has_content:
                raise _Unsupported  # a second description is content to feedparser
            e["summary"] = out = _fixed(out)
            e["summary_detail"] = {"type": "text/html", "language": lang, "base": base, "value": out}
        elif tag == f"{CONTENT}encoded":
            has_content = True
            out = _fixed(out)
            e.setdefault("content", []).append({"type": "text/html", "language": lang, "base": base,
                                                "value": out})
            e.setdefault("summary", out)
        elif tag == f"{DC}creator":
            _creator(e, _fixed(out))
        else:
            raise _Unsupported
    return e


def _category(e: dict[str, Any], domain: str | None, term: str) -> None:
    """feedparser's ``_start_category`` (a tag for the domain) then ``_end_category``."""
    tags = e.setdefault("tags", [])
    if domain:
        _add_tag(tags, None, domain)
    if not term:
        return
    if tags and not tags[-1]["term"]:
        tags[-1]["term"] = term
    else:
        _add_tag(tags, term, None)


def _add_tag(tags: list[dict[str, Any]], term: str | None, scheme: str | None) -> None:
    if not term and not scheme:
        return
    tag = {"term": term, "scheme": scheme, "label": None}
    if tag not in tags:
        tags.append(tag)


def _creator(e: dict[str, Any], name: str) -> None:
    """``dc:creator`` as feedparser's ``_start_author``, ``_end_author`` and ``_sync_author_detail``."""
    if _EMAIL.search(name):
        raise _Unsupported
    detail: dict[str, Any] = {}
    e.setdefault("authors", []).append(detail)
    e["author"] = name
    if name:
        e.setdefault("author_detail", detail)
        detail["name"] = name


def _atom_link(link: Any, base: str) -> dict[str, Any]:
    attrs = dict(link.attrib)
    if any(k.startswith("{") for k in attrs) or "href" not in attrs or set(attrs) & {"base", "lang"}:
        raise _Unsupported
    attrs.setdefault("rel", "alternate")
    if attrs["rel"] == "alternate" or len(link) or (link.text or "").strip():
        raise _Unsupported  # it would be the feed's link
    attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
    attrs["href"] = _urljoin(base, attrs["href"])
    return attrs


def _is_element(node: Any) -> bool:
    if isinstance(node.tag, str):
        return True
    if node.tag is etree.Comment:
        return False
    raise _Unsupported  # a processing instruction, an entity reference


def _has_base_or_lang(el: Any) -> bool:
    return any(k in el.attrib for k in (f"{XML_NS}base", f"{XML_NS}lang", "base", "lang"))


def _text(el: Any, *, attrs: bool = False) -> str:
    """The element's text, stripped: an element with children or (unless ``attrs``) attributes
    is not read here."""
    if len(el):
        raise _Unsupported
    if el.attrib and (not attrs or _has_base_or_lang(el)):
        raise _Unsupported
    return (el.text or "").strip()


def _fixed(text: str) -> str:
    """What feedparser's ``pop`` does last to a UTF-8 document's text: UTF-8 read as latin-1
    put right, then the cp1252 code points mapped."""
    try:
        text = text.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return text.translate(_cp1252)


def _lang(lang: str | None) -> str | None:
    return lang.replace("_", "-") if lang else lang
