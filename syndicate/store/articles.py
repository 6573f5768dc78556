"""The articles: what was seen in which feed, recorded with its deliveries in one transaction.

An article is recognised by its guid within its feed, or by its link's
identity (``syndicate.links.link_identity``, column ``ident``) in any feed
(``known``).  ``apply`` records one read of a feed as ``syndicate.plan``
decided it (a ``FeedPlan``) in one transaction: its new and edited
articles, their outbox rows (``outbox.enqueue``), the deliveries held as a
suspected feed migration (``operator.hold``), those its filters kept from
a target (table ``filtered``, with the reason), the feed's title (meta) and
its row (``feeds.record_read``: validators, body hash, next fetch,
seeded).  So a failure half way leaves none of it: never a seeded feed
without its articles, nor articles of a feed whose next read would seed it
again.  ``ingest`` records articles and deliveries alone (an editor's
repost of an article no feed carries, the tests).  The article itself is
kept as JSON (``article_json``, column ``data``) beside the columns the
store looks it up by.

``added_at`` orders the output feed: when the article was first seen, or
since re-published by the site (the plan's ``EditedArticle.added_again``)
or reposted by an editor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from syndicate.links import link_identity
from syndicate.store.article_json import article_from_json, article_to_json
from syndicate.store.copies import record_copy, record_credit
from syndicate.store.feeds import record_read
from syndicate.store.mirror_items import record_signature
from syndicate.store.operations import queue_edits
from syndicate.store.operator import hold
from syndicate.store.outbox import enqueue
from syndicate.store.part import StorePart, chunks
from syndicate.store.sessions import write_meta
from syndicate.value import valueclass

if TYPE_CHECKING:  # a poll's plan (``intent``) is imported by whoever plans; the editors' commands never do
    from syndicate.intent import EditedArticle, FeedPlan, NewArticle
    from syndicate.models import Article
    from syndicate.store.backend import Connection

__all__ = ["ArticlesPart", "IngestCounts", "Known"]



@valueclass
class Known:
    """What the store already holds for an incoming entry."""

    article_id: int
    guid: str
    fingerprint: str
    feed: str  # the feed it was first seen in (an article may be in several)


@valueclass
class IngestCounts:
    new: int = 0
    updated: int = 0
    queued: int = 0
    held: int = 0


def _ts(value: datetime) -> float:
    return value.timestamp()


class ArticlesPart(StorePart):
    """The articles' half of ``Store``."""

    def known(self, feed: str, entries: Iterable[tuple[str, str]]) -> dict[str, Known]:
        """For (guid, link) pairs, what the store already has, keyed by guid.

        An entry is known by its guid within the feed, or by its link's
        identity in any feed (``syndicate.links.link_identity``): a changed
        guid with the same link is not new, nor is the same link moved to
        https, to or from ``www.``, or with its trailing slash changed.  Of
        several articles with that identity, the first recorded.
        """
        guids: dict[str, None] = {}
        by_ident: dict[str, list[str]] = {}  # identity -> the incoming guids with it
        for guid, link in entries:
            guids.setdefault(guid)
            ident = link_identity(link) if link else ""
            if ident:
                by_ident.setdefault(ident, []).append(guid)
        found: dict[str, Known] = {}
        with self.backend.read() as db:
            for chunk in chunks(list(guids)):
                for r in db.execute(f"SELECT id, guid, fingerprint, feed FROM articles WHERE feed = ? "
                                    f"AND guid IN ({','.join('?' * len(chunk))})", (feed, *chunk)):
                    found[r["guid"]] = Known(r["id"], r["guid"], r["fingerprint"], r["feed"])
            for chunk in chunks(list(by_ident)):
                for r in db.execute(f"SELECT id, guid, fingerprint, feed, ident FROM articles "
                                    f"WHERE ident IN ({','.join('?' * len(chunk))}) ORDER BY id", chunk):
                    for guid in by_ident[r["ident"]]:
                        found.setdefault(guid, Known(r["id"], r["guid"], r["fingerprint"], r["feed"]))
        return found

    def newest_published(self, feed: str) -> float | None:
        """The original publication time of the feed's newest article, if it has any."""
        rows = self.backend.query("SELECT MAX(published) FROM articles WHERE feed = ?", (feed,))
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    def apply(self, plan: FeedPlan, *, owner: str | None = None) -> IngestCounts:
        """Record one read of a feed, as planned, in one transaction (see the module docstring).
        ``owner``: the worker whose claim the poll is; ``ClaimLost``, and none of it written, if
        another worker has claimed the feed since (``store.feeds``)."""
        now = self._clock()
        with self.backend.transaction() as db:
            counts = _record(db, plan.feed, plan.new, plan.edited, held_reason=plan.held_reason, now=now,
                             settle=plan.settle)
            if plan.title:
                write_meta(db, f"feed_title:{plan.feed}", plan.title)
            record_read(db, plan.record, now=now, owner=owner)
        return counts

    def ingest(self, feed: str, *, new: Sequence[Article], updated: Sequence[tuple[int, Article]],
               queue: Mapping[str, Sequence[str]], seeded: bool = True,
               held: Mapping[str, Sequence[str]] | None = None, held_reason: str = "") -> IngestCounts:
        """Record new and edited articles and enqueue deliveries, in one transaction.

        ``queue`` maps an article id (guid) among ``new`` to the targets it is
        posted to; ``held`` likewise, for the deliveries held back (a suspected
        feed migration, with ``held_reason``) until ``release_held``; new
        articles in neither are recorded as seen only.  ``updated`` are
        stored as given (the rules of an edit are the plan's: ``plan.revised``).
        ``seeded``: mark the feed's row, if it has one, as seeded.
        """
        from syndicate.intent import EditedArticle, NewArticle

        held = held or {}
        intents = [NewArticle(a, "queued", tuple(queue[a.id])) if a.id in queue
                   else NewArticle(a, "held", tuple(held[a.id])) if a.id in held
                   else NewArticle(a, "none") for a in new]
        now = self._clock()
        with self.backend.transaction() as db:
            counts = _record(db, feed, intents, [EditedArticle(i, a) for i, a in updated],
                             held_reason=held_reason, now=now)
            if seeded:
                db.execute("UPDATE feeds SET seeded = 1 WHERE name = ?", (feed,))
        return counts

    def articles_by_id(self, ids: Iterable[int]) -> dict[int, Article]:
        """The stored articles with these row ids (those there are)."""
        found: dict[int, Article] = {}
        with self.backend.read() as db:
            for chunk in chunks(list(dict.fromkeys(ids))):
                marks = ",".join("?" * len(chunk))
                for r in db.execute(f"SELECT id, data FROM articles WHERE id IN ({marks})", chunk):
                    found[int(r["id"])] = article_from_json(r["data"])
        return found

    def article(self, article_id: int) -> Article | None:
        rows = self.backend.query("SELECT data FROM articles WHERE id = ?", (article_id,))
        return article_from_json(rows[0][0]) if rows else None

    def find_article_id(self, ref: str) -> int | None:
        """An article by its row id, guid, or link (any link with the same identity)."""
        if ref.isdigit():
            rows = self.backend.query("SELECT id FROM articles WHERE id = ?", (int(ref),))
            if rows:
                return int(rows[0][0])
        rows = self.backend.query("SELECT id FROM articles WHERE guid = ? OR link = ? ORDER BY id LIMIT 1",
                                  (ref, ref))
        if not rows and ref.startswith(("http://", "https://")):
            rows = self.backend.query("SELECT id FROM articles WHERE ident = ? ORDER BY id LIMIT 1",
                                      (link_identity(ref),))
        return int(rows[0][0]) if rows else None

    def latest_articles(self, limit: int) -> list[Article]:
        """The ``limit`` most recently added articles, newest first (for the output feed).

        Added: first seen, or since re-published by the site or reposted by
        an editor (``added_at``), whatever the original publication date;
        those added together (a feed's first read) newest first by date.  One
        read of the ``articles_added`` index.
        """
        rows = self.backend.query(
            "SELECT data FROM articles ORDER BY added_at DESC, published DESC, id DESC LIMIT ?", (limit,))
        return [article_from_json(r[0]) for r in rows]

    def count_articles(self) -> int:
        return int(self.backend.query("SELECT COUNT(*) FROM articles")[0][0])


