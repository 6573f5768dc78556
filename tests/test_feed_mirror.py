"""The output feeds as a mirror site imports them, end to end (issue 17).

Real parts: the App polls loopback feeds into a real SQLite store with an
injected clock and writes the three files; they are read back with
feedparser *and* with feedsmith (npm, an independent parser, run with Node
from tests/consumers), checked against a JSON Feed 1.1 schema, and compared
with golden files in tests/data/mirror-feed/ (``UPDATE_GOLDEN=1`` to
regenerate; review the diff).
"""

from __future__ import annotations

import calendar
import html
import json
import os
import re
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import feedparser
import jsonschema
import pytest
from lxml import etree

from syndicate.app import App
from syndicate.config import parse_config
from syndicate.feed_out import render_feeds
from syndicate.models import Article, Source
from syndicate.store import Store
from tests.fakes import FakeClock

HERE = Path(__file__).parent
GOLDEN = HERE / "data" / "mirror-feed"
CONSUMERS = HERE / "consumers"
SCHEMA = json.loads((HERE / "data" / "schemas" / "jsonfeed-1.1.schema.json").read_text())
DAY1 = datetime(2024, 11, 22, 18, 0, tzinfo=UTC)
DAY2 = datetime(2024, 11, 25, 9, 0, tzinfo=UTC)  # "today": the repost of a 2021 article arrives
NS = {"atom": "http://www.w3.org/2005/Atom", "dc": "http://purl.org/dc/elements/1.1/",
      "media": "http://search.yahoo.com/mrss/", "content": "http://purl.org/rss/1.0/modules/content/"}
KINDS = {"feed.xml": "rss", "feed.atom": "atom", "feed.json": "json"}

CONFIG = """\
state: {state}
feeds:
  - name: acr
    url: {acr}
  - name: essf
    url: {essf}
output:
  dir: {out}
  title: ACR mirror feed
  link: https://anticapitalistresistance.org/
  description: ACR and ESSF articles with their original dates and sources.
  self_url: https://mirror.example/feeds
  language: en
  max_items: {max_items}
  rights: "Creative Commons BY-NC-ND 4.0: https://creativecommons.org/licenses/by-nc-nd/4.0/"
"""


def make_app(tmp_path: Path, feed_server, clock: FakeClock, *, max_items: int = 4,
             state: str = "state.db") -> App:
    text = CONFIG.format(state=tmp_path / state, acr=feed_server.url("/acr"),
                         essf=feed_server.url("/essf"), out=tmp_path / "public", max_items=max_items)
    return App(parse_config(text, file=str(tmp_path / "feeds.yaml")), targets={}, clock=clock)


def mirror_feeds(tmp_path: Path, feed_server) -> dict[str, bytes]:
    """Day 1: four ACR articles and one ESSF one; day 2: ACR reposts a 2021 article."""
    clock = FakeClock(DAY1)
    feed_server.set_feed("/acr", (GOLDEN / "acr-day1.rss").read_bytes())
    feed_server.set_feed("/essf", (GOLDEN / "essf.rss").read_bytes())
    app = make_app(tmp_path, feed_server, clock)
    try:
        app.run_cycle(all_feeds=True)
        clock.set(DAY2)
        feed_server.set_feed("/acr", (GOLDEN / "acr-day2.rss").read_bytes())
        result = app.run_cycle(all_feeds=True)
        assert {p.name for p in result.written} == set(KINDS)
        assert app.store.count_articles() == 6  # max_items is 4
    finally:
        app.close()
    return {name: (tmp_path / "public" / name).read_bytes() for name in KINDS}


@pytest.fixture
def mirror(tmp_path, feed_server) -> dict[str, bytes]:
    return mirror_feeds(tmp_path, feed_server)


