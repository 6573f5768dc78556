"""The mirror feeds' articles, with what mirrors are told of each (``feed_out.changes``).

``mirror_entries(limit)`` is ``latest_articles`` for the mirror feeds: the
``limit`` most recently added articles, leaving out those gone at source
(``unpublish_checks.gone_at``) and those recorded as another's copy
(``copies``), each with when the store last recorded an edit of it
(``articles.updated_at``), the URLs of the posts made of it (sent outbox
rows; a copy's posts stand for its original's) and the links of its copies.  Four reads, whatever ``limit``.
"""

from __future__ import annotations

from dataclasses import dataclass

from syndicate.models import Article
from syndicate.store.article_json import article_from_json
from syndicate.store.part import StorePart

__all__ = ["MirrorEntry", "MirrorItemsPart"]


@dataclass(frozen=True, slots=True)
class MirrorEntry:
    article_id: int
    article: Article
    edited_at: float | None  # when an edit was last recorded (None: never edited)
    posts: tuple[str, ...] = ()  # the URLs of the posts made of it (or of a copy, for it), by target
    copies: tuple[str, ...] = ()  # the links of the articles recorded as its copies


class MirrorItemsPart(StorePart):
    """The mirror feeds' articles: the part of ``Store`` in this module."""

    def mirror_entries(self, limit: int) -> list[MirrorEntry]:
        """The ``limit`` most recently added articles neither gone at source nor a copy, newest first."""
        with self.backend.read() as db:
            rows = db.execute(
                """SELECT id, data, updated_at FROM articles a
                   WHERE NOT EXISTS (SELECT 1 FROM copies c WHERE c.article_id = a.id)
                     AND NOT EXISTS (SELECT 1 FROM unpublish_checks u
                                     WHERE u.article_id = a.id AND u.gone_at IS NOT NULL)
                   ORDER BY added_at DESC, published DESC, id DESC LIMIT ?""", (limit,)).fetchall()
            ids = [int(r["id"]) for r in rows]
            posts: dict[int, list[str]] = {}
            copies: dict[int, list[str]] = {}
            if ids:
                marks = ",".join("?" * len(ids))
                copied = ("SELECT c.original_id, c.article_id, a.link FROM copies c JOIN articles a "
                          f"ON a.id = c.article_id WHERE c.original_id IN ({marks}) ORDER BY a.id")
                stands_for: dict[int, int] = {i: i for i in ids}  # a copy's posts stand for its original's
                for r in db.execute(copied, ids):
                    copies.setdefault(int(r["original_id"]), []).append(r["link"])
                    stands_for[int(r["article_id"])] = int(r["original_id"])
                marks = ",".join("?" * len(stands_for))
                sent = (f"SELECT article_id, remote_url FROM outbox WHERE article_id IN ({marks}) "
                        "AND state = 'sent' AND remote_url IS NOT NULL ORDER BY target, seq, article_id")
                for r in db.execute(sent, list(stands_for)):
                    posts.setdefault(stands_for[int(r["article_id"])], []).append(r["remote_url"])
        return [MirrorEntry(int(r["id"]), article_from_json(r["data"]),
                            float(r["updated_at"]) if r["updated_at"] is not None else None,
                            tuple(posts.get(int(r["id"]), ())), tuple(copies.get(int(r["id"]), ())))
                for r in rows]
