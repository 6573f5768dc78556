"""The re-generated feed for mirror sites: RSS 2.0, Atom 1.0 and JSON Feed 1.1.

Mirror sites (SPIP, WordPress with FeedWordPress or WP RSS Aggregator,
static sites) import these files unattended and republish each article with
a credit, so every item carries:

- its **original** publication date as its date (``Article.published``; a
  day-only date at 12:00 UTC), a stable id, and the canonical source link,
- an author (the article's, else the credited source), categories, its
  language, the standfirst as its summary, the full sanitised HTML with
  every URL absolute,
- a credit line, "First published on 13 October 2022 by Anti*Capitalist
  Resistance at https://…", at the end of both the content and the summary,
- the lead image (RSS ``<enclosure>`` + ``media:content``, Atom
  ``link rel="enclosure"``, JSON ``image``) with its alt text,
- for a repost, the original (RSS ``<source>``, Atom ``<source>`` and
  ``link rel="via"``, JSON ``external_url`` and ``_syndicate.source``),
- what happened since (``changes``): its real update date, links to the
  posts made of it, its copies; an article gone at source leaves the feeds
  and the Atom feed carries a tombstone for it (RFC 6721).

The items are the ``output.max_items`` most recently *added* articles
(``Store.latest_articles``), so an old article reposted today is in the
feed, dated by its original publication.

``render_feeds`` is pure (articles + config + clock → bytes);
``write_feeds`` writes the files; ``check_feeds`` says, one line per file,
whether what is on disk is valid.  By job: ``items`` (what the formats
share), ``changes`` (what mirrors are told since), ``rss``, ``atom``,
``jsonfeed``, ``files``, ``check``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from syndicate.config import OutputConfig
from syndicate.feed_out.atom import render_atom
from syndicate.feed_out.changes import Life, life_of, select_items, tombstone_since
from syndicate.feed_out.check import check_feeds
from syndicate.feed_out.files import changed_feeds, recorded_dates, write_feeds, write_files
from syndicate.feed_out.items import (
    ATOM_FILE,
    FEED_FILES,
    JSON_FILE,
    RSS_FILE,
    channel,
    credit_line,
    self_urls,
)
from syndicate.feed_out.jsonfeed import render_json
from syndicate.feed_out.rss import render_rss
from syndicate.models import Article

__all__ = [
    "ATOM_FILE",
    "FEED_FILES",
    "JSON_FILE",
    "MEDIA_TYPES",
    "Life",
    "RSS_FILE",
    "changed_feeds",
    "check_feeds",
    "credit_line",
    "life_of",
    "recorded_dates",
    "render_feeds",
    "self_urls",
    "tombstone_since",
    "write_feeds",
    "write_files",
]

MEDIA_TYPES = {
    RSS_FILE: "application/rss+xml; charset=utf-8",
    ATOM_FILE: "application/atom+xml; charset=utf-8",
    JSON_FILE: "application/feed+json; charset=utf-8",
}


def render_feeds(
    articles: Sequence[Article],
    output: OutputConfig,
    *,
    now: datetime,
    site_names: Mapping[str, str] | None = None,
    life: Life | None = None,
) -> dict[str, bytes]:
    """``{"feed.xml": RSS 2.0, "feed.atom": Atom 1.0, "feed.json": JSON Feed 1.1}``.

    ``articles`` most recently added first (as ``Store.latest_articles``
    gives them); the first ``output.max_items`` distinct ids are the items,
    in that order.  ``now`` is the build date (RSS ``lastBuildDate``, Atom
    ``updated``), to the second.  ``site_names`` maps ``Article.feed`` to the
    name the credit line gives a feed's own articles.  ``life``: what mirrors
    are told of the articles since (``changes``: real updates, posts, copies,
    tombstones).
    """
    items = select_items(articles, output.max_items, site_names, life)
    chan = channel(output)
    return {
        RSS_FILE: render_rss(items, chan, now),
        ATOM_FILE: render_atom(items, chan, now, life.tombstones if life else ()),
        JSON_FILE: render_json(items, chan),
    }
