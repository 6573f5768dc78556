"""Golden files: a feed in tests/data/golden/ beside what it must become.

For each ``<case>.rss|.xml|.rdf`` the expected outputs are
``<case>.mastodon.txt`` (every item's Mastodon status), ``<case>.bluesky.json``
(text, facets and card of every Bluesky post) and ``<case>.feed.xml`` (the
re-generated RSS for mirror sites).  A new case is a new file, not new
code.  Regenerate after an intended change with ``UPDATE_GOLDEN=1 pytest
tests/test_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syndicate.config import BlueskyTarget, HashtagConfig, MastodonTarget, OutputConfig
from syndicate.feed_out import render_feeds
from syndicate.parse import normalise, parse_feed
from syndicate.targets import draft_post
from syndicate.targets.bluesky_post import LIMITS as BLUESKY_LIMITS
from syndicate.targets.mastodon_post import LIMITS as MASTODON_LIMITS

GOLDEN = Path(__file__).parent / "data" / "golden"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CASES = sorted(p for p in GOLDEN.iterdir() if p.suffix in {".rss", ".xml", ".rdf"} and ".feed." not in p.name)
HASHTAGS = HashtagConfig(limit=3, map={"Uncategorized": ""}).rules()
MASTODON = MastodonTarget(kind="mastodon", instance="https://masto.example")
BLUESKY = BlueskyTarget(kind="bluesky", handle="acr.test")
OUTPUT = OutputConfig(title="ACR mirror feed", link="https://anticapitalistresistance.org/",
                      self_url="https://mirror.example/feed.xml")


def render(case: Path) -> dict[str, str]:
    parsed = parse_feed(case.stem, case.read_bytes(), base_url="https://anticapitalistresistance.org/feed/")
    articles = [normalise(case.stem, e, parsed, now=NOW) for e in parsed.entries]
    mastodon, bluesky = [], []
    for a in articles:
        m = draft_post(a, "mastodon", MASTODON, limits=MASTODON_LIMITS, hashtags=HASHTAGS)
        b = draft_post(a, "bluesky", BLUESKY, limits=BLUESKY_LIMITS, hashtags=HASHTAGS)
        mastodon.append(f"===== {a.link} ({m.length}/{MASTODON_LIMITS.max_length})\n{m.text}\n")
        bluesky.append({"link": a.link, "text": b.text, "length": b.length,
                        "facets": [asdict(f) for f in b.facets], "card": asdict(b.card) if b.card else None})
    feeds = render_feeds(articles, OUTPUT, now=NOW, site_names={case.stem: parsed.title})
    return {
        "mastodon.txt": "\n".join(mastodon),
        "bluesky.json": json.dumps(bluesky, ensure_ascii=False, indent=2) + "\n",
        "feed.xml": feeds["feed.xml"].decode(),
    }


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden(case: Path):
    outputs = render(case)
    for suffix, actual in outputs.items():
        expected_path = case.with_name(f"{case.stem}.{suffix}")
        if os.environ.get("UPDATE_GOLDEN") or not expected_path.exists():
            expected_path.write_text(actual, encoding="utf-8")
            if not os.environ.get("UPDATE_GOLDEN"):
                pytest.fail(f"{expected_path.name} was missing and has been written: review and commit it")
        assert actual == expected_path.read_text(encoding="utf-8"), f"{expected_path.name} differs"


def test_golden_cases_cover_the_seed_article_and_a_repost():
    text = (GOLDEN / "acr.mastodon.txt").read_text()
    assert "Stalinist Realism and Open Communism" in text
    assert "First published 13 October 2022" in text
    assert "https://anticapitalistresistance.org/stalinist-realism-and-open-communism-2/" in text
    assert " in Red Pepper" in text  # the repost's original source is credited
    mirror = (GOLDEN / "mirror-credit.feed.xml").read_text()
    assert "First published on" in mirror
