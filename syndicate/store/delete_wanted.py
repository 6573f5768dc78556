"""STAND-IN for life-edit's ``Store.request_delete``: the deletes an article's unpublishing wants.

The branch life-edit writes ``request_delete(article_id, targets, requested_by=…)``, which queues
one delete operation per target in the outbox.  Until the two are merged, this part records the
wish durably (table ``delete_wanted``, one row per article × target, the first request kept) with
the same signature, so the unpublishing (``syndicate.unpublish``) can ask and its tests can see
that it asked.  At merge: drop this module, its ``Store`` base and its schema step
(``step_18_delete_wanted``); ``syndicate.unpublish`` calls ``Store.request_delete`` unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from syndicate.store.part import StorePart

__all__ = ["DeleteWantedPart"]


class DeleteWantedPart(StorePart):
    """The stand-in's part of ``Store``."""

    def request_delete(self, article_id: int, targets: Sequence[str], *,
                       requested_by: str) -> tuple[str, ...]:
        """Record that ``article_id``'s posts on ``targets`` are to be deleted; the targets newly asked."""
        now = self._clock()
        asked: list[str] = []
        with self.backend.transaction() as db:
            for target in dict.fromkeys(targets):
                row = db.execute("INSERT INTO delete_wanted (article_id, target, requested_by, requested_at) "
                                 "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING target",
                                 (article_id, target, requested_by, now)).fetchone()
                if row is not None:
                    asked.append(target)
        return tuple(asked)

    def deletes_wanted(self, article_id: int) -> dict[str, str]:
        """Target → who asked, for ``article_id``'s posts wanted deleted."""
        rows = self.backend.query("SELECT target, requested_by FROM delete_wanted WHERE article_id = ? "
                                  "ORDER BY target", (article_id,))
        return {r[0]: r[1] for r in rows}
