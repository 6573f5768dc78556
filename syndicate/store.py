"""The state database: feeds, articles, the outbox, sessions.

Articles are recognised by guid within their feed, or by their link's
identity (``syndicate.links.link_identity``, column ``ident``) in any feed.

SQLite is the embedded default (WAL, numbered migrations on
``PRAGMA user_version``).  All SQL lives here and in ``syndicate.outbox``
(the outbox's half, mixed into ``Store``); the rest of the package sees
plain values.  The outbox has one row per article × target::

    pending ──claim──► sending ──► sent      (remote id + URL, same transaction)
       ▲                 │ │  └──► failed    (permanent error, with the reason)
       │                 │ └── renew ──┐     (before every attempt, during every wait)
       └── reschedule ───┘◄────────────┘     (transient: next_attempt_at)

A lease carries an owner and an expiry (``leased_until``), renewed while its
worker lives; a row whose lease expired (its worker crashed) is claimed
again, and *reconciled* before it is sent again with the same key if a
request may have left (``first_attempt_at``).  Every step is kept in the
row's history (``outbox_events``).  Times are Unix seconds (REAL).

Writers wait for each other: each write transaction waits up to
``busy_timeout`` for the lock, and a "database is locked" is retried with a
backoff, so a busy database delays a record (``mark_sent`` above all), never
loses it.  Migrations read ``user_version`` inside their write transaction,
so two processes opening a new database at once both succeed.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from syndicate.article_json import article_from_json, article_to_json
from syndicate.errors import StoreError
from syndicate.links import link_identity
from syndicate.models import Article, StoredSession
from syndicate.outbox import ArticleStatus, Delivery, OutboxEvent, OutboxItem, OutboxStore, RepostRequest
from syndicate.private_files import make_database_private
from syndicate.store_operator import OperatorStateMixin

__all__ = ["MIGRATIONS", "ArticleStatus", "Delivery", "FeedState", "IngestCounts", "Known", "OutboxEvent",
           "OutboxItem", "RepostRequest", "Store", "article_from_json", "article_to_json"]

log = logging.getLogger("syndicate.store")

LOCKED_RETRIES = 8  # "database is locked" after the busy timeout: tried again this many times
LOCKED_BACKOFF = 0.1  # seconds before the first of them, doubling up to 5 s


def _add_link_identity(db: sqlite3.Connection) -> None:
    """Articles are recognised by their link's identity (``syndicate.links``), backfilled here."""
    db.execute("ALTER TABLE articles ADD COLUMN ident TEXT NOT NULL DEFAULT ''")
    last = 0
    while True:
        rows = db.execute("SELECT id, link FROM articles WHERE id > ? ORDER BY id LIMIT 5000",
                          (last,)).fetchall()
        if not rows:
            break
        db.executemany("UPDATE articles SET ident = ? WHERE id = ?",
                       [(link_identity(link), article_id) for article_id, link in rows])
        last = rows[-1][0]
    db.execute("CREATE INDEX articles_ident ON articles (ident)")


