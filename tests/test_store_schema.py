"""The schema: migrations, one function per step, and the upgrade of every earlier version.

``test_every_earlier_version_upgrades_with_its_data`` builds, for each schema
version N before this code's, the database syndicate at version N made (its
steps and none later) holding the rows the code of version N wrote: only the
tables and columns it had (``write_rows`` asks the database which), under
the names they had then (``RENAMED``).  Opened with ``Store``, it must come
through whole, read back by the store's own methods, with the backfills of
the steps since: the outbox's publication date (step 3), ``added_at``
(step 4), ``first_attempt_at`` and the repair of a post two rows claimed
(step 5), the link identity (step 6), the hashes' new names (step 10,
with the articles' JSON as it was written before).

The upgrade tests run on both backends (``state_db``): every step's SQL is
proven on SQLite and on PostgreSQL, with the data and backfills.

A new step: its function in ``syndicate.store.schema``, and here its case —
the rows or columns it adds in ``rows_at``, a rename in ``RENAMED``, and
what its upgrade must show in the test.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from syndicate.errors import StoreError
from syndicate.links import link_identity
from syndicate.models import Article, Posted, StoredSession
from syndicate.store import MIGRATIONS, FeedState, Known, Store, TargetPause, article_to_json, open_backend
from syndicate.store.copy import SERIAL_TABLES, advance_serials
from syndicate.store.pacing import posted_times
from syndicate.store.schema import LATEST, migrate
from syndicate.store.sqlite import LOCKED_BACKOFF, LOCKED_RETRIES, SQLiteBackend


def art(n: int, **kw: Any) -> Article:
    base: dict[str, Any] = dict(feed="acr", id=f"guid-{n}", link=f"https://example.org/{n}/", title=f"Title {n}",
                                published=datetime(2024, 1, n % 28 + 1, tzinfo=UTC), fingerprint=f"h{n}")
    return Article(**(base | kw))


def database_at(state: Path | str, version: int) -> None:
    """The database syndicate made at schema ``version``: its steps, none of the later ones."""
    backend = open_backend(state)
    try:
        migrate(backend, to=version)
        assert backend.schema_version() == version
    finally:
        backend.close()


def columns(backend, table: str) -> set[str]:
    """The columns ``table`` has (none: no such table yet)."""
    if backend.dialect.name == "sqlite":
        return {r[1] for r in backend.query(f"PRAGMA table_info({table})")}
    return {r[0] for r in backend.query("SELECT column_name FROM information_schema.columns "
                                        "WHERE table_name = ? AND table_schema = current_schema()", (table,))}


def test_migrations_set_user_version_and_wal(tmp_path):
    s = Store(tmp_path / "s.db")
    assert s.schema_version == len(MIGRATIONS)
    assert s.backend.query("PRAGMA journal_mode")[0][0] == "wal"
    s.close()
    Store(tmp_path / "s.db").close()  # reopening migrates nothing and works


def test_newer_schema_is_refused(state_db):
    Store(state_db).close()
    backend = open_backend(state_db)
    with backend.transaction() as db:
        backend.set_schema_version(db, 99)
    backend.close()
    with pytest.raises(StoreError, match="newer than this syndicate"):
        Store(state_db)


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


def test_opening_a_new_database_another_process_is_creating_waits_for_it(tmp_path, caplog):
    """``PRAGMA journal_mode=WAL`` on a new file (still in rollback-journal mode) reads, then
    writes the header: SQLite answers "database is locked" at once, past no busy timeout, while
    another connection holds the write lock, for waiting could deadlock.  The open waits for it
    as a transaction does: backed off, one warning line, then WAL and migrated."""
    path = tmp_path / "s.db"
    path.touch(mode=0o600)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the other process, creating it, holds the write lock
    naps = []

    def nap(seconds):
        if not naps:
            other.execute("COMMIT")
        naps.append(seconds)

    store = Store(path, busy_timeout=0.05, sleep=nap)
    assert naps == [LOCKED_BACKOFF]
    assert store.schema_version == LATEST
    assert store.backend.query("PRAGMA journal_mode")[0][0] == "wal"
    assert [r.getMessage() for r in caplog.records if r.name == "syndicate.store"] == [
        "state database locked by another writer; waiting"]
    store.close()
    other.close()


def test_opening_a_database_locked_for_good_fails_in_one_line(tmp_path):
    """The lock is never released: the open gives up after ``LOCKED_RETRIES`` backoffs, saying so."""
    path = tmp_path / "s.db"
    path.touch(mode=0o600)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    naps: list[float] = []
    with pytest.raises(StoreError) as raised:
        Store(path, busy_timeout=0.05, sleep=naps.append)
    assert str(raised.value) == f"state database {path}: database is locked"
    assert len(naps) == LOCKED_RETRIES
    other.close()


def test_migrations_on_postgresql_wait_for_the_other_migrator(postgres_url):
    """Another process holds the migration's advisory lock, half way through: this one waits for
    it, then reads the version inside its own transaction and applies only the steps left."""
    import threading

    from tests.helpers import wait_until

    other = open_backend(postgres_url)
    step = other.migrating()
    db = step.__enter__()  # the advisory lock, held
    MIGRATIONS[0](db)
    other.set_schema_version(db, 1)  # not committed yet: the other process still reads 0
    opened: list = []
    opener = threading.Thread(target=lambda: opened.append(Store(postgres_url)))
    opener.start()
    waiting = "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    assert wait_until(lambda: other.query(waiting)[0][0] == 1, timeout=30)  # blocked on the lock
    step.__exit__(None, None, None)  # COMMIT: step 1 done by the other
    opener.join(30)
    [store] = opened
    assert store.schema_version == len(MIGRATIONS)
    assert [r[0] for r in store.backend.query("SELECT COUNT(*) FROM outbox")] == [0]
    store.close()
    other.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_processes_opening_a_new_database_at_once_both_succeed(tmp_path, backend, request):
    import subprocess
    import sys

    code = ("import sys; from syndicate.store import Store\n"
            "sys.stdin.read(1)\n"  # wait for the word go, given to every process at once
            "Store(sys.argv[1]).close()")
    for round_ in range(3):
        state = (str(tmp_path / f"s{round_}.db") if backend == "sqlite"
                 else request.getfixturevalue("postgres_databases").new())
        procs = [subprocess.Popen([sys.executable, "-c", code, state], stdin=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
        for proc in procs:
            proc.stdin.write("g")
            proc.stdin.flush()
        errors = [proc.communicate(timeout=60)[1] for proc in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], errors
        store = Store(state)
        assert store.schema_version == len(MIGRATIONS)
        store.close()


def test_migration_4_upgrades_a_store_that_recorded_one_post_for_two_rows(tmp_path):
    path = tmp_path / "old.db"
    database_at(path, 3)
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


def test_migration_takes_added_at_from_first_seen(tmp_path):
    path = tmp_path / "old.db"
    database_at(path, 3)
    db = sqlite3.connect(path)
    old_row = ('{"feed":"a","id":"urn:x","link":"https://a.example/x/","title":"X",'
               '"published":"2021-03-02T00:00:00+00:00","categories":[]}')  # written before image_alt & co
    for n, seen in ((1, 100.0), (2, 300.0), (3, 200.0)):
        db.execute("INSERT INTO articles (feed, guid, link, title, published, content_hash, data, first_seen_at) "
                   "VALUES ('a', ?, ?, 'X', 0, '', ?, ?)", (f"urn:{n}", f"https://a.example/{n}/",
                                                            old_row.replace("urn:x", f"urn:{n}"), seen))
    db.commit()
    db.close()
    store = Store(path)
    assert store.schema_version >= 4
    latest = store.latest_articles(3)
    assert [a.id for a in latest] == ["urn:2", "urn:3", "urn:1"]
    assert latest[0].image_alt is None and latest[0].date_only is False and latest[0].rights is None
    store.close()


def test_the_identity_of_articles_recorded_before_the_upgrade_is_backfilled(tmp_path):
    """A state written by the previous schema: its links get their identity on upgrade."""
    path = tmp_path / "old.db"
    database_at(path, 3)  # the schema before link identity
    db = sqlite3.connect(path)
    db.execute("INSERT INTO articles (feed, guid, link, title, published, content_hash, data, "
               "first_seen_at) VALUES ('acr', 'g1', 'http://www.acr.example/a1/', 'T', 0, 'h', '{}', 0)")
    db.commit()
    db.close()
    store = Store(path)
    known = store.known("acr", [("https://acr.example/?p=1", "https://acr.example/a1")])
    assert list(known) == ["https://acr.example/?p=1"] and known["https://acr.example/?p=1"].guid == "g1"
    store.close()


# --- every earlier version, with its data ------------------------------------------------------------

# Names a later step gave a column: {(table, name now): (the step that renamed it, the name before)}.
RENAMED: dict[tuple[str, str], tuple[int, str]] = {
    ("feeds", "body_hash"): (10, "content_hash"),
    ("articles", "fingerprint"): (10, "content_hash"),
}


def article_json_at(article: Article, version: int) -> str:
    """An article's JSON as the code of ``version`` wrote it (the fingerprint was content_hash before 10)."""
    data = json.loads(article_to_json(article))
    if version < 10:
        data["content_hash"] = data.pop("fingerprint")
    return json.dumps(data)

