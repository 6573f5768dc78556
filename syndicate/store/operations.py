"""Operations on posts already made, through the outbox: edits carried over, deletes, post-now.

An outbox row is an operation (column ``op``): ``post`` makes a post;
``edit`` and ``delete`` act on the post *another* row made (``of_row``: that
post row's id, so the remote post is always the one recorded for that
article × target, never another).  They are queued, leased, keyed and
reconciled like posts (``outbox``, ``attempts``); they never hold their
target's queue (``out_of_line``), and what they did is recorded on both
rows' histories.

- **Edits.**  ``queue_edits`` (in ``Store.apply``'s transaction) takes an
  edited article's substantive change (``syndicate.changes``) and each
  target's ``edits:`` policy: for every post of the article on the target
  (sent, or being sent), a policy that acts queues one ``edit`` row, due a
  settle window from now and never sooner than a window after the post's
  last edit — unless one is pending already, which then carries this change
  too (a burst of edits is one edit: the post is composed from the stored
  article when the row is claimed).  A policy that does not act (``keep``,
  ``ignore``) is written to the post's history only.
- **Deletes.**  ``request_delete`` queues one ``delete`` row per asked
  target that has a post of the article (none where one is queued already),
  recording who asked; a post not sent yet is withdrawn instead (failed,
  with who asked, and ``deleted_at``: an editor's retry of failed rows leaves it).
- **Post now.**  ``post_now`` ends the settle wait of an article's posts.

``finish_operation`` records an operation's outcome: the row done (state
``sent``, ``sent_at``), a replaced post's new id and URL on its post row, a
deleted post's ``deleted_at``.
"""

from __future__ import annotations

from collections.abc import Sequence

from syndicate.models import Posted
from syndicate.store.backend import Connection, notify
from syndicate.store.outbox import enqueue, record, utc_text
from syndicate.store.part import StorePart
from syndicate.value import valueclass

__all__ = ["DeleteRequest", "OperationsPart", "queue_edits"]

_POSTS = ("SELECT id FROM outbox WHERE article_id = ? AND target = ? AND op = 'post' "
          "AND state IN ('sent', 'sending') AND deleted_at IS NULL ORDER BY seq")


@valueclass
class DeleteRequest:
    """What ``request_delete`` did."""

    article_id: int
    queued: tuple[str, ...]  # targets a delete row was queued for
    withdrawn: tuple[str, ...]  # targets whose post was not sent yet: withdrawn instead
    already: tuple[str, ...]  # targets with a delete queued already
    nothing: tuple[str, ...]  # asked targets with no post of the article


def _next_seq(db: Connection, article_id: int, target: str) -> int:
    seq: int = db.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM outbox WHERE article_id = ? AND target = ?",
                          (article_id, target)).scalar()
    return seq


def _queue_op(db: Connection, article_id: int, target: str, op: str, post_id: int, *, now: float,
              due: float, policy: str | None = None, requested_by: str | None = None) -> int:
    """One operation row on the post of row ``post_id``; its id."""
    seq = _next_seq(db, article_id, target)
    enqueue(db, article_id, [target], now=now, seq=seq, not_before=due, op=op, of_row=post_id,
            policy=policy, requested_by=requested_by)
    row_id: int = db.execute("SELECT id FROM outbox WHERE article_id = ? AND target = ? AND seq = ?",
                             (article_id, target, seq)).scalar()
    return row_id


def queue_edits(db: Connection, article_id: int, changed: Sequence[str],
                policies: Sequence[tuple[str, str]], *, now: float, settle: float) -> int:
    """Carry an article's substantive change over to its posts by each target's policy (see the
    module docstring); how many edit rows were queued."""
    from syndicate.changes import action, recorded_only  # (a read's: the editors' commands never load it)

    what = ", ".join(changed)
    queued = 0
    for target, policy in policies:
        for (post_id,) in db.execute(_POSTS, (article_id, target)).fetchall():
            if action(policy, tuple(changed)) is None:
                record(db, post_id, now, "edited", recorded_only(policy, tuple(changed)))
                continue
            pending = db.execute("SELECT id FROM outbox WHERE of_row = ? AND op = 'edit' "
                                 "AND state = 'pending'", (post_id,)).fetchone()
            if pending is not None:
                record(db, pending[0], now, "edited",
                       f"edited at source again ({what}): this edit carries it")
                record(db, post_id, now, "edited", f"edited at source again ({what}): edit {pending[0]} "
                                                   "is queued already and carries it")
                continue
            last = db.execute("SELECT MAX(sent_at) FROM outbox WHERE of_row = ? AND op = 'edit' "
                              "AND state = 'sent'", (post_id,)).scalar()
            due = max(now + settle, (last + settle) if last is not None else now)
            row_id = _queue_op(db, article_id, target, "edit", post_id, now=now, due=due, policy=policy)
            record(db, row_id, now, "queued", f"edited at source ({what}): {policy} at {utc_text(due)}")
            record(db, post_id, now, "edited", f"edited at source ({what}): {policy} queued "
                                               f"(row {row_id}, at {utc_text(due)})")
            queued += 1
    return queued


