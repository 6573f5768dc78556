"""The running App, swapped on reload without pulling the floor from under its users.

Whoever works with the App for a while (a listener request, a cycle and its
deliveries) holds it for that long::

    with holder.use() as app:
        app.store.recent(20)

``replace(new)`` makes ``new`` the App that every later ``use()`` gets; the
old one is closed (targets, fetcher, store) when its last user is done — at
once if nobody was using it.  So a reload never closes a store under a
request in flight, and a request during a reload is served by one App from
start to end, old or new, never a mix.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, Protocol, TypeVar

log = logging.getLogger("syndicate.daemon")


class Closable(Protocol):
    def close(self) -> None: ...


A = TypeVar("A", bound=Closable)


class AppHolder(Generic[A]):
    """The current App and a count of the users of each App still open.  Thread-safe."""

    def __init__(self, app: A) -> None:
        self._lock = threading.Lock()
        self._current = app
        self._users: dict[int, int] = {}  # id(app) → users, for the current and retired ones
        self._retired: dict[int, A] = {}  # replaced, still in use: closed by their last user

    @property
    def current(self) -> A:
        return self._current

    @contextmanager
    def use(self) -> Iterator[A]:
        """The current App, kept open until the block ends (even if it is replaced meanwhile)."""
        with self._lock:
            app = self._current
            self._users[id(app)] = self._users.get(id(app), 0) + 1
        try:
            yield app
        finally:
            self._release(app)

    def replace(self, new: A) -> A:
        """Make ``new`` current; the old App is closed now if unused, else by its last user."""
        with self._lock:
            old, self._current = self._current, new
            idle = self._users.get(id(old), 0) == 0
            if not idle:
                self._retired[id(old)] = old
        if idle:
            self._close(old)
        else:
            log.debug("previous configuration's app stays open for the requests in flight")
        return old

    def in_use(self, app: A) -> int:
        """How many users hold ``app`` right now."""
        with self._lock:
            return self._users.get(id(app), 0)

    def _release(self, app: A) -> None:
        with self._lock:
            left = self._users[id(app)] - 1
            if left:
                self._users[id(app)] = left
                return
            del self._users[id(app)]
            retired = self._retired.pop(id(app), None)
        if retired is not None:
            self._close(retired)

    @staticmethod
    def _close(app: A) -> None:
        try:
            app.close()
        except Exception:  # the new App runs on; a failed close of the old one is only reported
            log.exception("closing the previous configuration's app failed")
