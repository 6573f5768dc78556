"""A target's pacing over its queue: what it allows now, and when each waiting row is planned.

The pacing state is the store's own: each target's posts by time (the
outbox's ``sent_at``, read from the ``outbox_sent`` index), so every worker
sharing the state counts the same posts.  The rules are the target's
``Pacing`` (``syndicate.pacing``), handed in by whoever claims or plans;
this module applies them beside the queue's own order and due times
(``outbox``), never instead of them: a row goes out at the later of its own
due time and its pacing slot.  ``paced_limit`` and ``paced_at`` are what
``OutboxPart.claim_due`` and ``next_due_at`` ask; ``PacingPart.planned`` is
the plan ``status`` and the editors' page show.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from syndicate.pacing import HOUR, Pacing, Slot
from syndicate.store.backend import Connection
from syndicate.store.part import StorePart

__all__ = ["PacingPart", "paced_at", "paced_limit", "posted_times"]


def posted_times(db: Connection, target: str, now: float) -> list[float]:
    """When the target's posts of the last two hours went out, oldest first (the most any rule
    looks back: an hour, or the hour since quiet hours ended)."""
    return [float(r[0]) for r in db.execute(
        "SELECT sent_at FROM outbox WHERE target = ? AND sent_at > ? AND sent_at <= ? AND op = 'post' "
        "ORDER BY sent_at",
        (target, now - 2 * HOUR, now))]


def paced_at(db: Connection, target: str, rules: Pacing, at: float, now: float) -> float:
    """The earliest moment at or after ``at`` the target's pacing lets its next post go."""
    return rules.next_slot(max(at, now), posted_times(db, target, now)).at


def paced_limit(db: Connection, target: str, rules: Pacing | None, now: float, limit: int) -> int:
    """How many of ``limit`` posts the target's pacing lets go out now."""
    if rules is None or not rules.active or limit <= 0:
        return limit
    slots = rules.schedule([now] * limit, posted_times(db, target, now), now)
    return sum(1 for s in slots if s.at <= now)


class PacingPart(StorePart):
    """The pacing plan: the part of ``Store`` in this module."""

    def planned(self, pacing: Mapping[str, Pacing], targets: Iterable[str] | None = None,
                *, extra: int = 0) -> dict[str, list[tuple[int, Slot]]]:
        """Target → (row id, planned slot) of each pending row of its queue, in order, for the
        targets with pacing (of ``targets``, default all); ``extra``: that many more slots after
        them, with row id 0 (where a post queued now would go)."""
        now = self._clock()
        out: dict[str, list[tuple[int, Slot]]] = {}
        with self.backend.read() as db:
            for target in targets if targets is not None else list(pacing):
                rules = pacing.get(target)
                if rules is None or not rules.active:
                    continue
                rows = db.execute("SELECT id, next_attempt_at FROM outbox WHERE target = ? "
                                  "AND state = 'pending' ORDER BY published, id", (target,)).fetchall()
                due = [float(r[1]) for r in rows] + [now] * extra
                ids = [int(r[0]) for r in rows] + [0] * extra
                slots = rules.schedule(due, posted_times(db, target, now), now)
                out[target] = list(zip(ids, slots, strict=True))
        return out
