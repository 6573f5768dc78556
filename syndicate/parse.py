"""Feed bytes → entries → ``Article`` values.

Pure: no network, no database.  Two steps, so the pipeline can skip work:

``parse_feed``
    runs feedparser over the fetched bytes (never a URL) and computes, for
    every entry, only the cheap keys: a stable id and the canonical link.
    Duplicates (same id) are dropped, first kept; entries without a link are
    skipped.  Problems that still left usable entries become ``warnings``;
    bytes with nothing usable raise ``ParseError``.

``normalise``
    does the full work for one entry the store has not seen (or whose
    content may have changed): plain-text title, dates as aware UTC,
    standfirst, sanitised content, image and original source.

feedparser is run with its own HTML sanitiser and relative-URI resolver
switched off: ``summary`` sanitises and resolves every piece of HTML it
keeps, with lxml, and running feedparser's sgmllib-based passes as well
roughly doubles the cost of ``feedparser.parse``.
"""

from __future__ import annotations

import calendar
import html
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from syndicate.errors import ParseError
from syndicate.links import CONTROL_CHARS as _CONTROL
from syndicate.links import canonical_url
from syndicate.models import Article
from syndicate.summary import html_to_text, summarise

__all__ = ["Entry", "ParsedFeed", "canonical_url", "normalise", "parse_feed"]


@dataclass(frozen=True, slots=True)
class Entry:
    """The cheap keys of one feed entry, computed for every entry."""

    id: str  # guid / Atom id, else the canonical link (an entry without a link is skipped)
    link: str  # canonical link
    raw: Any = field(compare=False, repr=False)  # the feedparser entry (FeedParserDict)


@dataclass(frozen=True, slots=True)
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


# --- parse_feed -----------------------------------------------------------------

_BENIGN = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
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
    if exc is None:
        return "unknown error"
    line = getattr(exc, "getLineNumber", None)
    message = exc.getMessage() if hasattr(exc, "getMessage") else str(exc)
    message = " ".join(str(message).split()) or type(exc).__name__
    if callable(line):
        try:
            return f"not well-formed XML (line {line()}): {message}"
        except Exception:  # an expat error without a locator
            pass
    return message


def _plain(value: str | None, kind: str = "text/html", typed: bool = True) -> str:
    """Plain text of a title: text/plain is literal, anything else is HTML.

    Only Atom says what a title is; for RSS and RDF, feedparser's text/plain is a
    guess (a title with an unclosed tag or a <script> "does not look like HTML"),
    so their titles are always read as HTML."""
    if not value:
        return ""
    if kind == "text/plain" and typed:  # feedparser calls it text/html when it looks like HTML
        return _text(value)
    return html_to_text(value)


def _text(value: str) -> str:
    """Whitespace collapsed, control characters dropped."""
    return " ".join(_CONTROL.sub(" ", value).split())


def _entry_link(raw: Mapping[str, Any], base_url: str) -> str:
    link = dict.get(raw, "link") or ""
    if not link:
        for candidate in dict.get(raw, "links") or ():
            if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
                link = candidate["href"]
                break
    if not link:
        return ""
    link = canonical_url(link, base_url)
    try:
        return link if link.startswith(("http://", "https://")) and urlsplit(link).hostname else ""
    except ValueError:
        return ""


