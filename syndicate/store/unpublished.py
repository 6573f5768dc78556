"""Articles gone at source: which left their feed, the checks of their pages, which are gone.

Table ``unpublish_checks``, one row per article that ever left its feed
(``syndicate.unpublish`` holds the rules; this is their bookkeeping):

- ``note_listing`` runs after each parsed read of a feed: a stored article of
  that feed no longer listed, though newer than the oldest article it still
  lists (a piece taken out of the middle, not one that aged off the end), is
  *missing* from then on, its first page check scheduled; a missing article
  listed again is back (no longer missing, nor gone);
- ``claim_checks`` hands out the checks due, at most ``limit`` (each pushed
  ``CLAIM_SECONDS`` ahead, so two workers never make the same one);
- ``record_check`` writes what a check found and when the next is due, and
  marks the article gone (``gone_at``) or no longer gone;
- ``gone`` / ``gone_since`` read the gone articles (the editors, the mirror
  feeds' tombstones).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from syndicate.links import link_identity
from syndicate.store.part import StorePart
from syndicate.value import valueclass

__all__ = ["CLAIM_SECONDS", "GoneArticle", "ListingChange", "PageCheck", "UnpublishedPart"]

CLAIM_SECONDS = 600.0  # a claimed check is not handed out again for this long
WINDOW_EXTRA = 200  # stored articles read past the number listed, to find those taken out


@valueclass
class ListingChange:
    missing: tuple[int, ...] = ()  # article ids that left the feed at this read
    back: tuple[int, ...] = ()  # article ids missing (or gone) before, listed again


@valueclass
class PageCheck:
    """A check due: the article's page and the run of 404/410 answers so far."""

    article_id: int
    feed: str
    link: str
    missing_since: float
    not_found: int  # 404/410 answers in a row (answers that say nothing do not break the run)
    not_found_since: float | None  # the first of them
    gone_at: float | None


@valueclass
class GoneArticle:
    article_id: int
    feed: str
    guid: str
    link: str
    title: str
    gone_at: float


