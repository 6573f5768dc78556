"""The schema, as numbered steps: one function per migration.

``MIGRATIONS[n - 1]`` takes a database from version ``n - 1`` to ``n``;
``migrate`` applies the steps a database has not had yet, each in its own
``Backend.migrating()`` transaction that also sets the version.  Each reads
the version *inside* its transaction (another process may have migrated
since we looked), so two processes opening a new database at once both
succeed; an up-to-date database is only read, so opening it never waits for
a writer.  A database newer than this code is refused (``StoreError``).

A step never changes once released: a new need is a new step (and a case in
``tests/test_store_schema.py``, which upgrades a database made by every
earlier version).  Steps are portable SQL (``syndicate.store.backend``); the
words that differ between engines come from ``db.dialect``, so every step runs
on SQLite and on PostgreSQL alike (a PostgreSQL database is made by the same
steps, from the first, as a new SQLite file is).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from syndicate.errors import StoreError
from syndicate.links import link_identity
from syndicate.store.backend import Backend, Connection

__all__ = ["LATEST", "MIGRATIONS", "migrate"]

Step = Callable[[Connection], None]


def _run(db: Connection, script: str) -> None:
    """Run a script's statements (split on ";": no step's SQL has one in a literal)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def step_1_initial(db: Connection) -> None:
    """Feeds, articles, the outbox (one row per article × target), sessions, meta."""
    real, key = db.dialect.real, db.dialect.serial_key
    _run(db, f"""
    CREATE TABLE feeds (
        name            TEXT PRIMARY KEY,
        url             TEXT NOT NULL,
        final_url       TEXT,
        etag            TEXT,
        last_modified   TEXT,
        content_hash    TEXT,
        seeded          INTEGER NOT NULL DEFAULT 0,
        last_fetch_at   {real},
        last_success_at {real},
        next_fetch_at   {real},
        error_count     INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT
    );
    CREATE TABLE articles (
        id            {key},
        feed          TEXT NOT NULL,
        guid          TEXT NOT NULL,
        link          TEXT NOT NULL,
        title         TEXT NOT NULL,
        published     {real} NOT NULL,
        content_hash  TEXT NOT NULL,
        data          TEXT NOT NULL,
        first_seen_at {real} NOT NULL,
        updated_at    {real},
        UNIQUE (feed, guid)
    );
    CREATE INDEX articles_link ON articles (link);
    CREATE INDEX articles_published ON articles (published);
    CREATE TABLE outbox (
        id              {key},
        article_id      INTEGER NOT NULL REFERENCES articles (id),
        target          TEXT NOT NULL,
        seq             INTEGER NOT NULL DEFAULT 0,
        key             TEXT NOT NULL UNIQUE,
        state           TEXT NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
        intro           TEXT,
        requested_by    TEXT,
        created_at      {real} NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at {real} NOT NULL,
        lease_owner     TEXT,
        leased_until    {real},
        remote_id       TEXT,
        remote_url      TEXT,
        sent_at         {real},
        last_error      TEXT,
        UNIQUE (article_id, target, seq)
    );
    CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
    CREATE TABLE sessions (
        target     TEXT PRIMARY KEY,
        data       TEXT NOT NULL,
        updated_at {real} NOT NULL
    );
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """)


def step_2_out_of_line(db: Connection) -> None:
    """A row that keeps failing while the rows behind it succeed stops holding them back."""
    db.execute("ALTER TABLE outbox ADD COLUMN out_of_line INTEGER NOT NULL DEFAULT 0")


def step_3_queue_in_publication_order(db: Connection) -> None:
    """Each target's queue read in publication order from an index, whatever its length."""
    _run(db, f"""
    ALTER TABLE outbox ADD COLUMN published {db.dialect.real} NOT NULL DEFAULT 0;
    UPDATE outbox SET published = (SELECT published FROM articles WHERE articles.id = outbox.article_id);
    CREATE INDEX outbox_queue ON outbox (target, state, published, id);
    CREATE INDEX outbox_leases ON outbox (state, leased_until);
    DROP INDEX outbox_due;
    """)


def step_4_added_at(db: Connection) -> None:
    """The output feed holds the most recently *added* articles, read from an index."""
    _run(db, f"""
    ALTER TABLE articles ADD COLUMN added_at {db.dialect.real} NOT NULL DEFAULT 0;
    UPDATE articles SET added_at = first_seen_at;
    CREATE INDEX articles_added ON articles (added_at, published, id);
    """)


def step_5_exactly_once(db: Connection) -> None:
    """Exactly once for real: when a request may first have left, the re-compose a server asked
    for, one row per remote post, and each row's history.

    Rows tried before this version may have landed: they count as tried since they were queued.
    A post two rows claim (a reconciliation error of earlier versions) stays with the older row;
    the other is failed with the reason, for an editor to retry.
    """
    real, key = db.dialect.real, db.dialect.serial_key
    _run(db, f"""
    ALTER TABLE outbox ADD COLUMN first_attempt_at {real};
    ALTER TABLE outbox ADD COLUMN strict_limit INTEGER;
    UPDATE outbox SET first_attempt_at = created_at WHERE attempts > 0 AND state IN ('pending', 'sending');
    CREATE TABLE outbox_events (
        id        {key},
        outbox_id INTEGER NOT NULL REFERENCES outbox (id),
        at        {real} NOT NULL,
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
    """)


