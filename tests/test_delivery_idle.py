"""The outbox worker with several targets (one thread each) when there is little or nothing to do.

A cycle with nothing queued for any target (a feed's 304, on a quiet day) asks no target
anything and starts no thread; a row in flight whose worker died, or one pending, is still
worked as before.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from syndicate.delivery import Deliverer
from syndicate.models import Article, PostDraft
from syndicate.retry import RetryPolicy
from syndicate.store import Store
from tests.fakes import FakeClock, ScriptedTarget


class CountedTarget(ScriptedTarget):
    """A ``ScriptedTarget`` that says which threads asked it for its rate budget."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name)
        self.budget_asked_by: list[str] = []

    def rate_budget(self):
        self.budget_asked_by.append(threading.current_thread().name)
        return super().rate_budget()


def draft_for(article, target, intro, strict_limit=None):
    return PostDraft(target=target, article_id=article.id, text=f"{article.title} {article.link}", length=10)


@pytest.fixture
def two_targets(state_db):
    clock = FakeClock()
    store = Store(state_db, clock=clock)
    targets = {"a": CountedTarget("a"), "b": CountedTarget("b")}
    # no sleep injected: each target's queue is worked in a thread of its own
    deliverer = Deliverer(store, targets, draft_for, policy=RetryPolicy(jitter=0), owner="me", clock=clock)
    yield store, targets, deliverer, clock
    store.close()


def article(i: int) -> Article:
    return Article(feed="f", id=f"g{i}", link=f"https://e.org/{i}", title=f"T{i}",
                   published=datetime(2024, 1, i + 1, tzinfo=UTC))


def test_nothing_queued_asks_no_target_anything(two_targets):
    store, targets, deliverer, _clock = two_targets
    store.ingest("f", new=[article(0)], updated=[], queue={})  # an article, seen only: no row
    threads = threading.active_count()
    assert deliverer.deliver_due() == []
    assert targets["a"].budget_asked_by == [] and targets["b"].budget_asked_by == []
    assert targets["a"].calls == [] and targets["b"].calls == []
    assert threading.active_count() == threads


def test_a_lapsed_lease_and_a_pending_row_are_worked_each_in_its_thread(two_targets):
    store, targets, deliverer, clock = two_targets
    store.ingest("f", new=[article(0), article(1)], updated=[], queue={"g0": ["a"], "g1": ["b"]})
    [taken] = store.claim_due("gone", now=clock(), lease_seconds=60, targets=["a"])  # its worker died
    clock.advance(61)
    results = deliverer.deliver_due()
    assert sorted((r.target, r.outcome) for r in results) == [("a", "sent"), ("b", "sent")]
    assert store.deliveries(taken.article_id)[0].state == "sent"
    assert len(targets["a"].posts) == 1 and len(targets["b"].posts) == 1
    assert all(name.startswith("deliver") for t in targets.values() for name in t.budget_asked_by)
