"""The workers: every ``syndicate run`` on this state, and when each was last seen alive.

One row per running process (table ``workers``), keyed by its lease owner
(``host:pid:nonce``, ``delivery.default_owner``): a lease names its worker
here.  A worker records itself as it starts (``worker_started``), says it
is alive on a heartbeat (``worker_seen``, see ``syndicate.daemon``) and
that it stopped as it exits (``worker_stopped``); one killed never says so,
and its ``last_seen_at`` ages.  The heartbeat is a thread of its own, so
each cycle's end is recorded too (``cycle_done``: the worker's
``last_cycle_at``, and the state's, in ``meta``): a worker whose loop hangs
still beats, but its last cycle ages.  With a PostgreSQL state several workers
share the outbox, and no flock can say which are gone: their leases run out
(``outbox``), and this table is what the fleet's status is read from.

Rows of workers stopped, or not seen, for ``FORGET_AFTER`` are dropped when
a worker starts.
"""

from __future__ import annotations

from syndicate.store.part import StorePart
from syndicate.store.sessions import write_meta
from syndicate.value import valueclass

__all__ = ["FORGET_AFTER", "Lease", "Worker", "WorkersPart"]

FORGET_AFTER = 7 * 86400.0  # seconds a stopped (or silent) worker is still listed


@valueclass
class Worker:
    owner: str  # the lease owner it claims rows as
    host: str
    pid: int
    started_at: float
    last_seen_at: float
    stopped_at: float | None  # None: running, or killed (then last_seen_at stops moving)
    last_cycle_at: float | None = None  # when its last cycle ended; None: none has yet


@valueclass
class Lease:
    """An outbox row in flight (``sending``), as the fleet's status shows it."""

    target: str
    owner: str | None  # the worker holding it
    leased_until: float | None  # past: its lease ran out (its worker died, or is late): due again


class WorkersPart(StorePart):
    """The workers' table: the part of ``Store`` in this module."""

    def worker_started(self, owner: str, *, host: str, pid: int) -> None:
        """Record a worker as it starts (and forget the ones long gone)."""
        now = self._clock()
        with self.backend.transaction() as db:
            db.execute("DELETE FROM workers WHERE COALESCE(stopped_at, last_seen_at) < ?",
                       (now - FORGET_AFTER,))
            db.execute("""INSERT INTO workers (owner, host, pid, started_at, last_seen_at)
                          VALUES (?, ?, ?, ?, ?)
                          ON CONFLICT (owner) DO UPDATE SET host = excluded.host, pid = excluded.pid,
                              started_at = excluded.started_at, last_seen_at = excluded.last_seen_at,
                              stopped_at = NULL""", (owner, host, pid, now, now))

    def worker_seen(self, owner: str) -> bool:
        """The worker is alive now; False if it has no row (another worker forgot it: record it again)."""
        with self.backend.transaction() as db:
            return db.execute("UPDATE workers SET last_seen_at = ? WHERE owner = ?",
                              (self._clock(), owner)).rowcount == 1

    def cycle_done(self, owner: str, at: float) -> None:
        """A cycle of ``owner`` ended at ``at``: the state's last cycle (``meta.last_cycle_at``, any
        worker's) and the worker's own (if it is recorded), in one transaction."""
        with self.backend.transaction() as db:
            write_meta(db, "last_cycle_at", repr(at))
            db.execute("UPDATE workers SET last_cycle_at = ? WHERE owner = ?", (at, owner))

    def worker_stopped(self, owner: str) -> None:
        with self.backend.transaction() as db:
            now = self._clock()
            db.execute("UPDATE workers SET stopped_at = ?, last_seen_at = ? WHERE owner = ?",
                       (now, now, owner))

    def workers(self) -> list[Worker]:
        """Every worker recorded, the most recently started first."""
        return [Worker(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in self.backend.query(
            "SELECT owner, host, pid, started_at, last_seen_at, stopped_at, last_cycle_at FROM workers "
            "ORDER BY started_at DESC, owner")]

    def leases(self) -> list[Lease]:
        """Every outbox row in flight: who holds it, for which target, until when."""
        return [Lease(r[0], r[1], r[2]) for r in self.backend.query(
            "SELECT target, lease_owner, leased_until FROM outbox WHERE state = 'sending' "
            "ORDER BY target, id")]
