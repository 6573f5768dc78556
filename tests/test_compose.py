"""compose: Article + limits → the text, and each platform's draft of it (pure; no network, no database).

The text is composed platform-neutrally (``syndicate.compose``, measured by
``syndicate.textlen``, rendered by ``syndicate.template``); ``draft_post`` runs
it through a platform's module, which adds Bluesky's facets and card.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest
import regex
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from syndicate.compose import card_title, defuse_mentions, format_date
from syndicate.config import BlueskyTarget, MastodonTarget
from syndicate.hashtags import HashtagRules, hashtags_for
from syndicate.models import Article, LinkCard, Source, TargetLimits
from syndicate.targets import draft_post
from syndicate.targets.bluesky_post import LIMITS as BLUESKY_LIMITS
from syndicate.targets.bluesky_post import short_url
from syndicate.targets.mastodon_post import LIMITS as MASTODON_LIMITS
from syndicate.targets.mastodon_post import mastodon_limits
from syndicate.template import DEFAULT_TEMPLATE, validate_template
from syndicate.textlen import post_length, url_spans
from tests.servers.mastodon import ACCOUNT_MENTION_RE

LINK = "https://anticapitalistresistance.org/stalinist-realism-and-open-communism-2/"
STANDFIRST = (
    "Ian Parker describes the stakes of the difference between an approach that is just a "
    "malignant mirror of capitalism and an approach that is for free association as the core "
    "of communist politics."
)
IMAGE = "https://anticapitalistresistance.org/wp-content/uploads/2022/10/book.jpg"
BLUESKY_MAX_BYTES = 3000
CONFIGS = {"mastodon": MastodonTarget(kind="mastodon", instance="https://masto.example"),
           "bluesky": BlueskyTarget(kind="bluesky", handle="acr.test")}


def compose(article: Article, *, target: str, platform: str, limits: TargetLimits, **kw: object):
    """What ``article`` is drafted as on a target of ``platform`` within ``limits``."""
    return draft_post(article, target, CONFIGS[platform], limits=limits, **kw)  # type: ignore[arg-type]


def clusters(text: str) -> list[str]:
    return regex.findall(r"\X", text)


@pytest.fixture
def acr() -> Article:
    return Article(
        feed="acr",
        id="acr-1",
        link=LINK,
        title="Stalinist Realism and Open Communism",
        published=datetime(2022, 10, 13, 9, 0, tzinfo=UTC),
        feed_published=datetime(2022, 10, 19, 8, 0, tzinfo=UTC),
        author="Ian Parker",
        categories=("Communism", "Stalinism"),
        standfirst=STANDFIRST,
        image=IMAGE,
        language="en",
    )


def mastodon(article: Article, **kw: object):
    return compose(article, target="masto", platform="mastodon", limits=MASTODON_LIMITS, **kw)


def bluesky(article: Article, **kw: object):
    return compose(article, target="bsky", platform="bluesky", limits=BLUESKY_LIMITS, **kw)


# --- dates and lengths -------------------------------------------------------------


def test_format_date() -> None:
    assert format_date(datetime(2022, 10, 13, tzinfo=UTC)) == "13 October 2022"
    assert format_date(datetime(2023, 3, 1, 12, 0)) == "1 March 2023"  # naive is taken as UTC
    # 23:30 in New York on 13 October is already the 14th in UTC
    ny = timezone(timedelta(hours=-4))
    assert format_date(datetime(2022, 10, 13, 23, 30, tzinfo=ny)) == "14 October 2022"


def test_post_length_counts_graphemes() -> None:
    assert post_length("abc", BLUESKY_LIMITS) == 3
    for one in ["👨‍👩‍👧‍👦", "👍🏽", "🇬🇧", "🏳️‍🌈", "e\u0301", "क्षि", "\r\n"]:
        assert post_length(one, BLUESKY_LIMITS) == 1, one
        assert post_length(one, MASTODON_LIMITS) == 1, one
    assert post_length("🇬🇧🇫🇷", BLUESKY_LIMITS) == 2
    assert post_length("naïve — Ça…\n👍🏽", BLUESKY_LIMITS) == 13
    chars = TargetLimits(max_length=500, url_length=None, unit="chars")
    assert post_length("👍🏽", chars) == 2


@given(st.lists(st.one_of(st.sampled_from(["\n", "\r\n", "\r", " ", "👍🏽", "🇬", "e\u0301", "\u0600"]),
                         st.text(max_size=8)), max_size=40).map("".join))
@settings(max_examples=200)
def test_post_length_is_the_grapheme_count(text: str) -> None:
    assert post_length(text, BLUESKY_LIMITS) == len(clusters(text))
    assert post_length(text, BLUESKY_LIMITS) == len(clusters(text))  # again, from the memo


def test_post_length_counts_each_url_as_23_on_mastodon() -> None:
    text = f"Read {LINK} and https://x.org/a."
    assert post_length(text, MASTODON_LIMITS) == len("Read ") + 23 + len(" and ") + 23 + len(".")
    assert post_length(text, BLUESKY_LIMITS) == len(text)  # Bluesky counts links literally
    # hosts twitter-text does not link are counted as written
    for literal in ["http://127.0.0.1:8000/feed/item-1", "http://localhost:8000/x", "https://acr.test/x"]:
        assert post_length(literal, MASTODON_LIMITS) == len(literal)
    assert post_length("(https://x.org/wiki/Foo_(bar))", MASTODON_LIMITS) == 25
    assert post_length("https://example.org/path👍🏽more", MASTODON_LIMITS) == 23 + 5


def test_mastodon_limits_take_the_content_warning_off_the_budget() -> None:
    limits = mastodon_limits(1000, 23, spoiler_text="Stalinism 👍🏽")
    assert limits == TargetLimits(max_length=1000 - 11, url_length=23, unit="graphemes")
    assert mastodon_limits() == MASTODON_LIMITS


# --- the ACR article on both platforms ------------------------------------------------


def test_acr_article_on_mastodon(acr: Article) -> None:
    draft = mastodon(acr, hashtags=HashtagRules())
    assert draft.text == (
        "Stalinist Realism and Open Communism — Ian Parker\n"
        "\n"
        f"{STANDFIRST}\n"
        "\n"
        "First published 13 October 2022\n"
        f"{LINK}\n"
        "#Communism #Stalinism"
    )
    assert draft.length == post_length(draft.text, MASTODON_LIMITS) == len(draft.text) - len(LINK) + 23
    assert draft.target == "masto" and draft.article_id == "acr-1" and draft.language == "en"
    assert draft.facets == () and draft.card is None
    assert "hashtags: #Communism #Stalinism (from categories)" in draft.notes
    assert any(n.startswith("date: original publication date 13 October 2022") for n in draft.notes)


def test_acr_article_on_bluesky(acr: Article) -> None:
    draft = bluesky(acr, hashtags=HashtagRules())
    assert draft.text == (
        "Stalinist Realism and Open Communism — Ian Parker\n"
        "\n"
        "Ian Parker describes the stakes of the difference between an approach that is just a "
        "malignant mirror of capitalism and an approach that is for free…\n"
        "\n"
        "First published 13 October 2022\n"
        "anticapitalistresistance.org/stalinist-re…\n"
        "#Communism #Stalinism"
    )
    assert draft.length == post_length(draft.text, BLUESKY_LIMITS) == 298
    assert "standfirst shortened from 195 to 149 characters to fit 300" in draft.notes
    data = draft.text.encode()
    assert [(f.kind, f.value, data[f.byte_start:f.byte_end].decode()) for f in draft.facets] == [
        ("link", LINK, "anticapitalistresistance.org/stalinist-re…"),
        ("tag", "Communism", "#Communism"),
        ("tag", "Stalinism", "#Stalinism"),
    ]
    assert draft.card == LinkCard(
        uri=LINK, title="Stalinist Realism and Open Communism", description=STANDFIRST, thumb_url=IMAGE
    )


def test_repost_credits_the_original_source_and_date(acr: Article) -> None:
    repost = dataclasses.replace(
        acr, source=Source(name="Red Pepper", url="https://www.redpepper.org.uk/x", published=acr.published)
    )
    draft = mastodon(repost)
    assert "\nFirst published 13 October 2022 in Red Pepper\n" in draft.text
    assert (
        "date: original publication date 13 October 2022 (first published in Red Pepper); "
        "the feed's own date is 19 October 2022"
    ) in draft.notes
    custom = mastodon(repost, template="{title}{by_author}, {source}, {date}\n{link}")
    assert custom.text == f"Stalinist Realism and Open Communism by Ian Parker, Red Pepper, 13 October 2022\n{LINK}"


def test_long_card_description_is_cut_whole_clusters(acr: Article) -> None:
    long = dataclasses.replace(acr, standfirst=("Free association 👩🏿‍🔬 and open communism. " * 20))
    card = bluesky(long).card
    assert card is not None and len(card.description) <= 300
    assert card.description.endswith("…")
    body = card.description[:-1]
    assert clusters(body) == clusters(long.standfirst)[: len(clusters(body))]


# --- hashtags ---------------------------------------------------------------------


def test_hashtags_camelcase_map_dedupe_and_limit() -> None:
    cfg = HashtagRules(limit=10, map={"uncategorised": "", "Ecosocialism": "EcoSocialism"})
    cats = ["Climate change", "Anti-capitalism", "climate CHANGE", "Uncategorized", "Uncategorised",
            "ecosocialism", "Women's rights", "2022", "🌹", "Ça ira", "LGBTQ+"]
    assert hashtags_for(cats, cfg) == [
        "ClimateChange", "AntiCapitalism", "Uncategorized", "EcoSocialism", "WomensRights", "ÇaIra", "LGBTQPlus",
    ]
    assert hashtags_for(cats, HashtagRules(limit=2)) == ["ClimateChange", "AntiCapitalism"]


def test_hashtags_extra_are_kept_within_the_limit() -> None:
    cfg = HashtagRules(limit=3, extra=("ACR", "#acr"))
    assert hashtags_for(["Communism", "Stalinism", "acr", "Marxism"], cfg) == ["Communism", "Stalinism", "ACR"]
    assert hashtags_for(["Communism"], HashtagRules(limit=1, extra=("ACR",))) == ["ACR"]


def test_hashtags_off() -> None:
    assert hashtags_for(["Communism"], HashtagRules(enabled=False)) == []
    assert hashtags_for(["Communism"], HashtagRules(limit=0)) == []
    assert hashtags_for([], HashtagRules()) == []


def test_hashtags_off_in_a_post(acr: Article) -> None:
    draft = mastodon(acr, hashtags=HashtagRules(enabled=False))
    assert "#" not in draft.text and "hashtags: off" in draft.notes
    assert draft.text.endswith(LINK)  # no trailing blank line where the hashtags were


ASCII_CATEGORY = st.text(st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=30) | st.sampled_from(
    ["C++", "C#", "F# lang", "LGBTQ+", "Q&A", ".NET", "99 %", "Women's rights", "Arts & Culture", "a.NET",
     "x#y", "_9", "'s", "++", "Dot .net", "0\x1f.A"])


@given(ASCII_CATEGORY, st.booleans())
@settings(max_examples=300)
def test_an_ascii_category_makes_the_tag_the_unicode_rules_make(category: str, capitalise: bool) -> None:
    """(An ASCII category is tagged by stdlib ``re``, without importing ``regex``: the same tag.)"""
    from syndicate.hashtags import _ASCII, _UNICODE, _tag_by

    text = category.strip().lstrip("#")
    assert _tag_by(_ASCII, text, capitalise_first=capitalise) == _tag_by(_UNICODE, text,
                                                                          capitalise_first=capitalise)


@given(st.lists(st.text(max_size=30), max_size=8))
@settings(max_examples=100)
def test_hashtags_are_always_valid(categories: list[str]) -> None:
    tags = hashtags_for(categories, HashtagRules(limit=30))
    assert len({t.casefold() for t in tags}) == len(tags)
    for tag in tags:
        assert regex.fullmatch(r"[\p{L}\p{Mn}\p{Mc}\p{Nd}_]+", tag), tag
        assert regex.search(r"\p{L}", tag) and not regex.match(r"\p{M}", tag)
        assert len(clusters(tag)) <= 64


# --- templates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{title} {titel} {date} {link}", "unknown field {titel} (did you mean {title}?)"),
        ("{title} {date} {link} {}", "positional field {} is not allowed"),
        ("{title} {0} {date} {link}", "positional field {0} is not allowed"),
        ("{title:.20} {date} {link}", "field {title} may not have a format spec"),
        ("{title!r} {date} {link}", "field {title} may not have a format spec or conversion"),
        ("{title.upper} {date} {link}", "unknown field {title.upper}"),
        ("{title} {date}", "must contain {link}"),
        ("{standfirst} {date} {link}", "must contain {title}"),
        ("{title}\n{link}", "must contain {date} or {first_published}"),
        ("{title} {date} {link", "template: "),
    ],
)
def test_template_errors(template: str, message: str, acr: Article) -> None:
    with pytest.raises(ValueError, match=regex.escape(message)):
        validate_template(template)
    with pytest.raises(ValueError, match=regex.escape(message)):
        mastodon(acr, template=template)


def test_unknown_field_message_lists_known_fields() -> None:
    with pytest.raises(ValueError) as err:
        validate_template("{title} {date} {link} {summary}")
    assert "{standfirst}" in str(err.value) and "{first_published}" in str(err.value)


def test_default_template_is_valid() -> None:
    validate_template(DEFAULT_TEMPLATE)
    validate_template("{{literal braces}} {title}\n{first_published}\n{link}")


def test_empty_fields_leave_no_blank_runs_or_trailing_spaces(acr: Article) -> None:
    bare = dataclasses.replace(acr, author=None, standfirst="", categories=())
    template = "{intro}\n\n\n{title}{by_author} {author}\n\n{standfirst}\n\n\n{first_published} {source}\n{link}\n\n{hashtags}\n"
    text = mastodon(bare, template=template, hashtags=HashtagRules()).text
    assert text == f"Stalinist Realism and Open Communism\n\nFirst published 13 October 2022\n{LINK}"
    with_intro = mastodon(bare, template=template, intro="  Worth re-reading:  ").text
    assert with_intro.startswith("Worth re-reading:\n\nStalinist Realism")


# --- fitting ------------------------------------------------------------------------


def test_order_standfirst_then_intro_then_hashtags_then_title(acr: Article) -> None:
    tags = HashtagRules(limit=5)
    article = dataclasses.replace(acr, categories=("Communism", "Stalinism", "Marxism", "Books"))
    full = mastodon(article, hashtags=tags, intro="An editor's note on a classic.")
    assert STANDFIRST in full.text and full.text.startswith("An editor's note")

    def fit(n: int):
        limits = TargetLimits(max_length=n, url_length=23)
        return compose(article, target="t", platform="mastodon", limits=limits, hashtags=tags,
                       intro="An editor's note on a classic.")

    d = fit(full.length - 30)  # the standfirst gives way first
    assert "An editor's note" in d.text and "#Books" in d.text and "…" in d.text.split("\n\n")[2]
    d = fit(full.length - len(STANDFIRST) - 5)  # standfirst gone, intro shortened
    assert "Ian Parker describes" not in d.text and "#Books" in d.text
    assert "standfirst dropped to fit" in " ".join(d.notes)
    d = fit(full.length - len(STANDFIRST) - 40)  # intro gone too, then hashtags from the end
    assert not d.text.startswith("An editor") and "#Communism" in d.text and "#Books" not in d.text
    assert "hashtags dropped to fit" in " ".join(d.notes)
    assert d.text.startswith("Stalinist Realism and Open Communism — Ian Parker\n")
    d = fit(75)  # only the title can give way now
    assert "#" not in d.text and "…" in d.text.split("\n")[0]
    assert "title shortened" in " ".join(d.notes)
    for n in range(60, full.length + 1, 7):
        d = fit(n)
        assert d.length <= n and LINK in d.text and "13 October 2022" in d.text


def test_minimal_layout_and_impossible_limits(acr: Article) -> None:
    limits = TargetLimits(max_length=50, url_length=23)
    d = compose(acr, target="t", platform="mastodon", limits=limits)
    assert d.text == f"Stalinist…\n13 October 2022\n{LINK}"
    assert d.length == 50
    with pytest.raises(ValueError, match="cannot fit within 30"):
        compose(acr, target="t", platform="mastodon", limits=TargetLimits(max_length=30, url_length=23))


def test_emoji_are_never_split(acr: Article) -> None:
    family = "👨‍👩‍👧‍👦"
    long_standfirst = dataclasses.replace(acr, standfirst=family * 400)
    long_title = dataclasses.replace(acr, title="🇬🇧" * 600 + " flags")
    for compose_for, limits in ((mastodon, MASTODON_LIMITS), (bluesky, BLUESKY_LIMITS)):
        draft = compose_for(long_standfirst)
        standfirst = draft.text.split("\n\n")[1]
        assert standfirst.endswith("…") and set(clusters(standfirst[:-1])) == {family}
        assert draft.length <= limits.max_length
        draft = compose_for(long_title)
        title = draft.text.split("\n")[0].removesuffix(" — Ian Parker")
        assert title.endswith("…") and set(clusters(title[:-1])) == {"🇬🇧"}
        assert draft.length <= limits.max_length
    assert len(bluesky(long_standfirst).text.encode()) <= BLUESKY_MAX_BYTES  # 25 bytes a family


def test_links_in_the_standfirst_are_never_cut(acr: Article) -> None:
    url = "https://example.org/a-very-long-path-indeed/with/more/segments"
    article = dataclasses.replace(acr, standfirst="word " * 40 + f"see {url} and more words after it")
    for n in range(200, 320, 3):
        d = compose(article, target="t", platform="bluesky", limits=TargetLimits(n, None))
        standfirst = d.text.split("\n\n")[1]
        assert url in standfirst or "https://" not in standfirst


def test_bluesky_byte_limit(acr: Article) -> None:
    heavy = dataclasses.replace(acr, standfirst=" ".join(["👩🏿‍🔬👨‍👩‍👧‍👦"] * 200))
    d = bluesky(heavy)
    assert len(d.text.encode()) <= BLUESKY_MAX_BYTES and d.length <= 300


def test_facets_after_emoji_and_non_ascii(acr: Article) -> None:
    article = dataclasses.replace(
        acr,
        title="👨‍👩‍👧‍👦 Ça ira — naïve 🇬🇧 réalisme",
        author="Zoë Ménard",
        link="https://bücher.example.org/ça-ira?q=ü",
        categories=("Écologie", "Anti-capitalism"),
        standfirst="Ünïcödé 👍🏽 text e\u0301 before the link.",
    )
    d = bluesky(article, hashtags=HashtagRules(), template="{title}{dash_author} 🏳️‍🌈 {link} {hashtags}\n{date}")
    data = d.text.encode()
    got = [(f.kind, data[f.byte_start:f.byte_end].decode(), f.value) for f in d.facets]
    shown = "bücher.example.org/ça-ira?q=ü"  # as the app shows it: no scheme (the path is short)
    assert got == [
        ("link", shown, article.link),
        ("tag", "#Écologie", "Écologie"),
        ("tag", "#AntiCapitalism", "AntiCapitalism"),
    ]
    assert d.text.index(shown) > 0 and d.facets[0].byte_start > d.text.index(shown)


def test_composing_many_articles_each_post_carries_its_own_title_within_the_limit(acr: Article) -> None:
    """The template and length caches never hand one article's text to another.  (How fast
    composing is, per post, is figure 7 of ``python -m bench``.)"""
    emoji = dataclasses.replace(acr, title="👨‍👩‍👧‍👦 " + acr.title, standfirst=STANDFIRST.replace("the", "thé 👩🏿‍🔬") * 3)
    cfg = HashtagRules()
    for i in range(200):
        for article in (acr, emoji):
            a = dataclasses.replace(article, title=f"{article.title} {i}")  # no memo hits
            for draft, limits in ((mastodon(a, hashtags=cfg), MASTODON_LIMITS),
                                  (bluesky(a, hashtags=cfg), BLUESKY_LIMITS)):
                assert draft.text.split("\n")[0] == f"{a.title} — Ian Parker"
                assert draft.length <= limits.max_length
                assert a.link in draft.text or any(f.value == a.link for f in draft.facets)


# --- properties ---------------------------------------------------------------------

PIECES = [
    "👨‍👩‍👧‍👦", "👍🏽", "👩🏿‍🔬", "🇬🇧", "🇫🇷", "🇬", "🏳️‍🌈", "e\u0301", "a\u0308\u0301", "\u0301",
    "क्षि", "한국어", "日本語の文章です", "—", "…", "«ça»", "\u0600", "\u200b", "x" * 45,
    "https://example.org/a-long-path/with-words", "http://127.0.0.1:8000/x", "https://x.org/a.",
    "Stalinism", "communism,", "(open)", "Ian", "the", "and", "@someone@example.social", "@bob",
    "me@example.org",
]
word = st.one_of(
    st.sampled_from(PIECES),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=10),
)
prose = st.builds(
    lambda words, sep: sep.join(words),
    st.lists(word, max_size=50),
    st.sampled_from([" ", " ", "", " \n\t "]),
)
links = st.builds(
    lambda base, slug: base + slug,
    st.sampled_from([
        "https://anticapitalistresistance.org/", "http://127.0.0.1:8080/articles/",
        "https://bücher.example/ça/", "https://x.org/",
    ]),
    st.from_regex(r"[a-z0-9-]{0,30}", fullmatch=True),
)
platforms = st.sampled_from([
    ("mastodon", MASTODON_LIMITS),
    ("mastodon", TargetLimits(max_length=90, url_length=23)),
    ("bluesky", BLUESKY_LIMITS),
    ("bluesky", dataclasses.replace(BLUESKY_LIMITS, max_length=140)),
])


def normalise(text: str) -> str:
    """The text as compose takes it from a feed: controls dropped, spaces collapsed, mentions defused."""
    kept = "".join(c for c in text if c.isspace() or unicodedata.category(c) != "Cc")
    return defuse_mentions(" ".join(kept.split()))


def test_feed_text_loses_exactly_the_controls_that_are_not_whitespace():
    """(compose finds them by a stdlib code-point class, not ``regex``'s \\p{Cc}: every code point.)"""
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    kept = "".join(c for c in every if c.isspace() or unicodedata.category(c) != "Cc")
    assert card_title(every, "", LINK) == " ".join(kept.split())


def test_a_bluesky_draft_of_plain_english_text_loads_no_regex():
    """(Its title and standfirst hold no "://" and no "#": nothing for the URL and tag patterns to
    find, so regex, ≈15 ms to import, is not; its categories are ASCII: stdlib re makes the tags.)"""
    code = """
import sys
from datetime import UTC, datetime
from syndicate.config import BlueskyTarget
from syndicate.hashtags import HashtagRules
from syndicate.models import Article
from syndicate.targets import draft_post
article = Article(feed="acr", id="1", title="Stalinist Realism and Open Communism",
                  link="https://anticapitalistresistance.org/stalinist-realism/", standfirst="Ian Parker's review.",
                  published=datetime(2022, 10, 13, tzinfo=UTC), categories=("Communism", "Women's rights"))
draft = draft_post(article, "bsky", BlueskyTarget(kind="bluesky", handle="acr.test"), hashtags=HashtagRules())
print(sorted(f.kind for f in draft.facets), "regex" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["['link',", "'tag',", "'tag']", "False"]


def assert_cluster_prefix(out: str, original: str) -> None:
    """``out`` is ``original``, or whole leading clusters of it + "…"."""
    if out == original:
        return
    assert out.endswith("…"), (out, original)
    body = clusters(out[:-1])
    assert body and body == clusters(original)[: len(body)], (out, original)


@given(
    title=st.builds(lambda a, b: a + b, st.sampled_from(["A", "Ça", "🇬🇧", "日本"]), prose),
    standfirst=prose,
    author=st.one_of(st.none(), st.sampled_from(["Ian Parker", "Zoë 👍🏽"])),
    categories=st.lists(st.text(max_size=15), max_size=5),
    link=links,
    platform=platforms,
    published=st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    ),
)
@example(  # a flag glued to a URL, one word of 17 clusters, beside a link counted literally (an IP host)
    title="🇬🇧https://x.org/a.", standfirst="", author=None, categories=[],
    link="http://127.0.0.1:8080/articles/0000000000000000000",
    platform=("mastodon", TargetLimits(max_length=90, url_length=23)), published=datetime(2000, 1, 1, tzinfo=UTC),
)
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_drafts_always_fit_and_carry_title_date_link(
    title: str, standfirst: str, author: str | None, categories: list[str], link: str,
    platform: tuple[str, TargetLimits], published: datetime,
) -> None:
    name, limits = platform
    article = Article(feed="f", id="i", link=link, title=title, published=published, author=author,
                      categories=tuple(categories), standfirst=standfirst)
    draft = compose(article, target="t", platform=name, limits=limits,  # type: ignore[arg-type]
                    hashtags=HashtagRules(limit=4))
    text = draft.text

    assert draft.length == post_length(text, limits) <= limits.max_length
    if name == "bluesky":
        assert len(text.encode()) <= BLUESKY_MAX_BYTES
    lines = text.split("\n")
    assert (short_url(link) if name == "bluesky" else link) in lines
    assert format_date(published) in text
    assert not ACCOUNT_MENTION_RE.search(text)  # nothing from the feed mentions anyone

    paragraphs = text.split("\n\n")
    title_line = lines[0]
    if author:
        title_line = title_line.removesuffix(f" — {author}")
    assert_cluster_prefix(title_line, normalise(title))
    whole_urls = {normalise(title)[start:end] for start, end in url_spans(normalise(title))}
    assert {title_line[start:end] for start, end in url_spans(title_line)} <= whole_urls  # none cut in half
    if len(paragraphs) == 3:
        assert_cluster_prefix(paragraphs[1], normalise(standfirst))
    else:
        assert len(paragraphs) in (1, 2)  # the standfirst was dropped whole (or was empty)

    if name == "bluesky":
        data = text.encode()
        assert [f.value for f in draft.facets if f.kind == "link"].count(link) >= 1  # a #tag may come first
        for facet in draft.facets:
            shown = data[facet.byte_start:facet.byte_end].decode()
            if facet.kind == "link":  # the article's link as the app shows it, or a URL the text gives
                assert shown in (facet.value, short_url(facet.value))
            else:
                assert shown == "#" + facet.value
        assert draft.card is not None and len(draft.card.description) <= 300
    else:
        assert draft.facets == () and draft.card is None


IP_LINK = "http://127.0.0.1:8080/articles/0000000000000000000"  # an IP host: Mastodon counts it literally


def test_a_title_of_one_uncuttable_word_is_cut_before_its_url_when_nothing_else_fits() -> None:
    """The flag makes the URL a URL (counted 23); 1 + 23 + 1 clusters of title leave the minimal
    layout at 91 of 90.  No space and no long word to cut at: the last resort cuts between clusters,
    but never inside the URL, so the title keeps the flag and drops the URL whole."""
    article = Article(feed="f", id="i", link=IP_LINK, title="🇬🇧https://x.org/a.",
                      published=datetime(2000, 1, 1, tzinfo=UTC), standfirst="")
    limits = TargetLimits(max_length=90, url_length=23)
    draft = compose(article, target="t", platform="mastodon", limits=limits, hashtags=HashtagRules(limit=4))
    assert draft.text == f"🇬🇧…\n1 January 2000\n{IP_LINK}"
    assert draft.length == post_length(draft.text, limits) == 68  # 2 + 1 + 14 + 1 + 50
    glued = dataclasses.replace(article, title="Ahttps://x.org/a.")  # no URL to Mastodon: 17 literally
    assert compose(glued, target="t", platform="mastodon", limits=limits).text.split("\n")[0] == "Ahttps://x.org/a."


@pytest.mark.parametrize("title", [
    "see:https://example.org/a-long-path/with-words and more words after it",
    "Read (https://example.org/a-long-path/with-words) today, friends and comrades",
    "Read https://example.org/a-long-path/ today, friends and comrades",
])
@pytest.mark.parametrize("budget", range(50, 95, 3))
def test_a_url_inside_a_title_is_kept_whole_or_dropped_whole(title: str, budget: int) -> None:
    """A long word is cut inside, but not inside a URL it holds (nor is a URL's last "/" taken
    for punctuation before the "…"): a cut link is a broken link."""
    article = Article(feed="f", id="i", link="https://x.org/abc", title=title,
                      published=datetime(2000, 1, 1, tzinfo=UTC), standfirst="")
    limits = TargetLimits(max_length=budget, url_length=None)
    line = compose(article, target="t", platform="mastodon", limits=limits).text.split("\n")[0]
    url = title[title.index("https"):].split(" ")[0].rstrip(")")
    assert line.endswith("…") or line == title
    assert url in line or "https" not in line, line
