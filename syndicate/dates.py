"""An article's dates as posts, previews and the mirror feeds write them.  Pure.

``format_date`` gives ``13 October 2022`` (day, English month, year: in UTC
or in a zone east of it); ``published_day`` the day the article was first
published as its source saw it.  Its own module, so a command that prints a
date (``preview``, ``show``) does not import the composer to do it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syndicate.models import Article

__all__ = ["dated_by_feed", "format_date", "published_day"]

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)


def format_date(dt: datetime, utc_offset: int | None = None) -> str:
    """``13 October 2022``: day without a leading zero, English month, in UTC, or in the zone
    ``utc_offset`` minutes east of it."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    if utc_offset:
        dt += timedelta(minutes=utc_offset)
    return f"{dt.day} {_MONTHS[dt.month - 1]} {dt.year}"


def published_day(article: Article) -> str:
    """The day ``article`` was first published, as its source saw it: a date the feed gave in
    its zone (00:30 +02:00 is that day, not the UTC day before); a day-only date (a credit's,
    or a feed's without a time) as that day."""
    return format_date(article.published, article.utc_offset if dated_by_feed(article) else None)


def dated_by_feed(article: Article) -> bool:
    """Is the article dated by its feed's own date and time (so in the zone the feed wrote it)?"""
    return not article.date_only and article.published == article.feed_published
