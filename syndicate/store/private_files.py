"""Files that hold secrets: owner-only whatever the umask, tightened when found wider.

The state database keeps the Bluesky session (its access and refresh
tokens).  ``make_database_private(path)`` runs before SQLite opens it:

- a missing directory is created 0700 (``mkdir`` then ``chmod``, so the
  umask can neither widen nor narrow it); an existing directory is left as
  it is, since it may be shared (a Docker volume, a working directory);
- a missing database file is created empty and 0600 (``os.open`` with
  ``O_CREAT`` and ``fchmod``); SQLite then creates the ``-wal`` and
  ``-shm`` files with the database's own permissions;
- an existing database, ``-wal``, ``-shm`` or ``-journal`` that its group
  or others could read or write is made 0600, with one warning line.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from syndicate.lazylog import getLogger

log = getLogger("syndicate.store")

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SIDE_FILES = ("-wal", "-shm", "-journal")  # SQLite's companions of a database file


def make_database_private(path: Path) -> None:
    """Create ``path``'s directory and file owner-only, or tighten what is there (see above)."""
    if os.name != "posix":
        return
    directory = path.parent
    if not directory.exists():
        directory.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        os.chmod(directory, PRIVATE_DIR)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE)
    except FileExistsError:
        pass
    else:
        try:
            os.fchmod(fd, PRIVATE_FILE)  # exactly 0600: the umask may have narrowed it
        finally:
            os.close(fd)
        return
    changed = [(p, m) for p in (path, *(Path(f"{path}{side}") for side in SIDE_FILES))
               if (m := _tighten(p)) is not None]
    if changed:
        log.warning("state database was readable by others: made private",
                    extra={"file": str(path), "now": f"{PRIVATE_FILE:04o}",
                           "was": ", ".join(f"{p.name} {m:04o}" for p, m in changed)})


def _tighten(path: Path) -> int | None:
    """Make an existing ``path`` 0600 if group or others have any access; its old mode if changed."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    if not mode & 0o077:
        return None
    try:
        os.chmod(path, PRIVATE_FILE)
    except PermissionError as exc:  # not ours (a read-only look as another user): say so, go on
        log.warning("state database is readable by others and cannot be made private",
                    extra={"file": str(path), "mode": f"{mode:04o}", "error": exc.strerror})
        return None
    return mode