ARTICLES = {  # id: the article; its row says first seen at 100, 300, 200 (the output feed's order)
    1: Article(feed="acr", id="g1", link="http://www.acr.example/one/", title="One",
               published=datetime(2024, 1, 2, tzinfo=UTC), feed_published=datetime(2024, 1, 2, tzinfo=UTC),
               standfirst="The first.", fingerprint="f1"),
    2: Article(feed="acr", id="g2", link="https://acr.example/two/", title="Two",
               published=datetime(2024, 1, 1, tzinfo=UTC), categories=("Books",), fingerprint="f2"),
    3: Article(feed="acr", id="g3", link="https://acr.example/three/", title="Three",
               published=datetime(2023, 12, 1, tzinfo=UTC), author="Ian Parker", fingerprint="f3"),
}
FIRST_SEEN = {1: 100.0, 2: 300.0, 3: 200.0}


def rows_at(version: int) -> dict[str, list[dict[str, Any]]]:
    """What syndicate at schema ``version`` wrote, by table, in today's column names.

    Columns a version did not have are left out by ``write_rows``; what differs by version
    is spelled here.
    """
    feeds = [
        dict(name="acr", url="https://acr.example/feed/", final_url="https://acr.example/feed", etag='"e1"',
             last_modified="Mon, 01 Jan 2024 00:00:00 GMT", body_hash="b1", seeded=1, last_fetch_at=400.0,
             last_success_at=400.0, next_fetch_at=1300.0, error_count=0, last_error=None),
        dict(name="rp", url="https://rp.example/feed/", final_url=None, etag=None, last_modified=None,
             body_hash=None, seeded=0, last_fetch_at=410.0, last_success_at=None, next_fetch_at=530.0,
             error_count=2, last_error="HTTP 503"),
    ]
    articles = [
        dict(id=n, feed=a.feed, guid=a.id, link=a.link, ident=link_identity(a.link), title=a.title,
             published=a.published.timestamp(), fingerprint=a.fingerprint, data=article_json_at(a, version),
             first_seen_at=FIRST_SEEN[n], added_at=FIRST_SEEN[n], updated_at=None)
        for n, a in ARTICLES.items()
    ]
    published = {n: a.published.timestamp() for n, a in ARTICLES.items()}
    row = dict(seq=0, state="pending", intro=None, requested_by=None, attempts=0, lease_owner=None,
               leased_until=None, remote_id=None, remote_url=None, sent_at=None, last_error=None,
               out_of_line=0, first_attempt_at=None, strict_limit=None)
    # Before step 5 an old reconciliation could record one post for two rows (row 4 took row 3's):
    # step 5 fails the younger.  From step 5 on, row 4 has its own post.
    shared = version < 5
    outbox = [
        row | dict(id=1, article_id=1, target="m", key="k1", created_at=100.0, next_attempt_at=100.0),
        row | dict(id=2, article_id=2, target="m", key="k2", created_at=300.0, next_attempt_at=300.0),
        row | dict(id=3, article_id=3, target="m", key="k3", state="sent", attempts=1, created_at=200.0,
                   next_attempt_at=200.0, remote_id="9", remote_url="https://m.example/@a/9", sent_at=210.0),
        row | dict(id=4, article_id=3, target="m", seq=1, key="k4", state="sent", attempts=1,
                   intro="From our archive:", requested_by="sam", created_at=350.0, next_attempt_at=350.0,
                   remote_id="9" if shared else "10",
                   remote_url="https://m.example/@a/9" if shared else "https://m.example/@a/10",
                   sent_at=360.0),
        # tried twice, the last time 503: it may have landed.  From step 5 on, begin_attempt noted when.
        row | dict(id=5, article_id=3, target="b", key="k5", attempts=2, created_at=200.0, next_attempt_at=500.0,
                   last_error="HTTP 503", out_of_line=1, first_attempt_at=205.0, strict_limit=280),
    ]
    for r in outbox:
        r["published"] = published[r["article_id"]]
    return {
        "feeds": feeds,
        "articles": articles,
        "outbox": outbox,
        "outbox_events": [
            dict(id=1, outbox_id=3, at=205.0, kind="attempt", detail="try 1", data='{"text": "Three"}'),
            dict(id=2, outbox_id=3, at=210.0, kind="sent", detail="https://m.example/@a/9", data=None),
            dict(id=3, outbox_id=4, at=350.0, kind="queued", detail="repost requested by sam", data=None),
        ],
        "sessions": [dict(target="b", data='{"accessJwt": "a"}', service="https://pds.example",
                          handle="a.test", updated_at=100.0)],
        "meta": [dict(key="last_cycle_at", value="400.0"), dict(key="feed_title:acr", value="ACR")],
        "held": [dict(article_id=2, target="b", feed="acr", held_at=300.0, reason="held: suspected feed migration")],
        "filtered": [dict(article_id=1, target="b", filtered_at=100.0, reason="excluded by category 'Internal'")],
        "targets": [dict(name="b", paused_since=400.0, reason="logging in: HTTP 401", fix="SYNDICATE_BLUESKY_APP_PASSWORD",
                         next_check_at=700.0),
                    dict(name="m", paused_since=None, reason=None, fix=None, next_check_at=None)],
    }


