"""Content warnings by category, and an image's alt text: pure choices a platform's draft uses.

A target's ``content_warnings`` maps a category to the warning its posts
carry (the first of the article's categories, in the article's order, that
the map names, ignoring case).  How the warning is shown is the platform's:
Mastodon puts it in ``spoiler_text``; Bluesky self-labels the post where the
warning is one of its self-labels (``SELF_LABELS``), else opens the text
with a warning line (``warning_line``).

An image's alt text is the feed's own (``media:description``, the image's
``alt``: ``Article.image_alt``), else the card's title.
"""

from __future__ import annotations

from collections.abc import Mapping

from syndicate.models import Article

__all__ = ["SELF_LABELS", "alt_text", "warning_for", "warning_line"]

#: The labels Bluesky lets an account put on its own post (the app's "adult content" choices).
SELF_LABELS = frozenset({"sexual", "nudity", "porn", "graphic-media"})


def warning_for(article: Article, warnings: Mapping[str, str]) -> tuple[str, str] | None:
    """(the warning, the category that called for it), or None."""
    by_name = {name.casefold(): text for name, text in warnings.items() if text.strip()}
    for category in article.categories:
        text = by_name.get(category.casefold())
        if text is not None:
            return text.strip(), category
    return None


def warning_line(warning: str) -> str:
    """The line a post without a content-warning field opens with."""
    return f"CW: {warning}"


def alt_text(article: Article, card_title: str) -> tuple[str, str]:
    """(the alt text of the article's image, where it came from)."""
    if article.image_alt and article.image_alt.strip():
        return article.image_alt.strip(), "the feed's image description"
    return card_title.strip(), "the card title"
