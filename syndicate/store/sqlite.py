"""The SQLite backend: one database file, one connection, shared by a process's threads.

Opening it makes the file owner-only first (``private_files``: it holds the
Bluesky session), then sets WAL (readers never wait for the writer),
``synchronous=NORMAL``, foreign keys, and ``busy_timeout``.

Writers wait for each other: each write transaction is ``BEGIN IMMEDIATE``,
which waits up to ``busy_timeout`` for the lock; a "database is locked"
past it is tried again ``LOCKED_RETRIES`` times with a doubling backoff
(``sleep``, injectable), so a busy database delays a record (``mark_sent``
above all), never loses it.  The schema's version is ``PRAGMA
user_version``; ``BEGIN IMMEDIATE`` already excludes every other writer,
so a migration's transaction is an ordinary write transaction.

Opening waits the same way (``_waiting``, the one mechanism): SQLite does
not always call the busy handler.  ``PRAGMA journal_mode=WAL`` on a new
file reads it, then writes its header; while another connection holds the
write lock (another process creating the same database), that read lock's
upgrade could deadlock, so SQLite answers "database is locked" at once,
whatever the busy timeout; the first read of a WAL database may also find
another connection recovering it.  Without the retry, two processes
opening a new database at once could fail one of them.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from syndicate.errors import StoreError
from syndicate.lazylog import getLogger
from syndicate.store.backend import SQLITE, Connection, Dialect, DuplicateError, Result, Row
from syndicate.store.private_files import make_database_private

__all__ = ["LOCKED_BACKOFF", "LOCKED_RETRIES", "SQLiteBackend"]

log = getLogger("syndicate.store")

LOCKED_RETRIES = 8  # "database is locked" after the busy timeout: tried again this many times
LOCKED_BACKOFF = 0.1  # seconds before the first of them, doubling up to 5 s
_UNIQUE = (sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)


class _SQLiteConnection:
    """The ``Connection`` of the one sqlite3 connection, translating its errors."""

    dialect: Dialect = SQLITE

    def __init__(self, db: sqlite3.Connection, where: str) -> None:
        self._db = db
        self._where = where

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        try:
            cursor = self._db.execute(sql, params)
            rows: list[Row] = cursor.fetchall()
            return Result(rows, cursor.rowcount)
        except sqlite3.DatabaseError as exc:
            raise _translated(exc, self._where) from None

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        try:
            return self._db.executemany(sql, rows).rowcount
        except sqlite3.DatabaseError as exc:
            raise _translated(exc, self._where) from None

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int | None:
        row = self.execute(sql, params).fetchone()
        return None if row is None else int(row[0])


def _translated(exc: sqlite3.DatabaseError, where: str) -> StoreError:
    """A driver error as the store's (a closed database too: it cannot be read)."""
    if isinstance(exc, sqlite3.IntegrityError) and exc.sqlite_errorcode in _UNIQUE:
        return DuplicateError(f"state database {where}: {exc}")
    return StoreError(f"state database {where}: {exc}")


class SQLiteBackend:
    """One SQLite database file (or ``:memory:``), safe to share between threads of one process."""

    dialect: Dialect = SQLITE

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = str(path)
        self._sleep = sleep
        self._lock = threading.RLock()
        try:
            if self.path != ":memory:":
                make_database_private(Path(self.path))  # it holds the Bluesky session
            self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None,
                                       check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._waiting((f"PRAGMA busy_timeout={int(busy_timeout * 1000)}", "PRAGMA journal_mode=WAL",
                           "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"))
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"state database {self.path}: {exc}") from None
        except OSError as exc:
            raise StoreError(f"state database {self.path}: {exc.strerror}") from None
        self._connection = _SQLiteConnection(self._db, self.path)

    @property
    def where(self) -> str:
        return self.path

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any error; a locked database is waited for."""
        with self._lock:
            self._begin()
            try:
                yield self._connection
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back by itself (a full disk)
                    self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise _translated(exc, self.path) from None

    migrating = transaction  # BEGIN IMMEDIATE excludes every other writer, migrating or not

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._lock:
            yield self._connection

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            return self._connection.execute(sql, params).rows

    def schema_version(self, db: Connection | None = None) -> int:
        if db is not None:
            return int(db.execute("PRAGMA user_version").scalar())
        return int(self.query("PRAGMA user_version")[0][0])

    def set_schema_version(self, db: Connection, version: int) -> None:
        db.execute(f"PRAGMA user_version = {int(version)}")

    def _begin(self) -> None:
        """BEGIN IMMEDIATE, waited for while another writer holds the lock."""
        self._waiting(("BEGIN IMMEDIATE",))

    def _waiting(self, statements: Sequence[str]) -> None:
        """Run ``statements``, all again (with a backoff) while another connection holds the lock.

        They are the open's pragmas or a ``BEGIN``: each leaves nothing behind when it fails.
        """
        delay = LOCKED_BACKOFF
        for retry in range(LOCKED_RETRIES + 1):
            try:
                for statement in statements:
                    self._db.execute(statement)
                return
            except sqlite3.OperationalError as exc:
                if retry == LOCKED_RETRIES or not any(w in str(exc) for w in ("locked", "busy")):
                    raise StoreError(f"state database {self.path}: {exc}") from None
            log.warning("state database locked by another writer; waiting",
                        extra={"state": self.path, "retry_in": delay})
            self._sleep(delay)
            delay = min(5.0, delay * 2)