def feedsmith(data: bytes, name: str, tmp_path: Path) -> dict:
    """The file as feedsmith reads it: ``{"raw": its own object, "feed": the fields importers use}``."""
    if not (CONSUMERS / "node_modules" / "feedsmith").is_dir():
        pytest.fail("tests/consumers/node_modules is missing: run `npm ci` in tests/consumers (make test does)")
    path = tmp_path / f"read-{name}"
    path.write_bytes(data)
    out = subprocess.run(["node", str(CONSUMERS / "read-feed.mjs"), str(path), KINDS[name]],
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def parsed(data: bytes) -> feedparser.FeedParserDict:
    d = feedparser.parse(data)
    assert d.bozo == 0, d.get("bozo_exception")
    return d


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def when(text: str) -> datetime:
    """An RFC 822 or RFC 3339 date as aware UTC."""
    from email.utils import parsedate_to_datetime

    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return parsedate_to_datetime(text).astimezone(UTC)


def validate_json_feed(doc: dict) -> None:
    checker = jsonschema.FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _rfc3339(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value):
            raise ValueError(f"{value!r} is not RFC 3339")
        datetime.fromisoformat(value)
        return True

    jsonschema.Draft202012Validator(SCHEMA, format_checker=checker).validate(doc)


# What every mirror must get for each item, whatever it parses the files with.
REPOST = "https://anticapitalistresistance.org/the-case-for-open-borders/"
RENTERS = "https://anticapitalistresistance.org/renters-take-the-strike-to-the-council/"
ESSF = "https://www.europe-solidaire.org/spip.php?article72001"
DAY_ONLY = "https://anticapitalistresistance.org/a-day-of-action/"
EXPECTED = [  # (link, original date, author, language, credit)
    (REPOST, datetime(2021, 3, 2, 12, tzinfo=UTC), "Jane Doe", "en-GB",
     "First published on 2 March 2021 by Red Pepper at https://www.redpepper.org.uk/the-case-for-open-borders/"),
    (RENTERS, datetime(2024, 11, 22, 9, 30, tzinfo=UTC), "Jo Ramsay", "en-GB",
     f"First published on 22 November 2024 by Anti*Capitalist Resistance at {RENTERS}"),
    (ESSF, datetime(2024, 11, 21, 13, 0, tzinfo=UTC), "Pierre Rousset", "fr",
     f"First published on 21 November 2024 by Europe Solidaire Sans Frontières at {ESSF}"),
    (DAY_ONLY, datetime(2024, 11, 20, 12, tzinfo=UTC), "Sam Okafor", "en-GB",
     f"First published on 20 November 2024 by Anti*Capitalist Resistance at {DAY_ONLY}"),
]
IMAGE = "https://anticapitalistresistance.org/wp-content/uploads/2024/11/rent-strike-1024x683.jpg"
IMAGE_ALT = "Tenants marching to the civic hall with a banner"


# --- golden files ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(KINDS))
def test_golden_mirror_feeds(mirror, name):
    expected = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") or not expected.exists():
        expected.write_bytes(mirror[name])
        if not os.environ.get("UPDATE_GOLDEN"):
            pytest.fail(f"{expected} was missing and has been written: review and commit it")
    assert mirror[name] == expected.read_bytes(), f"{expected.name} differs"


# --- 1. which items, in which order ---------------------------------------------------


def test_a_repost_of_an_old_article_added_today_leads_the_feed(mirror):
    """The feed holds the 4 most recently added of 6, each dated by its original publication."""
    for name in ("feed.xml", "feed.atom"):
        entries = parsed(mirror[name]).entries
        assert [e.link for e in entries] == [link for link, *_ in EXPECTED]
        assert [calendar.timegm(e.published_parsed) for e in entries] == [
            int(date.timestamp()) for _, date, *_ in EXPECTED]
    doc = json.loads(mirror["feed.json"])
    assert [(i["url"], when(i["date_published"])) for i in doc["items"]] == [
        (link, date) for link, date, *_ in EXPECTED]


def test_store_latest_articles_are_the_most_recently_added(tmp_path):
    clock = FakeClock(DAY1)
    store = Store(tmp_path / "s.db", clock=clock)
    recent = [Article(feed="a", id=f"urn:a:{d}", link=f"https://a.example/{d}/", title=f"Day {d}",
                      published=datetime(2024, 11, d, tzinfo=UTC)) for d in (18, 20, 19)]
    store.ingest("a", new=recent, updated=[], queue={})
    clock.set(DAY2)
    old = Article(feed="a", id="urn:a:old", link="https://a.example/old/", title="Old",
                  published=datetime(2021, 3, 2, tzinfo=UTC))
    store.ingest("a", new=[old], updated=[], queue={})
    # newest added first; those added together newest first by date
    assert [a.title for a in store.latest_articles(3)] == ["Old", "Day 20", "Day 19"]
    plan = store.backend.query("EXPLAIN QUERY PLAN SELECT data FROM articles "
                        "ORDER BY added_at DESC, published DESC, id DESC LIMIT 3")
    assert "USING INDEX articles_added" in plan[0][3] and "TEMP B-TREE" not in str([r[3] for r in plan])
    store.close()


def test_an_editors_repost_counts_as_added_again(tmp_path):
    clock = FakeClock(DAY1)
    store = Store(tmp_path / "s.db", clock=clock)
    arts = [Article(feed="a", id=f"urn:a:{d}", link=f"https://a.example/{d}/", title=f"Day {d}",
                    published=datetime(2024, 11, d, tzinfo=UTC)) for d in (18, 19, 20)]
    store.ingest("a", new=arts, updated=[], queue={})
    clock.set(DAY2)
    store.queue_repost(store.find_article_id("urn:a:18"), ["mastodon"], requested_by="sam")
    assert [a.title for a in store.latest_articles(2)] == ["Day 18", "Day 20"]
    store.close()


def test_an_entry_the_site_re_dated_counts_as_added_again(tmp_path, feed_server, rss_of, make_articles):
    items = make_articles(5, start=datetime(2024, 11, 1, 8, tzinfo=UTC))
    feed_server.set_feed("/acr", rss_of(items))
    feed_server.set_feed("/essf", rss_of([]))
    clock = FakeClock(DAY1)
    app = make_app(tmp_path, feed_server, clock, max_items=2)
    try:
        app.run_cycle(all_feeds=True)
        first = parsed((tmp_path / "public" / "feed.xml").read_bytes())
        assert [e.link for e in first.entries] == [items[4]["link"], items[3]["link"]]
        # the site re-publishes its oldest article with today's date; a slip of hours is no repost
        clock.set(DAY2)
        items[0] = {**items[0], "published": DAY2 - timedelta(hours=1)}
        items[1] = {**items[1], "published": items[1]["published"] + timedelta(hours=2)}
        feed_server.set_feed("/acr", rss_of(items))
        app.run_cycle(all_feeds=True)
    finally:
        app.close()
    second = parsed((tmp_path / "public" / "feed.xml").read_bytes())
    assert [e.link for e in second.entries] == [items[0]["link"], items[4]["link"]]



# --- 3. self links ---------------------------------------------------------------------


def test_each_file_has_its_own_self_link_and_the_home_page(mirror, tmp_path):
    rss = etree.fromstring(mirror["feed.xml"])
    assert rss.find("channel/atom:link[@rel='self']", NS).get("href") == "https://mirror.example/feeds/feed.xml"
    assert rss.findtext("channel/link") == "https://anticapitalistresistance.org/"
    atom = parsed(mirror["feed.atom"])
    links = {ln.rel: ln.href for ln in atom.feed.links}
    assert links == {"self": "https://mirror.example/feeds/feed.atom",
                     "alternate": "https://anticapitalistresistance.org/"}
    smith = feedsmith(mirror["feed.json"], "feed.json", tmp_path)["feed"]
    assert smith["self"] == "https://mirror.example/feeds/feed.json"
    assert smith["home"] == "https://anticapitalistresistance.org/"
    assert feedsmith(mirror["feed.xml"], "feed.xml", tmp_path)["feed"]["self"] == \
        "https://mirror.example/feeds/feed.xml"


# --- 4. no validator warnings -------------------------------------------------------------


def test_w3c_validator_rules_hold(mirror):
    rss = etree.fromstring(mirror["feed.xml"])
    for item in rss.findall("channel/item"):
        # <source> or dc:source, not both (the validator's advice); every item has an author
        assert not (item.find("source") is not None and item.find("dc:source", NS) is not None)
        assert item.findtext("dc:creator", namespaces=NS)
    repost = rss.find("channel/item")
    assert repost.find("source").get("url") == "https://www.redpepper.org.uk/the-case-for-open-borders/"
    atom = etree.fromstring(mirror["feed.atom"])
    sources = atom.findall("atom:entry/atom:source", NS)
    assert len(sources) == 1
    for source in sources:
        assert source.findtext("atom:id", namespaces=NS) and source.findtext("atom:updated", namespaces=NS)
    for entry in atom.findall("atom:entry", NS):
        assert entry.findtext("atom:author/atom:name", namespaces=NS)


def test_json_feed_validates_against_version_1_1(mirror):
    validate_json_feed(json.loads(mirror["feed.json"]))


def test_the_schema_catches_what_it_should():
    doc = json.loads(render_feeds([], parse_config("feeds: [{name: a, url: 'https://a.example/'}]").output,
                                  now=DAY1)["feed.json"])
    validate_json_feed(doc)
    bad_item = {"id": "x", "content_html": "", "date_published": "yesterday"}
    with pytest.raises(jsonschema.ValidationError):
        validate_json_feed({**doc, "items": [bad_item]})
    with pytest.raises(jsonschema.ValidationError):
        validate_json_feed({**doc, "items": [{"id": "x", "content_html": "", "source": "y"}]})


def test_our_own_check_passes_every_file(mirror, tmp_path):
    from syndicate.feed_out import check_feeds
    from syndicate.feed_out.check import check_file

    for name, data in mirror.items():
        report = check_file(name, data)
        assert (report.errors, report.warnings) == ([], []), name
    assert [r.line() for r in check_feeds(tmp_path / "public")] == [
        "feed.xml: valid RSS 2.0, 4 items", "feed.atom: valid Atom 1.0, 4 items",
        "feed.json: valid JSON Feed 1.1, 4 items"]


# --- 5. what importers use, read by two independent parsers ---------------------------------


@pytest.mark.parametrize("name", list(KINDS))
def test_every_field_survives_feedsmith(mirror, name, tmp_path):
    items = feedsmith(mirror[name], name, tmp_path)["feed"]["items"]
    assert [i["link"] for i in items] == [link for link, *_ in EXPECTED]
    for item, (link, date, author, language, credit) in zip(items, EXPECTED, strict=True):
        assert when(item["date"]) == date, link
        assert item["author"] == author
        assert credit in text_of(item["content"])
        if name != "feed.atom":  # feedsmith does not report an Atom entry's xml:lang
            assert item["language"] == language
    renters = items[1]
    image = {"feed.xml": lambda i: i["enclosure"]["url"], "feed.atom": lambda i: i["enclosure"]["href"],
             "feed.json": lambda i: i["image"]}[name](renters)
    assert image == IMAGE
    if name == "feed.xml":
        media = renters["media"]["contents"][0]
        assert media["url"] == IMAGE and media["description"]["value"] == IMAGE_ALT
        assert renters["enclosure"]["type"] == "image/jpeg"
    if name == "feed.atom":
        assert renters["enclosure"]["title"] == IMAGE_ALT
    assert renters["categories"] == ["Housing", "Britain"]


@pytest.mark.parametrize("name", ["feed.xml", "feed.atom"])
def test_every_field_survives_feedparser(mirror, name):
    d = parsed(mirror[name])
    for entry, (link, date, author, language, credit) in zip(d.entries, EXPECTED, strict=True):
        assert entry.link == link
        assert calendar.timegm(entry.published_parsed) == int(date.timestamp())
        assert entry.author == author
        assert credit in text_of(entry.content[0].value)
        lang = entry.get("language") if name == "feed.xml" else entry.content[0].language
        assert lang == language
    assert [e.href for e in d.entries[1].enclosures] == [IMAGE]
    assert d.feed.rights.startswith("Creative Commons BY-NC-ND 4.0")


def test_relative_urls_come_out_absolute(mirror, tmp_path):
    expected = [
        'href="https://anticapitalistresistance.org/2024/09/rent-strike-begins/"',
        'href="https://anticapitalistresistance.org/tenants-union/"',
        f'src="{IMAGE}"',
        'srcset="https://anticapitalistresistance.org/wp-content/uploads/2024/11/rent-strike-300x200.jpg 300w, '
        f'{IMAGE} 1024w"',
    ]
    contents = [feedsmith(mirror[n], n, tmp_path)["feed"]["items"][1]["content"] for n in KINDS]
    for content in contents:
        for fragment in expected:
            assert fragment in content
        assert not re.search(r'(?:href|src)="(?!https?:|mailto:)', content)


def test_rights_on_the_channel_and_where_the_source_gave_them_on_the_item(mirror):
    rss = etree.fromstring(mirror["feed.xml"])
    assert rss.findtext("channel/copyright").startswith("Creative Commons BY-NC-ND 4.0")
    rights = [i.findtext("dc:rights", namespaces=NS) for i in rss.findall("channel/item")]
    assert rights == [None, None, "Reproduction autorisée avec mention de la source", None]
    doc = json.loads(mirror["feed.json"])
    assert doc["_syndicate"]["rights"].startswith("Creative Commons")
    assert doc["items"][2]["_syndicate"]["rights"] == "Reproduction autorisée avec mention de la source"
    atom = etree.fromstring(mirror["feed.atom"])
    assert atom.findtext("atom:entry[3]/atom:rights", namespaces=NS) == rights[2]


def test_json_feed_lists_the_websub_hub(tmp_path):
    config = parse_config("feeds: [{name: a, url: 'https://a.example/'}]\n"
                          "output: {websub_hub: 'https://hub.example/', self_url: 'https://m.example/'}\n")
    doc = json.loads(render_feeds([], config.output, now=DAY1)["feed.json"])
    assert doc["hubs"] == [{"type": "WebSub", "url": "https://hub.example/"}]


def test_content_stored_with_relative_or_unsafe_urls_is_fixed_on_the_way_out():
    art = Article(feed="a", id="urn:1", link="https://a.example/2024/post/", title="T",
                  published=DAY1, content_html='<p><a href="../other/">o</a> <a href="javascript:alert(1)">x</a>'
                  '<img src="i.jpg" srcset="i-300.jpg 300w, data:x 2x"></p>')
    out = OUTPUT = parse_config("feeds: [{name: a, url: 'https://a.example/'}]").output
    doc = json.loads(render_feeds([art], OUTPUT, now=DAY1)["feed.json"])
    content = doc["items"][0]["content_html"]
    assert '<a href="https://a.example/2024/other/">o</a>' in content
    assert "javascript" not in content and "data:" not in content and "<a>x</a>" in content
    assert 'src="https://a.example/2024/post/i.jpg" srcset="https://a.example/2024/post/i-300.jpg 300w"' in content
    assert out.max_items == 50


# --- day-only dates ---------------------------------------------------------------------------


def test_a_day_only_date_is_the_same_day_from_utc_minus_12_to_plus_14(mirror):
    entry = parsed(mirror["feed.xml"]).entries[3]
    assert entry.link == DAY_ONLY
    written = datetime.fromtimestamp(calendar.timegm(entry.published_parsed), UTC)
    for hours in range(-12, 15):
        local = written.astimezone(timezone(timedelta(hours=hours)))
        assert local.date() >= datetime(2024, 11, 20).date(), hours  # never the day before
    assert json.loads(mirror["feed.json"])["items"][3]["_syndicate"]["date_only"] is True


# --- 6. stable across runs and a lost state ------------------------------------------------------


def test_ids_and_dates_do_not_change_between_runs(tmp_path, feed_server):
    first = mirror_feeds(tmp_path / "one", feed_server)
    again = mirror_feeds(tmp_path / "two", feed_server)
    assert first == again
    later = json.loads(render_feeds(
        [Article(feed="a", id="wp 1", link="https://a.example/1/", title="T", published=DAY1)],
        parse_config("feeds: [{name: a, url: 'https://a.example/'}]").output, now=DAY2)["feed.json"])
    assert later["items"][0]["id"] == "wp 1"


UNDATED = """<?xml version="1.0"?><rss version="2.0"><channel><title>U</title><link>https://u.example/</link>
<description>d</description><item><title>{title}</title><link>https://u.example/undated/</link>
<guid>https://u.example/undated/</guid><description>{body}</description></item>
<item><title>Dated</title><link>https://u.example/dated/</link><pubDate>{dated}</pubDate>
<description>A dated one.</description></item></channel></rss>"""


def undated_feed(title: str = "No date given", body: str = "Text.") -> bytes:
    return UNDATED.format(title=title, body=body, dated=format_datetime(DAY1 - timedelta(days=3))).encode()


def _undated_date(tmp_path: Path) -> datetime:
    doc = json.loads((tmp_path / "public" / "feed.json").read_bytes())
    item = next(i for i in doc["items"] if i["url"] == "https://u.example/undated/")
    return when(item["date_published"])


def test_an_undated_entry_keeps_its_first_seen_date_when_edited(tmp_path, feed_server):
    feed_server.set_feed("/acr", undated_feed())
    feed_server.set_feed("/essf", undated_feed())
    clock = FakeClock(DAY1)
    app = make_app(tmp_path, feed_server, clock)
    try:
        app.run_cycle(all_feeds=True)
        clock.set(DAY2)
        feed_server.set_feed("/acr", undated_feed(title="No date given (corrected)"))
        assert app.run_cycle(all_feeds=True).feeds[0].updated == 1
    finally:
        app.close()
    assert _undated_date(tmp_path) == DAY1


def test_an_undated_entry_keeps_its_date_when_the_state_is_lost(tmp_path, feed_server):
    feed_server.set_feed("/acr", undated_feed())
    feed_server.set_feed("/essf", undated_feed())
    clock = FakeClock(DAY1)
    app = make_app(tmp_path, feed_server, clock)
    try:
        app.run_cycle(all_feeds=True)
    finally:
        app.close()
    assert _undated_date(tmp_path) == DAY1
    # the state database is gone; the output files are still there
    clock.set(DAY2)
    feed_server.set_feed("/acr", undated_feed(body="Text, edited since."))
    app = make_app(tmp_path, feed_server, clock, state="rebuilt.db")
    try:
        app.run_cycle(all_feeds=True)
        stored = [a for a in app.store.latest_articles(10) if a.link == "https://u.example/undated/"]
    finally:
        app.close()
    assert [a.published for a in stored] == [DAY1]
    assert _undated_date(tmp_path) == DAY1


# --- what parse gives the feeds ----------------------------------------------------------------


def test_parse_reads_image_alt_day_only_dates_and_rights():
    from syndicate.parse import normalise, parse_feed

    data = (GOLDEN / "acr-day2.rss").read_bytes()
    parsed_feed = parse_feed("acr", data, base_url="https://anticapitalistresistance.org/feed/")
    arts = {a.link: a for a in (normalise("acr", e, parsed_feed, now=DAY2) for e in parsed_feed.entries)}
    assert arts[RENTERS].image == IMAGE and arts[RENTERS].image_alt == IMAGE_ALT
    assert arts[RENTERS].date_only is False
    assert arts[DAY_ONLY].date_only is True  # "20 Nov 2024": no time of day
    assert arts[REPOST].date_only is True and arts[REPOST].source == Source(
        name="Red Pepper", url="https://www.redpepper.org.uk/the-case-for-open-borders/",
        published=datetime(2021, 3, 2, tzinfo=UTC))
    essf = parse_feed("essf", (GOLDEN / "essf.rss").read_bytes(), base_url="https://www.europe-solidaire.org/")
    article = normalise("essf", essf.entries[0], essf, now=DAY2)
    assert article.rights == "Reproduction autorisée avec mention de la source"
    assert article.language == "fr"
    no_alt = replace(arts[RENTERS], image_alt=None)
    doc = json.loads(render_feeds([no_alt], parse_config("feeds: [{name: a, url: 'https://a.example/'}]").output,
                                  now=DAY2)["feed.json"])
    assert doc["items"][0]["_syndicate"]["image_alt"] == no_alt.title  # the title when there is no alt


# --- syndicate feed --check ----------------------------------------------------------------------


def test_feed_check_reports_one_line_per_file(tmp_path, feed_server):
    from tests.helpers import run_cli

    feed_server.set_feed("/acr", (GOLDEN / "acr-day1.rss").read_bytes())
    feed_server.set_feed("/essf", (GOLDEN / "essf.rss").read_bytes())
    config = tmp_path / "feeds.yaml"
    config.write_text(CONFIG.format(state=tmp_path / "state.db", acr=feed_server.url("/acr"),
                                    essf=feed_server.url("/essf"), out=tmp_path / "public", max_items=4))
    assert run_cli("run", "--once", config_path=config).returncode == 0
    ok = run_cli("feed", "--check", config_path=config)
    assert (ok.returncode, ok.stdout.splitlines()) == (0, [
        "feed.xml: valid RSS 2.0, 4 items", "feed.atom: valid Atom 1.0, 4 items",
        "feed.json: valid JSON Feed 1.1, 4 items"])
    doc = json.loads((tmp_path / "public" / "feed.json").read_text())
    doc["items"][1]["date_published"] = "last Tuesday"
    (tmp_path / "public" / "feed.json").write_text(json.dumps(doc))
    (tmp_path / "public" / "feed.atom").unlink()
    bad = run_cli("feed", "--check", config_path=config)
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert lines[0] == "feed.xml: valid RSS 2.0, 4 items"
    assert lines[1].startswith("feed.atom: INVALID: cannot read ") and lines[1].endswith("feed.atom: No such file or directory")
    assert lines[2] == (f"feed.json: INVALID: item 2 ({doc['items'][1]['id']}): date_published 'last Tuesday' "
                        "is not an RFC 3339 date")


@pytest.mark.parametrize("name, broken, expected", [
    ("feed.xml", '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>t</title>'
     '<link>https://x/</link><description>d</description><item><title>a</title><guid>g</guid>'
     '<pubDate>Mon, 18 Nov 2024 08:00:00 +0000</pubDate><dc:creator>A</dc:creator>'
     '<source url="https://o/">O</source><dc:source>https://o/</dc:source></item></channel></rss>',
     'feed.xml: valid RSS 2.0, 1 item; warning: no atom:link rel="self" (set output.self_url) (and 1 more)'),
    ("feed.atom", '<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:f</id><title>t</title>'
     '<updated>2024-11-18T08:00:00Z</updated><link rel="self" href="https://x/feed.atom"/>'
     '<entry><id>urn:e</id><title>e</title><updated>2024-11-18T08:00:00Z</updated>'
     '<author><name>A</name></author><source><title>O</title></source></entry></feed>',
     "feed.atom: valid Atom 1.0, 1 item; warning: entry 1 (urn:e): <source> has no <id> (and 1 more)"),
    ("feed.atom", '<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:f</id><title>t</title>'
     '<updated>2024-11-18T08:00:00Z</updated><entry><id>urn:e</id><title>e</title>'
     '<updated>2024-11-18T08:00:00Z</updated></entry></feed>',
     "feed.atom: INVALID: entry 1 (urn:e): no <author>"),
    ("feed.xml", '<rss version="2.0"><channel><title>t</title><link>https://x/</link><description>d</description>'
     '<atom:link xmlns:atom="http://www.w3.org/2005/Atom" rel="self" href="https://x/feed.xml"/>'
     '<item><title>a</title><guid>g</guid><pubDate>Mon, 18 Nov 2024 08:00:00 +0000</pubDate><author>a@x (A)</author>'
     '<content:encoded xmlns:content="http://purl.org/rss/1.0/modules/content/">&lt;a href="/x"&gt;x&lt;/a&gt;'
     '</content:encoded></item></channel></rss>',
     "feed.xml: valid RSS 2.0, 1 item; warning: item 1 (g): relative URL in content:encoded: '/x'"),
])
def test_check_flags_what_validators_and_mirrors_trip_on(name, broken, expected):
    from syndicate.feed_out.check import check_file

    assert check_file(name, broken.encode()).line() == expected
