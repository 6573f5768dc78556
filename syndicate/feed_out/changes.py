"""What mirrors are told of an article's life after it was first published: pure.

- **Its real update.**  An item's ``updated`` (Atom) / ``date_modified``
  (JSON) is the latest of the source's own updated date and the last time
  what the item shows changed (``store.mirror_items``: its title, author,
  standfirst, content, link, image, dates or source as normalised, so a
  change of whitespace, of how an entity is written or of a tracking
  parameter is none), never before its original date.  So a mirror that refreshes on ``updated``
  refreshes the item.  RSS has no item update date: there the changed
  content arrives under the same ``guid``.
- **Its posts.**  Each item links to the posts made of it (the delivered
  posts' URLs): Atom ``<link rel="syndication">``, JSON ``_syndicate.posts``.
- **Its copies.**  An article recorded as another's copy (``syndicate.copies``)
  is no item of its own; the original's JSON item lists the copies' links
  (``_syndicate.copies``).
- **Its unpublishing.**  An article gone at source (``syndicate.unpublish``)
  leaves the feeds; the Atom feed carries an RFC 6721 tombstone for it,
  ``<at:deleted-entry ref="its entry id" when="…">``, for ``TOMBSTONE_DAYS``.

``Life`` holds all of it, keyed by (feed, guid); ``life_of`` builds it from
the store's values, ``select_items`` is ``items.select`` with it applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from syndicate.feed_out.items import Item, item_id, line, select, tag_uri, utc, web_link
from syndicate.models import Article
from syndicate.value import field, replace, valueclass

__all__ = ["TOMBSTONES_NS", "TOMBSTONE_DAYS", "ItemKey", "Life", "Tombstone", "life_of", "select_items",
           "tombstone_since"]

TOMBSTONES_NS = "http://purl.org/atompub/tombstones/1.0"
TOMBSTONE_DAYS = 30

ItemKey = tuple[str, str]  # (the article's feed, its guid)


@valueclass
class Tombstone:
    ref: str  # the entry's Atom id, as the entry had it
    when: datetime  # when it was found gone at source
    link: str  # the page that is gone


@valueclass
class Life:
    edited: Mapping[ItemKey, datetime] = field(default_factory=dict)
    posts: Mapping[ItemKey, tuple[str, ...]] = field(default_factory=dict)
    copies: Mapping[ItemKey, tuple[str, ...]] = field(default_factory=dict)
    tombstones: tuple[Tombstone, ...] = ()


class _Entry(Protocol):  # what life_of reads of a ``store.MirrorEntry`` (no import of the store here)
    @property
    def article(self) -> Article: ...
    @property
    def edited_at(self) -> float | None: ...
    @property
    def posts(self) -> tuple[str, ...]: ...
    @property
    def copies(self) -> tuple[str, ...]: ...


class _Gone(Protocol):  # what life_of reads of a ``store.GoneArticle``
    @property
    def guid(self) -> str: ...
    @property
    def link(self) -> str: ...
    @property
    def gone_at(self) -> float: ...


def tombstone_since(now: datetime) -> datetime:
    """The oldest unpublishing a feed rendered at ``now`` still tombstones."""
    return utc(now) - timedelta(days=TOMBSTONE_DAYS)


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC).replace(microsecond=0)


def life_of(entries: Sequence[_Entry], gone: Sequence[_Gone]) -> Life:
    """``Life`` from the store's ``mirror_entries`` and ``gone_since``."""
    edited: dict[ItemKey, datetime] = {}
    posts: dict[ItemKey, tuple[str, ...]] = {}
    copies: dict[ItemKey, tuple[str, ...]] = {}
    for e in entries:
        key = (e.article.feed, e.article.id)
        if e.edited_at is not None:
            edited[key] = _at(e.edited_at)
        if e.posts:
            posts[key] = tuple(u for u in (web_link(p) for p in e.posts) if u)
        if e.copies:
            copies[key] = tuple(u for u in (web_link(c) for c in e.copies) if u)
    stones = tuple(Tombstone(tag_uri(item_id(line(g.guid)) or web_link(g.link)), _at(g.gone_at),
                             web_link(g.link)) for g in gone)
    return Life(edited, posts, copies, stones)


def _lived(item: Item, key: ItemKey, life: Life) -> Item:
    edited = life.edited.get(key)
    posts = life.posts.get(key, ())
    copies = life.copies.get(key, ())
    if edited is None and not posts and not copies:
        return item
    return replace(item, updated=max(item.updated, edited) if edited else item.updated,
                   posts=tuple(dict.fromkeys(posts)), copies=tuple(dict.fromkeys(copies)))


def select_items(articles: Sequence[Article], max_items: int, site_names: Mapping[str, str] | None,
                 life: Life | None = None) -> list[Item]:
    """``items.select`` with ``life`` applied: the first ``max_items`` articles as items, one per id."""
    if life is None:
        return select(articles, max_items, site_names)
    return select(articles, max_items, site_names, lambda item, a: _lived(item, (a.feed, a.id), life))
