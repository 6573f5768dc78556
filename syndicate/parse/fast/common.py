"""What the three formats' readers share: feedparser's steps for a value, a scope, a tag, an author.

Each function here is one of feedparser's handlers (``feedparser/mixin.py``,
``feedparser/namespaces/_base.py``) done on plain dicts, in the order feedparser does it, with
its own helpers where it has them; a format's reader (``rss``, ``atom``, ``rdf``) calls them for
the elements it knows and raises ``Refused`` for anything else.  ``Items`` is the lazy list of
entries a read that may stop is given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol, overload

from feedparser.mixin import _cp1252, _FeedParserMixin
from feedparser.urls import ACCEPTABLE_URI_SCHEMES, _urljoin, make_safe_absolute_uri
from lxml import etree

__all__ = ["ATOM", "CONTENT", "DC", "EMAIL", "RDF", "RSS10", "SLASH", "SY", "WFW", "XML_BASE", "XML_LANG",
           "Items", "Reader", "Refused", "Unsupported", "add_tag", "category", "child_base", "child_lang",
           "doc_base", "end_author", "feed_start", "fixed", "has_base_or_lang", "is_element", "join",
           "lang_of", "looks_like_html", "save_author", "text_of", "value_of"]

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
RSS10 = "{http://purl.org/rss/1.0/}"
SY = "{http://purl.org/rss/1.0/modules/syndication/}"
WFW = ("{http://wellformedweb.org/CommentAPI/}", "{http://wellformedweb.org/commentAPI/}")
SLASH = "{http://purl.org/rss/1.0/modules/slash/}"
XML_NS = "{http://www.w3.org/XML/1998/namespace}"
XML_BASE = f"{XML_NS}base"
XML_LANG = f"{XML_NS}lang"

# feedparser's _sync_author_detail: an e-mail address in an author's name is taken apart
EMAIL = re.compile(r"(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|"
                    r"(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?")
looks_like_html = _FeedParserMixin.looks_like_html
# An absolute http(s) URL that urllib's urlsplit/urlunsplit give back as it is (no whitespace or
# control characters, no IPv6 or non-ASCII host, no empty query or fragment, no ";" parameters in
# the path, a host right after "//"): what feedparser's ``_urljoin`` makes of it against any base.
_CANONICAL = re.compile(r"https?://[A-Za-z0-9.\-_~%!$&'()*+,=:@]+(?:/[^?#;\x00-\x20\x7f-\U0010ffff]*)?"
                        r"(?:\?[^#\x00-\x20\x7f-\U0010ffff]+)?(?:#[^\x00-\x20\x7f-\U0010ffff]+)?")


def doc_base(headers: Mapping[str, str]) -> str:
    """The base feedparser starts from: the response's Content-Location (``api.parse``)."""
    contentloc = headers.get("content-location", "")
    return make_safe_absolute_uri("", contentloc) or contentloc


def feed_start(headers: Mapping[str, str]) -> tuple[str, str | None, dict[str, Any]]:
    """What feedparser's ``__init__`` starts a document from, whatever its format: the base, the
    header's language (the feed's until the document says another), and the ``feed`` dict."""
    lang = headers.get("content-language") or None
    return doc_base(headers), lang, ({"language": lang.replace("_", "-")} if lang else {})


class Refused(Exception):
    """The document holds something the fast path does not read as feedparser does."""


class Unsupported(Exception):
    """An item read late (``Items``) held something the fast path does not read: read the whole
    document with feedparser instead."""


class Reader(Protocol):
    """One format's reading of a document, driven by ``fast.read`` over a tree or a stream.

    ``open`` sees each element above the entries at its start (its attributes only), ``child``
    each whole element beside the entries, ``entry`` each whole entry; ``close`` runs at the
    end; ``result`` is feedparser's dict with these entries."""

    entry_depth: int  # the depth of the entries: the root is at 1

    def open(self, el: Any, depth: int) -> None: ...
    def is_entry(self, el: Any) -> bool: ...
    def child(self, el: Any) -> None: ...
    def entry(self, el: Any) -> dict[str, Any]: ...
    def close(self) -> None: ...
    def result(self, entries: Sequence[dict[str, Any]]) -> dict[str, Any]: ...


class Items(Sequence[dict[str, Any]]):
    """The entries, each read when first asked for (a read that stops early reads no more);
    an entry the fast path does not understand raises ``Unsupported`` then."""

    def __init__(self, items: list[Any], read: Callable[[Any], dict[str, Any]]) -> None:
        self._items = items
        self._reader = read
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
                found = self._read[i] = self._reader(item)
            except Refused:
                raise Unsupported from None
        return found

    def check(self) -> None:
        """Read every entry now (``Unsupported`` if one is not for the fast path)."""
        for i in range(len(self)):
            self[i]


# --- scopes: xml:base and xml:lang, as feedparser's unknown_starttag tracks them ---------------


