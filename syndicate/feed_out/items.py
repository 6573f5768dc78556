"""What the three formats share: articles → items, the channel, the credit line.

Everything here is pure.  ``prepare`` turns one ``Article`` into an ``Item``
holding every value the RSS, Atom and JSON writers need, already cleaned:

- text stripped of the characters XML 1.0 forbids,
- dates as aware UTC; a day-only date (``Article.date_only``) at 12:00 UTC,
  so no reader between UTC−12 and UTC+14 shows the day before,
- the content with every URL (``href``, ``src``, ``srcset`` …) made absolute
  against the article's link, and any that is not http(s)/mailto dropped,
  then the credit paragraph,
- an author on every item: the article's, else the credited source.

An item is one article; one that arrives through several feeds is one item,
the original, its copies listed (``changes``, ``syndicate.copies``).
"""

from __future__ import annotations

import html
import mimetypes
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import lxml.html

from syndicate.compose import card_title, format_date, published_day
from syndicate.config import FEED_FILE_NAMES, OutputConfig, feed_base_url
from syndicate.models import Article
from syndicate.summary import web_url
from syndicate.value import valueclass

RSS_FILE, ATOM_FILE, JSON_FILE = FEED_FILE_NAMES
FEED_FILES = FEED_FILE_NAMES
GENERATOR = "syndicate"

# Characters XML 1.0 does not allow (C0 controls except TAB/LF/CR, lone
# surrogates, U+FFFE/U+FFFF); lxml refuses them and feedparser flags them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SPACE = re.compile(r"\s+")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_ID_SCHEMES = frozenset({"http", "https", "urn", "tag"})  # an id in another scheme is not used as a URI
_ID_NAMESPACE = uuid.UUID("7f1e6f2c-7d53-5b8e-9a52-3c1f0e6b9a10")
DAY_ONLY_HOUR = 12  # a day-only date is written at noon UTC


# --- text and dates -------------------------------------------------------------


def clean(text: str | None) -> str:
    """Text with the characters XML 1.0 forbids removed."""
    return _XML_INVALID.sub("", text) if text else ""


def line(text: str | None) -> str:
    """One line of clean text: whitespace runs collapsed, ends stripped."""
    return _SPACE.sub(" ", clean(text)).strip()


def web_link(url: str | None) -> str:
    """An http(s) URL with a host, or "" (the last check before a link leaves)."""
    return web_url(line(url)) or ""


def utc(dt: datetime) -> datetime:
    """An aware UTC datetime (a naive one is taken to be UTC already)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def rfc3339(dt: datetime) -> str:
    return utc(dt).isoformat()


def _day(dt: datetime, date_only: bool) -> datetime:
    dt = utc(dt)
    return dt.replace(hour=DAY_ONLY_HOUR, minute=0, second=0, microsecond=0) if date_only else dt


def host(url: str | None) -> str:
    try:
        name = urlsplit(url or "").hostname or ""
    except ValueError:
        return ""
    return name.removeprefix("www.")


def is_uri(value: str) -> bool:
    return bool(_URI.match(value))


def tag_uri(value: str) -> str:
    """``value`` itself when it is an IRI, else a stable ``urn:uuid:`` made from it."""
    return value if is_uri(value) else f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, value)}"


def item_id(article_id: str) -> str:
    """The article's id, unless it is a URI in a scheme no reader should follow (``javascript:``)."""
    if is_uri(article_id) and article_id.split(":", 1)[0].lower() not in _ID_SCHEMES:
        return f"urn:uuid:{uuid.uuid5(_ID_NAMESPACE, article_id)}"
    return article_id


# --- absolute URLs in content -------------------------------------------------------

_URL_ATTRS = ("href", "src", "cite", "poster", "longdesc")
_SAFE = frozenset({"http", "https"})
_SAFE_HREF = frozenset({"http", "https", "mailto"})
# Worth a parse: an attribute whose value is not plainly absolute, or any srcset.
_MAY_NEED_FIXING = re.compile(
    r"""\b(?:(?:href|src|cite|poster|longdesc)\s*=\s*["']?(?!\s*(?:https?:|mailto:))|srcset\s*=)""", re.I
)
_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.-]*):")
_JUNK = re.compile(r"[\x00-\x20\x7f]+")
_SRCSET_CANDIDATE = re.compile(r"[\s,]*(?P<url>[^\s,][^\s]*?)(?P<commas>,*)(?=\s|$)(?P<desc>[^,]*)")