def step_6_link_identity(db: Connection) -> None:
    """The same article at http/https, with or without www. and a trailing slash is one: articles
    are recognised by their link's identity (``syndicate.links``), backfilled here."""
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


def step_7_held(db: Connection) -> None:
    """New entries held as a suspected feed migration, until an editor releases them."""
    _run(db, f"""
    CREATE TABLE held (
        article_id INTEGER NOT NULL REFERENCES articles (id),
        target     TEXT NOT NULL,
        feed       TEXT NOT NULL,
        held_at    {db.dialect.real} NOT NULL,
        reason     TEXT NOT NULL,
        PRIMARY KEY (article_id, target)
    );
    CREATE INDEX held_feed ON held (feed);
    CREATE INDEX articles_feed_published ON articles (feed, published);
    """)


def step_8_session_owner(db: Connection) -> None:
    """A session is reused only for the service and handle it was made for."""
    db.execute("ALTER TABLE sessions ADD COLUMN service TEXT")
    db.execute("ALTER TABLE sessions ADD COLUMN handle TEXT")


def step_9_paused_targets(db: Connection) -> None:
    """A target whose credentials were refused is paused (its rows wait), with the reason."""
    real = db.dialect.real
    db.execute(f"""
    CREATE TABLE targets (
        name          TEXT PRIMARY KEY,
        paused_since  {real},
        reason        TEXT,
        fix           TEXT,
        next_check_at {real}
    )""")


def step_10_one_name_per_hash(db: Connection) -> None:
    """``content_hash`` named two hashes: the feed body's (now ``feeds.body_hash``) and the
    entry's fingerprint (now ``articles.fingerprint``).  The JSON in ``articles.data`` keeps
    its old key until the article is written again (``article_json`` reads both)."""
    db.execute("ALTER TABLE feeds RENAME COLUMN content_hash TO body_hash")
    db.execute("ALTER TABLE articles RENAME COLUMN content_hash TO fingerprint")


def step_11_workers(db: Connection) -> None:
    """Each running worker (``syndicate run``) and when it was last seen alive: several workers
    share a PostgreSQL state, and a lease's owner names its row here."""
    real = db.dialect.real
    db.execute(f"""
    CREATE TABLE workers (
        owner        TEXT PRIMARY KEY,
        host         TEXT NOT NULL,
        pid          INTEGER NOT NULL,
        started_at   {real} NOT NULL,
        last_seen_at {real} NOT NULL,
        stopped_at   {real}
    )""")


def step_12_target_budgets(db: Connection) -> None:
    """Each target's rate budget (what its server last said: requests left, when its window
    resets), shared by every worker: several workers together send no faster than one."""
    real = db.dialect.real
    db.execute(f"""
    CREATE TABLE target_budgets (
        target     TEXT PRIMARY KEY,
        remaining  INTEGER NOT NULL,
        reset_at   {real},
        updated_at {real} NOT NULL
    )""")


def step_13_feed_claims(db: Connection) -> None:
    """A feed's poll is claimed (an owner, an expiry), so of several workers one fetches it."""
    db.execute("ALTER TABLE feeds ADD COLUMN lease_owner TEXT")
    db.execute(f"ALTER TABLE feeds ADD COLUMN leased_until {db.dialect.real}")


def step_14_mirror_files(db: Connection) -> None:
    """The mirror feeds as published, one row per file (its bytes and ETag), so that every worker
    serves the same files, whichever rebuilt them."""
    real = db.dialect.real
    db.execute(f"""
    CREATE TABLE mirror_files (
        name       TEXT PRIMARY KEY,
        data       {db.dialect.blob} NOT NULL,
        etag       TEXT NOT NULL,
        updated_at {real} NOT NULL
    )""")


def step_15_filtered(db: Connection) -> None:
    """New articles a target's filters kept from it, with the reason (an editor may repost them)."""
    db.execute(f"""
    CREATE TABLE filtered (
        article_id  INTEGER NOT NULL REFERENCES articles (id),
        target      TEXT NOT NULL,
        filtered_at {db.dialect.real} NOT NULL,
        reason      TEXT NOT NULL,
        PRIMARY KEY (article_id, target)
    )""")


def step_16_posts_by_time(db: Connection) -> None:
    """Each target's posts by time: what its pacing counts (``store.pacing``), read from an index."""
    db.execute("CREATE INDEX outbox_sent ON outbox (target, sent_at)")


