"""The outbox worker's state machine, with a scripted in-process target.

The platform adapters have their own tests against the loopback Mastodon
server and the real PDS; here the target is a plain object so every branch
of lease → reconcile → deliver → record is exercised exactly.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime

import pytest

from syndicate.delivery import Deliverer
from syndicate.errors import AuthError, PermanentError, RateLimited, TransientError
from syndicate.models import Article, PostDraft, Posted
from syndicate.retry import RetryPolicy
from syndicate.store import Store
from tests.fakes import FakeClock, Landed, ScriptedTarget


def draft_for(article, target, intro, strict_limit=None):
    return PostDraft(target=target, article_id=article.id, text=f"{article.title} {article.link}", length=10)


_opened: list[Store] = []


def open_store(state_db, clock) -> Store:
    store = Store(state_db, clock=clock)
    _opened.append(store)
    return store


@pytest.fixture(autouse=True)
def _close_stores():
    yield
    while _opened:
        _opened.pop().close()


def setup(state_db, script=(), n=1, policy=None):
    t = FakeClock()
    store = open_store(state_db, t)
    arts = [Article(feed="f", id=f"g{i}", link=f"https://e.org/{i}", title=f"T{i}",
                    published=datetime(2024, 1, i + 1, tzinfo=UTC)) for i in range(n)]
    store.ingest("f", new=arts, updated=[], queue={a.id: ["t"] for a in arts})
    target = ScriptedTarget(script)
    d = Deliverer(store, {"t": target}, draft_for, policy=policy or RetryPolicy(jitter=0),
                  owner="me", sleep=t.sleep, clock=t)
    return store, target, d, t


def state(store, n=1):
    return [store.deliveries(i + 1)[0] for i in range(n)]


def test_success_records_remote_post(state_db):
    store, target, d, _ = setup(state_db)
    [r] = d.deliver_due()
    assert r.outcome == "sent"
    [row] = state(store)
    assert row.state == "sent" and row.remote_url == r.url and len(target.posts) == 1


def test_three_503_then_success_posts_once(state_db):
    store, target, d, t = setup(state_db, [TransientError("HTTP 503")] * 3)
    [r] = d.deliver_due()
    assert r.outcome == "sent" and t.sleeps == [2, 4, 8] and len(target.posts) == 1


def test_permanent_error_fails_at_once_naming_article_and_target(state_db):
    store, target, d, t = setup(state_db, [PermanentError("HTTP 422: Validation failed")])
    [r] = d.deliver_due()
    assert r.outcome == "failed" and t.sleeps == []
    [row] = state(store)
    assert row.state == "failed"
    assert row.last_error == "target t, article https://e.org/0: HTTP 422: Validation failed"


def test_auth_error_pauses_the_target_and_gives_the_row_back_untried(state_db):
    store, target, d, t = setup(state_db, [AuthError("HTTP 401: The access token is invalid")], n=2)
    told = []
    d.on_auth_error = lambda name, exc: told.append((name, exc.reason))
    assert [r.outcome for r in d.deliver_due()] == ["paused"]  # the second row is not even tried
    assert d.paused == {"t"} and told == [("t", "HTTP 401: The access token is invalid")]
    head, second = state(store, 2)
    assert (head.state, head.attempts, second.state, second.attempts) == ("pending", 0, "pending", 0)
    assert "HTTP 401" in head.last_error and t.sleeps == []
    assert d.deliver_due() == [] and target.calls == ["deliver"]  # paused: nothing claimed
    d.paused.clear()  # resumed (syndicate.credentials does this once the secret works)
    assert [r.article for r in d.deliver_due()] == ["https://e.org/0", "https://e.org/1"]


def test_exhausted_retries_reschedule_and_survive_restart(state_db):
    store, target, d, t = setup(state_db, [TransientError("HTTP 503")] * 10,
                                policy=RetryPolicy(attempts=2, jitter=0, requeue_initial=60))
    [r] = d.deliver_due()
    assert r.outcome == "rescheduled"
    [row] = state(store)
    assert row.state == "pending" and row.next_attempt_at == t.now + 60
    assert d.deliver_due() == []  # not due yet
    store.close()
    # a new process later: the row is still there, due at the stored time
    store2 = open_store(state_db, t)
    t.now += 60
    target.script = []
    d2 = Deliverer(store2, {"t": target}, draft_for, policy=RetryPolicy(jitter=0), owner="me2",
                   sleep=t.sleep, clock=t)
    target.calls.clear()
    [r] = d2.deliver_due()
    assert r.outcome == "sent" and len(target.posts) == 1
    assert target.calls == ["lookup", "deliver"]  # an earlier attempt may have landed: looked up first


def test_rate_limit_reschedules_to_the_reset_when_far_off(state_db):
    t0 = 1_700_000_000.0
    reset = datetime.fromtimestamp(t0 + 7200, UTC)
    store, target, d, t = setup(state_db, [RateLimited("HTTP 429", retry_at=reset)])
    [r] = d.deliver_due()
    assert r.outcome == "rescheduled" and t.sleeps == []
    assert state(store)[0].next_attempt_at == t0 + 7200


def test_accepted_but_unrecorded_is_found_not_posted_twice(state_db):
    landed = Landed(TransientError("connection dropped after send"))
    store, target, d, t = setup(state_db, [landed], policy=RetryPolicy(attempts=1, requeue_initial=1))
    assert d.deliver_due()[0].outcome == "rescheduled"
    t.now += 1
    [r] = d.deliver_due()
    assert r.outcome == "found" and len(target.posts) == 1
    assert state(store)[0].state == "sent"


def test_oldest_first_and_stop_releases_in_flight(state_db):
    store, target, d, t = setup(state_db, n=3)
    results = d.deliver_due(limit=2)
    assert [r.article for r in results] == ["https://e.org/0", "https://e.org/1"]
    # a stop during a retry wait releases the row instead of leaving it in 'sending'
    stop = threading.Event()
    target.script = [TransientError("HTTP 503")]

    def sleep_then_stop(s):
        stop.set()

    d2 = Deliverer(store, {"t": target}, draft_for, policy=RetryPolicy(jitter=0), owner="me",
                   sleep=sleep_then_stop, clock=t, stop=stop)
    [r] = d2.deliver_due()
    assert r.outcome == "released"
    assert state(store, 3)[2].state == "pending"


def test_recover_leases_expires_every_lease_but_its_own(state_db):
    """The daemon calls it holding the state's lock: any other lease is from a process that is
    gone, whatever its host or pid says (a live pid may be another container's pid 1)."""
    t = FakeClock()
    store = open_store(state_db, t)
    arts = [Article(feed="f", id=f"g{i}", link=f"https://e.org/{i}", title=f"T{i}",
                    published=datetime(2024, 1, i + 1, tzinfo=UTC)) for i in range(2)]
    store.ingest("f", new=arts, updated=[], queue={"g0": ["t"], "g1": ["u"]})
    t_target, u_target = ScriptedTarget(), ScriptedTarget()
    d = Deliverer(store, {"t": t_target, "u": u_target}, draft_for, policy=RetryPolicy(jitter=0),
                  owner="me", sleep=t.sleep, clock=t)
    import socket

    died_sending = f"{socket.gethostname()}:{os.getppid()}:beef"  # a live pid: another container's
    [item] = store.claim_due(died_sending, now=t.now, lease_seconds=900, targets=["t"])
    assert store.begin_attempt(item.id, died_sending, now=t.now, lease_seconds=900, text="T0 https://e.org/0")
    store.claim_due("other-host:1:abcd", now=t.now, lease_seconds=900, targets=["u"])  # died before sending
    assert d.deliver_due() == []  # both leased, leases not expired
    assert d.recover_leases() == 2
    assert [r.outcome for r in d.deliver_due()] == ["sent", "sent"]
    # the row whose request may have left is reconciled first; the other is simply sent
    assert t_target.calls == ["lookup", "deliver"] and u_target.calls == ["deliver"]


class PickyTarget(ScriptedTarget):
    """Refuses (transiently) every post of one article; the others go through."""

    def __init__(self, bad_link):
        super().__init__()
        self.bad_link = bad_link

    def deliver(self, draft, key):
        if self.bad_link in draft.text:
            self.calls.append("deliver-bad")
            raise TransientError("HTTP 500: something about this post")
        return super().deliver(draft, key)


def test_a_failing_target_keeps_its_queue_in_order(state_db):
    store, target, d, t = setup(state_db, [TransientError("HTTP 503")] * 100, n=3,
                                policy=RetryPolicy(attempts=1, jitter=0, requeue_initial=60))
    results = d.deliver_due()
    # the oldest failed, the probe past it failed too: the target is down, the rest wait
    assert [r.outcome for r in results] == ["rescheduled", "rescheduled"]
    t.now += 30  # the probed row's own retry time has not come; the head's neither
    assert d.deliver_due() == []
    target.script = []
    t.now += 3600
    assert [r.article for r in d.deliver_due()] == ["https://e.org/0", "https://e.org/1", "https://e.org/2"]


def test_one_post_the_server_keeps_refusing_does_not_block_the_rest(state_db):
    store, _, d, t = setup(state_db, n=4, policy=RetryPolicy(attempts=1, jitter=0, requeue_initial=60))
    picky = PickyTarget("https://e.org/0")
    d.targets = {"t": picky}
    results = d.deliver_due()
    assert [(r.article, r.outcome) for r in results] == [
        ("https://e.org/0", "rescheduled"), ("https://e.org/1", "sent"),
        ("https://e.org/2", "sent"), ("https://e.org/3", "sent")]
    [head] = [r for r in store.deliveries(1)]
    assert head.state == "pending" and "something about this post" in head.last_error


# --- leases cannot expire under a live delivery (issue 11, item 2) ---------------------------------


def test_a_rate_wait_inside_the_lease_keeps_the_row_from_a_second_worker(state_db):
    t = FakeClock()
    store = open_store(state_db, t)
    store.ingest("f", new=[Article(feed="f", id="g", link="https://e.org/g", title="T",
                                   published=datetime(2024, 1, 1, tzinfo=UTC))], updated=[], queue={"g": ["t"]})
    reset = datetime.fromtimestamp(t.now + 900, UTC)  # exactly max_rate_wait, exactly the lease
    target = ScriptedTarget([RateLimited("HTTP 429", retry_at=reset)])
    second: list = []
    other = Deliverer(store, {"t": target}, draft_for, policy=RetryPolicy(jitter=0), owner="other",
                      lease_seconds=900, sleep=t.sleep, clock=t)

    def sleep(seconds):  # while "me" waits, another worker looks for due rows
        t.sleep(seconds)
        second.extend(other.deliver_due())

    me = Deliverer(store, {"t": target}, draft_for, policy=RetryPolicy(jitter=0, max_rate_wait=900),
                   owner="me", lease_seconds=900, sleep=sleep, clock=t)
    [result] = me.deliver_due()
    assert result.outcome == "sent"
    assert second == []  # the lease was renewed during the wait: nobody else took the row
    assert target.calls == ["deliver", "deliver"]  # the 429, then the post, both by "me"


def test_a_delivery_whose_lease_was_taken_stops_before_sending(state_db):
    store, target, d, t = setup(state_db)
    [item] = store.claim_due("me", now=t.now, lease_seconds=60)
    t.now += 61  # "me" stalled past its lease, and another worker took the row
    [taken] = store.claim_due("other", now=t.now, lease_seconds=60)
    result = d.deliver_one(item)
    assert result.outcome == "lost"
    assert "deliver" not in target.calls and target.posts == {}
    assert store.mark_sent(taken.id, "other", Posted("x", "https://t.example/x"))  # still the other's


# --- no bogus wait silences anything (issue 11, item 8) -----------------------------------------


def test_a_rate_limit_reset_years_away_is_capped_at_max_requeue(state_db):
    t0 = 1_700_000_000.0
    years = datetime.fromtimestamp(t0 + 10 * 365 * 86400, UTC)
    store, target, d, t = setup(state_db, [RateLimited("HTTP 429", retry_at=years)],
                                policy=RetryPolicy(jitter=0, requeue_max=6 * 3600))
    [r] = d.deliver_due()
    assert r.outcome == "rescheduled"
    assert state(store)[0].next_attempt_at == t0 + 6 * 3600


# --- pacing to a target's rate budget (Target.rate_budget) ---------------------------------------


def test_a_spent_rate_budget_is_waited_for_before_the_next_post(state_db):
    store, target, d, t = setup(state_db, n=2)
    target.budget = (0, datetime.fromtimestamp(t.now + 30, UTC))  # what any platform's adapter says
    results = d.deliver_due()
    assert [r.outcome for r in results] == ["sent", "sent"] and t.sleeps == [30]


def test_a_budget_spent_for_long_leaves_the_target_out_until_its_reset(state_db):
    store, target, d, t = setup(state_db, n=2)
    reset = t.now + 3600  # past max_rate_wait (900 s)
    target.budget = (0, datetime.fromtimestamp(reset, UTC))
    assert d.deliver_due() == [] and target.calls == [] and t.sleeps == []
    assert d.next_due_at() == reset
    target.budget, t.now = (100, None), reset
    assert [r.outcome for r in d.deliver_due()] == ["sent", "sent"]
