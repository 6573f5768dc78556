"""Issue 16 items 3-6: an article's language, its date as the reader sees it, titles that keep
their text, and Bluesky posts that use their 300 graphemes well."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from lxml import etree

from syndicate.config import OutputConfig
from syndicate.feed_out import render_feeds
from syndicate.models import Article
from syndicate.parse import normalise, parse_feed

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ATOM_NS = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
OUTPUT = OutputConfig(title="mirror", link="https://mirror.example/", self_url="https://mirror.example/feed.xml")


def read(doc: str, **kw: object) -> list[Article]:
    parsed = parse_feed("t", doc.encode(), base_url="https://site.example/feed/")
    return [normalise("t", e, parsed, now=NOW, **kw) for e in parsed.entries]  # type: ignore[arg-type]


def rss(items: str, channel: str = "<language>en-GB</language>") -> str:
    return ('<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<channel><title>s</title><link>https://site.example/</link>{channel}{items}</channel></rss>")


def item(n: int, extra: str = "", attrs: str = "", title: str = "T",
         date: str = "Mon, 23 Nov 2026 10:00:00 +0000") -> str:
    return (f"<item{attrs}><title>{title}</title><link>https://site.example/{n}</link>"
            f"<guid>g{n}</guid><pubDate>{date}</pubDate>{extra}</item>")


ATOM = """<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
<title>s</title><id>urn:s</id><updated>2026-11-23T10:00:00Z</updated>
<entry><title>English</title><id>urn:1</id><link href="https://site.example/1"/>
 <updated>2026-11-23T10:00:00Z</updated><summary>s</summary></entry>
<entry xml:lang="fr"><title>Français</title><id>urn:2</id><link href="https://site.example/2"/>
 <updated>2026-11-23T10:00:00Z</updated><summary>s</summary></entry>
