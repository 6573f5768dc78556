"""The re-generated feed: RSS 2.0, Atom 1.0 and JSON Feed 1.1 for mirror sites."""

from __future__ import annotations

import calendar
import html
import json
import os
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from test_feed_mirror import validate_json_feed

from syndicate.config import OutputConfig
from syndicate.feed_out import credit_line, render_feeds, write_feeds
from syndicate.feed_out.check import check_file
from syndicate.models import Article, Source

NOW = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
SITES = {"acr": "Anti*Capitalist Resistance"}
SEED_LINK = "https://anticapitalistresistance.org/stalinist-realism-and-open-communism-2/"
SEED_CREDIT = f"First published on 13 October 2022 by Anti*Capitalist Resistance at {SEED_LINK}"
RP_URL = "https://www.redpepper.org.uk/the-case-for-open-borders/"
RP_CREDIT = f"First published on 2 March 2021 by Red Pepper at {RP_URL}"
NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "dc": "http://purl.org/dc/elements/1.1/",
    "content": "http://purl.org/rss/1.0/modules/content/",
}

SEED = Article(
    feed="acr",
    id="https://anticapitalistresistance.org/?p=21233",
    link=SEED_LINK,
    title="Stalinist Realism and Open Communism",
    published=datetime(2022, 10, 13, tzinfo=UTC),
    feed_published=datetime(2022, 10, 19, 9, 0, tzinfo=UTC),
    author="Ian Parker",
    categories=("Communism", "Stalinism", "Theory"),
    standfirst=(
        "Ian Parker describes the stakes of the difference between an approach that is just a "
        "malignant mirror of capitalism and an approach that is for free association as the core "
        "of communist politics."
    ),
    content_html=(
        "<p>This little book is about a false alternative to capitalism &amp; its "
        "&#8216;stalinist realism&#8217;.</p><h2>Communism</h2><p>The book is also about a "
        "genuine alternative, open communism.</p>"
    ),
    language="en",
)
REPOST = Article(
    feed="acr",
    id="https://anticapitalistresistance.org/the-case-for-open-borders/",
    link="https://anticapitalistresistance.org/the-case-for-open-borders/",
    title="The case for open borders",
    published=datetime(2021, 3, 2, 8, 15, tzinfo=UTC),
    feed_published=datetime(2021, 3, 5, tzinfo=UTC),
    updated=datetime(2021, 3, 6, tzinfo=UTC),
    author="Jane Doe",
    categories=("Migration",),
    standfirst="Borders are a political choice.",
    content_html="<p>Borders kill.</p>",
    source=Source(name="Red Pepper", url=RP_URL, published=datetime(2021, 3, 2, 8, 15, tzinfo=UTC)),
)


def output(tmp_path: Path | None = None, **kw) -> OutputConfig:
    base = {
        "title": "ACR mirror feed",
        "link": "https://mirror.example.org/",
        "description": "ACR articles with their original dates and sources.",
        "self_url": "https://mirror.example.org/feeds/feed.xml",
        "websub_hub": "https://hub.example.org/",
        "language": "en-GB",
    }
    if tmp_path is not None:
        base["dir"] = tmp_path / "public"
    return OutputConfig(**{**base, **kw})


def render(articles=(SEED, REPOST), **kw) -> dict[str, bytes]:
    return render_feeds(list(articles), output(**kw), now=NOW, site_names=SITES)


def parsed(data: bytes) -> feedparser.FeedParserDict:
    d = feedparser.parse(data)
    assert d.bozo == 0, d.get("bozo_exception")
    return d


def text_of(fragment: str) -> str:
    """An HTML fragment's text, as a reader would see it."""
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def timestamp(struct) -> int:
    return calendar.timegm(struct)


def _fields(article: Article) -> dict:
    return {name: getattr(article, name) for name in article.__slots__}


# --- credit line -----------------------------------------------------------------


def test_credit_line_of_own_article_names_the_site_and_link():
    assert credit_line(SEED, "Anti*Capitalist Resistance") == SEED_CREDIT


