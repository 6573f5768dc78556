"""The seam between the store's domains and a database engine.

The domain modules (``feeds``, ``articles``, ``outbox``, ``deliveries``,
``sessions``, ``operator``, ``workers``) and the schema's steps
(``schema``) hold all the SQL; a ``Backend`` runs it.  There are two:
``sqlite.SQLiteBackend`` (a file, one machine) and
``postgres.PostgresBackend`` (a server several workers share).  A backend
provides:

- **write transactions** (``transaction()``): committed when the block
  ends, rolled back on any exception.  A writer waits for another writer
  (and tries again, with a backoff, when the engine says the database is
  locked) rather than fail: a busy database delays a record, never loses it.
  Each statement sees what was committed before it (PostgreSQL: READ
  COMMITTED); a transaction the engine aborted to break a deadlock raises
  ``ConflictError``, and work that can meet one runs through
  ``StorePart._write``, which runs it again.
- **reads** (``query()`` for one statement, ``read()`` for a few on one
  connection), outside any write transaction, each seeing committed data.
- **the schema's version** (``schema_version``, ``set_schema_version``),
  kept by the engine (SQLite: ``PRAGMA user_version``; PostgreSQL: a
  one-row table), and ``migrating()``: a write transaction no other
  migrator runs beside (SQLite: its ``BEGIN IMMEDIATE`` excludes every
  other writer; PostgreSQL: ``pg_advisory_xact_lock``).  ``schema.migrate``
  drives them.
- **its errors translated**: no driver exception leaves a backend.  A
  broken UNIQUE constraint is ``DuplicateError``; a deadlock or a
  serialization failure ``ConflictError``; any other failure of the
  database (a closed one too) is ``StoreError``; each message names the
  database (``where``: a path, or a URL without its password).

The SQL a backend is handed is written once, in this portable form:

- placeholders are ``?``, positional; a driver with another style
  translates them (psycopg: ``%s``, and a literal ``%`` doubled);
- an insert that needs its new row's id says ``RETURNING id`` and runs with
  ``Connection.insert`` (None when ``ON CONFLICT DO NOTHING`` skipped the
  row), never ``lastrowid``;
- upserts are ``INSERT … ON CONFLICT (…) DO UPDATE SET c = excluded.c``;
  the larger of two values is a ``CASE`` (a scalar ``MAX(a, b)`` is
  SQLite's own); no ``PRAGMA`` and no ``INSERT OR …`` outside a backend;
- a flag is an ``INTEGER`` 0 or 1; a Python ``bool`` parameter is stored as
  one (PostgreSQL too), and a condition on a parameter compares it
  (``CASE WHEN ? = 1``), never tests it bare;
- a result is read whole (``Result``): a long walk (an outbox queue) reads
  in batches, by keyset, never by holding a cursor open;
- a row reads by position (``row[0]``) and by column name (``row["id"]``).

What differs between engines and cannot be written once is a ``Dialect``:
a few words the SQL is formatted with (``Connection.dialect``), and the
statements only PostgreSQL needs (``try_lock``, ``hold_lock``,
``advance_serial``, ``notify``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from syndicate.errors import StoreError
from syndicate.value import field, valueclass

__all__ = ["CLAIM_FEED", "CLAIM_TARGET", "POSTGRES", "REBUILD_MIRROR", "SQLITE", "WORK_CHANNEL", "Backend",
           "ConflictError", "Connection", "Dialect", "DuplicateError", "Result", "Row", "hold_lock", "notify",
           "try_lock"]


@valueclass
class Dialect:
    """The words of an engine's SQL that the portable form cannot spell once."""

    name: str
    real: str  # the column type of a time (Unix seconds) or other float: 8 bytes everywhere
    serial_key: str  # an ``id`` column the database numbers itself, as the table's primary key
    skip_locked: str  # ends a SELECT of rows to claim (with its leading space): claimers pass each other
    # A statement (params: a space, a name) answering whether this transaction may claim the work
    # ``name`` stands for, held until it ends; None: the write transaction already excludes others.
    try_lock: str | None = None
    # A statement that moves ``{table}``'s id numbering past its largest id (rows copied with their
    # ids); None: the engine numbers from the largest id by itself.
    advance_serial: str | None = None
    # Ends a SELECT of a row to hold until the transaction ends (with its leading space): another
    # transaction selecting it so waits; "": the engine has one writer at a time anyway.
    for_update: str = ""
    # A statement (params: a channel, a payload) that tells the listeners on the channel once the
    # transaction commits; None: nobody else listens (one process: it wakes itself).
    notify: str | None = None
    # The column type of bytes (a file's content).
    blob: str = "BLOB"
    # A statement (params: a space, a name) that waits until this transaction holds the lock ``name``
    # stands for, held until it ends; None: the write transaction already excludes the others.
    hold_lock: str | None = None


