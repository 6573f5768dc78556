"""Decide what one read of a feed means: a pure function from what is known to a ``FeedPlan``.

``plan_feed(feed, state, fetched, parsed, known, now=…, next_fetch_at=…,
targets=…, recorded_dates=…)`` turns the feed's state, its parsed entries
and what the store knows of them into one intent per entry
(``syndicate.intent``).  No I/O, no clock: every input is a value, so each
rule below is a row in a table of situations (``tests/test_plan.py``):

- **Known, unchanged**: an entry known by its guid in this feed, or by its
  link's identity in any feed (``syndicate.links``), whose fingerprint
  (``parse.Entry.fingerprint``) is the one stored, is skipped; so is
  another feed's article, whatever it says (the first feed keeps it).
- **Edited**: one of this feed's articles whose fingerprint changed is
  stored again, under its stored guid (``revised``): an undated article
  keeps the date it was first seen; one whose feed date moved forward by
  more than ``REDATE_SLACK`` was re-published, and counts as added again.
- **New**: normalised; two entries of one poll with the same link
  identity are one article, the first.  An undated one takes the date the
  output feed gave it before, if the state was lost (``recorded_dates``).
- **Seeding**: a feed's first read records every new article as seen and
  queues only its ``backfill`` newest.
- **Filtered**: a new article to post that a target's filters (the feed's,
  then the target's: ``syndicate.filters``) keep from it is not queued
  there; it is recorded as filtered there, with the reason.
- **Held**: a later read that would queue more than
  ``hold_suspected_migration`` articles, none newer than the newest already
  known, is a feed that moved, not news: their deliveries are held.

``plan_unchanged`` is a read whose bytes were the ones read last time
(``same_body``: not parsed), ``not_modified`` a 304.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from syndicate.filters import judge
from syndicate.intent import (
    EditedArticle,
    EntryIntent,
    FeedPlan,
    FeedRecord,
    NewArticle,
    NotModified,
    SkippedEntry,
)
from syndicate.links import link_identity
from syndicate.value import field, replace, valueclass

if TYPE_CHECKING:  # a 304 or the same bytes (not_modified, plan_unchanged) never loads the parser
    from syndicate.config import FeedConfig
    from syndicate.fetch import FetchResult
    from syndicate.filters import Filter
    from syndicate.models import Article
    from syndicate.parse import Entry, ParsedFeed
    from syndicate.store import FeedState, Known

__all__ = ["REDATE_SLACK", "KnownEntries", "feed_record", "not_modified", "plan_feed", "plan_unchanged",
           "revised", "same_body", "stored_for_edits", "undated"]

REDATE_SLACK = timedelta(days=1)  # more than any time-zone slip


@valueclass
class KnownEntries:
    """What the store holds of one read's entries."""

    by_guid: Mapping[str, Known]  # ``Store.known``: by the incoming entry's guid
    newest_published: float | None = None  # the feed's newest article's original date (Unix seconds)
    stored: Mapping[int, Article] = field(default_factory=dict)  # ``stored_for_edits``' articles, by id


def undated(article: Article) -> bool:
    """The source gave no date: ``published`` is when the article was first seen."""
    return article.feed_published is None and not (article.source and article.source.published)


def revised(stored: Article | None, edited: Article) -> tuple[Article, bool]:
    """(what to store for an edited article, whether the site re-published it).

    An undated article keeps the date it was first seen.  The site
    re-published (re-dated) it when its feed date moved forward by more than
    ``REDATE_SLACK``: it counts as added again, so it is in the output feed
    once more.
    """
    if stored is None:
        return edited, False
    if undated(edited):
        edited = replace(edited, published=stored.published)
    redated = (edited.feed_published is not None and stored.feed_published is not None
               and edited.feed_published > stored.feed_published + REDATE_SLACK)
    return edited, redated


def stored_for_edits(feed: str, entries: Iterable[Entry], known: Mapping[str, Known]) -> list[int]:
    """The stored articles ``plan_feed`` needs (``KnownEntries.stored``): those of the feed's own
    entries whose fingerprint changed, the only ones ``revised`` compares with."""
    ids = []
    for entry in entries:
        seen = known.get(entry.id)
        if seen is not None and seen.feed == feed and seen.fingerprint != entry.fingerprint:
            ids.append(seen.article_id)
    return ids


def same_body(state: FeedState | None, fetched: FetchResult) -> bool:
    """A seeded feed whose bytes are the ones read last time: there is nothing to parse."""
    return bool(state and state.seeded and fetched.body_hash is not None
                and state.body_hash == fetched.body_hash)


def feed_record(feed: FeedConfig, state: FeedState | None, fetched: FetchResult, *,
                next_fetch_at: float, seeded: bool) -> FeedRecord:
    """The feed's row after reading ``fetched``: its validators and body hash, the error cleared."""
    return FeedRecord(
        name=feed.name, url=feed.url,
        final_url=fetched.permanent_redirect or (state.final_url if state else None),
        etag=fetched.etag, last_modified=fetched.last_modified, body_hash=fetched.body_hash,
        next_fetch_at=next_fetch_at, seeded=seeded,
    )


