"""What is kept between runs beside the content: platform sessions, and the daemon's notes.

**Sessions** (table ``sessions``): a target's exported platform session (a
Bluesky session's tokens: a secret, never logged), with the service and
handle it was made for; it is reused only for those.

A session is refreshed under a lock (``locked_session``): on PostgreSQL the
row is selected ``FOR UPDATE`` and read again once held, so of two workers
whose access token expires at once, one refreshes (and saves the new
tokens in the same transaction) and the other, waiting for the row, reads
and reuses what it saved instead of spending the refresh token the first
just rotated.  SQLite has one process: a lock per target in it does.

**Meta** (table ``meta``): small named values the daemon writes and the
faces read: ``last_cycle_at`` (health), ``feed_title:NAME`` (the output
feed's titles), ``daemon_targets`` (which targets the running daemon can
post to, for the editors' service).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from syndicate.models import StoredSession
from syndicate.store.backend import Connection
from syndicate.store.part import StorePart
from syndicate.value import valueclass

__all__ = ["HeldSession", "SessionsPart", "write_meta"]

_local_locks: dict[tuple[str, str], threading.Lock] = {}  # (state, target): one process's refreshes
_local_locks_guard = threading.Lock()


@valueclass
class HeldSession:
    """A target's session while its lock is held: as stored now, and how to save its successor."""

    stored: StoredSession | None
    save: Callable[[StoredSession], None]


class SessionsPart(StorePart):
    """Sessions and meta: the part of ``Store`` kept between runs."""

    def load_session(self, target: str) -> StoredSession | None:
        """The target's saved session, with the service and handle it was made for."""
        rows = self.backend.query("SELECT data, service, handle FROM sessions WHERE target = ?", (target,))
        return StoredSession(rows[0][0], rows[0][1], rows[0][2]) if rows else None

    def save_session(self, target: str, session: StoredSession) -> None:
        with self.backend.transaction() as db:
            self._write_session(db, target, session)

    def _write_session(self, db: Connection, target: str, session: StoredSession) -> None:
        db.execute("INSERT INTO sessions (target, data, service, handle, updated_at) "
                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT (target) DO UPDATE SET "
                   "data = excluded.data, service = excluded.service, handle = excluded.handle, "
                   "updated_at = excluded.updated_at",
                   (target, session.data, session.service, session.handle, self._clock()))

    @contextmanager
    def locked_session(self, target: str) -> Iterator[HeldSession]:
        """Hold the target's session (no other worker refreshes it meanwhile): its stored value,
        read once the lock is held, and ``save`` for the refreshed one (written in the lock's
        transaction, committed as the block ends)."""
        for_update = self.backend.dialect.for_update
        if for_update:
            with self.backend.transaction() as db:
                rows = db.execute(f"SELECT data, service, handle FROM sessions WHERE target = ?{for_update}",
                                  (target,)).rows
                stored = StoredSession(rows[0][0], rows[0][1], rows[0][2]) if rows else None
                yield HeldSession(stored, lambda session: self._write_session(db, target, session))
            return
        with _local_locks_guard:
            lock = _local_locks.setdefault((self.backend.where, target), threading.Lock())
        with lock:
            yield HeldSession(self.load_session(target), lambda session: self.save_session(target, session))

    def set_meta(self, key: str, value: str) -> None:
        with self.backend.transaction() as db:
            write_meta(db, key, value)

    def get_meta(self, key: str) -> str | None:
        rows = self.backend.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    # -- what the daemon can post to --

    def record_daemon_targets(self, targets: Mapping[str, str | None]) -> None:
        """The daemon's targets as it starts or reloads: name → None if it can post there,
        else why not (``no access token: set …``)."""
        self.set_meta(_DAEMON_TARGETS, json.dumps(dict(sorted(targets.items()))))

    def daemon_targets(self) -> dict[str, str | None] | None:
        """What ``record_daemon_targets`` last recorded, or None if no daemon ever did."""
        raw = self.get_meta(_DAEMON_TARGETS)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        return {str(k): (v if isinstance(v, str) else None) for k, v in data.items()}


_DAEMON_TARGETS = "daemon_targets"


def write_meta(db: Connection, key: str, value: str) -> None:
    """Set a meta value in ``db``'s transaction (``Store.apply`` keeps a feed's title so)."""
    db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
               "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))
