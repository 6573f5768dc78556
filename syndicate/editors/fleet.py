"""The fleet as operators see it: the workers on this state, each target's shared budget, its queue.

``fleet_view(store, now)`` reads the store once and answers a ``Fleet``
(``editors/values.py``), which ``syndicate status`` prints, ``--json`` and
``GET /api/status`` write (``editors/as_json.py``, under ``"fleet"``) and
``/metrics`` exposes (``syndicate.metrics``).  Nothing here writes.

- **Workers** (``store.workers``): each ``syndicate run`` that recorded
  itself, with its last heartbeat.  ``running``: seen within
  ``SILENT_AFTER``; ``not seen``: silent longer than that and never said it
  stopped — killed, or hung; ``stopped``: it said so as it exited.  With each,
  the outbox rows it holds (``leased``) and those whose leases ran out
  (``expired``): a dead worker shows first as not seen, then, as its leases
  run out (``delivery.lease``), as rows any other worker may claim again.
- **Budgets** (``Store.target_budgets``): what each target's server last
  said to any worker; ``spent`` while nothing is left before a reset still
  ahead (no worker sends to it until then).
- **Queues** (``Store.outbox_depth``): each target's rows by state, and who
  holds its row in flight — one per target across the fleet
  (``store.outbox``) — or that its lease ran out.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from syndicate.editors.values import BudgetStatus, Fleet, QueueStatus, WorkerState, WorkerStatus

if TYPE_CHECKING:
    from syndicate.store import Store, Worker
    from syndicate.store.workers import Lease

__all__ = ["SILENT_AFTER", "STATE_ORDER", "fleet_view", "worker_state"]

# A running worker says it is alive every daemon.HEARTBEAT (30 s); three missed beats make it
# "not seen" (a loaded machine may miss one).  tests/test_fleet_view.py checks the two agree.
SILENT_AFTER = 90.0
STATE_ORDER = ("pending", "sending", "sent", "failed")  # then any other state, by name


def worker_state(worker: Worker, now: float, silent_after: float = SILENT_AFTER) -> WorkerState:
    if worker.stopped_at is not None:
        return "stopped"
    return "not seen" if now - worker.last_seen_at > silent_after else "running"


def _ordered(states: dict[str, int]) -> tuple[tuple[str, int], ...]:
    rank = {name: i for i, name in enumerate(STATE_ORDER)}
    return tuple(sorted(states.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def fleet_view(store: Store, now: float, *, silent_after: float = SILENT_AFTER) -> Fleet:
    """The workers, the shared budgets and the queues of ``store``, as they stand at ``now``."""
    leases = store.leases()

    def running(until: float | None) -> bool:
        return until is not None and until > now

    live = Counter(lease.owner for lease in leases if running(lease.leased_until))
    lapsed = Counter(lease.owner for lease in leases if not running(lease.leased_until))
    workers = tuple(
        WorkerStatus(w.owner, w.host, w.pid, w.started_at, w.last_seen_at, w.stopped_at,
                     worker_state(w, now, silent_after), live[w.owner], lapsed[w.owner])
        for w in store.workers())
    budgets = tuple(
        BudgetStatus(b.target, b.remaining, b.reset_at, b.updated_at,
                     spent=b.remaining <= 0 and b.reset_at is not None and b.reset_at > now)
        for b in store.target_budgets())
    in_flight: dict[str, Lease] = {}
    for lease in leases:  # the first row of each target (there is one, unless a late worker is recording)
        in_flight.setdefault(lease.target, lease)
    queues = []
    for target, states in sorted(store.outbox_depth().items()):
        held = in_flight.get(target)
        queues.append(QueueStatus(target, _ordered(states), held.owner if held else None,
                                  held is not None and not running(held.leased_until)))
    return Fleet(now, workers, budgets, tuple(queues))
