"""How a claimed outbox row's pass ends when it raised: one chain for posts and operations.

A post (``delivery.Deliverer.deliver_one``) and an edit or delete
(``operations.deliver_operation``) meet the same ends, and each end is one
store write and one log line, the same for both but for the word that names
the row ("delivery" or "operation")::

    LeaseLost        another worker holds the row now   nothing written    "lost"
    Interrupted      a stop while waiting to retry       store.release      "released"
    TransientError   retries spent                       store.reschedule   "rescheduled"
    AuthError        the target refused our credentials  release_unsent     "paused"
    DeliveryError    permanent (or an adapter's base)    mark_failed        "failed"
    StoreError       the state database                  raised again: the daemon pauses
    anything else    a bug                               reschedule, loudly "rescheduled"

``LeaseLost`` and ``Interrupted`` are raised by the deliverer's waits
(``Deliverer._keeping_lease``, ``Deliverer._wait``) and by a refused
``begin_attempt``; they live here, with the chain, so neither module
imports the other for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal, Protocol

from syndicate.errors import AuthError, DeliveryError, StoreError, TransientError
from syndicate.value import valueclass

if TYPE_CHECKING:
    from syndicate.retry import RetryPolicy
    from syndicate.store import OutboxItem, Store
    from syndicate.targets import Target

__all__ = ["Ended", "Interrupted", "LeaseLost", "Outcome", "Worker", "end_pass", "one_line"]

log = logging.getLogger("syndicate.delivery")

Outcome = Literal["sent", "found", "failed", "rescheduled", "released", "lost", "paused"]


class Interrupted(Exception):
    """A stop was requested while waiting to retry."""


class LeaseLost(Exception):
    """Another worker holds the row now: stop, send nothing."""


class Worker(Protocol):
    """What of the deliverer a pass's end uses (``delivery.Deliverer``)."""

    store: Store
    owner: str
    clock: Callable[[], float]
    policy: RetryPolicy


@valueclass
class Ended:
    """A pass ended by ``exc``: its outcome, the reason recorded, the refusal that pauses the target."""

    outcome: Outcome
    error: str | None = None
    auth_error: AuthError | None = None  # "paused": the target refused our credentials


def one_line(exc: BaseException) -> str:
    """An exception as the one-line reason a row records."""
    return " ".join(str(exc).split()) or type(exc).__name__


def end_pass(exc: Exception, d: Worker, item: OutboxItem, target: Target, *, what: str,
             tag: Mapping[str, object], reason: Callable[[BaseException], str] = one_line) -> Ended:
    """End ``item``'s pass, which raised ``exc`` (call it from the ``except``): the row's store write
    and its log line (``what``: "delivery" or "operation"; ``tag``: the line's fields), by the table
    in the module docstring.  A ``StoreError`` is raised again."""
    if isinstance(exc, LeaseLost):
        log.error(f"{what} stopped: another worker holds the row now; nothing sent", extra=tag)
        return Ended("lost")
    if isinstance(exc, Interrupted):
        d.store.release(item.id, d.owner, budget=target.rate_budget())
        log.info(f"{what} released on shutdown", extra=tag)
        return Ended("released")
    if isinstance(exc, StoreError):
        raise exc  # the state database: the daemon pauses; the row's lease runs out, it is reconciled
    if isinstance(exc, TransientError):
        why = reason(exc)
        next_at = d.policy.requeue_at(item.attempts, d.clock(), exc)
        d.store.reschedule(item.id, d.owner, next_at, why, budget=target.rate_budget())
        log.warning(f"{what} postponed", extra={**tag, "error": why, "retry_in": round(next_at - d.clock())})
        return Ended("rescheduled", why)
    if isinstance(exc, AuthError):  # the target's credentials, not this row: the target pauses
        why = reason(exc)
        d.store.release_unsent(item.id, d.owner, why, budget=target.rate_budget())
        return Ended("paused", why, exc)
    if isinstance(exc, DeliveryError):  # PermanentError, or the base class from an adapter: not retried
        why = reason(exc)
        d.store.mark_failed(item.id, d.owner, why, budget=target.rate_budget())
        log.error(f"{what} failed", extra={**tag, "error": why})
        return Ended("failed", why)
    # A bug (in compose, an operation or an adapter): keep the row, try again later, say so loudly.
    why = f"internal error: {type(exc).__name__}: {exc}"
    d.store.reschedule(item.id, d.owner, d.policy.requeue_at(item.attempts, d.clock()), why,
                       budget=target.rate_budget())
    log.error(f"{what} crashed", extra=tag, exc_info=exc)
    return Ended("rescheduled", why)
