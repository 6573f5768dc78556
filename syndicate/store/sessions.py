"""What is kept between runs beside the content: platform sessions, and the daemon's notes.

**Sessions** (table ``sessions``): a target's exported platform session (a
Bluesky session's tokens: a secret, never logged), with the service and
handle it was made for; it is reused only for those.

**Meta** (table ``meta``): small named values the daemon writes and the
faces read: ``last_cycle_at`` (health), ``feed_title:NAME`` (the output
feed's titles), ``daemon_targets`` (which targets the running daemon can
post to, for the editors' service).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from syndicate.models import StoredSession
from syndicate.store.backend import Connection
from syndicate.store.part import StorePart

__all__ = ["SessionsPart", "write_meta"]


class SessionsPart(StorePart):
    """Sessions and meta: the part of ``Store`` kept between runs."""

    def load_session(self, target: str) -> StoredSession | None:
        """The target's saved session, with the service and handle it was made for."""
        rows = self.backend.query("SELECT data, service, handle FROM sessions WHERE target = ?", (target,))
        return StoredSession(rows[0][0], rows[0][1], rows[0][2]) if rows else None

    def save_session(self, target: str, session: StoredSession) -> None:
        with self.backend.transaction() as db:
            db.execute("INSERT INTO sessions (target, data, service, handle, updated_at) "
                       "VALUES (?, ?, ?, ?, ?) ON CONFLICT (target) DO UPDATE SET "
                       "data = excluded.data, service = excluded.service, handle = excluded.handle, "
                       "updated_at = excluded.updated_at",
                       (target, session.data, session.service, session.handle, self._clock()))

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
