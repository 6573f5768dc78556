"""Operators see the fleet (issue 14, item 6): ``syndicate status`` (text and ``--json``), the API's
status and ``/metrics`` show the workers (owner, last seen, rows leased), each target's shared
budget and its queue; a worker that died shows as not seen, then as its leases run out.

The state is written as a fleet leaves it — three workers recorded, one stopped, one killed while
it held a row (its heartbeat and its lease long past), one alive — on both backends, with times
just behind the real clock (the faces read the fleet at their own ``now``).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from syndicate import daemon
from syndicate.app import App
from syndicate.config import load_config
from syndicate.editors.fleet import SILENT_AFTER, fleet_view
from syndicate.metrics import Metrics
from syndicate.models import Article
from syndicate.store import Store
from syndicate.web import create_app, serve
from tests.cli_runner import invoke
from tests.fakes import FakeClock, mastodon, write_feeds_yaml

API_TOKEN = "fleet-view-editors-token-0123456789"
DEAD, ALIVE, GONE = "web-1:101:aaaa", "web-2:202:bbbb", "web-1:99:cccc"


def article(n: int) -> Article:
    return Article(feed="f", id=f"g{n}", link=f"https://e.org/{n}/", title=f"Article {n}",
                   published=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=n), fingerprint=f"h{n}")


@pytest.fixture
def fleet_state(state_db):
    """The state a fleet leaves: ``DEAD`` killed 200 s ago holding mastodon's row (a 60 s lease),
    ``ALIVE`` seen 10 s ago, ``GONE`` stopped; mastodon's budget spent until 5 minutes from now."""
    start = time.time() - 200
    clock = FakeClock(start)
    store = Store(state_db, clock=clock)
    store.ingest("f", new=[article(1), article(2)], updated=[],
                 queue={"g1": ["mastodon", "bluesky"], "g2": ["mastodon", "bluesky"]})
    store.worker_started(GONE, host="web-1", pid=99)
    store.worker_stopped(GONE)
    store.worker_started(DEAD, host="web-1", pid=101)
    store.worker_started(ALIVE, host="web-2", pid=202)
    [held] = store.claim_due(DEAD, now=clock(), lease_seconds=60, targets=["mastodon"])
    store.record_budget("mastodon", (0, datetime.fromtimestamp(start + 500, UTC)))
    clock.advance(190)
    assert store.worker_seen(ALIVE)
    store.close()
    return state_db, held


def test_the_fleet_view_shows_a_dead_worker_by_its_silence_and_its_expired_leases(fleet_state):
    state, _ = fleet_state
    store = Store(state)
    try:
        fleet = fleet_view(store, time.time())
    finally:
        store.close()
    workers = {w.owner: w for w in fleet.workers}
    assert {o: (w.state, w.leased, w.expired) for o, w in workers.items()} == {
        DEAD: ("not seen", 0, 1), ALIVE: ("running", 0, 0), GONE: ("stopped", 0, 0)}
    assert (workers[DEAD].host, workers[DEAD].pid) == ("web-1", 101)
    assert (fleet.count("running"), fleet.count("not seen"), fleet.count("stopped")) == (1, 1, 1)
    [budget] = fleet.budgets
    assert (budget.target, budget.remaining, budget.spent) == ("mastodon", 0, True)
    queues = {q.target: q for q in fleet.queues}
    assert dict(queues["mastodon"].states) == {"pending": 1, "sending": 1}
    assert (queues["mastodon"].leased_by, queues["mastodon"].lease_expired) == (DEAD, True)
    assert queues["mastodon"].states[0][0] == "pending"  # in the queue's order of states
    assert dict(queues["bluesky"].states) == {"pending": 2} and queues["bluesky"].leased_by is None


def test_a_running_lease_counts_as_leased_and_a_spent_budget_clears_at_its_reset(state_db):
    clock = FakeClock(1_750_000_000.0)
    store = Store(state_db, clock=clock)
    store.ingest("f", new=[article(1)], updated=[], queue={"g1": ["mastodon"]})
    store.worker_started(ALIVE, host="web-2", pid=202)
    store.claim_due(ALIVE, now=clock(), lease_seconds=60)
    store.record_budget("mastodon", (0, datetime.fromtimestamp(clock() + 30, UTC)))
    now = fleet_view(store, clock() + 10)
    assert [(w.leased, w.expired) for w in now.workers] == [(1, 0)]
    assert now.budgets[0].spent and not now.queues[0].lease_expired
    later = fleet_view(store, clock() + 61)
    assert [(w.leased, w.expired) for w in later.workers] == [(0, 1)]
    assert not later.budgets[0].spent and later.queues[0].lease_expired
    store.close()


