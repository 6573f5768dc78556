"""A poll whose claim ran out records nothing once another worker has claimed the feed: on both
backends, two workers on one state, one clock the test moves.

A claim lasts the batch's fetch timeouts plus ``POLL_LEASE_MARGIN``; past that, another worker
may claim the feed and poll it.  The late poll's record (``Store.apply``, ``record_polls``,
``record_fetch_error``) then must neither overwrite the newer state the other worker recorded
nor end that worker's live claim: every write after a claim applies only where this worker's
claim still stands (``lease_owner``).  The late poll says so once, in one warning, and leaves
the feed out of its results (as it leaves out a feed another worker polls).  A claim that ran
out with nobody else claiming the feed is still this worker's: its late record is kept.

The feeds are served over loopback HTTP (``tests.servers.feeds``).
"""

from __future__ import annotations

import logging
import threading

import pytest

from syndicate.app import App
from syndicate.errors import ClaimLost
from syndicate.intent import FeedRecord, NotModified
from syndicate.store import Store
from tests.fakes import HeldFetcher, ScriptedTarget, make_config
from tests.helpers import rss
from tests.servers.feeds import Fault

WAIT = 30.0  # seconds a step may take at most: bounds a failure, never paces the test
PAST_THE_LEASE = 10_000.0  # seconds: past any claim of one 30 s fetch (+ the 300 s margin)
URL = "https://acr.example/feed/"


class Clock:
    def __init__(self, now: float = 1_760_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now



def worker(tmp_path, state, feeds, clock, owner, fetcher=None) -> App:
    cfg = make_config(tmp_path, feeds, state=state, poll_interval="15m")
    return App(cfg, fetcher=fetcher, clock=clock, owner=owner, targets={"t": ScriptedTarget(name="t")})


def lease(store: Store, name: str = "acr") -> tuple[str | None, float | None]:
    row = store.backend.query("SELECT lease_owner, leased_until FROM feeds WHERE name = ?", (name,))[0]
    return row["lease_owner"], row["leased_until"]


class LatePoll:
    """Worker A's poll of every feed, in a thread, held before its fetch until ``finish``."""

    def __init__(self, app: App) -> None:
        assert isinstance(app.fetcher, HeldFetcher)
        self.app, self.held = app, app.fetcher
        self.results: list = []
        self.thread = threading.Thread(target=lambda: self.results.extend(
            app.ingester.poll_many(app.config.feeds)))
        self.thread.start()
        assert self.held.fetching.wait(WAIT)  # claimed, about to fetch

    def finish(self) -> list:
        self.held.go.set()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        return self.results


def lost_warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "syndicate.pipeline" and "claim" in r.getMessage()]


@pytest.mark.parametrize("late_read", ["read", "failed"])
def test_a_late_poll_leaves_the_record_of_the_worker_that_polled_after_it(
        tmp_path, state_db, feed_server, caplog, late_read):
    feed_server.set_feed("/feed", rss([1, 2]))
    feeds = {"acr": feed_server.url("/feed")}
    clock = Clock()
    a = worker(tmp_path, state_db, feeds, clock, "worker-a", HeldFetcher())
    b = worker(tmp_path, state_db, feeds, clock, "worker-b")
    late = LatePoll(a)
    clock.now += PAST_THE_LEASE  # A's claim has run out: B may claim the feed
    assert [(r.feed, r.status) for r in b.ingester.poll_many(b.config.feeds)] == [("acr", "fetched")]
    recorded = b.store.feed_state("acr")
    articles = b.store.count_articles()
    assert recorded.seeded and recorded.last_fetch_at == clock.now and lease(b.store) == (None, None)

    clock.now += 60
    if late_read == "failed":
        feed_server.queue_faults("/feed", Fault(status=500))
    caplog.set_level(logging.WARNING, logger="syndicate.pipeline")
    assert late.finish() == []  # left out of A's results: B polled it
    assert len(feed_server.requests_for("/feed")) == 2
    assert a.store.feed_state("acr") == recorded  # B's record stands
    assert lease(a.store) == (None, None)
    assert a.store.count_articles() == articles
    [warning] = lost_warnings(caplog)  # said once, clearly
    assert "acr" in warning.getMessage() + str(getattr(warning, "feeds", ""))
    a.close()
    b.close()


