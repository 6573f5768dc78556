"""Plain frozen values passed between the pipeline's stages.

``Article`` comes out of ``parse``; ``PostDraft`` out of ``compose`` and the
target's platform (``TargetLimits`` and ``ImageRules`` are what a platform declares);
``Posted`` out of a target adapter; ``Attempted`` is what the outbox tells an
adapter's ``lookup`` about a row's earlier requests.  None of them knows about the network or
the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from syndicate.value import field, valueclass


@valueclass(hot=True)
class Source:
    """Where a reposted article was first published."""

    name: str | None = None  # "Anti*Capitalist Resistance", "Red Pepper", ...
    url: str | None = None  # link to the original
    published: datetime | None = None  # aware UTC


@valueclass(hot=True)
class Article:
    """One feed entry, normalised.

    ``published`` is the *original* publication date: the date the piece was
    first published (the credited source's date for a repost, else the feed's
    own date, else the time we first saw it).  ``feed_published`` is the date
    the feed gave, kept beside it.  ``date_only``: ``published`` is a day with
    no time of day (a credit's "13 October 2022", a feed date without a time),
    held as UTC midnight; whoever shows it must not shift it to another day.
    ``utc_offset``: the zone the feed wrote its own date in (``feed_published``
    is UTC), so the day is shown as the source saw it (``dates.published_day``).
    """

    feed: str  # name of the feed in feeds.yaml
    id: str  # stable id: the guid, else the canonical link
    link: str  # canonical link (tracking parameters removed)
    title: str  # plain text, entities decoded
    published: datetime  # original publication date, aware UTC
    feed_published: datetime | None = None  # the feed's own date, aware UTC
    updated: datetime | None = None  # the feed's updated date, aware UTC
    author: str | None = None
    categories: tuple[str, ...] = ()
    standfirst: str = ""  # plain text lead paragraph
    content_html: str = ""  # sanitised HTML of the full article (or summary)
    image: str | None = None  # absolute URL of the article's image
    image_alt: str | None = None  # the image's alt text (media:description, <img alt>)
    source: Source | None = None  # set when the article is a repost
    language: str | None = None  # "en", "en-GB", ...
    fingerprint: str = ""  # what the feed said of the entry (``parse.Entry.fingerprint``): changed = edited
    date_only: bool = False  # ``published`` is a day, not a moment
    rights: str | None = None  # the source's licence or rights statement
    utc_offset: int | None = None  # minutes east of UTC the feed wrote its own date in (None: UTC / not said)


@valueclass
class TargetLimits:
    """How a platform measures and bounds a post's text (see ``syndicate.textlen``)."""

    max_length: int  # 500 for Mastodon (or the instance's), 300 for Bluesky
    url_length: int | None  # every URL counts as this many (Mastodon: 23); None = literal
    unit: Literal["graphemes", "chars"] = "graphemes"
    max_bytes: int | None = None  # a bound on the UTF-8 size too (Bluesky: 3000); None = none


@valueclass
class ImageRules:
    """What a platform takes as an image (see ``syndicate.images.fit_image``).

    An image in one of ``formats`` within ``max_bytes`` and ``max_side``
    pixels a side is sent as it came; any other is scaled down and re-encoded
    as JPEG to fit.  ``None``: no bound.
    """

    max_bytes: int | None = None
    max_side: int | None = None
    formats: frozenset[str] = frozenset({"JPEG", "PNG", "WEBP"})


@valueclass
class Facet:
    """A rich-text span of a Bluesky post, in UTF-8 byte offsets."""

    byte_start: int
    byte_end: int
    kind: Literal["link", "tag"]
    value: str  # the URI for a link, the tag without '#' for a tag


@valueclass
class LinkCard:
    """An external link card (Bluesky ``app.bsky.embed.external``)."""

    uri: str
    title: str
    description: str
    thumb_url: str | None = None


@valueclass
class PostDraft:
    """What would be posted to one target, before it is sent."""

    target: str  # target name in feeds.yaml
    article_id: str
    text: str
    length: int  # the length as the platform counts it
    facets: tuple[Facet, ...] = ()
    card: LinkCard | None = None
    language: str | None = None
    notes: tuple[str, ...] = field(default=())  # why it looks as it does (for preview)
    content_warning: str | None = None  # the article's warning (Mastodon ``spoiler_text``)
    labels: tuple[str, ...] = ()  # self-labels (Bluesky: ``graphic-media``, ``nudity``, …)
    image_alt: str | None = None  # the alt text of the card's image (a Mastodon thumbnail)


@valueclass
class Posted:
    """A post that a target accepted."""

    remote_id: str
    url: str
    posted_at: datetime | None = None


@valueclass
class Attempted:
    """What an outbox row sent before, for ``Target.lookup`` to find the post it may have made.

    Only the post made with ``key``, after ``since``, carrying one of ``texts``, and held by
    no other row (``taken``: remote ids other rows of the target have recorded) can be it.
    """

    key: str  # the row's idempotency key / record key
    texts: tuple[str, ...]  # every text a request of the row carried
    since: datetime  # when the first of them may have left (aware UTC)
    taken: frozenset[str] = frozenset()


@valueclass
class StoredSession:
    """A platform session kept between runs, with what it was made for.

    A session is reused only for the same ``service`` and ``handle``; one
    saved without them (by an older syndicate) is never trusted.
    """

    data: str  # the SDK's exported session (tokens: a secret, never logged)
    service: str | None = None  # the service URL it was made at
    handle: str | None = None  # the handle it was made for, as configured
