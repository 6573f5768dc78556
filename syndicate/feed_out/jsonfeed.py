"""JSON Feed 1.1 (``feed.json``), with the standard library.

Per item: ``id``, ``url``, ``external_url`` (a repost's original),
``title``, ``content_html``, ``summary``, ``image``, ``date_published`` (the
original date), ``date_modified``, ``authors`` (always one), ``tags``,
``language``, and our own ``_syndicate`` object (custom keys start with an
underscore, as the spec asks): the credit, the credited source, the image's
alt text, the rights statement, ``date_only`` for a day-only date, ``posts``
(the URLs of the posts made of it) and ``copies`` (its copies' links).
The feed carries ``home_page_url``, ``feed_url``, ``hubs`` (WebSub) and
``_syndicate.rights`` (the channel's licence).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from syndicate.feed_out.items import JSON_FILE, Channel, Item, rfc3339

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"


def _entry(item: Item) -> dict[str, object]:
    entry: dict[str, object] = {"id": item.id}
    if item.link:
        entry["url"] = item.link
    if item.repost_url:
        entry["external_url"] = item.repost_url
    entry["title"] = item.title
    entry["content_html"] = item.content_html
    entry["summary"] = item.summary_text
    if item.image:
        entry["image"] = item.image
    entry["date_published"] = rfc3339(item.published)
    entry["date_modified"] = rfc3339(item.updated)
    entry["authors"] = [{"name": item.author}]
    if item.categories:
        entry["tags"] = list(item.categories)
    if item.language:
        entry["language"] = item.language
    ext: dict[str, object] = {
        "first_published": rfc3339(item.published),
        "source": {"name": item.source_name, "url": item.source_url or None},
        "credit": item.credit,
    }
    if item.date_only:
        ext["date_only"] = True
    if item.image_alt:
        ext["image_alt"] = item.image_alt
    if item.rights:
        ext["rights"] = item.rights
    if item.posts:
        ext["posts"] = list(item.posts)
    if item.copies:
        ext["copies"] = list(item.copies)
    entry["_syndicate"] = ext
    return entry


def render_json(items: Sequence[Item], channel: Channel) -> bytes:
    feed: dict[str, object] = {"version": JSON_FEED_VERSION, "title": channel.title}
    if channel.link:
        feed["home_page_url"] = channel.link
    if JSON_FILE in channel.self_urls:
        feed["feed_url"] = channel.self_urls[JSON_FILE]
    feed["description"] = channel.description
    if channel.language:
        feed["language"] = channel.language
    if channel.hub:
        feed["hubs"] = [{"type": "WebSub", "url": channel.hub}]
    if channel.rights:
        feed["_syndicate"] = {"rights": channel.rights}
    feed["items"] = [_entry(item) for item in items]
    return (json.dumps(feed, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
