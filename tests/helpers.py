"""Small helpers shared by the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title>Anti*Capitalist Resistance</title><link>https://anticapitalistresistance.org/</link>
<description>ACR</description><language>en-GB</language>
{items}
</channel></rss>"""
ITEM = """<item><title>Article {n}</title><link>https://anticapitalistresistance.org/a{n}/</link>
<guid isPermaLink="false">https://anticapitalistresistance.org/?p={n}</guid>
<pubDate>Thu, {day:02d} Oct 2025 10:00:00 +0000</pubDate><dc:creator>Writer {n}</dc:creator>
<category>Ecosocialism</category>
<description><![CDATA[<p><strong>Lead paragraph of article {n}.</strong></p><p>Body.</p>]]></description></item>"""


def rss(ns: Iterable[int]) -> bytes:
    """An ACR-like RSS feed with items numbered ``ns``."""
    return RSS.format(items="".join(ITEM.format(n=n, day=n) for n in ns)).encode()


def run_cli(*args: str, config_path: Path, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m syndicate --config PATH ARGS`` (in ``cwd``) with only ``env``'s SYNDICATE_
    variables."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "syndicate", "--config", str(config_path), *args],
                          capture_output=True, text=True, env=full, timeout=120, cwd=cwd)


def wait_until(condition: Callable[[], object], timeout: float = 15.0, step: float = 0.05) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


def record_links(value: dict) -> set[str]:
    """The URLs a Bluesky post record links to: its link facets' and its card's. The text itself
    may show a link shortened, as the app does, so tests find a post by these, not by its text."""
    uris = {feature["uri"] for facet in value.get("facets") or ()
            for feature in facet["features"] if feature["$type"] == "app.bsky.richtext.facet#link"}
    external = (value.get("embed") or {}).get("external") or {}
    if external.get("uri"):
        uris.add(external["uri"])
    return uris


def assert_posted_once(links: list[str], statuses: list[dict], records: list[dict], why: str = "") -> None:
    """Exactly once on each platform, by what its server holds: every link in one Mastodon status
    and in one Bluesky record (``record_links``), none twice, and no other post."""
    for platform, posts, holds in (
            ("mastodon", statuses, lambda post, link: link in post["text"]),
            ("bluesky", records, lambda post, link: link in record_links(post["value"]))):
        on = Counter(link for post in posts for link in links if holds(post, link))
        missing = [link for link in links if on[link] == 0]
        doubled = {link: n for link, n in on.items() if n > 1}
        assert not missing and not doubled, f"{why} {platform}: missing {missing}, doubled {doubled}"
        assert len(posts) == len(links), f"{why} {len(posts)} posts on {platform} for {len(links)} links"
