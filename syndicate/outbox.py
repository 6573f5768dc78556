"""The outbox's SQL: one row per article × target, its lease, its history.

A row moves through these states (``Store`` mixes this class in; all SQL
stays in the store)::

    pending ──claim──► sending ──► sent      (remote id + URL, same transaction)
       ▲                 │ │  └──► failed    (permanent error, with the reason)
       │                 │ └── renew ──┐     (before every attempt, during every wait)
       └── reschedule ───┘◄────────────┘     (transient: next_attempt_at)

A lease is an owner and an expiry (``leased_until``).  The worker renews it
before every attempt and during every wait, so it never lapses under a live
delivery; ``begin_attempt`` is refused (and nothing is sent) once another
worker holds the row.  A lease that did lapse (its worker died) is claimed
again.

``begin_attempt`` is written *before* a request leaves with the row's key:
it records ``first_attempt_at`` and the text sent.  Only a row that has one
can have landed unheard, so only such a row is reconciled (looked up on the
target) before it is sent again, and only statuses made since, with one of
the texts it sent, held by no other row, can be it (``remote_id`` is unique
per target).

Every step is also written to ``outbox_events`` (``kind``: ``queued``,
``attempt``, ``recomposed``, ``postponed``, ``released``, ``reclaimed``,
``lease expired``, ``out of line``, ``found``, ``sent``, ``failed``,
``requeued``), the row's history, shown by ``syndicate status`` and the
editors' API; later steps (edits, deletes) add their own kinds.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syndicate.article_json import article_from_json
from syndicate.errors import StoreError
from syndicate.models import Article, Posted
from syndicate.tid import tid_for

# --- values ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A leased row, as the deliverer works it."""

    id: int
    article_id: int
    target: str
    seq: int
    key: str
    state: str
    attempts: int  # passes claimed, this one included
    intro: str | None
    requested_by: str | None
    first_attempt_at: float | None  # when a request with ``key`` first may have left; None: never
    strict_limit: int | None  # re-composed at this many code points, URLs literal (the server said too long)
    article: Article

    @property
    def may_have_landed(self) -> bool:
        """A request with this row's key may have reached the target unheard."""
        return self.first_attempt_at is not None


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One step in a row's history."""

    at: float
    kind: str
    detail: str | None


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
    id: int = 0
    history: tuple[OutboxEvent, ...] = ()


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
class RepostRequest:
    """What ``request_repost`` did: queued, or refused and why."""

    article_id: int
    queued: tuple[str, ...]  # targets a new row was queued for
    posted: tuple[Delivery, ...]  # rows already sent to the asked targets
    in_queue: tuple[Delivery, ...]  # rows already pending or sending there: they count as queued
    no_credentials: tuple[str, ...]  # asked targets that cannot post here: not queued
    refused: bool  # posted or queued already, and no force: nothing was queued

    def why_refused(self) -> str:
        """``already posted (mastodon URL); already queued (bluesky pending)``."""
        parts = []
        if self.posted:
            parts.append("already posted (" + ", ".join(f"{d.target} {d.remote_url}" for d in self.posted)
                         + ")")
        if self.in_queue:
            parts.append("already queued (" + ", ".join(f"{d.target} {d.state}" for d in self.in_queue)
                         + ")")
        return "; ".join(parts)


_DELIVERY_COLUMNS = ("id, target, seq, key, state, attempts, remote_url, sent_at, next_attempt_at, "
                     "last_error, requested_by")
# A held delivery (``store_operator``), shaped as an outbox row for editors (``deliveries``, ``recent``):
# id 0 (it has no outbox row, nor a history yet), state ``held``, the reason as its error.
_HELD_COLUMNS = ("0 AS id, target, 0 AS seq, '' AS key, 'held' AS state, 0 AS attempts, NULL AS remote_url, "
                 "NULL AS sent_at, NULL AS next_attempt_at, reason AS last_error, NULL AS requested_by")


