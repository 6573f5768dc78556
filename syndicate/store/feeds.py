"""The feeds' state: validators, the hash of the last body read, backoff, the last error.

One row per configured feed (table ``feeds``), written after every fetch:
``record_fetch_ok`` (a 200 or a 304), ``record_not_modified`` (every feed
that answered 304 in a cycle, in one transaction), ``record_fetch_error``
(counted, with the reason and the next try).  ``seeded``: the feed's first
read is done (its entries then were recorded as seen, not posted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from syndicate.store.backend import Row
from syndicate.store.part import StorePart

__all__ = ["FeedState", "FeedsPart"]


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

    def record_not_modified(self, feeds: Sequence[tuple[str, float, str | None, str | None, str | None]]
                            ) -> None:
        """Feeds that answered 304: (name, next_fetch_at, etag, last_modified, permanent_redirect).

        One transaction for all of them; a validator the server sent again
        replaces the stored one, one it left out is kept.
        """
        if not feeds:
            return
        now = self._clock()
        with self.backend.transaction() as db:
            db.executemany(
                """UPDATE feeds SET last_fetch_at = ?, last_success_at = ?, next_fetch_at = ?,
                                    etag = COALESCE(?, etag), last_modified = COALESCE(?, last_modified),
                                    final_url = COALESCE(?, final_url), error_count = 0, last_error = NULL
                   WHERE name = ?""",
                [(now, now, next_at, etag, lm, redirect, name)
                 for name, next_at, etag, lm, redirect in feeds],
            )

    def record_fetch_ok(self, name: str, url: str, *, etag: str | None, last_modified: str | None,
                        body_hash: str | None, final_url: str | None, next_fetch_at: float,
                        seeded: bool | None = None) -> None:
        """A fetch (200 or 304) succeeded: store the validators, clear the error.  A feed once
        seeded stays seeded."""
        now = self._clock()
        with self.backend.transaction() as db:
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
                (name, url, final_url, etag, last_modified, body_hash, int(bool(seeded)), now, now,
                 next_fetch_at),
            )

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


def _feed_state(r: Row) -> FeedState:
    return FeedState(
        name=r["name"], url=r["url"], final_url=r["final_url"], etag=r["etag"],
        last_modified=r["last_modified"], body_hash=r["body_hash"],
        seeded=bool(r["seeded"]), last_fetch_at=r["last_fetch_at"],
        last_success_at=r["last_success_at"], next_fetch_at=r["next_fetch_at"],
        error_count=r["error_count"], last_error=r["last_error"],
    )
