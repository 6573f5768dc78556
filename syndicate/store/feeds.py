"""The feeds' state: validators, the hash of the last body read, backoff, the last error.

One row per configured feed (table ``feeds``), written after every fetch:
``record_read`` (a read's ``FeedRecord``, in the transaction of
``Store.apply``, which records the read's articles too), ``record_not_modified``
(every feed that answered 304 in a cycle, ``NotModified``, in one
transaction), ``record_fetch_error`` (counted, with the reason and the next
try).  ``seeded``: the feed's first read is done (its entries then were
recorded as seen, not posted).  A feed's state is read once per cycle
(``feed_state_map``), before its fetch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from syndicate.intent import FeedRecord, NotModified
from syndicate.store.backend import Connection, Row
from syndicate.store.part import StorePart

__all__ = ["FeedState", "FeedsPart", "record_read"]


@dataclass(frozen=True, slots=True)
class FeedState:
    name: str
    url: str
    final_url: str | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None  # the last body read (a seeded feed whose body is the same is not parsed)
    seeded: bool
    last_fetch_at: float | None
    last_success_at: float | None
    next_fetch_at: float | None
    error_count: int
    last_error: str | None


class FeedsPart(StorePart):
    """The feeds' half of ``Store``."""

    def feed_state(self, name: str) -> FeedState | None:
        rows = self.backend.query("SELECT * FROM feeds WHERE name = ?", (name,))
        return _feed_state(rows[0]) if rows else None

    def feed_states(self) -> list[FeedState]:
        return sorted(self.feed_state_map().values(), key=lambda s: s.name)

    def feed_state_map(self) -> dict[str, FeedState]:
        """Every feed's state, by name, in one query."""
        return {r["name"]: _feed_state(r) for r in self.backend.query("SELECT * FROM feeds")}

    def record_not_modified(self, feeds: Sequence[NotModified]) -> None:
        """Feeds that answered 304, in one transaction for all of them; a validator the server
        sent again replaces the stored one, one it left out is kept."""
        if not feeds:
            return
        now = self._clock()
        with self.backend.transaction() as db:
            db.executemany(
                """UPDATE feeds SET last_fetch_at = ?, last_success_at = ?, next_fetch_at = ?,
                                    etag = COALESCE(?, etag), last_modified = COALESCE(?, last_modified),
                                    final_url = COALESCE(?, final_url), error_count = 0, last_error = NULL
                   WHERE name = ?""",
                [(now, now, f.next_fetch_at, f.etag, f.last_modified, f.permanent_redirect, f.feed)
                 for f in feeds],
            )

    def record_fetch_ok(self, name: str, url: str, *, etag: str | None, last_modified: str | None,
                        body_hash: str | None, final_url: str | None, next_fetch_at: float,
                        seeded: bool | None = None) -> None:
        """A read succeeded, with no articles to record: ``record_read`` in a transaction of its own."""
        record = FeedRecord(name=name, url=url, final_url=final_url, etag=etag, last_modified=last_modified,
                            body_hash=body_hash, next_fetch_at=next_fetch_at, seeded=bool(seeded))
        with self.backend.transaction() as db:
            record_read(db, record, now=self._clock())

    def record_fetch_error(self, name: str, url: str, error: str, next_fetch_at: float) -> int:
        """A fetch failed: count it, keep the reason, back off. Returns the error count."""
        now = self._clock()
        with self.backend.transaction() as db:
            return int(db.execute(
                """INSERT INTO feeds (name, url, last_fetch_at, next_fetch_at, error_count, last_error)
                   VALUES (?, ?, ?, ?, 1, ?)
                   ON CONFLICT (name) DO UPDATE SET
                       url = excluded.url, last_fetch_at = excluded.last_fetch_at,
                       next_fetch_at = excluded.next_fetch_at,
                       error_count = feeds.error_count + 1, last_error = excluded.last_error
                   RETURNING error_count""",
                (name, url, now, next_fetch_at, error),
            ).scalar())


def record_read(db: Connection, record: FeedRecord, *, now: float) -> None:
    """A read succeeded: store the validators and body hash, clear the error.  A feed once
    seeded stays seeded."""
    db.execute(
        """INSERT INTO feeds (name, url, final_url, etag, last_modified, body_hash,
                              seeded, last_fetch_at, last_success_at, next_fetch_at,
                              error_count, last_error)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL)
           ON CONFLICT (name) DO UPDATE SET
               url = excluded.url, final_url = excluded.final_url,
               etag = excluded.etag, last_modified = excluded.last_modified,
               body_hash = excluded.body_hash,
               seeded = CASE WHEN feeds.seeded > excluded.seeded THEN feeds.seeded
                             ELSE excluded.seeded END,
               last_fetch_at = excluded.last_fetch_at, last_success_at = excluded.last_success_at,
               next_fetch_at = excluded.next_fetch_at, error_count = 0, last_error = NULL""",
        (record.name, record.url, record.final_url, record.etag, record.last_modified, record.body_hash,
         int(record.seeded), now, now, record.next_fetch_at),
    )


def _feed_state(r: Row) -> FeedState:
    return FeedState(
        name=r["name"], url=r["url"], final_url=r["final_url"], etag=r["etag"],
        last_modified=r["last_modified"], body_hash=r["body_hash"],
        seeded=bool(r["seeded"]), last_fetch_at=r["last_fetch_at"],
        last_success_at=r["last_success_at"], next_fetch_at=r["next_fetch_at"],
        error_count=r["error_count"], last_error=r["last_error"],
    )
