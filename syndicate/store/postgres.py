"""The PostgreSQL backend: one database on a server, shared by any number of workers.

A ``psycopg_pool.ConnectionPool`` (psycopg 3) serves a process's threads:
each write transaction and each read takes a connection for its length and
gives it back.  Opening connects once first, so an unreachable server or a
refused login is one clear ``StoreError`` at start; a connection the server
dropped since is checked out of the pool, never handed to a transaction.

Transactions are READ COMMITTED, which every statement here is written for:
each statement sees what was committed before it began; claims lock the
rows they take (``FOR UPDATE SKIP LOCKED``) and the work they take them for
(``pg_try_advisory_xact_lock``, see ``backend.try_lock``), so two workers
never lease one row.  A deadlock the server broke, or a serialization
failure, is ``ConflictError`` (``StorePart._write`` runs such work again).

The portable SQL (``backend``) is translated once per statement: ``?`` →
``%s`` outside quoted literals, and every ``%`` doubled; a Python ``bool``
is sent as 0 or 1 (flags are INTEGER columns, as in SQLite).  Rows read by
position and by name (``PgRow``).  The schema's version is the one row of
``schema_version``; a migration's transaction runs under an advisory lock
(``migrating``), so processes starting at once migrate one after the other.

Nothing here is imported unless the state is a ``postgresql://`` URL.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
import psycopg.errors
from psycopg.adapt import Dumper
from psycopg.postgres import types as pg_types
from psycopg_pool import ConnectionPool

from syndicate.errors import StoreError
from syndicate.logs import redact
from syndicate.store.backend import POSTGRES, ConflictError, Connection, Dialect, DuplicateError, Result, Row
from syndicate.store.location import password_from_environment, redacted

__all__ = ["MIGRATION_LOCK", "PgRow", "PostgresBackend", "to_psycopg"]

MIGRATION_LOCK = 0x73796E6469636174  # "syndicat": the advisory lock a migration's transaction holds
POOL_SIZE = 10  # connections per process at most: the delivery threads, the listener, the loop
CONNECT_TIMEOUT = 10  # seconds to reach the server
POOL_TIMEOUT = 30.0  # seconds a thread waits for a free connection before it is a StoreError


class PgRow:
    """A result row by position (``row[0]``) and by column name (``row["id"]``)."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str, /) -> Any:
        return self._values[key] if isinstance(key, int) else self._values[self._index[key]]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._index)

    def __repr__(self) -> str:
        return f"PgRow({dict(zip(self._index, self._values, strict=False))!r})"


def _pg_rows(cursor: psycopg.Cursor[Any]) -> Callable[[Sequence[Any]], PgRow]:
    """psycopg's row factory for ``PgRow``: the columns' index is built once per result."""
    index: dict[str, int] = {}
    for position, column in enumerate(cursor.description or ()):
        index.setdefault(column.name, position)
    return lambda values: PgRow(values, index)


