"""Issue 16 items 3-6: an article's language, its date as the reader sees it, titles that keep
their text, and Bluesky posts that use their 300 graphemes well."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from syndicate.config import BlueskyTarget, MastodonTarget, OutputConfig
from syndicate.feed_out import render_feeds
from syndicate.hashtags import HashtagRules, hashtags_for
from syndicate.models import Article, PostDraft
from syndicate.parse import normalise, parse_feed
from syndicate.targets import draft_post
from syndicate.targets.bluesky_post import short_url
from syndicate.textlen import count_graphemes

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


def test_a_french_item_in_an_english_feed_is_a_french_status_on_the_loopback_mastodon() -> None:
    from syndicate.config import Secret
    from syndicate.targets.mastodon import MastodonAdapter
    from tests.servers.mastodon import MastodonServer

    english, french = read(rss(item(1) + item(2, "<dc:language>fr</dc:language>")))
    with MastodonServer(token="tok") as server:
        cfg = MastodonTarget(kind="mastodon", instance=server.url, timeout=5)
        adapter = MastodonAdapter("m", cfg, Secret("tok", "env TEST"))
        for n, a in enumerate((english, french)):
            adapter.deliver(draft_post(a, "m", cfg, limits=adapter.limits()), f"k{n}")
        adapter.close()
        assert [s["language"] for s in server.statuses] == ["en-GB", "fr"]
        assert not server.errors


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


# --- 6: Bluesky posts use their 300 graphemes well -------------------------------------

LONG = "https://anticapitalistresistance.org/2026/11/24/the-long-road-from-the-picket-line-to-power/"
BLUESKY = BlueskyTarget(kind="bluesky", handle="a.test")
BLUESKY_FULL = BlueskyTarget(kind="bluesky", handle="a.test", short_link=False)


def article(**kw: object) -> Article:
    values: dict[str, object] = {
        "feed": "t", "id": "i", "link": LONG, "title": "From the picket line to power",
        "published": datetime(2026, 11, 24, 9, tzinfo=UTC), "author": "Ian Parker",
        "standfirst": " ".join(["The strike wave has changed what workers expect of their unions."] * 6)}
    values.update(kw)
    return Article(**values)  # type: ignore[arg-type]


def spans(post: PostDraft) -> list[tuple[str, str, str]]:
    data = post.text.encode()
    return [(f.kind, data[f.byte_start:f.byte_end].decode(), f.value) for f in post.facets]


@pytest.mark.parametrize(("url", "shown"), [
    (LONG, "anticapitalistresistance.org/2026/11/24/t…"),
    ("https://www.example.org/", "www.example.org"),
    ("https://example.org/a?b=1#c", "example.org/a?b=1#c"),
    ("http://Example.org:8080/abcdefghijklmnop", "example.org:8080/abcdefghijkl…"),
    ("https://bücher.example/ça-ira-ça-ira-ça-ira", "bücher.example/ça-ira-ça-ir…"),
])
def test_the_link_is_shown_as_the_app_shows_it(url: str, shown: str) -> None:
    assert short_url(url) == shown


def test_a_long_link_leaves_its_room_to_the_standfirst() -> None:
    short, full = draft_post(article(), "b", BLUESKY), draft_post(article(), "b", BLUESKY_FULL)
    shown = short_url(LONG)
    assert spans(short)[0] == ("link", shown, LONG) and spans(full)[0] == ("link", LONG, LONG)
    assert short.card is not None and short.card.uri == LONG
    assert any(n.startswith(f"link shown as {shown!r}") for n in short.notes)
    # the golden case bluesky-long-url: its standfirst gains at least what the link gives up
    case = Path(__file__).parent / "data" / "cases" / "bluesky-long-url.rss"
    parsed = parse_feed("c", case.read_bytes(), base_url="https://anticapitalistresistance.org/feed/")
    long = normalise("c", parsed.entries[0], parsed, now=NOW)
    short, full = draft_post(long, "b", BLUESKY), draft_post(long, "b", BLUESKY_FULL)
    gained = len(short.text.split("\n\n")[1]) - len(full.text.split("\n\n")[1])
    assert gained >= len(long.link) - len(short_url(long.link)) > 40
    # Mastodon counts a link as 23 and shows it whole: unchanged
    masto = draft_post(article(), "m", MastodonTarget(kind="mastodon", instance="https://m.example"))
    assert LONG in masto.text


def test_urls_and_tags_in_the_title_and_standfirst_get_facets() -> None:
    post = draft_post(article(title="Back the #GeneralStrike!", link="https://site.example/a",
                              standfirst="Sign at https://sign.example/appeal, and share with #Solidarity. "
                                         "Not #1, not a#b, not https://x.example/#frag as a tag."), "b", BLUESKY)
    assert spans(post) == [
        ("tag", "#GeneralStrike", "GeneralStrike"),
        ("link", "https://sign.example/appeal", "https://sign.example/appeal"),
        ("tag", "#Solidarity", "Solidarity"),
        ("link", "https://x.example/#frag", "https://x.example/#frag"),
        ("link", "site.example/a", "https://site.example/a"),
    ]


def test_awkward_categories_become_tags_valid_on_both_platforms() -> None:
    rules = HashtagRules(limit=20)
    assert hashtags_for(["C++", "C#", "C", "F#", "LGBTQ+", "Q&A", "Arts & Culture", ".NET", "We are the 99%",
                         "#MeToo", "2026", "+", "São Paulo", "Notepad++"], rules) == [
        "Cpp", "CSharp", "C", "FSharp", "LGBTQPlus", "QAndA", "ArtsCulture", "DotNET", "WeAreThe99Percent",
        "MeToo", "SãoPaulo", "Notepadpp"]


_words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40)
_prose = st.lists(st.one_of(_words, st.sampled_from(
    ["#tag", "＃タグ", "#1", "https://in.example/x?y=1", "👩🏽‍🏫", "🇵🇸", "e\u0301", "«ça»", "—", "\u200b"])),
    max_size=40).map(" ".join)
_paths = st.text(st.characters(codec="utf-8", categories=("L", "N"), include_characters="-_/.~"), max_size=120)
_urls = st.builds(lambda host, path: f"https://{host}.example/{path}",
                  st.from_regex(r"[a-z][a-z0-9-]{0,30}[a-z0-9]", fullmatch=True), _paths)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=_prose, standfirst=_prose, url=_urls, short=st.booleans())
def test_a_bluesky_posts_link_facet_covers_its_display_text_and_carries_the_url(
        title: str, standfirst: str, url: str, short: bool) -> None:
    post = draft_post(article(title=title, standfirst=standfirst, link=url, categories=("C++", "Q&A")), "b",
                      BLUESKY if short else BLUESKY_FULL, hashtags=HashtagRules())
    data = post.text.encode()
    assert count_graphemes(post.text) <= 300 and len(data) <= 3000
    mine = [f for f in post.facets if f.kind == "link" and f.value == url]
    assert mine, post
    shown = data[mine[-1].byte_start:mine[-1].byte_end].decode()
    assert shown == (short_url(url) if short else url)
    assert f"\n{shown}" in post.text  # on its own line, where the template puts it
    assert post.card is not None and post.card.uri == url
    last = 0
    for facet in post.facets:
        assert last <= facet.byte_start < facet.byte_end <= len(data)
        last = facet.byte_end
        text = data[facet.byte_start:facet.byte_end].decode()  # never inside a character
        if facet.kind == "tag":
            assert text[0] in "#＃" and text[1:] == facet.value


@pytest.mark.pds
def test_the_pds_takes_the_short_link_and_keeps_the_url_in_its_facet(pds) -> None:  # type: ignore[no-untyped-def]
    import secrets

    from syndicate.config import Secret
    from syndicate.targets.bluesky import BlueskyAdapter, tid_for

    password = secrets.token_urlsafe(12)
    did, handle = pds.create_account(f"c{secrets.token_hex(5)}.test", password)
    cfg = BlueskyTarget(kind="bluesky", service=pds.url, handle=handle, link_card=False)
    post = draft_post(article(language="fr", standfirst="Voir #Grève et https://sign.example/appel."), "b", cfg)
    adapter = BlueskyAdapter("b", cfg, Secret(password, "test"))
    key = tid_for(424242)
    adapter.deliver(post, key)
    adapter.close()
    record = pds.get_record(did, key)["value"]
    data = record["text"].encode()
    assert record["langs"] == ["fr"]
    assert [(data[f["index"]["byteStart"]:f["index"]["byteEnd"]].decode(), f["features"][0]) for f in
            record["facets"]] == [
        ("#Grève", {"$type": "app.bsky.richtext.facet#tag", "tag": "Grève"}),
        ("https://sign.example/appel", {"$type": "app.bsky.richtext.facet#link", "uri": "https://sign.example/appel"}),
        (short_url(LONG), {"$type": "app.bsky.richtext.facet#link", "uri": LONG}),
    ]