# Each entry is an SQL script (statements split on ";") or a function of the connection,
# run in one transaction that also sets PRAGMA user_version to its number.
MIGRATIONS: tuple[str | Callable[[sqlite3.Connection], None], ...] = (
    # 1: the initial schema
    """
    CREATE TABLE feeds (
        name            TEXT PRIMARY KEY,
        url             TEXT NOT NULL,
        final_url       TEXT,
        etag            TEXT,
        last_modified   TEXT,
        content_hash    TEXT,
        seeded          INTEGER NOT NULL DEFAULT 0,
        last_fetch_at   REAL,
        last_success_at REAL,
        next_fetch_at   REAL,
        error_count     INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT
    );
    CREATE TABLE articles (
        id            INTEGER PRIMARY KEY,
        feed          TEXT NOT NULL,
        guid          TEXT NOT NULL,
        link          TEXT NOT NULL,
        title         TEXT NOT NULL,
        published     REAL NOT NULL,
        content_hash  TEXT NOT NULL,
        data          TEXT NOT NULL,
        first_seen_at REAL NOT NULL,
        updated_at    REAL,
        UNIQUE (feed, guid)
    );
    CREATE INDEX articles_link ON articles (link);
    CREATE INDEX articles_published ON articles (published);
    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY,
        article_id      INTEGER NOT NULL REFERENCES articles (id),
        target          TEXT NOT NULL,
        seq             INTEGER NOT NULL DEFAULT 0,
        key             TEXT NOT NULL UNIQUE,
        state           TEXT NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
        intro           TEXT,
        requested_by    TEXT,
        created_at      REAL NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        lease_owner     TEXT,
        leased_until    REAL,
        remote_id       TEXT,
        remote_url      TEXT,
        sent_at         REAL,
        last_error      TEXT,
        UNIQUE (article_id, target, seq)
    );
    CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
    CREATE TABLE sessions (
        target     TEXT PRIMARY KEY,
        data       TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 2: a row that keeps failing while the rows behind it succeed stops holding them back
    """
    ALTER TABLE outbox ADD COLUMN out_of_line INTEGER NOT NULL DEFAULT 0;
    """,
    # 3: each target's queue read in publication order from an index, whatever its length
    """
    ALTER TABLE outbox ADD COLUMN published REAL NOT NULL DEFAULT 0;
    UPDATE outbox SET published = (SELECT published FROM articles WHERE articles.id = outbox.article_id);
    CREATE INDEX outbox_queue ON outbox (target, state, published, id);
    CREATE INDEX outbox_leases ON outbox (state, leased_until);
    DROP INDEX outbox_due;
    """,
    # 4: the output feed holds the most recently *added* articles, read from an index
    """
    ALTER TABLE articles ADD COLUMN added_at REAL NOT NULL DEFAULT 0;
    UPDATE articles SET added_at = first_seen_at;
    CREATE INDEX articles_added ON articles (added_at, published, id);
    """,
    # 5: exactly once for real: when a request may first have left, the re-compose a server
    #    asked for, one row per remote post, and each row's history.  Rows tried before this
    #    version may have landed: they count as tried since they were queued.  A post two rows
    #    claim (a reconciliation error of earlier versions) stays with the older row; the other
    #    is failed with the reason, for an editor to retry.
    """
    ALTER TABLE outbox ADD COLUMN first_attempt_at REAL;
    ALTER TABLE outbox ADD COLUMN strict_limit INTEGER;
    UPDATE outbox SET first_attempt_at = created_at WHERE attempts > 0 AND state IN ('pending', 'sending');
    CREATE TABLE outbox_events (
        id        INTEGER PRIMARY KEY,
        outbox_id INTEGER NOT NULL REFERENCES outbox (id),
        at        REAL NOT NULL,
        kind      TEXT NOT NULL,
        detail    TEXT,
        data      TEXT
    );
    CREATE INDEX outbox_events_row ON outbox_events (outbox_id, id);
    UPDATE outbox SET state = 'failed', remote_id = NULL, remote_url = NULL, sent_at = NULL,
        last_error = 'was recorded with the post of an older row (' || remote_url || '), so it was '
                     || 'never posted: retry it to post it'
    WHERE remote_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM outbox AS older WHERE older.target = outbox.target
        AND older.remote_id = outbox.remote_id AND older.id < outbox.id);
    INSERT INTO outbox_events (outbox_id, at, kind, detail)
        SELECT id, created_at, 'failed', last_error FROM outbox
        WHERE state = 'failed' AND last_error LIKE 'was recorded with the post of an older row%';
    CREATE UNIQUE INDEX outbox_remote ON outbox (target, remote_id) WHERE remote_id IS NOT NULL;
    """,
    # 6: the same article at http/https, with or without www. and a trailing slash is one
    _add_link_identity,
    # 7: new entries held as a suspected feed migration, until an editor releases them
    """
    CREATE TABLE held (
        article_id INTEGER NOT NULL REFERENCES articles (id),
        target     TEXT NOT NULL,
        feed       TEXT NOT NULL,
        held_at    REAL NOT NULL,
        reason     TEXT NOT NULL,
        PRIMARY KEY (article_id, target)
    );
    CREATE INDEX held_feed ON held (feed);
    CREATE INDEX articles_feed_published ON articles (feed, published);
    """,
    # 8: a session is reused only for the service and handle it was made for
    """
    ALTER TABLE sessions ADD COLUMN service TEXT;
    ALTER TABLE sessions ADD COLUMN handle TEXT;
    """,
    # 9: a target whose credentials were refused is paused (its rows wait), with the reason
    """
    CREATE TABLE targets (
        name          TEXT PRIMARY KEY,
        paused_since  REAL,
        reason        TEXT,
        fix           TEXT,
        next_check_at REAL
    );
    """,
)


# --- values ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedState:
    name: str
    url: str
    final_url: str | None
    etag: str | None
    last_modified: str | None
    content_hash: str | None
    seeded: bool
    last_fetch_at: float | None
    last_success_at: float | None
    next_fetch_at: float | None
    error_count: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Known:
    """What the store already holds for an incoming entry."""

    article_id: int
    guid: str
    content_hash: str
    feed: str  # the feed it was first seen in (an article may be in several)


@dataclass(frozen=True, slots=True)
class IngestCounts:
    new: int = 0
    updated: int = 0
    queued: int = 0
    held: int = 0


def _ts(value: datetime) -> float:
    return value.timestamp()


REDATE_SLACK = timedelta(days=1)  # more than any time-zone slip


def undated(article: Article) -> bool:
    """The source gave no date: ``published`` is when the article was first seen."""
    return article.feed_published is None and not (article.source and article.source.published)


def _edit(old: Article | None, new: Article) -> tuple[Article, bool]:
    """(what to store for an edited article, whether the site re-published it).

    An undated article keeps the date it was first seen.  The site
    re-published (re-dated) it when its feed date moved forward by more than
    a day: it counts as added again, so it is in the output feed once more.
    """
    if old is None:
        return new, False
    if undated(new):
        new = replace(new, published=old.published)
    redated = (new.feed_published is not None and old.feed_published is not None
               and new.feed_published > old.feed_published + REDATE_SLACK)
    return new, redated


# --- the store ---------------------------------------------------------------


class Store(OutboxStore, OperatorStateMixin):
    """One SQLite database, safe to share between threads of one process.

    The outbox is in ``syndicate.outbox``; held deliveries (and other state
    an operator acts on) in ``syndicate.store_operator``: both mixed in.

    ``busy_timeout``: seconds a write waits for another writer's lock before
    it backs off (``sleep``, injectable) and tries again.
    """

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time,
                 busy_timeout: float = 30.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = str(path)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.RLock()
        try:
            if self.path != ":memory:":
                make_database_private(Path(self.path))  # it holds the Bluesky session
            self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None,
                                       check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"state database {self.path}: {exc}") from None
        except OSError as exc:
            raise StoreError(f"state database {self.path}: {exc.strerror}") from None

    # -- plumbing --

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any error; a locked database is waited for."""
        with self._lock:
            self._begin()
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"state database {self.path}: {exc}") from None

    def _begin(self) -> None:
        """BEGIN IMMEDIATE, trying again (with a backoff) while another writer holds the lock."""
        delay = LOCKED_BACKOFF
        for retry in range(LOCKED_RETRIES + 1):
            try:
                self._db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if retry == LOCKED_RETRIES or not any(w in str(exc) for w in ("locked", "busy")):
                    raise StoreError(f"state database {self.path}: {exc}") from None
            log.warning("state database locked by another writer; waiting",
                        extra={"state": self.path, "retry_in": delay})
            self._sleep(delay)
            delay = min(5.0, delay * 2)

    def _migrate(self) -> None:
        """Apply the migrations not yet applied, each in its own write transaction that reads
        ``user_version`` itself (another process may have migrated since we looked).  An
        up-to-date database is only read: opening it never waits for another writer."""
        if self._db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS):
            return
        while True:
            with self.transaction() as db:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > len(MIGRATIONS):
                    raise StoreError(
                        f"state database {self.path} is at schema {version}, newer than this "
                        f"syndicate ({len(MIGRATIONS)}): upgrade syndicate"
                    )
                if version == len(MIGRATIONS):
                    return
                script = MIGRATIONS[version]
                if callable(script):
                    script(db)
                else:
                    for statement in script.split(";"):
                        if statement.strip():
                            db.execute(statement)
                db.execute(f"PRAGMA user_version = {version + 1}")

    @property
    def schema_version(self) -> int:
        return int(self._query("PRAGMA user_version")[0][0])

    # -- meta --

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    # -- sessions (Bluesky) --

    def load_session(self, target: str) -> StoredSession | None:
        """The target's saved session, with the service and handle it was made for."""
        rows = self._query("SELECT data, service, handle FROM sessions WHERE target = ?", (target,))
        return StoredSession(rows[0][0], rows[0][1], rows[0][2]) if rows else None

    def save_session(self, target: str, session: StoredSession) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO sessions (target, data, service, handle, updated_at) "
                       "VALUES (?, ?, ?, ?, ?) ON CONFLICT (target) DO UPDATE SET "
                       "data = excluded.data, service = excluded.service, handle = excluded.handle, "
                       "updated_at = excluded.updated_at",
                       (target, session.data, session.service, session.handle, self._clock()))

    # -- feeds --

    def feed_state(self, name: str) -> FeedState | None:
        rows = self._query("SELECT * FROM feeds WHERE name = ?", (name,))
        return _feed_state(rows[0]) if rows else None

    def feed_states(self) -> list[FeedState]:
        return sorted(self.feed_state_map().values(), key=lambda s: s.name)

    def feed_state_map(self) -> dict[str, FeedState]:
        """Every feed's state, by name, in one query."""
        return {r["name"]: _feed_state(r) for r in self._query("SELECT * FROM feeds")}

    def record_not_modified(self, feeds: Sequence[tuple[str, float, str | None, str | None, str | None]]
                            ) -> None:
        """Feeds that answered 304: (name, next_fetch_at, etag, last_modified, permanent_redirect).

        One transaction for all of them; a validator the server sent again
        replaces the stored one, one it left out is kept.
        """
        if not feeds:
            return
        now = self._clock()
        with self.transaction() as db:
            db.executemany(
                """UPDATE feeds SET last_fetch_at = ?, last_success_at = ?, next_fetch_at = ?,
                                    etag = COALESCE(?, etag), last_modified = COALESCE(?, last_modified),
                                    final_url = COALESCE(?, final_url), error_count = 0, last_error = NULL
                   WHERE name = ?""",
                [(now, now, next_at, etag, lm, redirect, name)
                 for name, next_at, etag, lm, redirect in feeds],
            )

    def record_fetch_ok(self, name: str, url: str, *, etag: str | None, last_modified: str | None,
                        content_hash: str | None, final_url: str | None, next_fetch_at: float,
                        seeded: bool | None = None) -> None:
        """A fetch (200 or 304) succeeded: store the validators, clear the error."""
        now = self._clock()
        with self.transaction() as db:
            db.execute(
                """INSERT INTO feeds (name, url, final_url, etag, last_modified, content_hash,
                                      seeded, last_fetch_at, last_success_at, next_fetch_at,
                                      error_count, last_error)
                   VALUES (:name, :url, :final_url, :etag, :lm, :hash, :seeded, :now, :now, :next,
                           0, NULL)
                   ON CONFLICT (name) DO UPDATE SET
                       url = excluded.url, final_url = excluded.final_url,
                       etag = excluded.etag, last_modified = excluded.last_modified,
                       content_hash = excluded.content_hash,
                       seeded = MAX(feeds.seeded, excluded.seeded),
                       last_fetch_at = :now, last_success_at = :now,
                       next_fetch_at = :next, error_count = 0, last_error = NULL""",
                {"name": name, "url": url, "final_url": final_url, "etag": etag, "lm": last_modified,
                 "hash": content_hash, "seeded": int(bool(seeded)), "now": now,
                 "next": next_fetch_at},
            )

    def record_fetch_error(self, name: str, url: str, error: str, next_fetch_at: float) -> int:
        """A fetch failed: count it, keep the reason, back off. Returns the error count."""
        now = self._clock()
        with self.transaction() as db:
            db.execute(
                """INSERT INTO feeds (name, url, last_fetch_at, next_fetch_at, error_count, last_error)
                   VALUES (?, ?, ?, ?, 1, ?)
                   ON CONFLICT (name) DO UPDATE SET
                       url = excluded.url, last_fetch_at = excluded.last_fetch_at,
                       next_fetch_at = excluded.next_fetch_at,
                       error_count = feeds.error_count + 1, last_error = excluded.last_error""",
                (name, url, now, next_fetch_at, error),
            )
            return int(db.execute("SELECT error_count FROM feeds WHERE name = ?", (name,)).fetchone()[0])

    # -- articles --

    def known(self, feed: str, entries: Iterable[tuple[str, str]]) -> dict[str, Known]:
        """For (guid, link) pairs, what the store already has, keyed by guid.

        An entry is known by its guid within the feed, or by its link's
        identity in any feed (``syndicate.links.link_identity``): a changed
        guid with the same link is not new, nor is the same link moved to
        https, to or from ``www.``, or with its trailing slash changed.
        """
        pairs = [(guid, link_identity(link) if link else "") for guid, link in entries]
        if not pairs:
            return {}
        found: dict[str, Known] = {}
        with self._lock:
            db = self._db
            db.execute("CREATE TEMP TABLE IF NOT EXISTS incoming_entries (guid TEXT, ident TEXT)")
            db.execute("DELETE FROM incoming_entries")
            db.executemany("INSERT INTO incoming_entries (guid, ident) VALUES (?, ?)", pairs)
            by_guid = db.execute(
                """SELECT i.guid, a.id, a.guid AS stored_guid, a.content_hash, a.feed
                   FROM incoming_entries i JOIN articles a ON a.feed = ? AND a.guid = i.guid""",
                (feed,),
            ).fetchall()
            for r in by_guid:
                found[r["guid"]] = Known(r["id"], r["stored_guid"], r["content_hash"], r["feed"])
            by_link = db.execute(
                """SELECT i.guid, a.id, a.guid AS stored_guid, a.content_hash, a.feed
                   FROM incoming_entries i JOIN articles a ON a.ident = i.ident
                   WHERE i.ident != '' ORDER BY a.id""",
            ).fetchall()
            for r in by_link:
                found.setdefault(r["guid"], Known(r["id"], r["stored_guid"], r["content_hash"], r["feed"]))
            db.execute("DELETE FROM incoming_entries")
        return found

    def newest_published(self, feed: str) -> float | None:
        """The original publication time of the feed's newest article, if it has any."""
        rows = self._query("SELECT MAX(published) FROM articles WHERE feed = ?", (feed,))
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    def ingest(self, feed: str, *, new: Sequence[Article], updated: Sequence[tuple[int, Article]],
               queue: Mapping[str, Sequence[str]], seeded: bool = True,
               held: Mapping[str, Sequence[str]] | None = None, held_reason: str = "") -> IngestCounts:
        """Record new and edited articles and enqueue deliveries, in one transaction.

        ``queue`` maps an article id (guid) among ``new`` to the targets it is
        posted to; ``held`` likewise, for the deliveries held back (a suspected
        feed migration, with ``held_reason``) until ``release_held``; new
        articles in neither are recorded as seen only.
        """
        now = self._clock()
        queued = held_count = 0
        held = held or {}
        with self.transaction() as db:
            for article in new:
                cur = db.execute(
                    """INSERT INTO articles (feed, guid, link, ident, title, published, content_hash,
                                             data, first_seen_at, added_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (feed, guid) DO NOTHING""",
                    (feed, article.id, article.link, link_identity(article.link), article.title,
                     _ts(article.published), article.content_hash, article_to_json(article), now, now),
                )
                if not cur.rowcount:
                    continue
                article_id = cur.lastrowid
                assert article_id is not None
                if article.id in queue:
                    queued += self._enqueue(db, article_id, queue[article.id], now=now)
                for target in held.get(article.id, ()):
                    held_count += db.execute(
                        "INSERT INTO held (article_id, target, feed, held_at, reason) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT DO NOTHING", (article_id, target, feed, now, held_reason)).rowcount
            for article_id, article in updated:
                row = db.execute("SELECT data FROM articles WHERE id = ?", (article_id,)).fetchone()
                article, redated = _edit(article_from_json(row[0]) if row else None, article)
                db.execute(
                    """UPDATE articles SET link = ?, ident = ?, title = ?, published = ?, content_hash = ?,
                                           data = ?, updated_at = ?,
                                           added_at = CASE WHEN ? THEN ? ELSE added_at END
                       WHERE id = ?""",
                    (article.link, link_identity(article.link), article.title, _ts(article.published),
                     article.content_hash, article_to_json(article), now, redated, now, article_id),
                )
                db.execute("UPDATE outbox SET published = ? WHERE article_id = ?",
                           (_ts(article.published), article_id))
            if seeded:
                db.execute("UPDATE feeds SET seeded = 1 WHERE name = ?", (feed,))
        return IngestCounts(new=len(new), updated=len(updated), queued=queued, held=held_count)

    def article(self, article_id: int) -> Article | None:
        rows = self._query("SELECT data FROM articles WHERE id = ?", (article_id,))
        return article_from_json(rows[0][0]) if rows else None

    def find_article_id(self, ref: str) -> int | None:
        """An article by its row id, guid, or link (any link with the same identity)."""
        if ref.isdigit():
            rows = self._query("SELECT id FROM articles WHERE id = ?", (int(ref),))
            if rows:
                return int(rows[0][0])
        rows = self._query("SELECT id FROM articles WHERE guid = ? OR link = ? ORDER BY id LIMIT 1",
                           (ref, ref))
        if not rows and ref.startswith(("http://", "https://")):
            rows = self._query("SELECT id FROM articles WHERE ident = ? ORDER BY id LIMIT 1",
                               (link_identity(ref),))
        return int(rows[0][0]) if rows else None

    def latest_articles(self, limit: int) -> list[Article]:
        """The ``limit`` most recently added articles, newest first (for the output feed).

        Added: first seen, or since re-published by the site or reposted by
        an editor (``added_at``), whatever the original publication date;
        those added together (a feed's first read) newest first by date.  One
        read of the ``articles_added`` index.
        """
        rows = self._query(
            "SELECT data FROM articles ORDER BY added_at DESC, published DESC, id DESC LIMIT ?", (limit,))
        return [article_from_json(r[0]) for r in rows]

    def count_articles(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM articles")[0][0])


def _feed_state(r: sqlite3.Row) -> FeedState:
    return FeedState(
        name=r["name"], url=r["url"], final_url=r["final_url"], etag=r["etag"],
        last_modified=r["last_modified"], content_hash=r["content_hash"],
        seeded=bool(r["seeded"]), last_fetch_at=r["last_fetch_at"],
        last_success_at=r["last_success_at"], next_fetch_at=r["next_fetch_at"],
        error_count=r["error_count"], last_error=r["last_error"],
    )