def test_credit_line_defaults_to_the_links_host():
    assert credit_line(SEED) == (
        f"First published on 13 October 2022 by anticapitalistresistance.org at {SEED_LINK}"
    )


def test_credit_line_of_repost_names_the_original():
    assert credit_line(REPOST, "Anti*Capitalist Resistance") == RP_CREDIT


def test_credit_line_of_repost_without_a_name_uses_its_host_and_without_url_the_article():
    nameless = Article(**{**_fields(REPOST), "source": Source(url=RP_URL)})
    assert credit_line(nameless, "ACR") == f"First published on 2 March 2021 by redpepper.org.uk at {RP_URL}"
    unlinked = Article(**{**_fields(REPOST), "source": Source(name="Red Pepper")})
    assert credit_line(unlinked, "ACR") == (
        f"First published on 2 March 2021 by Red Pepper at {REPOST.link}"
    )


def test_credit_line_date_is_the_utc_date_in_english():
    late = Article(**{**_fields(SEED), "published": datetime(2022, 10, 13, 23, 30, tzinfo=UTC)})
    assert credit_line(late, "X").startswith("First published on 13 October 2022 by X")


# --- RSS 2.0 and Atom 1.0 ------------------------------------------------------


@pytest.mark.parametrize("name", ["feed.xml", "feed.atom"])
def test_seed_article_reads_back(name):
    d = parsed(render()[name])
    entry = d.entries[0]  # 2022 before 2021
    assert entry.title == SEED.title
    assert entry.link == SEED_LINK
    assert entry.id == SEED.id
    assert entry.author == "Ian Parker"
    assert [t.term for t in entry.tags] == ["Communism", "Stalinism", "Theory"]
    assert timestamp(entry.published_parsed) == int(SEED.published.timestamp())
    content = entry.content[0].value
    assert "open communism" in content
    assert content.index("false alternative") < content.index("First published")
    assert SEED_CREDIT in text_of(content)
    assert SEED.standfirst in text_of(entry.summary)
    assert SEED_CREDIT in text_of(entry.summary)


def test_entries_are_in_the_order_given():
    for name in ("feed.xml", "feed.atom"):
        d = parsed(render()[name])
        assert [e.link for e in d.entries] == [SEED_LINK, REPOST.link]


@pytest.mark.parametrize("name", ["feed.xml", "feed.atom"])
def test_repost_reads_back_with_its_original(name):
    entry = next(e for e in parsed(render()[name]).entries if e.title == REPOST.title)
    assert entry.link == REPOST.link  # the canonical link, not the original's
    assert timestamp(entry.published_parsed) == int(REPOST.published.timestamp())
    assert RP_CREDIT in text_of(entry.content[0].value)
    assert RP_CREDIT in text_of(entry.summary)
    assert entry.source.title == "Red Pepper"
    assert entry.source.get("href", entry.source.get("link")) == RP_URL


def test_rss_item_details():
    root = etree.fromstring(render()["feed.xml"])
    seed, repost = root.findall("channel/item")
    guid = seed.find("guid")
    assert guid.text == SEED.id and guid.get("isPermaLink") == "false"
    assert repost.find("guid").get("isPermaLink") == "true"  # its id is its link
    assert seed.findtext("dc:creator", namespaces=NS) == "Ian Parker"
    assert seed.findtext("pubDate") == "Thu, 13 Oct 2022 00:00:00 +0000"
    assert seed.find("source") is None and seed.find("dc:source", NS) is None
    # one source element, not both <source> and dc:source (the W3C validator warns about both)
    assert repost.find("dc:source", NS) is None
    assert repost.find("source").get("url") == RP_URL and repost.findtext("source") == "Red Pepper"
    assert seed.findtext("content:encoded", namespaces=NS).endswith(
        f'<a href="{SEED_LINK}">{SEED_LINK}</a></em></p>'
    )


def test_atom_entry_dates():
    root = etree.fromstring(render()["feed.atom"])
    seed, repost = root.findall("atom:entry", NS)
    assert seed.findtext("atom:published", namespaces=NS) == "2022-10-13T00:00:00+00:00"
    assert seed.findtext("atom:updated", namespaces=NS) == "2022-10-13T00:00:00+00:00"
    assert repost.findtext("atom:updated", namespaces=NS) == "2021-03-06T00:00:00+00:00"
    assert seed.find("atom:content", NS).get("type") == "html"


