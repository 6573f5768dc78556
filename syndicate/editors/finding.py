"""Articles the store does not hold yet: an entry of a configured feed, or an old article's page.

Both go through one ``Fetcher``: feeds are the operator's own URLs (fetched
wherever they point); a page is what an editor named, so it is fetched
under the configuration's ``security:`` policy (no private addresses, ports
80 and 443), as everything feed content names.  A feed or page that cannot
be read is a one-line problem, returned beside the answer, never raised.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from syndicate.config import Config
    from syndicate.fetch import Fetcher
    from syndicate.models import Article

PAGE_MAX_BYTES = 5_000_000
PAGE_TIMEOUT = 20.0


def is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://"))


def in_feeds(config: Config, fetcher: Fetcher, ref: str, now: datetime) -> tuple[Article | None, list[str]]:
    """The entry of a configured feed whose guid is ``ref``, or whose link has ``ref``'s identity."""
    from syndicate.errors import FeedError
    from syndicate.links import link_identity
    from syndicate.parse import normalise, parse_feed

    wanted = link_identity(ref) if is_url(ref) else None
    problems: list[str] = []
    for feed in config.feeds:
        try:
            got = fetcher.fetch_feed(feed.name, feed.url, timeout=feed.timeout, max_bytes=feed.max_bytes)
            parsed = parse_feed(feed.name, got.content or b"", base_url=got.url, headers=got.headers)
        except FeedError as exc:
            problems.append(str(exc))
            continue
        for entry in parsed.entries:
            if entry.id == ref or (wanted is not None and link_identity(entry.link) == wanted):
                return normalise(feed.name, entry, parsed, now=now, language=feed.language,
                              force_language=feed.force_language), problems
    return None, problems


def on_its_page(config: Config, fetcher: Fetcher, url: str,
                now: datetime) -> tuple[Article | None, str | None]:
    """The article at ``url``, read from its own page (og:, JSON-LD, canonical link); it belongs
    to the configured feed on the same host, else to ``manual``."""
    from syndicate.errors import FetchError
    from syndicate.page import article_from_page

    host = urlsplit(url).hostname
    feed = next((f.name for f in config.feeds if urlsplit(f.url).hostname == host), "manual")
    try:
        body, _type = fetcher.get_bytes(url, max_bytes=PAGE_MAX_BYTES, timeout=PAGE_TIMEOUT,
                                        accept="text/html,application/xhtml+xml", label=f"page {url}")
        return article_from_page(url, body, feed=feed, now=now), None
    except (FetchError, ValueError) as exc:
        return None, str(exc)
