"""parse: feed bytes → entries → Articles, over the fixture feeds in tests/data/feeds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicate.errors import ParseError
from syndicate.models import Article, Source
from syndicate.parse import Entry, ParsedFeed, canonical_url, normalise, parse_feed

FEEDS = Path(__file__).parent / "data" / "feeds"
NOW = datetime(2023, 3, 7, 12, 0, tzinfo=UTC)
ACR_URL = "https://anticapitalistresistance.org/feed/"


def load(name: str, base_url: str = "https://example.org/feed/", **kw) -> ParsedFeed:
    return parse_feed("test", (FEEDS / name).read_bytes(), base_url=base_url, **kw)


def articles(name: str, base_url: str = "https://example.org/feed/", **kw) -> dict[str, Article]:
    parsed = load(name, base_url)
    return {e.link: normalise("test", e, parsed, now=NOW, **kw) for e in parsed.entries}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- canonical_url -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("https://ACR.example/a/?utm_source=rss&utm_medium=rss&utm_campaign=x",
         None, "https://acr.example/a/"),
        ("https://acr.example/a?id=3&fbclid=IwAR&page=2&gclid=x&mc_cid=1&mc_eid=2&ref=tw&UTM_Term=y",
         None, "https://acr.example/a?id=3&page=2"),
        ("HTTP://Acr.Example:80/a#comments", None, "http://acr.example/a"),
        ("https://acr.example:443", None, "https://acr.example/"),
        ("https://acr.example:8443/a", None, "https://acr.example:8443/a"),
        ("/2023/03/post/?utm_source=x", "https://acr.example/feed/", "https://acr.example/2023/03/post/"),
        ("post.html", "https://acr.example/feed/", "https://acr.example/feed/post.html"),
        ("https://acr.example/search?q=a%20b&z=1&a=2", None, "https://acr.example/search?q=a%20b&z=1&a=2"),
        ("  https://acr.example/a  ", None, "https://acr.example/a"),
        ("mailto:x@example.org", None, "mailto:x@example.org"),
    ],
)
def test_canonical_url(url, base, expected):
    assert canonical_url(url, base) == expected


def test_canonical_url_is_idempotent():
    once = canonical_url("HTTPS://acr.example:443/a/?b=1&utm_x=2#f")
    assert canonical_url(once) == once


# --- RSS 2.0: the ACR feed ---------------------------------------------------------


def test_acr_feed_metadata():
    parsed = load("acr.rss", ACR_URL, headers={"Content-Type": "application/rss+xml; charset=UTF-8"})
    assert parsed.title == "Anti*Capitalist Resistance"
    assert parsed.link == "https://anticapitalistresistance.org/"
    assert parsed.language == "en-GB"
    assert parsed.warnings == ()
    assert len(parsed.entries) == 5
    assert all(isinstance(e, Entry) for e in parsed.entries)
    assert parsed.entries[0].id == "https://anticapitalistresistance.org/?p=19874"


def test_acr_seed_article():
    arts = articles("acr.rss", ACR_URL)
    a = arts["https://anticapitalistresistance.org/stalinist-realism-and-open-communism-2/"]
    assert a.feed == "test"
    assert a.id == "https://anticapitalistresistance.org/?p=16543"
    assert a.title == "Stalinist Realism and Open Communism"
    assert a.author == "Ian Parker"
    assert a.categories == ("Books", "Communism", "Stalinism", "Theory")
    assert a.published == a.feed_published == utc(2022, 10, 13, 9, 0)
    assert a.published.tzinfo is not None and a.published.utcoffset().total_seconds() == 0
    assert a.standfirst == (
        "Ian Parker describes the stakes of the difference between an approach that is just a malignant "
        "mirror of capitalism and an approach that is for free association as the core of communist politics."
    )
    assert a.image == ("https://anticapitalistresistance.org/wp-content/uploads/2022/10/"
                       "stalinist-realism-cover-683x1024.jpg")
    assert a.source is None
    assert a.language == "en-GB"
    assert "<h2>Free Associations</h2>" in a.content_html
    assert "‘stalinist realism’" in a.content_html  # &#8216; … &#8217; decoded
    assert 'class="' not in a.content_html and "decoding=" not in a.content_html


def test_acr_repost_first_published_in_red_pepper():
    a = articles("acr.rss", ACR_URL)[
        "https://anticapitalistresistance.org/housing-the-cost-of-living-and-the-new-tenants-unions/"]
    assert a.title == "Housing, the cost of living and the new tenants’ unions"
    assert a.source == Source("Red Pepper", "https://www.redpepper.org.uk/housing/tenants-unions-cost-of-living/",
                              utc(2023, 3, 3))
    assert a.published == utc(2023, 3, 3)  # the original date
    assert a.feed_published == utc(2023, 3, 6, 9, 30)  # the feed's own, kept beside it
    # the WordPress excerpt starts with the credit: that is not the standfirst
    assert a.standfirst == ("Rents are rising faster than at any time in thirty years, and a new generation of "
                            "tenants’ unions is organising to fight back. Jo Ramsay looks at what they have won "
                            "so far and where they go next.")
    assert "pixel.wp.com" not in a.content_html


def test_acr_entities_utm_and_sanitising():
    a = articles("acr.rss", ACR_URL)["https://anticapitalistresistance.org/labours-growth-agenda-the-climate/"]
    assert a.title == "Labour’s ‘growth’ agenda & the climate"
    assert a.categories == ("Britain", "Ecosocialism", "Labour Party")  # "ecosocialism" again is dropped
    assert a.standfirst == ("Starmer’s Labour promises ‘green growth’. Kieran Doyle argues that growth is the "
                            "problem, not the solution, and that the climate movement needs its own answer.")
    # relative image resolved against the article; share block, iframe, script and onclick gone
    assert a.image == "https://anticapitalistresistance.org/wp-content/uploads/2023/03/climate-march-800x533.jpg"
    for gone in ("sharedaddy", "Share this", "<iframe", "<script", "onclick", "WPCOM"):
        assert gone not in a.content_html


def test_acr_description_standfirst_when_no_bold_lead():
    a = articles("acr.rss", ACR_URL)["https://anticapitalistresistance.org/solidarity-with-the-iranian-uprising/"]
    assert a.standfirst == ("Anti*Capitalist Resistance sends its solidarity to the women and young people "
                            "leading the uprising in Iran, and calls on the labour movement to do the same.")
    b = articles("acr.rss", ACR_URL)[
        "https://anticapitalistresistance.org/fighting-the-far-right-lessons-from-the-1970s/"]
    assert b.standfirst == ("The Anti-Nazi League was one of the most successful united fronts in British history. "
                            "Terry Ash asks what today’s anti-fascists can learn from it, and what they cannot.")


def test_language_argument_overrides_the_feed():
    a = next(iter(articles("acr.rss", ACR_URL, language="en").values()))
    assert a.language == "en"


def test_normalise_is_deterministic():
    one = articles("acr.rss", ACR_URL)
    two = articles("acr.rss", ACR_URL)
    assert one == two


# --- Atom 1.0 and RSS 1.0 ------------------------------------------------------------------


def test_atom():
    parsed = load("atom.xml")
    assert parsed.title == "International Viewpoint – online socialist magazine"
    assert parsed.language == "en"
    arts = {normalise("iv", e, parsed, now=NOW).id: normalise("iv", e, parsed, now=NOW) for e in parsed.entries}
    a = arts["tag:internationalviewpoint.example,2023:article8012"]
    assert a.link == "https://internationalviewpoint.example/spip.php?article8012"  # xml:base, utm gone
    assert a.title == "Brazil: Lula’s first hundred days"  # type="html": tags stripped
    assert a.author == "Ana Souza"
    assert a.categories == ("Brazil", "Latin America")
    assert a.published == utc(2023, 3, 5, 13, 0)  # +01:00 → UTC
    assert a.updated == utc(2023, 3, 5, 16, 45)
    assert a.image == "https://internationalviewpoint.example/IMG/jpg/lula-2023.jpg"
    assert a.standfirst == "The new government has moved quickly on some fronts and not at all on others."
    assert 'href="https://internationalviewpoint.example/spip.php?article7990#footnote"' in a.content_html

    b = arts["tag:internationalviewpoint.example,2023:article8005"]
    assert b.feed_published == b.published == utc(2023, 2, 24, 9, 0)  # updated only
    assert b.source == Source("Ukraine Solidarity Campaign", "https://ukrainesolidarity.example/a-year-of-resistance/",
                              None)
    assert b.standfirst == "One year after the full-scale invasion, Ukrainian society is still resisting."

    c = arts["tag:internationalviewpoint.example,2023:article7999"]
    assert c.title == "Plain text title with <brackets> & ampersand"  # type="text" is literal
    assert "&lt;b&gt;" in c.content_html  # a text summary is escaped, never markup
    assert "<b>" not in c.standfirst


def test_rss1_rdf():
    parsed = load("rss1.rdf")
    assert parsed.language == "en-gb"
    a, b = (normalise("sr", e, parsed, now=NOW) for e in parsed.entries)
    assert a.id == "https://socialistresistance.example/2022/11/cop27/"
    assert a.link == "https://socialistresistance.example/2022/11/cop27/?page=2"  # fbclid gone, page kept
    assert a.author == "Sam Okafor"
    assert a.categories == ("Climate",)
    assert a.feed_published == utc(2022, 11, 21, 8, 0)
    assert a.source == Source(None, "https://climateandcapitalism.example/2022/11/20/cop27-failure/", None)
    assert b.categories == ("NHS", "Strikes")
    assert b.published == utc(2022, 11, 10)
    assert b.source is None


# --- dates, duplicates, links ----------------------------------------------------------------


def test_missing_unreadable_and_future_dates():
    arts = articles("missing-dates.rss", "https://dates.example/feed/")
    none = arts["https://dates.example/no-date"]
    assert none.published == NOW and none.feed_published is None
    bad = arts["https://dates.example/bad-date"]
    assert bad.published == NOW and bad.feed_published is None
    future = arts["https://dates.example/future"]
    assert future.published == NOW  # clamped
    assert future.feed_published == utc(2100, 1, 1, 12, 0)  # the feed's date kept
    normal = arts["https://dates.example/normal"]
    assert normal.published == utc(2023, 3, 6, 8, 30)


def test_naive_now_is_taken_as_utc():
    parsed = load("missing-dates.rss")
    a = normalise("d", parsed.entries[0], parsed, now=datetime(2023, 3, 7, 12, 0))
    assert a.published == NOW


def test_duplicate_guids_missing_guids_relative_links():
    parsed = load("duplicate-guids.rss", "https://dupes.example/feed/")
    assert [(e.id, e.link) for e in parsed.entries] == [
        ("post-1", "https://dupes.example/a"),
        ("https://dupes.example/2023/03/no-guid/", "https://dupes.example/2023/03/no-guid/"),
        ("https://dupes.example/guid-is-the-link", "https://dupes.example/guid-is-the-link"),
    ]
    assert parsed.entries[0].raw["title"] == "First copy"  # the first is kept
    assert parsed.warnings == (
        "feed test: 1 entry without a link skipped",
        "feed test: 2 duplicate entries (same id) skipped",
    )


def test_entry_hash_and_equality_ignore_raw():
    parsed = load("duplicate-guids.rss", "https://dupes.example/feed/")
    e = parsed.entries[0]
    assert Entry(e.id, e.link, raw={}) == e
    assert len({e, Entry(e.id, e.link, raw=None)}) == 1


def test_an_entry_carries_the_fingerprint_its_article_was_stored_with():
    """parse_feed fingerprints every entry as the pipeline's entry_hash did before it: the stored
    fingerprints stay valid (another recipe would make every stored article read as edited once)."""
    parsed = load("acr.rss", ACR_URL)
    assert [e.fingerprint for e in parsed.entries[:2]] == ["be1bc449cec23ae8449dfb98faf38be9",
                                                          "29360ac2b5e87ae3fca3775f63980612"]


@pytest.mark.parametrize(("before", "after", "edited"), [
    ("<title>One</title>", "<title>One (corrected)</title>", True),
    ("<description>Body.</description>", "<description>Body, edited.</description>", True),
    ("<pubDate>Thu, 02 Oct 2025 10:00:00 +0000</pubDate>", "<pubDate>Fri, 03 Oct 2025 10:00:00 +0000</pubDate>",
     True),  # re-dated: re-published
    ("<link>https://x.example/1</link>", "<link>https://x.example/1?utm_source=rss</link>", False),
    ("<category>A</category>", "<category>B</category>", False),  # not what an edit is
])
def test_a_fingerprint_changes_with_what_the_feed_says_of_the_entry(before, after, edited):
    item = ("<item><title>One</title><link>https://x.example/1</link><guid>g1</guid><category>A</category>"
            "<pubDate>Thu, 02 Oct 2025 10:00:00 +0000</pubDate><description>Body.</description></item>")
    doc = '<rss version="2.0"><channel><title>T</title><link>https://x.example/</link>{}</channel></rss>'
    [old] = parse_feed("t", doc.format(item).encode(), base_url="https://x.example/feed").entries
    [new] = parse_feed("t", doc.format(item.replace(before, after)).encode(),
                       base_url="https://x.example/feed").entries
    assert (old.fingerprint != new.fingerprint) is edited
    assert len(old.fingerprint) == 32


def test_mirror_credit():
    arts = articles("mirror-credit.rss", "https://mirror.example/feed.rss")
    a = arts["https://mirror.example/spip.php?article64512"]
    assert a.source == Source("Anti*Capitalist Resistance",
                              "https://anticapitalistresistance.org/stalinist-realism-and-open-communism-2/",
                              utc(2022, 10, 13))
    assert a.published == utc(2022, 10, 13)
    assert a.feed_published == utc(2022, 10, 19, 10, 2)
    assert a.standfirst.startswith("Ian Parker describes the stakes")
    assert "<script" not in a.content_html
    ordinary = arts["https://mirror.example/spip.php?article64513"]
    assert ordinary.source is None  # "first published in London in February 1848" is not a credit
    assert ordinary.published == utc(2022, 10, 20, 8, 0)


# --- encodings ---------------------------------------------------------------------------------

TITLE = "Café ’quoted’ — dash"


def _doc(declared: str, body: bytes) -> bytes:
    return (b'<?xml version="1.0" encoding="' + declared.encode() + b'"?><rss version="2.0"><channel>'
            b"<title>T</title><link>https://x.example/</link><item><title>" + body
            + b"</title><link>https://x.example/a</link></item></channel></rss>")


@pytest.mark.parametrize(
    "headers",
    [None, {"Content-Type": "text/xml"}, {"Content-Type": "application/rss+xml; charset=iso-8859-1"}],
)
@pytest.mark.parametrize(
    "content",
    [_doc("ISO-8859-1", TITLE.encode("utf-8")),  # declared latin-1, really UTF-8
     _doc("UTF-8", TITLE.encode("cp1252")),  # declared UTF-8, really Windows-1252
     _doc("windows-1252", TITLE.encode("cp1252"))],
)
def test_wrong_declared_encodings(content, headers):
    parsed = parse_feed("enc", content, base_url="https://x.example/feed", headers=headers)
    assert normalise("enc", parsed.entries[0], parsed, now=NOW).title == TITLE


def test_cdata_and_utf8_bom():
    content = ("\ufeff" + '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
               "<item><title><![CDATA[Tom & Jerry <em>again</em>]]></title><link>https://x.example/a</link>"
               "<description><![CDATA[<p><strong>A bold lead of more than forty characters, in CDATA.</strong>"
               "</p>]]></description></item></channel></rss>").encode()
    parsed = parse_feed("c", content, base_url="https://x.example/feed")
    a = normalise("c", parsed.entries[0], parsed, now=NOW)
    assert a.title == "Tom & Jerry again"
    assert a.standfirst == "A bold lead of more than forty characters, in CDATA."


# --- broken feeds ------------------------------------------------------------------------------


def test_truncated_feed_keeps_what_could_be_read():
    parsed = load("truncated.xml", "https://cut.example/feed")
    assert [e.link for e in parsed.entries] == ["https://cut.example/one", "https://cut.example/two"]
    assert parsed.warnings[0].startswith("feed test: not well-formed XML (line ")
    assert parsed.warnings[0].endswith("; used what could be read")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("html-page.html", "feed test: not a feed: the server sent an HTML page"),
        ("empty.xml", "feed test: empty response body"),
    ],
)
def test_unusable_bytes_raise_parse_error(name, reason):
    with pytest.raises(ParseError) as err:
        load(name)
    assert str(err.value) == reason
    assert err.value.feed == "test"


@pytest.mark.parametrize(
    "content",
    [b"   \n ", b"<?xml version='1.0'?><rss><channel><item><title>x", b"{\"json\": true}",
     b"<?xml version='1.0'?><note>not a feed</note>"],
)
def test_other_unusable_bytes(content):
    with pytest.raises(ParseError):
        parse_feed("x", content, base_url="https://x.example/")


def test_valid_feed_with_no_items_is_not_an_error():
    content = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title></channel></rss>'
    parsed = parse_feed("q", content, base_url="https://x.example/feed")
    assert parsed.entries == () and parsed.title == "Quiet"


def test_bytes_are_never_taken_for_a_file_name(tmp_path):
    secret = tmp_path / "feed.xml"
    secret.write_bytes((FEEDS / "acr.rss").read_bytes())
    with pytest.raises(ParseError):
        parse_feed("x", str(secret).encode(), base_url="https://x.example/")


def test_empty_feed_served_as_text_html_is_not_an_error():
    content = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title></channel></rss>'
    parsed = parse_feed("q", content, base_url="https://x.example/feed",
                        headers={"Content-Type": "text/html; charset=utf-8"})
    assert parsed.entries == () and parsed.warnings == ()


# --- images --------------------------------------------------------------------------------------

MEDIA = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>M</title>
<item><title>Media content</title><link>https://m.example/1</link>
  <media:content url="https://m.example/video.mp4" medium="video"/>
  <media:content url="/img/one.jpg" medium="image"/>
  <description>&lt;img src="https://m.example/inline.jpg"&gt;</description></item>
<item><title>Thumbnail</title><link>https://m.example/2</link>
  <media:thumbnail url="https://m.example/thumb.jpg" width="150" height="150"/></item>
<item><title>Enclosure</title><link>https://m.example/3</link>
  <enclosure url="https://m.example/pod.mp3" type="audio/mpeg" length="1"/>
  <enclosure url="https://m.example/cover.png" type="image/png" length="1"/></item>
<item><title>Inline only</title><link>https://m.example/4</link>
  <description>&lt;p&gt;Text&lt;img src="/inline.jpg" width="1" height="1"&gt;&lt;img src="/real.jpg"&gt;&lt;/p&gt;</description></item>
</channel></rss>"""


def test_image_sources_in_order_of_preference():
    parsed = parse_feed("m", MEDIA, base_url="https://m.example/feed")
    images = [normalise("m", e, parsed, now=NOW).image for e in parsed.entries]
    assert images == ["https://m.example/img/one.jpg", "https://m.example/thumb.jpg",
                      "https://m.example/cover.png", "https://m.example/real.jpg"]


# --- robustness ----------------------------------------------------------------------------------

ACR_BYTES = (FEEDS / "acr.rss").read_bytes()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(ACR_BYTES)), st.binary(max_size=20),
       st.integers(min_value=0, max_value=len(ACR_BYTES)))
def test_mangled_feeds_parse_or_raise_parse_error(cut, junk, where):
    """Truncated or corrupted bytes give entries or a ParseError, never another exception."""
    content = ACR_BYTES[:where] + junk + ACR_BYTES[where:cut] if where < cut else ACR_BYTES[:cut]
    try:
        parsed = parse_feed("acr", content, base_url=ACR_URL)
    except ParseError:
        return
    for entry in parsed.entries:
        article = normalise("acr", entry, parsed, now=NOW)
        assert article.link.startswith("https://")
        assert article.published.tzinfo is not None
