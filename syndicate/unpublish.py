"""Unpublishing: an article that left its feed and whose page answers 404 or 410 is gone at source.

Two signals, both needed, and never one answer alone:

1. **It left the feed.**  After each parsed read of a feed, a stored article
   of it no longer listed, though newer than the oldest article the feed
   still lists (taken out of the middle, not aged off the end), is
   *missing* (``Store.note_listing``).  A missing article listed again is
   back: no longer missing, nor gone.
2. **Its page is not there.**  A missing article's page is checked, through
   the ``Fetcher``'s content pool (its ``AddressPolicy``: no SSRF; its size
   cap and deadline), on a schedule, never every cycle: the first check
   ``FIRST_CHECK`` after it left, then every ``NOT_FOUND_EVERY`` while it
   answers 404/410, every ``PAGE_OK_EVERY`` while the page answers, for
   ``WATCH_FOR`` after it left; each time spread by ±``JITTER``, and at most
   ``PER_CYCLE`` checks a cycle (``Store.claim_checks``: two workers never
   make the same one).  It is **gone at source** when ``MIN_NOT_FOUND``
   answers in a row were 404 or 410, the first and the last at least
   ``GONE_AFTER`` apart.  A network error, a timeout, a 5xx, a 429 or any
   other answer counts for nothing: it neither adds to the run nor breaks it.
   A 2xx page (after redirects) ends the run, and an article gone comes back.

What then happens is each target's ``unpublished:`` policy: ``keep`` (the
default: the post stays; editors see "gone at source" in ``status`` and on
the page, and one log line says so) or ``delete`` (``Store.request_delete``
for the targets it was posted to, ``requested_by="unpublished at source"``).
A gone article leaves the mirror feeds, and the Atom feed carries a
tombstone for it for ``TOMBSTONE_DAYS`` (``feed_out.changes``).  A gone
article's page is still looked at every ``PAGE_OK_EVERY`` for that long, so
one that comes back is no longer gone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from syndicate.errors import FetchError
from syndicate.lazylog import getLogger
from syndicate.value import valueclass

if TYPE_CHECKING:  # annotations only: ``status`` reads gone_notes without loading the fetcher (or random)
    import random

    from syndicate.config import Config
    from syndicate.fetch import Fetcher
    from syndicate.store import Store
    from syndicate.store.unpublished import ListingChange, PageCheck

__all__ = ["FIRST_CHECK", "GONE_AFTER", "MIN_NOT_FOUND", "NOT_FOUND_EVERY", "PER_CYCLE", "REQUESTED_BY",
           "TOMBSTONE_DAYS", "Answer", "CheckResult", "Unpublisher", "Verdict", "first_check_at",
           "gone_notes", "judge", "log_listing"]

log = getLogger("syndicate.unpublish")

FIRST_CHECK = 15 * 60.0  # seconds after it left the feed
NOT_FOUND_EVERY = 20 * 60.0  # while its page answers 404/410
PAGE_OK_EVERY = 6 * 3600.0  # while its page answers (or after it was found gone)
OTHER_EVERY = 30 * 60.0  # after an answer that says nothing (5xx, network error)
GONE_AFTER = 3600.0  # the first and the last 404/410 of a run at least this far apart
MIN_NOT_FOUND = 3  # answers in the run, at least
WATCH_FOR = 7 * 86400.0  # a missing article is checked this long after it left
TOMBSTONE_DAYS = 30  # a gone article is tombstoned in the Atom feed (and looked at) this long
JITTER = 0.1  # each delay spread by ±10%
PER_CYCLE = 10  # checks at most per cycle
PAGE_MAX_BYTES = 2_000_000
PAGE_TIMEOUT = 15.0
REQUESTED_BY = "unpublished at source"
NOT_FOUND = frozenset({404, 410})

Kind = Literal["page", "not-found", "no-answer"]


@valueclass
class Answer:
    """What one check of a page said: the page is there, it is not (404/410), or nothing."""

    kind: Kind
    detail: str  # "HTTP 200", "HTTP 404 Not Found from …", "timed out …"


@valueclass
class Verdict:
    """What ``judge`` makes of an answer: the run of 404/410 now, when to look next, gone or not."""

    not_found: int
    not_found_since: float | None
    next_check_at: float | None  # None: no more checks
    gone: bool | None  # True: gone at source; False: not (any more); None: as it was


@valueclass
class CheckResult:
    article_id: int
    link: str
    answer: Answer
    verdict: Verdict
    newly_gone: bool
    deletes: tuple[str, ...] = ()  # targets asked to delete its post
    back: bool = False  # it was gone, and its page answers again

    @property
    def changed(self) -> bool:
        """Gone, or back: the mirror feeds change."""
        return self.newly_gone or self.back


def _spread(delay: float, rng: random.Random) -> float:
    return delay * rng.uniform(1.0 - JITTER, 1.0 + JITTER)


def first_check_at(now: float, rng: random.Random) -> float:
    """When a page that just left its feed is first checked."""
    return now + _spread(FIRST_CHECK, rng)


def judge(check: PageCheck, answer: Answer, now: float, rng: random.Random) -> Verdict:
    """The rules of the module docstring, pure: one answer on top of the run so far."""
    tombstone_end = (check.gone_at or now) + TOMBSTONE_DAYS * 86400.0
    if answer.kind == "not-found":
        count = check.not_found + 1
        since = check.not_found_since if check.not_found_since is not None else now
        gone = count >= MIN_NOT_FOUND and now - since >= GONE_AFTER
        if gone or check.gone_at is not None:
            nxt = now + _spread(PAGE_OK_EVERY, rng)
            return Verdict(count, since, nxt if nxt < tombstone_end else None, True)
        return Verdict(count, since, now + _spread(NOT_FOUND_EVERY, rng), None)
    if answer.kind == "page":
        nxt = now + _spread(PAGE_OK_EVERY, rng)
        return Verdict(0, None, nxt if nxt < check.missing_since + WATCH_FOR else None, False)
    # an answer that says nothing: the run goes on, neither longer nor broken
    nxt = now + _spread(OTHER_EVERY if check.gone_at is None else PAGE_OK_EVERY, rng)
    watching = check.not_found > 0 or nxt < check.missing_since + WATCH_FOR
    if check.gone_at is not None:
        watching = nxt < tombstone_end
    return Verdict(check.not_found, check.not_found_since, nxt if watching else None, None)


def _minute(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def gone_notes(config: Config, store: Store, article_ids: Sequence[int]) -> dict[int, str]:
    """Article id → what editors are told of one gone at source: since when, and per target what
    its ``unpublished:`` policy did (for ``status``, the page and the previews)."""
    out = {}
    for article_id, gone_at in store.gone(article_ids).items():
        posted = sorted({d.target for d in store.deliveries(article_id) if d.state == "sent"})
        wanted = store.deletes_requested(article_id)
        what = "; ".join(f"post deleted on {t} (unpublished: delete)" if t in wanted
                         else f"post kept on {t} (unpublished: keep)" for t in posted) or "never posted"
        out[article_id] = (f"gone at source since {_minute(gone_at)}: left its feed and its page answers "
                           f"404/410; {what}")
    return out


def log_listing(feed: str, change: ListingChange) -> None:
    """The log lines of a listing: who left the feed, who came back."""
    if change.missing:
        log.info("articles left the feed: their pages will be checked",
                 extra={"feed": feed, "articles": ",".join(map(str, change.missing))})
    if change.back:
        log.info("articles back in the feed",
                 extra={"feed": feed, "articles": ",".join(map(str, change.back))})


class Unpublisher:
    """Makes the page checks due, a few per cycle, and applies each target's policy."""

    def __init__(self, config: Config, store: Store, fetcher: Fetcher, *,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None,
                 per_cycle: int = PER_CYCLE) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.clock = clock
        if rng is None:
            import random  # (here: status and the previews read gone_notes, and draw nothing)

            rng = random.Random()
        self.rng = rng
        self.per_cycle = per_cycle

    def ask(self, link: str) -> Answer:
        """One GET of the page: its answer, never an exception."""
        try:
            self.fetcher.get_bytes(link, max_bytes=PAGE_MAX_BYTES, timeout=PAGE_TIMEOUT, accept="text/html",
                                   label=f"page {link}")
        except FetchError as exc:
            kind: Kind = "not-found" if exc.status in NOT_FOUND else "no-answer"
            return Answer(kind, exc.reason)
        except Exception as exc:  # an unexpected failure says nothing of the page
            return Answer("no-answer", f"{type(exc).__name__}: {exc}")
        return Answer("page", "HTTP 2xx")

    def check_due(self) -> list[CheckResult]:
        """The checks due now, at most ``per_cycle``; each recorded, the newly gone acted on."""
        results = []
        for check in self.store.claim_checks(self.per_cycle):
            answer = self.ask(check.link)
            verdict = judge(check, answer, self.clock(), self.rng)
            newly = self.store.record_check(check.article_id, result=answer.detail,
                                            not_found=verdict.not_found,
                                            not_found_since=verdict.not_found_since,
                                            next_check_at=verdict.next_check_at, gone=verdict.gone)
            deletes: tuple[str, ...] = ()
            back = verdict.gone is False and check.gone_at is not None
            if newly:
                deletes = self._gone(check)
            elif back:
                log.info("article back at source", extra={"feed": check.feed, "article": check.link})
            results.append(CheckResult(check.article_id, check.link, answer, verdict, newly, deletes, back))
        return results

    def policies(self, targets: Sequence[str]) -> dict[str, str]:
        """Target → its ``unpublished:`` policy (a target no longer configured: keep)."""
        cfg = self.config.targets
        return {t: (cfg[t].unpublished if t in cfg else "keep") for t in targets}

    def _gone(self, check: PageCheck) -> tuple[str, ...]:
        deliveries = self.store.deliveries(check.article_id)
        posted = sorted({d.target for d in deliveries if d.state == "sent"})
        # under ``delete``, a post not sent yet is withdrawn too (``request_delete``): never posted now
        unsent = {d.target for d in deliveries if d.state in ("pending", "sending")}
        policies = self.policies(sorted(set(posted) | unsent))
        delete = [t for t in sorted(set(posted) | unsent) if policies[t] == "delete"]
        if delete:
            self.store.request_delete(check.article_id, delete, requested_by=REQUESTED_BY)
        log.warning("article gone at source", extra={
            "feed": check.feed, "article": check.link, "article_id": check.article_id,
            "kept": ",".join(t for t in posted if t not in delete) or "-",
            "deleted": ",".join(delete) or "-"})
        return tuple(delete)
