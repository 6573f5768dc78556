"""The outbox as editors see and steer it: deliveries, their history, reposts, retries.

``deliveries`` (one article's rows) and ``recent`` (the latest articles
with theirs) are what ``syndicate status`` and the editors' API show; a
delivery held as a suspected feed migration (``operator``) is shown among
them with state ``held``, and one the target's filters kept back with state
``filtered`` (the reason as its error).  ``request_repost`` is the editors' repost rule:
an article already posted to a target, or queued there, is not queued
again without ``force`` — decided in the transaction that queues, so two
editors asking at once cannot double-queue.  A repost is a new row
(``seq`` + 1) recording who asked (``requested_by``) and their ``intro``
line, and it counts the article as added again (the output feed shows it).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from syndicate.store.backend import Connection, Row, notify
from syndicate.store.outbox import OutboxEvent, enqueue, history, record
from syndicate.store.part import StorePart
from syndicate.value import valueclass

__all__ = ["ArticleStatus", "Delivery", "DeliveriesPart", "RepostRequest"]


@valueclass
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
    planned_at: float | None = None  # pending and paced: when its target's pacing plans it
    planned_why: str | None = None  # the pacing rule that put it there
    op: str = "post"  # or ``edit`` / ``delete`` of a post (``store.operations``)
    settle_until: float | None = None  # pending, never tried, due later: waiting to settle until then


@valueclass
class ArticleStatus:
    id: int
    feed: str
    guid: str
    link: str
    title: str
    published: float
    first_seen_at: float
    deliveries: tuple[Delivery, ...]
    notes: tuple[str, ...] = ()  # its life after the feed: gone at source, a copy of another (the editors')


@valueclass
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
                     "last_error, requested_by, op")
# A held delivery (``operator``), shaped as an outbox row for editors (``deliveries``, ``recent``):
# id 0 (it has no outbox row, nor a history yet), state ``held``, the reason as its error.
_HELD_COLUMNS = ("0 AS id, target, 0 AS seq, '' AS key, 'held' AS state, 0 AS attempts, NULL AS remote_url, "
                 "NULL AS sent_at, NULL AS next_attempt_at, reason AS last_error, NULL AS requested_by, "
                 "'post' AS op")
# Likewise a delivery the target's filters kept back (table ``filtered``): state ``filtered``, the reason.
_FILTERED_COLUMNS = _HELD_COLUMNS.replace("'held' AS state", "'filtered' AS state")


class DeliveriesPart(StorePart):
    """The editors' view of the outbox: the part of ``Store`` in this module."""

    def queue_repost(self, article_id: int, targets: Iterable[str], *, requested_by: str,
                     intro: str | None = None) -> list[str]:
        """Queue a new post of an article to each target now, unconditionally; returns the targets
        queued.  Editors go through ``request_repost``, which applies their rules."""
        with self.backend.transaction() as db:
            return _queue_new(db, self._clock(), article_id, targets, requested_by, intro)

    def request_repost(self, article_id: int, targets: Sequence[str], *, requested_by: str,
                       intro: str | None = None, force: bool = False,
                       no_credentials: Collection[str] = ()) -> RepostRequest:
        """An editor's repost, by the editors' rules, in one transaction (so two editors asking at
        once cannot double-queue): a target the article was posted to, or that has a row pending
        or sending, refuses the whole request unless ``force``; targets in ``no_credentials`` are
        not queued (nothing could send them)."""
        with self.backend.transaction() as db:
            rows = [_delivery(r) for r in db.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM outbox WHERE article_id = ? ORDER BY target, seq",
                (article_id,))]
            rows = [d for d in rows if d.op == "post"]  # an edit or a delete is no post
            posted = tuple(d for d in rows if d.state == "sent" and d.target in targets)
            in_queue = tuple(d for d in rows if d.state in ("pending", "sending") and d.target in targets)
            skipped = tuple(t for t in targets if t in no_credentials)
            refused = bool(posted or in_queue) and not force
            queued: list[str] = []
            if not refused:
                queued = _queue_new(db, self._clock(), article_id, [t for t in targets if t not in skipped],
                                    requested_by, intro)
        return RepostRequest(article_id, tuple(queued), posted, in_queue, skipped, refused)

    def retry_failed(self, article_id: int | None = None, target: str | None = None) -> int:
        """Put failed deliveries back in the queue, due now. Returns how many."""
        where, params = "state = 'failed' AND deleted_at IS NULL", list[Any]()  # not a withdrawn post
        if article_id is not None:
            where += " AND article_id = ?"
            params.append(article_id)
        if target is not None:
            where += " AND target = ?"
            params.append(target)
        now = self._clock()

        def requeue(db: Connection) -> int:
            rows = db.execute(f"UPDATE outbox SET state = 'pending', next_attempt_at = ?, attempts = 0 "
                              f"WHERE {where} RETURNING id, target", [now, *params]).rows
            for row_id, row_target in rows:
                record(db, row_id, now, "requeued", "failed delivery re-queued by an editor")
                notify(db, row_target)  # idle workers wake at commit
            return len(rows)

        return self._write(requeue)

    def deliveries(self, article_id: int) -> list[Delivery]:
        """An article's rows, with their history, and its held deliveries (state ``held``)."""
        with self.backend.read() as db:
            rows = db.execute(f"SELECT {_DELIVERY_COLUMNS} FROM outbox WHERE article_id = ? "
                              f"UNION ALL SELECT {_HELD_COLUMNS} FROM held WHERE article_id = ? "
                              f"UNION ALL SELECT {_FILTERED_COLUMNS} FROM filtered WHERE article_id = ? "
                              "ORDER BY target, seq", (article_id, article_id, article_id)).fetchall()
            events = history(db, [r["id"] for r in rows if r["id"]])
        return [_delivery(r, events.get(r["id"], ())) for r in rows]

    def recent(self, limit: int = 20) -> list[ArticleStatus]:
        """Recent articles (by first sight, then publication) with their deliveries."""
        with self.backend.read() as db:
            rows = db.execute(
                """SELECT id, feed, guid, link, title, published, first_seen_at FROM articles
                   ORDER BY first_seen_at DESC, published DESC, id DESC LIMIT ?""",
                (limit,),
            ).fetchall()
            by_article: dict[int, list[Row]] = {r["id"]: [] for r in rows}
            if by_article:
                marks = ",".join("?" * len(by_article))
                for d in db.execute(
                        f"""SELECT article_id, {_DELIVERY_COLUMNS} FROM outbox WHERE article_id IN ({marks})
                            UNION ALL SELECT article_id, {_HELD_COLUMNS} FROM held
                            WHERE article_id IN ({marks})
                            UNION ALL SELECT article_id, {_FILTERED_COLUMNS} FROM filtered
                            WHERE article_id IN ({marks}) ORDER BY target, seq""",
                        [*by_article, *by_article, *by_article]):
                    by_article[d["article_id"]].append(d)
            events = history(db, [d["id"] for ds in by_article.values() for d in ds if d["id"]])
        return [ArticleStatus(id=r["id"], feed=r["feed"], guid=r["guid"], link=r["link"], title=r["title"],
                              published=r["published"], first_seen_at=r["first_seen_at"],
                              deliveries=tuple(_delivery(d, events.get(d["id"], ()))
                                               for d in by_article[r["id"]])) for r in rows]


