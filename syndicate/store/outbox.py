"""The outbox, its queue and its claims: one row per article × target, leased to a worker.

A row moves through these states (``attempts`` holds a leased row's life)::

    pending ──claim──► sending ──► sent      (remote id + URL, same transaction)
       ▲                 │ │  └──► failed    (permanent error, with the reason)
       │                 │ └── renew ──┐     (before every attempt, during every wait)
       └── reschedule ───┘◄────────────┘     (transient: next_attempt_at)

A target's queue is its pending rows in publication order (``published``,
then ``id``), read from the ``outbox_queue`` index in batches, so its cost
does not grow with the queue.  A row waiting for its retry holds back the
rows behind it, unless it was taken out of line (``out_of_line``).

``claim_due`` leases due rows: a lease is an owner and an expiry
(``leased_until``).  A lease that lapsed (its worker died) is claimed again;
one whose owner is known dead is ended at once (``expire_leases``).

**One row of a target in flight, in order, across every worker.**  A
target with a row leased (``sending``, its lease not run out) has nothing
else due: a target's queue is worked by one worker at a time, strictly in
publication order, and rows of different targets go out in parallel on any
workers.  So several workers never post to one account at once (its rate
window sees one poster), a crashed worker's row is taken again before the
rows behind it once its lease runs out, and a backlog goes out in order on
a fleet as on one machine.  On PostgreSQL claimers exclude each other per
target (``backend.try_lock``, never waited for: a target another worker is
claiming this instant is passed over) and lock the rows they take (``FOR
UPDATE SKIP LOCKED``), so two workers never lease one row.  What stays
best-effort: a pending row some other transaction is writing at the
instant of a claim (an edited article's date, an editor's retry) is passed
over, and the row behind it may go first.

Every step of a row is written to ``outbox_events`` (``kind``: ``queued``,
``attempt``, ``recomposed``, ``postponed``, ``released``, ``reclaimed``,
``lease expired``, ``out of line``, ``paused``, ``found``, ``sent``,
``failed``, ``requeued``), the row's history, shown by ``syndicate status``
and the editors' API (``deliveries``); later steps add their own kinds.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from syndicate.errors import StoreError
from syndicate.models import Article
from syndicate.pacing import Pacing
from syndicate.store.article_json import article_from_json
from syndicate.store.backend import CLAIM_TARGET, Connection, Row, notify, try_lock
from syndicate.store.budgets import budget_spent, spend_one
from syndicate.store.pacing import paced_at, paced_limit
from syndicate.store.part import StorePart, chunks, marks
from syndicate.tid import tid_for
from syndicate.value import valueclass

__all__ = ["OutboxEvent", "OutboxItem", "OutboxPart", "enqueue", "history", "record", "utc_text"]


@valueclass
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
    op: str = "post"  # or ``edit`` / ``delete`` of the post of row ``of_row`` (``store.operations``)
    of_row: int | None = None
    policy: str | None = None  # an edit's: ``edit``, ``replace`` or ``reply``

    @property
    def may_have_landed(self) -> bool:
        """A request with this row's key may have reached the target unheard."""
        return self.first_attempt_at is not None


@valueclass
class OutboxEvent:
    """One step in a row's history."""

    at: float
    kind: str
    detail: str | None


# --- functions of a transaction, for the other domains ---------------------------------------------


_keys_lock = threading.Lock()
_last_key_micros = 0


def new_key(now: float) -> str:
    """A row's key (its Mastodon Idempotency-Key, its Bluesky record key): a TID, never repeated
    by this process even within a microsecond."""
    global _last_key_micros
    with _keys_lock:
        micros = max(int(now * 1_000_000), _last_key_micros + 1)
        _last_key_micros = micros
    import secrets  # (hmac, hashlib: the light commands queue nothing)

    return tid_for(micros, secrets.randbelow(1024))


KEY_TRIES = 5  # fresh keys tried for one row whose key another row already has