def test_every_entry_has_an_author_the_credited_source_at_least():
    anonymous = Article(**{**_fields(SEED), "author": None})
    feeds = render([anonymous, Article(**{**_fields(REPOST), "author": None})])
    for name in ("feed.xml", "feed.atom"):
        assert [e.author for e in parsed(feeds[name]).entries] == ["Anti*Capitalist Resistance", "Red Pepper"]
    assert [i["authors"] for i in json.loads(feeds["feed.json"])["items"]] == [
        [{"name": "Anti*Capitalist Resistance"}], [{"name": "Red Pepper"}]]


def test_rss_channel():
    data = render()["feed.xml"]
    d = parsed(data)
    assert d.feed.title == "ACR mirror feed"
    assert d.feed.link == "https://mirror.example.org/"
    assert d.feed.subtitle == "ACR articles with their original dates and sources."
    assert d.feed.language == "en-GB"
    assert d.feed.generator == "syndicate"
    assert timestamp(d.feed.updated_parsed) == int(NOW.timestamp())
    root = etree.fromstring(data)
    links = {ln.get("rel"): ln.get("href") for ln in root.findall("channel/atom:link", NS)}
    assert links == {
        "self": "https://mirror.example.org/feeds/feed.xml",
        "hub": "https://hub.example.org/",
    }


def test_atom_channel():
    d = parsed(render()["feed.atom"])
    assert d.feed.title == "ACR mirror feed"
    assert d.feed.id == "https://mirror.example.org/feeds/feed.atom"
    links = {ln.rel: ln.href for ln in d.feed.links}
    assert links == {
        "self": "https://mirror.example.org/feeds/feed.atom",
        "hub": "https://hub.example.org/",
        "alternate": "https://mirror.example.org/",
    }
    assert timestamp(d.feed.updated_parsed) == int(NOW.timestamp())
    assert d.feed.language == "en-GB"


def test_no_self_or_hub_when_not_configured():
    feeds = render(self_url=None, websub_hub=None)
    rss = etree.fromstring(feeds["feed.xml"])
    assert rss.findall("channel/atom:link", NS) == []
    atom = parsed(feeds["feed.atom"])
    assert [ln.rel for ln in atom.feed.links] == ["alternate"]
    assert atom.feed.id == "https://mirror.example.org/"
    doc = json.loads(feeds["feed.json"])
    assert "feed_url" not in doc and "hubs" not in doc


@pytest.mark.parametrize("self_url", [
    "https://mirror.example.org/feeds", "https://mirror.example.org/feeds/",
    "https://mirror.example.org/feeds/feed.xml", "https://mirror.example.org/feeds/feed.atom",
    "https://mirror.example.org/feeds/feed.json",
])
def test_self_url_base_or_file_gives_each_file_its_own_self_link(self_url):
    feeds = render(self_url=self_url)
    rss = etree.fromstring(feeds["feed.xml"])
    assert rss.find("channel/atom:link[@rel='self']", NS).get("href") == "https://mirror.example.org/feeds/feed.xml"
    atom = parsed(feeds["feed.atom"])
    assert {ln.rel: ln.href for ln in atom.feed.links}["self"] == "https://mirror.example.org/feeds/feed.atom"
    doc = json.loads(feeds["feed.json"])
    assert doc["feed_url"] == "https://mirror.example.org/feeds/feed.json"
    assert doc["home_page_url"] == "https://mirror.example.org/"


def test_self_url_of_another_file_is_a_config_error():
    from syndicate.config import parse_config
    from syndicate.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        parse_config("feeds: [{name: a, url: 'https://a.example/feed'}]\n"
                     "output:\n  self_url: https://mirror.example.org/rss.xml\n", file="feeds.yaml")
    assert "feeds.yaml:3: output.self_url" in str(err.value) and "'rss.xml'" in str(err.value)