def join(base: str, uri: str) -> str:
    """feedparser's ``_urljoin(base, uri)``, at once for a URL it would give back unchanged."""
    if _CANONICAL.fullmatch(uri):
        return uri
    joined: str = _urljoin(base, uri)
    return joined


@lru_cache(maxsize=256)
def _step(base: str, given: str | None) -> str:
    """What feedparser's ``unknown_starttag`` makes its base: ``make_safe_absolute_uri(base,
    given or base) or base`` (with a base), or ``_urljoin``."""
    new = given or base
    if base:
        uri = join(base, new)  # make_safe_absolute_uri, with a base and something to join to it
        return base if uri.strip().split(":", 1)[0] not in ACCEPTABLE_URI_SCHEMES else uri or base
    if given:
        raise Refused  # with no base, feedparser's basestack lets an xml:base outlive its element
    return join(base, new)


def child_base(base: str, el: Any) -> str:
    """The base in force inside ``el`` (its parent's ``base``, or its own ``xml:base`` resolved)."""
    return _step(base, el.get(XML_BASE))


def child_lang(lang: str | None, el: Any) -> str | None:
    """The language in force inside ``el``: its ``xml:lang`` (``""``: none), else its parent's."""
    given = el.get(XML_LANG)
    if given is None:
        return lang
    return given or None


def lang_of(lang: str | None) -> str | None:
    """A text construct's ``language``, as ``push_content`` writes it."""
    return lang.replace("_", "-") if lang else lang


# --- values -----------------------------------------------------------------------------------


def is_element(node: Any) -> bool:
    if isinstance(node.tag, str):
        return True
    if node.tag is etree.Comment:
        return False
    raise Refused  # a processing instruction, an entity reference


def value_of(el: Any) -> str:
    """The element's text, stripped: an element with children is not read here."""
    if len(el):
        raise Refused
    return (el.text or "").strip()


def text_of(el: Any, *, attrs: bool = False) -> str:
    """``value_of``, and no attributes (unless ``attrs``), nor ``xml:base`` / ``xml:lang``."""
    if el.attrib and (not attrs or has_base_or_lang(el)):
        raise Refused
    return value_of(el)


def has_base_or_lang(el: Any) -> bool:
    return any(k in el.attrib for k in (XML_BASE, XML_LANG, "base", "lang"))


def fixed(text: str) -> str:
    """What feedparser's ``pop`` does last to a UTF-8 document's text: UTF-8 read as latin-1
    put right, then the cp1252 code points mapped (ASCII is left as it is by both)."""
    if text.isascii():
        return text
    try:
        text = text.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return text.translate(_cp1252)


# --- tags -------------------------------------------------------------------------------------


def category(e: dict[str, Any], term: str | None, scheme: str | None, label: str | None, text: str) -> None:
    """feedparser's ``_start_category`` (a tag for the attributes) then ``_end_category`` (the text)."""
    tags = e.setdefault("tags", [])
    add_tag(tags, term, scheme, label)
    if not text:
        return
    if tags and not tags[-1]["term"]:
        tags[-1]["term"] = text
    else:
        add_tag(tags, text, None, None)


def add_tag(tags: list[dict[str, Any]], term: str | None, scheme: str | None, label: str | None) -> None:
    if not term and not scheme and not label:
        return
    tag = {"term": term, "scheme": scheme, "label": label}
    if tag not in tags:
        tags.append(tag)


# --- authors: _save_author, _end_author and _sync_author_detail ------------------------------


def save_author(context: dict[str, Any], key: str, value: str) -> None:
    """An author's ``name``, ``email`` or ``href``, as feedparser's ``_save_author`` keeps it."""
    context.setdefault("author_detail", {})[key] = value
    _sync_author_detail(context)
    context.setdefault("authors", [{}])[-1][key] = value


def end_author(context: dict[str, Any], text: str) -> None:
    """The end of an ``author`` (or ``dc:creator``) whose own text, fixed, is ``text``."""
    context["author"] = text
    _sync_author_detail(context)


def _sync_author_detail(context: dict[str, Any]) -> None:
    detail = context.get("authors", [{}])[-1]
    if detail:
        name, email = detail.get("name"), detail.get("email")
        if name and email:
            context["author"] = f"{name} ({email})"
        elif name:
            context["author"] = name
        elif email:
            context["author"] = email
        return
    author, email = context.get("author"), None
    if not author:
        return
    found = EMAIL.search(author)
    if found:
        email = found.group(0)
        author = author.replace(email, "").replace("()", "").replace("<>", "").replace("&lt;&gt;", "").strip()
        if author and author[0] == "(":
            author = author[1:]
        if author and author[-1] == ")":
            author = author[:-1]
        author = author.strip()
    if author or email:
        context.setdefault("author_detail", detail)
    if author:
        detail["name"] = author
    if email:
        detail["email"] = email
