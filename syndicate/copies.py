"""One article, one item: an entry that is a copy of an article we already hold is recorded as such.

A mirror republishes an ACR piece with a credit ("This article was first
published by Anti*Capitalist Resistance at https://…"), or one of our feeds
carries the same piece as another under its own link.  When a new entry's
credited source (``Article.source.url``, read by ``summary.credits``) has
the link identity of a stored article, and the feed has ``merge_copies:
true`` (the default), the entry is recorded as a **copy** of that article:

- it gets no outbox rows of its own (the original's posts stand for it),
  and is recorded with the reason (``Store.copies_of``), shown by
  ``status``, the page and the previews;
- the mirror feeds carry one item, the original's, listing its copies
  (``feed_out.changes``).

The other way round too: a new entry that stored articles credit (they are
copies that arrived first; ``Store.crediting``) is the original.  Those are
recorded as its copies, so the feeds carry it instead; if one of them was
queued for posting, the original is not (its copies' posts stand for it: the
posts are made once), else it is posted as any new article.

A **translation** is not a copy: an entry whose language differs from the
original's (their primary subtags: ``fr`` and ``en-GB``) under another title
stays its own article, posted and in the feeds, credited to the original.
(A feed's language is the language of each of its entries, so a French
mirror's English copy keeps the original's title: the same title makes it a
copy, whatever the feed says.)  An entry with the same link as a stored one
is already that article (``plan``: "another feed's copy").

``mark_copies`` is pure (a plan and the originals found → the plan with its
copies marked); ``merge_copies`` looks the originals up and logs each copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from syndicate.lazylog import getLogger
from syndicate.links import link_identity
from syndicate.store.copies import Crediting, Original, credited_ident
from syndicate.value import replace

if TYPE_CHECKING:  # the plan's values (``intent``) are imported where a plan is marked: status never does
    from syndicate.config import FeedConfig
    from syndicate.intent import FeedPlan, NewArticle
    from syndicate.models import Article
    from syndicate.store import Store

__all__ = ["copy_notes", "credited_ident", "is_translation", "mark_copies", "merge_copies"]

log = getLogger("syndicate.copies")


def _primary(language: str | None) -> str:
    return (language or "").split("-")[0].strip().lower()


def _title(text: str) -> str:
    return " ".join(text.casefold().split())


def _translated(language: str | None, title: str, other_language: str | None, other_title: str) -> bool:
    mine, theirs = _primary(language), _primary(other_language)
    return bool(mine and theirs and mine != theirs and _title(title) != _title(other_title))


def is_translation(copy: Article, original: Original) -> bool:
    """Another language (primary subtags) under another title: a translation, not a copy."""
    return _translated(copy.language, copy.title, original.language, original.title)


def _reason(link: str, feed: str) -> str:
    return f"it credits {link} ({feed}) as where it was first published"


def _as_copy(intent: NewArticle, originals: Mapping[str, Original]) -> NewArticle | None:
    from syndicate.intent import NewArticle

    original = originals.get(credited_ident(intent.article))
    if original is None or link_identity(intent.article.link) == link_identity(original.link) \
            or is_translation(intent.article, original):
        return None
    return NewArticle(intent.article, "none", copy_of=original.article_id,
                      copy_reason=_reason(original.link, original.feed))


def _as_original(intent: NewArticle, crediting: Mapping[str, Sequence[Crediting]]) -> NewArticle | None:
    from syndicate.intent import NewArticle

    article = intent.article
    copies = [c for c in crediting.get(link_identity(article.link), ())
              if link_identity(c.link) != link_identity(article.link)
              and not _translated(c.language, c.title, article.language, article.title)]
    if not copies:
        return None
    why = _reason(article.link, article.feed)
    if any(c.posted for c in copies):  # its copies' posts stand for it: posted once
        return NewArticle(article, "none", copies=tuple(c.article_id for c in copies), copy_reason=why)
    return replace(intent, copies=tuple(c.article_id for c in copies), copy_reason=why)


def mark_copies(plan: FeedPlan, originals: Mapping[str, Original],
                crediting: Mapping[str, Sequence[Crediting]] | None = None) -> FeedPlan:
    """``plan`` with each new article that copies one of ``originals`` (by its credited source's
    link identity) recorded as a copy, with no deliveries; and each that ``crediting`` articles
    copy recorded as their original (not posted when one of them was)."""
    from syndicate.intent import NewArticle

    intents = []
    changed = False
    for intent in plan.intents:
        if isinstance(intent, NewArticle):
            marked = _as_copy(intent, originals) or _as_original(intent, crediting or {})
            if marked is not None:
                intent, changed = marked, True
        intents.append(intent)
    return replace(plan, intents=tuple(intents)) if changed else plan


def merge_copies(feed: FeedConfig, plan: FeedPlan, store: Store) -> FeedPlan:
    """``mark_copies`` with what the store holds, when the feed merges copies; a log line each."""
    if not feed.merge_copies or not plan.new:
        return plan
    sources = {credited_ident(i.article) for i in plan.new} - {""}
    links = {link_identity(i.article.link) for i in plan.new} - {""}
    marked = mark_copies(plan, store.originals_for(sources) if sources else {}, store.crediting(links))
    for intent in marked.new:
        if intent.copy_of is not None:
            log.info("article recorded as a copy, not posted",
                     extra={"feed": feed.name, "article": intent.article.link, "original": intent.copy_of})
        elif intent.copies:
            log.info("article recorded as the original of copies that arrived first",
                     extra={"feed": feed.name, "article": intent.article.link,
                            "copies": ",".join(map(str, intent.copies)),
                            "posted": intent.deliveries != "none"})
    return marked


def copy_notes(store: Store, article_ids: Sequence[int]) -> dict[int, str]:
    """Article id → what editors are told of one recorded as a copy, or as the original of copies
    whose posts stand for its own."""
    notes = {i: f"a copy of article {c.original_id}: {c.reason}; not posted itself (the original's "
                f"posts stand for it), and the mirror feeds carry the original"
             for i, c in store.copies_of(article_ids).items()}
    for original, copies in store.copies_for([i for i in article_ids if i not in notes]).items():
        if not store.deliveries(original):
            posted = [c.article_id for c in copies if store.deliveries(c.article_id)]
            if posted:
                notes[original] = ("not posted itself: its copy " + ", ".join(f"article {i}" for i in posted)
                                   + " arrived first and was posted; the mirror feeds carry this original")
    return notes