def write_rows(state: Path | str, version: int) -> None:
    """Write ``rows_at(version)`` into the database at ``version``, as that version's code did: only
    the tables and columns it had, under the names they had then."""
    backend = open_backend(state)
    try:
        had = {table: columns(backend, table) for table in rows_at(version)}
        with backend.transaction() as db:
            for table, rows in rows_at(version).items():
                for row in rows:
                    values = {}
                    for name, value in row.items():
                        step, before = RENAMED.get((table, name), (0, name))
                        name = before if version < step else name
                        if name in had[table]:
                            values[name] = value
                    if values:
                        db.execute(f"INSERT INTO {table} ({', '.join(values)}) "
                                   f"VALUES ({', '.join('?' * len(values))})", list(values.values()))
            advance_serials(db, [t for t in SERIAL_TABLES if had.get(t)])  # rows came with their ids
    finally:
        backend.close()


@pytest.mark.parametrize("version", range(1, LATEST))
def test_every_earlier_version_upgrades_with_its_data(state_db, version):
    database_at(state_db, version)
    write_rows(state_db, version)
    store = Store(state_db)
    assert store.schema_version == LATEST

    # feeds, sessions, meta: every version had them
    assert store.feed_states() == [
        FeedState("acr", "https://acr.example/feed/", "https://acr.example/feed", '"e1"',
                  "Mon, 01 Jan 2024 00:00:00 GMT", "b1", True, 400.0, 400.0, 1300.0, 0, None),
        FeedState("rp", "https://rp.example/feed/", None, None, None, None, False, 410.0, None, 530.0, 2,
                  "HTTP 503"),
    ]
    owner = ("https://pds.example", "a.test") if version >= 8 else (None, None)  # step 8: never trusted
    assert store.load_session("b") == StoredSession('{"accessJwt": "a"}', *owner)
    assert (store.get_meta("last_cycle_at"), store.get_meta("feed_title:acr")) == ("400.0", "ACR")

    # articles: read back whole, known by guid and by their link's identity (backfilled at 6),
    # the output feed's order from when each was first seen (added_at, backfilled at 4)
    assert [store.article(n) for n in ARTICLES] == list(ARTICLES.values())
    known = store.known("acr", [("g2", "https://acr.example/two/"), ("moved", "https://acr.example/one")])
    assert known == {"g2": Known(2, "g2", "f2", "acr"), "moved": Known(1, "g1", "f1", "acr")}
    assert [a.id for a in store.latest_articles(3)] == ["g2", "g3", "g1"]

    # the outbox: each target's queue in publication order (outbox.published, backfilled at 3);
    # the row tried before may have landed (first_attempt_at, backfilled at 5: since it was queued)
    b5, m3, m4 = store.deliveries(3)
    assert (m3.state, m3.remote_url, m3.requested_by) == ("sent", "https://m.example/@a/9", None)
    if version < 5:  # step 5 repaired the post two rows claimed: the younger row failed, to retry
        assert (m4.state, m4.remote_url, m4.requested_by) == ("failed", None, "sam")
        assert m4.last_error == ("was recorded with the post of an older row (https://m.example/@a/9), "
                                 "so it was never posted: retry it to post it")
        assert [e.kind for e in m4.history] == ["failed"] and m3.history == ()
    else:
        assert (m4.state, m4.remote_url, m4.requested_by) == ("sent", "https://m.example/@a/10", "sam")
        assert [e.kind for e in m4.history] == ["queued"] and [e.kind for e in m3.history] == ["attempt", "sent"]
        assert store.attempted_texts(3) == ["Three"]
    assert (b5.state, b5.attempts, b5.last_error) == ("pending", 2, "HTTP 503")
    assert [d.state for d in store.deliveries(2)] == (["held", "pending"] if version >= 7 else ["pending"])
    # filtered deliveries (step 15): shown with their reason; none before (the table is new, and empty)
    assert [(d.state, d.last_error) for d in store.deliveries(1)] == (
        [("filtered", "excluded by category 'Internal'")] if version >= 15 else []) + [("pending", None)]
    with store.backend.read() as db:  # pacing counts the posts made before the upgrade (13: by time)
        assert posted_times(db, "m", 400.0) == ([210.0, 360.0] if version >= 5 else [210.0])  # 5 failed 4
    claimed = store.claim_due("w", now=1000.0, lease_seconds=60, limit=10)
    assert [(i.id, i.target) for i in claimed] == [(5, "b"), (2, "m"), (1, "m")]  # 2023-12-01, then 2024-01-01, -02
    item5 = claimed[0]
    assert item5.may_have_landed and item5.first_attempt_at == (205.0 if version >= 5 else 200.0)
    assert item5.strict_limit == (280 if version >= 5 else None)
    assert item5.article == ARTICLES[3] and (claimed[2].intro, claimed[2].requested_by) == (None, None)
    out_of_line = store.backend.query("SELECT out_of_line FROM outbox WHERE id = 5")[0][0]
    assert out_of_line == (1 if version >= 2 else 0)
    with pytest.raises(StoreError, match="already recorded for another outbox row"):  # one post, one row
        store.mark_sent(2, "w", Posted("9", "https://m.example/@a/9"))

    # held deliveries (7) and paused targets (9)
    assert store.held_feeds() == ({"acr": 1} if version >= 7 else {})
    pauses = {"b": TargetPause("b", 400.0, "logging in: HTTP 401", "SYNDICATE_BLUESKY_APP_PASSWORD", 700.0)}
    assert store.paused_targets() == (pauses if version >= 9 else {})
    assert store.target_names() == (["b", "m"] if version >= 9 else [])
    store.close()


