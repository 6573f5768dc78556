"""New work wakes idle workers at once (issue 14, item 2): LISTEN/NOTIFY on PostgreSQL.

New rows (and reposts), an editor's retries and finished attempts say so as their transaction
commits; a daemon idle on a long sleep wakes when another process queues a row.  Nothing here
sleeps: each wait is on an event, its timeout only bounding a failure.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime

import psycopg
import pytest

import syndicate.daemon
from syndicate.app import App
from syndicate.daemon import Daemon
from syndicate.models import Article
from syndicate.store import Store
from syndicate.store.backend import WORK_CHANNEL
from tests.fakes import ScriptedTarget, make_config

WAIT = 30.0  # seconds: bounds a failure (the daemon's fallback sleep here is an hour)


def article(n: int) -> Article:
    return Article(feed="f", id=f"g{n}", link=f"https://e.org/{n}/", title=f"Article {n}",
                   published=datetime(2025, 1, n, tzinfo=UTC), fingerprint=f"h{n}")


def said(listener: psycopg.Connection, count: int = 1) -> list[str]:
    """The next ``count`` notifications on the work channel (bounded wait: they come as the
    notifying transaction commits, over the listener's socket)."""
    return [n.payload for n in listener.notifies(timeout=WAIT, stop_after=count)]


def nothing_said(listener: psycopg.Connection) -> bool:
    """Nothing was notified since the last look (and nothing is on its way from a commit made)."""
    listener.execute("SELECT 1")  # a round trip: what the server sent before it has arrived
    return [n.payload for n in listener.notifies(timeout=0.0)] == []


def test_new_rows_retries_and_finished_attempts_say_so_as_they_commit(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {WORK_CHANNEL}")
        store = Store(postgres_url, clock=lambda: 1000.0)
        with store.backend.transaction() as db:
            store.ingest("f", new=[article(1)], updated=[], queue={"g1": ["m"]})  # its own transaction
            assert said(listener) == ["m"]
            from syndicate.store.outbox import enqueue

            db.execute("SELECT 1")
            enqueue(db, 1, ["b"], now=1000.0)
            assert nothing_said(listener)  # not before the commit
        assert said(listener) == ["b"]
        [item] = store.claim_due("w", now=1000.0, lease_seconds=60, targets=["m"])
        assert nothing_said(listener)
        assert store.mark_failed(item.id, "w", "HTTP 422")
        assert said(listener) == ["m"]  # the target is free for its next row
        assert store.retry_failed(target="m") == 1
        assert said(listener) == ["m"]
        store.close()


def test_an_idle_worker_wakes_on_another_processs_new_row(tmp_path, postgres_url, monkeypatch):
    monkeypatch.setattr(syndicate.daemon, "MAX_SLEEP", 3600.0)  # only news can wake it in time
    cfg = make_config(tmp_path, {"f": "https://e.org/feed"}, state=postgres_url, poll_interval="1h",
                      targets={"t": {"kind": "mastodon", "instance": "https://m.example"}})
    setup = Store(postgres_url)
    setup.record_fetch_ok("f", "https://e.org/feed", etag=None, last_modified=None, body_hash=None,
                          final_url=None, next_fetch_at=setup._clock() + 3600)  # no feed is due
    setup.close()
    delivered, cycled = threading.Event(), threading.Event()

    class Target(ScriptedTarget):
        def deliver(self, draft, key):
            posted = super().deliver(draft, key)
            delivered.set()
            return posted

    class Worker(App):
        def run_cycle(self, **kw):
            result = super().run_cycle(**kw)
            cycled.set()
            return result

    daemon = Daemon(cfg, app_factory=lambda c, stop: Worker(c, targets={"t": Target(name="t")}, stop=stop))
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        assert cycled.wait(WAIT)  # its first cycle found nothing to do: it sleeps for an hour
        assert daemon.work_listener is not None and daemon.work_listener.listening.wait(WAIT)
        assert not delivered.is_set()
        script = textwrap.dedent(f"""
            from datetime import UTC, datetime
            from syndicate.models import Article
            from syndicate.store import Store
            store = Store({postgres_url!r})
            store.ingest("f", new=[Article(feed="f", id="g1", link="https://e.org/1/", title="One",
                                           published=datetime(2025, 1, 1, tzinfo=UTC))],
                         updated=[], queue={{"g1": ["t"]}})
            store.close()
        """)
        subprocess.run([sys.executable, "-c", script], check=True, timeout=WAIT)
        assert delivered.wait(WAIT)  # woken at once, not an hour later
        [row] = Store(postgres_url).deliveries(1)
        assert row.state == "sent"
    finally:
        daemon.stop.set()
        daemon.wake.set()
        thread.join(WAIT)
    assert not thread.is_alive()


@pytest.mark.parametrize("kind", ["sqlite"])
def test_a_sqlite_state_has_no_listener(tmp_path, kind):
    store = Store(tmp_path / "state.db")
    from syndicate.store.wakeups import listen_for_work

    assert listen_for_work(store.backend, lambda: None) is None
    store.close()
