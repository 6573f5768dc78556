"""A feed document → its entries' cheap keys: ``parse_feed``, ``Entry``, ``ParsedFeed``.

feedparser is handed the fetched bytes (never a URL), with its own HTML
sanitiser and relative-URI resolver off (``normalise`` sanitises and
resolves what it keeps, faster).  Every entry gets only what the pipeline
needs to decide whether to read it further: a stable id, the canonical
link, and the fingerprint of what the feed says of it.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urljoin, urlsplit

from syndicate.errors import ParseError
from syndicate.links import canonical_url
from syndicate.parse.fields import (
    Fields,
    author,
    fields,
    language_tag,
    plain,
    records,
    rights,
    struct_time,
    text,
    value,
)
from syndicate.value import field, valueclass

__all__ = ["Entry", "ParsedFeed", "fingerprint", "parse_feed"]


@valueclass(hot=True)
class Entry:
    """The cheap keys of one feed entry, computed for every entry.

    Equal (and hashed) by ``id`` and ``link`` only.
    """

    id: str  # guid / Atom id, else the canonical link (an entry without a link is skipped)
    link: str  # canonical link
    raw: Fields = field(compare=False, repr=False)  # the feedparser entry (FeedParserDict)
    fingerprint: str = field(default="", compare=False)  # ``fingerprint(link, raw)``: changed = edited


@valueclass
class ParsedFeed:
    title: str
    link: str
    language: str | None
    entries: tuple[Entry, ...]  # duplicates (same id) removed, first kept
    warnings: tuple[str, ...] = ()  # one line each, naming the feed
    base_url: str = ""  # the document's URL: where relative links resolve
    typed_text: bool = False  # Atom: a text construct's type is the feed's word, not a guess
    rights: str | None = None  # the feed's licence or rights statement, for its entries
    author: str | None = None  # Atom: the feed's authors, who wrote the entries that name none


def fingerprint(link: str, raw: Fields) -> str:
    """A cheap fingerprint of what the feed says about an entry: a changed one is an edit.

    Its link, title, summary, every content, its updated and published dates
    (a re-dated, re-published entry is an edit too).  Stored with the article:
    never change what goes in, or every article reads as edited once.
    """
    parts = [link, str(value(raw, "title", "")), str(value(raw, "summary", ""))]
    parts.extend(str(value(content, "value", "")) for content in records(raw, "content"))
    parts.append(str(value(raw, "updated", "")))
    parts.append(str(value(raw, "published", "")))
    return hashlib.blake2b("\x00".join(parts).encode("utf-8", "replace"), digest_size=16).hexdigest()


_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S)


def _feed_headers(content: bytes, base_url: str, headers: Mapping[str, str] | None) -> dict[str, str]:
    """Response headers for feedparser, with the charset corrected where we know better.

    Feeds often declare latin-1 (or are served as ``text/xml``, which RFC 3023
    makes US-ASCII) while the bytes are UTF-8.  Bytes that decode as UTF-8 are
    UTF-8, in practice, so we say so and spare feedparser a wrong guess.
    """
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    location = hdrs.get("content-location")
    hdrs["content-location"] = urljoin(base_url, location) if location else base_url
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return hdrs
    if b"\x00" in content[:4]:  # UTF-16/32 without a BOM also "decodes" as UTF-8
        return hdrs
    ctype = hdrs.get("content-type", "").split(";", 1)[0].strip().lower()
    if not ctype or not (ctype.endswith("xml") or ctype.startswith("text/")):
        ctype = "application/xml"  # served as octet-stream, or no type at all
    hdrs["content-type"] = f"{ctype}; charset=utf-8"
    return hdrs


def _describe(exc: BaseException | None) -> str:
    """One line for what feedparser's XML parser tripped over (with the line, if it knows it)."""
    if exc is None:
        return "unknown error"
    get_message = getattr(exc, "getMessage", None)
    message = " ".join(str(get_message() if callable(get_message) else exc).split()) or type(exc).__name__
    line = getattr(exc, "getLineNumber", None)
    if callable(line):
        try:
            return f"not well-formed XML (line {line()}): {message}"
        except Exception:  # an expat error without a locator
            pass
    return message


