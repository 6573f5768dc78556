"""The state database: feeds, articles, the outbox, sessions — by domain, behind a backend.

``Store`` is the one object the rest of the package holds; it is assembled
from one part per domain, each module holding its domain's SQL::

    feeds.py        FeedsPart       validators, body hash, backoff, errors per feed
    articles.py     ArticlesPart    known by guid or link identity; apply (a poll's plan, one transaction)
    outbox.py       OutboxPart      the queue: enqueue, claims, leases, history
    attempts.py     AttemptsPart    a leased row's life: renewals, attempts, the outcome
    budgets.py      BudgetsPart     each target's rate budget, shared by every worker
    deliveries.py   DeliveriesPart  the editors' side: deliveries, recent, the repost rule, retries
    operator.py     OperatorPart    held deliveries, paused targets
    mirror.py       MirrorPart      the mirror feeds as published: bytes and ETag per file
    pacing.py       PacingPart      each target's pacing over its queue: its posts by time, the plan
    sessions.py     SessionsPart    platform sessions, meta
    workers.py      WorkersPart     every running worker, last seen when
    operations.py   OperationsPart  edits and deletes of posts made, as outbox rows; post-now
    unpublished.py  UnpublishedPart articles that left their feed, their page checks, those gone at source
    copies.py       CopiesPart      articles recorded as another's copy; the originals a copy credits
    mirror_items.py MirrorItemsPart the mirror feeds' articles: none gone or a copy, with edits, posts, copies
    article_json.py                 an Article as the JSON kept in articles.data
    schema.py                       the migrations, one function per step, and ``migrate``
    backend.py                      the protocol a database engine implements (portable SQL)
    sqlite.py                       the SQLite backend (WAL, busy timeout, locked retries)
    postgres.py                     the PostgreSQL backend (a connection pool; several workers)
    location.py                     a state value: a SQLite path or a PostgreSQL URL
    copy.py                         a whole state copied into an empty one (``copy-state``)
    private_files.py                the database's files made owner-only

The rest of the package sees plain values (``FeedState``, ``OutboxItem``,
``Delivery``, …), never SQL nor a driver's exception (``StoreError``).
Times are Unix seconds.  SQLite is the embedded default: a path (or
``:memory:``) opens it; a ``postgresql://`` URL opens the PostgreSQL
backend instead (imported only then: a SQLite command never loads psycopg).
``schema.migrate`` brings either to this code's schema when it opens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from syndicate.store.article_json import article_from_json, article_to_json
from syndicate.store.articles import ArticlesPart, IngestCounts, Known
from syndicate.store.attempts import AttemptsPart
from syndicate.store.backend import Backend
from syndicate.store.budgets import BudgetsPart, TargetBudget
from syndicate.store.copies import CopiesPart
from syndicate.store.deliveries import ArticleStatus, DeliveriesPart, Delivery, RepostRequest
from syndicate.store.feeds import FeedsPart, FeedState
from syndicate.store.location import is_database_url
from syndicate.store.mirror import MirrorFile, MirrorPart
from syndicate.store.mirror_items import MirrorEntry, MirrorItemsPart
from syndicate.store.operations import DeleteRequest, OperationsPart
from syndicate.store.operator import OperatorPart, TargetPause
from syndicate.store.outbox import OutboxEvent, OutboxItem, OutboxPart
from syndicate.store.pacing import PacingPart
from syndicate.store.schema import MIGRATIONS, migrate
from syndicate.store.sessions import SessionsPart
from syndicate.store.sqlite import SQLiteBackend
from syndicate.store.unpublished import UnpublishedPart
from syndicate.store.workers import Worker, WorkersPart

__all__ = ["MIGRATIONS", "ArticleStatus", "DeleteRequest",
           "Delivery", "FeedState", "IngestCounts", "Known", "MirrorEntry", "MirrorFile",
           "OutboxEvent",
           "OutboxItem", "RepostRequest", "Store", "TargetBudget", "TargetPause", "Worker",
           "article_from_json", "article_to_json", "open_backend", "undated"]


def open_backend(state: str | Path, *, busy_timeout: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep) -> Backend:
    """The backend ``state`` names: a ``postgresql://`` URL, else a SQLite file (or ``:memory:``)."""
    if is_database_url(state):
        from syndicate.store.postgres import PostgresBackend

        return PostgresBackend(str(state))
    return SQLiteBackend(state, busy_timeout=busy_timeout, sleep=sleep)


class Store(FeedsPart, ArticlesPart, OutboxPart, AttemptsPart, BudgetsPart, DeliveriesPart, OperatorPart,
            MirrorPart, SessionsPart, WorkersPart, PacingPart, OperationsPart, UnpublishedPart,
            MirrorItemsPart, CopiesPart):
    """The state database, safe to share between threads of one process (and, on PostgreSQL,
    between processes on any number of machines).

    ``path``: the SQLite database file, or a ``postgresql://`` URL.  SQLite:
    ``busy_timeout`` is how long a write waits for another writer's lock
    before it backs off (``sleep``, injectable) and tries again.  ``clock``
    dates what is written.
    """

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time,
                 busy_timeout: float = 30.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = str(path)
        self._clock = clock
        self.backend: Backend = open_backend(path, busy_timeout=busy_timeout, sleep=sleep)
        try:
            migrate(self.backend)
        except BaseException:
            self.backend.close()
            raise

    def close(self) -> None:
        self.backend.close()

    @property
    def schema_version(self) -> int:
        return self.backend.schema_version()

    @property
    def where(self) -> str:
        """The state as messages name it: a path, or a URL without its password."""
        return self.backend.where
