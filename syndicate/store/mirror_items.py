"""The mirror feeds' articles, with what mirrors are told of each (``feed_out.changes``).

An edit is recorded for any change of what the feed says of an entry
(``articles.updated_at``); what mirrors are told is narrower: when what an
item *shows* changed (``record_signature``, table ``article_changes``: a
hash of the article as normalised — its title, author, standfirst, content,
link, image, dates and source — so a change of whitespace, of how an entity
is written, or of a tracking parameter is none).  An article recorded before
that table has no signature: its last edit counts.

``mirror_entries(limit)`` is ``latest_articles`` for the mirror feeds: the
``limit`` most recently added articles, leaving out those gone at source
(``unpublish_checks.gone_at``) and those recorded as another's copy
(``copies``), each with when it last really changed (above), the URLs of the posts made of it (sent outbox
rows; a copy's posts stand for its original's) and the links of its copies.  Four reads, whatever ``limit``.
"""

from __future__ import annotations

from datetime import datetime

from syndicate.models import Article
from syndicate.store.article_json import article_from_json
from syndicate.store.backend import Connection
from syndicate.store.part import StorePart
from syndicate.value import valueclass

__all__ = ["MirrorEntry", "MirrorItemsPart", "record_signature", "signature"]


def _text(value: str | None) -> str:
    return " ".join((value or "").split())


def _when(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def signature(article: Article) -> str:
    """A hash of what an item shows of ``article``: equal when only whitespace changed."""
    source = article.source
    parts = [_text(article.title), _text(article.author), _text(article.standfirst),
             _text(article.content_html), article.link, article.image or "", _text(article.image_alt),
             _when(article.published), str(article.date_only), " ".join(article.categories)]
    if source:
        parts += [_text(source.name), source.url or "", _when(source.published)]
    import hashlib  # (status and health hash nothing: imported by the first item signed)

    return hashlib.blake2b("\x00".join(parts).encode("utf-8", "replace"), digest_size=16).hexdigest()


def record_signature(db: Connection, article_id: int, article: Article, *, now: float, edited: bool) -> None:
    """``article`` as recorded now (``db``'s part of the read): an edit that changed its signature
    changed what mirrors show (``changed_at``)."""
    sig = signature(article)
    if not edited:
        db.execute("INSERT INTO article_changes (article_id, signature) VALUES (?, ?) ON CONFLICT DO NOTHING",
                   (article_id, sig))
        return
    db.execute("""INSERT INTO article_changes (article_id, signature, changed_at) VALUES (?, ?, ?)
                  ON CONFLICT (article_id) DO UPDATE SET signature = excluded.signature,
                      changed_at = CASE WHEN article_changes.signature = excluded.signature
                                        THEN article_changes.changed_at ELSE excluded.changed_at END""",
               (article_id, sig, now))


@valueclass
class MirrorEntry:
    article_id: int
    article: Article
    edited_at: float | None  # when what it shows last changed (None: never since first recorded)
    posts: tuple[str, ...] = ()  # the URLs of the posts made of it (or of a copy, for it), by target
    copies: tuple[str, ...] = ()  # the links of the articles recorded as its copies


class MirrorItemsPart(StorePart):
    """The mirror feeds' articles: the part of ``Store`` in this module."""

    def mirror_entries(self, limit: int) -> list[MirrorEntry]:
        """The ``limit`` most recently added articles neither gone at source nor a copy, newest first."""
        with self.backend.read() as db:
            rows = db.execute(
                """SELECT a.id, a.data, CASE WHEN ch.article_id IS NULL THEN a.updated_at
                                             ELSE ch.changed_at END AS updated_at
                   FROM articles a LEFT JOIN article_changes ch ON ch.article_id = a.id
                   WHERE NOT EXISTS (SELECT 1 FROM copies c WHERE c.article_id = a.id)
                     AND NOT EXISTS (SELECT 1 FROM unpublish_checks u
                                     WHERE u.article_id = a.id AND u.gone_at IS NOT NULL)
                   ORDER BY a.added_at DESC, a.published DESC, a.id DESC LIMIT ?""", (limit,)).fetchall()
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
                # the state is tested here, not in the WHERE: with ``state = 'sent'`` there, SQLite
                # read the rows through outbox_leases (state, …), every sent row of the store,
                # instead of these articles' few by UNIQUE (article_id, target, seq)
                marks = ",".join("?" * len(stands_for))
                rows_of = (f"SELECT article_id, state, remote_url FROM outbox WHERE article_id IN ({marks}) "
                           "ORDER BY target, seq, article_id")
                for r in db.execute(rows_of, list(stands_for)):
                    if r["state"] == "sent" and r["remote_url"] is not None:
                        posts.setdefault(stands_for[int(r["article_id"])], []).append(r["remote_url"])
        return [MirrorEntry(int(r["id"]), article_from_json(r["data"]),
                            float(r["updated_at"]) if r["updated_at"] is not None else None,
                            tuple(posts.get(int(r["id"]), ())), tuple(copies.get(int(r["id"]), ())))
                for r in rows]
