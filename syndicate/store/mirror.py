"""The mirror feeds as published: one row per file, its bytes and its ETag (table ``mirror_files``).

Every worker on a state serves these (``web.feeds``), so a mirror site gets
the same bytes and the same ``ETag`` whichever worker answers.  They are
rebuilt (``rebuilding_mirror``) by whichever worker saw a change, under a
lock (PostgreSQL: ``pg_advisory_xact_lock``; SQLite's write transaction
excludes the others anyway): the rebuilder reads the files as published
and the latest articles *after* taking it, so a rebuild never overwrites a
newer one with what an older view of the articles made.  The ETag is the
content's hash, so it changes exactly when the bytes do; ``updated_at``
(when they last changed) is the ``Last-Modified`` served.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from syndicate.store.backend import REBUILD_MIRROR, hold_lock
from syndicate.store.part import StorePart
from syndicate.value import valueclass

__all__ = ["MirrorFile", "MirrorPart", "MirrorRebuild", "etag_of"]


def etag_of(data: bytes) -> str:
    """A file's strong ETag: its content's hash."""
    import hashlib  # (status and health hash nothing)

    return f'"{hashlib.sha256(data).hexdigest()[:32]}"'


@valueclass
class MirrorFile:
    name: str
    data: bytes
    etag: str
    updated_at: float  # when its bytes last changed


@valueclass
class MirrorRebuild:
    """A rebuild in progress: the files as published (``old``), and ``save`` for a changed one."""

    old: dict[str, bytes]
    save: Callable[[str, bytes], None]


class MirrorPart(StorePart):
    """The published mirror feeds: the part of ``Store`` in this module."""

    def mirror_file(self, name: str) -> MirrorFile | None:
        rows = self.backend.query("SELECT name, data, etag, updated_at FROM mirror_files WHERE name = ?",
                                  (name,))
        return MirrorFile(rows[0][0], bytes(rows[0][1]), rows[0][2], rows[0][3]) if rows else None

    def mirror_stamps(self) -> dict[str, tuple[str, float]]:
        """Each published file's (ETag, updated_at), without its bytes: a cheap look for a change."""
        rows = self.backend.query("SELECT name, etag, updated_at FROM mirror_files")
        return {r[0]: (r[1], r[2]) for r in rows}

    @contextmanager
    def rebuilding_mirror(self) -> Iterator[MirrorRebuild]:
        """Rebuild the mirror feeds, one worker at a time: the lock is held (waited for) before the
        published files are read, and the files saved are committed together as the block ends."""
        with self.backend.transaction() as db:
            hold_lock(db, REBUILD_MIRROR, "mirror")
            old = {r[0]: bytes(r[1]) for r in db.execute("SELECT name, data FROM mirror_files")}
            now = self._clock()

            def save(name: str, data: bytes) -> None:
                db.execute("INSERT INTO mirror_files (name, data, etag, updated_at) VALUES (?, ?, ?, ?) "
                           "ON CONFLICT (name) DO UPDATE SET data = excluded.data, etag = excluded.etag, "
                           "updated_at = excluded.updated_at", (name, data, etag_of(data), now))

            yield MirrorRebuild(old, save)
