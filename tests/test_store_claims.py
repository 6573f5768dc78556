"""Claims with several workers, on both backends: one row of a target in flight, keys never lost,
and (PostgreSQL) workers claiming at once never lease one row twice.

The rule (``syndicate.store.outbox``): a target with a row leased has nothing else due, so a
target's queue is worked by one worker at a time, in publication order, while other targets go
out in parallel.
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest

from syndicate.errors import StoreError
from syndicate.models import Article, Posted
from syndicate.store import Store
from syndicate.store.outbox import enqueue, new_key


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def art(n: int) -> Article:
    return Article(feed="f", id=f"g{n}", link=f"https://e.org/{n}/", title=f"T{n}",
                   published=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=n), fingerprint=f"h{n}")


@pytest.fixture
def store(state_db):
    s = Store(state_db, clock=Clock())
    yield s
    s.close()


def test_a_target_with_a_row_in_flight_has_nothing_else_due(store):
    store.ingest("f", new=[art(1), art(2), art(3)], updated=[], queue={"g1": ["m", "b"], "g2": ["m"],
                                                                        "g3": ["m"]})
    now = store._clock()
    [first] = store.claim_due("w1", now=now, lease_seconds=60, targets=["m"])
    assert first.article.id == "g1"
    assert store.claim_due("w2", now=now, lease_seconds=60, targets=["m"]) == []  # m is busy
    [other] = store.claim_due("w2", now=now, lease_seconds=60)  # but b is free
    assert (other.target, other.article.id) == ("b", "g1")
    assert store.next_due_at(["m"]) == now + 60  # m waits for its row in flight (or its lease)
    assert store.mark_sent(first.id, "w1", Posted("1", "https://m.example/1"))
    [second] = store.claim_due("w2", now=now, lease_seconds=60, targets=["m"])
    assert second.article.id == "g2"  # in order, whichever worker takes it


def test_a_dead_workers_row_goes_first_once_its_lease_runs_out(store):
    store.ingest("f", new=[art(1), art(2)], updated=[], queue={"g1": ["m"], "g2": ["m"]})
    now = store._clock()
    [dead] = store.claim_due("dead", now=now, lease_seconds=60)
    assert store.claim_due("w", now=now + 59, lease_seconds=60) == []  # the queue waits, in order
    [again] = store.claim_due("w", now=now + 60, lease_seconds=60)
    assert (again.id, again.attempts) == (dead.id, 2)
    assert [e.kind for e in store.events(dead.id)] == ["reclaimed"]


def test_a_key_another_row_holds_is_replaced_not_a_reason_to_drop_the_row(store):
    """Two processes can make the same TID: the second row gets a fresh key, it is not lost."""
    store.ingest("f", new=[art(1), art(2)], updated=[], queue={"g1": ["m"]})
    [row] = store.deliveries(1)
    fresh = new_key(store._clock())
    keys = iter([row.key, fresh])  # the first key made for the new row is the one row 1 has
    with store.backend.transaction() as db:
        queued = enqueue(db, 2, ["m"], now=store._clock(), make_key=lambda now: next(keys))
    assert queued == 1
    assert [(d.target, d.key) for d in store.deliveries(2)] == [("m", fresh)]


def test_a_row_already_queued_is_not_queued_again_nor_given_a_key(store):
    store.ingest("f", new=[art(1)], updated=[], queue={"g1": ["m"]})
    made = []

    def make_key(now):
        made.append(new_key(now))
        return made[-1]

    with store.backend.transaction() as db:
        assert enqueue(db, 1, ["m"], now=store._clock(), make_key=make_key) == 0
    assert len(made) == 1 and len(store.deliveries(1)) == 1


def test_an_unknown_article_is_an_error_not_a_silent_nothing(store):
    with pytest.raises(StoreError, match="article 99 for m"):
        with store.backend.transaction() as db:
            enqueue(db, 99, ["m"], now=store._clock())


def test_workers_are_recorded_seen_and_stopped(store):
    clock = store._clock
    store.worker_started("web-1:10:aa", host="web-1", pid=10)
    clock.now += 30
    store.worker_started("web-2:20:bb", host="web-2", pid=20)
    clock.now += 30
    assert store.worker_seen("web-1:10:aa")
    assert not store.worker_seen("gone:1:cc")
    store.worker_stopped("web-2:20:bb")
    [two, one] = store.workers()
    assert (two.owner, two.host, two.pid, two.stopped_at) == ("web-2:20:bb", "web-2", 20, clock.now)
    assert (one.started_at, one.last_seen_at, one.stopped_at) == (clock.now - 60, clock.now, None)
    clock.now += 8 * 86400  # a week and a day later a new worker starts: the old rows are forgotten
    store.worker_started("web-3:30:dd", host="web-3", pid=30)
    assert [w.owner for w in store.workers()] == ["web-3:30:dd"]


# --- several workers at once (PostgreSQL) ----------------------------------------------------------


def test_workers_claiming_at_once_never_lease_one_row_twice(postgres_url):
    """Six workers (each its own Store, so its own connections) work one outbox of four targets at
    once: every row is leased exactly once, never while another row of its target is in flight,
    and each target's rows in publication order."""
    clock = Clock()
    targets = ["m1", "m2", "b1", "b2"]
    setup = Store(postgres_url, clock=clock)
    setup.ingest("f", new=[art(n) for n in range(40)], updated=[], queue={f"g{n}": targets for n in range(40)})
    expected = {r[0] for r in setup.backend.query("SELECT id FROM outbox")}
    setup.close()
    turn = itertools.count()  # one order of claims across all workers
    leased: list[tuple[int, int, str, str, float]] = []  # (turn, row, target, owner, published)
    busy: list[str] = []  # a claimed row found another row of its target in flight
    guard = threading.Lock()
    go = threading.Barrier(6)
    failures: list[BaseException] = []

    def work(owner: str) -> None:
        store = Store(postgres_url, clock=clock)
        try:
            go.wait()
            while True:
                items = store.claim_due(owner, now=clock.now, lease_seconds=3600, limit=1)
                if not items:
                    if not store.backend.query("SELECT 1 FROM outbox WHERE state != 'sent' LIMIT 1"):
                        return
                    continue  # every target with work left is in flight elsewhere: claim again
                [item] = items
                with guard:
                    leased.append((next(turn), item.id, item.target, owner, item.article.published.timestamp()))
                in_flight = store.backend.query("SELECT COUNT(*) FROM outbox WHERE target = ? "
                                                "AND state = 'sending'", (item.target,))[0][0]
                if in_flight != 1:
                    busy.append(f"{item.target}: {in_flight} in flight")
                assert store.mark_sent(item.id, owner, Posted(str(item.id), f"https://x/{item.id}"))
        except BaseException as exc:
            failures.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures[0]
    rows = [row for _, row, *_ in leased]
    assert sorted(rows) == sorted(expected) and len(rows) == len(set(rows))  # each once, none twice
    assert busy == []
    for target in targets:  # in publication order, whichever worker took each
        published = [p for _, _, t, _, p in sorted(leased) if t == target]
        assert published == sorted(published)
    assert len({owner for *_, owner, _ in leased}) > 1  # the work was shared


