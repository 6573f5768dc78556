"""What one poll of a feed decided, as values: made by ``plan``, recorded by ``Store.apply``.

A poll that read the feed's bytes is a ``FeedPlan``: the feed's bookkeeping
(``FeedRecord``) and one intent per entry, in the feed's order::

    NewArticle     not seen before: recorded, and its deliveries
                     queued  (to ``targets``),
                     held    (a suspected feed migration: ``FeedPlan.held_reason``), or
                     none    ("seen only": the feed's first read, beyond its backfill;
                              or a copy of a stored article: ``copy_of``);
                   and the targets its filters keep it from (``filtered``, with the reason)
    EditedArticle  seen before, and the feed now says something else of it
    SkippedEntry   nothing to record, and why (``SKIP_REASONS``)

A poll answered 304 is a ``NotModified``; the polls of one cycle that were
are recorded together.  None of these knows about the network or the
database; ``Store.apply`` records a plan in one transaction.
"""

from __future__ import annotations

from typing import Literal

from syndicate.models import Article
from syndicate.value import valueclass

__all__ = ["SKIP_REASONS", "Deliveries", "EditedArticle", "EntryIntent", "FeedPlan", "FeedRecord",
           "NewArticle", "NotModified", "SkipReason", "SkippedEntry"]

Deliveries = Literal["queued", "held", "none"]
SkipReason = Literal["unchanged", "another feed's copy", "twice in this feed"]
SKIP_REASONS: tuple[SkipReason, ...] = (
    "unchanged",  # known, and its fingerprint is the one stored
    "another feed's copy",  # known (by guid or link identity) as another feed's article
    "twice in this feed",  # a second entry with a new article's link identity (http and https, say)
)


@valueclass
class NewArticle:
    """An entry the store has not seen: the article to record, and what happens to its deliveries."""

    article: Article  # normalised, with its entry's fingerprint (and a recorded date, if undated)
    deliveries: Deliveries
    targets: tuple[str, ...] = ()  # where it is queued or held; () when "none"
    filtered: tuple[tuple[str, str], ...] = ()  # (target, why its filters keep it from there)
    copy_of: int | None = None  # a copy of this stored article (``syndicate.copies``): no deliveries
    copies: tuple[int, ...] = ()  # stored articles that are copies of it, arrived first (``copies``)
    copy_reason: str = ""  # why it is taken for a copy (or they are)


@valueclass
class EditedArticle:
    """A stored article whose entry changed: what to store now, and, when a reader would see it
    (``changed``), each target's ``edits:`` policy for its posts (``Store.apply`` queues the edits)."""

    article_id: int
    article: Article  # under the stored guid, with the entry's new fingerprint
    added_again: bool = False  # re-published by the site (re-dated): in the output feed once more
    changed: tuple[str, ...] = ()  # what a reader would see changed (``changes.substantive``)
    edits: tuple[tuple[str, str], ...] = ()  # (target, its ``edits:`` policy) when ``changed``


@valueclass
class SkippedEntry:
    """An entry that records nothing."""

    id: str  # its guid
    link: str
    reason: SkipReason


EntryIntent = NewArticle | EditedArticle | SkippedEntry


@valueclass
class FeedRecord:
    """A feed's row after a read (table ``feeds``): validators, body hash, next fetch, error cleared."""

    name: str
    url: str  # as configured (a changed one is fetched afresh)
    final_url: str | None  # where a permanent redirect moved it
    etag: str | None
    last_modified: str | None
    body_hash: str | None  # of the bytes read: the same bytes next time need no parsing
    next_fetch_at: float
    seeded: bool  # this read seeded the feed (a feed once seeded stays seeded either way)


@valueclass
class FeedPlan:
    """One read of a feed: its bookkeeping and an intent per entry (none when ``unchanged``)."""

    record: FeedRecord
    status: Literal["fetched", "unchanged"] = "fetched"  # unchanged: the bytes read last time, not parsed
    title: str = ""  # the feed's own title, kept for the output feed ("" : keep the one stored)
    intents: tuple[EntryIntent, ...] = ()
    first_read: bool = False  # the feed's first read: only the ``backfill`` newest are queued
    backfill: int = 0  # on the first read, how many of the newest were chosen to post
    held_reason: str = ""  # why the held deliveries are held (one reason for the whole poll)
    newest_known: float | None = None  # when held: the newest known article's date (Unix seconds)
    settle: float = 0.0  # the feed's settle window (seconds): its new posts wait this long from now

    @property
    def feed(self) -> str:
        return self.record.name

    @property
    def new(self) -> tuple[NewArticle, ...]:
        return tuple(i for i in self.intents if isinstance(i, NewArticle))

    @property
    def edited(self) -> tuple[EditedArticle, ...]:
        return tuple(i for i in self.intents if isinstance(i, EditedArticle))

    @property
    def skipped(self) -> tuple[SkippedEntry, ...]:
        return tuple(i for i in self.intents if isinstance(i, SkippedEntry))

    @property
    def queued(self) -> tuple[NewArticle, ...]:
        return self._new_with("queued")

    @property
    def held(self) -> tuple[NewArticle, ...]:
        return self._new_with("held")

    @property
    def seen_only(self) -> tuple[NewArticle, ...]:
        return self._new_with("none")

    def _new_with(self, deliveries: Deliveries) -> tuple[NewArticle, ...]:
        return tuple(i for i in self.intents if isinstance(i, NewArticle) and i.deliveries == deliveries)


@valueclass
class NotModified:
    """A feed that answered 304: when to fetch it next, and what the answer said (None: unsaid)."""

    feed: str
    next_fetch_at: float
    etag: str | None  # a validator the server sent again replaces the stored one
    last_modified: str | None
    permanent_redirect: str | None  # where every hop of a permanent redirect led
