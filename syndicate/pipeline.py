"""Ingestion: each due feed from fetch to the outbox, as named phases.

``poll_many(feeds)``, once per cycle, a batch of feeds at a time:

0. **claim**: the batch's polls no other worker is making (``Store.claim_feeds``:
   with several workers on one state, each due feed is fetched by one of
   them per interval; config entries with the same URL cost one fetch);
1. **state**: the claimed feeds' state, read by the claim, after its lock
   (``Store.claim_feed_states``: the feeds' rows are read once);
2. **fetch**: the feeds concurrently, each URL once, a conditional GET
   (``Fetcher.fetch_feed``: the bytes and their ``body_hash``, or a 304);
3. per feed, in turn:

   - 304 → a ``NotModified``;
   - the bytes read last time (``plan.same_body``) → only the bookkeeping
     (``plan.plan_unchanged``'s record); the batch's 304s and unchanged
     bodies are recorded together, in one transaction (``Store.record_polls``);
   - else **parse** (``parse_feed``: every entry's id, canonical link and
     fingerprint) → **look up** what the store knows of the entries (by
     guid, or by the link's identity: ``Store.known``; the newest article's
     date; the stored articles of the entries that changed) → **plan**
     (``plan.plan_feed``, pure: normalises only the new and the edited
     entries and decides, for each entry, new and queued / held / seen
     only, edited, or skipped and why) → **apply** (``Store.apply``: the
     articles, their outbox rows and held deliveries, the feed's row and
     title, in one transaction, which also ends the claim) → the log lines,
     from the plan.

The rules are ``syndicate.plan``'s: the first read seeds the feed (only its
``backfill`` newest are queued); a read that would queue more than
``hold_suspected_migration`` entries, none newer than the newest known, is
held until ``syndicate release FEED``; an edit is recorded, not posted.

The result is a value (``FeedResult``); an expected failure (``FeedError``)
is recorded on the feed with a backoff and returned, never raised, so one
broken feed never stops the others.

Every record is the claim's (``owner``): a poll whose claim ran out and
whose feed another worker has claimed since records nothing (``ClaimLost``;
``record_polls`` returns such feeds), is left out of the results, and the
batch says so in one warning.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from syndicate.errors import ClaimLost, FeedError, FeedRateLimited
from syndicate.fetch import FetchResult
from syndicate.plan import (
    KnownEntries,
    not_modified,
    plan_feed,
    plan_unchanged,
    same_body,
    stored_for_edits,
)
from syndicate.unpublish import first_check_at, log_listing
from syndicate.value import valueclass

if TYPE_CHECKING:  # the parser is imported when a body must be parsed (not for a 304)
    from syndicate.config import Config, FeedConfig
    from syndicate.fetch import Fetcher
    from syndicate.intent import FeedPlan, FeedRecord, NotModified
    from syndicate.parse import Entry, ParsedFeed
    from syndicate.store import FeedState, IngestCounts, Store

log = logging.getLogger("syndicate.pipeline")

CLAIM_BATCH = 64  # URLs claimed at a time: several workers polling at once split a cycle's feeds
# (64, not 16: each batch is a claim, a read of its state and a record, 1 ms of a 304 cycle)
POLL_LEASE_MARGIN = 300.0  # seconds a poll's claim lasts past its fetch's timeout (parse, record)
MAX_BACKOFF = 6 * 3600.0
FIRST_BACKOFF = 60.0

Status = Literal["fetched", "not-modified", "unchanged", "error"]


@valueclass
class FeedResult:
    feed: str
    status: Status
    entries: int = 0
    new: int = 0
    updated: int = 0
    queued: int = 0
    held: int = 0  # deliveries held as a suspected feed migration
    error: str | None = None
    warnings: tuple[str, ...] = ()
    next_fetch_at: float = 0.0
    back: int = 0  # articles that had left the feed (perhaps gone at source), listed again


class _RecordedDates(Mapping[str, datetime]):
    """The output feed's recorded dates (``feed_out.recorded_dates``), read on first use, then kept."""

    def __init__(self, read: Callable[[], Mapping[str, datetime]] | None) -> None:
        self._read = read
        self._dates: Mapping[str, datetime] | None = None

    def _loaded(self) -> Mapping[str, datetime]:
        if self._dates is None:
            self._dates = self._read() if self._read is not None else {}
        return self._dates

    def __getitem__(self, key: str) -> datetime:
        return self._loaded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