def test_work_the_server_aborts_to_break_a_deadlock_is_run_again(postgres_url, caplog):
    """An editor's retry of every failed row meets another transaction locking the same rows in
    the other order: PostgreSQL aborts the retry to break the deadlock, and it is run again."""
    from tests.databases import admin
    from tests.helpers import wait_until

    store = Store(postgres_url, clock=Clock())
    store.ingest("f", new=[art(1), art(2)], updated=[], queue={"g1": ["m"], "g2": ["m"]})
    for item in store.claim_due("w", now=store._clock(), lease_seconds=60, limit=2):
        assert store.mark_failed(item.id, "w", "HTTP 422")
    other = admin(postgres_url)
    other.autocommit = False
    other.execute("SET deadlock_timeout = '60s'")  # the retry's session finds the deadlock first
    other.execute("SELECT id FROM outbox WHERE id = 2 FOR UPDATE")  # row 2 first
    done: list[int] = []
    retrying = threading.Thread(target=lambda: done.append(store.retry_failed()))  # row 1 first
    retrying.start()
    waits = "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted"
    assert wait_until(lambda: store.backend.query(waits)[0][0] == 1, timeout=30)
    other.execute("UPDATE outbox SET last_error = 'edited' WHERE id = 1")  # waits for the retry: a cycle
    other.commit()
    retrying.join(60)
    other.close()
    assert done == [2]
    assert any("aborted by a conflict" in r.getMessage() for r in caplog.records)
    assert [d.state for i in (1, 2) for d in store.deliveries(i)] == ["pending", "pending"]
    assert [[e.kind for e in store.events(i)] for i in (1, 2)] == [["failed", "requeued"]] * 2  # once each
    store.close()
