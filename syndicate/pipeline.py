"""Ingestion: one feed from fetch to the outbox, as named phases.

``poll(feed)``:  fetch (conditional GET) → skip if 304 or the same bytes →
parse → look the entries up in the store (by guid, or by the link's
identity: ``syndicate.links``) → normalise only the new and the edited
ones → record them and enqueue one outbox row per target, in one
transaction.

Two guards against posting what is not news: a feed's first read queues
only its ``backfill`` newest; and a later poll that would queue more than
``hold_suspected_migration`` entries, none of them newer than the newest
article already known, is a feed that moved (new domain, permalinks or
guids): its deliveries are *held* (recorded, not queued, one warning
naming the feed) until an editor runs ``syndicate release FEED``.

The result is a value (``FeedResult``); an expected failure (``FeedError``)
is recorded on the feed with a backoff and returned, never raised, so one
broken feed never stops the others.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from syndicate.config import Config, FeedConfig
from syndicate.errors import FeedError, FeedRateLimited
from syndicate.fetch import Fetcher, FetchResult
from syndicate.links import link_identity
from syndicate.models import Article
from syndicate.parse import normalise, parse_feed
from syndicate.store import FeedState, Store, undated

log = logging.getLogger("syndicate.pipeline")

MAX_BACKOFF = 6 * 3600.0
FIRST_BACKOFF = 60.0

Status = Literal["fetched", "not-modified", "unchanged", "error"]


@dataclass(frozen=True, slots=True)
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


class Ingester:
    """Polls feeds into the store."""

    def __init__(self, config: Config, store: Store, fetcher: Fetcher, *,
                 active_targets: Sequence[str] | None = None,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None,
                 recorded_dates: Callable[[], Mapping[str, datetime]] | None = None) -> None:
        """``recorded_dates``: the dates the output feed already published, by article id
        or link (``feed_out.recorded_dates``); an article new to the store that its
        source gives no date takes its date from there (the state was lost)."""
        self.config = config
        self.recorded_dates = recorded_dates
        self.store = store
        self.fetcher = fetcher
        self.active_targets = list(config.targets) if active_targets is None else list(active_targets)
        self.clock = clock
        self.rng = rng or random.Random()
        self._dates: Mapping[str, datetime] | None = None

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
        interval = self.config.poll_interval_for(feed)
        return now + interval * self.rng.uniform(0.9, 1.1)

    def _next_error(self, errors: int, now: float, retry_after: float | None) -> float:
        delay = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** max(0, errors - 1))
        delay *= self.rng.uniform(0.9, 1.1)
        if retry_after is not None:  # the server's wish, but no bogus one silences the feed for longer
            delay = max(delay, min(retry_after, MAX_BACKOFF))
        return now + delay

    # -- polling --

    def poll_many(self, feeds: Sequence[FeedConfig], *, workers: int = 4) -> list[FeedResult]:
        """Fetch the feeds concurrently, then ingest each in turn.

        The feeds' state is read once; the bookkeeping of every feed that
        answered 304 is written in one transaction, so an unchanged feed
        costs one conditional request and almost nothing else.
        """
        states = self.store.feed_state_map()
        if len(feeds) <= 1 or workers <= 1:
            fetched = [self._fetch_safely(feed, states.get(feed.name)) for feed in feeds]
        else:
            with ThreadPoolExecutor(max_workers=min(workers, len(feeds)),
                                    thread_name_prefix="fetch") as pool:
                fetched = list(pool.map(lambda f: self._fetch_safely(f, states.get(f.name)), feeds))
        now = self.clock()
        results: list[FeedResult] = []
        unchanged: list[tuple[str, float, str | None, str | None, str | None]] = []
        for feed, res in zip(feeds, fetched, strict=True):
            if isinstance(res, FetchResult) and res.not_modified:
                next_at = self._next_ok(feed, now)
                unchanged.append((feed.name, next_at, res.etag, res.last_modified, res.permanent_redirect))
                results.append(FeedResult(feed.name, "not-modified", next_fetch_at=next_at))
            else:
                results.append(self.poll(feed, prefetched=res))
        self.store.record_not_modified(unchanged)
        return results

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

    def poll(self, feed: FeedConfig, *, prefetched: FetchResult | FeedError | None = None) -> FeedResult:
        """Fetch, parse and record one feed. Never raises a ``FeedError``."""
        now = self.clock()
        try:
            if isinstance(prefetched, FeedError):
                raise prefetched
            result = prefetched or self._fetch(feed, self.store.feed_state(feed.name))
            return self._ingest(feed, result, now)
        except FeedError as exc:
            retry_after = exc.retry_after if isinstance(exc, FeedRateLimited) else None
            return self._failed(feed, now, exc.reason, retry_after)
        except Exception as exc:  # a bug met on odd input: say so, keep the other feeds going
            log.exception("feed crashed", extra={"feed": feed.name})
            return self._failed(feed, now, f"internal error: {type(exc).__name__}: {exc}", None)

    def _recorded(self, article: Article) -> Article:
        """An undated new article with the date the output feed gave it before, if any."""
        if self.recorded_dates is None or not undated(article):
            return article
        if self._dates is None:
            self._dates = self.recorded_dates()  # read once, and only when needed
        when = self._dates.get(article.id) or self._dates.get(article.link)
        return replace(article, published=when) if when else article

    def _failed(self, feed: FeedConfig, now: float, reason: str, retry_after: float | None) -> FeedResult:
        state = self.store.feed_state(feed.name)
        errors = (state.error_count if state else 0) + 1
        next_at = self._next_error(errors, now, retry_after)
        self.store.record_fetch_error(feed.name, feed.url, reason, next_at)
        log.warning("feed failed", extra={"feed": feed.name, "error": reason,
                                          "errors": errors, "retry_in": round(next_at - now)})
        return FeedResult(feed.name, "error", error=f"feed {feed.name}: {reason}", next_fetch_at=next_at)

    def _suspected_migration(self, feed: FeedConfig, to_post: Sequence[Article]) -> list[Article]:
        """``to_post`` if it looks like the feed moved rather than published (see above), else []."""
        limit = feed.hold_suspected_migration
        if not limit or len(to_post) <= limit:
            return []
        newest = self.store.newest_published(feed.name)
        if newest is None or any(a.published.timestamp() > newest for a in to_post):
            return []
        log.warning("suspected feed migration: new entries held, not posted",
                    extra={"feed": feed.name, "held": len(to_post),
                           "newest_known": datetime.fromtimestamp(newest, UTC).date().isoformat(),
                           "release": f"syndicate release {feed.name}"})
        return list(to_post)

    def _ingest(self, feed: FeedConfig, fetched: FetchResult, now: float) -> FeedResult:
        state = self.store.feed_state(feed.name)
        next_at = self._next_ok(feed, now)
        final_url = fetched.permanent_redirect or (state.final_url if state else None)
        if fetched.not_modified:
            etag = fetched.etag or (state.etag if state else None)
            last_modified = fetched.last_modified or (state.last_modified if state else None)
            self.store.record_fetch_ok(feed.name, feed.url, etag=etag, last_modified=last_modified,
                                       body_hash=state.body_hash if state else None,
                                       final_url=final_url, next_fetch_at=next_at)
            log.debug("feed not modified", extra={"feed": feed.name})
            return FeedResult(feed.name, "not-modified", next_fetch_at=next_at)

        content = fetched.content or b""
        digest = fetched.body_hash
        if state and state.seeded and state.body_hash == digest:
            self.store.record_fetch_ok(feed.name, feed.url, etag=fetched.etag,
                                       last_modified=fetched.last_modified, body_hash=digest,
                                       final_url=final_url, next_fetch_at=next_at)
            return FeedResult(feed.name, "unchanged", next_fetch_at=next_at)

        parsed = parse_feed(feed.name, content, base_url=fetched.url, headers=fetched.headers)
        for warning in parsed.warnings:
            log.warning("feed warning", extra={"feed": feed.name, "warning": warning})
        if parsed.title:
            self.store.set_meta(f"feed_title:{feed.name}", parsed.title)

        known = self.store.known(feed.name, [(e.id, e.link) for e in parsed.entries])
        now_dt = datetime.fromtimestamp(now, UTC)
        new: list[Article] = []
        updated: list[tuple[int, Article]] = []
        new_idents: set[str] = set()
        for entry in parsed.entries:
            fingerprint = entry.fingerprint
            seen = known.get(entry.id)
            if seen is not None and (seen.fingerprint == fingerprint or seen.feed != feed.name):
                continue  # unchanged, or another feed's copy of an article we already have
            if seen is None:
                ident = link_identity(entry.link)
                if ident in new_idents:
                    continue  # the same article twice in this feed (http and https, say)
                new_idents.add(ident)
            article = normalise(feed.name, entry, parsed, now=now_dt, language=feed.language)
            if seen is None:
                new.append(self._recorded(replace(article, fingerprint=fingerprint)))
            else:
                updated.append((seen.article_id, replace(article, id=seen.guid, fingerprint=fingerprint)))
                log.info("article updated", extra={"feed": feed.name, "article": article.link})

        seeded = bool(state and state.seeded)
        targets = [t for t in self.config.feed_targets(feed) if t in self.active_targets]
        to_post = new if seeded else sorted(new, key=lambda a: a.published, reverse=True)[:feed.backfill]
        held = self._suspected_migration(feed, to_post) if seeded and targets else []
        if held:
            to_post = []
        queue = {a.id: targets for a in to_post} if targets else {}
        counts = self.store.ingest(
            feed.name, new=new, updated=updated, queue=queue, held={a.id: targets for a in held},
            held_reason=f"held: suspected feed migration ({len(held)} new entries at once, none newer "
                        f"than the newest known); `syndicate release {feed.name}` posts them")
        self.store.record_fetch_ok(feed.name, feed.url, etag=fetched.etag,
                                   last_modified=fetched.last_modified, body_hash=digest,
                                   final_url=final_url, next_fetch_at=next_at, seeded=True)
        if not seeded and len(new) > len(to_post):
            log.info("feed seeded: existing entries recorded as seen, not posted",
                     extra={"feed": feed.name, "seen": len(new) - len(to_post), "backfill": len(to_post)})
        if counts.new or counts.updated:
            log.info("feed read", extra={"feed": feed.name, "entries": len(parsed.entries),
                                         "new": counts.new, "updated": counts.updated,
                                         "queued": counts.queued})
        return FeedResult(feed.name, "fetched", entries=len(parsed.entries), new=counts.new,
                          updated=counts.updated, queued=counts.queued, held=counts.held,
                          warnings=parsed.warnings, next_fetch_at=next_at)
