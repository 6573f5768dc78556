"""A leased outbox row's life, as its worker records it: renewals, attempts, the outcome.

The worker renews its lease before every attempt and during every wait, so
it never lapses under a live delivery; every write here is refused (False,
nothing written) once another worker holds the row, and the caller stops.

``begin_attempt`` is written *before* a request leaves with the row's key:
it records ``first_attempt_at`` and the text sent.  Only a row that has one
can have landed unheard, so only such a row is reconciled (looked up on the
target) before it is sent again, and only statuses made since, with one of
the texts it sent (``attempted_texts``), held by no other row
(``held_remote_ids``), can be it.  ``mark_sent`` records the remote post in
the transaction that marks the row sent; ``remote_id`` is unique per
target, so one post is never recorded for two rows.  The transaction that
finishes an attempt also records the target's rate budget its adapter saw
(``store.budgets``).

A finished attempt wakes nobody: the worker that finished it goes on with
its target's queue (the deliverer's loop claims the next row at once), so
an idle worker woken for it would only find the target taken.  Only a
worker that leaves a target's queue with its rows still due tells the idle
workers (``backend.notify``, as it commits): a row given back untouched
(``release``, on shutdown; ``release_unsent``, its target paused here), or
a pass that ends before the queue is done (``hand_off``: a stop, a limit).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from syndicate.errors import StoreError
from syndicate.models import Posted
from syndicate.store.backend import DuplicateError, notify
from syndicate.store.budgets import Budget, write_budget
from syndicate.store.outbox import record
from syndicate.store.part import StorePart

__all__ = ["AttemptsPart"]


class AttemptsPart(StorePart):
    """A leased row's life: the part of ``Store`` in this module."""

    def renew_lease(self, item_id: int, owner: str, until: float) -> bool:
        """Extend ``owner``'s lease to ``until``; False if another worker holds the row now."""
        with self.backend.transaction() as db:
            return db.execute("UPDATE outbox SET leased_until = CASE WHEN leased_until > ? "
                              "THEN leased_until ELSE ? END "
                              "WHERE id = ? AND state = 'sending' AND lease_owner = ?",
                              (until, until, item_id, owner)).rowcount == 1

    def begin_attempt(self, item_id: int, owner: str, *, now: float, lease_seconds: float, text: str) -> bool:
        """Before a request with the row's key leaves: renew the lease, note the attempt and its
        text.  False (and nothing written) if the lease was lost: the caller must not send."""
        with self.backend.transaction() as db:
            changed = db.execute(
                """UPDATE outbox SET leased_until = ?, first_attempt_at = COALESCE(first_attempt_at, ?)
                   WHERE id = ? AND state = 'sending' AND lease_owner = ?""",
                (now + lease_seconds, now, item_id, owner)).rowcount
            if changed != 1:
                return False
            tries = db.execute("SELECT COUNT(*) FROM outbox_events WHERE outbox_id = ? AND kind = 'attempt'",
                               (item_id,)).scalar()
            record(db, item_id, now, "attempt", f"try {tries + 1}", {"text": text})
        return True

    def attempted_texts(self, item_id: int) -> list[str]:
        """Every distinct text a request of this row carried, oldest first."""
        texts: dict[str, None] = {}
        for (data,) in self.backend.query("SELECT data FROM outbox_events WHERE outbox_id = ? "
                                          "AND kind = 'attempt' ORDER BY id", (item_id,)):
            text = json.loads(data or "{}").get("text")
            if isinstance(text, str):
                texts.setdefault(text)
        return list(texts)

    def held_remote_ids(self, target: str, since: float, *, excluding: int) -> frozenset[str]:
        """Remote ids other rows of ``target`` hold for posts made since ``since``."""
        return frozenset(r[0] for r in self.backend.query(
            "SELECT remote_id FROM outbox WHERE target = ? AND remote_id IS NOT NULL AND id != ? "
            "AND (sent_at IS NULL OR sent_at >= ?)", (target, excluding, since)))

    def _finish(self, item_id: int, owner: str, sql: str, params: Sequence[Any],
                event: tuple[str, str | None], budget: Budget | None = None,
                leaving: bool = False) -> bool:
        """The row's step, if ``owner`` holds it still; with it, the target's rate budget as its
        adapter saw it last (``budget``), so the next claim of the target, on any worker, paces by
        it (``store.budgets``).  ``leaving``: this worker gives the target's queue up, its row due
        again: the idle workers are woken to take it."""
        with self.backend.transaction() as db:
            changed = db.execute(sql + " WHERE id = ? AND state = 'sending' AND lease_owner = ? "
                                 "RETURNING target", (*params, item_id, owner)).rows
            if len(changed) != 1:
                return False
            now = self._clock()
            record(db, item_id, now, *event)
            if budget is not None:
                write_budget(db, changed[0][0], budget, now)
            if leaving:
                notify(db, changed[0][0])  # the target's queue is free for another worker
        return True

    def hand_off(self, targets: Sequence[str]) -> None:
        """This worker ends its pass over these targets' queues before they are done (a stop, a
        limit): wake the idle workers, whose claims take what is due (nothing if nothing is)."""
        if not targets or self.backend.dialect.notify is None:  # SQLite: no other worker listens
            return
        with self.backend.transaction() as db:
            for target in targets:
                notify(db, target)

    def mark_sent(self, item_id: int, owner: str, posted: Posted, *, found: bool = False,
                  budget: Budget | None = None) -> bool:
        """Record the remote post; False if the lease was lost meanwhile.  ``found``: by
        reconciliation, not by this attempt.  A post another row holds is refused (StoreError)."""
        sent_at = posted.posted_at.timestamp() if posted.posted_at else self._clock()
        try:
            return self._finish(
                item_id, owner,
                """UPDATE outbox SET state = 'sent', remote_id = ?, remote_url = ?, sent_at = ?,
                                     lease_owner = NULL, leased_until = NULL, last_error = NULL""",
                (posted.remote_id, posted.url, sent_at),
                ("found" if found else "sent", posted.url), budget,
            )
        except DuplicateError:
            raise StoreError(f"post {posted.url} is already recorded for another outbox row") from None

    def mark_failed(self, item_id: int, owner: str, error: str, *, budget: Budget | None = None) -> bool:
        return self._finish(
            item_id, owner,
            """UPDATE outbox SET state = 'failed', last_error = ?, lease_owner = NULL,
                                 leased_until = NULL""",
            (error,), ("failed", error), budget,
        )

    def reschedule(self, item_id: int, owner: str, next_attempt_at: float, error: str | None, *,
                   budget: Budget | None = None) -> bool:
        return self._finish(
            item_id, owner,
            """UPDATE outbox SET state = 'pending', next_attempt_at = ?, last_error = ?,
                                 lease_owner = NULL, leased_until = NULL""",
            (next_attempt_at, error),
            ("postponed", f"next try in {max(0, round(next_attempt_at - self._clock()))}s: {error}"), budget,
        )

    def release_unsent(self, item_id: int, owner: str, error: str, *, budget: Budget | None = None) -> bool:
        """Give a leased row back as if it had not been tried (its target is paused): pending,
        its place in the queue and its next attempt time kept, the attempt not counted."""
        return self._finish(
            item_id, owner,
            """UPDATE outbox SET state = 'pending', last_error = ?, lease_owner = NULL, leased_until = NULL,
                                 attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END""",
            (error,),
            ("paused", f"the target refused our credentials; waits for them: {error}"), budget, leaving=True,
        )

    def set_strict(self, item_id: int, owner: str, limit: int, why: str) -> bool:
        """From now on compose this row at ``limit`` code points, URLs counted literally."""
        return self._finish(item_id, owner, "UPDATE outbox SET strict_limit = ?", (limit,),
                            ("recomposed", why))

    def release(self, item_id: int, owner: str, *, budget: Budget | None = None) -> bool:
        """Give a leased row back untouched (shutdown): due again at once."""
        return self._finish(
            item_id, owner,
            "UPDATE outbox SET state = 'pending', lease_owner = NULL, leased_until = NULL",
            (), ("released", "on shutdown"), budget, leaving=True,
        )