def test_a_late_poll_does_not_end_the_live_claim_of_the_worker_that_claimed_after_it(
        tmp_path, state_db, feed_server, caplog):
    feed_server.set_feed("/feed", rss([1, 2]), etag=None, last_modified=None)
    feeds = {"acr": feed_server.url("/feed")}
    clock = Clock()
    a = worker(tmp_path, state_db, feeds, clock, "worker-a", HeldFetcher())
    b = worker(tmp_path, state_db, feeds, clock, "worker-b")
    late = LatePoll(a)
    clock.now += PAST_THE_LEASE
    before = b.store.feed_state("acr")
    assert list(b.store.claim_feed_states("worker-b", [("acr", feeds["acr"])], now=clock.now,
                                          lease_seconds=600)) == ["acr"]  # B's poll is under way
    b_lease = lease(b.store)
    assert b_lease == ("worker-b", clock.now + 600)

    clock.now += 60
    caplog.set_level(logging.WARNING, logger="syndicate.pipeline")
    assert late.finish() == []
    assert lease(a.store) == b_lease  # still B's
    assert a.store.feed_state("acr") == before  # A recorded nothing: not its read, not its articles
    assert a.store.count_articles() == 0
    assert len(lost_warnings(caplog)) == 1
    a.close()
    b.close()


def test_a_late_record_applies_only_where_the_claim_is_still_this_workers(state_db):
    clock = Clock(1000.0)
    a, b = Store(state_db, clock=clock), Store(state_db, clock=clock)  # two workers, one state
    wanted = [("acr", URL), ("rss", "https://rss.example/feed/")]
    assert sorted(a.claim_feed_states("A", wanted, now=1000.0, lease_seconds=60)) == ["acr", "rss"]
    clock.now = 1100.0  # A's claims ran out; B claims one of the feeds
    assert list(b.claim_feed_states("B", wanted[:1], now=1100.0, lease_seconds=60)) == ["acr"]

    def read(name: str, url: str, body_hash: str, next_at: float) -> FeedRecord:
        return FeedRecord(name=name, url=url, final_url=None, etag=None, last_modified=None,
                          body_hash=body_hash, next_fetch_at=next_at, seeded=True)

    clock.now = 1110.0
    # A's late record: not acr's (B holds its claim), but rss's (ran out, and nobody took it)
    assert a.record_polls([NotModified("acr", 9000.0, '"a"', None, None)],
                          [read("rss", wanted[1][1], "h-a", 9100.0)], owner="A") == ["acr"]
    assert lease(b, "acr") == ("B", 1160.0)
    assert b.feed_state("acr").last_fetch_at is None and b.feed_state("acr").etag is None
    assert (b.feed_state("rss").body_hash, lease(b, "rss")) == ("h-a", (None, None))

    clock.now = 1120.0
    assert b.record_polls([], [read("acr", URL, "h-b", 2000.0)], owner="B") == []
    recorded = b.feed_state("acr")
    assert (recorded.body_hash, recorded.next_fetch_at, lease(b, "acr")) == ("h-b", 2000.0, (None, None))

    clock.now = 1130.0  # A is later still: B's record stands, whichever A's record is
    assert a.record_polls([], [read("acr", URL, "h-a", 9000.0)], owner="A") == ["acr"]
    with pytest.raises(ClaimLost):
        a.record_fetch_error("acr", URL, "HTTP 500", 9000.0, owner="A")
    assert a.feed_state("acr") == recorded
    a.close()
    b.close()


class ListingFails(Store):
    """A store whose note of a feed's listing (the step after a read is recorded) fails."""

    def note_listing(self, *args, **kwargs):
        raise RuntimeError("listing broke")


def test_a_failure_after_the_read_is_recorded_is_the_feeds_error_not_a_lost_claim(
        tmp_path, state_db, feed_server, caplog):
    # The read's transaction (``apply``) ends the claim; a step after it that fails is the
    # feed's failure as before: recorded, backed off, an "error" result (``run --once`` exits 1).
    feed_server.set_feed("/feed", rss([1, 2]))
    clock = Clock()
    cfg = make_config(tmp_path, {"acr": feed_server.url("/feed")}, state=state_db, poll_interval="15m")
    app = App(cfg, store=ListingFails(state_db, clock=clock), clock=clock, owner="worker-a",
              targets={"t": ScriptedTarget(name="t")})
    caplog.set_level(logging.WARNING, logger="syndicate.pipeline")
    [result] = app.ingester.poll_many(app.config.feeds)
    assert (result.feed, result.status) == ("acr", "error")
    assert "listing broke" in (result.error or "")
    state = app.store.feed_state("acr")
    assert state.error_count == 1 and state.seeded and "listing broke" in (state.last_error or "")
    assert lease(app.store) == (None, None)
    assert app.store.count_articles() == 2  # the read stands
    assert lost_warnings(caplog) == []
    app.close()