def plan_unchanged(feed: FeedConfig, state: FeedState | None, fetched: FetchResult, *,
                   next_fetch_at: float) -> FeedPlan:
    """A read of the bytes read last time: only the bookkeeping."""
    return FeedPlan(feed_record(feed, state, fetched, next_fetch_at=next_fetch_at, seeded=False),
                    status="unchanged")


def not_modified(feed: FeedConfig, fetched: FetchResult, *, next_fetch_at: float) -> NotModified:
    """A 304: when to fetch next, and the validators and permanent redirect it gave."""
    return NotModified(feed.name, next_fetch_at, fetched.etag, fetched.last_modified,
                       fetched.permanent_redirect)


def _with_recorded_date(article: Article, recorded_dates: Mapping[str, datetime]) -> Article:
    """An undated new article with the date the output feed gave it before, if any."""
    if not undated(article):
        return article
    when = recorded_dates.get(article.id) or recorded_dates.get(article.link)
    return replace(article, published=when) if when else article


def _suspected_migration(limit: int, to_post: Sequence[Article], newest_known: float | None) -> bool:
    """More than ``limit`` to post, none newer than the newest already known: the feed moved."""
    if not limit or len(to_post) <= limit or newest_known is None:
        return False
    return not any(a.published.timestamp() > newest_known for a in to_post)


def _filtered(article: Article, targets: Sequence[str],
              filters: Mapping[str, Sequence[Filter]]) -> tuple[tuple[str, str], ...]:
    """(target, why not) for each target whose filters keep ``article`` from it."""
    out = []
    for target in targets:
        why = judge(article, filters.get(target, ()))
        if why is not None:
            out.append((target, why))
    return tuple(out)


def plan_feed(feed: FeedConfig, state: FeedState | None, fetched: FetchResult, parsed: ParsedFeed,
              known: KnownEntries, *, now: float, next_fetch_at: float, targets: Sequence[str],
              recorded_dates: Mapping[str, datetime],
              filters: Mapping[str, Sequence[Filter]] | None = None,
              edits: Mapping[str, str] | None = None) -> FeedPlan:
    """One intent per entry of ``parsed``, and the feed's bookkeeping (see the module docstring).

    ``now`` (Unix seconds) dates an entry without a date; ``targets`` are
    where the feed's new articles go (none: recorded as seen only);
    ``filters``: each target's (``Config.filters_for``), none by default;
    ``edits``: each target's ``edits:`` policy (none: an edit is only stored).
    """
    from syndicate.changes import substantive  # (and html: a 304 or the same bytes plan nothing)
    from syndicate.parse import normalise

    now_dt = datetime.fromtimestamp(now, UTC)
    intents: list[EntryIntent | None] = []  # None: a new article, its deliveries decided below
    new: list[Article] = []
    new_idents: set[str] = set()
    for entry in parsed.entries:
        seen = known.by_guid.get(entry.id)
        if seen is not None and seen.feed != feed.name:
            intents.append(SkippedEntry(entry.id, entry.link, "another feed's copy"))
            continue
        if seen is not None and seen.fingerprint == entry.fingerprint:
            intents.append(SkippedEntry(entry.id, entry.link, "unchanged"))
            continue
        if seen is None:
            ident = link_identity(entry.link)
            if ident in new_idents:
                intents.append(SkippedEntry(entry.id, entry.link, "twice in this feed"))
                continue
            new_idents.add(ident)
        article = replace(normalise(feed.name, entry, parsed, now=now_dt, language=feed.language,
                              force_language=feed.force_language),
                          fingerprint=entry.fingerprint)
        if seen is None:
            new.append(_with_recorded_date(article, recorded_dates))
            intents.append(None)
        else:
            stored = known.stored.get(seen.article_id)
            article, added_again = revised(stored, replace(article, id=seen.guid))
            changed = substantive(stored, article) if stored is not None else ()
            policies = tuple((t, (edits or {}).get(t, "ignore")) for t in targets) if changed else ()
            intents.append(EditedArticle(seen.article_id, article, added_again, changed, policies))

    seeded = bool(state and state.seeded)
    to_post = new if seeded else sorted(new, key=lambda a: a.published, reverse=True)[:feed.backfill]
    held = bool(seeded and targets and _suspected_migration(feed.hold_suspected_migration, to_post,
                                                           known.newest_published))
    chosen = {a.id for a in to_post}
    fates = iter(new)
    for n, intent in enumerate(intents):
        if intent is None:
            article = next(fates)
            if article.id in chosen and targets:
                filtered = _filtered(article, targets, filters or {})
                kept = tuple(t for t in targets if t not in dict(filtered))
                intents[n] = NewArticle(article, "held" if held and kept else "queued", kept, filtered)
            else:
                intents[n] = NewArticle(article, "none")
    return FeedPlan(
        record=feed_record(feed, state, fetched, next_fetch_at=next_fetch_at, seeded=True),
        title=parsed.title,
        intents=tuple(i for i in intents if i is not None),
        first_read=not seeded,
        backfill=0 if seeded else len(to_post),
        held_reason=(f"held: suspected feed migration ({len(to_post)} new entries at once, none newer "
                     f"than the newest known); `syndicate release {feed.name}` posts them") if held else "",
        newest_known=known.newest_published if held else None,
        settle=feed.settle,
    )