class OperationsPart(StorePart):
    """Edits, deletes and post-now: the part of ``Store`` in this module."""

    def post_now(self, article_id: int, *, requested_by: str) -> list[str]:
        """End the settle wait of the article's posts not yet tried: due now.  The targets."""
        now = self._clock()

        def clear(db: Connection) -> list[str]:
            rows = db.execute("UPDATE outbox SET next_attempt_at = ? WHERE article_id = ? AND op = 'post' "
                              "AND state = 'pending' AND attempts = 0 AND next_attempt_at > ? "
                              "RETURNING id, target", (now, article_id, now)).rows
            for row_id, target in rows:
                record(db, row_id, now, "post now", f"the wait to settle ended by {requested_by}")
                notify(db, target)
            return sorted(target for _, target in rows)

        return self._write(clear)

    def request_delete(self, article_id: int, targets: Sequence[str], *,
                       requested_by: str) -> DeleteRequest:
        """Queue one delete per target in ``targets`` that has a post of the article (idempotent:
        none where a delete is queued or done already), recording who asked; a post not sent
        yet is withdrawn.  One transaction."""
        now = self._clock()

        def ask(db: Connection) -> DeleteRequest:
            queued, withdrawn, already, nothing = [], [], [], []
            for target in targets:
                did = False
                for row_id, state in db.execute(
                        "SELECT id, state FROM outbox WHERE article_id = ? AND target = ? AND op = 'post' "
                        "AND state IN ('pending', 'sending', 'sent') AND deleted_at IS NULL ORDER BY seq",
                        (article_id, target)).fetchall():
                    if state == "pending":
                        why = f"withdrawn: its deletion was requested by {requested_by}"
                        db.execute("UPDATE outbox SET state = 'failed', last_error = ?, deleted_at = ? "
                                   "WHERE id = ?", (why, now, row_id))
                        record(db, row_id, now, "withdrawn", why)
                        withdrawn.append(target)
                        did = True
                        continue
                    if db.execute("SELECT 1 FROM outbox WHERE of_row = ? AND op = 'delete' "
                                  "AND state IN ('pending', 'sending', 'sent')", (row_id,)).fetchone():
                        already.append(target)
                        did = True
                        continue
                    op_id = _queue_op(db, article_id, target, "delete", row_id, now=now, due=now,
                                      requested_by=requested_by)
                    record(db, op_id, now, "queued", f"delete requested by {requested_by}")
                    record(db, row_id, now, "delete requested", f"by {requested_by} (row {op_id})")
                    queued.append(target)
                    did = True
                if not did:
                    nothing.append(target)
            return DeleteRequest(article_id, *(tuple(dict.fromkeys(x)) for x in (queued, withdrawn, already,
                                                                                  nothing)))

        return self._write(ask)

    def deletes_requested(self, article_id: int) -> dict[str, str]:
        """Target → who asked, for each of the article's posts a delete is queued for or was done."""
        rows = self.backend.query("SELECT target, requested_by FROM outbox WHERE article_id = ? "
                                  "AND op = 'delete' AND state IN ('pending', 'sending', 'sent') "
                                  "ORDER BY id", (article_id,))
        return {target: who or "" for target, who in rows}

    def operation_post(self, item_id: int) -> tuple[str, str | None, float | None, str | None] | None:
        """The post an operation row acts on, as its post row recorded it (remote id, URL, when
        sent, its intro line); None if it has none."""
        rows = self.backend.query(
            "SELECT p.remote_id, p.remote_url, p.sent_at, p.intro FROM outbox AS o "
            "JOIN outbox AS p ON p.id = o.of_row WHERE o.id = ? AND p.remote_id IS NOT NULL", (item_id,))
        return (str(rows[0][0]), rows[0][1], rows[0][2], rows[0][3]) if rows else None

    def finish_operation(self, item_id: int, owner: str, outcome: str, detail: str, *,
                         posted: Posted | None = None) -> bool:
        """Record an operation done (``outcome``: what ``targets.operations.OpDone`` says), if
        ``owner`` holds it still: the row ``sent``; a ``replaced`` post's new id and URL on its
        post row (in the same transaction), a ``deleted`` (or ``gone``, by a delete) post's
        ``deleted_at``."""
        now = self._clock()

        def finish(db: Connection) -> bool:
            row = db.execute("UPDATE outbox SET state = 'sent', sent_at = ?, remote_url = ?, "
                             "lease_owner = NULL, leased_until = NULL, last_error = NULL "
                             "WHERE id = ? AND state = 'sending' "
                             "AND lease_owner = ? RETURNING of_row, op",
                             (now, posted.url if posted else None, item_id, owner)).rows
            if len(row) != 1:
                return False
            post_id, op = row[0]
            record(db, item_id, now, outcome, detail)
            if post_id is not None:
                record(db, post_id, now, f"{op} {outcome}", detail)
                if outcome == "replaced" and posted is not None:  # the post is the new one now
                    db.execute("UPDATE outbox SET remote_id = ?, remote_url = ? WHERE id = ?",
                               (posted.remote_id, posted.url, post_id))
                elif op == "delete" and outcome in ("deleted", "gone"):
                    db.execute("UPDATE outbox SET deleted_at = ? WHERE id = ?", (now, post_id))
            return True  # wakes nobody: this worker goes on with the target's queue (``attempts``)

        return self._write(finish)
