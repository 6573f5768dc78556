"""``Store.apply``: one read of a feed, as planned, recorded in one transaction.

The plan's values are built by hand here (``tests/test_plan.py`` tests how they are decided);
this is what the store makes of each: the articles, their outbox rows and held deliveries, the
edits, the feed's title and its row — and none of it when the transaction fails.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from syndicate.errors import StoreError
from syndicate.intent import EditedArticle, FeedPlan, FeedRecord, NewArticle, NotModified, SkippedEntry
from syndicate.models import Article
from syndicate.store import Store


class Clock:
    def __init__(self) -> None:
        self.now = 1_760_000_000.0

    def __call__(self) -> float:
        return self.now


def art(n: int, **kw: object) -> Article:
    fields: dict[str, object] = dict(feed="acr", id=f"g{n}", link=f"https://acr.example/a{n}/", title=f"Title {n}",
                                     published=datetime(2025, 10, n, tzinfo=UTC), fingerprint=f"f{n}")
    fields.update(kw)
    return Article(**fields)  # type: ignore[arg-type]


def record(**kw: object) -> FeedRecord:
    fields: dict[str, object] = dict(name="acr", url="https://acr.example/feed/", final_url=None, etag='"e1"',
                                     last_modified=None, body_hash="b1", next_fetch_at=1_760_000_900.0,
                                     seeded=True)
    fields.update(kw)
    return FeedRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "state.db", clock=Clock())
    yield s
    s.close()


def test_every_intent_is_recorded_with_the_feeds_row_and_title(store):
    store.apply(FeedPlan(record(), title="ACR", intents=(NewArticle(art(1), "none"),), first_read=True))
    assert store.feed_state("acr").seeded and store.get_meta("feed_title:acr") == "ACR"

    store._clock.now += 900
    plan = FeedPlan(record(etag='"e2"', body_hash="b2", final_url="https://acr.example/moved/"), intents=(
        NewArticle(art(2), "queued", ("masto", "bsky")),
        NewArticle(art(3), "held", ("masto",)),
        NewArticle(art(4), "none"),
        EditedArticle(1, art(1, title="Title 1 (corrected)", fingerprint="f1b")),
        SkippedEntry("g5", "https://acr.example/a5/", "unchanged"),
    ), held_reason="held: suspected feed migration")
    counts = store.apply(plan)
    assert (counts.new, counts.updated, counts.queued, counts.held) == (3, 1, 2, 1)
    assert store.count_articles() == 4
    ids = {a: store.find_article_id(a) for a in ("g1", "g2", "g3", "g4")}
    assert sorted(d.target for d in store.deliveries(ids["g2"])) == ["bsky", "masto"]
    assert [d.state for d in store.deliveries(ids["g3"])] == ["held"]
    assert store.deliveries(ids["g4"]) == [] and store.held_count("acr") == 1
    assert store.article(ids["g1"]).title == "Title 1 (corrected)"
    assert store.known("acr", [("g1", "https://acr.example/a1/")])["g1"].fingerprint == "f1b"
    state = store.feed_state("acr")
    assert (state.etag, state.body_hash, state.final_url, state.next_fetch_at, state.seeded) == (
        '"e2"', "b2", "https://acr.example/moved/", 1_760_000_900.0, True)
    assert store.get_meta("feed_title:acr") == "ACR"  # a plan without a title keeps the one stored
    assert [a.id for a in store.latest_articles(4)] == ["g4", "g3", "g2", "g1"]

    store._clock.now += 900
    store.apply(FeedPlan(record(), intents=(EditedArticle(1, art(1, published=datetime(2025, 10, 9, tzinfo=UTC)),
                                                          added_again=True),)))
    assert [a.id for a in store.latest_articles(4)] == ["g1", "g4", "g3", "g2"]  # re-published: added again


def test_a_feed_once_seeded_stays_seeded_and_an_unchanged_read_keeps_its_articles(store):
    store.apply(FeedPlan(record(), intents=(NewArticle(art(1), "queued", ("masto",)),)))
    store.apply(FeedPlan(record(seeded=False, next_fetch_at=1_760_001_800.0), status="unchanged"))
    state = store.feed_state("acr")
    assert state.seeded and state.next_fetch_at == 1_760_001_800.0 and store.count_articles() == 1


def test_nothing_of_a_plan_is_recorded_when_its_transaction_fails(store, tmp_path):
    store.apply(FeedPlan(record(), intents=(NewArticle(art(1), "none"),)))
    db = sqlite3.connect(tmp_path / "state.db")  # the feed's row, written last, is refused (a full disk)
    db.execute("CREATE TRIGGER disk_full BEFORE UPDATE ON feeds "
               "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    db.commit()
    db.close()
    plan = FeedPlan(record(body_hash="b2"), title="ACR now", intents=(
        NewArticle(art(2), "queued", ("masto",)), NewArticle(art(3), "held", ("masto",)),
        EditedArticle(1, art(1, title="Edited")),
    ), held_reason="held")
    with pytest.raises(StoreError, match="disk is full"):
        store.apply(plan)
    assert store.count_articles() == 1 and store.article(1).title == "Title 1"
    assert store.outbox_depth() == {} and store.held_count() == 0
    assert store.feed_state("acr").body_hash == "b1" and store.get_meta("feed_title:acr") is None


def test_the_304s_of_a_cycle_are_recorded_together(store):
    store.apply(FeedPlan(record(), intents=()))
    store.apply(FeedPlan(record(name="b", etag='"b1"'), intents=()))
    store._clock.now += 600
    store.record_not_modified([NotModified("acr", 1_760_002_000.0, None, "Tue", None),
                               NotModified("b", 1_760_003_000.0, '"b2"', None, "https://b.example/feed")])
    acr, b = store.feed_state("acr"), store.feed_state("b")
    assert (acr.etag, acr.last_modified, acr.next_fetch_at, acr.last_success_at) == (
        '"e1"', "Tue", 1_760_002_000.0, store._clock.now)  # a validator left out is kept
    assert (b.etag, b.final_url, b.next_fetch_at) == ('"b2"', "https://b.example/feed", 1_760_003_000.0)