def test_not_seen_waits_for_missed_heartbeats():
    assert SILENT_AFTER >= 2 * daemon.HEARTBEAT  # one late beat on a loaded machine is not a death


def test_status_cli_text_json_and_api_show_the_same_fleet(tmp_path, fleet_state):
    state, _ = fleet_state
    config = write_feeds_yaml(tmp_path, {"f": "https://e.org/feed"}, state=state,
                              targets={"mastodon": mastodon("http://127.0.0.1:9")})

    def cli(*args: str):
        result = invoke(["--config", str(config), *args])
        assert result.exit_code == 0, result.output
        return result.output

    app = App(load_config(str(config)), targets={})
    handle = serve(create_app(app, api_token=API_TOKEN), "127.0.0.1", 0)
    try:
        with httpx.Client(base_url=handle.url, timeout=30,
                          headers={"Authorization": f"Bearer {API_TOKEN}"}) as api:
            by_api = api.get("/api/status").json()
            assert json.loads(cli("status", "--json")) == by_api
            metrics = api.get("/metrics").text
    finally:
        handle.stop()
        app.close()

    fleet = by_api["fleet"]
    workers = {w["owner"]: w for w in fleet["workers"]}
    assert (workers[DEAD]["state"], workers[DEAD]["leased"], workers[DEAD]["leases_expired"]) == ("not seen", 0, 1)
    assert workers[ALIVE]["state"] == "running" and workers[GONE]["stopped"] is not None
    assert fleet["budgets"][0] | {"reset": None, "updated": None} == {
        "target": "mastodon", "remaining": 0, "reset": None, "updated": None, "spent": True}
    queues = {q["target"]: q for q in fleet["queues"]}
    assert queues["mastodon"] == {"target": "mastodon", "rows": {"pending": 1, "sending": 1},
                                  "leased_by": DEAD, "lease_expired": True}

    text = cli("status")
    assert "workers: 1 running, 1 not seen, 1 stopped" in text
    assert f"{DEAD} not seen, last seen" in text and "leases expired 1" in text
    assert f"{ALIVE} running" in text and GONE not in text  # stopped workers are counted, not listed
    assert "budget mastodon: spent: no worker sends to it until" in text
    assert f"queue mastodon: 1 pending, 1 sending; in flight on {DEAD} (its lease ran out)" in text
    assert "queue bluesky: 2 pending" in text

    # /metrics: the same fleet, by name
    assert 'syndicate_workers{state="running"} 1.0' in metrics
    assert 'syndicate_workers{state="not_seen"} 1.0' in metrics
    assert 'syndicate_workers{state="stopped"} 1.0' in metrics
    assert f'syndicate_worker_leases{{lease="expired",worker="{DEAD}"}} 1.0' in metrics
    assert f'syndicate_worker_leases{{lease="running",worker="{ALIVE}"}} 0.0' in metrics
    assert f'syndicate_worker_last_seen_timestamp_seconds{{worker="{ALIVE}"}}' in metrics
    assert GONE not in metrics
    assert 'syndicate_target_budget_remaining{target="mastodon"} 0.0' in metrics
    assert 'syndicate_target_budget_reset_timestamp_seconds{target="mastodon"}' in metrics
    assert 'syndicate_outbox_depth{state="sending",target="mastodon"} 1.0' in metrics


def test_metrics_of_a_state_no_worker_ran_on_have_no_fleet_rows(tmp_path):
    store = Store(tmp_path / "state.db")
    try:
        text = Metrics(store).render().decode()
    finally:
        store.close()
    assert 'syndicate_workers{state="running"} 0.0' in text
    assert "syndicate_worker_leases{" not in text and "syndicate_target_budget_remaining{" not in text
    assert "syndicate_store_readable 1.0" in text


def test_a_scrape_reads_the_outbox_depth_once(tmp_path):
    """The depth gauge and the fleet's gauges come from one read of the outbox's counts."""
    store = Store(tmp_path / "state.db")
    try:
        store.ingest("f", new=[article(1)], updated=[], queue={"g1": ["mastodon"]})
        reads = []
        depth = store.outbox_depth

        def counted() -> dict[str, dict[str, int]]:
            reads.append(1)
            return depth()

        store.outbox_depth = counted  # type: ignore[method-assign]
        text = Metrics(store).render().decode()
    finally:
        store.close()
    assert 'syndicate_outbox_depth{state="pending",target="mastodon"} 1.0' in text
    assert 'syndicate_outbox_depth{state="failed",target="mastodon"} 0.0' in text
    assert len(reads) == 1
