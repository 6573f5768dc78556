"""Idle workers woken at once: ``LISTEN`` for the outbox's news on PostgreSQL.

Every transaction that makes work for the outbox that no worker is doing —
new rows and reposts (``outbox.enqueue``), an editor's retries
(``retry_failed``) and post-now, a row or a queue a worker leaves due (a
release on shutdown, a target paused on refused credentials, a pass cut
short: ``AttemptsPart``) — says so on ``WORK_CHANNEL`` (``backend.notify``:
``pg_notify``, sent as it commits).  A finished attempt says nothing: its
worker takes the target's next row itself, and a worker woken for it would
find the target taken.
``WorkListener`` listens on a connection of its own (not the pool's: a
listening session must stay open, outside any transaction) in a thread,
and calls ``wake`` for each notification, and once each time it starts
listening (news said while it was not listening is not lost, only late).
A connection that drops is made again after a backoff; meanwhile (and
always, on SQLite, where one process wakes itself) the daemon's polling
stays the fallback.

``listen_for_work(backend, wake)``: the listener for a PostgreSQL state,
None for SQLite.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from syndicate.store.backend import WORK_CHANNEL, Backend

__all__ = ["WorkListener", "listen_for_work"]

log = logging.getLogger("syndicate.store")

POLL = 1.0  # seconds between looks at the stop flag while nothing is said
RECONNECT_FIRST, RECONNECT_MAX = 1.0, 60.0  # the backoff before listening again after a failure


class WorkListener:
    """``LISTEN WORK_CHANNEL`` in a thread; ``wake()`` on each notification.  ``listening`` is set
    while it listens; ``close()`` stops it."""

    def __init__(self, url: str, connect_kwargs: dict[str, Any], wake: Callable[[], None], *,
                 where: str, channel: str = WORK_CHANNEL) -> None:
        self._url = url
        self._kwargs = connect_kwargs
        self._wake = wake
        self._where = where
        self._channel = channel
        self._stop = threading.Event()
        self.listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="listen", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(POLL * 5)

    def _run(self) -> None:
        import psycopg

        delay = RECONNECT_FIRST
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, **self._kwargs) as conn:
                    conn.execute(f"LISTEN {self._channel}")
                    self.listening.set()
                    delay = RECONNECT_FIRST
                    self._wake()  # whatever was said while nobody listened
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=POLL):
                            self._wake()
            except psycopg.Error as exc:
                self.listening.clear()
                if self._stop.is_set():
                    return
                log.warning("state database: not listening for new work, polling meanwhile",
                            extra={"state": self._where, "error": " ".join(str(exc).split()),
                                   "retry_in": delay})
                self._stop.wait(delay)
                delay = min(RECONNECT_MAX, delay * 2)
        self.listening.clear()


def listen_for_work(backend: Backend, wake: Callable[[], None]) -> WorkListener | None:
    """A listener calling ``wake`` whenever another process makes work (None: SQLite)."""
    url = getattr(backend, "url", None)
    kwargs = getattr(backend, "connect_kwargs", None)
    if backend.dialect.notify is None or not isinstance(url, str) or not isinstance(kwargs, dict):
        return None
    return WorkListener(url, kwargs, wake, where=backend.where)
