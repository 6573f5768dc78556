"""A cycle's store reads go by index: their work grows with the cycle, not with the store (figure 4).

Each read a cycle makes of the articles' life (the mirror feeds' entries, the
copies' originals and credits) is run on a SQLite store, every statement it
executes captured and EXPLAINed: none may read a whole table or a whole
state's rows of the outbox.  SQLite has no statistics here (no ANALYZE), so
the plan is the planner's choice from the query's shape and the indexes alone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from syndicate.models import Article, Source
from syndicate.store import Store
from tests.fakes import FakeClock

NOW = datetime(2024, 11, 20, 12, tzinfo=UTC)


def _store(tmp_path: Any) -> Store:
    store = Store(tmp_path / "s.db", clock=FakeClock(NOW))
    arts = [Article(feed="a", id=f"urn:a:{i}", link=f"https://a.example/{i}/", title=f"A {i}",
                    published=datetime(2024, 11, 1 + i, tzinfo=UTC),
                    source=Source(name="B", url=f"https://b.example/{i}/") if i % 2 else None)
            for i in range(6)]
    store.ingest("a", new=arts, updated=[], queue={a.id: ["mastodon"] for a in arts})
    return store


def _plans(store: Store, call: Callable[[], object]) -> list[tuple[str, list[str]]]:
    """Each statement ``call`` runs on the store's connection, with its query plan."""
    conn = store.backend._db  # type: ignore[attr-defined]  # the SQLite backend's one connection
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        call()
    finally:
        conn.set_trace_callback(None)
    selects = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert selects, "the call ran no SELECT"
    return [(s, [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + s)]) for s in selects]


def _by_index(plans: list[tuple[str, list[str]]]) -> None:
    for sql, plan in plans:
        for step in plan:
            # the mirror feeds read the newest articles in the order of articles_added (LIMIT stops it)
            scan = step.startswith("SCAN") and "USING INDEX articles_added" not in step
            assert not scan, f"{step!r} in the plan of {sql}"
            assert "outbox_leases" not in step and "outbox_queue" not in step, \
                f"{step!r}: every row of a state, in the plan of {sql}"


def test_mirror_entries_read_each_articles_outbox_rows_by_article(tmp_path):
    store = _store(tmp_path)
    entries = store.mirror_entries(4)
    assert len(entries) == 4
    _by_index(_plans(store, lambda: store.mirror_entries(4)))
    store.close()


def test_the_copies_reads_go_by_link_identity(tmp_path):
    store = _store(tmp_path)
    _by_index(_plans(store, lambda: store.originals_for(["a.example/1", "b.example/3"])))
    _by_index(_plans(store, lambda: store.crediting(["b.example/1", "b.example/3"])))
    store.close()


def test_a_feeds_missing_articles_are_read_by_feed(tmp_path):
    # unpublish_checks keeps a row for every article that ever left its feed: each read of a feed
    # must find its own missing ones from an index (step 20), not by reading the whole table
    store = _store(tmp_path)
    listed = [(f"urn:a:{i}", f"https://a.example/{i}/") for i in (0, 1, 2, 4, 5)]
    change = store.note_listing("a", listed, first_check_at=lambda _: 0.0)
    assert change.missing and not change.back
    plans = _plans(store, lambda: store.note_listing("a", listed, first_check_at=lambda _: 0.0))
    tracked = [plan for sql, plan in plans if "FROM unpublish_checks" in sql]
    assert tracked and all("INDEX unpublish_feed (feed=?" in " ".join(plan) for plan in tracked), tracked
    _by_index(plans)
    store.close()
