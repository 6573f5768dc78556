"""The state database: feeds, articles, the outbox, sessions.

Articles are recognised by guid within their feed, or by their link's
identity (``syndicate.links.link_identity``, column ``ident``) in any feed.

SQLite is the embedded default (WAL, numbered migrations on
``PRAGMA user_version``).  All SQL lives here; the rest of the package sees
plain values.  The outbox has one row per article × target::

    pending ──lease──► sending ──► sent      (remote id + URL, same transaction)
       ▲                  │  └───► failed    (permanent error, with the reason)
       └──── reschedule ──┘                  (transient: next_attempt_at)

A lease carries an owner and an expiry (``leased_until``); a row whose lease
expired (its worker crashed) is claimed again and *reconciled* before it is
sent again, with the same key.  Times are Unix seconds (REAL).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from syndicate.errors import StoreError
from syndicate.links import link_identity
from syndicate.models import Article, Posted, Source, StoredSession
from syndicate.store_operator import OperatorStateMixin
from syndicate.tid import tid_for


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
    # 4: the same article at http/https, with or without www. and a trailing slash is one
    _add_link_identity,
    # 5: new entries held as a suspected feed migration, until an editor releases them
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
    # 6: a session is reused only for the service and handle it was made for
    """
    ALTER TABLE sessions ADD COLUMN service TEXT;
    ALTER TABLE sessions ADD COLUMN handle TEXT;
    """,
    # 7: a target whose credentials were refused is paused (its rows wait), with the reason
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
class OutboxItem:
    id: int
    article_id: int
    target: str
    seq: int
    key: str
    state: str
    attempts: int
    intro: str | None
    requested_by: str | None
    reclaimed: bool  # its earlier lease expired: an interrupted delivery may have landed
    article: Article


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row as editors see it."""

    target: str
    seq: int
    key: str
    state: str
    attempts: int
    remote_url: str | None
    sent_at: float | None
    next_attempt_at: float | None
    last_error: str | None
    requested_by: str | None


@dataclass(frozen=True, slots=True)
class ArticleStatus:
    id: int
    feed: str
    guid: str
    link: str
    title: str
    published: float
    first_seen_at: float
    deliveries: tuple[Delivery, ...]


@dataclass(frozen=True, slots=True)
class IngestCounts:
    new: int = 0
    updated: int = 0
    queued: int = 0
    held: int = 0


# --- Article <-> JSON --------------------------------------------------------


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def article_to_json(article: Article) -> str:
    data = asdict(article)
    for key in ("published", "feed_published", "updated"):
        data[key] = _dt(getattr(article, key))
    if article.source:
        data["source"]["published"] = _dt(article.source.published)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def article_from_json(text: str) -> Article:
    data: dict[str, Any] = json.loads(text)
    for key in ("published", "feed_published", "updated"):
        data[key] = _parse_dt(data.get(key))
    data["categories"] = tuple(data.get("categories") or ())
    src = data.get("source")
    if src:
        data["source"] = Source(name=src.get("name"), url=src.get("url"),
                                published=_parse_dt(src.get("published")))
    return Article(**data)


def _ts(value: datetime) -> float:
    return value.timestamp()


# --- the store ---------------------------------------------------------------