def _record(db: Connection, feed: str, new: Sequence[NewArticle], edited: Sequence[EditedArticle], *,
            held_reason: str, now: float, settle: float = 0.0) -> IngestCounts:
    """Insert the new articles with their deliveries, store the edited ones: ``db``'s part of a poll."""
    queued = held = 0
    for intent in new:
        article = intent.article
        article_id = db.insert(
            """INSERT INTO articles (feed, guid, link, ident, title, published, fingerprint,
                                     data, first_seen_at, added_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (feed, guid) DO NOTHING RETURNING id""",
            (feed, article.id, article.link, link_identity(article.link), article.title,
             _ts(article.published), article.fingerprint, article_to_json(article), now, now),
        )
        if article_id is None:
            continue
        record_credit(db, article_id, article)
        record_signature(db, article_id, article, now=now, edited=False)
        if intent.copy_of is not None:
            record_copy(db, article_id, intent.copy_of, intent.copy_reason, now=now)
        for copy_id in intent.copies:  # copies that arrived before their original
            record_copy(db, copy_id, article_id, intent.copy_reason, now=now)
        for target, why in intent.filtered:
            db.execute("INSERT INTO filtered (article_id, target, filtered_at, reason) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT DO NOTHING", (article_id, target, now, why))
        if intent.deliveries == "queued":
            queued += enqueue(db, article_id, intent.targets, now=now, not_before=now + settle)
        elif intent.deliveries == "held":
            for target in intent.targets:
                held += hold(db, article_id, target, feed=feed, now=now, reason=held_reason)
    for edit in edited:
        article = edit.article
        db.execute(
            """UPDATE articles SET link = ?, ident = ?, title = ?, published = ?, fingerprint = ?,
                                   data = ?, updated_at = ?,
                                   added_at = CASE WHEN ? = 1 THEN ? ELSE added_at END
               WHERE id = ?""",
            (article.link, link_identity(article.link), article.title, _ts(article.published),
             article.fingerprint, article_to_json(article), now, int(edit.added_again), now, edit.article_id),
        )
        db.execute("UPDATE outbox SET published = ? WHERE article_id = ?",
                   (_ts(article.published), edit.article_id))
        if edit.changed and edit.edits:  # carried over to its posts by each target's policy
            queue_edits(db, edit.article_id, edit.changed, edit.edits, now=now, settle=settle)
        record_signature(db, edit.article_id, article, now=now, edited=True)  # what mirrors are told
    return IngestCounts(new=len(new), updated=len(edited), queued=queued, held=held)
