"""Golden cases: one behaviour per case, each a feed beside what it must become.

Every ``tests/data/cases/<case>.rss`` (or ``.atom``, ``.xml``, ``.rdf``) is a
feed, written as the system it comes from emits it, holding the entries that
show one behaviour.  Beside it, one expected file per row of ``RENDERERS``:

``<case>.article.json``
    the normalised ``Article`` of every entry, every field, dates ISO 8601;
``<case>.mastodon.txt``
    every entry's Mastodon status;
``<case>.bluesky.json``
    every entry's Bluesky post: text, length, langs, facets and card;
``<case>.feed.xml``
    the re-generated RSS for mirror sites.

A case may also have ``<case>.case.json``, settings for that case only (see
``Settings``): with ``filters``, an entry the feed's filters keep back is
shown in the posts' files as the line editors read ("not posted to mastodon:
excluded by category 'Internal'"), and is still in the mirror feed.  A new case is a new file: write the feed, run ``pytest
tests/test_golden.py``; each missing expected file is written and its test
fails, so review what was written and commit it.  After an intended change,
``UPDATE_GOLDEN=1 pytest tests/test_golden.py`` rewrites them all: review
the diff.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

import pytest

from syndicate.config import BlueskyTarget, HashtagConfig, MastodonTarget, OutputConfig
from syndicate.config.control import FilterConfig
from syndicate.feed_out import render_feeds
from syndicate.filters import judge
from syndicate.models import Article, PostDraft
from syndicate.parse import ParsedFeed, normalise, parse_feed
from syndicate.targets import draft_post
from syndicate.targets.bluesky_post import LIMITS as BLUESKY_LIMITS
from syndicate.targets.mastodon_post import LIMITS as MASTODON_LIMITS

CASES_DIR = Path(__file__).parent / "data" / "cases"
FEED_SUFFIXES = (".rss", ".atom", ".xml", ".rdf")
CASE_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
HASHTAGS = HashtagConfig(limit=3, map={"Uncategorized": ""}).rules()
MASTODON = MastodonTarget(kind="mastodon", instance="https://masto.example")
BLUESKY = BlueskyTarget(kind="bluesky", handle="acr.test")
OUTPUT = OutputConfig(title="ACR mirror feed", link="https://anticapitalistresistance.org/",
                      self_url="https://mirror.example/feed.xml")


@dataclass(frozen=True)
class Settings:
    """What ``<case>.case.json`` may set; every key is optional."""

    base_url: str = "https://anticapitalistresistance.org/feed/"  # where the feed was fetched
    now: str = "2026-11-25T12:00:00+00:00"  # the time of the run (ISO 8601)
    language: str | None = None  # the feed's ``language:`` in feeds.yaml
    filters: dict[str, Any] | None = None  # the feed's ``filters:`` in feeds.yaml


@dataclass(frozen=True)
class Rendered:
    """One case read the way the pipeline reads it."""

    name: str
    parsed: ParsedFeed
    articles: tuple[Article, ...]
    now: datetime
    filtered: dict[str, str]  # article id → why the feed's filters keep it from every target


def _settings(name: str) -> Settings:
    path = CASES_DIR / f"{name}.case.json"
    if not path.exists():
        return Settings()
    data = json.loads(path.read_text(encoding="utf-8"))
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{path.name}: unknown setting(s) {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(known))})")
    return Settings(**data)


@cache
def read_case(feed_file: Path) -> Rendered:
    name = feed_file.name.split(".", 1)[0]
    settings = _settings(name)
    now = datetime.fromisoformat(settings.now).astimezone(UTC)
    parsed = parse_feed(name, feed_file.read_bytes(), base_url=settings.base_url)
    articles = tuple(normalise(name, e, parsed, now=now, language=settings.language)
                     for e in parsed.entries)
    rules = FilterConfig.validate(settings.filters or {}).rules()
    filtered = {a.id: why for a in articles if (why := judge(a, [rules])) is not None}
    return Rendered(name=name, parsed=parsed, articles=articles, now=now, filtered=filtered)


def post(article: Article, platform: Literal["mastodon", "bluesky"]) -> PostDraft:
    """The one place a post is drafted here: adapt this when its signature changes."""
    if platform == "mastodon":
        return draft_post(article, "mastodon", MASTODON, limits=MASTODON_LIMITS, hashtags=HASHTAGS)
    return draft_post(article, "bluesky", BLUESKY, limits=BLUESKY_LIMITS, hashtags=HASHTAGS)


# --- the renderers: one per expected file -----------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def render_articles(case: Rendered) -> str:
    data = [asdict(a) for a in case.articles]
    return json.dumps(data, ensure_ascii=False, indent=2, default=_json_value) + "\n"


def render_mastodon(case: Rendered) -> str:
    statuses = []
    for article in case.articles:
        if article.id in case.filtered:
            statuses.append(f"===== {article.link} (not posted)\n"
                            f"not posted to mastodon: {case.filtered[article.id]}\n")
            continue
        draft = post(article, "mastodon")
        statuses.append(f"===== {article.link} ({draft.length}/{MASTODON_LIMITS.max_length})\n"
                        f"{draft.text}\n")
    return "\n".join(statuses)


def render_bluesky(case: Rendered) -> str:
    posts = []
    for article in case.articles:
        if article.id in case.filtered:
            posts.append({"link": article.link, "not_posted": f"not posted to bluesky: {case.filtered[article.id]}"})
            continue
        draft = post(article, "bluesky")
        posts.append({"link": article.link, "text": draft.text, "length": draft.length,
                      "langs": [draft.language] if draft.language else [],
                      "facets": [asdict(f) for f in draft.facets],
                      "card": asdict(draft.card) if draft.card else None})
    return json.dumps(posts, ensure_ascii=False, indent=2) + "\n"


def render_feed_xml(case: Rendered) -> str:
    feeds = render_feeds(case.articles, OUTPUT, now=case.now,
                         site_names={case.name: case.parsed.title})
    return feeds["feed.xml"].decode()


#: Expected file suffix → what writes it.  A new kind of output is a new row.
RENDERERS: dict[str, Callable[[Rendered], str]] = {
    "article.json": render_articles,
    "mastodon.txt": render_mastodon,
    "bluesky.json": render_bluesky,
    "feed.xml": render_feed_xml,
}


# --- the tests ----------------------------------------------------------------------


def _feed_files() -> list[Path]:
    return sorted(p for p in CASES_DIR.iterdir()
                  if p.suffix in FEED_SUFFIXES and p.name.count(".") == 1)


FEED_FILES = _feed_files()


@pytest.mark.parametrize("suffix", list(RENDERERS))
@pytest.mark.parametrize("feed_file", FEED_FILES, ids=lambda p: p.name)
def test_case(feed_file: Path, suffix: str) -> None:
    actual = RENDERERS[suffix](read_case(feed_file))
    expected_path = feed_file.with_name(f"{feed_file.stem}.{suffix}")
    update = bool(os.environ.get("UPDATE_GOLDEN"))
    if update or not expected_path.exists():
        expected_path.write_text(actual, encoding="utf-8")
        if not update:
            pytest.fail(f"{expected_path.name} was missing and has been written: review and commit it")
    assert actual == expected_path.read_text(encoding="utf-8"), f"{expected_path.name} differs"


def test_every_file_in_cases_belongs_to_a_case() -> None:
    """A misspelt expected file (``x.mastodn.txt``) or one left behind would never be checked."""
    names = {p.stem for p in FEED_FILES}
    expected = {f"{n}.{suffix}" for n in names for suffix in RENDERERS} | {f"{n}.case.json" for n in names}
    strays = [p.name for p in CASES_DIR.iterdir()
              if p not in FEED_FILES and p.name not in expected]
    assert not strays, f"files in {CASES_DIR} that belong to no case: {sorted(strays)}"
    bad = [n for n in names if not CASE_NAME.fullmatch(n)]
    assert not bad, f"case names must be lower-case words joined by '-': {bad}"
    assert len(names) == len(FEED_FILES), "two feed files with the same case name"


def test_every_case_has_an_entry() -> None:
    empty = [p.name for p in FEED_FILES if not read_case(p).articles]
    assert not empty, f"cases whose feed gives no article: {empty}"


def test_golden_cases_cover_the_seed_article_and_a_repost() -> None:
    text = (CASES_DIR / "acr.mastodon.txt").read_text()
    assert "Stalinist Realism and Open Communism" in text
    assert "First published 13 October 2022" in text
    assert "https://anticapitalistresistance.org/stalinist-realism-and-open-communism-2/" in text
    assert " in Red Pepper" in text  # the repost's original source is credited
    mirror = (CASES_DIR / "mirror-credit.feed.xml").read_text()
    assert "First published on" in mirror
