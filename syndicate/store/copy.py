"""A whole state copied into an empty one: ``syndicate copy-state`` (SQLite → PostgreSQL).

Every table, every row, every column as it is: the feeds' caching state
(validators, body hashes, backoff), the articles, the whole outbox with
each row's id, key, state and lease, its history, held deliveries, paused
targets, sessions, meta and the workers.  Both databases are at this
code's schema first (``Store`` migrates each as it opens).  The target
must be empty — any row in any of these tables refuses the copy, nothing
written — and the copy is one transaction of the target, so it is all
there or none of it.  Ids are copied, so the target's id numbering is moved
past them (``Dialect.advance_serial``).  Before it commits, each table's
rows are counted on both sides and against what was read: a difference
(the source changed meanwhile) rolls the copy back.

Rows are read from the source in batches by keyset on each table's key,
never all at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from syndicate.errors import StoreError
from syndicate.store.backend import Backend, Connection, Row
from syndicate.value import valueclass

__all__ = ["SERIAL_TABLES", "TABLES", "Copied", "advance_serials", "copy_state", "row_counts"]

# Every table of the schema and its key, each before the tables whose rows refer to it.
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("feeds", ("name",)),
    ("articles", ("id",)),
    ("outbox", ("id",)),
    ("outbox_events", ("id",)),
    ("held", ("article_id", "target")),
    ("filtered", ("article_id", "target")),
    ("targets", ("name",)),
    ("sessions", ("target",)),
    ("meta", ("key",)),
    ("workers", ("owner",)),
    ("target_budgets", ("target",)),
    ("mirror_files", ("name",)),
    ("unpublish_checks", ("article_id",)),
    ("copies", ("article_id",)),
    ("credits", ("article_id",)),
    ("article_changes", ("article_id",)),
)
SERIAL_TABLES = ("articles", "outbox", "outbox_events")  # ids the database numbers itself
BATCH = 1000


@valueclass
class Copied:
    """One table copied: how many rows, counted again on the target afterwards."""

    table: str
    rows: int

    def line(self) -> str:
        return f"{self.table}: {self.rows} row{'' if self.rows == 1 else 's'}"


def row_counts(db: Connection) -> dict[str, int]:
    """{table: rows} for every table of the schema."""
    return {table: int(db.execute(f"SELECT COUNT(*) FROM {table}").scalar()) for table, _ in TABLES}


def advance_serials(db: Connection, tables: Sequence[str] = SERIAL_TABLES) -> None:
    """Move each table's id numbering past its largest id (after rows were written with their ids)."""
    if db.dialect.advance_serial is None:
        return
    for table in tables:
        db.execute(db.dialect.advance_serial.format(table=table))


def _batches(source: Backend, table: str, key: tuple[str, ...]) -> Iterator[list[Row]]:
    """The table's rows in key order, ``BATCH`` at a time, by keyset."""
    order = ", ".join(key)
    after: tuple[object, ...] | None = None
    while True:
        if after is None:
            rows = source.query(f"SELECT * FROM {table} ORDER BY {order} LIMIT ?", (BATCH,))
        else:
            rows = source.query(f"SELECT * FROM {table} WHERE ({order}) > ({', '.join('?' * len(key))}) "
                                f"ORDER BY {order} LIMIT ?", (*after, BATCH))
        if rows:
            yield rows
        if len(rows) < BATCH:
            return
        after = tuple(rows[-1][k] for k in key)


def copy_state(source: Backend, target: Backend, *,
               on_table: Callable[[Copied], None] | None = None) -> list[Copied]:
    """Copy every row of ``source`` into the empty ``target`` (see the module docstring); what was
    copied, table by table.  ``StoreError`` if the target holds any row, the schemas differ, or a
    count differs afterwards."""
    if source.schema_version() != target.schema_version():
        raise StoreError(f"state database {source.where} is at schema {source.schema_version()}, "
                         f"{target.where} at {target.schema_version()}: open both with this syndicate")
    copied: list[Copied] = []
    with target.transaction() as db:
        held = {table: n for table, n in row_counts(db).items() if n}
        if held:
            raise StoreError(f"state database {target.where} is not empty ("
                             + ", ".join(f"{table}: {n} rows" for table, n in held.items())
                             + "): copy-state only fills an empty database")
        for table, key in TABLES:
            count = 0
            for rows in _batches(source, table, key):
                columns = rows[0].keys()
                db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) "
                               f"VALUES ({', '.join('?' * len(columns))})", [tuple(r) for r in rows])
                count += len(rows)
            copied.append(Copied(table, count))
        advance_serials(db)
        with source.read() as reading:
            expected = row_counts(reading)  # the source again: nothing may have changed meanwhile
        found = row_counts(db)
        wrong = [f"{c.table}: {expected[c.table]} in the source, {c.rows} read, {found[c.table]} written"
                 for c in copied if not expected[c.table] == c.rows == found[c.table]]
        if wrong:  # rolled back: the target stays empty
            raise StoreError(f"state database {target.where}: the copy does not match the source "
                             f"({'; '.join(wrong)}); nothing was copied")
    for item in copied:
        if on_table is not None:
            on_table(item)
    return copied