def parse_feed(feed: str, content: bytes, *, base_url: str,
               headers: Mapping[str, str] | None = None) -> ParsedFeed:
    """Parse fetched feed bytes into entries with ids and canonical links.

    ``base_url`` is the URL the bytes came from (after redirects); relative
    links resolve against it.  ``headers`` are the response headers (their
    charset and Content-Location are used).  Raises ``ParseError`` when the
    bytes hold nothing usable: an empty body, an HTML page, or a document
    that is not well-formed and yields no entries.
    """
    if not content or content.isspace():
        raise ParseError(feed, "empty response body")
    response_headers = _feed_headers(content, base_url, headers)
    base_url = response_headers["content-location"]
    try:
        result = feedparser.parse(
            io.BytesIO(content),  # bytes, never a URL or a file name
            response_headers=response_headers,
            sanitize_html=False,  # summary.sanitise_html does this, faster
            resolve_relative_uris=False,  # and resolves the links it keeps
        )
    except Exception as exc:  # feedparser's loose parser can trip over broken bytes
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        raise ParseError(feed, f"not a usable feed: feedparser failed ({reason})") from exc
    exc = result.get("bozo_exception") if result.get("bozo") else None
    # A wrong charset or a text/html Content-Type are worth a note, not a failure.
    broken = exc is not None and not isinstance(exc, _BENIGN)
    raw_entries = result.get("entries") or []
    version = result.get("version") or ""

    if not raw_entries and (broken or not version):
        if _HTML_START.match(content[:2048]) or (not version and b"<html" in content[:2048].lower()):
            raise ParseError(feed, "not a feed: the server sent an HTML page")
        if broken:
            raise ParseError(feed, f"not a usable feed: {_describe(exc)}")
        raise ParseError(feed, "not a feed: no RSS, Atom or RDF document found")

    warnings: list[str] = []
    if exc is not None:
        if isinstance(exc, feedparser.CharacterEncodingOverride):
            warnings.append(f"feed {feed}: {_describe(exc)}")
        elif not isinstance(exc, feedparser.NonXMLContentType):
            warnings.append(f"feed {feed}: {_describe(exc)}; used what could be read")

    meta = result.get("feed") or {}
    feed_link = dict.get(meta, "link") or ""
    feed_link = canonical_url(feed_link, base_url) if feed_link else ""

    entries: list[Entry] = []
    seen: set[str] = set()
    no_link = duplicates = 0
    for raw in raw_entries:
        link = _entry_link(raw, base_url)
        if not link:
            no_link += 1
            continue
        entry_id = (dict.get(raw, "id") or "").strip() or link
        if entry_id in seen:
            duplicates += 1
            continue
        seen.add(entry_id)
        entries.append(Entry(id=entry_id, link=link, raw=raw))
    if not entries and raw_entries and broken:
        raise ParseError(feed, f"not a usable feed: {_describe(exc)}; no entry with a link")
    if no_link:
        warnings.append(f"feed {feed}: {no_link} {_plural(no_link)} without a link skipped")
    if duplicates:
        warnings.append(f"feed {feed}: {duplicates} duplicate {_plural(duplicates)} (same id) skipped")

    title_detail = dict.get(meta, "title_detail") or {}
    language = (dict.get(meta, "language") or result.get("headers", {}).get("content-language")
                or None)
    typed = version.startswith("atom")
    return ParsedFeed(
        title=_plain(dict.get(meta, "title"), title_detail.get("type", "text/html"), typed),
        link=feed_link,
        language=_language(language),
        entries=tuple(entries),
        warnings=tuple(warnings),
        base_url=base_url,
        typed_text=typed,
        rights=_rights(meta),
        author=_author(meta) if typed else None,  # RSS's managingEditor is an address, not an author
    )


def _plural(n: int) -> str:
    return "entry" if n == 1 else "entries"


def _language(value: str | None) -> str | None:
    if not value:
        return None
    value = value.split(",", 1)[0].strip().replace("_", "-")
    return value or None


# --- normalise ------------------------------------------------------------------

_FUTURE_SLACK = timedelta(days=1)
_IMAGE_EXT = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)(?:$|\?)", re.I)
# An author's picture, not the article's: WordPress.com gives every post its author's
# Gravatar as a media:content image.
_AVATAR = re.compile(r"^https?://(?:[\w-]+\.)*gravatar\.com/(?:avatar|blavatar)/", re.I)
_THUMBNAIL_PX = 200  # a feed image declared smaller than this both ways is a list thumbnail


EARLIEST_DATE = datetime(1971, 1, 1, tzinfo=UTC)


def _utc(parsed: Any) -> datetime | None:
    """feedparser's UTC ``struct_time`` → aware UTC datetime."""
    if not parsed:
        return None
    try:
        when = datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    # 1 January 1970 (or year 1) is a broken CMS's zero, not a publication date: treat as missing.
    return when if when >= EARLIEST_DATE else None


def _content(raw: Mapping[str, Any]) -> tuple[str, str]:
    """(HTML, base URL) of the entry's full content ('' when there is none)."""
    best = None
    for item in dict.get(raw, "content") or ():
        value = item.get("value") or ""
        if not value.strip():
            continue
        if best is None or (item.get("type") in ("text/html", "application/xhtml+xml")
                            and best.get("type") not in ("text/html", "application/xhtml+xml")):
            best = item
    if best is None:
        return "", ""
    return _as_html(best.get("value") or "", best.get("type")), best.get("base") or ""


