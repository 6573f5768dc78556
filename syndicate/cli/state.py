"""The state database's own commands: ``migrate`` and ``copy-state``."""

from __future__ import annotations

import time
from pathlib import Path

from syndicate.cli.common import EXIT_CONFIG, EXIT_LOCKED, echo, errors, fail, load, setup_logs
from syndicate.cli.define import Context, argument, command


@command("migrate", argument("state", nargs="?"))
def migrate(ctx: Context, state: str | None) -> None:
    """Bring the state database to this syndicate's schema and print its version.

    STATE is a SQLite file or a postgresql:// URL (default: the configuration's
    state).  Every command migrates the state as it opens it, one process at a
    time; this does it alone, say before a fleet of workers starts on a new
    version.
    """
    if state is None:
        config = load(ctx)
        setup_logs(ctx, config)
        where: str | Path = config.state
    else:
        setup_logs(ctx)
        where = state
    from syndicate.store import open_backend
    from syndicate.store.schema import migrate as apply

    with errors():
        backend = open_backend(where)
        try:
            before = backend.schema_version()
            apply(backend)
            after = backend.schema_version()
        finally:
            backend.close()
    done = f"migrated from {before}" if after != before else "up to date"
    echo(f"state {backend.where}: schema {after} ({done})")


@command("copy-state", argument("source", "SRC"), argument("target", "DST"))
def copy_state(ctx: Context, source: str, target: str) -> None:
    """Copy a SQLite state (SRC, a file) into an empty PostgreSQL database (DST, a URL).

    Everything is copied: the feeds' caching state, the articles, the whole
    outbox with its keys, its history, held deliveries, paused targets and
    sessions; a DST holding any row is refused.  The copy is one transaction,
    its counts checked before it commits; one line per table.  Leases left
    in SRC (its daemon is stopped: the copy takes its lock) are ended in DST,
    so the workers started on DST take those rows first, reconciled.
    """
    setup_logs(ctx)
    from syndicate.errors import StateLocked
    from syndicate.lock import StateLock
    from syndicate.store import Store
    from syndicate.store.copy import copy_state as copy
    from syndicate.store.location import is_database_url

    if is_database_url(source) or not Path(source).is_file():
        fail(f"SRC {source}: not a SQLite state file", EXIT_CONFIG)
    if not is_database_url(target):
        fail(f"DST {target}: expected a postgresql:// URL", EXIT_CONFIG)
    lock = StateLock(source)
    try:
        lock.acquire()
    except StateLocked as exc:
        fail(str(exc), EXIT_LOCKED)
    try:
        with errors():
            src = Store(source)
            try:
                dst = Store(target)
                try:
                    copied = copy(src.backend, dst.backend, on_table=lambda c: echo(c.line()))
                    ended = dst.expire_leases(dst.lease_owners(), time.time())
                finally:
                    dst.close()
            finally:
                src.close()
    finally:
        lock.release()
    leases = f"; {ended} lease(s) of the stopped daemon ended" if ended else ""
    echo(f"copied {source} into {dst.where}: {sum(c.rows for c in copied)} rows{leases}")