def enqueue(db: Connection, article_id: int, targets: Iterable[str], *, now: float, seq: int = 0,
            intro: str | None = None, requested_by: str | None = None,
            make_key: Callable[[float], str] = new_key, not_before: float | None = None,
            op: str = "post", of_row: int | None = None, policy: str | None = None) -> int:
    """Queue a row per target (none where the article already has row ``seq``); how many.
    Each new row wakes the idle workers as the transaction commits (``backend.notify``).
    ``not_before``: due then, not now (a new article waiting to settle; an edit's window).
    ``op``: ``post`` (the default), or ``edit`` / ``delete`` of the post of row ``of_row``
    (``syndicate.store.operations``), by ``policy``; those never hold their target's queue.

    A key is unique among all rows: one another row holds already (two
    processes made the same TID) is replaced by a fresh one, never a reason
    to drop the row.
    """
    count = 0
    for target in targets:
        for _ in range(KEY_TRIES):
            due = now if not_before is None else max(now, not_before)
            row_id = db.insert(
                """INSERT INTO outbox (article_id, target, seq, key, intro, requested_by, created_at,
                                       next_attempt_at, published, op, of_row, policy, out_of_line)
                   SELECT ?, ?, ?, ?, ?, ?, ?, ?, published, ?, ?, ?, ? FROM articles WHERE id = ?
                   ON CONFLICT DO NOTHING RETURNING id""",
                (article_id, target, seq, make_key(now), intro, requested_by, now, due, op, of_row, policy,
                 int(op != "post"), article_id),
            )
            if row_id is not None or db.execute(
                    "SELECT 1 FROM outbox WHERE article_id = ? AND target = ? AND seq = ?",
                    (article_id, target, seq)).fetchone() is not None:
                break  # queued, or the article has this row already
        else:
            raise StoreError(f"outbox row of article {article_id} for {target}: no unused key in "
                             f"{KEY_TRIES} tries (is the article recorded?)")
        if row_id is None:
            continue
        if requested_by is not None and op == "post":
            who = f"repost requested by {requested_by}" + (f", intro {intro!r}" if intro else "")
            record(db, row_id, now, "queued", who)
        elif op == "post" and due > now:
            record(db, row_id, now, "settling", f"waits to settle until {utc_text(due)}")
        notify(db, target)  # idle workers wake at commit (PostgreSQL), whichever queued it
        count += 1
    return count


def utc_text(at: float) -> str:
    """A moment as the rows' history writes it: ``2026-12-02 15:20:00 UTC``."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def record(db: Connection, item_id: int, at: float, kind: str, detail: str | None = None,
           data: Mapping[str, Any] | None = None) -> None:
    """Add a step to a row's history."""
    db.execute("INSERT INTO outbox_events (outbox_id, at, kind, detail, data) VALUES (?, ?, ?, ?, ?)",
               (item_id, at, kind, detail, json.dumps(data, ensure_ascii=False) if data else None))


def history(db: Connection, ids: Sequence[int]) -> dict[int, list[OutboxEvent]]:
    """The history of each of these rows, oldest first."""
    out: dict[int, list[OutboxEvent]] = {}
    for chunk in chunks(ids):
        for r in db.execute(f"SELECT outbox_id, at, kind, detail FROM outbox_events WHERE outbox_id IN "
                            f"({marks(chunk)}) ORDER BY id", list(chunk)):
            out.setdefault(r[0], []).append(OutboxEvent(r[1], r[2], r[3]))
    return out


def _queue(db: Connection, target: str, *, first: int, lock: bool = False) -> Iterator[Row]:
    """A target's pending rows in queue order, read in growing batches (``first`` rows, then
    twice as many each time) by keyset on the ``outbox_queue`` index.  ``lock``: rows to claim."""
    claim = db.dialect.skip_locked if lock else ""
    batch, after = max(1, first), None
    while True:
        if after is None:
            rows = db.execute(f"SELECT * FROM outbox WHERE target = ? AND state = 'pending' "
                              f"ORDER BY published, id LIMIT ?{claim}", (target, batch)).fetchall()
        else:
            rows = db.execute(f"SELECT * FROM outbox WHERE target = ? AND state = 'pending' "
                              f"AND (published, id) > (?, ?) ORDER BY published, id LIMIT ?{claim}",
                              (target, *after, batch)).fetchall()
        yield from rows
        if len(rows) < batch:
            return
        after = (rows[-1]["published"], rows[-1]["id"])
        batch = min(batch * 2, 1000)


