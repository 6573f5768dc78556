"""One running syndicate per state database: an exclusive lock beside it.

``syndicate run`` (and ``run --once``) takes an exclusive, non-blocking
``flock`` on ``<state>.lock`` (mode 0600) before anything else and holds
it for the life of the process.  The kernel drops it when the process
ends, however it ends (SIGKILL included), so there is never a stale lock
to clean up.  A second ``run`` on the same state finds it held and stops
with one line naming the holder, written into the file by whoever holds
it::

    state state/syndicate.db is in use by another syndicate (pid 1 on host web-1, since
    2025-10-13T09:00:00Z); stop it first, or give this one another state

Because only the lock holder ever leases outbox rows, a lease still in
``sending`` when the lock is taken belongs to a process that is gone (a
crash, a kill, another container that shared this hostname and pid 1):
the deliverer expires them all at start, no pid checks.  The editors'
commands (``repost``, ``retry``, ``status``, ``preview``, ``feed``) do not
take the lock: they write rows in single transactions and never lease.

A PostgreSQL state (a ``postgresql://`` URL) has no lock: any number of
workers share it, and a lease is recovered only by running out.

The lock is only as good as ``flock`` on the file system that holds the
state: local disks and Docker volumes, yes; NFS and other network file
systems are not supported (SQLite itself is not safe there either).
"""

from __future__ import annotations

import fcntl
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from syndicate.errors import StateLocked, StoreError


def lock_path(state: str | os.PathLike[str]) -> Path | None:
    """Where the lock of ``state`` lives; None for an in-memory database, and for a PostgreSQL
    one (several workers share it: no lock, see ``syndicate.daemon``)."""
    from syndicate.store.location import is_database_url

    text = str(state)
    return None if text == ":memory:" or is_database_url(state) else Path(text + ".lock")


class StateLock:
    """The exclusive lock on one state database (a context manager)."""

    def __init__(self, state: str | os.PathLike[str]) -> None:
        self.state = str(state)
        self.path = lock_path(state)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or raise ``StateLocked`` naming its holder (never waits)."""
        if self.path is None or self._fd is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"state {self.state}: cannot open its lock {self.path}: "
                             f"{exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise StateLocked(self.state, holder) from None
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"state {self.state}: cannot lock {self.path}: {exc.strerror}") from None
        try:
            os.fchmod(fd, 0o600)
        except OSError:  # not ours to change (another user made it): the lock still holds
            pass
        started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}, since {started}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Let go (the kernel does the same when the process dies)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the only descriptor drops the flock

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return " ".join(text.split()) or "a process that has not said who it is yet"
