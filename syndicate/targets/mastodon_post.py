"""What a Mastodon status is made of, before any network call: the platform's rules as data
and the draft (the composed text, and the image card for ``thumbnail: true``).

An instance says its own limits (``/api/v2/instance``); the adapter
(``syndicate.targets.mastodon``) reads them, and ``offline_limits`` is what
they are taken to be without asking.
"""

from __future__ import annotations

from syndicate.compose import Composed
from syndicate.config import MastodonTarget
from syndicate.images import SAFE_FORMATS
from syndicate.models import Article, ImageRules, LinkCard, PostDraft, TargetLimits
from syndicate.textlen import count_graphemes

__all__ = ["IMAGES", "LIMITS", "draft", "mastodon_limits", "offline_limits"]

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


def draft(article: Article, composed: Composed, cfg: MastodonTarget) -> PostDraft:
    """The status: the composed text; with ``thumbnail: true``, a card naming the article's image,
    which the adapter uploads with the title as its alt text (Mastodon makes its own link cards)."""
    card = None
    if cfg.thumbnail and article.image:
        card = LinkCard(article.link, article.title, "", article.image)
    return composed.to_draft(card=card)