def step_17_operations(db: Connection) -> None:
    """An outbox row is an operation on a post: ``post`` (every row so far), or an ``edit`` /
    ``delete`` of the post row ``of_row`` made (``policy``: how an edit is carried over); a post
    row whose post was deleted says when (``deleted_at``)."""
    _run(db, f"""
    ALTER TABLE outbox ADD COLUMN op TEXT NOT NULL DEFAULT 'post';
    ALTER TABLE outbox ADD COLUMN of_row INTEGER;
    ALTER TABLE outbox ADD COLUMN policy TEXT;
    ALTER TABLE outbox ADD COLUMN deleted_at {db.dialect.real};
    CREATE INDEX outbox_of_row ON outbox (of_row, op, state)
    """)


def _credited(data: str) -> str:
    """The link identity of the source an article's stored JSON credits ("" : none, or unreadable)."""
    try:
        source = json.loads(data).get("source") or {}
        url = source.get("url")
    except (ValueError, AttributeError):
        return ""
    return link_identity(url) if isinstance(url, str) and url else ""


def step_18_article_life(db: Connection) -> None:
    """An article's life after its feed: the checks of its page once it left the feed (gone at
    source: ``store.unpublished``), the articles recorded as another's copy, the link identity
    of the source each article credits, backfilled (``store.copies``), and when what mirrors show
    of each last really changed (``store.mirror_items``)."""
    real = db.dialect.real
    _run(db, f"""
    CREATE TABLE unpublish_checks (
        article_id      INTEGER PRIMARY KEY REFERENCES articles (id),
        feed            TEXT NOT NULL,
        missing_since   {real},
        next_check_at   {real},
        checks          INTEGER NOT NULL DEFAULT 0,
        not_found_since {real},
        not_found       INTEGER NOT NULL DEFAULT 0,
        last_checked_at {real},
        last_result     TEXT,
        gone_at         {real}
    );
    CREATE INDEX unpublish_due ON unpublish_checks (next_check_at);
    CREATE INDEX unpublish_gone ON unpublish_checks (gone_at);
    CREATE TABLE copies (
        article_id  INTEGER PRIMARY KEY REFERENCES articles (id),
        original_id INTEGER NOT NULL REFERENCES articles (id),
        reason      TEXT NOT NULL,
        recorded_at {real} NOT NULL
    );
    CREATE INDEX copies_original ON copies (original_id);
    CREATE TABLE credits (
        article_id   INTEGER PRIMARY KEY REFERENCES articles (id),
        source_ident TEXT NOT NULL
    );
    CREATE INDEX credits_source ON credits (source_ident);
    CREATE TABLE article_changes (
        article_id INTEGER PRIMARY KEY REFERENCES articles (id),
        signature  TEXT NOT NULL,
        changed_at {real}
    )
    """)
    last = 0  # every article that credits a source by its link: what a later original finds
    while True:
        rows = db.execute("SELECT id, data FROM articles WHERE id > ? ORDER BY id LIMIT 2000",
                          (last,)).fetchall()
        if not rows:
            break
        credited = [(article_id, _credited(data)) for article_id, data in rows]
        db.executemany("INSERT INTO credits (article_id, source_ident) VALUES (?, ?)",
                       [(article_id, ident) for article_id, ident in credited if ident])
        last = rows[-1][0]


def step_19_worker_cycles(db: Connection) -> None:
    """When each worker's own last cycle ended: on a fleet, a worker's health is its own, not the
    state's last cycle (``meta.last_cycle_at``), which any worker's cycle moves."""
    db.execute(f"ALTER TABLE workers ADD COLUMN last_cycle_at {db.dialect.real}")


def step_20_missing_by_feed(db: Connection) -> None:
    """A feed's missing articles read from an index: each parsed read of a feed looks them up
    (``note_listing``), and ``unpublish_checks`` keeps a row for every article that ever left its
    feed, so without it every read of every feed read the whole table."""
    db.execute("CREATE INDEX unpublish_feed ON unpublish_checks (feed, missing_since)")


MIGRATIONS: tuple[Step, ...] = (
    step_1_initial,
    step_2_out_of_line,
    step_3_queue_in_publication_order,
    step_4_added_at,
    step_5_exactly_once,
    step_6_link_identity,
    step_7_held,
    step_8_session_owner,
    step_9_paused_targets,
    step_10_one_name_per_hash,
    step_11_workers,
    step_12_target_budgets,
    step_13_feed_claims,
    step_14_mirror_files,
    step_15_filtered,
    step_16_posts_by_time,
    step_17_operations,
    step_18_article_life,
    step_19_worker_cycles,
    step_20_missing_by_feed,
)
LATEST = len(MIGRATIONS)


def migrate(backend: Backend, *, to: int = LATEST) -> None:
    """Bring the database to version ``to`` (default: this code's), a step per transaction.

    ``to`` below ``LATEST`` is for tests, which build the database an older version made.
    """
    if backend.schema_version() == to:
        return
    while True:
        with backend.migrating() as db:
            version = backend.schema_version(db)
            if version > LATEST:
                raise StoreError(
                    f"state database {backend.where} is at schema {version}, newer than this "
                    f"syndicate ({LATEST}): upgrade syndicate"
                )
            if version >= to:
                return
            MIGRATIONS[version](db)
            backend.set_schema_version(db, version + 1)
