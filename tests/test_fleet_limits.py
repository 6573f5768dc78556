"""Shared limits stay shared (issue 14, item 3), on both backends: several workers on one state
send to a target no faster than its server allows one client, refresh one Bluesky session once,
and read a Mastodon instance's limits once.

Each "worker" is an ``App`` (or an adapter) of its own on the same state database, with its own
adapter and so its own view of what the server said; what they share is the store.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta

import pytest

from syndicate.app import App
from syndicate.config import BlueskyTarget, MastodonTarget, Secret
from syndicate.models import Article, StoredSession
from syndicate.retry import RetryPolicy
from syndicate.store import Store
from syndicate.targets.bluesky import BlueskyAdapter
from syndicate.targets.mastodon import MastodonAdapter
from tests.fakes import FakeClock, make_config, mastodon
from tests.servers.fault_proxy import FaultProxy
from tests.servers.mastodon import Fault, MastodonServer

TOKEN = "fleet-limits-token-0123456789"
REFRESH = "com.atproto.server.refreshSession"


def article(n: int) -> Article:
    return Article(feed="f", id=f"g{n}", link=f"https://e.org/{n}/", title=f"Article {n}",
                   published=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=n), fingerprint=f"h{n}")


def worker(tmp_path, state, server, clock) -> App:
    cfg = make_config(tmp_path, {"f": "https://e.org/feed"}, state=state,
                      targets={"masto": mastodon(server.url, timeout=5)})
    return App(cfg, environ={"SYNDICATE_MASTODON_TOKEN": TOKEN}, clock=clock, sleep=clock.sleep,
               policy=RetryPolicy(jitter=0))


def test_workers_pace_a_target_by_the_budget_its_server_gave_any_of_them(tmp_path, state_db):
    clock = FakeClock(1_750_000_000.0)
    with MastodonServer(token=TOKEN, clock=clock, budget=2, window=2 * 3600) as server:
        server.reset_window()
        one, two = worker(tmp_path, state_db, server, clock), worker(tmp_path, state_db, server, clock)
        one.store.ingest("f", new=[article(1), article(2)], updated=[], queue={"g1": ["masto"], "g2": ["masto"]})
        [sent] = one.deliverer.deliver_due(limit=1)  # the instance's limits, then the post: spent
        assert sent.outcome == "sent" and server.remaining == 0

        assert two.deliverer.deliver_due() == []  # its own adapter never heard the server: the store did
        assert [r.status for r in server.requests if r.status == 429] == []  # the window never exceeded
        reset = server.reset_at.timestamp()
        assert two.deliverer.next_due_at() >= reset  # it sleeps until the window resets
        [budget] = two.store.target_budgets()
        assert (budget.target, budget.remaining) == ("masto", 0) and budget.reset_at >= reset

        clock.set(server.reset_at + timedelta(seconds=2))
        [later] = two.deliverer.deliver_due()
        assert later.outcome == "sent" and len(server.statuses) == 2
        assert [r.status for r in server.requests if r.status == 429] == []
        one.close()
        two.close()


def test_a_fresh_worker_spends_only_what_the_fleet_left_though_an_answer_is_lost(tmp_path, state_db):
    """A worker (re)started since the window opened has never heard the server; the store has. Its
    adapter takes the fleet's word at each claim, so when the one request left is sent and its answer
    lost, the retry waits for the window instead of being the request too many (found by the fleet
    crash test: a window counted 13 of 12)."""
    clock = FakeClock(1_750_000_000.0)
    with MastodonServer(token=TOKEN, clock=clock, budget=3, window=2 * 3600) as server:
        server.reset_window()
        one = worker(tmp_path, state_db, server, clock)
        one.store.ingest("f", new=[article(1), article(2)], updated=[], queue={"g1": ["masto"], "g2": ["masto"]})
        [sent] = one.deliverer.deliver_due(limit=1)  # the instance's limits, then the post
        assert sent.outcome == "sent" and server.remaining == 1
        one.close()

        fresh = worker(tmp_path, state_db, server, clock)  # as after a restart: its adapter knows nothing
        server.queue_faults(Fault(accept_then_drop=True, method="POST", path="/api/v1/statuses"))
        [second] = fresh.deliverer.deliver_due(limit=1)
        assert server.peak_window <= 3, f"{server.peak_window} requests in a window of 3"
        assert second.outcome == "rescheduled"  # the retry waits for the window: nothing doubled, nothing lost
        assert len(server.statuses) == 2
        clock.set(server.reset_at + timedelta(seconds=2))
        [found] = fresh.deliverer.deliver_due()
        assert found.outcome in ("sent", "found") and len(server.statuses) == 2
        fresh.close()


def test_a_claim_takes_a_request_off_the_shared_budget(state_db):
    """A worker that dies mid-delivery never records what it spent: the claim counted it."""
    clock = FakeClock(1_750_000_000.0)
    store = Store(state_db, clock=clock)
    store.ingest("f", new=[article(1), article(2)], updated=[], queue={"g1": ["masto"], "g2": ["masto"]})
    store.record_budget("masto", (1, datetime.fromtimestamp(clock() + 600, UTC)))
    [dead] = store.claim_due("dead", now=clock(), lease_seconds=60)
    assert store.target_budget("masto").remaining == 0
    clock.advance(61)  # its lease has run out, but the window it spent the last request of has not
    assert store.claim_due("w", now=clock(), lease_seconds=60) == []
    clock.advance(600)
    [again] = store.claim_due("w", now=clock(), lease_seconds=60)
    assert again.id == dead.id
    store.close()


def test_the_instance_limits_are_read_once_for_every_worker(state_db):
    with MastodonServer(token=TOKEN, max_characters=777, characters_reserved_per_url=31) as server:
        cfg = MastodonTarget(kind="mastodon", instance=server.url, timeout=5)
        stores = [Store(state_db), Store(state_db)]
        adapters = [MastodonAdapter("masto", cfg, Secret(TOKEN, "test"), shared=s) for s in stores]
        assert [(a.limits().max_length, a.limits().url_length) for a in adapters] == [(777, 31), (777, 31)]
        assert [r.path.rstrip("/") for r in server.requests] == ["/api/v2/instance"]  # by the first only
        server.max_characters = 600
        adapters[1].verify()  # an explicit check asks afresh, and shares what it read
        adapters.append(MastodonAdapter("masto", cfg, Secret(TOKEN, "test"), shared=stores[0]))
        assert adapters[2].limits().max_length == 600
        assert [r.path.rstrip("/") for r in server.requests].count("/api/v2/instance") == 2
        for a in adapters:
            a.close()
        for s in stores:
            s.close()


@pytest.mark.pds
def test_two_workers_never_refresh_one_bluesky_session_at_once(pds, state_db):
    """Both hold the same session as its access token nears expiry: the first refreshes it (the
    PDS rotates the refresh token); the second, taking the session's lock after it, reads the
    refreshed session and uses it, instead of spending the refresh token just rotated."""
    password = secrets.token_urlsafe(12)
    _did, handle = pds.create_account(f"r{secrets.token_hex(5)}.test", password)
    with FaultProxy(pds.url) as proxy:
        cfg = BlueskyTarget(kind="bluesky", service=proxy.url, handle=handle, timeout=10)
        stores = [Store(state_db), Store(state_db)]
        first, second = (BlueskyAdapter("bsky", cfg, Secret(password, "test"), session_store=s) for s in stores)
        first.verify()  # logs in, saves the session
        from atproto_client.client.session import Session

        stored = stores[0].load_session("bsky")
        session = Session.decode(stored.data)
        session.access_jwt = pds.resign_token(session.access_jwt, exp=int(time.time()) + 60)  # due a refresh
        stores[0].save_session("bsky", StoredSession(session.encode(), stored.service, stored.handle))
        for adapter in (first, second):  # each takes the session from the store (no request yet)
            adapter.close()
            adapter._session._login()
        assert proxy.count(REFRESH) == 0

        first.verify()
        assert proxy.count(REFRESH) == 1
        second.verify()
        assert proxy.count(REFRESH) == 1  # the second took the first's refreshed session
        refreshed = Session.decode(stores[1].load_session("bsky").data)
        assert refreshed.refresh_jwt != session.refresh_jwt
        assert second._session._client._session.refresh_jwt == refreshed.refresh_jwt
        for adapter in (first, second):
            adapter.close()
        for s in stores:
            s.close()