def _dated(n: int) -> list[Article]:
    base = datetime(2020, 1, 1, tzinfo=UTC)
    days = [5, 1, 9, 3, 7, 2, 8, 0, 6, 4][:n]
    return [
        Article(
            feed="acr",
            id=f"urn:test:{d}",
            link=f"https://example.org/{d}/",
            title=f"Day {d}",
            published=base + timedelta(days=d),
            # the feed's own dates run the other way: they must not decide the order
            feed_published=base + timedelta(days=100 - d),
        )
        for d in days
    ]


def test_items_are_the_first_max_items_in_the_order_given_whatever_their_dates():
    # the order given is "most recently added first" (Store.latest_articles)
    feeds = render(_dated(10), max_items=4)
    expected = ["Day 5", "Day 1", "Day 9", "Day 3"]
    for name in ("feed.xml", "feed.atom"):
        assert [e.title for e in parsed(feeds[name]).entries] == expected
    assert [i["title"] for i in json.loads(feeds["feed.json"])["items"]] == expected


def test_duplicate_ids_appear_once():
    feeds = render([SEED, SEED, REPOST])
    assert len(parsed(feeds["feed.xml"]).entries) == 2


def test_control_characters_are_stripped():
    dirty = Article(
        **{
            **_fields(SEED),
            "title": "Bad\x00 title\x0b with \ud800 and \ufffe",
            "author": "Ian\x1f Parker",
            "content_html": "<p>a\x08b ]]> c &amp; d</p>",
            "categories": ("\x01", "Ok\x02"),
        }
    )
    feeds = render([dirty])
    for name in ("feed.xml", "feed.atom"):
        entry = parsed(feeds[name]).entries[0]
        assert entry.title == "Bad title with and"
        assert entry.author == "Ian Parker"
        assert "ab ]]> c" in text_of(entry.content[0].value)
        assert [t.term for t in entry.tags] == ["Ok"]
    assert json.loads(feeds["feed.json"])["items"][0]["title"] == "Bad title with and"


def test_non_uri_ids_get_a_stable_atom_id_and_verbatim_rss_guid():
    odd = Article(**{**_fields(SEED), "id": "wp-post 21233"})
    a, b = render([odd]), render([odd])
    atom_id = parsed(a["feed.atom"]).entries[0].id
    assert atom_id.startswith("urn:uuid:") and atom_id == parsed(b["feed.atom"]).entries[0].id
    assert parsed(a["feed.xml"]).entries[0].id == "wp-post 21233"
    assert json.loads(a["feed.json"])["items"][0]["id"] == "wp-post 21233"


def test_naive_and_non_utc_dates_are_written_as_utc():
    paris = timezone(timedelta(hours=2))
    local = Article(**{**_fields(SEED), "published": datetime(2022, 10, 13, 1, 0, tzinfo=paris)})
    entry = parsed(render([local])["feed.xml"]).entries[0]
    assert timestamp(entry.published_parsed) == int(datetime(2022, 10, 12, 23, tzinfo=UTC).timestamp())
    naive = Article(**{**_fields(SEED), "published": datetime(2022, 10, 13)})
    root = etree.fromstring(render([naive])["feed.atom"])
    assert root.findtext("atom:entry/atom:published", namespaces=NS) == "2022-10-13T00:00:00+00:00"


def test_empty_feed_is_valid():
    feeds = render([])
    for name in ("feed.xml", "feed.atom"):
        assert parsed(feeds[name]).entries == []
    check_json_feed(json.loads(feeds["feed.json"]))


# --- JSON Feed 1.1 ---------------------------------------------------------------

