"""The SQLite store: migrations, dedupe, first-run seeding, the outbox state machine."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from syndicate.errors import StoreError
from syndicate.models import Article, Posted, Source
from syndicate.store import MIGRATIONS, Store, article_from_json, article_to_json
from syndicate.store.schema import migrate
from syndicate.store.sqlite import SQLiteBackend
from syndicate.tid import is_tid


def art(n: int, **kw) -> Article:
    base = dict(feed="acr", id=f"guid-{n}", link=f"https://example.org/{n}/", title=f"Title {n}",
                published=datetime(2024, 1, n % 28 + 1, tzinfo=UTC), content_hash=f"h{n}")
    base.update(kw)
    return Article(**base)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "state.db", clock=Clock())
    yield s
    s.close()


def test_migrations_set_user_version_and_wal(tmp_path):
    s = Store(tmp_path / "s.db")
    assert s.schema_version == len(MIGRATIONS)
    assert s.backend.query("PRAGMA journal_mode")[0][0] == "wal"
    s.close()
    Store(tmp_path / "s.db").close()  # reopening migrates nothing and works


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "s.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StoreError, match="newer than this syndicate"):
        Store(path)


def test_unreadable_database_is_a_store_error(tmp_path):
    path = tmp_path / "bad.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="bad.db"):
        Store(path)


def test_article_json_round_trip():
    a = art(1, author="Ian Parker", categories=("Communism", "Books"),
            source=Source("Red Pepper", "https://redpepper.org.uk/x", datetime(2023, 3, 3, tzinfo=UTC)),
            feed_published=datetime(2023, 3, 5, tzinfo=UTC), standfirst="Lead ’quoted’ ✊🏽")
    assert article_from_json(article_to_json(a)) == a


def test_known_by_guid_or_by_link(store):
    store.ingest("acr", new=[art(1), art(2)], updated=[], queue={})
    known = store.known("acr", [("guid-1", "https://example.org/1/"),
                                ("changed-guid", "https://example.org/2/"),
                                ("guid-3", "https://example.org/3/")])
    assert set(known) == {"guid-1", "changed-guid"}
    assert known["changed-guid"].guid == "guid-2"


def test_ingest_enqueues_one_row_per_target_with_a_tid_key(store):
    counts = store.ingest("acr", new=[art(1), art(2)], updated=[], queue={"guid-1": ["m", "b"]})
    assert counts.queued == 2
    items = store.claim_due("w1", now=store._clock(), lease_seconds=60, limit=10)
    assert sorted(i.target for i in items) == ["b", "m"]
    assert all(is_tid(i.key) for i in items) and len({i.key for i in items}) == 2
    assert store.ingest("acr", new=[art(1)], updated=[], queue={"guid-1": ["m"]}).queued == 0


def test_outbox_lease_sent_and_no_second_claim(store):
    store.ingest("acr", new=[art(1)], updated=[], queue={"guid-1": ["m"]})
    now = store._clock()
    [item] = store.claim_due("w1", now=now, lease_seconds=60)
    assert not item.may_have_landed and item.first_attempt_at is None
    assert store.claim_due("w2", now=now, lease_seconds=60) == []  # leased
    assert store.mark_sent(item.id, "w1", Posted("123", "https://m.example/@a/123"))
    assert store.claim_due("w2", now=now + 3600, lease_seconds=60) == []
    [d] = store.deliveries(item.article_id)
    assert (d.state, d.remote_url) == ("sent", "https://m.example/@a/123")


def test_expired_lease_is_reclaimed_with_the_same_key(store):
    store.ingest("acr", new=[art(1)], updated=[], queue={"guid-1": ["m"]})
    now = store._clock()
    [first] = store.claim_due("crashed", now=now, lease_seconds=60)
    [again] = store.claim_due("w2", now=now + 61, lease_seconds=60)
    assert again.key == first.key and again.attempts == 2
    assert not again.may_have_landed  # "crashed" died before sending anything
    assert store.release(again.id, "w2")
    [first] = store.claim_due("crashed", now=now + 61, lease_seconds=60)
    assert store.begin_attempt(first.id, "crashed", now=now + 61, lease_seconds=60, text="the post")
    [again] = store.claim_due("w2", now=now + 122, lease_seconds=60)
    assert again.may_have_landed and again.first_attempt_at == now + 61  # this time a request may have left
    assert store.attempted_texts(again.id) == ["the post"]
    assert not store.begin_attempt(first.id, "crashed", now=now + 122, lease_seconds=60, text="x")
    assert not store.mark_sent(first.id, "crashed", Posted("1", "u"))  # the old owner lost it
    assert store.mark_sent(again.id, "w2", Posted("1", "u"))


def test_reschedule_fail_retry_and_release(store):
    store.ingest("acr", new=[art(1), art(2)], updated=[], queue={"guid-1": ["m"], "guid-2": ["m"]})
    now = store._clock()
    a, b = store.claim_due("w", now=now, lease_seconds=60, limit=2)
    assert store.begin_attempt(a.id, "w", now=now, lease_seconds=60, text="a")
    assert store.reschedule(a.id, "w", now + 300, "HTTP 503")
    assert store.mark_failed(b.id, "w", "HTTP 422: too long")
    assert store.claim_due("w", now=now + 299, lease_seconds=60) == []
    [due] = store.claim_due("w", now=now + 300, lease_seconds=60)
    assert due.id == a.id and due.may_have_landed
    assert [e.kind for e in store.events(a.id)] == ["attempt", "postponed"]
    assert store.release(due.id, "w")
    assert store.retry_failed() == 1
    assert {i.id for i in store.claim_due("w", now=now + 301, lease_seconds=60, limit=5)} == {a.id, b.id}


def test_due_rows_go_oldest_article_first(store):
    old = art(1, published=datetime(2020, 1, 1, tzinfo=UTC))
    new = art(2, published=datetime(2024, 1, 1, tzinfo=UTC))
    store.ingest("acr", new=[new, old], updated=[], queue={"guid-1": ["m"], "guid-2": ["m"]})
    items = store.claim_due("w", now=store._clock(), lease_seconds=60, limit=2)
    assert [i.article.id for i in items] == ["guid-1", "guid-2"]


def test_repost_adds_a_new_row_with_who_asked(store):
    store.ingest("acr", new=[art(1)], updated=[], queue={"guid-1": ["m"]})
    article_id = store.find_article_id("guid-1")
    assert store.queue_repost(article_id, ["m"], requested_by="editor", intro="Still relevant") == ["m"]
    rows = store.deliveries(article_id)
    assert [(r.seq, r.requested_by) for r in rows] == [(0, None), (1, "editor")]


def test_update_keeps_the_row_and_does_not_enqueue(store):
    store.ingest("acr", new=[art(1)], updated=[], queue={})
    article_id = store.find_article_id("https://example.org/1/")
    counts = store.ingest("acr", new=[], updated=[(article_id, art(1, title="Edited"))], queue={})
    assert counts.updated == 1 and counts.queued == 0
    assert store.article(article_id).title == "Edited"
    assert store.deliveries(article_id) == []


def test_sessions_and_meta(store):
    from syndicate.models import StoredSession

    assert store.load_session("b") is None
    store.save_session("b", StoredSession("s1", "https://pds.example", "a.test"))
    store.save_session("b", StoredSession("s2", "https://other.example", "a.test"))
    assert store.load_session("b") == StoredSession("s2", "https://other.example", "a.test")
    store.set_meta("k", "v")
    assert store.get_meta("k") == "v"


# --- "database is locked" (issue 11, item 8) ------------------------------------------------------


def test_a_locked_database_is_waited_for_and_mark_sent_is_not_lost(tmp_path):
    path = tmp_path / "s.db"
    clock = Clock()
    blocker = sqlite3.connect(path, isolation_level=None)
    released = []

    def nap(seconds):  # the store backs off; meanwhile the other writer finishes
        if not released:
            blocker.execute("COMMIT")
            released.append(seconds)

    store = Store(path, clock=clock, busy_timeout=0.05, sleep=nap)
    store.ingest("acr", new=[art(1)], updated=[], queue={"guid-1": ["m"]})
    [item] = store.claim_due("w", now=clock.now, lease_seconds=60)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock past the busy timeout
    assert store.mark_sent(item.id, "w", Posted("1", "https://m.example/1"))
    assert released and store.deliveries(1)[0].state == "sent"
    store.close()
    blocker.close()


def test_migrations_read_the_version_inside_the_write_transaction(tmp_path):
    """Another process is migrating the new database when this one opens it: both succeed."""
    path = tmp_path / "s.db"
    other = SQLiteBackend(path)
    step = other.migrating()
    db = step.__enter__()  # BEGIN IMMEDIATE
    MIGRATIONS[0](db)
    other.set_schema_version(db, 1)  # not committed yet: this process still reads 0
    committed = []

    def nap(seconds):
        if not committed:
            step.__exit__(None, None, None)  # COMMIT
            committed.append(seconds)

    store = Store(path, busy_timeout=0.05, sleep=nap)
    assert store.schema_version == len(MIGRATIONS)
    store.close()
    other.close()


def test_two_processes_opening_a_new_database_at_once_both_succeed(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from syndicate.store import Store\n"
            "sys.stdin.read(1)\n"  # wait for the word go, given to every process at once
            "Store(sys.argv[1]).close()")
    for round_ in range(3):
        path = tmp_path / f"s{round_}.db"
        procs = [subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
        for proc in procs:
            proc.stdin.write("g")
            proc.stdin.flush()
        errors = [proc.communicate(timeout=60)[1] for proc in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], errors
        assert Store(path).schema_version == len(MIGRATIONS)


def test_migration_4_upgrades_a_store_that_recorded_one_post_for_two_rows(tmp_path):
    path = tmp_path / "old.db"
    migrate(SQLiteBackend(path), to=3)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("INSERT INTO articles (id, feed, guid, link, title, published, content_hash, data, first_seen_at) "
               "VALUES (1, 'acr', 'g', 'https://e.org/1', 'T', 0, 'h', ?, 0)", (article_to_json(art(1)),))
    rows = [  # (id, seq, key, state, attempts, remote_id, remote_url)
        (1, 0, "k1", "sent", 1, "9", "https://m.example/9"),
        (2, 1, "k2", "sent", 5, "9", "https://m.example/9"),  # an old reconciliation took row 1's post
        (3, 2, "k3", "pending", 2, None, None),  # tried before: it may have landed
        (4, 3, "k4", "pending", 0, None, None),
    ]
    for row in rows:
        db.execute("INSERT INTO outbox (id, article_id, target, seq, key, state, attempts, remote_id, remote_url, "
                   "created_at, next_attempt_at) VALUES (?, 1, 'm', ?, ?, ?, ?, ?, ?, 100, 100)", row)
    db.close()
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    one, two, three, four = store.deliveries(1)
    assert (one.state, one.remote_url) == ("sent", "https://m.example/9")
    assert (two.state, two.remote_url) == ("failed", None)
    assert "recorded with the post of an older row (https://m.example/9)" in two.last_error
    assert [e.kind for e in two.history] == ["failed"]
    [item3, item4] = store.claim_due("w", now=200, lease_seconds=60, limit=2)
    assert (item3.may_have_landed, item3.first_attempt_at, item4.may_have_landed) == (True, 100, False)
    with pytest.raises(StoreError, match="already recorded for another outbox row"):
        store.mark_sent(item3.id, "w", Posted("9", "https://m.example/9"))
    store.close()


def test_a_long_queue_is_walked_past_one_batch_in_order(store):
    """Rows out of line (and reposts, which share their article's date) are walked past, in
    batches, to the first row in line: it alone holds back the rows behind it."""
    same_day = datetime(2024, 1, 1, tzinfo=UTC)
    store.ingest("acr", new=[art(n, published=same_day) for n in range(1, 13)], updated=[],
                 queue={f"guid-{n}": ["m"] for n in range(1, 13)})
    now = store._clock()
    items = store.claim_due("w", now=now, lease_seconds=60, limit=11)
    assert [i.article.id for i in items] == [f"guid-{n}" for n in range(1, 12)]  # queue order: by id
    for n, item in enumerate(items[:10], start=1):  # ten rows wait for a retry, out of line
        assert store.reschedule(item.id, "w", now + 1000 + n, "HTTP 503")
        store.set_out_of_line(item.id)
    assert store.reschedule(items[10].id, "w", now + 500, "HTTP 503")  # the eleventh waits in line
    assert store.next_due_at(["m"]) == now + 500  # guid-12 (due now) waits behind guid-11
    assert store.claim_due("w", now=now, lease_seconds=60) == []
    assert [i.article.id for i in store.claim_due("w", now=now + 500, lease_seconds=60, limit=5)] == [
        "guid-11", "guid-12"]
