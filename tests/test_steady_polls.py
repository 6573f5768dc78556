"""A poll that finds nothing to parse costs its claim and one record for the whole batch (issue 18,
item 2): the feeds that answered 304 and those whose bytes are the ones read last time (no
validators: recognised by their hash) are recorded together, in one transaction that ends their
claims, and their state is read once, by the claim.  The feeds' state after such a poll is what a
read of them records: validators, hash, backoff cleared, next fetch, the claim ended.

The feeds are served over loopback HTTP (``tests.servers.feeds``).
"""

from __future__ import annotations

import pytest

from syndicate.app import App
from syndicate.errors import StoreError
from syndicate.intent import FeedRecord, NotModified
from syndicate.store import Store
from tests.fakes import ScriptedTarget, make_config
from tests.helpers import rss
from tests.servers.feeds import Fault


def app_for(tmp_path, state, feeds) -> App:
    cfg = make_config(tmp_path, feeds, state=state, poll_interval="15m")
    return App(cfg, targets={"t": ScriptedTarget(name="t")})


def serve(feed_server) -> dict[str, str]:
    """Two feeds served without validators (every GET a 200 with the body) and one with them."""
    feed_server.set_feed("/a", rss([1, 2]), etag=None, last_modified=None)
    feed_server.set_feed("/b", rss([3, 4]), etag=None, last_modified=None)
    feed_server.set_feed("/c", rss([5, 6]))
    return {"a": feed_server.url("/a"), "b": feed_server.url("/b"), "c": feed_server.url("/c")}


def test_a_batch_with_nothing_to_parse_costs_its_claim_and_one_record(tmp_path, feed_server):
    app = app_for(tmp_path, tmp_path / "state.db", serve(feed_server))
    app.run_cycle(all_feeds=True)  # first sight: parsed, seeded
    statements: list[str] = []
    app.store.backend._db.set_trace_callback(statements.append)  # type: ignore[attr-defined]
    try:
        results = app.ingester.poll_many(app.config.feeds)
    finally:
        app.store.backend._db.set_trace_callback(None)  # type: ignore[attr-defined]
    assert sorted((r.feed, r.status) for r in results) == [
        ("a", "unchanged"), ("b", "unchanged"), ("c", "not-modified")]
    writes = [s for s in statements if s.startswith("BEGIN")]
    assert len(writes) == 2  # the claim, and the record of all three
    reads_of_feeds = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "FROM feeds" in s]
    assert len(reads_of_feeds) == 1  # the claim's: the state the poll starts from
    assert app.store.backend.query("SELECT count(*) FROM feeds WHERE lease_owner IS NOT NULL")[0][0] == 0
    app.close()


def test_an_unchanged_read_records_the_feeds_state_as_a_read_does(tmp_path, state_db, feed_server):
    feeds = serve(feed_server)
    app = app_for(tmp_path, state_db, feeds)
    clock = [1_760_000_000.0]
    app.clock = app.ingester.clock = app.store._clock = lambda: clock[0]  # type: ignore[method-assign]
    app.run_cycle(all_feeds=True)
    first = app.store.feed_state("a")
    clock[0] += 60
    feed_server.queue_faults("/a", Fault(status=500))
    [failed] = [r for r in app.ingester.poll_many(app.config.feeds) if r.feed == "a"]
    assert failed.status == "error" and app.store.feed_state("a").error_count == 1

    clock[0] += 600
    results = {r.feed: r for r in app.ingester.poll_many(app.config.feeds)}
    assert {name: r.status for name, r in results.items()} == {
        "a": "unchanged", "b": "unchanged", "c": "not-modified"}
    a = app.store.feed_state("a")
    assert (a.body_hash, a.seeded, a.etag, a.last_modified) == (first.body_hash, True, None, None)
    assert (a.last_fetch_at, a.last_success_at) == (clock[0], clock[0])
    assert a.next_fetch_at == results["a"].next_fetch_at > clock[0]
    assert (a.error_count, a.last_error) == (0, None)  # the backoff ended with the read
    c = app.store.feed_state("c")
    assert c.etag is not None and c.next_fetch_at == results["c"].next_fetch_at
    assert app.store.backend.query("SELECT count(*) FROM feeds WHERE lease_owner IS NOT NULL")[0][0] == 0
    assert app.store.count_articles() == 6  # nothing parsed, nothing recorded twice

    feed_server.set_feed("/b", rss([3, 4, 7]), etag=None, last_modified=None)  # new bytes: parsed
    clock[0] += 600
    assert {r.feed: (r.status, r.new) for r in app.ingester.poll_many(app.config.feeds)} == {
        "a": ("unchanged", 0), "b": ("fetched", 1), "c": ("not-modified", 0)}
    assert app.store.feed_state("b").body_hash != app.store.feed_state("a").body_hash
    app.close()


def test_a_batch_whose_record_fails_gives_every_claim_back(tmp_path, state_db, feed_server):
    feeds = serve(feed_server)
    app, other = app_for(tmp_path, state_db, feeds), app_for(tmp_path, state_db, feeds)
    app.run_cycle(all_feeds=True)

    def broken(*args, **kwargs):
        raise StoreError("state database: the connection went away")

    app.store.record_polls = broken  # type: ignore[method-assign]
    with pytest.raises(StoreError):
        app.ingester.poll_many(app.config.feeds)
    assert sorted(r.status for r in other.ingester.poll_many(other.config.feeds)) == [
        "not-modified", "unchanged", "unchanged"]  # claimed again at once, by anyone
    app.close()
    other.close()


def test_a_claim_reads_the_claimed_feeds_state_and_one_record_ends_every_claim(state_db):
    store = Store(state_db, clock=lambda: 1000.0)
    store.record_fetch_ok("acr", "https://acr.example/feed/", etag='"e1"', last_modified=None,
                          body_hash="h1", final_url=None, next_fetch_at=900.0, seeded=True)
    wanted = [("acr", "https://acr.example/feed/"), ("new", "https://new.example/feed/")]
    states = store.claim_feed_states("w1", wanted, now=1000.0, lease_seconds=60)
    assert states == {"acr": store.feed_state("acr"), "new": store.feed_state("new")}
    assert (states["acr"].etag, states["acr"].body_hash, states["acr"].seeded) == ('"e1"', "h1", True)
    assert (states["new"].url, states["new"].seeded, states["new"].body_hash) == (
        "https://new.example/feed/", False, None)  # never polled: its row made by the claim
    assert store.claim_feed_states("w2", wanted, now=1000.0, lease_seconds=60, due_only=False) == {}

    store.record_polls([NotModified("acr", 1900.0, None, None, None)],
                       [FeedRecord(name="new", url="https://new.example/feed/", final_url=None, etag=None,
                                   last_modified=None, body_hash="h2", next_fetch_at=1950.0, seeded=False)])
    acr, new = store.feed_state("acr"), store.feed_state("new")
    assert (acr.etag, acr.next_fetch_at, acr.last_fetch_at) == ('"e1"', 1900.0, 1000.0)
    assert (new.body_hash, new.next_fetch_at, new.last_success_at) == ("h2", 1950.0, 1000.0)
    assert sorted(store.claim_feed_states("w2", wanted, now=1000.0, lease_seconds=60, due_only=False)) == [
        "acr", "new"]  # the record ended w1's claims
    store.close()
