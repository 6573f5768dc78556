"""New work wakes idle workers at once (issue 14, item 2): LISTEN/NOTIFY on PostgreSQL.

New rows (and reposts), an editor's retries, and a row or a queue a worker leaves due (released
on shutdown, a pass cut short) say so as their transaction commits; a daemon idle on a long sleep
wakes when another process queues a row.  A finished attempt says nothing: its worker goes on with
the target's queue, so an idle worker woken for it would only find the target taken (with four
workers that was twice the CPU per post of one).  Nothing here sleeps: each wait is on an event,
its timeout only bounding a failure.
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
        assert nothing_said(listener)  # its worker claims the target's next row itself
        assert store.retry_failed(target="m") == 1
        assert said(listener) == ["m"]
        [item] = store.claim_due("w", now=1000.0, lease_seconds=60, targets=["m"])
        assert store.reschedule(item.id, "w", 1060.0, "HTTP 503")
        assert nothing_said(listener)  # its worker knows when to come back
        [item] = store.claim_due("w", now=1060.0, lease_seconds=60, targets=["m"])
        assert store.release(item.id, "w")  # a stop: this worker leaves the row due
        assert said(listener) == ["m"]
        store.hand_off(["m", "b"])  # a pass cut short leaves the queues to the others
        assert sorted(said(listener, 2)) == ["b", "m"]
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


class Fleet:
    """``workers`` daemons (threads) on one PostgreSQL state, each with its own App and its own
    in-memory targets ``names``, sleeping an hour unless woken; ``sent`` counts rows delivered.
    ``stop_first``: the worker that sends the first post is asked to stop as it sends it."""

    def __init__(self, tmp_path, postgres_url: str, workers: int, names: tuple[str, ...], *,
                 stop_first: bool = False) -> None:
        cfg = make_config(tmp_path, {"f": "https://e.org/feed"}, state=postgres_url, poll_interval="1h",
                          targets={n: {"kind": "mastodon", "instance": f"https://{n}.example"} for n in names})
        setup = Store(postgres_url)
        setup.record_fetch_ok("f", "https://e.org/feed", etag=None, last_modified=None, body_hash=None,
                              final_url=None, next_fetch_at=setup._clock() + 3600)  # no feed is due
        setup.close()
        self.sent = 0
        self.changed = threading.Condition()
        fleet = self

        class Target(ScriptedTarget):
            stop: threading.Event  # its worker's

            def deliver(self, draft, key):
                posted = super().deliver(draft, key)
                with fleet.changed:
                    fleet.sent += 1
                    if stop_first and fleet.sent == 1:
                        self.stop.set()  # the post is recorded, then its worker stops
                    fleet.changed.notify_all()
                return posted

        def targets(stop: threading.Event) -> dict[str, Target]:
            made = {n: Target(name=n) for n in names}
            for target in made.values():
                target.stop = stop
            return made

        self.cycles: list[list[int]] = []  # each worker's cycles: how many rows each delivered

        def worker(cycles: list[int]):
            class Worker(App):
                def run_cycle(self, **kw):
                    result = super().run_cycle(**kw)
                    with fleet.changed:
                        cycles.append(len(result.deliveries))
                        fleet.changed.notify_all()
                    return result

            return lambda c, stop: Worker(c, targets=targets(stop), stop=stop)

        self.daemons = []
        for _ in range(workers):
            self.cycles.append([])
            self.daemons.append(Daemon(cfg, app_factory=worker(self.cycles[-1])))
        self.threads = [threading.Thread(target=d.run, daemon=True) for d in self.daemons]

    def wait(self, condition) -> bool:
        with self.changed:
            return self.changed.wait_for(condition, WAIT)

    def __enter__(self) -> Fleet:
        for thread in self.threads:
            thread.start()
        assert self.wait(lambda: all(self.cycles))  # each did its first cycle: it sleeps for an hour
        for daemon in self.daemons:
            assert daemon.work_listener is not None and daemon.work_listener.listening.wait(WAIT)
        return self

    def __exit__(self, *exc: object) -> None:
        for daemon in self.daemons:
            daemon.stop.set()
            daemon.wake.set()
        for thread in self.threads:
            thread.join(WAIT)
        assert not any(thread.is_alive() for thread in self.threads)


def test_a_fleet_is_woken_per_row_queued_not_per_post_sent(tmp_path, postgres_url, monkeypatch):
    """Three workers, 12 articles x 2 targets queued in one transaction: the workers are woken
    for the queueing (once per target), never for the posts they send.  Before, every finished
    attempt woke every worker (24 wake-ups more), whose cycle found the target taken: the CPU per
    post grew with the workers (bench figure 12a)."""
    monkeypatch.setattr(syndicate.daemon, "MAX_SLEEP", 3600.0)  # only news can wake them in time
    posts, names = 12, ("a", "b")
    with Fleet(tmp_path, postgres_url, 3, names) as fleet, \
            psycopg.connect(postgres_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {WORK_CHANNEL}")  # hears what every worker's listener hears
        store = Store(postgres_url)
        store.ingest("f", new=[article(n) for n in range(1, posts + 1)], updated=[],
                     queue={f"g{n}": list(names) for n in range(1, posts + 1)})
        assert fleet.wait(lambda: fleet.sent == posts * len(names))  # promptly: on the wake-ups
        listener.execute(f"SELECT pg_notify('{WORK_CHANNEL}', 'end')")  # words arrive in commit order
        heard = []
        for note in listener.notifies(timeout=WAIT):
            if note.payload == "end":
                break
            heard.append(note.payload)
        store.close()
    # each word wakes every idle worker: one per target queued, none per post sent
    assert sorted(heard) == sorted(names), heard
    store = Store(postgres_url)
    rows = [d for n in range(1, posts + 1) for d in store.deliveries(n)]
    store.close()
    assert len(rows) == posts * len(names) and {r.state for r in rows} == {"sent"}
    assert sum(len(t.posts) for d in fleet.daemons for t in d.app.targets.values()) == len(rows)  # once each


def test_a_worker_that_stops_mid_queue_hands_it_to_an_idle_one(tmp_path, postgres_url, monkeypatch):
    """The worker that took a target's queue stops after one post: the rows behind it are not
    left to the others' fallback sleep (an hour here); its pass, cut short, wakes them."""
    monkeypatch.setattr(syndicate.daemon, "MAX_SLEEP", 3600.0)
    posts = 5
    with Fleet(tmp_path, postgres_url, 2, ("a",), stop_first=True) as fleet:
        store = Store(postgres_url)
        store.ingest("f", new=[article(n) for n in range(1, posts + 1)], updated=[],
                     queue={f"g{n}": ["a"] for n in range(1, posts + 1)})
        assert fleet.wait(lambda: fleet.sent == posts)  # the other worker took the rest at once
        assert sum(d.stop.is_set() for d in fleet.daemons) == 1
        store.close()
    store = Store(postgres_url)
    assert {d.state for n in range(1, posts + 1) for d in store.deliveries(n)} == {"sent"}
    store.close()


@pytest.mark.parametrize("kind", ["sqlite"])
def test_a_sqlite_state_has_no_listener(tmp_path, kind):
    store = Store(tmp_path / "state.db")
    from syndicate.store.wakeups import listen_for_work

    assert listen_for_work(store.backend, lambda: None) is None
    store.close()
