"""One entry → its ``Article``: ``normalise``.

The full work, done only for an entry the store has not seen (or whose
fingerprint changed): plain-text title, dates as aware UTC (with the offset
the feed wrote its own date in: ``offsets``), standfirst,
sanitised content, image and original source (``syndicate.summary``), the
authors, categories, language and rights.
"""

from __future__ import annotations

import calendar
import html
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

from syndicate.links import canonical_url
from syndicate.models import Article
from syndicate.parse.feed import Entry, ParsedFeed
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
    whitespace_collapsed,
)
from syndicate.parse.offsets import utc_offset
from syndicate.summary import summarise
from syndicate.value import replace

__all__ = ["EARLIEST_DATE", "article_language", "normalise"]

_FUTURE_SLACK = timedelta(days=1)
_IMAGE_EXT = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)(?:$|\?)", re.I)
# An author's picture, not the article's: WordPress.com gives every post its author's
# Gravatar as a media:content image.
_AVATAR = re.compile(r"^https?://(?:[\w-]+\.)*gravatar\.com/(?:avatar|blavatar)/", re.I)
_THUMBNAIL_PX = 200  # a feed image declared smaller than this both ways is a list thumbnail
_HTML_TYPES = ("text/html", "application/xhtml+xml")

EARLIEST_DATE = datetime(1971, 1, 1, tzinfo=UTC)


def _utc(parsed: time.struct_time | None) -> datetime | None:
    """feedparser's UTC ``struct_time`` → aware UTC datetime."""
    if not parsed:
        return None
    try:
        when = datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    # 1 January 1970 (or year 1) is a broken CMS's zero, not a publication date: treat as missing.
    return when if when >= EARLIEST_DATE else None


def _content(raw: Fields) -> tuple[str, str]:
    """(HTML, base URL) of the entry's full content ('' when there is none)."""
    best: Fields | None = None
    for item in records(raw, "content"):
        if not text(item, "value").strip():
            continue
        if best is None or (text(item, "type") in _HTML_TYPES and text(best, "type") not in _HTML_TYPES):
            best = item
    if best is None:
        return "", ""
    return _as_html(text(best, "value"), text(best, "type")), text(best, "base")


def _as_html(body: str, kind: str) -> str:
    if kind == "text/plain":
        return "".join(f"<p>{html.escape(p.strip())}</p>" for p in body.split("\n\n") if p.strip())
    return body


def _small(media: Fields) -> bool:
    """Whether a media element declares a size under ``_THUMBNAIL_PX`` both ways (Blogger's 72×72)."""
    try:
        width, height = int(text(media, "width") or 0), int(text(media, "height") or 0)
    except ValueError:
        return False
    return 0 < width < _THUMBNAIL_PX and 0 < height < _THUMBNAIL_PX


def _image(raw: Fields, base: str) -> tuple[str | None, str | None]:
    """(the feed's image of the entry, a list thumbnail it gives instead).

    From media:content / media:thumbnail / an image enclosure / itunes:image,
    in that order.  An author's avatar is neither; an image the feed declares
    smaller than ``_THUMBNAIL_PX`` both ways is only a thumbnail, which the
    content's own image beats.
    """
    candidates: list[tuple[str, bool]] = []  # (URL, small)
    for media in records(raw, "media_content"):
        url = text(media, "url")
        kind = text(media, "type").lower()
        medium = text(media, "medium").lower()
        if url and (medium == "image" or kind.startswith("image/")
                    or (not medium and not kind and _IMAGE_EXT.search(url))):
            candidates.append((url, _small(media)))
    for thumb in records(raw, "media_thumbnail"):
        if text(thumb, "url"):
            candidates.append((text(thumb, "url"), _small(thumb)))
    for enclosure in records(raw, "links"):  # feedparser's "enclosures" is made from these
        if text(enclosure, "rel") != "enclosure":
            continue
        href = text(enclosure, "href")
        kind = text(enclosure, "type")
        if href and (kind.lower().startswith("image/") or (not kind and _IMAGE_EXT.search(href))):
            candidates.append((href, False))
    itunes = text(fields(raw, "image"), "href")
    if itunes:
        candidates.append((itunes, False))
    thumbnail = None
    for url, small in candidates:
        url = urljoin(base, url.strip()) if base else url.strip()
        if not url.startswith(("http://", "https://")) or _AVATAR.match(url):
            continue
        if not small:
            return url, None
        thumbnail = thumbnail or url
    return None, thumbnail