class _FlagDumper(Dumper):
    """A Python bool as the INTEGER 0 or 1 a flag column holds (as SQLite stores it)."""

    oid = pg_types["int2"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.adapters.register_dumper(bool, _FlagDumper)


@functools.lru_cache(maxsize=2048)
def to_psycopg(sql: str) -> str:
    """Portable SQL in psycopg's style: ``?`` → ``%s`` outside quoted literals, ``%`` → ``%%``."""
    out: list[str] = []
    quote = ""
    for ch in sql:
        if ch == "%":
            out.append("%%")
            continue
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            out.append("%s")
            continue
        out.append(ch)
    return "".join(out)


def _translated(exc: psycopg.Error, where: str) -> StoreError:
    """A driver error as the store's, in one line."""
    text = " ".join(str(exc).split("\n")[0].split()) or type(exc).__name__
    message = f"state database {where}: {text}"
    if isinstance(exc, psycopg.errors.UniqueViolation):
        return DuplicateError(message)
    if isinstance(exc, psycopg.errors.SerializationFailure | psycopg.errors.DeadlockDetected):
        return ConflictError(message)
    return StoreError(message)


class _PgConnection:
    """The ``Connection`` of one pooled psycopg connection, translating SQL and errors."""

    dialect: Dialect = POSTGRES

    def __init__(self, conn: psycopg.Connection[PgRow], where: str) -> None:
        self._conn = conn
        self._where = where

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        try:
            cursor = self._conn.execute(to_psycopg(sql), tuple(params))
            rows: list[Row] = list(cursor.fetchall()) if cursor.description is not None else []
            return Result(rows, cursor.rowcount)
        except psycopg.Error as exc:
            raise _translated(exc, self._where) from None

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        try:
            with self._conn.cursor() as cursor:
                cursor.executemany(to_psycopg(sql), [tuple(row) for row in rows])
                return cursor.rowcount
        except psycopg.Error as exc:
            raise _translated(exc, self._where) from None

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int | None:
        row = self.execute(sql, params).fetchone()
        return None if row is None else int(row[0])


class PostgresBackend:
    """A PostgreSQL database named by a URL, safe to share between threads and processes."""

    dialect: Dialect = POSTGRES

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self._where = redacted(url)
        kwargs: dict[str, Any] = {"row_factory": _pg_rows, "connect_timeout": CONNECT_TIMEOUT,
                                  "application_name": "syndicate"}
        password = password_from_environment(url)
        for secret in (urlsplit(url).password, password):
            if secret:
                redact(secret)  # never in a log line, whatever prints it
        if password is not None:
            kwargs["password"] = password
        self.connect_kwargs = {k: v for k, v in kwargs.items() if k != "row_factory"}  # for LISTEN
        try:
            psycopg.connect(url, **kwargs).close()  # a refused login or no server: say so now, once
        except psycopg.Error as exc:
            raise _translated(exc, self._where) from None
        except ValueError as exc:  # not a URL psycopg can read
            raise StoreError(f"state database {self._where}: {exc}") from None
        self._pool: ConnectionPool[psycopg.Connection[PgRow]] = ConnectionPool(
            url, kwargs=kwargs, min_size=1, max_size=max(1, pool_size), open=True, configure=_configure,
            check=ConnectionPool.check_connection, timeout=POOL_TIMEOUT, name="syndicate")

    @property
    def where(self) -> str:
        return self._where

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[PgRow]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:  # no connection to be had (the pool's own errors are psycopg's)
            raise _translated(exc, self._where) from None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A READ COMMITTED transaction: committed at the end of the block, rolled back on any error."""
        with self._connection() as conn:
            try:
                with conn.transaction():
                    yield _PgConnection(conn, self._where)
            except psycopg.Error as exc:  # at COMMIT (each statement translates its own)
                raise _translated(exc, self._where) from None

    @contextmanager
    def migrating(self) -> Iterator[Connection]:
        """A transaction begun once this session holds the migration's advisory lock, released after
        it ends: migrators run one after the other.  The lock is taken *before* the transaction
        begins, not inside it (``pg_advisory_xact_lock``): a transaction that began before another
        migrator committed could go on reading the catalog as it was then (the server refreshes it
        when a transaction begins, and when it locks a table, not on an advisory lock), so it would
        not see the tables just made and make them again."""
        with self._connection() as conn:
            try:
                conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
                conn.commit()
                try:
                    with conn.transaction():
                        yield _PgConnection(conn, self._where)
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
                    conn.commit()
            except psycopg.Error as exc:
                raise _translated(exc, self._where) from None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._connection() as conn:
            yield _PgConnection(conn, self._where)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.read() as db:
            return db.execute(sql, params).rows

    def schema_version(self, db: Connection | None = None) -> int:
        if db is None:
            with self.read() as reading:
                return _version(reading)
        return _version(db)

    def set_schema_version(self, db: Connection, version: int) -> None:
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY DEFAULT 1 "
                   "CHECK (id = 1), version INTEGER NOT NULL)")
        db.execute("INSERT INTO schema_version (id, version) VALUES (1, ?) "
                   "ON CONFLICT (id) DO UPDATE SET version = excluded.version", (int(version),))


def _version(db: Connection) -> int:
    if not db.execute("SELECT to_regclass('schema_version') IS NOT NULL").scalar():
        return 0
    row = db.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0