def _entry_link(raw: Fields, base_url: str) -> str:
    link = text(raw, "link")
    if not link:
        for candidate in records(raw, "links"):
            href = text(candidate, "href")
            if value(candidate, "rel", "alternate") == "alternate" and href:
                link = href
                break
    if not link:
        return ""
    link = canonical_url(link, base_url)
    try:
        return link if link.startswith(("http://", "https://")) and urlsplit(link).hostname else ""
    except ValueError:
        return ""


def parse_feed(feed: str, content: bytes, *, base_url: str,
               headers: Mapping[str, str] | None = None, use_fast: bool = True,
               stop_at: Callable[[Sequence[Entry]], Sequence[bool]] | None = None) -> ParsedFeed:
    """Parse fetched feed bytes into entries with ids, canonical links and fingerprints.

    ``base_url`` is the URL the bytes came from (after redirects); relative
    links resolve against it.  ``headers`` are the response headers (their
    charset and Content-Location are used).  Raises ``ParseError`` when the
    bytes hold nothing usable: an empty body, an HTML page, or a document
    that is not well-formed and yields no entries.  A well-formed RSS 2.0,
    Atom 1.0 or RSS 1.0 document of the elements ``fast`` knows is read with lxml instead of
    feedparser, to the same result; ``use_fast=False`` always asks feedparser.

    ``stop_at(entries)``: is each of these entries known and unchanged (the pipeline
    asks the store, for a feed read before)?  A read of a feed whose entries come newest
    first stops after a few of those in a row (``_Stop``: when it is safe to);
    with the fast path the entries after them are never read at all, so a
    changed feed costs what changed.
    """
    from syndicate.parse import fast  # feedparser and lxml: imported when a feed is parsed, not before

    try:
        return _parse(feed, content, base_url, headers, use_fast, stop_at)
    except fast.Unsupported:  # an item the fast path cannot read: feedparser reads it all
        return _parse(feed, content, base_url, headers, False, stop_at)


def _parse(feed: str, content: bytes, base_url: str, headers: Mapping[str, str] | None, use_fast: bool,
           stop_at: Callable[[Sequence[Entry]], Sequence[bool]] | None) -> ParsedFeed:
    import feedparser

    from syndicate.parse import fast

    benign = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
    if not content or content.isspace():
        raise ParseError(feed, "empty response body")
    response_headers = _feed_headers(content, base_url, headers)
    base_url = response_headers["content-location"]
    fast_result = fast.read(content, response_headers, lazy=stop_at is not None) if use_fast else None
    try:
        result: Fields = fast_result if fast_result is not None else feedparser.parse(
            io.BytesIO(content),  # bytes, never a URL or a file name
            response_headers=response_headers,
            sanitize_html=False,  # summary.sanitise_html does this, faster
            resolve_relative_uris=False,  # and resolves the links it keeps
        )
    except Exception as exc:  # feedparser's loose parser can trip over broken bytes
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        raise ParseError(feed, f"not a usable feed: feedparser failed ({reason})") from exc
    found = value(result, "bozo_exception") if value(result, "bozo") else None
    problem = found if isinstance(found, BaseException) else None
    # A wrong charset or a text/html Content-Type are worth a note, not a failure.
    broken = problem is not None and not isinstance(problem, benign)
    found_entries = value(result, "entries")
    raw_entries: Sequence[Fields] = found_entries if isinstance(found_entries, fast.Items) \
        else records(result, "entries")
    version = text(result, "version")

    if not raw_entries and (broken or not version):
        if _HTML_START.match(content[:2048]) or (not version and b"<html" in content[:2048].lower()):
            raise ParseError(feed, "not a feed: the server sent an HTML page")
        if broken:
            raise ParseError(feed, f"not a usable feed: {_describe(problem)}")
        raise ParseError(feed, "not a feed: no RSS, Atom or RDF document found")

    warnings: list[str] = []
    if problem is not None:
        if isinstance(problem, feedparser.CharacterEncodingOverride):
            warnings.append(f"feed {feed}: {_describe(problem)}")
        elif not isinstance(problem, feedparser.NonXMLContentType):
            warnings.append(f"feed {feed}: {_describe(problem)}; used what could be read")

    meta = fields(result, "feed")
    feed_link = text(meta, "link")
    feed_link = canonical_url(feed_link, base_url) if feed_link else ""

    entries: list[Entry] = []
    seen: set[str] = set()
    no_link = duplicates = 0
    stop = _Stop(stop_at, raw_entries, base_url) if stop_at is not None else None
    for raw in raw_entries:
        link = _entry_link(raw, base_url)
        if not link:
            no_link += 1
            continue
        entry_id = text(raw, "id").strip() or link
        if entry_id in seen:
            duplicates += 1
            continue
        seen.add(entry_id)
        entry = Entry(id=entry_id, link=link, raw=raw, fingerprint=fingerprint(link, raw))
        entries.append(entry)
        if stop is not None and stop.after(entry):
            break  # known and unchanged, newest first: what follows is older and known too
    if not entries and raw_entries and broken:
        raise ParseError(feed, f"not a usable feed: {_describe(problem)}; no entry with a link")
    if no_link:
        warnings.append(f"feed {feed}: {no_link} {_plural(no_link)} without a link skipped")
    if duplicates:
        warnings.append(f"feed {feed}: {duplicates} duplicate {_plural(duplicates)} (same id) skipped")

    typed = version.startswith("atom")
    return ParsedFeed(
        title=plain(text(meta, "title"), text(fields(meta, "title_detail"), "type") or "text/html", typed),
        link=feed_link,
        language=language_tag(text(meta, "language") or text(fields(result, "headers"), "content-language")
                          or None),
        entries=tuple(entries),
        warnings=tuple(warnings),
        base_url=base_url,
        typed_text=typed,
        rights=rights(meta),
        author=author(meta) if typed else None,  # RSS's managingEditor is an address, not an author
    )


