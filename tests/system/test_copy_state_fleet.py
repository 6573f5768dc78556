"""copy-state, then a fleet (issue 14): a SQLite state with posted, pending and failed rows, moved to
PostgreSQL, is worked by four workers that post exactly the pending rows, once.

The SQLite state is made by real runs (``syndicate run --once``) against both targets — the
loopback Mastodon server and the real PDS behind a fault proxy — as the feed grows:

1. articles 1–3: posted on both;
2. articles 4–6: posted on Bluesky; Mastodon refuses each for good (422): failed there;
3. articles 7–10: both targets answer 503 to every post: pending on both, retries scheduled.

``syndicate copy-state`` moves it into an empty PostgreSQL database, the targets are healthy
again, and four ``syndicate run`` workers start on it.  They post the 8 pending rows, each once,
and nothing else: no request with a posted row's key, the failed rows left failed.  Then
``syndicate retry`` (an operator, beside the fleet) puts the failed ones back: they go out once
each, on whichever worker wakes.  (``tests/test_copy_state.py`` checks the copy itself: its
tables, counts, refusals and a row left in flight.)

Waits follow the state (the outbox read on PostgreSQL), bounded; nothing sleeps.
"""

from __future__ import annotations

import secrets
import signal
from collections import Counter

import pytest

from tests.fakes import bluesky, mastodon, write_feeds_yaml
from tests.helpers import assert_posted_once, run_cli, wait_until
from tests.servers.fault_proxy import Fault as ProxyFault
from tests.servers.fault_proxy import FaultProxy
from tests.servers.mastodon import Fault, MastodonServer

pytestmark = [pytest.mark.slow, pytest.mark.pds]

TOKEN = "copy-fleet-token-5e21"
STATUSES = "/api/v1/statuses"
CREATE = "com.atproto.repo.createRecord"
WORKERS = 4
DRAIN_TIMEOUT = 90.0


