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

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace

from syndicate.config import FeedConfig
from syndicate.intent import FeedPlan, NewArticle
from syndicate.links import link_identity
from syndicate.models import Article
from syndicate.store import Store
from syndicate.store.copies import Original

__all__ = ["copy_notes", "credited_ident", "is_translation", "mark_copies", "merge_copies"]

log = logging.getLogger("syndicate.copies")


def credited_ident(article: Article) -> str:
    """The link identity of the source ``article`` credits ("" : it credits none with a link)."""
    url = article.source.url if article.source else None
    return link_identity(url) if url else ""


def _primary(language: str | None) -> str:
    return (language or "").split("-")[0].strip().lower()


def _title(text: str) -> str:
    return " ".join(text.casefold().split())


def is_translation(article: Article, original: Original) -> bool:
    """Another language (primary subtags) under another title: a translation, not a copy."""
    mine, theirs = _primary(article.language), _primary(original.language)
    return bool(mine and theirs and mine != theirs and _title(article.title) != _title(original.title))


def mark_copies(plan: FeedPlan, originals: Mapping[str, Original]) -> FeedPlan:
    """``plan`` with each new article that copies one of ``originals`` (by its credited source's
    link identity) recorded as a copy, with no deliveries."""
    intents = []
    changed = False
    for intent in plan.intents:
        if isinstance(intent, NewArticle):
            original = originals.get(credited_ident(intent.article))
            if original is not None and link_identity(intent.article.link) != link_identity(original.link) \
                    and not is_translation(intent.article, original):
                why = (f"a copy of article {original.article_id} ({original.feed}): it credits "
                       f"{original.link} as where it was first published")
                intent = NewArticle(intent.article, "none", copy_of=original.article_id, copy_reason=why)
                changed = True
        intents.append(intent)
    return replace(plan, intents=tuple(intents)) if changed else plan


def merge_copies(feed: FeedConfig, plan: FeedPlan, store: Store) -> FeedPlan:
    """``mark_copies`` with the originals the store holds, when the feed merges copies; one log line
    per copy."""
    if not feed.merge_copies:
        return plan
    idents = {credited_ident(i.article) for i in plan.new} - {""}
    if not idents:
        return plan
    marked = mark_copies(plan, store.originals_for(idents))
    for intent in marked.new:
        if intent.copy_of is not None:
            log.info("article recorded as a copy, not posted",
                     extra={"feed": feed.name, "article": intent.article.link, "original": intent.copy_of})
    return marked


def copy_notes(store: Store, article_ids: Sequence[int]) -> dict[int, str]:
    """Article id → what editors are told of one recorded as a copy."""
    return {i: f"{c.reason}; not posted itself: the original's posts stand for it, and the mirror "
               f"feeds carry the original" for i, c in store.copies_of(article_ids).items()}