class OutboxStore:
    """The outbox half of ``Store`` (see the module docstring)."""

    if TYPE_CHECKING:  # provided by Store
        _clock: Callable[[], float]
        _lock: threading.RLock
        _db: sqlite3.Connection

        def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]: ...

    _last_key_micros = 0

    # -- queueing --

    def _new_key(self, now: float) -> str:
        micros = max(int(now * 1_000_000), OutboxStore._last_key_micros + 1)
        OutboxStore._last_key_micros = micros
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
            if cur.rowcount and requested_by is not None:
                who = f"repost requested by {requested_by}" + (f", intro {intro!r}" if intro else "")
                _event(db, cur.lastrowid, now, "queued", who)
            count += cur.rowcount
        return count

    # -- the deliverer's side --

    def claim_due(self, owner: str, *, now: float, lease_seconds: float, limit: int = 1,
                  targets: Iterable[str] | None = None, in_order: bool = True) -> list[OutboxItem]:
        """Lease up to ``limit`` due rows, oldest article first.

        Due: pending with next_attempt_at <= now, or sending with an expired
        lease (its worker died).  ``in_order``: a row behind its target's
        oldest pending row, while that one waits for a retry, is not due (a
        failing target's queue keeps its order); ``in_order=False`` is the
        deliverer's probe past such a row.
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
                picked += _due_in_line(db, name, now, limit, in_order)
            picked.sort(key=lambda r: (r["published"], r["id"]))
            items = []
            for r in picked[:limit]:
                db.execute(
                    """UPDATE outbox SET state = 'sending', lease_owner = ?, leased_until = ?,
                                         attempts = attempts + 1 WHERE id = ?""",
                    (owner, now + lease_seconds, r["id"]),
                )
                if r["state"] == "sending":
                    _event(db, r["id"], now, "reclaimed", f"the lease of {r['lease_owner']} had run out")
                data = db.execute("SELECT data FROM articles WHERE id = ?", (r["article_id"],)).fetchone()
                items.append(OutboxItem(
                    id=r["id"], article_id=r["article_id"], target=r["target"], seq=r["seq"],
                    key=r["key"], state="sending", attempts=r["attempts"] + 1, intro=r["intro"],
                    requested_by=r["requested_by"], first_attempt_at=r["first_attempt_at"],
                    strict_limit=r["strict_limit"], article=article_from_json(data[0]),
                ))
        return items

    def renew_lease(self, item_id: int, owner: str, until: float) -> bool:
        """Extend ``owner``'s lease to ``until``; False if another worker holds the row now."""
        with self.transaction() as db:
            return db.execute("UPDATE outbox SET leased_until = MAX(leased_until, ?) "
                              "WHERE id = ? AND state = 'sending' AND lease_owner = ?",
                              (until, item_id, owner)).rowcount == 1

    def begin_attempt(self, item_id: int, owner: str, *, now: float, lease_seconds: float, text: str) -> bool:
        """Before a request with the row's key leaves: renew the lease, note the attempt and its
        text.  False (and nothing written) if the lease was lost: the caller must not send."""
        with self.transaction() as db:
            cur = db.execute(
                """UPDATE outbox SET leased_until = ?, first_attempt_at = COALESCE(first_attempt_at, ?)
                   WHERE id = ? AND state = 'sending' AND lease_owner = ?""",
                (now + lease_seconds, now, item_id, owner))
            if cur.rowcount != 1:
                return False
            tries = db.execute("SELECT COUNT(*) FROM outbox_events WHERE outbox_id = ? AND kind = 'attempt'",
                               (item_id,)).fetchone()[0]
            _event(db, item_id, now, "attempt", f"try {tries + 1}", {"text": text})
        return True

    def attempted_texts(self, item_id: int) -> list[str]:
        """Every distinct text a request of this row carried, oldest first."""
        texts: dict[str, None] = {}
        for (data,) in self._query("SELECT data FROM outbox_events WHERE outbox_id = ? AND kind = 'attempt' "
                                   "ORDER BY id", (item_id,)):
            text = json.loads(data or "{}").get("text")
            if isinstance(text, str):
                texts.setdefault(text)
        return list(texts)

    def held_remote_ids(self, target: str, since: float, *, excluding: int) -> frozenset[str]:
        """Remote ids other rows of ``target`` hold for posts made since ``since``."""
        return frozenset(r[0] for r in self._query(
            "SELECT remote_id FROM outbox WHERE target = ? AND remote_id IS NOT NULL AND id != ? "
            "AND (sent_at IS NULL OR sent_at >= ?)", (target, excluding, since)))

    def _finish(self, item_id: int, owner: str, sql: str, params: Sequence[Any],
                event: tuple[str, str | None]) -> bool:
        with self.transaction() as db:
            cur = db.execute(sql + " WHERE id = ? AND state = 'sending' AND lease_owner = ?",
                             (*params, item_id, owner))
            if cur.rowcount != 1:
                return False
            _event(db, item_id, self._clock(), *event)
        return True

    def mark_sent(self, item_id: int, owner: str, posted: Posted, *, found: bool = False) -> bool:
        """Record the remote post; False if the lease was lost meanwhile.  ``found``: by
        reconciliation, not by this attempt.  A post another row holds is refused (StoreError)."""
        sent_at = posted.posted_at.timestamp() if posted.posted_at else self._clock()
        try:
            return self._finish(
                item_id, owner,
                """UPDATE outbox SET state = 'sent', remote_id = ?, remote_url = ?, sent_at = ?,
                                     lease_owner = NULL, leased_until = NULL, last_error = NULL""",
                (posted.remote_id, posted.url, sent_at),
                ("found" if found else "sent", posted.url),
            )
        except sqlite3.IntegrityError:
            raise StoreError(f"post {posted.url} is already recorded for another outbox row") from None

    def mark_failed(self, item_id: int, owner: str, error: str) -> bool:
        return self._finish(
            item_id, owner,
            """UPDATE outbox SET state = 'failed', last_error = ?, lease_owner = NULL,
                                 leased_until = NULL""",
            (error,), ("failed", error),
        )

    def reschedule(self, item_id: int, owner: str, next_attempt_at: float, error: str | None) -> bool:
        return self._finish(
            item_id, owner,
            """UPDATE outbox SET state = 'pending', next_attempt_at = ?, last_error = ?,
                                 lease_owner = NULL, leased_until = NULL""",
            (next_attempt_at, error),
            ("postponed", f"next try in {max(0, round(next_attempt_at - self._clock()))}s: {error}"),
        )

    def release_unsent(self, item_id: int, owner: str, error: str) -> bool:
        """Give a leased row back as if it had not been tried (its target is paused): pending,
        its place in the queue and its next attempt time kept, the attempt not counted."""
        return self._finish(
            item_id, owner,
            """UPDATE outbox SET state = 'pending', attempts = MAX(0, attempts - 1), last_error = ?,
                                 lease_owner = NULL, leased_until = NULL""",
            (error,),
            ("paused", f"the target refused our credentials; waits for them: {error}"),
        )

    def set_strict(self, item_id: int, owner: str, limit: int, why: str) -> bool:
        """From now on compose this row at ``limit`` code points, URLs counted literally."""
        return self._finish(item_id, owner, "UPDATE outbox SET strict_limit = ?", (limit,),
                            ("recomposed", why))

    def release(self, item_id: int, owner: str) -> bool:
        """Give a leased row back untouched (shutdown): due again at once."""
        return self._finish(
            item_id, owner,
            "UPDATE outbox SET state = 'pending', lease_owner = NULL, leased_until = NULL",
            (), ("released", "on shutdown"),
        )

    def record_event(self, item_id: int, kind: str, detail: str | None = None) -> None:
        """Add a step to a row's history."""
        with self.transaction() as db:
            _event(db, item_id, self._clock(), kind, detail)

    def set_out_of_line(self, item_id: int) -> None:
        """This row no longer holds back the rows behind it (see ``claim_due``)."""
        with self.transaction() as db:
            db.execute("UPDATE outbox SET out_of_line = 1 WHERE id = ?", (item_id,))

    def lease_owners(self) -> list[str]:
        """Owners holding leases on rows in flight."""
        return [r[0] for r in self._query(
            "SELECT DISTINCT lease_owner FROM outbox WHERE state = 'sending' AND lease_owner IS NOT NULL")]

    def expire_leases(self, owners: Iterable[str], now: float) -> int:
        """End these owners' leases now (they are known dead): their rows are due again."""
        owners = list(owners)
        if not owners:
            return 0
        marks = ",".join("?" * len(owners))
        with self.transaction() as db:
            for row_id, who in db.execute(f"SELECT id, lease_owner FROM outbox WHERE state = 'sending' "
                                          f"AND lease_owner IN ({marks})", owners).fetchall():
                _event(db, row_id, now, "lease expired", f"{who} is no longer running")
            return db.execute(f"UPDATE outbox SET leased_until = ? WHERE state = 'sending' "
                              f"AND lease_owner IN ({marks})", (now, *owners)).rowcount

    def outbox_depth(self) -> dict[str, dict[str, int]]:
        """{target: {state: count}}."""
        out: dict[str, dict[str, int]] = {}
        for r in self._query("SELECT target, state, COUNT(*) FROM outbox GROUP BY target, state"):
            out.setdefault(r[0], {})[r[1]] = r[2]
        return out

    def next_due_at(self, targets: Iterable[str] | None = None) -> float | None:
        """When the next outbox row of ``targets`` (default: all) can be worked; an in-flight
        lease's expiry counts.  Rows of other targets (ones that cannot post) never count."""
        with self._lock:
            db = self._db
            names = list(targets) if targets is not None else [
                r[0] for r in db.execute("SELECT DISTINCT target FROM outbox")]
            times: list[float] = []
            for name in names:
                times += [r[0] for r in db.execute(
                    "SELECT MIN(leased_until) FROM outbox WHERE state = 'sending' AND target = ?", (name,))
                    if r[0] is not None]
                for next_at, out_of_line in db.execute(
                        """SELECT next_attempt_at, out_of_line FROM outbox
                           WHERE target = ? AND state = 'pending' ORDER BY published, id""", (name,)):
                    times.append(next_at)
                    if not out_of_line:
                        break  # everything behind the first row in line waits for it
        return min(times) if times else None

    # -- editors --

    def queue_repost(self, article_id: int, targets: Iterable[str], *, requested_by: str,
                     intro: str | None = None) -> list[str]:
        """Queue a new post of an article to each target now, unconditionally; returns the targets
        queued.  Editors go through ``request_repost``, which applies their rules."""
        with self.transaction() as db:
            return _queue_new(self, db, article_id, targets, requested_by, intro)

    def request_repost(self, article_id: int, targets: Sequence[str], *, requested_by: str,
                       intro: str | None = None, force: bool = False,
                       no_credentials: Collection[str] = ()) -> RepostRequest:
        """An editor's repost, by the editors' rules, in one transaction (so two editors asking at
        once cannot double-queue): a target the article was posted to, or that has a row pending
        or sending, refuses the whole request unless ``force``; targets in ``no_credentials`` are
        not queued (nothing could send them)."""
        with self.transaction() as db:
            rows = [_delivery(r) for r in db.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM outbox WHERE article_id = ? ORDER BY target, seq",
                (article_id,))]
            posted = tuple(d for d in rows if d.state == "sent" and d.target in targets)
            in_queue = tuple(d for d in rows if d.state in ("pending", "sending") and d.target in targets)
            skipped = tuple(t for t in targets if t in no_credentials)
            refused = bool(posted or in_queue) and not force
            queued: list[str] = []
            if not refused:
                queued = _queue_new(self, db, article_id, [t for t in targets if t not in skipped],
                                    requested_by, intro)
        return RepostRequest(article_id, tuple(queued), posted, in_queue, skipped, refused)

    def retry_failed(self, article_id: int | None = None, target: str | None = None) -> int:
        """Put failed deliveries back in the queue, due now. Returns how many."""
        where, params = "state = 'failed'", list[Any]()
        if article_id is not None:
            where += " AND article_id = ?"
            params.append(article_id)
        if target is not None:
            where += " AND target = ?"
            params.append(target)
        now = self._clock()
        with self.transaction() as db:
            for (row_id,) in db.execute(f"SELECT id FROM outbox WHERE {where}", params).fetchall():
                _event(db, row_id, now, "requeued", "failed delivery re-queued by an editor")
            return db.execute(f"UPDATE outbox SET state = 'pending', next_attempt_at = ?, attempts = 0 "
                              f"WHERE {where}", [now, *params]).rowcount

    def events(self, item_id: int) -> list[OutboxEvent]:
        """A row's history, oldest first."""
        return self._events([item_id]).get(item_id, [])

    def _events(self, ids: Sequence[int]) -> dict[int, list[OutboxEvent]]:
        out: dict[int, list[OutboxEvent]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for r in self._query(f"SELECT outbox_id, at, kind, detail FROM outbox_events WHERE outbox_id IN "
                                 f"({','.join('?' * len(chunk))}) ORDER BY id", list(chunk)):
                out.setdefault(r[0], []).append(OutboxEvent(r[1], r[2], r[3]))
        return out

    def deliveries(self, article_id: int) -> list[Delivery]:
        """An article's rows, with their history, and its held deliveries (state ``held``)."""
        rows = self._query(f"SELECT {_DELIVERY_COLUMNS} FROM outbox WHERE article_id = ? "
                           f"UNION ALL SELECT {_HELD_COLUMNS} FROM held WHERE article_id = ? "
                           "ORDER BY target, seq", (article_id, article_id))
        history = self._events([r["id"] for r in rows if r["id"]])
        return [_delivery(r, history.get(r["id"], ())) for r in rows]

    def recent(self, limit: int = 20) -> list[ArticleStatus]:
        """Recent articles (by first sight, then publication) with their deliveries."""
        rows = self._query(
            """SELECT id, feed, guid, link, title, published, first_seen_at FROM articles
               ORDER BY first_seen_at DESC, published DESC, id DESC LIMIT ?""",
            (limit,),
        )
        by_article: dict[int, list[sqlite3.Row]] = {r["id"]: [] for r in rows}
        if by_article:
            marks = ",".join("?" * len(by_article))
            for d in self._query(
                    f"""SELECT article_id, {_DELIVERY_COLUMNS} FROM outbox WHERE article_id IN ({marks})
                        UNION ALL SELECT article_id, {_HELD_COLUMNS} FROM held WHERE article_id IN ({marks})
                        ORDER BY target, seq""", [*by_article, *by_article]):
                by_article[d["article_id"]].append(d)
        history = self._events([d["id"] for ds in by_article.values() for d in ds if d["id"]])
        return [ArticleStatus(**dict(r), deliveries=tuple(_delivery(d, history.get(d["id"], ()))
                                                          for d in by_article[r["id"]])) for r in rows]


def _event(db: sqlite3.Connection, item_id: int | None, at: float, kind: str, detail: str | None = None,
           data: Mapping[str, Any] | None = None) -> None:
    db.execute("INSERT INTO outbox_events (outbox_id, at, kind, detail, data) VALUES (?, ?, ?, ?, ?)",
               (item_id, at, kind, detail, json.dumps(data, ensure_ascii=False) if data else None))


def _delivery(r: sqlite3.Row, history: Iterable[OutboxEvent] = ()) -> Delivery:
    fields = {k: r[k] for k in r.keys() if k != "article_id"}
    return Delivery(**fields, history=tuple(history))


def _queue_new(store: OutboxStore, db: sqlite3.Connection, article_id: int, targets: Iterable[str],
               requested_by: str, intro: str | None) -> list[str]:
    now = store._clock()
    queued = []
    for target in targets:
        seq = db.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM outbox WHERE article_id = ? AND target = ?",
                         (article_id, target)).fetchone()[0]
        if store._enqueue(db, article_id, [target], now=now, seq=seq, intro=intro, requested_by=requested_by):
            queued.append(target)
    if queued:  # reposted: in the output feed again, as recently added
        db.execute("UPDATE articles SET added_at = ? WHERE id = ?", (now, article_id))
    return queued


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