def _absolute(value: str, base: str, schemes: frozenset[str]) -> str | None:
    """``value`` resolved against ``base``; None for an unsafe scheme (``javascript:`` …)."""
    value = value.strip()
    try:
        joined = urljoin(base, value) if base else value
    except ValueError:
        return None
    m = _SCHEME.match(_JUNK.sub("", joined))  # "java\tscript:" is javascript:
    if m is None:
        return joined if not base else None  # still relative: nothing to resolve it against
    return joined if m.group(1).lower() in schemes else None


def _absolute_srcset(value: str, base: str) -> str:
    kept = []
    for m in _SRCSET_CANDIDATE.finditer(value):
        url = _absolute(m.group("url"), base, _SAFE)
        desc = "" if m.group("commas") else " ".join(m.group("desc").split())
        if url:
            kept.append(f"{url} {desc}" if desc else url)
    return ", ".join(kept)


def absolute_html(fragment: str, base: str) -> str:
    """``fragment`` with every link, image and ``srcset`` URL absolute against ``base``.

    URLs whose scheme is not http(s) (or mailto for a link) are removed: the
    sanitiser already dropped them at ingest, this is the last line of
    defence for whatever reaches a mirror.  Untouched when nothing needs it.
    """
    if not fragment or not _MAY_NEED_FIXING.search(fragment):
        return fragment
    root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for name in _URL_ATTRS:
            value = el.get(name)
            if value is not None:
                url = _absolute(value, base, _SAFE_HREF if name == "href" else _SAFE)
                if url is None:
                    del el.attrib[name]
                else:
                    el.set(name, url)
        srcset = el.get("srcset")
        if srcset is not None:
            fixed = _absolute_srcset(srcset, base)
            if fixed:
                el.set("srcset", fixed)
            else:
                del el.attrib["srcset"]
    out = str(lxml.html.tostring(root, encoding="unicode"))
    return out.removeprefix("<div>").removesuffix("</div>")


# --- the credit line ------------------------------------------------------------


def _credit_parts(article: Article, site_name: str | None) -> tuple[str, str, str]:
    """(date, source name, link) of the "first published" credit."""
    source = article.source
    source_url = web_link(source.url) if source else ""
    date = format_date(source.published) if source and source.published else published_day(article)
    link = source_url or web_link(article.link)
    if source and (source.name or source_url):
        name = line(source.name) or host(source_url)
    else:
        name = line(site_name) or host(web_link(article.link))
    return date, name or "the original site", link


def credit_line(article: Article, site_name: str | None = None) -> str:
    """``First published on 13 October 2022 by Anti*Capitalist Resistance at https://…``.

    A repost credits its original source (``article.source``: name, else the
    host of its URL; its URL; its date, else ``article.published``).  Anything
    else credits ``site_name`` (the feed's display name; default: the host of
    the article's link) at the article's own link.
    """
    date, name, link = _credit_parts(article, site_name)
    text = f"First published on {date} by {name}"
    return f"{text} at {link}" if link else text


def _credit_html(article: Article, site_name: str | None) -> str:
    date, name, link = _credit_parts(article, site_name)
    text = f"First published on {date} by {html.escape(name, quote=False)}"
    if link:
        href = html.escape(link)
        text += f' at <a href="{href}">{href}</a>'
    return f"<p><em>{text}</em></p>"


# --- items ------------------------------------------------------------------------


@valueclass
class Item:
    id: str  # the article's id (RSS guid, JSON id)
    atom_id: str  # an IRI: the id itself when it is one
    link: str
    title: str
    published: datetime  # original publication; noon UTC for a day-only date
    updated: datetime  # never before ``published``
    date_only: bool
    author: str  # the article's, else the credited source: never empty
    categories: tuple[str, ...]
    credit: str
    content_html: str  # article HTML, URLs absolute, + credit paragraph
    summary_text: str  # standfirst + credit, plain text
    summary_html: str  # standfirst + credit, HTML (RSS description)
    source_name: str  # the credited source (the repost's, else the site)
    source_url: str
    repost_name: str  # a repost with a known URL: its source's name (else the URL's host)
    repost_url: str  # set for a repost with a known URL
    repost_published: datetime | None  # the repost's original date, if known
    image: str
    image_alt: str
    image_type: str  # the image's media type, from its file name (image/jpeg if none)
    language: str
    rights: str  # the source's licence or rights statement
    posts: tuple[str, ...] = ()  # the URLs of the posts made of it (``changes``)
    copies: tuple[str, ...] = ()  # the links of its copies in other feeds (``changes``)