</feed>"""


# --- 3: languages per article ------------------------------------------------------


def test_an_items_dc_language_and_xml_lang_override_the_feeds() -> None:
    got = read(rss(item(1) + item(2, "<dc:language>fr</dc:language>") + item(3, attrs=' xml:lang="es"')))
    assert [a.language for a in got] == ["en-GB", "fr", "es"]


def test_an_atom_entrys_xml_lang_overrides_the_feeds_and_the_inherited_one_does_not() -> None:
    assert [a.language for a in read(ATOM)] == ["en", "fr"]
    # feeds.yaml's language stands in for the feed's: the French entry stays French
    assert [a.language for a in read(ATOM, language="en-GB")] == ["en-GB", "fr"]


def test_config_can_force_a_language() -> None:
    got = read(rss(item(1) + item(2, "<dc:language>fr</dc:language>")), language="de", force_language=True)
    assert [a.language for a in got] == ["de", "de"]


def test_the_language_goes_to_both_platforms_and_every_mirror_feed() -> None:
    from syndicate.config import BlueskyTarget, MastodonTarget
    from syndicate.targets import draft_post

    english, french = read(rss(item(1) + item(2, "<dc:language>fr</dc:language>")))
    for cfg in (MastodonTarget(kind="mastodon", instance="https://m.example"),
                BlueskyTarget(kind="bluesky", handle="a.test")):
        assert draft_post(french, "t", cfg).language == "fr"
        assert draft_post(english, "t", cfg).language == "en-GB"
    files = render_feeds([english, french], OUTPUT, now=NOW)
    atom = etree.fromstring(files["feed.atom"])
    assert [e.get(XML_LANG) for e in atom.iter(f"{ATOM_NS}entry")] == ["en-GB", "fr"]
    assert [i["language"] for i in json.loads(files["feed.json"])["items"]] == ["en-GB", "fr"]
    assert [e.text for e in etree.fromstring(files["feed.xml"]).iter(
        "{http://purl.org/dc/elements/1.1/}language")] == ["en-GB", "fr"]


# --- 5: titles keep their text --------------------------------------------------------


@pytest.mark.parametrize(("escaped", "expected"), [
    ("&lt;Fourth International&gt;", "<Fourth International>"),
    ("I &lt;3 Marx", "I <3 Marx"),
    ("a &lt; b &amp;&amp; b &gt; c", "a < b && b > c"),
    ("&lt;Big Brother&gt; is &lt;I am here&gt;", "<Big Brother> is <I am here>"),
    ("&lt;b&gt;Bold&lt;/b&gt; &lt;em class=&quot;x&quot;&gt;claims&lt;/em&gt;", "Bold claims"),
    ("&lt;script&gt;alert(1)&lt;/script&gt;Hello", "Hello"),
    ("Two&lt;br/&gt;lines", "Two lines"),
    ("&amp;lt;b&amp;gt; is a tag", "<b> is a tag"),  # escaped twice: the text of a tag, shown
])
def test_a_title_keeps_what_only_looks_like_a_tag(escaped: str, expected: str) -> None:
    assert [a.title for a in read(rss(item(1, title=escaped)))] == [expected]


def test_an_atom_html_title_and_a_page_title_keep_it_too() -> None:
    from syndicate.page import article_from_page

    atom = ATOM.replace("<title>English</title>", '<title type="html">&amp;lt;Fourth International&amp;gt;'
                        " &lt;i&gt;now&lt;/i&gt;</title>")
    assert read(atom)[0].title == "<Fourth International> now"
    page = ('<html><head><meta property="og:title" content="&lt;Fourth International&gt;"></head>'
            "<body><article><p>Text.</p></article></body></html>")
    assert article_from_page("https://site.example/p", page, feed="t", now=NOW).title == "<Fourth International>"


def test_an_untitled_article_has_no_leading_dash_and_a_card_title() -> None:
    from syndicate.config import BlueskyTarget, MastodonTarget
    from syndicate.targets import draft_post

    untitled = read(rss(item(1, "<dc:creator>Jo</dc:creator><description>A short note. More.</description>",
                             title="")))[0]
    blue = draft_post(untitled, "b", BlueskyTarget(kind="bluesky", handle="a.test"))
    assert blue.text.startswith("By Jo\n\nA short note. More.")
    assert blue.card is not None and blue.card.title == "A short note. More."
    masto = draft_post(replace(untitled, image="https://site.example/i.jpg"), "m",
                       MastodonTarget(kind="mastodon", instance="https://m.example", thumbnail=True))
    assert not masto.text.startswith((" ", "—")) and masto.card is not None
    assert masto.card.title == "A short note. More." and masto.image_alt == "A short note. More."
    bare = read(rss(item(2, title="")))[0]
    card = draft_post(bare, "b", BlueskyTarget(kind="bluesky", handle="a.test")).card
    assert card is not None and card.title == "https://site.example/2"


# --- 4: dates as the reader sees them -----------------------------------------------


@pytest.mark.parametrize(("written", "offset"), [
    ("Tue, 24 Nov 2026 00:30:00 +0200", 120), ("2026-11-24T00:30:00+02:00", 120),
    ("2026-11-23T21:15:00.5-05:00", -300), ("Mon, 23 Nov 2026 21:15 EST", -300),
    ("2026-11-24T00:30:00Z", 0), ("Tue, 24 Nov 2026 00:30:00 +0000 (UTC)", 0),
    ("2026-11-24", None), ("Tue, 24 Nov 2026", None), ("Tue, 24 Nov 2026 00:30:00", None),
    ("2026-11-24T00:30:00+15:00", None), ("", None),
])
def test_the_offset_is_read_from_the_date_as_written(written: str, offset: int | None) -> None:
    from syndicate.parse.offsets import utc_offset

    assert utc_offset(written) == offset


def test_a_post_is_dated_by_the_sources_day_in_the_sources_zone() -> None:
    from syndicate.compose import published_day
    from syndicate.config import BlueskyTarget
    from syndicate.feed_out import credit_line
    from syndicate.store.article_json import article_from_json, article_to_json
    from syndicate.targets import draft_post

    athens, chicago = read(rss(item(1, date="Tue, 24 Nov 2026 00:30:00 +0200")
                               + item(2, date="Mon, 23 Nov 2026 21:15:00 -0500")))
    assert (athens.published, athens.utc_offset) == (datetime(2026, 11, 23, 22, 30, tzinfo=UTC), 120)
    assert [published_day(a) for a in (athens, chicago)] == ["24 November 2026", "23 November 2026"]
    post = draft_post(athens, "b", BlueskyTarget(kind="bluesky", handle="a.test"))
    assert "First published 24 November 2026" in post.text
    assert any("UTC+02:00" in note for note in post.notes)
    assert credit_line(athens).startswith("First published on 24 November 2026 by ")
    assert article_from_json(article_to_json(athens)) == athens  # the store keeps the offset


def test_a_day_only_date_keeps_its_day_in_posts_and_is_noon_utc_in_every_mirror() -> None:
    from syndicate.compose import published_day

    got = read(rss(item(1, "<dc:date>2026-11-24</dc:date>", date="")
                   .replace("<pubDate></pubDate>", "") + item(2, date="Mon, 23 Nov 2026")))
    assert [(a.date_only, a.utc_offset, published_day(a)) for a in got] == [
        (True, None, "24 November 2026"), (True, None, "23 November 2026")]
    files = render_feeds(got, OUTPUT, now=NOW)
    atom = etree.fromstring(files["feed.atom"])
    assert [e.findtext(f"{ATOM_NS}published") for e in atom.iter(f"{ATOM_NS}entry")] == [
        "2026-11-24T12:00:00+00:00", "2026-11-23T12:00:00+00:00"]
    assert [i["date_published"] for i in json.loads(files["feed.json"])["items"]] == [
        "2026-11-24T12:00:00+00:00", "2026-11-23T12:00:00+00:00"]
    assert [e.text for e in etree.fromstring(files["feed.xml"]).iter("pubDate")] == [
        "Tue, 24 Nov 2026 12:00:00 +0000", "Mon, 23 Nov 2026 12:00:00 +0000"]