def _shared_state(group: Sequence[FeedConfig], states: Mapping[str, FeedState]) -> FeedState | None:
    """The state one fetch of a URL several config entries share is conditional on: theirs, when
    they all have the same validators (they were fetched together), else none (a full read)."""
    first = states.get(group[0].name)
    if first is None:
        return None
    for feed in group[1:]:
        other = states.get(feed.name)
        if other is None or (other.url, other.final_url, other.etag, other.last_modified) != \
                (first.url, first.final_url, first.etag, first.last_modified):
            return None
    return first


class Ingester:
    """Polls feeds into the store."""

    def __init__(self, config: Config, store: Store, fetcher: Fetcher, *,
                 active_targets: Sequence[str] | None = None,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None,
                 recorded_dates: Callable[[], Mapping[str, datetime]] | None = None,
                 owner: str | None = None) -> None:
        """``recorded_dates``: the dates the output feed already published, by article id
        or link (``feed_out.recorded_dates``); an article new to the store that its
        source gives no date takes its date from there (the state was lost).  ``owner``: who
        claims the polls (the worker's lease owner)."""
        self.config = config
        self.owner = owner or f"ingester:{id(self):x}"
        self.store = store
        self.fetcher = fetcher
        self.active_targets = list(config.targets) if active_targets is None else list(active_targets)
        self.clock = clock
        self.rng = rng or random.Random()
        self._recorded_dates = _RecordedDates(recorded_dates)  # read once, and only when needed

    # -- scheduling --

    def due(self, now: float) -> list[FeedConfig]:
        """Feeds whose next fetch time has come (or that were never fetched)."""
        states = self.store.feed_state_map()
        out = []
        for feed in self.config.feeds:
            state = states.get(feed.name)
            if state is None or state.next_fetch_at is None or state.next_fetch_at <= now \
                    or state.url != feed.url:
                out.append(feed)
        return out

    def next_due_at(self) -> float | None:
        states = self.store.feed_state_map()
        times = []
        for feed in self.config.feeds:
            state = states.get(feed.name)
            times.append(state.next_fetch_at if state and state.next_fetch_at else 0.0)
        return min(times) if times else None

    def _next_ok(self, feed: FeedConfig, now: float) -> float:
        interval = float(self.config.poll_interval_for(feed))
        return now + interval * self.rng.uniform(0.9, 1.1)

    def _next_error(self, errors: int, now: float, retry_after: float | None) -> float:
        delay = min(MAX_BACKOFF, FIRST_BACKOFF * 2.0 ** max(0, errors - 1))
        delay *= self.rng.uniform(0.9, 1.1)
        if retry_after is not None:  # the server's wish, but no bogus one silences the feed for longer
            delay = max(delay, min(retry_after, MAX_BACKOFF))
        return now + delay

    # -- polling --

    def poll_many(self, feeds: Sequence[FeedConfig], *, workers: int | None = None,
                  due_only: bool = False) -> list[FeedResult]:
        """Claim, fetch, then ingest each feed in turn (see the module docstring).

        Feeds are claimed ``CLAIM_BATCH`` URLs at a time (``Store.claim_feeds``),
        so several workers polling at once split them, and each is fetched by
        one worker; config entries with the same URL are fetched once.  A feed
        another worker polls is left out of the results.  ``due_only``: only
        the feeds still due once claimed (another worker may have polled them
        since they were found due).  Per batch, the feeds' state is read
        once, by the claim, and the bookkeeping of every feed that answered
        304 or sent the bytes read last time is written in one transaction, so
        an unchanged feed costs one request and almost nothing else.
        """
        if workers is None:  # ``fetch_concurrency`` in the config
            workers = self.config.fetch_concurrency
        groups: dict[str, list[FeedConfig]] = {}
        for feed in feeds:
            groups.setdefault(feed.url, []).append(feed)
        urls = list(groups)
        results: list[FeedResult] = []
        for start in range(0, len(urls), CLAIM_BATCH):
            batch = [feed for url in urls[start:start + CLAIM_BATCH] for feed in groups[url]]
            # the batch's fetches go ``workers`` at a time: its claim covers every round's timeout
            rounds = -(-len(batch) // max(1, workers))
            lease = max(feed.timeout for feed in batch) * rounds + POLL_LEASE_MARGIN
            states = self.store.claim_feed_states(self.owner, [(f.name, f.url) for f in batch],
                                                  now=self.clock(), lease_seconds=lease, due_only=due_only)
            mine = [feed for feed in batch if feed.name in states]
            if not mine:
                continue
            done: list[str] = []
            try:
                results += self._poll_claimed(mine, states, workers, done)
            finally:
                self.store.release_feeds(self.owner, [f.name for f in mine if f.name not in done])
        return results

    def _poll_claimed(self, feeds: Sequence[FeedConfig], states: Mapping[str, FeedState], workers: int,
                      done: list[str]) -> list[FeedResult]:
        """Fetch the claimed feeds concurrently, each URL once, and record each (``states``: theirs,
        read by the claim; ``done``: the names recorded, whose claims their records ended)."""
        by_url: dict[str, list[FeedConfig]] = {}
        for feed in feeds:
            by_url.setdefault(feed.url, []).append(feed)

        def fetch(group: list[FeedConfig]) -> FetchResult | FeedError:
            return self._fetch_safely(group[0], _shared_state(group, states))

        groups = list(by_url.values())
        if len(groups) <= 1 or workers <= 1:
            fetched = [fetch(group) for group in groups]
        else:
            from concurrent.futures import ThreadPoolExecutor  # (one URL needs no pool)

            with ThreadPoolExecutor(min(workers, len(groups)), thread_name_prefix="fetch") as pool:
                fetched = list(pool.map(fetch, groups))
        now = self.clock()
        results: list[FeedResult] = []
        answers: list[NotModified] = []  # the 304s
        same: list[FeedRecord] = []  # the bytes read last time
        lost: list[str] = []  # claimed by another worker since ours ran out: not recorded
        for group, res in zip(groups, fetched, strict=True):
            for feed in group:
                state = states.get(feed.name)
                if isinstance(res, FetchResult) and res.not_modified:
                    answer = not_modified(feed, res, next_fetch_at=self._next_ok(feed, now))
                    answers.append(answer)
                    results.append(FeedResult(feed.name, "not-modified", next_fetch_at=answer.next_fetch_at))
                elif isinstance(res, FetchResult) and same_body(state, res):
                    record = plan_unchanged(feed, state, res, next_fetch_at=self._next_ok(feed, now)).record
                    same.append(record)
                    results.append(FeedResult(feed.name, "unchanged", next_fetch_at=record.next_fetch_at))
                else:
                    result = self._ingest_safely(feed, state, res)
                    if result is None:
                        lost.append(feed.name)
                    else:
                        results.append(result)
                    done.append(feed.name)
        # one transaction for all: it ends their claims
        lost += self.store.record_polls(answers, same, owner=self.owner)
        done += [answer.feed for answer in answers] + [record.name for record in same]
        if lost:  # another worker polls them now: left out, as a feed it had claimed first is
            log.warning("polls not recorded: their claims ran out and another worker has claimed "
                        "the feeds since", extra={"feeds": lost, "worker": self.owner})
            results = [r for r in results if r.feed not in lost]
        return results

    def poll(self, feed: FeedConfig) -> FeedResult:
        """Fetch, parse and record one feed. Never raises a ``FeedError``; a ``LookupError`` if it
        was not polled (another worker holds its claim, or claimed it since this poll's ran out)."""
        results = self.poll_many([feed])
        if not results:
            raise LookupError(f"feed {feed.name}: not polled: another worker holds its claim")
        return results[0]

    def _fetch_safely(self, feed: FeedConfig, state: FeedState | None) -> FetchResult | FeedError:
        try:
            return self._fetch(feed, state)
        except FeedError as exc:
            return exc

    def _fetch(self, feed: FeedConfig, state: FeedState | None) -> FetchResult:
        same_url = state is not None and state.url == feed.url
        url = (state.final_url or feed.url) if same_url and state else feed.url
        return self.fetcher.fetch_feed(
            feed.name, url,
            etag=state.etag if same_url and state else None,
            last_modified=state.last_modified if same_url and state else None,
            timeout=feed.timeout, max_bytes=feed.max_bytes,
        )

    def _ingest_safely(self, feed: FeedConfig, state: FeedState | None,
                       fetched: FetchResult | FeedError) -> FeedResult | None:
        """Parse, plan and apply one fetched feed; a failure is recorded with a backoff.  None:
        nothing recorded, another worker has claimed the feed since this poll's claim ran out."""
        try:
            return self._ingest_or_fail(feed, state, fetched)
        except ClaimLost:
            return None

    def _ingest_or_fail(self, feed: FeedConfig, state: FeedState | None,
                        fetched: FetchResult | FeedError) -> FeedResult:
        now = self.clock()
        owner: str | None = self.owner  # the claim's, until the read's own transaction ends it
        try:
            if isinstance(fetched, FeedError):
                raise fetched
            parsed, counts, next_at = self._read(feed, state, fetched, now)
            # recorded: the claim ended with the read, and nobody claims the feed before its next
            # poll; a step after it that fails is still this feed's error, recorded as before
            owner = None
            return self._after_read(feed, parsed, counts, next_at)
        except ClaimLost:
            raise  # not the feed's failure: the record was refused
        except FeedError as exc:
            retry_after = exc.retry_after if isinstance(exc, FeedRateLimited) else None
            return self._failed(feed, state, now, exc.reason, retry_after, owner=owner)
        except Exception as exc:  # a bug met on odd input: say so, keep the other feeds going
            log.exception("feed crashed", extra={"feed": feed.name})
            return self._failed(feed, state, now, f"internal error: {type(exc).__name__}: {exc}", None,
                                owner=owner)

    def _failed(self, feed: FeedConfig, state: FeedState | None, now: float, reason: str,
                retry_after: float | None, *, owner: str | None) -> FeedResult:
        """Record a failed poll (``owner``: the claim it must still hold; None once the read's
        transaction has ended it)."""
        errors = (state.error_count if state else 0) + 1
        next_at = self._next_error(errors, now, retry_after)
        self.store.record_fetch_error(feed.name, feed.url, reason, next_at, owner=owner)
        log.warning("feed failed", extra={"feed": feed.name, "error": reason,
                                          "errors": errors, "retry_in": round(next_at - now)})
        return FeedResult(feed.name, "error", error=f"feed {feed.name}: {reason}", next_fetch_at=next_at)

    def _read(self, feed: FeedConfig, state: FeedState | None, fetched: FetchResult,
              now: float) -> tuple[ParsedFeed, IngestCounts, float]:
        """Parse, plan and apply a fetched body: the read recorded, in one transaction."""
        next_at = self._next_ok(feed, now)
        from syndicate.copies import merge_copies
        from syndicate.parse import parse_feed

        stop_at = self._known_unchanged(feed) if state is not None and state.seeded else None
        parsed = parse_feed(feed.name, fetched.content or b"", base_url=fetched.url, headers=fetched.headers,
                            stop_at=stop_at)
        for warning in parsed.warnings:
            log.warning("feed warning", extra={"feed": feed.name, "warning": warning})
        targets = [t for t in self.config.feed_targets(feed) if t in self.active_targets]
        plan = plan_feed(feed, state, fetched, parsed, self._known(feed.name, parsed), now=now,
                         next_fetch_at=next_at, targets=targets, recorded_dates=self._recorded_dates,
                         filters={t: self.config.filters_for(feed, t) for t in targets},
                         edits={t: getattr(self.config.targets[t], "edits", "ignore") for t in targets})
        plan = merge_copies(feed, plan, self.store)  # a copy of an article we hold: no posts of its own
        counts = self.store.apply(plan, owner=self.owner)  # ClaimLost: nothing of it written
        _log_read(plan, parsed, counts)
        return parsed, counts, next_at

    def _after_read(self, feed: FeedConfig, parsed: ParsedFeed, counts: IngestCounts,
                    next_at: float) -> FeedResult:
        """What follows a recorded read: the feed's listing noted (``unpublish``), its result."""
        listing = self.store.note_listing(  # who left the feed, who came back (``unpublish``)
            feed.name, [(e.id, e.link) for e in parsed.entries],
            first_check_at=lambda _id: first_check_at(self.clock(), self.rng))
        log_listing(feed.name, listing)
        return FeedResult(feed.name, "fetched", entries=len(parsed.entries), new=counts.new,
                          updated=counts.updated, queued=counts.queued, held=counts.held,
                          warnings=parsed.warnings, next_fetch_at=next_at, back=len(listing.back))

    def _known_unchanged(self, feed: FeedConfig) -> Callable[[Sequence[Entry]], list[bool]]:
        """``parse_feed``'s ``stop_at``: which of these entries ``plan_feed`` would skip as known
        (its own, unchanged; or another feed's), in one query."""
        def known_unchanged(entries: Sequence[Entry]) -> list[bool]:
            by_guid = self.store.known(feed.name, [(e.id, e.link) for e in entries])
            return [(seen := by_guid.get(e.id)) is not None
                    and (seen.feed != feed.name or seen.fingerprint == e.fingerprint) for e in entries]
        return known_unchanged

    def _known(self, feed: str, parsed: ParsedFeed) -> KnownEntries:
        """What the store knows of the entries: what ``plan_feed`` decides with."""
        by_guid = self.store.known(feed, [(e.id, e.link) for e in parsed.entries])
        edits = stored_for_edits(feed, parsed.entries, by_guid)
        return KnownEntries(by_guid, newest_published=self.store.newest_published(feed),
                            stored=self.store.articles_by_id(edits) if edits else {})


def _log_read(plan: FeedPlan, parsed: ParsedFeed, counts: IngestCounts) -> None:
    """The log lines of one read, from what was planned and recorded."""
    feed = plan.feed
    for edit in plan.edited:
        log.info("article updated", extra={"feed": feed, "article": edit.article.link})
    for intent in plan.new:
        for target, why in intent.filtered:
            log.info("article filtered", extra={"feed": feed, "article": intent.article.link,
                                                "target": target, "reason": why})
    held = plan.held
    if held:
        newest = datetime.fromtimestamp(plan.newest_known or 0.0, UTC).date().isoformat()
        log.warning("suspected feed migration: new entries held, not posted",
                    extra={"feed": feed, "held": len(held), "newest_known": newest,
                           "release": f"syndicate release {feed}"})
    if plan.first_read and len(plan.new) > plan.backfill:
        log.info("feed seeded: existing entries recorded as seen, not posted",
                 extra={"feed": feed, "seen": len(plan.new) - plan.backfill, "backfill": plan.backfill})
    if counts.new or counts.updated:
        log.info("feed read", extra={"feed": feed, "entries": len(parsed.entries), "new": counts.new,
                                     "updated": counts.updated, "queued": counts.queued})
