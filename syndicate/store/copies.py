"""Articles recorded as another's copy (table ``copies``), and the credits that make them one.

Both directions of ``syndicate.copies``:

- ``originals_for(idents)``: the stored articles whose link has one of these
  identities (``syndicate.links.link_identity``), what a new entry's
  credited source may be.  An article that is itself a copy stands for its
  original.
- ``crediting(idents)``: the stored articles whose credited source has one of
  these identities (table ``credits``, written for every new article that
  credits a source by its link: ``record_credit``), the copies that arrived
  before their original.

``record_copy`` and ``record_credit`` are written in the transaction that
records the article (``articles._record``); ``copies_of`` and
``copies_for`` read what the editors are told.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from syndicate.links import link_identity
from syndicate.models import Article
from syndicate.store.article_json import article_from_json
from syndicate.store.backend import Connection
from syndicate.store.part import StorePart, chunks, marks
from syndicate.value import valueclass

__all__ = ["CopiesPart", "CopyRecord", "Crediting", "Original", "credited_ident", "record_copy",
           "record_credit"]



@valueclass
class Original:
    """A stored article a new entry may be a copy of."""

    article_id: int
    feed: str
    link: str
    title: str
    language: str | None


@valueclass
class Crediting:
    """A stored article crediting a source by its link: a copy that may have arrived first."""

    article_id: int
    feed: str
    link: str
    title: str
    language: str | None
    posted: bool  # it has outbox rows: its posts stand for its original's


@valueclass
class CopyRecord:
    article_id: int
    original_id: int
    reason: str
    recorded_at: float


def credited_ident(article: Article) -> str:
    """The link identity of the source ``article`` credits ("" : it credits none with a link)."""
    url = article.source.url if article.source else None
    return link_identity(url) if url else ""


def record_credit(db: Connection, article_id: int, article: Article) -> None:
    """Remember whose link ``article`` credits, if any (``crediting`` finds it when that arrives)."""
    ident = credited_ident(article)
    if ident:
        db.execute("INSERT INTO credits (article_id, source_ident) VALUES (?, ?) ON CONFLICT DO NOTHING",
                   (article_id, ident))


def record_copy(db: Connection, article_id: int, original_id: int, reason: str, *, now: float) -> None:
    """``article_id`` is a copy of ``original_id``: ``db``'s part of the read that recorded it."""
    db.execute("INSERT INTO copies (article_id, original_id, reason, recorded_at) VALUES (?, ?, ?, ?) "
               "ON CONFLICT DO NOTHING", (article_id, original_id, reason, now))


class CopiesPart(StorePart):
    """Copies and originals: the part of ``Store`` in this module."""

    def originals_for(self, idents: Iterable[str]) -> dict[str, Original]:
        """Link identity → the first stored article with it (its original, if it is a copy)."""
        wanted = sorted({i for i in idents if i})
        found: dict[str, Original] = {}
        with self.backend.read() as db:
            for chunk in chunks(wanted):
                rows = db.execute(
                    f"""SELECT a.ident, o.id, o.feed, o.link, o.data FROM articles a
                        LEFT JOIN copies c ON c.article_id = a.id
                        JOIN articles o ON o.id = COALESCE(c.original_id, a.id)
                        WHERE a.ident IN ({marks(chunk)}) ORDER BY a.id""", chunk).fetchall()
                for r in rows:
                    if r["ident"] in found:
                        continue
                    article = article_from_json(r["data"])
                    found[r["ident"]] = Original(int(r["id"]), r["feed"], r["link"], article.title,
                                                 article.language)
        return found

    def crediting(self, idents: Iterable[str]) -> dict[str, list[Crediting]]:
        """Link identity → the stored articles crediting it, not yet recorded as a copy, oldest first."""
        wanted = sorted({i for i in idents if i})
        found: dict[str, list[Crediting]] = {}
        with self.backend.read() as db:
            for chunk in chunks(wanted):
                rows = db.execute(
                    f"""SELECT k.source_ident, a.id, a.feed, a.link, a.data,
                               EXISTS (SELECT 1 FROM outbox o WHERE o.article_id = a.id) AS posted
                        FROM credits k JOIN articles a ON a.id = k.article_id
                        WHERE k.source_ident IN ({marks(chunk)})
                          AND NOT EXISTS (SELECT 1 FROM copies c WHERE c.article_id = a.id)
                        ORDER BY a.id""", chunk).fetchall()
                for r in rows:
                    article = article_from_json(r["data"])
                    found.setdefault(r["source_ident"], []).append(Crediting(
                        int(r["id"]), r["feed"], r["link"], article.title, article.language,
                        bool(r["posted"])))
        return found

    def copies_for(self, original_ids: Sequence[int]) -> dict[int, list[CopyRecord]]:
        """Of ``original_ids``, those with copies recorded: their copies, oldest first."""
        out: dict[int, list[CopyRecord]] = {}
        for record in self._copies("original_id", original_ids):
            out.setdefault(record.original_id, []).append(record)
        return out

    def copies_of(self, article_ids: Sequence[int]) -> dict[int, CopyRecord]:
        """Of ``article_ids``, those recorded as a copy, with their original."""
        return {record.article_id: record for record in self._copies("article_id", article_ids)}

    def _copies(self, column: str, ids: Sequence[int]) -> list[CopyRecord]:
        """The copies whose ``column`` (``article_id`` or ``original_id``) is one of ``ids``, oldest first."""
        return [CopyRecord(int(r[0]), int(r[1]), r[2], float(r[3]))
                for chunk in chunks(list(dict.fromkeys(ids)))
                for r in self.backend.query(
                    f"SELECT article_id, original_id, reason, recorded_at FROM copies "
                    f"WHERE {column} IN ({marks(chunk)}) ORDER BY article_id", chunk)]