class UnpublishedPart(StorePart):
    """Articles gone at source: the part of ``Store`` in this module."""

    def note_listing(self, feed: str, listed: Iterable[tuple[str, str]], *,
                     first_check_at: Callable[[int], float]) -> ListingChange:
        """After a parsed read of ``feed`` listing ``listed`` (guid, link): who left, who came back.

        ``first_check_at(article_id)`` dates the first check of one that left.
        An empty listing says nothing (a broken feed is not an unpublishing).
        """
        pairs = list(listed)
        if not pairs:
            return ListingChange()
        guids = {guid for guid, _ in pairs}
        idents = {link_identity(link) for _, link in pairs if link}
        idents.discard("")
        now = self._clock()

        def is_listed(guid: str, ident: str) -> bool:
            return guid in guids or bool(ident and ident in idents)

        with self.backend.transaction() as db:
            rows = db.execute(
                "SELECT id, guid, ident, published FROM articles WHERE feed = ? "
                "ORDER BY published DESC, id DESC LIMIT ?", (feed, len(pairs) + WINDOW_EXTRA)).fetchall()
            dates = [float(r["published"]) for r in rows if is_listed(r["guid"], r["ident"])]
            tracked = {int(r["article_id"]): (r["guid"], r["ident"]) for r in db.execute(
                "SELECT c.article_id, a.guid, a.ident FROM unpublish_checks c "
                "JOIN articles a ON a.id = c.article_id WHERE c.feed = ? AND c.missing_since IS NOT NULL",
                (feed,)).fetchall()}
            back = [i for i, (guid, ident) in tracked.items() if is_listed(guid, ident)]
            for article_id in back:
                db.execute("UPDATE unpublish_checks SET missing_since = NULL, next_check_at = NULL, "
                           "not_found = 0, not_found_since = NULL, gone_at = NULL WHERE article_id = ?",
                           (article_id,))
            missing: list[int] = []
            if dates:
                oldest_listed = min(dates)
                for r in rows:
                    article_id = int(r["id"])
                    if (float(r["published"]) >= oldest_listed and not is_listed(r["guid"], r["ident"])
                            and article_id not in tracked):
                        missing.append(article_id)
            for article_id in missing:
                db.execute(
                    """INSERT INTO unpublish_checks (article_id, feed, missing_since, next_check_at)
                       VALUES (?, ?, ?, ?)
                       ON CONFLICT (article_id) DO UPDATE SET missing_since = excluded.missing_since,
                           next_check_at = excluded.next_check_at, not_found = 0, not_found_since = NULL,
                           gone_at = NULL""",
                    (article_id, feed, now, first_check_at(article_id)))
        return ListingChange(tuple(missing), tuple(sorted(back)))

    def claim_checks(self, limit: int) -> list[PageCheck]:
        """Up to ``limit`` checks due now, oldest due first, each claimed for ``CLAIM_SECONDS``."""
        now = self._clock()
        claimed: list[PageCheck] = []
        due = self.backend.query("SELECT 1 FROM unpublish_checks WHERE next_check_at <= ? LIMIT 1", (now,))
        if not due:
            return claimed  # the usual cycle: one read, no write transaction
        with self.backend.transaction() as db:
            rows = db.execute(
                "SELECT c.article_id, c.feed, a.link, c.missing_since, c.not_found, c.not_found_since, "
                "c.gone_at, c.next_check_at FROM unpublish_checks c JOIN articles a ON a.id = c.article_id "
                "WHERE c.next_check_at IS NOT NULL AND c.next_check_at <= ? "
                "ORDER BY c.next_check_at, c.article_id LIMIT ?", (now, limit)).fetchall()
            for r in rows:
                took = db.execute("UPDATE unpublish_checks SET next_check_at = ? "
                                  "WHERE article_id = ? AND next_check_at = ? RETURNING article_id",
                                  (now + CLAIM_SECONDS, r["article_id"], r["next_check_at"])).fetchone()
                if took is None:
                    continue  # another worker took it
                claimed.append(PageCheck(int(r["article_id"]), r["feed"], r["link"],
                                         float(r["missing_since"]), int(r["not_found"]),
                                         _opt(r["not_found_since"]), _opt(r["gone_at"])))
        return claimed

    def next_check_at(self) -> float | None:
        """When the next page check is due (None: none is scheduled)."""
        rows = self.backend.query("SELECT MIN(next_check_at) FROM unpublish_checks")
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    def record_check(self, article_id: int, *, result: str, not_found: int, not_found_since: float | None,
                     next_check_at: float | None, gone: bool | None) -> bool:
        """What a page check found (``result``, one line) and when the next is due (None: no more).

        ``gone``: True marks the article gone at source (kept from the first time), False no longer
        gone, None leaves it as it is.  True when this check made it gone.
        """
        now = self._clock()
        with self.backend.transaction() as db:
            row = db.execute("SELECT gone_at, missing_since FROM unpublish_checks WHERE article_id = ?",
                             (article_id,)).fetchone()
            if row is None or row["missing_since"] is None:
                return False  # listed again meanwhile: the listing wins
            was_gone = row["gone_at"] is not None
            if gone is None:
                gone_at = row["gone_at"]
            elif gone:
                gone_at = row["gone_at"] if was_gone else now
            else:
                gone_at = None
            db.execute("UPDATE unpublish_checks SET checks = checks + 1, last_checked_at = ?, "
                       "last_result = ?, not_found = ?, not_found_since = ?, next_check_at = ?, "
                       "gone_at = ? WHERE article_id = ?",
                       (now, result[:500], not_found, not_found_since, next_check_at, gone_at, article_id))
        return bool(gone) and not was_gone

    def gone(self, article_ids: Sequence[int] | None = None) -> dict[int, float]:
        """Article id → when it was found gone at source (of ``article_ids``, or all)."""
        rows = self.backend.query(
            "SELECT article_id, gone_at FROM unpublish_checks WHERE gone_at IS NOT NULL")
        wanted = set(article_ids) if article_ids is not None else None
        return {int(r[0]): float(r[1]) for r in rows if wanted is None or int(r[0]) in wanted}

    def gone_since(self, since: float) -> list[GoneArticle]:
        """The articles found gone at source since ``since``, most recently gone first."""
        rows = self.backend.query(
            "SELECT a.id, a.feed, a.guid, a.link, a.title, c.gone_at FROM unpublish_checks c "
            "JOIN articles a ON a.id = c.article_id WHERE c.gone_at IS NOT NULL AND c.gone_at >= ? "
            "ORDER BY c.gone_at DESC, a.id DESC", (since,))
        return [GoneArticle(int(r[0]), r[1], r[2], r[3], r[4], float(r[5])) for r in rows]

    def unpublish_state(self, article_id: int) -> dict[str, object] | None:
        """The article's row of checks, as a mapping (None: it never left its feed)."""
        rows = self.backend.query(
            "SELECT missing_since, next_check_at, checks, not_found, not_found_since, last_checked_at, "
            "last_result, gone_at FROM unpublish_checks WHERE article_id = ?", (article_id,))
        return {k: rows[0][k] for k in rows[0].keys()} if rows else None


def _opt(value: object) -> float | None:
    return float(value) if value is not None else None  # type: ignore[arg-type]
