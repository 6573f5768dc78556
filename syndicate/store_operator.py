"""The state an operator or editor acts on, beside the outbox: held deliveries.

Part of ``Store`` (a mixin: the SQL still lives with the store, in its
transactions).

**Held deliveries** (table ``held``): one poll that would queue more than
a feed's ``hold_suspected_migration`` entries, none newer than the newest
article already known, is a feed that moved (a new domain, new permalinks,
new guids), not news.  Its deliveries are recorded here instead of in the
outbox; ``status`` shows them as ``held``; ``release_held`` moves them into
the outbox (oldest first, as any backlog) and ``discard_held`` drops them,
leaving the articles recorded as seen.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any


class OperatorStateMixin:
    """Held deliveries; mixed into ``Store``."""

    if TYPE_CHECKING:  # what it uses of ``Store``
        _clock: Any

        def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]: ...

        def _enqueue(self, db: sqlite3.Connection, article_id: int, targets: Iterable[str], *,
                     now: float, seq: int = 0, intro: str | None = None,
                     requested_by: str | None = None) -> int: ...

    def held_count(self, feed: str | None = None) -> int:
        """How many deliveries are held (for one feed, or all)."""
        where, params = _held_filter(feed, None)
        return int(self._query(f"SELECT COUNT(*) FROM held{where}", params)[0][0])

    def held_feeds(self) -> dict[str, int]:
        """{feed: held deliveries} for every feed with some held."""
        return {r[0]: r[1] for r in self._query("SELECT feed, COUNT(*) FROM held GROUP BY feed")}

    def release_held(self, *, feed: str | None = None, article_id: int | None = None) -> int:
        """Queue the held deliveries of a feed or an article (or all) now; returns how many."""
        where, params = _held_filter(feed, article_id)
        now = self._clock()
        queued = 0
        with self.transaction() as db:
            rows = db.execute(f"SELECT article_id, target FROM held{where}", params).fetchall()
            for article_id_, target in rows:
                queued += self._enqueue(db, article_id_, [target], now=now)
            db.execute(f"DELETE FROM held{where}", params)
        return queued

    def discard_held(self, *, feed: str | None = None, article_id: int | None = None) -> int:
        """Drop held deliveries (their articles stay recorded as seen); returns how many."""
        where, params = _held_filter(feed, article_id)
        with self.transaction() as db:
            return int(db.execute(f"DELETE FROM held{where}", params).rowcount)


def _held_filter(feed: str | None, article_id: int | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if feed is not None:
        clauses.append("feed = ?")
        params.append(feed)
    if article_id is not None:
        clauses.append("article_id = ?")
        params.append(article_id)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