def _due_in_line(db: Connection, target: str, now: float, limit: int, in_order: bool) -> list[Row]:
    """Up to ``limit`` due pending rows of a target, walking its queue in order.

    The walk stops at a row waiting for its retry that is in line
    (``out_of_line = 0``): the rows behind it wait with it.  A row never
    tried (waiting to settle) holds nothing back.
    """
    due: list[Row] = []
    for row in _queue(db, target, first=limit + 1, lock=True):
        if row["next_attempt_at"] <= now:
            due.append(row)
            if len(due) >= limit:
                break
        elif in_order and _holds_line(row):
            break
    return due


def _holds_line(row: Row) -> bool:
    """A pending row the rows behind it wait for: in line, and tried before (waiting for its
    retry); a row waiting to settle, never tried, holds nothing back."""
    return not row["out_of_line"] and row["attempts"] > 0


def _due_of_target(db: Connection, target: str, now: float, limit: int, in_order: bool,
                   pacing: Pacing | None = None) -> list[Row]:
    """A target's rows to lease, locked: none while one of its rows is in flight (leased, the lease
    not run out, or being written by its worker this instant); else the rows whose lease ran out
    (their workers died), then its due pending rows in line, as many as its ``pacing`` lets go now
    (``store.pacing``)."""
    sending = db.execute("SELECT leased_until FROM outbox WHERE target = ? AND state = 'sending'",
                         (target,)).fetchall()
    if any(r[0] is not None and r[0] > now for r in sending):
        return []
    lapsed: list[Row] = []
    if sending:
        lapsed = db.execute(f"SELECT * FROM outbox WHERE target = ? AND state = 'sending' "
                            f"AND (leased_until IS NULL OR leased_until <= ?) "
                            f"ORDER BY published, id{db.dialect.skip_locked}", (target, now)).fetchall()
        if len(lapsed) < len(sending):
            return []  # its late worker is recording it right now: in flight still
    taken = lapsed[:limit]
    rest = paced_limit(db, target, pacing, now, limit - len(taken))
    return taken + (_due_in_line(db, target, now, rest, in_order) if rest > 0 else [])


# --- the queue and its claims --------------------------------------------------------------------------


