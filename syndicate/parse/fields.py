"""One typed way into feedparser's untyped dicts, and the small readings both halves share.

feedparser answers with ``FeedParserDict``s: dicts of strings, of lists of
dicts, of ``struct_time``s, with fallbacks on some keys (``updated``
answers ``published``, with a DeprecationWarning, when the feed gave only
the one).  Everything in ``syndicate.parse`` reads them through these
functions, and only through them: each reads a key with ``dict.get`` —
what the document said, no fallback — and says which type it wants.  A
value of another type (feedparser never gives one, a hand-built dict may)
reads as missing, never as an exception deeper down.

Then what the feed and its entries share: plain text, a language tag, the
authors, the rights statement.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import MappingProxyType

from syndicate.links import CONTROL_CHARS
from syndicate.summary import html_to_text, markup_to_text

__all__ = ["Fields", "author", "fields", "language_tag", "plain", "records", "rights", "struct_time", "text",
           "value", "whitespace_collapsed"]

Fields = Mapping[str, object]  # a feedparser dict (or any mapping read like one)

_EMPTY: Fields = MappingProxyType({})


def value(d: Fields, key: str, default: object = None) -> object:
    """What the document gave under ``key`` (``default`` if nothing), without feedparser's fallbacks."""
    return dict.get(d, key, default) if isinstance(d, dict) else d.get(key, default)


def text(d: Fields, key: str) -> str:
    """The string under ``key``; ``""`` when there is none."""
    found = value(d, key)
    return found if isinstance(found, str) else ""


def fields(d: Fields, key: str) -> Fields:
    """The dict under ``key`` (``title_detail``, ``source``, ``image``); empty when there is none."""
    found = value(d, key)
    return found if isinstance(found, Mapping) else _EMPTY


def records(d: Fields, key: str) -> list[Fields]:
    """The dicts in the list under ``key`` (``links``, ``content``, ``tags``, ``media_content``)."""
    found = value(d, key)
    if not isinstance(found, list | tuple):
        return []
    return [item for item in found if isinstance(item, Mapping)]


def struct_time(d: Fields, key: str) -> time.struct_time | None:
    """A date feedparser read (``published_parsed``, ``updated_parsed``): UTC, or None."""
    found = value(d, key)
    return found if isinstance(found, time.struct_time) else None


# --- what the feed and its entries share ------------------------------------------


def whitespace_collapsed(raw: str) -> str:
    """Whitespace collapsed, control characters dropped."""
    return " ".join(CONTROL_CHARS.sub(" ", raw).split())


def plain(raw: str, kind: str = "text/html", typed: bool = True) -> str:
    """Plain text of a title: text/plain is literal, anything else is HTML.

    Only Atom says what a title is; for RSS and RDF, feedparser's text/plain is a
    guess (a title with an unclosed tag or a <script> "does not look like HTML"),
    so their titles are always read as HTML.  Of HTML only the real elements are removed
    (``markup_to_text``): "<Fourth International>", "<3" and "a < b" are text."""
    if not raw:
        return ""
    if kind == "text/plain" and typed:  # feedparser calls it text/html when it looks like HTML
        return whitespace_collapsed(raw)
    return markup_to_text(raw)


def language_tag(tag: str | None) -> str | None:
    """A language tag as the output gives it: the first of a list, ``-`` not ``_``."""
    if not tag:
        return None
    tag = tag.split(",", 1)[0].strip().replace("_", "-")
    return tag or None


def author(d: Fields) -> str | None:
    """The names of ``d``'s authors (Atom ``author``s, ``dc:creator``, RSS ``author``), joined."""
    names = [whitespace_collapsed(name) for person in records(d, "authors") if (name := text(person, "name"))]
    if not names:
        name = text(fields(d, "author_detail"), "name") or text(d, "author")
        if name:
            names.append(whitespace_collapsed(name))
    unique = list(dict.fromkeys(n for n in names if n))
    return ", ".join(unique) if unique else None


def rights(d: Fields) -> str | None:
    """Atom ``rights`` / RSS ``copyright`` / ``dc:rights``, else a ``creativeCommons:license`` URL."""
    statement = whitespace_collapsed(html_to_text(text(d, "rights")))
    if statement:
        return statement
    for link in records(d, "links"):
        href = text(link, "href")
        if text(link, "rel") == "license" and href:
            return href.strip()
    return None