def rows(url: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(article link, target) → (state, key) of every outbox row on PostgreSQL."""
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as db:
        found = db.execute("SELECT a.link, o.target, o.state, o.key FROM outbox o "
                           "JOIN articles a ON a.id = o.article_id").fetchall()
    return {(link, target): (state, key) for link, target, state, key in found}


def sqlite_rows(path) -> dict[tuple[str, str], tuple[str, str]]:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        found = db.execute("SELECT a.link, o.target, o.state, o.key FROM outbox o "
                           "JOIN articles a ON a.id = o.article_id").fetchall()
    finally:
        db.close()
    return {(link, target): (state, key) for link, target, state, key in found}


def key_of(request) -> str | None:
    return next((v for k, v in request.headers.items() if k.lower() == "idempotency-key"), None)


def test_copy_state_then_four_workers_post_exactly_the_pending_rows_once(
        tmp_path, feed_server, pds, spawn_daemon, make_articles, rss_of, postgres_url):
    password = secrets.token_urlsafe(12)
    did, handle = pds.create_account(f"copy{secrets.token_hex(4)}.test", password)
    articles = make_articles(10, base=feed_server.url("/2025"))
    links = [a["link"] for a in articles]
    env = {"SYNDICATE_MASTODON_TOKEN": TOKEN, "SYNDICATE_BLUESKY_APP_PASSWORD": password}
    delivery = {"attempts": 1, "backoff": 0.05, "max_backoff": 0.2, "requeue": 0.2, "max_requeue": 1,
                "max_rate_wait": 5, "lease": 10}
    sqlite = tmp_path / "state.db"

    with MastodonServer(token=TOKEN, budget=1_000_000) as masto, FaultProxy(pds.url) as proxy:
        targets = {"mastodon": mastodon(masto.url, timeout=5), "bluesky": bluesky(proxy.url, handle, timeout=5)}

        def config(name: str, state):
            return write_feeds_yaml(tmp_path, {"review": {"url": feed_server.url("/feed"), "backfill": 3,
                                                          "language": "en"}},
                                    path=tmp_path / name, state=state, poll_interval="2s", targets=targets,
                                    delivery=delivery)

        on_sqlite = config("sqlite.yaml", sqlite)

        def run_once(first: int, last: int) -> None:
            feed_server.set_feed("/feed", rss_of(articles[:last]))
            done = run_cli("run", "--once", config_path=on_sqlite, env=env)
            assert "Traceback" not in done.stderr, done.stderr
            states = sqlite_rows(sqlite)
            assert {link for link, _ in states} == set(links[:last]), f"articles {first}-{last}: {states}"

        # 1. articles 1-3 posted on both
        run_once(1, 3)
        # 2. articles 4-6: Mastodon refuses each for good, Bluesky posts them
        masto.queue_faults(*[Fault(status=422, body={"error": "Validation failed: Text is rejected"},
                                   method="POST", path=STATUSES) for _ in range(3)])
        run_once(4, 6)
        assert not masto.pending_faults
        # 3. articles 7-10: every post to either target answered 503
        masto.random_faults(1.0, kinds=(503,), method="POST", path=STATUSES)
        proxy.random_faults(1.0, nsids=(CREATE,), kinds=(ProxyFault(status=503),))
        run_once(7, 10)
        masto.clear_random_faults()
        proxy.clear()

        before = sqlite_rows(sqlite)
        expected_before = {**{(link, t): "sent" for link in links[:3] for t in targets},
                           **{(link, "mastodon"): "failed" for link in links[3:6]},
                           **{(link, "bluesky"): "sent" for link in links[3:6]},
                           **{(link, t): "pending" for link in links[6:] for t in targets}}
        assert {k: state for k, (state, _) in before.items()} == expected_before
        statuses_before = len(masto.statuses)
        records_before = len(pds.list_records(did))
        assert (statuses_before, records_before) == (3, 6)
        sent_keys = {key for (_, t), (state, key) in before.items() if state == "sent" and t == "mastodon"}
        pending_keys = {key for (_, t), (state, key) in before.items() if state == "pending" and t == "mastodon"}
        failed_keys = {key for (_, t), (state, key) in before.items() if state == "failed"}
        requests_before = len(masto.requests)

        copied = run_cli("copy-state", str(sqlite), postgres_url, config_path=on_sqlite)
        assert copied.returncode == 0, copied.stderr
        assert "outbox: 20 rows" in copied.stdout.splitlines()

        on_postgres = config("postgres.yaml", postgres_url)
        fleet = [spawn_daemon(on_postgres, env=env) for _ in range(WORKERS)]

        def settled(expected: Counter[str]) -> bool:
            return (Counter(state for state, _ in rows(postgres_url).values()) == expected
                    or any(w.proc.poll() is not None for w in fleet))

        assert wait_until(lambda: settled(Counter({"sent": 17, "failed": 3})), timeout=DRAIN_TIMEOUT, step=0.2)
        after = rows(postgres_url)
        assert {k: state for k, (state, _) in after.items()} == {
            k: "failed" if state == "failed" else "sent" for k, state in expected_before.items()}
        assert {k: key for k, (_, key) in after.items()} == {k: key for k, (_, key) in before.items()}
        # exactly the pending ones were sent, by their keys: nothing posted twice, nothing failed retried
        posted_keys = Counter(key_of(r) for r in masto.requests[requests_before:]
                              if r.method == "POST" and r.path == STATUSES)
        assert posted_keys == Counter({key: 1 for key in pending_keys}), posted_keys
        assert not set(posted_keys) & (sent_keys | failed_keys)
        assert proxy.count(CREATE) == 4  # Bluesky's four pending rows, one request each

        # failed stays failed until an operator says retry; then once each
        retried = run_cli("retry", "--json", config_path=on_postgres)
        assert retried.returncode == 0, retried.stderr
        assert wait_until(lambda: settled(Counter({"sent": 20})), timeout=DRAIN_TIMEOUT, step=0.2)
        for worker in fleet:
            worker.signal(signal.SIGTERM)
        outputs = []
        for worker in fleet:
            assert worker.wait(timeout=15) == 0, worker.output[-3000:]
            outputs.append(worker.output)
        statuses = masto.statuses
        assert not masto.errors, masto.errors[0]
    records = pds.list_records(did)

    assert_posted_once(links, statuses, records)
    everything = "\n".join(outputs)
    assert "Traceback" not in everything and "delivery crashed" not in everything
    assert sum(" started " in line for line in everything.splitlines()) == WORKERS