def test_an_empty_database_file_is_made_at_the_latest_version(state_db):
    """Version 0: the file (or database) is there (an earlier start was stopped before it wrote),
    no schema yet."""
    database_at(state_db, 0)
    store = Store(state_db, clock=lambda: 900.0)
    assert store.schema_version == LATEST == len(MIGRATIONS)
    store.ingest("acr", new=[ARTICLES[1]], updated=[], queue={"g1": ["m"]})
    assert [i.article for i in store.claim_due("w", now=1000.0, lease_seconds=60)] == [ARTICLES[1]]
    store.close()


def test_every_step_is_a_function_named_for_its_number():
    assert [step.__name__.split("_")[1] for step in MIGRATIONS] == [str(n) for n in range(1, LATEST + 1)]
    assert all(step.__doc__ for step in MIGRATIONS)


def test_the_target_budgets_step_starts_every_target_unpaced(state_db):
    """The budgets table (issue 14, item 3) is new: an upgraded state paces no target until its
    server speaks, and a budget written is read back by any worker."""
    from syndicate.store.schema import step_12_target_budgets

    version = MIGRATIONS.index(step_12_target_budgets)  # the version just before the step
    database_at(state_db, version)
    write_rows(state_db, version)
    store = Store(state_db, clock=lambda: 1000.0)
    assert store.target_budgets() == []
    assert [i.id for i in store.claim_due("w", now=1000.0, lease_seconds=60, limit=10)] == [5, 2, 1]
    store.record_budget("m", (0, datetime.fromtimestamp(1600.0, UTC)))
    other = Store(state_db)
    assert [(b.target, b.remaining, b.reset_at) for b in other.target_budgets()] == [("m", 0, 1600.0)]
    other.close()
    store.close()


