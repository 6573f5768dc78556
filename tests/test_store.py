"""The store on both backends (``state_db``): dedupe, first-run seeding, the outbox state machine."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from syndicate.errors import StoreError
from syndicate.models import Article, Posted, Source
from syndicate.store import Store, article_from_json, article_to_json
from syndicate.tid import is_tid
from tests.fakes import FakeClock


def art(n: int, **kw) -> Article:
    base = dict(feed="acr", id=f"guid-{n}", link=f"https://example.org/{n}/", title=f"Title {n}",
                published=datetime(2024, 1, n % 28 + 1, tzinfo=UTC), fingerprint=f"h{n}")
    base.update(kw)
    return Article(**base)


@pytest.fixture
def store(state_db):
    s = Store(state_db, clock=FakeClock())
    yield s
    s.close()




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
    clock = FakeClock()
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
