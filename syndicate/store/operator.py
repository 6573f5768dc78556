"""The state an operator or editor acts on, beside the outbox: held deliveries, paused targets.

Part of ``Store`` (``OperatorPart``); ``hold`` is the held-delivery write
the ingest transaction (``articles``) makes.

**Held deliveries** (table ``held``): one poll that would queue more than
a feed's ``hold_suspected_migration`` entries, none newer than the newest
article already known, is a feed that moved (a new domain, new permalinks,
new guids), not news.  Its deliveries are recorded here instead of in the
outbox; ``status`` shows them as ``held``; ``release_held`` moves them into
the outbox (oldest first, as any backlog) and ``discard_held`` drops them,
leaving the articles recorded as seen.

**Paused targets** (table ``targets``): a target whose credentials the
server refused is paused — its outbox rows wait, untouched and in order —
with the refusal, what to fix (the variable or file holding the secret),
and when to check again (see ``syndicate.credentials``).  Every target the
daemon runs has a row, paused or not, so ``/metrics`` can say 0 or 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from syndicate.store.backend import Connection
from syndicate.store.outbox import enqueue
from syndicate.store.part import StorePart
from syndicate.value import valueclass

__all__ = ["OperatorPart", "TargetPause", "hold"]


@valueclass
class TargetPause:
    """Why a target is paused, since when, and what to fix."""

    target: str
    since: float
    reason: str  # the server's refusal, one line
    fix: str  # the variable (or file) holding the secret
    next_check_at: float | None


def hold(db: Connection, article_id: int, target: str, *, feed: str, now: float, reason: str) -> int:
    """Hold a new article's delivery to ``target`` (not queued) with ``reason``; 1 if it was not yet."""
    return db.execute("INSERT INTO held (article_id, target, feed, held_at, reason) VALUES (?, ?, ?, ?, ?) "
                      "ON CONFLICT DO NOTHING", (article_id, target, feed, now, reason)).rowcount


class OperatorPart(StorePart):
    """Held deliveries and paused targets: the part of ``Store`` in this module."""

    def held_count(self, feed: str | None = None) -> int:
        """How many deliveries are held (for one feed, or all)."""
        where, params = _held_filter(feed, None)
        return int(self.backend.query(f"SELECT COUNT(*) FROM held{where}", params)[0][0])

    def held_feeds(self) -> dict[str, int]:
        """{feed: held deliveries} for every feed with some held."""
        return {r[0]: r[1] for r in self.backend.query("SELECT feed, COUNT(*) FROM held GROUP BY feed")}

    def release_held(self, *, feed: str | None = None, article_id: int | None = None) -> int:
        """Queue the held deliveries of a feed or an article (or all) now; returns how many."""
        where, params = _held_filter(feed, article_id)
        now = self._clock()
        queued = 0
        with self.backend.transaction() as db:
            rows = db.execute(f"SELECT article_id, target FROM held{where}", params).fetchall()
            for article_id_, target in rows:
                queued += enqueue(db, article_id_, [target], now=now)
            db.execute(f"DELETE FROM held{where}", params)
        return queued

    def discard_held(self, *, feed: str | None = None, article_id: int | None = None) -> int:
        """Drop held deliveries (their articles stay recorded as seen); returns how many."""
        where, params = _held_filter(feed, article_id)
        with self.backend.transaction() as db:
            return db.execute(f"DELETE FROM held{where}", params).rowcount

    # -- paused targets --

    def note_targets(self, names: Iterable[str]) -> None:
        """Make sure each target has a row (not paused unless it already was)."""
        rows = [(name,) for name in sorted(set(names))]  # one order for every worker starting at once
        self._write(lambda db: db.executemany("INSERT INTO targets (name) VALUES (?) ON CONFLICT DO NOTHING",
                                              rows))

    def pause_target(self, name: str, reason: str, fix: str, next_check_at: float) -> bool:
        """Pause ``name``; True if it was not paused before (the reason is then recorded)."""
        with self.backend.transaction() as db:
            changed = db.execute(
                """INSERT INTO targets (name, paused_since, reason, fix, next_check_at)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET paused_since = excluded.paused_since,
                       reason = excluded.reason, fix = excluded.fix, next_check_at = excluded.next_check_at
                   WHERE targets.paused_since IS NULL""",
                (name, self._clock(), reason, fix, next_check_at)).rowcount
            return bool(changed)

    def schedule_target_check(self, name: str, next_check_at: float) -> None:
        with self.backend.transaction() as db:
            db.execute("UPDATE targets SET next_check_at = ? WHERE name = ?", (next_check_at, name))

    def resume_target(self, name: str) -> None:
        with self.backend.transaction() as db:
            db.execute("UPDATE targets SET paused_since = NULL, reason = NULL, fix = NULL, "
                       "next_check_at = NULL WHERE name = ?", (name,))

    def paused_targets(self) -> dict[str, TargetPause]:
        """{target: its pause} for every paused target."""
        return {r[0]: TargetPause(r[0], r[1], r[2] or "", r[3] or "", r[4]) for r in self.backend.query(
            "SELECT name, paused_since, reason, fix, next_check_at FROM targets "
            "WHERE paused_since IS NOT NULL ORDER BY name")}

    def target_names(self) -> list[str]:
        """Every target the daemon has run (for the per-target gauges)."""
        return [r[0] for r in self.backend.query("SELECT name FROM targets ORDER BY name")]


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
