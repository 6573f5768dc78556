"""The outbox worker: lease a due row, post it, record the remote post.

For each due outbox row, oldest article first:

1. lease it (``sending``, with an owner and an expiry) — see ``store``;
2. compose the draft for its target (pure, from the stored article);
3. if an earlier attempt may have landed (its lease expired, or it failed
   after the request went out), ask the target to ``lookup`` the post made
   with the row's key; found → record it, done;
4. ``deliver`` under the retry policy with the row's deterministic key
   (Mastodon ``Idempotency-Key``, Bluesky record key);
5. record the result in one transaction: ``sent`` with the remote id and
   URL, ``failed`` with a one-line reason, or back to ``pending`` with the
   next attempt time.

A stop request (SIGTERM) lets the post in flight finish; a retry wait is
cut short and the row released, so nothing is left in ``sending``.

Refused credentials (``AuthError``) are the target's problem, not the
post's: the row goes back untouched (pending, in its place, the attempt not
counted), the target joins ``paused`` and ``on_auth_error`` is told; no row
of a paused target is claimed until it is taken out of ``paused`` (see
``syndicate.credentials``).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from syndicate.errors import AuthError, DeliveryError, PermanentError, RateLimited, TransientError
from syndicate.models import Article, PostDraft, Posted
from syndicate.retry import RetryPolicy
from syndicate.store import OutboxItem, Store
from syndicate.targets import Target

log = logging.getLogger("syndicate.delivery")

Outcome = Literal["sent", "found", "failed", "rescheduled", "released", "lost", "paused"]
DraftFor = Callable[[Article, str, str | None], PostDraft]


class _Interrupted(Exception):
    """A stop was requested while waiting to retry."""


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    outbox_id: int
    article_id: int
    article: str  # the article's link, for messages
    target: str
    outcome: Outcome
    url: str | None = None
    error: str | None = None


def default_owner() -> str:
    """``host:pid:nonce`` — who holds a lease (for people reading the state; never checked)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Deliverer:
    """Works the outbox for a set of targets."""

    def __init__(self, store: Store, targets: Mapping[str, Target], draft_for: DraftFor, *,
                 policy: RetryPolicy | None = None, owner: str | None = None,
                 lease_seconds: float = 900.0, sleep: Callable[[float], None] | None = None,
                 clock: Callable[[], float] = time.time,
                 stop: threading.Event | None = None,
                 on_auth_error: Callable[[str, AuthError], None] | None = None) -> None:
        self.store = store
        self.targets = dict(targets)
        self.draft_for = draft_for
        self.policy = policy or RetryPolicy()
        self.owner = owner or default_owner()
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.stop = stop or threading.Event()
        self._sleep = sleep
        self.paused: set[str] = set()  # targets whose credentials were refused: not worked
        self.on_auth_error = on_auth_error

    def _wait(self, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
            if self.stop.is_set():
                raise _Interrupted
            return
        if self.stop.wait(seconds):
            raise _Interrupted

    def recover_leases(self) -> int:
        """Expire every lease not held by this deliverer (call holding the state's lock).

        Only the holder of the state's lock (``syndicate.lock``) leases rows,
        so a lease still in ``sending`` when it starts was left by a process
        that is gone — a crash, a kill -9, another container that shared
        this hostname and pid.  Its rows are made due now, and are
        reconciled (looked up on the target) before they are sent again.
        """
        stale = [owner for owner in self.store.lease_owners() if owner != self.owner]
        count = self.store.expire_leases(stale, self.clock())
        if count:
            log.warning("recovered deliveries interrupted by a crash", extra={"rows": count})
        return count

    def deliver_due(self, *, limit: int | None = None) -> list[DeliveryResult]:
        """Deliver due rows until none is due, ``limit`` is hit, or stop.

        Each target works its own queue in its own thread, so a slow or
        failing platform never holds up the other; with an injected sleep
        (tests) everything runs in this thread, deterministically.
        """
        names = [name for name in self.targets if name not in self.paused]
        if len(names) <= 1 or self._sleep is not None:
            return self._work(names, limit)
        with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="deliver") as pool:
            parts = list(pool.map(lambda name: self._work([name], limit), names))
        return [result for part in parts for result in part]

    def _work(self, names: list[str], limit: int | None) -> list[DeliveryResult]:
        results: list[DeliveryResult] = []
        paused: set[str] = set()  # targets whose rate limit is spent for this round
        while not self.stop.is_set() and (limit is None or len(results) < limit):
            live = [t for t in names if t not in self.paused]  # its credentials not refused
            try:
                paused.update(t for t in live if t not in paused and not self._pace(t))
            except _Interrupted:
                break
            active = [t for t in live if t not in paused]
            items = self.store.claim_due(self.owner, now=self.clock(), lease_seconds=self.lease_seconds,
                                         limit=1, targets=active)
            if not items:
                break
            result = self.deliver_one(items[0])
            results.append(result)
            if result.outcome == "rescheduled" and not self._probe_past(result, results):
                paused.add(result.target)  # the target is down: its queue waits, in order
        return results

    def _probe_past(self, stuck: DeliveryResult, results: list[DeliveryResult]) -> bool:
        """Is the target down, or is it just this post?  Try the next row once.

        Rows wait behind a target's oldest failing row so that a backlog goes
        out in order after an outage.  But if the next row goes through, the
        target works and it is this post the server keeps refusing: it is
        taken out of the line (still retried on its own schedule), so one bad
        post never stops everything newer.  Returns True if the target works.
        """
        items = self.store.claim_due(self.owner, now=self.clock(), lease_seconds=self.lease_seconds,
                                     limit=1, targets=[stuck.target], in_order=False)
        if not items:
            return False
        probe = self.deliver_one(items[0])
        results.append(probe)
        if probe.outcome not in ("sent", "found"):
            return False
        self.store.set_out_of_line(stuck.outbox_id)
        log.warning("post keeps failing while others go through; it no longer holds the queue",
                    extra={"article": stuck.article, "target": stuck.target, "error": stuck.error})
        return True

    def _pace(self, name: str) -> bool:
        """Respect a target's rate budget before the next request to it.

        A target that reports ``rate_budget() -> (remaining, reset)`` with
        nothing left is waited for until its reset (when that is within the
        policy's ``max_rate_wait``), or left out of this round.  Returns
        False to leave it out.
        """
        budget_of = getattr(self.targets[name], "rate_budget", None)
        budget = budget_of() if budget_of else None
        if not budget:
            return True
        remaining, reset = budget
        if remaining > 0 or reset is None:
            return True
        wait = reset.timestamp() - self.clock()
        if wait <= 0:
            return True
        if wait > self.policy.max_rate_wait:
            log.info("target rate limit spent; its queue waits", extra={"target": name,
                                                                        "reset_in": round(wait)})
            return False
        log.info("pacing to the target's rate limit", extra={"target": name, "wait": round(wait, 1)})
        self._wait(wait)
        return True

    def deliver_one(self, item: OutboxItem) -> DeliveryResult:
        target = self.targets[item.target]
        article = item.article
        tag = {"article": article.link, "target": item.target, "key": item.key}

        def reason(exc: BaseException) -> str:
            if isinstance(exc, DeliveryError):
                exc.target = exc.target or item.target
                exc.article = exc.article or article.link
            return _reason(exc)

        def result(outcome: Outcome, url: str | None = None, error: str | None = None) -> DeliveryResult:
            return DeliveryResult(item.id, item.article_id, article.link, item.target, outcome, url, error)

        try:
            try:
                draft = self.draft_for(article, item.target, item.intro)
            except ValueError as exc:  # nothing that fits the platform can be made of it
                raise PermanentError(f"cannot compose a post: {exc}") from None
            posted: Posted | None = None
            if item.reclaimed:
                posted = self.policy.call(lambda: target.lookup(item.key, draft),
                                          sleep=self._wait, clock=self.clock)
                if posted:
                    log.info("delivery found already posted", extra={**tag, "url": posted.url})
            outcome: Outcome = "found" if posted else "sent"
            if posted is None:
                posted = self.policy.call(
                    lambda: target.deliver(draft, item.key), sleep=self._wait, clock=self.clock,
                    before_sleep=lambda exc, wait: log.warning(
                        "delivery retrying", extra={**tag, "error": reason(exc), "wait": round(wait, 1)}),
                )
        except _Interrupted:
            self.store.release(item.id, self.owner)
            log.info("delivery released on shutdown", extra=tag)
            return result("released")
        except TransientError as exc:
            why = reason(exc)
            delay = self.policy.requeue_delay(item.attempts)
            if isinstance(exc, RateLimited) and exc.retry_at is not None:
                delay = max(delay, exc.retry_at.timestamp() - self.clock())
            self.store.reschedule(item.id, self.owner, self.clock() + delay, why)
            log.warning("delivery postponed", extra={**tag, "error": why, "retry_in": round(delay)})
            return result("rescheduled", error=why)
        except AuthError as exc:  # the target's credentials, not this post: the target pauses
            why = reason(exc)
            self.store.release_unsent(item.id, self.owner, why)
            self.paused.add(item.target)
            if self.on_auth_error is not None:
                self.on_auth_error(item.target, exc)
            return result("paused", error=why)
        except DeliveryError as exc:  # PermanentError, or the base class from an adapter: not retried
            why = reason(exc)
            self.store.mark_failed(item.id, self.owner, why)
            log.error("delivery failed", extra={**tag, "error": why})
            return result("failed", error=why)
        except Exception as exc:
            # A bug (in compose or an adapter): keep the row, try again later, say so loudly.
            why = f"internal error: {type(exc).__name__}: {exc}"
            self.store.reschedule(item.id, self.owner,
                                  self.clock() + self.policy.requeue_delay(item.attempts), why)
            log.exception("delivery crashed", extra={**tag})
            return result("rescheduled", error=why)
        if not self.store.mark_sent(item.id, self.owner, posted):
            log.error("delivery lease lost before recording", extra={**tag, "url": posted.url})
            return result("lost", url=posted.url)
        log.info("delivered", extra={**tag, "url": posted.url})
        return result(outcome, url=posted.url)


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