def _as_html(value: str, kind: str | None) -> str:
    if kind == "text/plain":
        return "".join(f"<p>{html.escape(p.strip())}</p>" for p in value.split("\n\n") if p.strip())
    return value


def _small(media: Mapping[str, Any]) -> bool:
    """Whether a media element declares a size under ``_THUMBNAIL_PX`` both ways (Blogger's 72×72)."""
    try:
        width, height = int(media.get("width") or 0), int(media.get("height") or 0)
    except (TypeError, ValueError):
        return False
    return 0 < width < _THUMBNAIL_PX and 0 < height < _THUMBNAIL_PX


def _image(raw: Mapping[str, Any], base: str) -> tuple[str | None, str | None]:
    """(the feed's image of the entry, a list thumbnail it gives instead).

    From media:content / media:thumbnail / an image enclosure / itunes:image,
    in that order.  An author's avatar is neither; an image the feed declares
    smaller than ``_THUMBNAIL_PX`` both ways is only a thumbnail, which the
    content's own image beats.
    """
    candidates: list[tuple[str, bool]] = []  # (URL, small)
    for media in dict.get(raw, "media_content") or ():
        url = media.get("url")
        kind = (media.get("type") or "").lower()
        medium = (media.get("medium") or "").lower()
        if url and (medium == "image" or kind.startswith("image/")
                    or (not medium and not kind and _IMAGE_EXT.search(url))):
            candidates.append((url, _small(media)))
    for thumb in dict.get(raw, "media_thumbnail") or ():
        if thumb.get("url"):
            candidates.append((thumb["url"], _small(thumb)))
    for enclosure in dict.get(raw, "links") or ():  # feedparser's "enclosures" is made from these
        if enclosure.get("rel") != "enclosure":
            continue
        href = enclosure.get("href")
        if href and ((enclosure.get("type") or "").lower().startswith("image/")
                     or (not enclosure.get("type") and _IMAGE_EXT.search(href))):
            candidates.append((href, False))
    itunes = dict.get(raw, "image")
    if isinstance(itunes, Mapping) and itunes.get("href"):
        candidates.append((itunes["href"], False))
    thumbnail = None
    for url, small in candidates:
        url = urljoin(base, url.strip()) if base else url.strip()
        if not url.startswith(("http://", "https://")) or _AVATAR.match(url):
            continue
        if not small:
            return url, None
        thumbnail = thumbnail or url
    return None, thumbnail


def _source_meta(raw: Mapping[str, Any], base: str) -> tuple[str | None, str | None]:
    """(dc:source, source title) from the entry's ``dc:source`` or Atom ``<source>``."""
    dc_source = dict.get(raw, "dc_source") or None
    title = None
    src = dict.get(raw, "source")
    if isinstance(src, Mapping):
        title = dict.get(src, "title") or None
        href = dict.get(src, "href")  # RSS <source url="…">
        if not href:
            for link in dict.get(src, "links") or ():
                if link.get("rel", "alternate") == "alternate" and link.get("href"):
                    href = link["href"]
                    break
        if not href:  # feedparser makes an Atom source's id its "link" even when it is a tag: URI
            link = str(src.get("link") or "")
            href = link if link.lower().startswith(("http://", "https://")) else None
        if href and not dc_source:
            dc_source = urljoin(base, href) if base else href
    return dc_source, title


# A date with a time of day: "08:15", "T08:15", "0815Z" is rare enough to ignore.
_TIME_OF_DAY = re.compile(r"\d:\d\d")


def _day_only(raw: Mapping[str, Any], key: str) -> bool:
    """Whether the feed's date under ``key`` ("published", "updated") gave no time of day."""
    text = raw.get(key)
    return isinstance(text, str) and not _TIME_OF_DAY.search(text)


def _rights(raw: Mapping[str, Any]) -> str | None:
    """Atom ``rights`` / RSS ``copyright`` / ``dc:rights``, else a ``creativeCommons:license`` URL."""
    text = _text(html_to_text(str(raw.get("rights") or "")))
    if text:
        return text
    for link in raw.get("links") or ():
        if link.get("rel") == "license" and link.get("href"):
            return str(link["href"]).strip()
    return None


