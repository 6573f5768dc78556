"""The retry policy for deliveries, as one value.

Within one delivery pass a post is tried up to ``attempts`` times:

* ``TransientError`` (5xx, timeouts, dropped connections): exponential
  backoff ``initial × 2^(n-1)`` capped at ``maximum``, plus up to ``jitter``
  seconds of random jitter;
* ``RateLimited``: wait exactly until the server's reset time, when that is
  no further off than ``max_rate_wait``; otherwise give the pass up at once;
* ``PermanentError``: never retried.

When a pass gives up, the outbox row goes back to ``pending`` with a
``next_attempt_at`` that survives a restart: ``requeue_at`` doubles from
``requeue_initial`` up to ``requeue_max``, or waits for the rate-limit
reset if later — but never longer than ``requeue_max``, so a bogus reset
(years ahead) cannot silence a target.  A long outage delays posts; it
never loses one.

``sleep`` and ``clock`` are injected so tests assert the exact schedule
without waiting.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from syndicate.errors import RateLimited, TransientError
from syndicate.value import field, valueclass

if TYPE_CHECKING:
    from syndicate.config import DeliveryConfig

T = TypeVar("T")


@valueclass(slots=False)
class RetryPolicy:
    attempts: int = 4
    initial: float = 2.0
    maximum: float = 60.0
    jitter: float = 1.0
    max_rate_wait: float = 900.0
    requeue_initial: float = 60.0
    requeue_max: float = 6 * 3600.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    @classmethod
    def from_config(cls, cfg: DeliveryConfig) -> RetryPolicy:
        return cls(attempts=cfg.attempts, initial=cfg.backoff, maximum=cfg.max_backoff,
                   jitter=min(1.0, cfg.backoff / 2), max_rate_wait=cfg.max_rate_wait,
                   requeue_initial=cfg.requeue, requeue_max=cfg.max_requeue)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = _doubled(self.initial, attempt - 1, self.maximum)
        return base + (self.rng.uniform(0, self.jitter) if self.jitter else 0.0)

    def rate_wait(self, exc: RateLimited, now: float) -> float:
        """Seconds until a rate limit resets: 0 if past, the first backoff if unknown."""
        if exc.retry_at is None:
            return self.backoff(1)
        return max(0.0, exc.retry_at.timestamp() - now)

    def requeue_delay(self, passes: int) -> float:
        """Delay before the next pass, after ``passes`` passes gave up."""
        return _doubled(self.requeue_initial, max(0, passes - 1), self.requeue_max)

    def requeue_at(self, passes: int, now: float, exc: BaseException | None = None) -> float:
        """When the next pass starts: ``requeue_delay``, or a rate limit's reset if later,
        at most ``requeue_max`` from ``now``."""
        delay = self.requeue_delay(passes)
        if isinstance(exc, RateLimited) and exc.retry_at is not None:
            delay = max(delay, exc.retry_at.timestamp() - now)
        return now + min(delay, self.requeue_max)

    def call(self, fn: Callable[[], T], *, sleep: Callable[[float], None] = time.sleep,
             clock: Callable[[], float] = time.time,
             before_sleep: Callable[[BaseException, float], None] | None = None) -> T:
        """Run ``fn`` under this policy; re-raises the last error when it gives up."""
        import tenacity  # when a first post is sent, not when the daemon starts


        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RateLimited):
                return self.rate_wait(exc, clock())
            return self.backoff(state.attempt_number)

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number >= self.attempts:
                return True
            exc = state.outcome.exception() if state.outcome else None
            return isinstance(exc, RateLimited) and self.rate_wait(exc, clock()) > self.max_rate_wait

        def notify(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            if before_sleep and exc is not None and state.next_action:
                before_sleep(exc, state.next_action.sleep)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TransientError),
            wait=wait,
            stop=stop,
            sleep=sleep,
            before_sleep=notify,
            reraise=True,
        )
        return retrying(fn)


def _doubled(initial: float, times: int, cap: float) -> float:
    """``initial`` doubled ``times`` times, at most ``cap``, for any ``times``: a row requeued
    through a long outage passes a thousand doublings, past the largest float."""
    try:
        return min(cap, initial * 2.0 ** times)
    except OverflowError:
        return cap
