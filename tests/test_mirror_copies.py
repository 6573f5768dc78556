"""One article, one item (issue 17, item 2): an article arriving through two feeds.

ACR publishes two pieces; a day later ESSF's feed carries an English copy of the first (crediting
ACR's page) and a French translation of the second (credited too).  The feeds carry one item for
the first (ACR's, listing the copy) and two for the second (a translation is not a copy); the copy
gets no posts of its own.  Real parts: the feeds over loopback HTTP, the App, a real store (SQLite
and PostgreSQL), the three files read back with feedparser and feedsmith and the JSON Feed schema,
and golden files in tests/data/mirror-feed/two-feeds/ (``UPDATE_GOLDEN=1`` to regenerate).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syndicate.app import App
from syndicate.editors import Editors
from syndicate.feed_out.check import check_file
from tests.fakes import FakeClock, ScriptedTarget, make_config, mastodon
from tests.test_feed_mirror import feedsmith, parsed, validate_json_feed

CASE = Path(__file__).parent / "data" / "mirror-feed" / "two-feeds"
FILES = ("feed.xml", "feed.atom", "feed.json")
DAY1 = datetime(2024, 11, 25, 9, 0, tzinfo=UTC)
DAY2 = datetime(2024, 11, 26, 12, 0, tzinfo=UTC)
DOCKERS = "https://anticapitalistresistance.org/solidarity-with-the-dockers/"
CLIMATE = "https://anticapitalistresistance.org/the-climate-movement-after-cop29/"
COPY = "https://www.europe-solidaire.org/spip.php?article72110"
TRANSLATION = "https://www.europe-solidaire.org/spip.php?article72108"


def run_case(tmp_path: Path, feed_server, *, targets: bool = False, merge: bool = True,
             state: str | Path | None = None, first: str = "acr") -> App:
    """Day 1: the ``first`` feed alone (ACR's by default); day 2: both, ESSF's with the copy and the
    translation."""
    clock = FakeClock(DAY1)
    feed_server.set_feed("/acr", (CASE / "acr.rss").read_bytes())
    feed_server.set_feed("/essf", (CASE / "essf.rss").read_bytes())
    feeds = {"acr": {"url": feed_server.url("/acr"), "backfill": 5},
             "essf": {"url": feed_server.url("/essf"), "backfill": 5, "merge_copies": merge}}
    output = {"title": "ACR mirror feed", "link": "https://anticapitalistresistance.org/",
              "self_url": "https://mirror.example/feeds", "language": "en", "max_items": 10}
    extra = {"state": state} if state else {}
    app = None
    for day, names in ((DAY1, [first]), (DAY2, list(feeds))):
        if app is not None:
            app.close()
        clock.set(day)
        config = make_config(tmp_path, {name: feeds[name] for name in names},
                             targets={"t": mastodon("https://m.example")}, output=output, **extra)
        app = App(config, targets={"t": ScriptedTarget(name="t")} if targets else {}, clock=clock)
        app.run_cycle(all_feeds=True)
    assert app is not None
    return app


def read_files(app: App) -> dict[str, bytes]:
    out = {name: (app.config.output.dir / name).read_bytes() for name in FILES}
    for name, data in out.items():
        report = check_file(name, data)
        assert report.valid, report.line()
    validate_json_feed(json.loads(out["feed.json"]))
    return out


@pytest.fixture
def merged(tmp_path, feed_server) -> dict[str, bytes]:
    app = run_case(tmp_path, feed_server)
    try:
        return read_files(app)
    finally:
        app.close()


@pytest.mark.parametrize("name", FILES)
def test_golden_an_article_arriving_through_two_feeds(merged, name):
    expected = CASE / name
    if os.environ.get("UPDATE_GOLDEN") or not expected.exists():
        expected.write_bytes(merged[name])
        if not os.environ.get("UPDATE_GOLDEN"):
            pytest.fail(f"{expected} was missing and has been written: review and commit it")
    assert merged[name] == expected.read_bytes(), f"{expected.name} differs"


def test_the_feeds_carry_the_original_once_with_its_copy_and_the_translation_as_its_own(merged, tmp_path):
    links = [TRANSLATION, DOCKERS, CLIMATE]  # most recently added first; the copy is no item
    for name in ("feed.xml", "feed.atom"):
        assert [e.link for e in parsed(merged[name]).entries] == links
        assert [i["link"] for i in feedsmith(merged[name], name, tmp_path)["feed"]["items"]] == links
    doc = json.loads(merged["feed.json"])
    assert [i["url"] for i in doc["items"]] == links
    by_url = {i["url"]: i for i in doc["items"]}
    assert by_url[DOCKERS]["_syndicate"]["copies"] == [COPY]
    translation = by_url[TRANSLATION]
    assert translation["language"] == "fr"
    assert translation["_syndicate"]["credit"].startswith("First published on 24 November 2024 by "
                                                          "Anti*Capitalist Resistance at " + CLIMATE)
    assert "copies" not in by_url[CLIMATE]["_syndicate"]


def test_the_copy_is_posted_once_and_editors_see_why(tmp_path, feed_server, state_db):
    app = run_case(tmp_path, feed_server, targets=True, state=state_db)
    try:
        copy, original = app.store.find_article_id(COPY), app.store.find_article_id(DOCKERS)
        translation = app.store.find_article_id(TRANSLATION)
        assert copy is not None and original is not None and translation is not None
        assert app.store.deliveries(copy) == []  # no outbox rows of its own
        assert [d.state for d in app.store.deliveries(original)] == ["sent"]
        assert [d.state for d in app.store.deliveries(translation)] == ["sent"]
        record = app.store.copies_of([copy])[copy]
        assert record.original_id == original and DOCKERS in record.reason
        editors = Editors(app.config, app.store, composer=app)
        [row] = [a for a in editors.status(10).articles if a.id == copy]
        assert any(note.startswith(f"a copy of article {original}: it credits {DOCKERS} (acr)")
                   for note in row.notes)
        assert any(f"a copy of article {original}" in why for p in editors.previews(copy) for why in p.why)
        assert not any(a.notes for a in editors.status(10).articles if a.id != copy)
        # the original's item links to its post, and lists its copy
        doc = json.loads((app.config.output.dir / "feed.json").read_bytes())
        [item] = [i for i in doc["items"] if i["url"] == DOCKERS]
        assert item["_syndicate"]["copies"] == [COPY]
        assert item["_syndicate"]["posts"] == [d.remote_url for d in app.store.deliveries(original)]
    finally:
        app.close()


def test_a_copy_that_arrived_first_makes_its_original_one_item_posted_once(tmp_path, feed_server, state_db):
    app = run_case(tmp_path, feed_server, targets=True, state=state_db, first="essf")
    try:
        copy, original = app.store.find_article_id(COPY), app.store.find_article_id(DOCKERS)
        climate, translation = app.store.find_article_id(CLIMATE), app.store.find_article_id(TRANSLATION)
        assert None not in (copy, original, climate, translation)
        assert [d.state for d in app.store.deliveries(copy)] == ["sent"]  # posted on day 1
        assert app.store.deliveries(original) == []  # the copy's post stands for it: posted once
        assert app.store.copies_of([copy])[copy].original_id == original
        assert [d.state for d in app.store.deliveries(climate)] == ["sent"]  # a translation is no copy
        assert [d.state for d in app.store.deliveries(translation)] == ["sent"]
        out = read_files(app)
        links = [e.link for e in parsed(out["feed.atom"]).entries]
        assert COPY not in links and links.count(DOCKERS) == 1
        [item] = [i for i in json.loads(out["feed.json"])["items"] if i["url"] == DOCKERS]
        assert item["_syndicate"]["copies"] == [COPY]
        assert item["_syndicate"]["posts"] == [d.remote_url for d in app.store.deliveries(copy)]
        editors = Editors(app.config, app.store, composer=app)
        notes = {a.id: a.notes for a in editors.status(10).articles}
        assert any(f"its copy article {copy} arrived first" in n for n in notes[original])
        assert any(f"a copy of article {original}" in n for n in notes[copy])
    finally:
        app.close()


def test_merge_copies_false_keeps_the_copy_its_own_item_and_posts(tmp_path, feed_server):
    app = run_case(tmp_path, feed_server, targets=True, merge=False)
    try:
        copy = app.store.find_article_id(COPY)
        assert copy is not None
        assert [d.state for d in app.store.deliveries(copy)] == ["sent"]
        assert app.store.copies_of([copy]) == {}
        links = [e.link for e in parsed(read_files(app)["feed.atom"]).entries]
        assert COPY in links and DOCKERS in links
    finally:
        app.close()


# --- the rule, pure ------------------------------------------------------------------------------

@pytest.mark.parametrize(("title", "language", "copy"), [
    ("Solidarity with the dockers", "en", True),  # the same piece
    ("Dockers: solidarity!", "en-US", True),  # retitled, same language: still a copy
    ("Solidarity with the dockers", "fr", True),  # a French site's English copy (its feed says fr)
    ("Solidarité avec les dockers", "fr", False),  # a translation: its own item, credited
])
def test_mark_copies_by_credited_source_language_and_title(title, language, copy):
    from syndicate.copies import mark_copies
    from syndicate.intent import FeedPlan, FeedRecord, NewArticle
    from syndicate.models import Article, Source
    from syndicate.store.copies import Original

    article = Article(feed="essf", id=COPY, link=COPY, title=title, published=DAY2, language=language,
                      source=Source("Anti*Capitalist Resistance", DOCKERS))
    plan = FeedPlan(FeedRecord("essf", COPY, None, None, None, None, 0.0, True),
                    intents=(NewArticle(article, "queued", ("t",)),))
    original = Original(7, "acr", DOCKERS, "Solidarity with the dockers", "en-GB")
    [intent] = mark_copies(plan, {"anticapitalistresistance.org/solidarity-with-the-dockers": original}).new
    if copy:
        assert (intent.deliveries, intent.targets, intent.copy_of) == ("none", (), 7)
    else:
        assert (intent.deliveries, intent.targets, intent.copy_of) == ("queued", ("t",), None)