_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def check_json_feed(doc: dict) -> None:
    """The JSON Feed 1.1 rules (https://jsonfeed.org/version/1.1) that apply to us."""
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(doc["title"], str) and doc["title"]
    for key in ("home_page_url", "feed_url", "description", "language"):
        assert isinstance(doc.get(key, ""), str)
    for hub in doc.get("hubs", []):
        assert isinstance(hub["type"], str) and isinstance(hub["url"], str)
    assert isinstance(doc["items"], list)
    for item in doc["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert isinstance(item.get("content_html"), str) or isinstance(item.get("content_text"), str)
        for key in ("url", "external_url", "title", "content_html", "summary", "image", "language"):
            assert isinstance(item.get(key, ""), str), key
        for key in ("date_published", "date_modified"):
            if key in item:
                assert _RFC3339.match(item[key]), item[key]
                datetime.fromisoformat(item[key])
        for author in item.get("authors", []):
            assert isinstance(author, dict) and isinstance(author["name"], str)
        assert all(isinstance(t, str) for t in item.get("tags", []))
        for key in item:  # custom keys must start with an underscore
            assert key in _JSON_ITEM_KEYS or key.startswith("_"), key
        ext = item["_syndicate"]
        assert _RFC3339.match(ext["first_published"])
        assert isinstance(ext["source"]["name"], str)
        assert ext["source"]["url"] is None or isinstance(ext["source"]["url"], str)


_JSON_ITEM_KEYS = {
    "id", "url", "external_url", "title", "content_html", "content_text", "summary", "image",
    "banner_image", "date_published", "date_modified", "authors", "tags", "language", "attachments",
}


def test_json_feed():
    doc = json.loads(render()["feed.json"])
    check_json_feed(doc)
    assert doc["title"] == "ACR mirror feed"
    assert doc["home_page_url"] == "https://mirror.example.org/"
    assert doc["feed_url"] == "https://mirror.example.org/feeds/feed.json"
    assert doc["language"] == "en-GB"
    assert doc["hubs"] == [{"type": "WebSub", "url": "https://hub.example.org/"}]
    seed, repost = doc["items"]
    assert seed["id"] == SEED.id and seed["url"] == SEED_LINK
    assert seed["title"] == SEED.title
    assert seed["date_published"] == "2022-10-13T00:00:00+00:00"
    assert seed["date_modified"] == "2022-10-13T00:00:00+00:00"
    assert seed["authors"] == [{"name": "Ian Parker"}]
    assert seed["tags"] == list(SEED.categories)
    assert seed["language"] == "en"
    assert SEED_CREDIT in text_of(seed["content_html"]) and seed["summary"].endswith(SEED_CREDIT)
    assert seed["_syndicate"] == {
        "first_published": "2022-10-13T00:00:00+00:00",
        "source": {"name": "Anti*Capitalist Resistance", "url": SEED_LINK},
        "credit": SEED_CREDIT,
    }
    assert repost["date_modified"] == "2021-03-06T00:00:00+00:00"
    assert repost["_syndicate"]["source"] == {"name": "Red Pepper", "url": RP_URL}
    assert repost["_syndicate"]["first_published"] == "2021-03-02T08:15:00+00:00"


# --- writing -------------------------------------------------------------------


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_write_feeds_writes_all_three_and_leaves_no_temp_files(tmp_path):
    out = output(tmp_path)
    written = write_feeds([SEED, REPOST], out, now=NOW, site_names=SITES)
    directory = tmp_path / "public"
    assert written == [directory / "feed.xml", directory / "feed.atom", directory / "feed.json"]
    assert files_in(directory) == ["feed.atom", "feed.json", "feed.xml"]
    rendered = render_feeds([SEED, REPOST], out, now=NOW, site_names=SITES)
    for name, data in rendered.items():
        assert (directory / name).read_bytes() == data
        assert (directory / name).stat().st_mode & 0o777 == 0o644


def test_unchanged_content_keeps_the_files_and_their_mtime(tmp_path):
    out = output(tmp_path)
    directory = tmp_path / "public"
    write_feeds([SEED, REPOST], out, now=NOW, site_names=SITES)
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in directory.iterdir()}
    later = NOW + timedelta(hours=3, microseconds=12345)
    assert write_feeds([SEED, REPOST], out, now=later, site_names=SITES) == []
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in directory.iterdir()}
    assert after == before

    edited = Article(**{**_fields(SEED), "title": "Stalinist Realism and Open Communism (revised)"})
    written = write_feeds([edited, REPOST], out, now=later, site_names=SITES)
    assert {p.name for p in written} == {"feed.xml", "feed.atom", "feed.json"}
    assert files_in(directory) == ["feed.atom", "feed.json", "feed.xml"]
    d = parsed((directory / "feed.xml").read_bytes())
    assert d.entries[0].title.endswith("(revised)")
    assert timestamp(d.feed.updated_parsed) == int(later.timestamp())