def _image_alt(image: str | None, summary_alts: Mapping[str, str], title: str) -> str | None:
    """The image's alt text: its ``<img alt>`` in the content, else the article's title."""
    if not image:
        return None
    return summary_alts.get(image) or title or None


def _author(raw: Mapping[str, Any]) -> str | None:
    names = []
    for person in dict.get(raw, "authors") or ():
        name = person.get("name") if isinstance(person, Mapping) else None
        if name:
            names.append(_text(name))
    if not names:
        detail = dict.get(raw, "author_detail")
        name = (detail.get("name") if isinstance(detail, Mapping) else None) or dict.get(raw, "author")
        if name:
            names.append(_text(str(name)))
    unique = list(dict.fromkeys(n for n in names if n))
    return ", ".join(unique) if unique else None


def _entry_author(raw: Mapping[str, Any], parsed: ParsedFeed) -> str | None:
    """The entry's authors, else (RFC 4287 4.2.1) its Atom source's, else its Atom feed's."""
    src = raw.get("source")
    return (_author(raw) or (_author(src) if isinstance(src, Mapping) else None)
            or parsed.author)


def _categories(raw: Mapping[str, Any]) -> tuple[str, ...]:
    out: dict[str, str] = {}
    for tag in dict.get(raw, "tags") or ():
        term = tag.get("term") or tag.get("label") if isinstance(tag, Mapping) else None
        if not term:
            continue
        term = _text(html.unescape(str(term)))
        if term and term.casefold() not in out:
            out[term.casefold()] = term
    return tuple(out.values())


def normalise(feed: str, entry: Entry, parsed: ParsedFeed, *, now: datetime,
              language: str | None = None) -> Article:
    """The full ``Article`` for one entry of ``parsed``.

    ``now`` is the time of this run (aware; naive is taken as UTC): the
    publication date of an entry without one, and the limit for dates in
    the future.  ``language`` (from feeds.yaml) overrides the feed's own.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC)
    raw = entry.raw

    title_detail = dict.get(raw, "title_detail") or {}
    title = _plain(dict.get(raw, "title"), title_detail.get("type", "text/html"), parsed.typed_text)

    feed_published = _utc(dict.get(raw, "published_parsed")) or _utc(dict.get(raw, "updated_parsed"))
    updated = _utc(dict.get(raw, "updated_parsed"))

    content, base = _content(raw)
    summary_detail = dict.get(raw, "summary_detail") or {}
    description = _as_html(dict.get(raw, "summary") or "", summary_detail.get("type"))
    base = base or summary_detail.get("base") or ""
    if not base or base == parsed.base_url:
        # No xml:base of its own: resolve against the article, not the feed's URL
        # (which may be on another host, such as a feed proxy).
        base = entry.link
    if not content:
        content, description = description, ""
    elif description.strip() == content.strip():
        description = ""
    dc_source, source_title = _source_meta(raw, base)
    summary = summarise(content, description, base_url=base, dc_source=dc_source,
                        source_title=source_title)

    source = summary.source
    if source is not None:
        if source.url:
            source = replace(source, url=canonical_url(source.url))
        if source.published is not None and source.published > now + _FUTURE_SLACK:
            source = replace(source, published=None)  # a misread credit, not a prophecy
        if source.url == entry.link and source.published is None and source.name is None:
            source = None  # <source> pointing at the article itself says nothing
    date_only = False
    if source is not None and source.published is not None:
        published = source.published
        date_only = True  # a credit's "13 October 2022" (summary.parse_date) is a day
    elif feed_published is not None and feed_published <= now + _FUTURE_SLACK:
        published = feed_published
        date_only = _day_only(raw, "published" if raw.get("published_parsed") else "updated")
    else:
        published = now  # no date, or one in the future

    feed_image, thumbnail = _image(raw, base)
    image = feed_image or summary.image or thumbnail
    standfirst = summary.standfirst
    content_html = summary.content_html
    return Article(
        feed=feed,
        id=entry.id,
        link=entry.link,
        title=title,
        published=published,
        feed_published=feed_published,
        updated=updated,
        author=_entry_author(raw, parsed),
        categories=_categories(raw),
        standfirst=standfirst,
        content_html=content_html,
        image=image,
        image_alt=_image_alt(image, summary.image_alts, title),
        source=source,
        language=_language(language) or parsed.language,
        date_only=date_only,
        rights=_rights(raw) or parsed.rights,
    )