def _delivery(r: Row, events: Iterable[OutboxEvent] = ()) -> Delivery:
    fields = {k: r[k] for k in r.keys() if k != "article_id"}
    return Delivery(**fields, history=tuple(events))


def _unfilter(db: Connection, now: float, article_id: int, target: str, seq: int) -> None:
    """An editor reposted an article the target's filters kept back: the new row says so."""
    why = db.execute("DELETE FROM filtered WHERE article_id = ? AND target = ? RETURNING reason",
                     (article_id, target)).fetchone()
    if why is not None:
        row_id = db.execute("SELECT id FROM outbox WHERE article_id = ? AND target = ? AND seq = ?",
                            (article_id, target, seq)).scalar()
        record(db, row_id, now, "unfiltered", f"posted although the filters said: {why[0]}")


def _queue_new(db: Connection, now: float, article_id: int, targets: Iterable[str], requested_by: str,
               intro: str | None) -> list[str]:
    """A new row (the next ``seq``) per target, recording who asked; the article counts as added."""
    queued = []
    for target in targets:
        seq = db.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM outbox WHERE article_id = ? AND target = ?",
                         (article_id, target)).scalar()
        if enqueue(db, article_id, [target], now=now, seq=seq, intro=intro, requested_by=requested_by):
            queued.append(target)
            _unfilter(db, now, article_id, target, seq)
    if queued:  # reposted: in the output feed again, as recently added
        db.execute("UPDATE articles SET added_at = ? WHERE id = ?", (now, article_id))
    return queued
