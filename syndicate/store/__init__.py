"""The state database: feeds, articles, the outbox, sessions — by domain, behind a backend.

``Store`` is the one object the rest of the package holds; it is assembled
from one part per domain, each module holding its domain's SQL::

    feeds.py        FeedsPart       validators, body hash, backoff, errors per feed
    articles.py     ArticlesPart    known by guid or link identity; apply (a poll's plan, one transaction)
    outbox.py       OutboxPart      the queue: enqueue, claims, leases, history
    attempts.py     AttemptsPart    a leased row's life: renewals, attempts, the outcome
    deliveries.py   DeliveriesPart  the editors' side: deliveries, recent, the repost rule, retries
    operator.py     OperatorPart    held deliveries, paused targets
    sessions.py     SessionsPart    platform sessions, meta
    article_json.py                 an Article as the JSON kept in articles.data
    schema.py                       the migrations, one function per step, and ``migrate``
    backend.py                      the protocol a database engine implements (portable SQL)
    sqlite.py                       the SQLite backend (WAL, busy timeout, locked retries)
    private_files.py                the database's files made owner-only

The rest of the package sees plain values (``FeedState``, ``OutboxItem``,
``Delivery``, …), never SQL nor a driver's exception (``StoreError``).
Times are Unix seconds.  SQLite is the embedded default: a path (or
``:memory:``) opens it; ``schema.migrate`` brings it to this code's schema
when it opens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from syndicate.store.article_json import article_from_json, article_to_json
from syndicate.store.articles import ArticlesPart, IngestCounts, Known
from syndicate.store.attempts import AttemptsPart
from syndicate.store.backend import Backend
from syndicate.store.deliveries import ArticleStatus, DeliveriesPart, Delivery, RepostRequest
from syndicate.store.feeds import FeedsPart, FeedState
from syndicate.store.operator import OperatorPart, TargetPause
from syndicate.store.outbox import OutboxEvent, OutboxItem, OutboxPart
from syndicate.store.schema import MIGRATIONS, migrate
from syndicate.store.sessions import SessionsPart
from syndicate.store.sqlite import SQLiteBackend

__all__ = ["MIGRATIONS", "ArticleStatus", "Delivery", "FeedState", "IngestCounts", "Known", "OutboxEvent",
           "OutboxItem", "RepostRequest", "Store", "TargetPause", "article_from_json", "article_to_json"]


class Store(FeedsPart, ArticlesPart, OutboxPart, AttemptsPart, DeliveriesPart, OperatorPart, SessionsPart):
    """The state database, safe to share between threads of one process.

    ``path``: the SQLite database file.  ``busy_timeout``: seconds a write
    waits for another writer's lock before it backs off (``sleep``,
    injectable) and tries again.  ``clock`` dates what is written.
    """

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time,
                 busy_timeout: float = 30.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = str(path)
        self._clock = clock
        self.backend: Backend = SQLiteBackend(self.path, busy_timeout=busy_timeout, sleep=sleep)
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