def test_only_the_changed_file_is_rewritten(tmp_path):
    directory = tmp_path / "public"
    write_feeds([SEED], output(tmp_path), now=NOW, site_names=SITES)
    # RSS has no "updated": a change of the updated date rewrites the other two only
    changed = Article(**{**_fields(SEED), "updated": datetime(2022, 10, 20, tzinfo=UTC)})
    written = write_feeds([changed], output(tmp_path), now=NOW, site_names=SITES)
    assert written == [directory / "feed.atom", directory / "feed.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    out = output(tmp_path)
    directory = tmp_path / "public"
    write_feeds([SEED], out, now=NOW, site_names=SITES)
    old = (directory / "feed.xml").read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_feeds([SEED, REPOST], out, now=NOW, site_names=SITES)
    assert (directory / "feed.xml").read_bytes() == old
    assert files_in(directory) == ["feed.atom", "feed.json", "feed.xml"]


def test_a_damaged_file_is_replaced(tmp_path):
    out = output(tmp_path)
    directory = tmp_path / "public"
    directory.mkdir()
    (directory / "feed.xml").write_bytes(b"<rss><channel><lastBuildDate>nonsense")
    (directory / "feed.atom").write_bytes(b"")
    written = write_feeds([SEED], out, now=NOW, site_names=SITES)
    assert len(written) == 3
    parsed((directory / "feed.xml").read_bytes())
    parsed((directory / "feed.atom").read_bytes())


def test_existing_file_mode_is_kept(tmp_path):
    out = output(tmp_path)
    path = tmp_path / "public" / "feed.xml"
    write_feeds([SEED], out, now=NOW, site_names=SITES)
    os.chmod(path, 0o640)
    write_feeds([REPOST], out, now=NOW, site_names=SITES)
    assert path.stat().st_mode & 0o777 == 0o640


# --- any text at all -------------------------------------------------------------

_nasty = st.sampled_from(
    ["<", ">", "&", "&amp;", "]]>", "<![CDATA[", "\x00", "\x0b", "\x1f", "\x7f", "\x85", "\r",
     "\ud800", "\udfff", "\ufffe", "\uffff", "\u2028", "\U0001f469\u200d\U0001f469\u200d\U0001f467",
     '"', "'", "<script>alert(1)</script>", "&#0;", "&bogus;"]
)
_any_char = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
_text = st.lists(st.one_of(_nasty, st.text(_any_char, max_size=8)), max_size=6).map("".join)


@st.composite
def any_article(draw) -> Article:
    published = draw(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 1, 1)))
    with_source = draw(st.booleans())
    return Article(
        feed="acr",
        id=draw(st.one_of(_text, st.just("https://example.org/?p=1"))),
        link="https://example.org/a?x=1&y=" + draw(_text),
        title=draw(_text),
        published=published.replace(tzinfo=UTC),
        author=draw(st.one_of(st.none(), _text)),
        categories=tuple(draw(st.lists(_text, max_size=3))),
        standfirst=draw(_text),
        content_html=draw(_text),
        source=Source(name=draw(_text), url="https://o.example/" + draw(_text)) if with_source else None,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(articles=st.lists(any_article(), min_size=1, max_size=3), title=_text)
def test_any_text_gives_well_formed_feeds(articles, title):
    feeds = render_feeds(articles, output(title=title, description=title), now=NOW, site_names=SITES)
    for name in ("feed.xml", "feed.atom"):
        etree.fromstring(feeds[name])  # well-formed XML 1.0
        d = feedparser.parse(feeds[name])
        assert d.bozo == 0, (name, d.get("bozo_exception"))
        assert 1 <= len(d.entries) <= len(articles)
    check_json_feed(json.loads(feeds["feed.json"]))
    validate_json_feed(json.loads(feeds["feed.json"]))
    for name, data in feeds.items():
        assert check_file(name, data).errors == [], name
