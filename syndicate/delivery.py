"""The outbox worker: lease a due row, post it, record the remote post.

For each due outbox row, oldest article first:

1. claim it (``sending``, with an owner and an expiry; see ``syndicate.store.outbox``).
   The lease is renewed before every attempt and during every wait, so it
   never lapses under a live delivery; one that finds it taken stops before
   sending anything;
2. compose the draft for its target (pure, from the stored article; at the
   row's strict measure once a server called it too long);
3. only if a request with the row's key may already have left (its
   ``first_attempt_at``): ``lookup`` that post on the target — made since,
   carrying a text the row sent, held by no other row; found → record it, done;
4. ``deliver`` under the retry policy with the row's deterministic key
   (Mastodon ``Idempotency-Key``, Bluesky record key), each attempt written
   down first (``begin_attempt``: its time and text).  "Too long" from a
   server that counts more strictly than it says: re-composed once, in code
   points with URLs counted literally, and tried again;
5. record the result in one transaction: ``sent`` with the remote id and
   URL, ``failed`` with a one-line reason, or back to ``pending`` with the
   next attempt time (a rate-limit reset counts, never more than
   ``max_requeue`` away).  Each step goes to the row's history; the
   target's rate budget as the adapter saw it last goes with it
   (``store.budgets``), so every worker paces the target by what its server
   said last, whichever worker it said it to.

A target's queue goes in publication order.  When its oldest row keeps
failing, the next is tried once (the probe): through at its first try, the
target works and the stuck row is taken out of line; needing retries, the
target is flaky and the queue waits, in order.

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
import socket
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from syndicate.errors import AuthError, DeliveryError, PermanentError, StoreError, TooLong
from syndicate.models import Attempted
from syndicate.outcomes import Interrupted, LeaseLost, Outcome, end_pass, one_line
from syndicate.retry import RetryPolicy
from syndicate.value import valueclass

if TYPE_CHECKING:
    from syndicate.models import Article, PostDraft, Posted
    from syndicate.pacing import Pacing
    from syndicate.store import OutboxItem, Store
    from syndicate.targets import Target

log = logging.getLogger("syndicate.delivery")

TAKEN_WINDOW = 86400.0  # remote ids other rows recorded this long before a row's first attempt


class DraftFor(Protocol):
    """The post an article makes on a target; ``strict_limit``: code points, URLs literal."""

    def __call__(self, article: Article, target: str, intro: str | None = None, *,
                 strict_limit: int | None = None) -> PostDraft: ...


@valueclass
class DeliveryResult:
    outbox_id: int
    article_id: int
    article: str  # the article's link, for messages
    target: str
    outcome: Outcome
    url: str | None = None
    error: str | None = None
    retries: int = 0  # transient failures met (and waited out) in this pass
    op: str = "post"  # the row's: ``post``, or an ``edit`` / ``delete`` of a post made


def default_owner() -> str:
    """``host:pid:nonce`` — who holds a lease: a row's or a feed's writes after its claim apply
    only while the claim is still this owner's (and people reading the state see who).
    The nonce is ``secrets.token_hex(4)``'s, without importing secrets (hmac, hashlib) at start."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