class OutboxPart(StorePart):
    """The outbox's queue and claims: the part of ``Store`` in this module."""

    def claim_due(self, owner: str, *, now: float, lease_seconds: float, limit: int = 1,
                  targets: Iterable[str] | None = None, in_order: bool = True,
                  pacing: Mapping[str, Pacing] | None = None) -> list[OutboxItem]:
        """Lease up to ``limit`` due rows, oldest article first.

        Due: pending with next_attempt_at <= now, or sending with an expired
        lease (its worker died), of a target with no row in flight (see the
        module docstring: one row of a target in flight, across every
        worker).  ``in_order``: a row behind its target's oldest pending
        row, while that one waits for a retry, is not due (a failing
        target's queue keeps its order); ``in_order=False`` is the
        deliverer's probe past such a row.  A target whose shared rate budget
        is spent (``store.budgets``) has nothing due until its reset; a claim
        takes one request off a budget that has some left.  ``pacing``: each
        target's, if it has one (a target's pending rows wait for their slot;
        ``store.pacing``).
        """
        with self.backend.transaction() as db:
            names = list(targets) if targets is not None else [
                r[0] for r in db.execute("SELECT DISTINCT target FROM outbox")]
            picked: list[Row] = []
            for name in names:
                # passed over: another worker is claiming it right now, or its rate budget is spent
                if try_lock(db, CLAIM_TARGET, name) and budget_spent(db, name, now) is None:
                    picked += _due_of_target(db, name, now, limit, in_order, (pacing or {}).get(name))
            picked.sort(key=lambda r: (r["published"], r["id"]))
            items = []
            for r in picked[:limit]:
                db.execute(
                    """UPDATE outbox SET state = 'sending', lease_owner = ?, leased_until = ?,
                                         attempts = attempts + 1 WHERE id = ?""",
                    (owner, now + lease_seconds, r["id"]),
                )
                spend_one(db, r["target"], now)
                if r["state"] == "sending":
                    record(db, r["id"], now, "reclaimed", f"the lease of {r['lease_owner']} had run out")
                data = db.execute("SELECT data FROM articles WHERE id = ?", (r["article_id"],)).scalar()
                items.append(OutboxItem(
                    id=r["id"], article_id=r["article_id"], target=r["target"], seq=r["seq"],
                    key=r["key"], state="sending", attempts=r["attempts"] + 1, intro=r["intro"],
                    requested_by=r["requested_by"], first_attempt_at=r["first_attempt_at"],
                    strict_limit=r["strict_limit"], article=article_from_json(data),
                    op=r["op"], of_row=r["of_row"], policy=r["policy"],
                ))
        return items

    def record_event(self, item_id: int, kind: str, detail: str | None = None) -> None:
        """Add a step to a row's history."""
        with self.backend.transaction() as db:
            record(db, item_id, self._clock(), kind, detail)

    def events(self, item_id: int) -> list[OutboxEvent]:
        """A row's history, oldest first."""
        with self.backend.read() as db:
            return history(db, [item_id]).get(item_id, [])

    def set_out_of_line(self, item_id: int) -> None:
        """This row no longer holds back the rows behind it (see ``claim_due``)."""
        with self.backend.transaction() as db:
            db.execute("UPDATE outbox SET out_of_line = 1 WHERE id = ?", (item_id,))

    def lease_owners(self) -> list[str]:
        """Owners holding leases on rows in flight."""
        return [r[0] for r in self.backend.query(
            "SELECT DISTINCT lease_owner FROM outbox WHERE state = 'sending' AND lease_owner IS NOT NULL")]

    def expire_leases(self, owners: Iterable[str], now: float) -> int:
        """End these owners' leases now (they are known dead): their rows are due again."""
        owners = list(owners)
        if not owners:
            return 0
        marks = ",".join("?" * len(owners))

        def expire(db: Connection) -> int:
            ended = db.execute(f"UPDATE outbox SET leased_until = ? WHERE state = 'sending' "
                               f"AND lease_owner IN ({marks}) RETURNING id, lease_owner", (now, *owners)).rows
            for row_id, who in ended:
                record(db, row_id, now, "lease expired", f"{who} is no longer running")
            return len(ended)

        return self._write(expire)

    def outbox_depth(self) -> dict[str, dict[str, int]]:
        """{target: {state: count}}."""
        out: dict[str, dict[str, int]] = {}
        for r in self.backend.query("SELECT target, state, COUNT(*) FROM outbox GROUP BY target, state"):
            out.setdefault(r[0], {})[r[1]] = r[2]
        return out

    def next_due_at(self, targets: Iterable[str] | None = None,
                    pacing: Mapping[str, Pacing] | None = None) -> float | None:
        """When the next outbox row of ``targets`` (default: all) can be worked: a target with a row
        in flight, when its lease runs out (its worker may be done sooner); else when its first row
        in line is due, or its pacing's next slot if that is later.  Rows of other targets (ones
        that cannot post) never count."""
        now = self._clock()
        with self.backend.read() as db:
            names = list(targets) if targets is not None else [
                r[0] for r in db.execute("SELECT DISTINCT target FROM outbox")]
            times: list[float] = []
            for name in names:
                leased = db.execute("SELECT MIN(COALESCE(leased_until, 0)) FROM outbox "
                                    "WHERE state = 'sending' AND target = ?", (name,)).scalar()
                if leased is not None:  # a row in flight: the queue waits for it (or for its lease)
                    times.append(leased)
                    continue
                own: list[float] = []
                for row in _queue(db, name, first=4):
                    own.append(row["next_attempt_at"])
                    if _holds_line(row) or row["next_attempt_at"] <= now:
                        break  # everything behind the first row in line waits for it
                rules = (pacing or {}).get(name)
                if own and rules is not None and rules.active:
                    own = [paced_at(db, name, rules, min(own), now)]
                times += own
        return min(times) if times else None
