"""The retry policy: exact schedules with an injected clock and sleep."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syndicate.errors import PermanentError, RateLimited, TransientError
from syndicate.retry import RetryPolicy
from tests.fakes import FakeClock


def flaky(errors):
    calls = []

    def fn():
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return "ok"

    return fn, calls


def test_transient_errors_back_off_exponentially_then_succeed():
    t = FakeClock(1_000_000.0)
    policy = RetryPolicy(attempts=4, initial=2, maximum=60, jitter=0)
    fn, calls = flaky([TransientError("503"), TransientError("503"), TransientError("503")])
    assert policy.call(fn, sleep=t.sleep, clock=t) == "ok"
    assert t.sleeps == [2, 4, 8]
    assert len(calls) == 4


def test_backoff_is_capped_and_jitter_bounded():
    policy = RetryPolicy(initial=2, maximum=10, jitter=1)
    waits = [policy.backoff(n) for n in range(1, 8)]
    assert all(0 <= w - min(10, 2 * 2 ** (n - 1)) <= 1 for n, w in enumerate(waits, 1))


def test_rate_limit_waits_until_reset():
    t = FakeClock(1_000_000.0)
    reset = datetime.fromtimestamp(t.now + 37, UTC)
    fn, calls = flaky([RateLimited("429", retry_at=reset)])
    assert RetryPolicy(jitter=0).call(fn, sleep=t.sleep, clock=t) == "ok"
    assert t.sleeps == [37]


def test_rate_limit_too_far_off_gives_up_without_sleeping():
    t = FakeClock(1_000_000.0)
    reset = datetime.fromtimestamp(t.now + 3600, UTC)
    fn, calls = flaky([RateLimited("429", retry_at=reset)])
    with pytest.raises(RateLimited):
        RetryPolicy(max_rate_wait=900).call(fn, sleep=t.sleep, clock=t)
    assert t.sleeps == [] and len(calls) == 1


def test_permanent_errors_are_never_retried():
    t = FakeClock(1_000_000.0)
    fn, calls = flaky([PermanentError("422")])
    with pytest.raises(PermanentError):
        RetryPolicy().call(fn, sleep=t.sleep, clock=t)
    assert len(calls) == 1 and t.sleeps == []


def test_gives_up_after_attempts_with_the_last_error():
    t = FakeClock(1_000_000.0)
    fn, calls = flaky([TransientError(f"503 #{i}") for i in range(10)])
    with pytest.raises(TransientError, match="503 #2"):
        RetryPolicy(attempts=3, jitter=0).call(fn, sleep=t.sleep, clock=t)
    assert t.sleeps == [2, 4]


def test_requeue_delay_doubles_to_a_cap():
    policy = RetryPolicy(requeue_initial=60, requeue_max=3600)
    assert [policy.requeue_delay(n) for n in (1, 2, 3, 7, 20)] == [60, 120, 240, 3600, 3600]


def test_a_row_requeued_for_months_still_waits_the_cap():
    # A long outage with a short max_requeue passes a thousand requeues: 2^1100 is past any float.
    policy = RetryPolicy(requeue_initial=1.0, requeue_max=10.0, maximum=30.0, jitter=0)
    assert policy.requeue_delay(5000) == 10.0
    assert policy.requeue_at(5000, 1_000.0) == 1_010.0
    assert policy.backoff(5000) == 30.0
