"""Filters per feed and per target (issue 16, item 1).

The rules are pure (``syndicate.filters``): a table of articles and filters and what each says.
A pattern is checked when feeds.yaml is read (one line naming the file and the key) and its
search is bounded in time.  End to end through a loopback feed and the store (both backends):
a filtered article is recorded with its reason, ``status``, the page and ``preview`` say
"not posted to mastodon: excluded by category 'Internal'", and an editor's repost still posts it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syndicate import filters
from syndicate.app import App
from syndicate.config import load_config
from syndicate.editors import Editors
from syndicate.errors import ConfigError
from syndicate.filters import Criteria, Filter, judge
from syndicate.models import Article
from tests.cli_runner import invoke
from tests.fakes import ScriptedTarget, feeds_yaml, make_config, mastodon, write_feeds_yaml

ARTICLE = Article(feed="acr", id="g1", link="https://e.org/1", title="Podcast: the week in review",
                  published=datetime(2026, 6, 1, tzinfo=UTC), author="Press Office",
                  categories=("News", "Internal"), standfirst="Our sponsored round-up.",
                  content_html="<p>Members only: the <b>agenda</b> for Tuesday.</p>")


@pytest.mark.parametrize(("rules", "why"), [
    (Filter(), None),
    (Filter(exclude=Criteria(categories=("internal",))), "excluded by category 'Internal'"),
    (Filter(exclude=Criteria(authors=("press office",))), "excluded by author 'Press Office'"),
    (Filter(exclude=Criteria(authors=("Press",))), None),  # an author matches whole
    (Filter(exclude=Criteria(keywords=("SPONSORED",))), "excluded by keyword 'SPONSORED' in the standfirst"),
    (Filter(exclude=Criteria(keywords=("spons",))), None),  # a keyword matches whole words
    (Filter(exclude=Criteria(keywords=("the agenda",))), "excluded by keyword 'the agenda' in the content"),
    (Filter(exclude=Criteria(keywords=("agenda",), fields=("title", "standfirst"))), None),
    (Filter(exclude=Criteria(patterns=("^Podcast:",))), "excluded by pattern '^Podcast:' in the title"),
    (Filter(exclude=Criteria(patterns=("^podcast:",))), None),  # as written: case counts
    (Filter(exclude=Criteria(patterns=("(?i)^podcast:",))), "excluded by pattern '(?i)^podcast:' in the title"),
    (Filter(include=Criteria(categories=("News",))), None),
    (Filter(include=Criteria(categories=("Books",))),
     "not included: no category, author, keyword or pattern of include matched"),
    (Filter(include=Criteria(categories=("News",)), exclude=Criteria(categories=("Internal",))),
     "excluded by category 'Internal'"),  # exclude wins
])
def test_rules(rules, why):
    assert judge(ARTICLE, [rules]) == why


def test_the_feeds_filter_speaks_before_the_targets():
    feed = Filter(exclude=Criteria(authors=("Press Office",)), where="feeds[acr].filters")
    target = Filter(exclude=Criteria(categories=("Internal",)), where="targets.m.filters")
    assert judge(ARTICLE, [feed, target]) == "excluded by author 'Press Office'"
    assert filters.verdict(ARTICLE, [target]) == ("excluded by category 'Internal'", "targets.m.filters")


def test_a_search_that_runs_out_of_time_is_not_posted_and_says_so(monkeypatch, caplog):
    monkeypatch.setattr(filters, "MATCH_TIMEOUT", 0)  # regex: every search with timeout=0 runs out
    exclude = Filter(exclude=Criteria(patterns=("(a|aa)+$",), fields=("title",)))
    assert judge(ARTICLE, [exclude]) == "not judged: pattern '(a|aa)+$': its search of the title took over 0s"
    include = Filter(include=Criteria(patterns=("Podcast",), fields=("title",)))
    assert judge(ARTICLE, [include]).startswith("not included")  # a timed-out include is no match
    assert [r.getMessage() for r in caplog.records].count("filter pattern timed out") == 2
    assert caplog.records[0].article == ARTICLE.link and caplog.records[0].pattern == "(a|aa)+$"


def test_a_bad_pattern_is_one_line_naming_the_file_and_the_key(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text(feeds_yaml(tmp_path, {"acr": {"url": "https://e.org/feed",
                                                  "filters": {"exclude": {"patterns": ["ok", "(unclosed"]}}}}))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:")
    assert "feeds[0].filters.exclude.patterns[1]: invalid regular expression '(unclosed'" in message


FEED = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>ACR</title><link>https://e.org/</link>
<item><title>Public piece</title><link>https://e.org/public/</link><guid>p1</guid>
  <pubDate>Mon, 01 Jun 2026 10:00:00 +0000</pubDate><category>News</category>
  <description>For everyone.</description></item>
<item><title>Branch minutes</title><link>https://e.org/minutes/</link><guid>p2</guid>
  <pubDate>Mon, 01 Jun 2026 11:00:00 +0000</pubDate><category>Internal</category>
  <description>For members.</description></item>
</channel></rss>
"""