# SQLite: REAL is 8 bytes; INTEGER PRIMARY KEY is the rowid (numbered from the largest); a write
# transaction (BEGIN IMMEDIATE) already excludes every other claimer.
SQLITE = Dialect(name="sqlite", real="REAL", serial_key="INTEGER PRIMARY KEY", skip_locked="")
# PostgreSQL: several workers claim at once.  Rows to claim are locked, and rows another claimer
# holds are passed over; a kind of work (a target's queue, a feed) is claimed by one transaction at
# a time under an advisory lock of its own (``try_lock``), never waited for.
POSTGRES = Dialect(
    name="postgresql", real="DOUBLE PRECISION",
    serial_key="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", skip_locked=" FOR UPDATE SKIP LOCKED",
    try_lock="SELECT pg_try_advisory_xact_lock(?, hashtext(?))",
    advance_serial="SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                   "(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)",
    for_update=" FOR UPDATE",
    notify="SELECT pg_notify(?, ?)",
    blob="BYTEA",
    hold_lock="SELECT pg_advisory_xact_lock(?, hashtext(?))",
)

# The spaces of ``try_lock``: what kind of work a name stands for.
CLAIM_TARGET = 1  # a target's queue (``outbox.claim_due``)
CLAIM_FEED = 2  # a feed's poll (``feeds.claim_feeds``)
REBUILD_MIRROR = 3  # the mirror feeds' rebuild (``mirror.MirrorPart.rebuilding_mirror``)

# The channel the outbox's news goes out on (``notify``): new rows, retries, queues a worker leaves.
WORK_CHANNEL = "syndicate_work"


class DuplicateError(StoreError):
    """A write broke a UNIQUE constraint (the store turns it into its own message)."""


class ConflictError(StoreError):
    """The engine aborted the transaction to break a deadlock (or a serialization conflict):
    nothing of it was written, and running it again is safe."""


def notify(db: Connection, payload: str, channel: str = WORK_CHANNEL) -> None:
    """Tell the workers listening on ``channel`` (PostgreSQL ``LISTEN``) once this transaction
    commits (never if it rolls back; one word per payload however often it is said); nothing
    where no other process listens."""
    if db.dialect.notify is not None:
        db.execute(db.dialect.notify, (channel, payload))


def hold_lock(db: Connection, space: int, name: str) -> None:
    """Wait until this transaction holds the lock ``name`` stands for in ``space``, until it ends
    (another transaction holding it goes first); at once where the write transaction already
    excludes the others."""
    if db.dialect.hold_lock is not None:
        db.execute(db.dialect.hold_lock, (space, name))


def try_lock(db: Connection, space: int, name: str) -> bool:
    """May this transaction claim the work ``name`` stands for in ``space`` (``CLAIM_TARGET``, …)?
    False: another transaction is claiming it right now (pass it over, never wait).  Held until the
    transaction ends; always True where the write transaction already excludes other claimers."""
    if db.dialect.try_lock is None:
        return True
    return bool(db.execute(db.dialect.try_lock, (space, name)).scalar())


class Row(Protocol):
    """One result row: by position (``row[0]``) or by column name (``row["id"]``)."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def keys(self) -> list[str]: ...


@valueclass
class Result:
    """What a statement returned, read whole: its rows and how many rows it changed."""

    rows: list[Row] = field(default_factory=list)
    rowcount: int = -1

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def fetchall(self) -> list[Row]:
        return self.rows

    def fetchone(self) -> Row | None:
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any:
        """The first column of the first row (of a query that always has one: ``COUNT(*)``)."""
        return self.rows[0][0]


class Connection(Protocol):
    """A transaction (or a read) in progress: runs portable SQL (see the module docstring)."""

    @property
    def dialect(self) -> Dialect: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        """Run ``sql`` once per row: how many rows the runs changed, summed."""
        ...

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int | None:
        """Run an ``INSERT … RETURNING id``: the new row's id, or None if no row was inserted."""
        ...


class Backend(Protocol):
    """A database the store runs on (see the module docstring)."""

    @property
    def where(self) -> str:
        """The database as messages name it: a file's path (a URL would be without its password)."""
        ...

    @property
    def dialect(self) -> Dialect: ...

    def transaction(self) -> AbstractContextManager[Connection]:
        """A write transaction: committed at the end of the block, rolled back on any exception."""
        ...

    def read(self) -> AbstractContextManager[Connection]:
        """A few reads on one connection, outside any write transaction."""
        ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """One read statement's rows."""
        ...

    def migrating(self) -> AbstractContextManager[Connection]:
        """A write transaction that no other process's migration runs beside."""
        ...

    def schema_version(self, db: Connection | None = None) -> int:
        """The schema's version (0: a new database), read in ``db`` if given."""
        ...

    def set_schema_version(self, db: Connection, version: int) -> None: ...

    def close(self) -> None: ...