class Deliverer:
    """Works the outbox for a set of targets."""

    def __init__(self, store: Store, targets: Mapping[str, Target], draft_for: DraftFor, *,
                 policy: RetryPolicy | None = None, owner: str | None = None,
                 lease_seconds: float = 900.0, sleep: Callable[[float], None] | None = None,
                 clock: Callable[[], float] = time.time,
                 stop: threading.Event | None = None,
                 on_auth_error: Callable[[str, AuthError], None] | None = None,
                 pacing: Mapping[str, Pacing] | None = None) -> None:
        self.store = store
        self.pacing = dict(pacing or {})  # target → its pacing (``syndicate.pacing``): rows wait their slot
        self.targets = dict(targets)
        self.draft_for = draft_for
        self.policy = policy or RetryPolicy()
        self.owner = owner or default_owner()
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.stop = stop or threading.Event()
        self._sleep = sleep
        self._resume_at: dict[str, float] = {}  # a target whose rate limit is spent: not before
        self.paused: set[str] = set()  # targets whose credentials were refused: not worked
        self.on_auth_error = on_auth_error

    def _wait(self, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
            if self.stop.is_set():
                raise Interrupted
            return
        if self.stop.wait(seconds):
            raise Interrupted

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
        (tests) everything runs in this thread, deterministically.  When
        none of them has a row pending or in flight (a quiet cycle: a feed's
        304), no thread is started and no target is asked anything.
        """
        names = [name for name in self.targets if name not in self.paused]
        if len(names) <= 1 or self._sleep is not None:
            return self._work(names, limit)
        if self.store.next_due_at(names, pacing=self.pacing) is None:  # None: no row of theirs at all
            return []
        from concurrent.futures import ThreadPoolExecutor  # (one target, or none, needs no pool)

        with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="deliver") as pool:
            parts = list(pool.map(lambda name: self._work([name], limit), names))
        return [result for part in parts for result in part]

    def _work(self, names: list[str], limit: int | None) -> list[DeliveryResult]:
        """Claim and deliver these targets' rows, one at a time, until none is due (or stop, or
        ``limit``).  A finished row wakes no other worker (``store.attempts``): this loop takes
        the target's next row itself, so a pass cut short before its queues are done (a stop, the
        limit) hands them off."""
        results: list[DeliveryResult] = []
        paused: set[str] = set()  # targets whose rate limit is spent for this round
        done = False  # the last claim found nothing due: no queue is left to anyone
        while not self.stop.is_set() and (limit is None or len(results) < limit):
            live = [t for t in names if t not in self.paused]  # its credentials not refused
            try:
                paused.update(t for t in live if t not in paused and not self._pace(t))
            except Interrupted:
                break
            active = [t for t in live if t not in paused]
            items = self.store.claim_due(self.owner, now=self.clock(), lease_seconds=self.lease_seconds,
                                         limit=1, targets=active, pacing=self.pacing)
            if not items:
                done = True
                break
            result = self.deliver_one(items[0])
            results.append(result)
            if result.outcome == "rescheduled" and not self._probe_past(result, results):
                paused.add(result.target)  # the target is down: its queue waits, in order
        if not done and results:
            self._hand_off(sorted({r.target for r in results}))
        return results

    def _hand_off(self, names: list[str]) -> None:
        """Wake the idle workers for queues this pass leaves before they are done."""
        try:
            self.store.hand_off(names)
        except StoreError as exc:  # they poll still: late, not lost
            log.warning("could not wake the other workers", extra={"targets": ",".join(names),
                                                                    "error": str(exc)})

    def _probe_past(self, stuck: DeliveryResult, results: list[DeliveryResult]) -> bool:
        """Is the target down, or is it just this post?  Try the next row once.

        Rows wait behind a target's oldest failing row so that a backlog goes
        out in order after an outage.  But if the next row goes through at its
        first try, the target works and it is this post the server keeps
        refusing: it is taken out of the line (still retried on its own
        schedule), so one bad post never stops everything newer.  A probe that
        needed retries says the target is flaky: the queue waits, in order.
        Returns True if the target works.
        """
        items = self.store.claim_due(self.owner, now=self.clock(), lease_seconds=self.lease_seconds,
                                     limit=1, targets=[stuck.target], in_order=False, pacing=self.pacing)
        if not items:
            return False
        probe = self.deliver_one(items[0])
        results.append(probe)
        if probe.outcome not in ("sent", "found") or probe.retries:
            return False
        self.store.set_out_of_line(stuck.outbox_id)
        self.store.record_event(stuck.outbox_id, "out of line", f"later posts go through: {stuck.error}")
        log.warning("post keeps failing while others go through; it no longer holds the queue",
                    extra={"article": stuck.article, "target": stuck.target, "error": stuck.error})
        return True

    def _pace(self, name: str) -> bool:
        """Respect a target's rate budget before the next request to it.

        A target whose budget has nothing left — by its adapter's
        ``rate_budget()``, or by the one its server last gave any worker (the
        shared budget, ``store.budgets``) — is waited for until its reset (when
        that is within the policy's ``max_rate_wait``), or left out of this
        round, and ``next_due_at`` counts it from its reset (capped at
        ``max_requeue``).  Returns False to leave it out.
        """
        wait = self._spent_for(name)
        if wait > self.policy.max_rate_wait:
            self._resume_at[name] = self.clock() + min(wait, self.policy.requeue_max)
            log.info("target rate limit spent; its queue waits", extra={"target": name,
                                                                        "reset_in": round(wait)})
            return False
        self._resume_at.pop(name, None)
        if wait > 0:
            log.info("pacing to the target's rate limit", extra={"target": name, "wait": round(wait, 1)})
            self._wait(wait)
        return True

    def _spent_for(self, name: str) -> float:
        """Seconds until the target's rate budget has room again (0: it has some now): by what its
        server last said to any worker (the shared budget, ``store.budgets``) or to this one."""
        now = self.clock()
        shared = self.store.target_budget(name)
        resets = [budget[1].timestamp() for budget in (self.targets[name].rate_budget(),
                                                       shared.budget if shared else None)
                  if budget and budget[0] <= 0 and budget[1] is not None]
        return max([0.0, *(reset - now for reset in resets)])

    def next_due_at(self) -> float | None:
        """When the outbox next has work for a target that can post (rows of targets without
        credentials, or paused on refused ones, never count; a target whose rate limit is spent
        counts from its reset)."""
        times = []
        for name in self.targets:
            if name in self.paused:
                continue
            due = self.store.next_due_at([name], pacing=self.pacing)
            if due is not None:
                spent = self._spent_for(name)
                if spent > 0:  # its budget is spent (on any worker): from its reset (capped)
                    due = max(due, self.clock() + min(spent, self.policy.requeue_max))
                times.append(max(due, self._resume_at.get(name, due)))
        return min(times) if times else None

    def _operate(self, item: OutboxItem) -> DeliveryResult:
        return _operated(self, item)

    def _pause(self, name: str, refused: AuthError) -> None:
        """The target refused our credentials: none of its rows is claimed until it resumes."""
        self.paused.add(name)
        if self.on_auth_error is not None:
            self.on_auth_error(name, refused)

    def _keeping_lease(self, item: OutboxItem) -> Callable[[float], None]:
        """A wait for ``item``'s retries that renews its lease every third of a lease."""
        step = max(1.0, self.lease_seconds / 3)

        def renew() -> None:
            if not self.store.renew_lease(item.id, self.owner, self.clock() + self.lease_seconds):
                raise LeaseLost

        def wait(seconds: float) -> None:
            renew()
            left = seconds
            while left > 0:
                chunk = min(left, step)
                self._wait(chunk)
                left -= chunk
                renew()

        return wait

    def _compose(self, item: OutboxItem, strict_limit: int | None) -> PostDraft:
        try:
            if strict_limit is None:
                return self.draft_for(item.article, item.target, item.intro)
            return self.draft_for(item.article, item.target, item.intro, strict_limit=strict_limit)
        except ValueError as exc:  # nothing that fits the platform can be made of it
            raise PermanentError(f"cannot compose a post: {exc}") from None

    def _attempted(self, item: OutboxItem, draft: PostDraft) -> Attempted:
        """What reconciliation may take for this row's post (see ``Attempted``)."""
        since = item.first_attempt_at or 0.0
        # a row tried before its texts were kept: its text then was, most likely, today's
        texts = tuple(self.store.attempted_texts(item.id)) or (draft.text,)
        taken = self.store.held_remote_ids(item.target, since - TAKEN_WINDOW, excluding=item.id)
        return Attempted(item.key, texts, datetime.fromtimestamp(since, UTC), taken)

    def _adopt_shared_budget(self, name: str) -> None:
        """Give a claimed row's adapter the fleet's budget (``store.budgets``), this claim's
        request counted back in: what the server allows this row, though another worker heard it."""
        adopt = getattr(self.targets[name], "adopt_budget", None)
        shared = self.store.target_budget(name) if callable(adopt) else None
        if adopt and shared and shared.reset_at is not None and shared.reset_at > self.clock():
            adopt((shared.remaining + 1, datetime.fromtimestamp(shared.reset_at, UTC)))

    def deliver_one(self, item: OutboxItem) -> DeliveryResult:
        self._adopt_shared_budget(item.target)
        if item.op != "post":  # an edit or a delete of a post made (``syndicate.operations``)
            return self._operate(item)
        target = self.targets[item.target]
        article = item.article
        tag = {"article": article.link, "target": item.target, "key": item.key}
        retries = 0
        keep_lease = self._keeping_lease(item)

        def reason(exc: BaseException) -> str:
            if isinstance(exc, DeliveryError):
                exc.target = exc.target or item.target
                exc.article = exc.article or article.link
            return one_line(exc)

        def result(outcome: Outcome, url: str | None = None, error: str | None = None) -> DeliveryResult:
            return DeliveryResult(item.id, item.article_id, article.link, item.target, outcome, url, error,
                                  retries)

        def retrying(exc: BaseException, wait: float) -> None:
            nonlocal retries
            retries += 1
            log.warning("delivery retrying", extra={**tag, "error": reason(exc), "wait": round(wait, 1)})

        def call(fn: Callable[[], Posted | None]) -> Posted | None:
            return self.policy.call(fn, sleep=keep_lease, clock=self.clock, before_sleep=retrying)

        def send(draft: PostDraft) -> Posted:
            def attempt() -> Posted:
                if not self.store.begin_attempt(item.id, self.owner, now=self.clock(),
                                                lease_seconds=self.lease_seconds, text=draft.text):
                    raise LeaseLost
                return target.deliver(draft, item.key)

            posted = call(attempt)
            assert posted is not None
            return posted

        try:
            strict = item.strict_limit
            draft = self._compose(item, strict)
            posted: Posted | None = None
            if item.may_have_landed:  # a request with this key may have landed unheard
                attempted = self._attempted(item, draft)
                posted = call(lambda: target.lookup(attempted))
                if posted:
                    log.info("delivery found already posted", extra={**tag, "url": posted.url})
            outcome: Outcome = "found" if posted else "sent"
            while posted is None:
                try:
                    posted = send(draft)
                except TooLong as exc:
                    if strict is not None:
                        raise PermanentError(f"{exc.reason}, even re-composed at {strict} code points "
                                             f"with URLs counted literally") from None
                    strict = exc.limit if exc.limit is not None else target.limits().max_length
                    why = (f"the server counts more strictly than it says ({exc.reason}): re-composed "
                           f"at {strict} code points, URLs counted literally")
                    if not self.store.set_strict(item.id, self.owner, strict, why):
                        raise LeaseLost from None
                    log.warning("post re-composed for a stricter server", extra={**tag, "limit": strict})
                    draft = self._compose(item, strict)
        except Exception as exc:  # lost, released, rescheduled, paused or failed (``outcomes``)
            ended = end_pass(exc, self, item, target, what="delivery", tag=tag, reason=reason)
            if ended.auth_error is not None:
                self._pause(item.target, ended.auth_error)
            return result(ended.outcome, error=ended.error)
        try:
            recorded = self.store.mark_sent(item.id, self.owner, posted, found=outcome == "found",
                                            budget=target.rate_budget())
        except StoreError as exc:  # it stays leased; reconciliation will find the post
            log.error("delivery not recorded; it will be reconciled",
                      extra={**tag, "url": posted.url, "error": str(exc)})
            return result("lost", url=posted.url, error=str(exc))
        if not recorded:
            log.error("delivery lease lost before recording", extra={**tag, "url": posted.url})
            return result("lost", url=posted.url)
        log.info("delivered", extra={**tag, "url": posted.url})
        return result(outcome, url=posted.url)


def _operated(d: Deliverer, item: OutboxItem) -> DeliveryResult:
    """An ``edit`` / ``delete`` row, applied by ``syndicate.operations``."""
    from syndicate.operations import deliver_operation

    done = deliver_operation(d, item, d.targets[item.target], d._keeping_lease(item))
    if done.auth_error is not None:  # the target's credentials: it pauses, as for a post
        d._pause(item.target, done.auth_error)
    return DeliveryResult(item.id, item.article_id, item.article.link, item.target, done.outcome, done.url,
                          done.error, op=item.op)

