"""Is an edit worth carrying over, and what does each target do with it: pure, no I/O.

An article stored again (``plan.revised``) may differ from the one posted
in ways no reader sees: a re-indented title, ``&amp;`` spelt ``&#38;``, a
link with ``utm_source`` added.  ``substantive(before, after)`` names the
fields that *really* changed, of those a post is made of — ``title``,
``author``, ``standfirst``, ``published`` (the original date), ``source``
(a repost's credit) and ``link`` — each compared as text normalised
(entities decoded, Unicode NFC, whitespace collapsed) and links by their
canonical form (tracking parameters, fragment and default port dropped).
An empty tuple: nothing to carry over.

``action(policy, changed)`` is what a target's ``edits:`` policy does with
it: Mastodon ``edit`` (the status is edited in place) or ``ignore``;
Bluesky ``keep`` (the default: the record is left as it is), ``replace``
(deleted and made again at a new key, within ``replace_within`` and only
when nobody has replied, reposted or liked it), ``reply`` (a short
self-reply "Updated: …") or ``ignore``.  ``None``: no outbox operation,
only the history says so (``recorded_only``).
"""

from __future__ import annotations

import html
import unicodedata
from datetime import datetime

from syndicate.links import canonical_url
from syndicate.models import Article

__all__ = ["ACTING", "EDIT_FIELDS", "POLICIES", "action", "recorded_only", "substantive", "update_text"]

EDIT_FIELDS: tuple[str, ...] = ("title", "author", "standfirst", "published", "source", "link")
POLICIES: dict[str, tuple[str, ...]] = {  # platform kind → its ``edits:`` values, default first
    "mastodon": ("edit", "ignore"),
    "bluesky": ("keep", "replace", "reply", "ignore"),
}
ACTING: frozenset[str] = frozenset({"edit", "replace", "reply"})  # policies that make an outbox row


def _text(value: str | None) -> str:
    """What a reader sees of a text: entities decoded (twice: ``&amp;amp;``), NFC, whitespace
    collapsed."""
    value = html.unescape(html.unescape(value or ""))
    return " ".join(unicodedata.normalize("NFC", value).split())


def _link(value: str | None) -> str:
    return canonical_url(value) if value else ""


def _when(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def substantive(before: Article, after: Article) -> tuple[str, ...]:
    """The fields (of ``EDIT_FIELDS``, in that order) a reader of the post would see changed."""
    changed = []
    if _text(before.title) != _text(after.title):
        changed.append("title")
    if _text(before.author) != _text(after.author):
        changed.append("author")
    if _text(before.standfirst) != _text(after.standfirst):
        changed.append("standfirst")
    if _when(before.published) != _when(after.published):
        changed.append("published")
    a, b = before.source, after.source
    if ((_text(a.name) if a else "", _link(a.url) if a else "", _when(a.published) if a else None)
            != (_text(b.name) if b else "", _link(b.url) if b else "", _when(b.published) if b else None)):
        changed.append("source")
    if _link(before.link) != _link(after.link):
        changed.append("link")
    return tuple(changed)


def action(policy: str, changed: tuple[str, ...]) -> str | None:
    """The outbox operation a target's ``policy`` makes of a change: ``edit``, ``replace`` or
    ``reply`` (all queued as an ``edit`` row with that policy), or None (nothing is sent)."""
    if not changed or policy not in ACTING:
        return None
    return policy


def recorded_only(policy: str, changed: tuple[str, ...]) -> str:
    """The history line of a change no operation carries over (``keep``, ``ignore``)."""
    return f"edited at source ({', '.join(changed)}): not carried over (edits: {policy})"


def update_text(article: Article) -> str:
    """A Bluesky self-reply's text for an edited article: ``Updated: <title> <link>`` (the article's
    own link, last: ``operations.reply_draft`` puts its facet there)."""
    return f"Updated: {_text(article.title)} {article.link}".strip()