def image_type(url: str) -> str:
    kind, _ = mimetypes.guess_type(urlsplit(url).path)
    return kind if kind and kind.startswith("image/") else "image/jpeg"


def prepare(article: Article, site_name: str | None) -> Item:
    link = web_link(article.link)
    the_id = item_id(line(article.id)) or link
    title = line(card_title(line(article.title), line(article.standfirst), link)) or the_id
    published = _day(article.published, article.date_only)
    updated = max(utc(article.updated), published) if article.updated else published
    standfirst = clean(article.standfirst).strip()
    credit = clean(credit_line(article, site_name))
    credit_html = clean(_credit_html(article, site_name))
    body = absolute_html(clean(article.content_html).strip(), link)
    summary_html = (
        f"<p>{html.escape(standfirst, quote=False)}</p>\n{credit_html}" if standfirst else credit_html
    )
    categories = tuple(dict.fromkeys(c for c in (line(x) for x in article.categories) if c))
    _date, source_name, source_url = _credit_parts(article, site_name)
    source = article.source
    repost_url = web_link(source.url) if source else ""
    image = web_link(article.image)
    return Item(
        id=the_id,
        atom_id=tag_uri(the_id),
        link=link,
        title=title,
        published=published,
        updated=updated,
        date_only=article.date_only,
        author=line(article.author) or clean(source_name),
        categories=categories,
        credit=credit,
        content_html=f"{body}\n{credit_html}" if body else credit_html,
        summary_text=f"{standfirst}\n\n{credit}" if standfirst else credit,
        summary_html=summary_html,
        source_name=clean(source_name),
        source_url=clean(source_url),
        repost_name=(line(source.name) or host(repost_url)) if source and repost_url else "",
        repost_url=repost_url,
        repost_published=_day(source.published, True) if source and source.published else None,
        image=image,
        image_alt=(line(article.image_alt) or title) if image else "",
        image_type=image_type(image) if image else "",
        language=line(article.language),
        rights=line(article.rights),
    )


def select(articles: Sequence[Article], max_items: int, site_names: Mapping[str, str] | None,
           then: Callable[[Item, Article], Item] | None = None) -> list[Item]:
    """The first ``max_items`` articles as items, one per id, in the order given; ``then``
    finishes each item from its article (``changes.select_items``: what mirrors are told since).

    The order given is the feed's: most recently added first (what
    ``Store.latest_articles`` returns), whatever their original dates.
    """
    names = site_names or {}
    items: list[Item] = []
    seen: set[str] = set()
    for article in articles:
        item = prepare(article, names.get(article.feed))
        if item.id in seen:
            continue
        seen.add(item.id)
        items.append(then(item, article) if then else item)
        if len(items) >= max_items:
            break
    return items


# --- channel -------------------------------------------------------------------


@valueclass
class Channel:
    title: str
    link: str  # the site's home page
    description: str
    language: str
    hub: str
    rights: str
    self_urls: Mapping[str, str]  # file name → where it is published


def self_urls(self_url: str | None) -> dict[str, str]:
    """Where each file is published, from ``output.self_url``.

    A base URL, with or without its trailing slash, or the URL of any one of
    the three files gives all three: ``https://x/feeds`` →
    ``{"feed.xml": "https://x/feeds/feed.xml", …}``.
    """
    if not self_url:
        return {}
    base = feed_base_url(line(self_url))
    return {name: urljoin(base, name) for name in FEED_FILES}


def channel(output: OutputConfig) -> Channel:
    title = line(output.title) or GENERATOR
    return Channel(
        title=title,
        link=line(output.link),
        description=line(output.description) or title,
        language=line(output.language),
        hub=line(output.websub_hub),
        rights=line(output.rights),
        self_urls=self_urls(output.self_url),
    )