class Store(OperatorStateMixin):
    """One SQLite database, safe to share between threads of one process.

    Held deliveries (and other state an operator acts on) are in
    ``syndicate.store_operator``, mixed in.
    """

    def __init__(self, path: str | Path, *, clock: Any = time.time) -> None:
        self.path = str(path)
        self._clock = clock
        self._lock = threading.RLock()
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                       check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=30000")
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
        """BEGIN IMMEDIATE … COMMIT, rolled back on any error."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
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

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(
                f"state database {self.path} is at schema {version}, newer than this "
                f"syndicate ({len(MIGRATIONS)}): upgrade syndicate"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction() as db:
                if callable(script):
                    script(db)
                else:
                    for statement in script.split(";"):
                        if statement.strip():
                            db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

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
                                             data, first_seen_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (feed, guid) DO NOTHING""",
                    (feed, article.id, article.link, link_identity(article.link), article.title,
                     _ts(article.published), article.content_hash, article_to_json(article), now),
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
                db.execute(
                    """UPDATE articles SET link = ?, ident = ?, title = ?, published = ?, content_hash = ?,
                                           data = ?, updated_at = ? WHERE id = ?""",
                    (article.link, link_identity(article.link), article.title, _ts(article.published),
                     article.content_hash, article_to_json(article), now, article_id),
                )
                db.execute("UPDATE outbox SET published = ? WHERE article_id = ?",
                           (_ts(article.published), article_id))
            if seeded:
                db.execute("UPDATE feeds SET seeded = 1 WHERE name = ?", (feed,))
        return IngestCounts(new=len(new), updated=len(updated), queued=queued, held=held_count)

    _last_key_micros = 0

    def _new_key(self, now: float) -> str:
        micros = max(int(now * 1_000_000), Store._last_key_micros + 1)
        Store._last_key_micros = micros
        return tid_for(micros, secrets.randbelow(1024))

    def _enqueue(self, db: sqlite3.Connection, article_id: int, targets: Iterable[str], *, now: float,
                 seq: int = 0, intro: str | None = None, requested_by: str | None = None) -> int:
        count = 0
        for target in targets:
            cur = db.execute(
                """INSERT INTO outbox (article_id, target, seq, key, intro, requested_by, created_at,
                                       next_attempt_at, published)
                   SELECT ?, ?, ?, ?, ?, ?, ?, ?, published FROM articles WHERE id = ?
                   ON CONFLICT DO NOTHING""",
                (article_id, target, seq, self._new_key(now), intro, requested_by, now, now, article_id),
            )
            count += cur.rowcount
        return count

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
        """The most recent articles by original publication date (for the output feed)."""
        rows = self._query("SELECT data FROM articles ORDER BY published DESC, id DESC LIMIT ?",
                           (limit,))
        return [article_from_json(r[0]) for r in rows]

    def count_articles(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM articles")[0][0])

    # -- outbox --

    def claim_due(self, owner: str, *, now: float, lease_seconds: float, limit: int = 1,
                  targets: Iterable[str] | None = None, in_order: bool = True) -> list[OutboxItem]:
        """Lease up to ``limit`` due rows, oldest article first.

        Due: pending with next_attempt_at <= now, or sending with an expired
        lease (its worker died; ``reclaimed`` is then True).  ``in_order``:
        a row behind its target's oldest pending row, while that one waits
        for a retry, is not due (a failing target's queue keeps its order);
        ``in_order=False`` is the deliverer's probe past such a row.
        """
        with self.transaction() as db:
            names = list(targets) if targets is not None else [
                r[0] for r in db.execute("SELECT DISTINCT target FROM outbox")]
            picked: list[sqlite3.Row] = []
            if names:
                picked += db.execute(
                    f"""SELECT * FROM outbox WHERE state = 'sending' AND leased_until <= ?
                        AND target IN ({','.join('?' * len(names))}) ORDER BY published, id LIMIT ?""",
                    (now, *names, limit)).fetchall()
            for name in names:
                picked += self._due_in_line(db, name, now, limit, in_order)
            picked.sort(key=lambda r: (r["published"], r["id"]))
            items = []
            for r in picked[:limit]:
                db.execute(
                    """UPDATE outbox SET state = 'sending', lease_owner = ?, leased_until = ?,
                                         attempts = attempts + 1 WHERE id = ?""",
                    (owner, now + lease_seconds, r["id"]),
                )
                data = db.execute("SELECT data FROM articles WHERE id = ?", (r["article_id"],)).fetchone()
                items.append(OutboxItem(
                    id=r["id"], article_id=r["article_id"], target=r["target"], seq=r["seq"],
                    key=r["key"], state="sending", attempts=r["attempts"] + 1, intro=r["intro"],
                    requested_by=r["requested_by"],
                    reclaimed=r["state"] == "sending" or r["attempts"] > 0,
                    article=article_from_json(data[0]),
                ))
        return items

    @staticmethod
    def _due_in_line(db: sqlite3.Connection, target: str, now: float, limit: int,
                     in_order: bool) -> list[sqlite3.Row]:
        """Up to ``limit`` due pending rows of a target, walking its queue in order.

        The walk stops at a row waiting for its retry that is in line
        (``out_of_line = 0``): the rows behind it wait with it.  Reads the
        ``outbox_queue`` index, so its cost does not grow with the queue.
        """
        due: list[sqlite3.Row] = []
        cursor = db.execute(
            """SELECT * FROM outbox WHERE target = ? AND state = 'pending'
               ORDER BY published, id""", (target,))
        for row in cursor:
            if row["next_attempt_at"] <= now:
                due.append(row)
                if len(due) >= limit:
                    break
            elif in_order and not row["out_of_line"]:
                break
        cursor.close()
        return due

    def _finish(self, item_id: int, owner: str, sql: str, params: Sequence[Any]) -> bool:
        with self.transaction() as db:
            cur = db.execute(sql + " WHERE id = ? AND state = 'sending' AND lease_owner = ?",
                             (*params, item_id, owner))
            return cur.rowcount == 1

    def mark_sent(self, item_id: int, owner: str, posted: Posted) -> bool:
        """Record the remote post; False if the lease was lost meanwhile."""
        sent_at = _ts(posted.posted_at) if posted.posted_at else self._clock()
        return self._finish(
            item_id, owner,
            """UPDATE outbox SET state = 'sent', remote_id = ?, remote_url = ?, sent_at = ?,
                                 lease_owner = NULL, leased_until = NULL, last_error = NULL""",
            (posted.remote_id, posted.url, sent_at),
        )

    def mark_failed(self, item_id: int, owner: str, error: str) -> bool:
        return self._finish(
            item_id, owner,
            """UPDATE outbox SET state = 'failed', last_error = ?, lease_owner = NULL,
                                 leased_until = NULL""",
            (error,),
        )

    def reschedule(self, item_id: int, owner: str, next_attempt_at: float, error: str | None) -> bool:
        return self._finish(
            item_id, owner,
            """UPDATE outbox SET state = 'pending', next_attempt_at = ?, last_error = ?,
                                 lease_owner = NULL, leased_until = NULL""",
            (next_attempt_at, error),
        )

    def release_unsent(self, item_id: int, owner: str, error: str) -> bool:
        """Give a leased row back as if it had not been tried (its target is paused): pending,
        its place in the queue and its next attempt time kept, the attempt not counted."""
        return self._finish(
            item_id, owner,
            """UPDATE outbox SET state = 'pending', attempts = MAX(0, attempts - 1), last_error = ?,
                                 lease_owner = NULL, leased_until = NULL""",
            (error,),
        )

    def set_out_of_line(self, item_id: int) -> None:
        """This row no longer holds back the rows behind it (see ``claim_due``)."""
        with self.transaction() as db:
            db.execute("UPDATE outbox SET out_of_line = 1 WHERE id = ?", (item_id,))

    def release(self, item_id: int, owner: str) -> bool:
        """Give a leased row back untouched (shutdown): due again at once."""
        return self._finish(
            item_id, owner,
            "UPDATE outbox SET state = 'pending', lease_owner = NULL, leased_until = NULL",
            (),
        )

    def lease_owners(self) -> list[str]:
        """Owners holding leases on rows in flight."""
        return [r[0] for r in self._query(
            "SELECT DISTINCT lease_owner FROM outbox WHERE state = 'sending' AND lease_owner IS NOT NULL")]

    def expire_leases(self, owners: Iterable[str], now: float) -> int:
        """End these owners' leases now (they are known dead): their rows are due again."""
        owners = list(owners)
        if not owners:
            return 0
        with self.transaction() as db:
            return db.execute(
                f"UPDATE outbox SET leased_until = ? WHERE state = 'sending' "
                f"AND lease_owner IN ({','.join('?' * len(owners))})", (now, *owners)).rowcount

    def outbox_depth(self) -> dict[str, dict[str, int]]:
        """{target: {state: count}}."""
        out: dict[str, dict[str, int]] = {}
        for r in self._query("SELECT target, state, COUNT(*) FROM outbox GROUP BY target, state"):
            out.setdefault(r[0], {})[r[1]] = r[2]
        return out

    def next_due_at(self, targets: Iterable[str] | None = None) -> float | None:
        """When the next outbox row (of ``targets``, or any) can be worked; an in-flight
        lease's expiry counts."""
        wanted = None if targets is None else set(targets)
        with self._lock:
            db = self._db
            times = [r[0] for r in db.execute(
                "SELECT MIN(leased_until) FROM outbox WHERE state = 'sending'")]
            for (name,) in db.execute("SELECT DISTINCT target FROM outbox WHERE state = 'pending'"):
                if wanted is not None and name not in wanted:
                    continue
                for next_at, out_of_line in db.execute(
                        """SELECT next_attempt_at, out_of_line FROM outbox
                           WHERE target = ? AND state = 'pending' ORDER BY published, id""", (name,)):
                    times.append(next_at)
                    if not out_of_line:
                        break  # everything behind the first row in line waits for it
        times = [t for t in times if t is not None]
        return min(times) if times else None

    # -- editors --

    def queue_repost(self, article_id: int, targets: Iterable[str], *, requested_by: str,
                     intro: str | None = None) -> list[str]:
        """Queue a new post of an article to each target now; returns the targets queued."""
        now = self._clock()
        queued = []
        with self.transaction() as db:
            for target in targets:
                seq = db.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM outbox "
                                 "WHERE article_id = ? AND target = ?", (article_id, target)).fetchone()[0]
                if self._enqueue(db, article_id, [target], now=now, seq=seq, intro=intro,
                                 requested_by=requested_by):
                    queued.append(target)
        return queued

    def retry_failed(self, article_id: int | None = None, target: str | None = None) -> int:
        """Put failed deliveries back in the queue, due now. Returns how many."""
        sql = ("UPDATE outbox SET state = 'pending', next_attempt_at = ?, attempts = 0 "
               "WHERE state = 'failed'")
        params: list[Any] = [self._clock()]
        if article_id is not None:
            sql += " AND article_id = ?"
            params.append(article_id)
        if target is not None:
            sql += " AND target = ?"
            params.append(target)
        with self.transaction() as db:
            return db.execute(sql, params).rowcount

    def deliveries(self, article_id: int) -> list[Delivery]:
        """An article's outbox rows, and its held deliveries (state ``held``, the reason as error)."""
        rows = self._query(
            f"""SELECT target, seq, key, state, attempts, remote_url, sent_at, next_attempt_at,
                       last_error, requested_by
                FROM outbox WHERE article_id = ?
                UNION ALL {_HELD_AS_DELIVERY} WHERE article_id = ? ORDER BY target, seq""",
            (article_id, article_id),
        )
        return [Delivery(**dict(r)) for r in rows]

    def recent(self, limit: int = 20) -> list[ArticleStatus]:
        """Recent articles (by first sight, then publication) with their deliveries."""
        rows = self._query(
            """SELECT id, feed, guid, link, title, published, first_seen_at FROM articles
               ORDER BY first_seen_at DESC, published DESC, id DESC LIMIT ?""",
            (limit,),
        )
        by_article: dict[int, list[Delivery]] = {r["id"]: [] for r in rows}
        if by_article:
            marks = ",".join("?" * len(by_article))
            for d in self._query(
                    f"""SELECT article_id, target, seq, key, state, attempts, remote_url, sent_at,
                               next_attempt_at, last_error, requested_by
                        FROM outbox WHERE article_id IN ({marks})
                        UNION ALL SELECT article_id, {_HELD_COLUMNS} FROM held
                        WHERE article_id IN ({marks}) ORDER BY target, seq""",
                    [*by_article, *by_article]):
                fields = dict(d)
                by_article[fields.pop("article_id")].append(Delivery(**fields))
        return [ArticleStatus(**dict(r), deliveries=tuple(by_article[r["id"]])) for r in rows]


# A held delivery, shaped as an outbox row for editors (``deliveries``, ``recent``).
_HELD_COLUMNS = ("target, 0 AS seq, '' AS key, 'held' AS state, 0 AS attempts, NULL AS remote_url, "
                 "NULL AS sent_at, NULL AS next_attempt_at, reason AS last_error, NULL AS requested_by")
_HELD_AS_DELIVERY = f"SELECT {_HELD_COLUMNS} FROM held"


def _feed_state(r: sqlite3.Row) -> FeedState:
    return FeedState(
        name=r["name"], url=r["url"], final_url=r["final_url"], etag=r["etag"],
        last_modified=r["last_modified"], content_hash=r["content_hash"],
        seeded=bool(r["seeded"]), last_fetch_at=r["last_fetch_at"],
        last_success_at=r["last_success_at"], next_fetch_at=r["next_fetch_at"],
        error_count=r["error_count"], last_error=r["last_error"],
    )

