"""``syndicate.changes``: which edits a reader would see, and what each policy does (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from syndicate.changes import POLICIES, action, recorded_only, substantive, update_text
from syndicate.config import parse_config
from syndicate.models import Article, Source

BASE = Article(feed="acr", id="g1", link="https://example.org/a/", title="Bread & roses",
               published=datetime(2024, 5, 1, 9, tzinfo=UTC), author="Ian Parker",
               standfirst="A lead paragraph.", source=Source("Red Pepper", "https://redpepper.org.uk/x",
                                                             datetime(2024, 4, 30, tzinfo=UTC)))


@pytest.mark.parametrize(("change", "expected"), [
    ({"title": "Bread and roses"}, ("title",)),
    ({"author": "Someone Else"}, ("author",)),
    ({"author": None}, ("author",)),
    ({"standfirst": "Another lead."}, ("standfirst",)),
    ({"published": BASE.published + timedelta(days=1)}, ("published",)),
    ({"source": Source("Red Pepper", "https://redpepper.org.uk/y", BASE.source.published)}, ("source",)),
    ({"source": None}, ("source",)),
    ({"link": "https://example.org/b/"}, ("link",)),
    ({"title": "New", "author": "New"}, ("title", "author")),
    # what no reader sees
    ({"title": "  Bread  &amp; roses\n"}, ()),
    ({"title": "Bread &#38; roses"}, ()),
    ({"standfirst": "A lead\u00a0paragraph."}, ()),
    ({"link": "https://example.org/a/?utm_source=newsletter&fbclid=x#top"}, ()),
    ({"source": Source("Red  Pepper", "https://redpepper.org.uk/x?utm_medium=rss",
                       BASE.source.published)}, ()),
    ({"content_html": "<p>a new body</p>", "categories": ("New",), "fingerprint": "other"}, ()),
    ({"title": "Cafe\u0301"}, ("title",)),
])
def test_substantive_names_what_a_reader_would_see(change, expected):
    assert substantive(BASE, replace(BASE, **change)) == expected


def test_decomposed_and_composed_accents_are_the_same_title():
    assert substantive(replace(BASE, title="Caf\u00e9"), replace(BASE, title="Cafe\u0301")) == ()


@pytest.mark.parametrize(("policy", "acts"), [
    ("edit", True), ("replace", True), ("reply", True), ("keep", False), ("ignore", False),
])
def test_action_by_policy(policy, acts):
    assert action(policy, ("title",)) == (policy if acts else None)
    assert action(policy, ()) is None  # no change: nothing, whatever the policy


def test_the_policies_and_their_defaults_are_the_configs():
    cfg = parse_config("""
state: s.db
feeds: [{name: f, url: "https://example.org/feed"}]
targets:
  m: {kind: mastodon, instance: "https://m.example"}
  b: {kind: bluesky, handle: a.bsky.social}
""", environ={})
    assert cfg.targets["m"].edits == POLICIES["mastodon"][0] == "edit"
    assert cfg.targets["b"].edits == POLICIES["bluesky"][0] == "keep"
    assert cfg.targets["b"].replace_within == 3600
    assert cfg.feeds[0].settle == 600


@pytest.mark.parametrize(("value", "seconds"), [(0, 0.0), ("0", 0.0), ("3m", 180.0), (90, 90.0)])
def test_settle_takes_zero_or_a_duration(value, seconds):
    cfg = parse_config(f"""
state: s.db
feeds: [{{name: f, url: "https://example.org/feed", settle: {value!r}}}]
""", environ={})
    assert cfg.feeds[0].settle == seconds


def test_a_bad_policy_is_one_line_naming_the_key():
    with pytest.raises(Exception, match="edits"):
        parse_config("""
state: s.db
feeds: [{name: f, url: "https://example.org/feed"}]
targets:
  m: {kind: mastodon, instance: "https://m.example", edits: replace}
""", environ={})


def test_the_history_line_and_the_update_reply():
    assert recorded_only("keep", ("title", "author")) == (
        "edited at source (title, author): not carried over (edits: keep)")
    assert update_text(replace(BASE, title="Bread  &amp; roses")) == "Updated: Bread & roses https://example.org/a/"
