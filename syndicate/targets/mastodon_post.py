"""What a Mastodon status is made of, before any network call: the platform's rules as data
and the draft (the composed text, and the image card for ``thumbnail: true``).  Its
``PLATFORM`` is what the registry holds: drafting (``preview``, the editors' page) needs
this module only; the adapter is imported when ``build`` first makes one.

An instance says its own limits (``/api/v2/instance``); the adapter
(``syndicate.targets.mastodon``) reads them, and ``offline_limits`` is what
they are taken to be without asking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from syndicate.config import MastodonTarget
from syndicate.content_warnings import alt_text, warning_for
from syndicate.images import SAFE_FORMATS
from syndicate.models import Article, ImageRules, LinkCard, PostDraft, TargetLimits
from syndicate.targets.base import Platform, adapter_in
from syndicate.textlen import count_graphemes
from syndicate.value import replace

if TYPE_CHECKING:
    from syndicate.compose import Composed

__all__ = ["IMAGES", "LIMITS", "PLATFORM", "draft", "mastodon_limits", "offline_limits", "reserve"]

#: Mastodon's defaults (``StatusLengthValidator``): 500 graphemes, every URL 23; an instance
#: says its own (``limits()``).
LIMITS = TargetLimits(max_length=500, url_length=23, unit="graphemes")
#: Mastodon 4's image_size_limit (16 MB); its pixel limit (33 MP) is above what we decode, so an
#: image goes as it came.
IMAGES = ImageRules(max_bytes=16 * 1024 * 1024, max_side=None, formats=frozenset(SAFE_FORMATS))


def mastodon_limits(
    max_characters: int = 500, characters_reserved_per_url: int = 23, spoiler_text: str | None = None
) -> TargetLimits:
    """Limits for a Mastodon instance (``/api/v2/instance`` configuration.statuses).

    Mastodon counts the content warning and the text in one budget (the CW
    literally), so a CW's graphemes are taken off ``max_length``.
    """
    reserved = count_graphemes(spoiler_text) if spoiler_text else 0
    return TargetLimits(
        max_length=max_characters - reserved, url_length=characters_reserved_per_url, unit="graphemes"
    )


def offline_limits(cfg: MastodonTarget) -> TargetLimits:
    """What the limits are without asking the instance: 500 (or ``max_length``), 23 per URL,
    less the content warning."""
    return mastodon_limits(cfg.max_length or LIMITS.max_length, LIMITS.url_length or 23, cfg.content_warning)


def reserve(article: Article, cfg: MastodonTarget) -> tuple[int, int]:
    """An article's own content warning is counted with the text, in place of the target's."""
    found = warning_for(article, cfg.content_warnings)
    if found is None:
        return 0, 0
    return count_graphemes(found[0]) - (count_graphemes(cfg.content_warning) if cfg.content_warning else 0), 0


def draft(article: Article, composed: Composed, cfg: MastodonTarget) -> PostDraft:
    """The status: the composed text; with ``thumbnail: true``, a card naming the article's image,
    uploaded with its alt text (the feed's description of it, else the title; Mastodon makes
    its own link cards); the article's content warning (``content_warnings``), else the target's."""
    from syndicate.compose import card_title  # (when a post is drafted, not when the adapter is built)

    card = None
    notes: list[str] = []
    alt = None
    if cfg.thumbnail and article.image:
        title = card_title(article.title, article.standfirst, article.link)
        card = LinkCard(article.link, title, "", article.image)
        alt, where = alt_text(article, title)
        notes.append(f"thumbnail {article.image} with alt text from {where}: {alt!r}")
    found = warning_for(article, cfg.content_warnings)
    warning = found[0] if found else cfg.content_warning
    if found:
        notes.append(f"content warning {found[0]!r} (category {found[1]!r})")
    elif cfg.content_warning:
        notes.append(f"content warning {cfg.content_warning!r} (the target's)")
    if cfg.quote_policy:
        notes.append(f"quotes: {cfg.quote_policy} (quote_approval_policy, sent if the instance knows it)")
    return replace(composed.to_draft(card=card, notes=notes), content_warning=warning or None, image_alt=alt)


PLATFORM = Platform(kind="mastodon", config=MastodonTarget, limits=LIMITS, offline_limits=offline_limits,
                    reserve=reserve, build=adapter_in("syndicate.targets.mastodon"), draft=draft)
