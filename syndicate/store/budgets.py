"""Each target's rate budget, shared by every worker: what its server last said.

One row per target (table ``target_budgets``): ``remaining`` requests the
server still allows before ``reset_at`` (Unix seconds; None: it gave no
reset), as the adapter read them from the last answer's rate-limit headers
(``Target.rate_budget``).  Workers on one PostgreSQL state each have their
own adapter, so a budget one of them saw is written where the others read
it, in the transactions that already order the target's work:

- a claim (``outbox.claim_due``) passes over a target whose budget is spent
  (nothing left, its reset still ahead) and takes one request off a budget
  that has some left, so a claim made after a worker died mid-delivery
  counts what that worker may have spent;
- the transaction that finishes a row's attempt (``AttemptsPart``) writes
  the budget its adapter saw last, so the next claim of the target, on any
  worker, reads what the server said after the last request.

One row of a target is in flight at a time across the fleet, so the
target's requests come from one worker at a time and what is written here
is the server's latest word.  ``target_budgets()`` is what a fleet view reads.
"""

from __future__ import annotations

from datetime import UTC, datetime

from syndicate.store.backend import Connection
from syndicate.store.part import StorePart
from syndicate.value import valueclass

__all__ = ["Budget", "BudgetsPart", "TargetBudget", "budget_spent", "spend_one", "write_budget"]

Budget = tuple[int, datetime | None]  # (remaining, reset), as ``Target.rate_budget`` gives it


@valueclass
class TargetBudget:
    target: str
    remaining: int
    reset_at: float | None  # Unix seconds; None: the server gave no reset
    updated_at: float

    @property
    def budget(self) -> Budget:
        reset = datetime.fromtimestamp(self.reset_at, UTC) if self.reset_at is not None else None
        return self.remaining, reset


def write_budget(db: Connection, target: str, budget: Budget, now: float) -> None:
    """Record what the target's server said last (in a transaction that finishes its attempt)."""
    remaining, reset = budget
    db.execute("INSERT INTO target_budgets (target, remaining, reset_at, updated_at) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (target) DO UPDATE SET remaining = excluded.remaining, "
               "reset_at = excluded.reset_at, updated_at = excluded.updated_at",
               (target, max(0, int(remaining)), reset.timestamp() if reset else None, now))


def budget_spent(db: Connection, target: str, now: float) -> float | None:
    """When the target may be sent to again if its budget is spent now (its reset), else None."""
    row = db.execute("SELECT remaining, reset_at FROM target_budgets WHERE target = ?", (target,)).fetchone()
    if row is None or row[0] > 0 or row[1] is None or row[1] <= now:
        return None
    return float(row[1])


def spend_one(db: Connection, target: str, now: float) -> None:
    """A claim of the target: one request off a budget whose window is still open."""
    db.execute("UPDATE target_budgets SET remaining = remaining - 1, updated_at = ? "
               "WHERE target = ? AND remaining > 0 AND reset_at > ?", (now, target, now))


class BudgetsPart(StorePart):
    """The targets' shared rate budgets: the part of ``Store`` in this module."""

    def target_budget(self, target: str) -> TargetBudget | None:
        rows = self.backend.query("SELECT target, remaining, reset_at, updated_at FROM target_budgets "
                                  "WHERE target = ?", (target,))
        return TargetBudget(*rows[0]) if rows else None

    def target_budgets(self) -> list[TargetBudget]:
        """Every target's budget as last recorded, by name."""
        return [TargetBudget(*r) for r in self.backend.query(
            "SELECT target, remaining, reset_at, updated_at FROM target_budgets ORDER BY target")]

    def record_budget(self, target: str, budget: Budget) -> None:
        """Record a budget outside an attempt (a check of the credentials, the instance's limits)."""
        with self.backend.transaction() as db:
            write_budget(db, target, budget, self._clock())
