"""The feeds' state: validators, the hash of the last body read, backoff, the last error.

One row per configured feed (table ``feeds``), written after every fetch:
``record_read`` (a read's ``FeedRecord``, in the transaction of
``Store.apply``, which records the read's articles too), ``record_polls``
(a batch's polls with nothing to parse: every feed that answered 304,
``NotModified``, and every read of the bytes read last time, its
``FeedRecord``, in one transaction), ``record_fetch_error`` (counted, with
the reason and the next try).  ``seeded``: the feed's first read is done
(its entries then were recorded as seen, not posted).  A poll reads its
feeds' state once, in the claim's transaction (``claim_feed_states``),
before their fetch.

**Polls are claimed** (``claim_feeds``), so that of several workers on one
state one fetches each due feed per interval: in one transaction, per URL
(config entries with the same URL are claimed together, and fetched once),
``backend.try_lock(CLAIM_FEED, url)`` (another worker claiming it this
instant: passed over, never waited for), the rows locked ``FOR UPDATE SKIP
LOCKED``, and only those still due, read after the lock (another worker
may have just recorded its poll), and not leased by a live poll of another
worker, are leased (``lease_owner``, ``leased_until``; a feed never polled
gets its row now).  The transaction that records the poll's result
(``record_read`` in ``Store.apply``, ``record_polls``,
``record_fetch_error``) ends the lease; ``release_feeds`` gives back claims
a poll could not finish.  A lease left by a dead worker runs out; one
process on SQLite ends every other owner's at start (``end_feed_leases``),
so it behaves as it did before claims.

**A record is the claim's** (``owner``): it writes a feed's row only where
``lease_owner`` is still this worker, whether its lease ran out or not (a
lease running out frees the feed for others; until one claims it, the poll
is still this worker's).  Once another worker has claimed the feed (its
lease, or its record, which ended it: ``lease_owner`` NULL), a late poll
would overwrite a newer state or end a live claim: its record is refused,
nothing of it written (``record_polls`` returns those feeds;
``record_fetch_error`` and ``Store.apply`` raise ``ClaimLost``, the whole
transaction rolled back).  A record with no owner (a write by no poll: the
tests, the benches) is written as it is.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING

from syndicate.errors import ClaimLost
from syndicate.store.backend import CLAIM_FEED, Connection, Row, try_lock
from syndicate.store.part import StorePart, chunks, marks
from syndicate.value import valueclass

if TYPE_CHECKING:
    from syndicate.intent import FeedRecord, NotModified

__all__ = ["FeedState", "FeedsPart", "record_read"]

_LEASE_ENDED = "lease_owner = NULL, leased_until = NULL"


@valueclass
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

    def feed_state_map(self, names: Collection[str] | None = None) -> dict[str, FeedState]:
        """Every feed's state (or only these feeds'), by name, in one query."""
        if names is None:
            return {r["name"]: _feed_state(r) for r in self.backend.query("SELECT * FROM feeds")}
        wanted = sorted(set(names))
        if not wanted:
            return {}
        rows = self.backend.query(f"SELECT * FROM feeds WHERE name IN ({', '.join('?' * len(wanted))})",
                                  tuple(wanted))
        return {r["name"]: _feed_state(r) for r in rows}

    def record_not_modified(self, feeds: Sequence[NotModified], *, owner: str | None = None) -> list[str]:
        """Feeds that answered 304, in one transaction for all of them (``record_polls``)."""
        return self.record_polls(feeds, owner=owner)

    def record_polls(self, not_modified: Sequence[NotModified], unchanged: Sequence[FeedRecord] = (), *,
                     owner: str | None = None) -> list[str]:
        """A batch's polls that found nothing to parse, in one transaction for all of them, which
        ends their claims: the feeds that answered 304 (``not_modified``: a validator the server
        sent again replaces the stored one, one it left out is kept) and those whose bytes were the
        ones read last time (``unchanged``: their reads' records, as ``record_read`` writes them).
        ``owner``: the worker whose claims these polls are; the feeds another worker has claimed
        since are not written, and returned (see the module docstring)."""
        if not not_modified and not unchanged:
            return []
        now = self._clock()
        if owner is None:  # a write by no poll: every row
            with self.backend.transaction() as db:
                _write_polls(db, not_modified, unchanged, now, None)
            return []
        try:
            with self.backend.transaction() as db:
                written = _write_polls(db, not_modified, unchanged, now, owner)
                if written == len(not_modified) + len(unchanged):
                    return []
                raise _SomeLost  # which ones: below (rare), after this transaction is rolled back
        except _SomeLost:
            pass
        with self.backend.transaction() as db:
            names = [f.feed for f in not_modified] + [r.name for r in unchanged]
            mine = _still_claimed(db, owner, names)
            _write_polls(db, [f for f in not_modified if f.feed in mine],
                         [r for r in unchanged if r.name in mine], now, owner)
        return [name for name in names if name not in mine]

    def record_fetch_ok(self, name: str, url: str, *, etag: str | None, last_modified: str | None,
                        body_hash: str | None, final_url: str | None, next_fetch_at: float,
                        seeded: bool | None = None) -> None:
        """A read succeeded, with no articles to record: ``record_read`` in a transaction of its own."""
        from syndicate.intent import FeedRecord

        record = FeedRecord(name=name, url=url, final_url=final_url, etag=etag, last_modified=last_modified,
                            body_hash=body_hash, next_fetch_at=next_fetch_at, seeded=bool(seeded))
        with self.backend.transaction() as db:
            record_read(db, record, now=self._clock())

    def claim_feeds(self, owner: str, feeds: Iterable[tuple[str, str]], *, now: float, lease_seconds: float,
                    due_only: bool = True) -> list[str]:
        """Lease the polls of these feeds (``(name, url)`` pairs, as configured) that no other worker
        polls: the names this worker is to fetch now, one fetch per URL (see the module docstring).
        ``due_only``: only feeds whose next fetch time has come (or whose URL changed), judged
        after the lock; else every feed not leased by another worker's live poll."""
        return list(self.claim_feed_states(owner, feeds, now=now, lease_seconds=lease_seconds,
                                           due_only=due_only))

    def claim_feed_states(self, owner: str, feeds: Iterable[tuple[str, str]], *, now: float,
                          lease_seconds: float, due_only: bool = True) -> dict[str, FeedState]:
        """``claim_feeds``, with the state of each feed claimed, by name, as read in the claim's
        transaction (after the lock: the state the poll starts from), so a poll reads its feeds'
        rows once."""
        by_url: dict[str, list[str]] = {}
        for name, url in feeds:
            by_url.setdefault(url, []).append(name)
        if not by_url:
            return {}
        claimed: dict[str, FeedState] = {}
        with self.backend.transaction() as db:
            # one SELECT and one UPDATE for the whole batch (not one per URL): a 304 cycle's cost
            mine = {url: names for url, names in by_url.items()
                    if try_lock(db, CLAIM_FEED, url)}  # else another worker is claiming it right now
            every = [name for names in mine.values() for name in names]
            rows: dict[str, Row] = {}
            for part in chunks(every):
                rows.update({r["name"]: r for r in db.execute(
                    f"SELECT * FROM feeds WHERE name IN ({marks(part)}){db.dialect.skip_locked}", part)})
            taken: list[Row] = []
            for url, names in mine.items():
                for name in names:
                    row = rows.get(name)
                    if row is None:
                        for new in db.execute("INSERT INTO feeds (name, url, lease_owner, leased_until) "
                                              "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING *",
                                              (name, url, owner, now + lease_seconds)).rows:
                            claimed[name] = _feed_state(new)  # never polled: its row now, leased
                        continue
                    if row["lease_owner"] not in (None, owner) and (row["leased_until"] or 0) > now:
                        continue  # another worker's poll of it is under way
                    if due_only and row["url"] == url and row["next_fetch_at"] is not None \
                            and row["next_fetch_at"] > now:
                        continue  # polled meanwhile (by another worker): not due any more
                    taken.append(row)
            for part in chunks([row["name"] for row in taken]):
                db.execute(f"UPDATE feeds SET lease_owner = ?, leased_until = ? "
                           f"WHERE name IN ({marks(part)})",
                           (owner, now + lease_seconds, *part))
            claimed.update((row["name"], _feed_state(row)) for row in taken)
        return claimed

    def release_feeds(self, owner: str, names: Iterable[str]) -> None:
        """Give back claims of polls that were not recorded (due again for any worker at once)."""
        names = list(names)
        if not names:
            return
        with self.backend.transaction() as db:
            db.execute(f"UPDATE feeds SET {_LEASE_ENDED} WHERE lease_owner = ? "
                       f"AND name IN ({','.join('?' * len(names))})", (owner, *names))

    def end_feed_leases(self, *, but: str) -> int:
        """End every poll's lease but ``but``'s (one process holding the state's lock: they are dead)."""
        with self.backend.transaction() as db:
            return db.execute(f"UPDATE feeds SET {_LEASE_ENDED} WHERE lease_owner IS NOT NULL "
                              f"AND lease_owner != ?", (but,)).rowcount

    def record_fetch_error(self, name: str, url: str, error: str, next_fetch_at: float, *,
                           owner: str | None = None) -> int:
        """A fetch failed: count it, keep the reason, back off. Returns the error count.
        ``owner``: the worker whose claim the poll is; ``ClaimLost`` (nothing written) if another
        worker has claimed the feed since (see the module docstring)."""
        now = self._clock()
        with self.backend.transaction() as db:
            rows = db.execute(
                """INSERT INTO feeds (name, url, last_fetch_at, next_fetch_at, error_count, last_error)
                   VALUES (?, ?, ?, ?, 1, ?)
                   ON CONFLICT (name) DO UPDATE SET
                       url = excluded.url, last_fetch_at = excluded.last_fetch_at,
                       next_fetch_at = excluded.next_fetch_at,
                       error_count = feeds.error_count + 1, last_error = excluded.last_error,
                       lease_owner = NULL, leased_until = NULL""" + _CLAIMED + " RETURNING error_count",
                (name, url, now, next_fetch_at, error, owner, owner),
            ).rows
            if not rows:
                raise ClaimLost(name, owner or "")
            return int(rows[0][0])


_RECORD_READ = """INSERT INTO feeds (name, url, final_url, etag, last_modified, body_hash,
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
               next_fetch_at = excluded.next_fetch_at, error_count = 0, last_error = NULL,
               lease_owner = NULL, leased_until = NULL"""
# An upsert's update applies only where the poll's claim stands (params: the owner twice; a NULL
# owner, a write by no poll, always applies).  A row the claim made exists; one that does not is
# inserted (no claim to lose).
_CLAIMED = " WHERE CAST(? AS TEXT) IS NULL OR feeds.lease_owner = ?"
_ROW_CLAIMED = " AND (CAST(? AS TEXT) IS NULL OR lease_owner = ?)"  # the same, of an UPDATE's row

_RECORD_NOT_MODIFIED = """UPDATE feeds SET last_fetch_at = ?, last_success_at = ?, next_fetch_at = ?,
               etag = COALESCE(?, etag), last_modified = COALESCE(?, last_modified),
               final_url = COALESCE(?, final_url), error_count = 0, last_error = NULL,
               lease_owner = NULL, leased_until = NULL
           WHERE name = ?"""


def _read_params(record: FeedRecord, now: float) -> tuple[object, ...]:
    return (record.name, record.url, record.final_url, record.etag, record.last_modified, record.body_hash,
            int(record.seeded), now, now, record.next_fetch_at)


def record_read(db: Connection, record: FeedRecord, *, now: float, owner: str | None = None) -> None:
    """A read succeeded: store the validators and body hash, clear the error.  A feed once
    seeded stays seeded.  ``owner``: the worker whose claim the read is; ``ClaimLost`` (raised in
    the transaction, so none of it is written) if another worker has claimed the feed since."""
    if owner is None:
        db.execute(_RECORD_READ, _read_params(record, now))
    elif db.execute(_RECORD_READ + _CLAIMED, (*_read_params(record, now), owner, owner)).rowcount == 0:
        raise ClaimLost(record.name, owner)


class _SomeLost(Exception):
    """Some of a batch's records were refused: the transaction is rolled back, to find which."""


def _write_polls(db: Connection, not_modified: Sequence[NotModified], unchanged: Sequence[FeedRecord],
                 now: float, owner: str | None) -> int:
    """``record_polls``' statements: how many feeds' rows they wrote (those ``owner`` claims)."""
    written = 0
    if not_modified:
        written += db.executemany(_RECORD_NOT_MODIFIED + _ROW_CLAIMED, [
            (now, now, f.next_fetch_at, f.etag, f.last_modified, f.permanent_redirect, f.feed, owner, owner)
            for f in not_modified])
    if unchanged:
        written += db.executemany(_RECORD_READ + _CLAIMED,
                                  [(*_read_params(record, now), owner, owner) for record in unchanged])
    return written


def _still_claimed(db: Connection, owner: str, names: Sequence[str]) -> set[str]:
    """Which of these feeds ``owner``'s claim holds still, their rows locked until the transaction
    ends (PostgreSQL: no claim takes them meanwhile; SQLite's write transaction excludes it)."""
    mine: set[str] = set()
    for part in chunks(list(names)):
        mine.update(r[0] for r in db.execute(
            f"SELECT name FROM feeds WHERE lease_owner = ? AND name IN ({marks(part)})"
            f"{db.dialect.for_update}", (owner, *part)))
    return mine


def _feed_state(r: Row) -> FeedState:
    return FeedState(
        name=r["name"], url=r["url"], final_url=r["final_url"], etag=r["etag"],
        last_modified=r["last_modified"], body_hash=r["body_hash"],
        seeded=bool(r["seeded"]), last_fetch_at=r["last_fetch_at"],
        last_success_at=r["last_success_at"], next_fetch_at=r["next_fetch_at"],
        error_count=r["error_count"], last_error=r["last_error"],
    )
