"""What every domain part of ``Store`` works with: the backend and the clock.

``Store`` (``syndicate.store``) is assembled from one part per domain
(``FeedsPart``, ``ArticlesPart``, …), each a class over this base holding
its domain's SQL; work that spans two domains in one transaction (an
article recorded with its outbox rows) calls the other domain's functions
of a ``Connection`` (``outbox.enqueue``, ``operator.hold``).

Work that locks several rows another transaction may lock in another order
(a whole set of rows updated at once) runs through ``_write``: a deadlock
the engine broke (``ConflictError``, PostgreSQL) rolled it back whole, and
it is run again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from syndicate.lazylog import getLogger
from syndicate.store.backend import Backend, ConflictError, Connection

log = getLogger("syndicate.store")

T = TypeVar("T")
CONFLICT_TRIES = 5  # runs of one piece of work the engine aborted to break a deadlock
IN_LIST = 500  # values per IN (…) list, within every engine's limit on parameters


def chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """``values`` in runs of at most ``IN_LIST``, each one query's ``IN (…)`` list."""
    for start in range(0, len(values), IN_LIST):
        yield values[start:start + IN_LIST]


def marks(values: Sequence[object]) -> str:
    """The ``?, ?, …`` placeholders of an ``IN (…)`` list of ``values``."""
    return ",".join("?" * len(values))


class StorePart:
    """The backend the SQL runs on, and the clock (Unix seconds) that dates what is written."""

    backend: Backend
    _clock: Callable[[], float]

    def _write(self, work: Callable[[Connection], T]) -> T:
        """``work`` in a write transaction, run again (up to ``CONFLICT_TRIES`` times in all) when the
        engine aborted it to break a deadlock: nothing of an aborted run was written."""
        for run in range(1, CONFLICT_TRIES + 1):
            try:
                with self.backend.transaction() as db:
                    return work(db)
            except ConflictError as exc:
                if run == CONFLICT_TRIES:
                    raise
                log.warning("state database transaction aborted by a conflict; running it again",
                            extra={"error": str(exc), "run": run})
        raise AssertionError("unreachable")
