"""Articles recorded as another's copy (table ``copies``), and the originals a copy may credit.

``originals_for(idents)`` finds the stored articles whose link has one of
these identities (``syndicate.links.link_identity``): what a new entry's
credited source may be (``syndicate.copies``).  An article that is itself a
copy stands for its original.  ``record_copy`` is written in the transaction
that records the copy (``articles._record``); ``copies_of`` reads what the
editors are told.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from syndicate.store.article_json import article_from_json
from syndicate.store.backend import Connection
from syndicate.store.part import StorePart

__all__ = ["CopiesPart", "CopyRecord", "Original", "record_copy"]

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Original:
    """A stored article a new entry may be a copy of."""

    article_id: int
    feed: str
    link: str
    title: str
    language: str | None


@dataclass(frozen=True, slots=True)
class CopyRecord:
    article_id: int
    original_id: int
    reason: str
    recorded_at: float


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
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start:start + _CHUNK]
                rows = db.execute(
                    f"""SELECT a.ident, o.id, o.feed, o.link, o.data FROM articles a
                        LEFT JOIN copies c ON c.article_id = a.id
                        JOIN articles o ON o.id = COALESCE(c.original_id, a.id)
                        WHERE a.ident IN ({','.join('?' * len(chunk))}) ORDER BY a.id""", chunk).fetchall()
                for r in rows:
                    if r["ident"] in found:
                        continue
                    article = article_from_json(r["data"])
                    found[r["ident"]] = Original(int(r["id"]), r["feed"], r["link"], article.title,
                                                 article.language)
        return found

    def copies_of(self, article_ids: Sequence[int]) -> dict[int, CopyRecord]:
        """Of ``article_ids``, those recorded as a copy, with their original."""
        out: dict[int, CopyRecord] = {}
        ids = list(dict.fromkeys(article_ids))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            for r in self.backend.query(
                    f"SELECT article_id, original_id, reason, recorded_at FROM copies "
                    f"WHERE article_id IN ({','.join('?' * len(chunk))})", chunk):
                out[int(r[0])] = CopyRecord(int(r[0]), int(r[1]), r[2], float(r[3]))
        return out
