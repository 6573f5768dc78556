"""Feed polls are claimed (issue 14, item 2), on both backends: of several workers on one state,
one fetches each due feed per interval, and config entries with the same URL cost one fetch.

Each worker is an ``App`` of its own on the same state; the feeds are served over loopback HTTP
(``tests.servers.feeds``), which counts the requests.
"""

from __future__ import annotations

import threading

import pytest

from syndicate.app import App
from syndicate.errors import StoreError
from tests.fakes import HeldFetcher, ScriptedTarget, make_config
from tests.helpers import rss

WAIT = 30.0  # seconds a step may take at most: bounds a failure, never paces the test



def worker(tmp_path, state, feeds, fetcher=None) -> App:
    cfg = make_config(tmp_path, feeds, state=state, poll_interval="15m")
    return App(cfg, fetcher=fetcher, targets={"t": ScriptedTarget(name="t")})


def test_a_due_feed_is_fetched_by_one_of_two_workers_polling_at_once(tmp_path, state_db, feed_server):
    feed_server.set_feed("/feed", rss([1, 2]))
    feeds = {"acr": feed_server.url("/feed")}
    held = HeldFetcher()
    first, second = worker(tmp_path, state_db, feeds, held), worker(tmp_path, state_db, feeds)
    polled: list = []
    thread = threading.Thread(target=lambda: polled.extend(first.run_cycle().feeds))
    thread.start()
    assert held.fetching.wait(WAIT)  # the first has claimed the feed and is fetching it
    now = second.clock()
    assert [f.name for f in second.ingester.due(now)] == ["acr"]  # due, as far as the second can see
    assert second.run_cycle().feeds == ()  # but claimed: the second leaves it to the first
    held.go.set()
    thread.join(WAIT)
    assert [(r.feed, r.status) for r in polled] == [("acr", "fetched")]
    assert len(feed_server.requests_for("/feed")) == 1
    state = second.store.feed_state("acr")
    assert state.seeded and state.next_fetch_at > now
    assert second.store.backend.query("SELECT lease_owner FROM feeds")[0][0] is None  # the record ended it
    first.close()
    second.close()


def test_entries_with_the_same_url_cost_one_fetch(tmp_path, state_db, feed_server):
    feed_server.set_feed("/feed", rss([1, 2]))
    url = feed_server.url("/feed")
    app = worker(tmp_path, state_db, {"acr": url, "mirror": url, "other": feed_server.url("/other")})
    feed_server.set_feed("/other", rss([3]))
    results = app.run_cycle().feeds
    assert sorted((r.feed, r.status) for r in results) == [("acr", "fetched"), ("mirror", "fetched"),
                                                           ("other", "fetched")]
    assert len(feed_server.requests_for("/feed")) == 1
    states = app.store.feed_state_map()
    assert states["acr"].etag == states["mirror"].etag is not None
    later = app.clock() + 3600
    app.clock = lambda: later  # type: ignore[method-assign]
    app.ingester.clock = app.clock
    assert sorted(r.status for r in app.ingester.poll_many(app.ingester.due(later), due_only=True)) == [
        "not-modified", "not-modified", "not-modified"]
    assert len(feed_server.requests_for("/feed")) == 2  # one conditional request for the two again
    app.close()


def test_a_poll_that_could_not_be_recorded_gives_its_claim_back(tmp_path, state_db, feed_server):
    feed_server.set_feed("/feed", rss([1]))
    app = worker(tmp_path, state_db, {"acr": feed_server.url("/feed")})
    other = worker(tmp_path, state_db, {"acr": feed_server.url("/feed")})

    def broken(*args, **kwargs):
        raise StoreError("state database: the connection went away")

    app.store.apply = broken  # type: ignore[method-assign]
    app.store.record_fetch_error = broken  # type: ignore[method-assign]
    with pytest.raises(StoreError):
        app.run_cycle()
    assert [r.status for r in other.run_cycle().feeds] == ["fetched"]  # due again at once, for anyone
    app.close()
    other.close()