def _source_meta(raw: Fields, base: str) -> tuple[str | None, str | None]:
    """(dc:source, source title) from the entry's ``dc:source`` or Atom ``<source>``."""
    dc_source = text(raw, "dc_source") or None
    src = fields(raw, "source")
    title = text(src, "title") or None
    href = text(src, "href")  # RSS <source url="…">
    if not href:
        for link in records(src, "links"):
            if value(link, "rel", "alternate") == "alternate" and text(link, "href"):
                href = text(link, "href")
                break
    if not href:  # feedparser makes an Atom source's id its "link" even when it is a tag: URI
        source_link = text(src, "link")
        href = source_link if source_link.lower().startswith(("http://", "https://")) else ""
    if href and not dc_source:
        dc_source = urljoin(base, href) if base else href
    return dc_source, title


# A date with a time of day: "08:15", "T08:15", "0815Z" is rare enough to ignore.
_TIME_OF_DAY = re.compile(r"\d:\d\d")


def _day_only(raw: Fields, key: str) -> bool:
    """Whether the feed's date under ``key`` ("published", "updated") gave no time of day."""
    given = value(raw, key)
    return isinstance(given, str) and not _TIME_OF_DAY.search(given)


def _image_alt(image: str | None, summary_alts: dict[str, str], title: str) -> str | None:
    """The image's alt text: its ``<img alt>`` in the content, else the article's title."""
    if not image:
        return None
    return summary_alts.get(image) or title or None


def _entry_author(raw: Fields, parsed: ParsedFeed) -> str | None:
    """The entry's authors, else (RFC 4287 4.2.1) its Atom source's, else its Atom feed's."""
    return author(raw) or author(fields(raw, "source")) or parsed.author


def _categories(raw: Fields) -> tuple[str, ...]:
    out: dict[str, str] = {}
    for tag in records(raw, "tags"):
        term = text(tag, "term") or text(tag, "label")
        if not term:
            continue
        term = whitespace_collapsed(html.unescape(term))
        if term and term.casefold() not in out:
            out[term.casefold()] = term
    return tuple(out.values())


def _entry_language(raw: Fields, inherited: str | None) -> str | None:
    """The entry's own language: its ``dc:language``, else the ``xml:lang`` in scope at its title,
    content or summary (the entry's, or one its text gives itself) unless that is ``inherited``
    (the feed's own ``xml:lang``, in scope everywhere); None when it says none."""
    own = language_tag(text(raw, "language"))
    if own:
        return own
    feeds = (inherited or "").casefold()
    for detail in (fields(raw, "title_detail"), *records(raw, "content"), fields(raw, "summary_detail")):
        found = language_tag(text(detail, "language"))
        if found and found.casefold() != feeds:
            return found
    return None


def article_language(raw: Fields, parsed: ParsedFeed, configured: str | None = None,
                     force: bool = False) -> str | None:
    """An entry's language: ``configured`` when forced; else the entry's own (``_entry_language``:
    a French item in an English feed is French); else ``configured`` (feeds.yaml's, which
    stands in for the feed's), else the feed's."""
    configured = language_tag(configured)
    if force and configured:
        return configured
    return _entry_language(raw, parsed.language) or configured or parsed.language


def normalise(feed: str, entry: Entry, parsed: ParsedFeed, *, now: datetime,
              language: str | None = None, force_language: bool = False) -> Article:
    """The full ``Article`` for one entry of ``parsed``.

    ``now`` is the time of this run (aware; naive is taken as UTC): the
    publication date of an entry without one, and the limit for dates in
    the future.  ``language`` (from feeds.yaml) stands in for the feed's own;
    the entry's own language wins over both unless ``force_language``.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC)
    raw = entry.raw

    title = plain(text(raw, "title"), text(fields(raw, "title_detail"), "type") or "text/html",
                  parsed.typed_text)

    feed_published = _utc(struct_time(raw, "published_parsed")) or _utc(struct_time(raw, "updated_parsed"))
    updated = _utc(struct_time(raw, "updated_parsed"))
    date_key = "published" if struct_time(raw, "published_parsed") else "updated"  # feed_published's
    offset = utc_offset(text(raw, date_key)) if feed_published is not None else None

    content, base = _content(raw)
    summary_detail = fields(raw, "summary_detail")
    description = _as_html(text(raw, "summary"), text(summary_detail, "type"))
    base = base or text(summary_detail, "base")
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
        date_only = _day_only(raw, date_key)
    else:
        published = now  # no date, or one in the future

    feed_image, thumbnail = _image(raw, base)
    image = feed_image or summary.image or thumbnail
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
        standfirst=summary.standfirst,
        content_html=summary.content_html,
        image=image,
        image_alt=_image_alt(image, summary.image_alts, title),
        source=source,
        language=article_language(raw, parsed, language, force_language),
        date_only=date_only,
        rights=rights(raw) or parsed.rights,
        utc_offset=offset or None,  # 0 and None alike: UTC
    )