def test_the_feed_claims_step_leaves_every_feed_unclaimed(state_db):
    """The feeds' poll leases (issue 14, item 2) are new: an upgraded state has no poll claimed,
    and a due feed is claimed by the first worker that asks."""
    from syndicate.store.schema import step_13_feed_claims

    version = MIGRATIONS.index(step_13_feed_claims)
    database_at(state_db, version)
    write_rows(state_db, version)
    store = Store(state_db)
    assert [tuple(r) for r in store.backend.query("SELECT lease_owner, leased_until FROM feeds")] == [
        (None, None), (None, None)]
    wanted = [("acr", "https://acr.example/feed/"), ("rp", "https://rp.example/feed/")]
    assert store.claim_feeds("w1", wanted, now=1000.0, lease_seconds=60) == ["rp"]  # acr is due at 1300
    assert store.claim_feeds("w2", wanted, now=1000.0, lease_seconds=60, due_only=False) == ["acr"]
    store.close()


def test_the_mirror_files_step_starts_with_no_published_feed(state_db):
    """The published mirror feeds (issue 14, item 4) are new: an upgraded state has none, and
    bytes saved are read back whole, with their ETag, by any worker."""
    from syndicate.store.schema import step_14_mirror_files

    version = MIGRATIONS.index(step_14_mirror_files)
    database_at(state_db, version)
    write_rows(state_db, version)
    store = Store(state_db, clock=lambda: 1000.0)
    assert store.mirror_stamps() == {}
    data = bytes(range(256)) + "é".encode()
    with store.rebuilding_mirror() as mirror:
        assert mirror.old == {}
        mirror.save("feed.xml", data)
    other = Store(state_db)
    published = other.mirror_file("feed.xml")
    assert (published.data, published.updated_at) == (data, 1000.0) and published.etag.startswith('"')
    other.close()
    store.close()