def test_a_filtered_article_is_recorded_shown_and_can_be_reposted(tmp_path, feed_server, state_db):
    feed_server.set_feed("/feed/", FEED.encode())
    keys = dict(state=state_db, targets={
        "mastodon": mastodon("https://m.example", filters={"exclude": {"categories": ["Internal"]}}),
        "other": mastodon("https://o.example")})
    path = write_feeds_yaml(tmp_path, {"acr": {"url": feed_server.url("/feed/"), "backfill": 10}}, **keys)
    config = load_config(path)
    targets = {"mastodon": ScriptedTarget(name="mastodon"), "other": ScriptedTarget(name="other")}
    app = App(config, targets=targets)
    try:
        [read] = app.run_cycle().feeds
        assert (read.new, read.queued) == (2, 3)  # the minutes go to "other" only
        posted = sorted(d.text.split("\n")[0] for _, d in targets["mastodon"].drafts)
        assert posted == ["Public piece"] and len(targets["other"].drafts) == 2

        minutes = app.store.find_article_id("https://e.org/minutes/")
        assert {(d.target, d.state, d.last_error) for d in app.store.deliveries(minutes)} == {
            ("mastodon", "filtered", "excluded by category 'Internal'"), ("other", "sent", None)}

        out = invoke(["--config", str(path), "status"])
        assert "not posted to mastodon: excluded by category 'Internal'" in out.output

        editors = Editors(config, app.store, composer=app, cannot_post_here={})
        [shown] = editors.preview(str(minutes), ["mastodon"]).targets
        assert shown.notes[0] == ("not posted to mastodon: excluded by category 'Internal' "
                                  "(targets.mastodon.filters); an editor's repost still posts it")
        [public] = editors.preview("https://e.org/public/", ["mastodon"]).targets
        assert public.notes[0] == "filters: passes targets.mastodon.filters"

        done = editors.repost(minutes, requester="sam", targets=["mastodon"])
        assert done.queued == ("mastodon",)
        app.deliverer.deliver_due()
        [row] = [d for d in app.store.deliveries(minutes) if d.target == "mastodon"]
        assert row.state == "sent" and [e.kind for e in row.history][:2] == ["queued", "unfiltered"]
        assert row.history[1].detail == "posted although the filters said: excluded by category 'Internal'"
    finally:
        app.close()


def test_filters_on_a_feed_apply_to_each_of_its_targets(tmp_path):
    config = make_config(tmp_path, {"acr": {"url": "https://e.org/feed",
                                            "filters": {"include": {"authors": ["Ian Parker"]}}}},
                         targets={"m": mastodon("https://m.example")})
    [rules] = config.filters_for(config.feed("acr"), "m")
    assert rules.where == "feeds[acr].filters"
    assert judge(ARTICLE, [rules]).startswith("not included")


def test_the_page_shows_a_filtered_delivery_with_its_reason():
    from syndicate.store import Delivery
    from syndicate.web.page import _environment

    filtered = Delivery("mastodon", 0, "", "filtered", 0, None, None, None,
                        "excluded by category 'Internal'", None)
    html = _environment().from_string('{% from "macros.html" import delivery %}{{ delivery(d) }}').render(
        d=filtered)
    assert "not posted to mastodon: excluded by category &#x27;Internal&#x27;" in html
    assert "last error" not in html