STOP_RUN = 3  # known, unchanged entries in a row (newest first) after which a read may stop
STOP_CHUNK = 4  # entries asked about at once at first; each later ask twice as many (at most 256)


class _Stop:
    """Where a read stops (``parse_feed``'s ``stop_at``), only when it is safe to: after
    ``STOP_RUN`` entries in a row that ``known_unchanged`` says are known and unchanged (a
    sticky post or two on top is not the end of the news), the entries read so far dated
    newest first, and the document's last entry known and unchanged as well (an oldest-first
    feed has its news at the end, and is read whole).  The store is asked about the entries
    a chunk at a time (4, then 8, 16, …): one query, not one per entry, for a feed of news."""

    def __init__(self, known_unchanged: Callable[[Sequence[Entry]], Sequence[bool]],
                 raw_entries: Sequence[Fields], base_url: str) -> None:
        self._known_unchanged = known_unchanged
        self._raw = raw_entries
        self._base = base_url
        self._run = 0
        self._last_date: tuple[int, ...] | None = None
        self._last_ok: bool | None = None
        self._pending: list[Entry] = []
        self._chunk = STOP_CHUNK
        self._off = False

    def after(self, entry: Entry) -> bool:
        """Note ``entry`` (the next one read); True: stop reading after it."""
        if self._off:
            return False
        self._pending.append(entry)
        if len(self._pending) < self._chunk:
            return False
        batch, self._pending = self._pending, []
        self._chunk = min(256, self._chunk * 2)
        for known, read in zip(self._known_unchanged(batch), batch, strict=True):
            raw = read.raw
            date = struct_time(raw, "published_parsed") or struct_time(raw, "updated_parsed")
            if date is None or (self._last_date is not None and tuple(date) > self._last_date):
                self._off = True  # undated, or not newest first: read it all
                return False
            self._last_date = tuple(date)
            self._run = self._run + 1 if known else 0
            if self._run >= STOP_RUN:
                return self._last_known()
        return False

    def _last_known(self) -> bool:
        if self._last_ok is None:
            raw = self._raw[-1]
            link = _entry_link(raw, self._base)
            last = Entry(id=text(raw, "id").strip() or link, link=link, raw=raw,
                         fingerprint=fingerprint(link, raw))
            self._last_ok = bool(link) and bool(self._known_unchanged([last])[0])
            self._off = not self._last_ok
        return self._last_ok


def _plural(n: int) -> str:
    return "entry" if n == 1 else "entries"