def test_the_operations_step_makes_every_earlier_row_a_post(state_db):
    """Edit and delete rows (issue 15) are new: every row an upgraded state holds is a ``post``,
    of no other row, its post not deleted; a delete asked for after the upgrade acts on it."""
    from syndicate.store.schema import step_17_operations

    version = MIGRATIONS.index(step_17_operations)
    database_at(state_db, version)
    write_rows(state_db, version)
    store = Store(state_db, clock=lambda: 2000.0)
    rows = [tuple(r) for r in store.backend.query("SELECT op, of_row, policy, deleted_at FROM outbox")]
    assert rows and set(rows) == {("post", None, None, None)}
    sent = store.backend.query("SELECT article_id, target FROM outbox WHERE state = 'sent' AND op = 'post' "
                               "AND remote_id IS NOT NULL ORDER BY id LIMIT 1")
    if sent:
        article_id, target = sent[0]
        done = store.request_delete(article_id, [target], requested_by="upgrade test")
        assert done.queued == (target,)
        assert store.request_delete(article_id, [target], requested_by="again").already == (target,)
    store.close()


def test_the_article_life_step_backfills_the_credits_and_starts_with_nothing_gone(state_db):
    """Step 18 (issue 15 item 3, issue 17 item 2): the source each stored article credits by its link
    is backfilled, so an original arriving after the upgrade finds the copies that came before it;
    nothing is gone at source or a copy yet."""
    from syndicate.models import Source
    from syndicate.store.schema import step_18_article_life

    version = MIGRATIONS.index(step_18_article_life)  # the version just before the step
    database_at(state_db, version)
    write_rows(state_db, version)
    copy = Article(feed="essf", id="e1", link="https://essf.example/?article=1", title="One",
                   published=datetime(2024, 1, 3, tzinfo=UTC), fingerprint="fe",
                   source=Source("ACR", "https://acr.example/later/"))
    backend = open_backend(state_db)
    try:
        with backend.transaction() as db:
            db.execute("INSERT INTO articles (id, feed, guid, link, ident, title, published, fingerprint, data, "
                       "first_seen_at, added_at) VALUES (9, 'essf', 'e1', ?, ?, 'One', 0, 'fe', ?, 500, 500)",
                       (copy.link, link_identity(copy.link), article_to_json(copy)))
    finally:
        backend.close()
    store = Store(state_db)
    try:
        [found] = store.crediting([link_identity("https://acr.example/later")])["acr.example/later"]
        assert (found.article_id, found.posted) == (9, False)
        assert store.gone() == {} and store.copies_of([1, 2, 3, 9]) == {}
        assert [e.article.id for e in store.mirror_entries(10)] == ["e1", "g2", "g3", "g1"]
    finally:
        store.close()


def test_copy_state_copies_every_table_the_schema_makes(tmp_path):
    """A table a step adds is copied by ``copy-state`` too (``store.copy.TABLES``)."""
    from syndicate.store.copy import TABLES

    store = Store(tmp_path / "s.db")
    try:
        made = {r[0] for r in store.backend.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
    finally:
        store.close()
    assert made == {table for table, _ in TABLES}
