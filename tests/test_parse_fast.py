"""The lxml fast path (``parse.fast``) against feedparser: the same ``Entry``s and ``Article``s.

Every golden case (``tests/data/cases/*``) and a Hypothesis corpus of RSS 2.0 documents are
parsed both ways (``parse_feed(use_fast=True/False)``); what either says must be what the
other says, field by field.  A document the fast path does not fully read falls back, whole,
to feedparser; and a read that stops at known entries (``stop_at``) stops only when safe.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicate.parse import Entry, ParsedFeed, fast, normalise, parse_feed

CASES = Path(__file__).parent / "data" / "cases"
FEEDS = sorted(p for p in CASES.iterdir() if p.suffix in (".rss", ".atom", ".rdf", ".xml")
               and not p.name.endswith(".feed.xml"))
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
BASE = "https://example.org/feed/"


def _settings(path: Path) -> dict:
    case = path.with_name(path.name.split(".", 1)[0] + ".case.json")
    return json.loads(case.read_text(encoding="utf-8")) if case.exists() else {}


def _same(fast_parsed: ParsedFeed, slow: ParsedFeed, *, language: str | None = None) -> None:
    for name in ("title", "link", "language", "warnings", "base_url", "typed_text", "rights", "author"):
        assert getattr(fast_parsed, name) == getattr(slow, name), name
    assert [(e.id, e.link, e.fingerprint) for e in fast_parsed.entries] == \
        [(e.id, e.link, e.fingerprint) for e in slow.entries]
    for a, b in zip(fast_parsed.entries, slow.entries, strict=True):
        assert normalise("f", a, fast_parsed, now=NOW, language=language) == \
            normalise("f", b, slow, now=NOW, language=language)


def _both(content: bytes, base_url: str = BASE, headers: dict | None = None) -> tuple[ParsedFeed, ParsedFeed]:
    return (parse_feed("f", content, base_url=base_url, headers=headers),
            parse_feed("f", content, base_url=base_url, headers=headers, use_fast=False))


@pytest.mark.parametrize("path", FEEDS, ids=[p.name for p in FEEDS])
def test_every_golden_case_reads_the_same_both_ways(path):
    settings_ = _settings(path)
    content = path.read_bytes()
    base = settings_.get("base_url", "https://anticapitalistresistance.org/feed/")
    quick, slow = _both(content, base)
    _same(quick, slow, language=settings_.get("language"))
    # the lazy reading (items read when asked for: a read that may stop) gives the same too
    lazy = parse_feed("f", content, base_url=base, stop_at=lambda entries: [False] * len(entries))
    _same(lazy, slow, language=settings_.get("language"))


def test_the_fast_path_reads_the_golden_rss_cases():
    """Not a vacuous comparison: the WordPress-style cases go the fast way."""
    taken = [p.name for p in FEEDS if fast.read(p.read_bytes(), {"content-type": "application/xml; charset=utf-8",
                                                                 "content-location": BASE}) is not None]
    assert "acr.rss" in taken and len(taken) >= 5, taken


def _rss(items: str, *, channel: str = "", namespaces: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            f'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            f'xmlns:dc="http://purl.org/dc/elements/1.1/" {namespaces}><channel><title>T</title>'
            f'<link>https://example.org/</link>{channel}{items}</channel></rss>').encode()


ITEM = ("<item><title>{title}</title><link>https://example.org/{n}</link>"
        "<guid isPermaLink=\"false\">id-{n}</guid><pubDate>{date}</pubDate>"
        "<description>{desc}</description></item>")


@pytest.mark.parametrize("extra", [
    '<enclosure url="https://example.org/a.mp3" type="audio/mpeg" length="1"/>',
    '<media:content xmlns:media="http://search.yahoo.com/mrss/" url="https://example.org/i.jpg"/>',
    "<source url=\"https://other.example/feed\">Other</source>",
    "<title>A <b>second</b> title with markup</title>",
    "<author>someone@example.org (Someone)</author>",
    "<dc:creator>Someone &lt;someone@example.org&gt;</dc:creator>",
])
def test_an_item_the_fast_path_cannot_read_sends_the_whole_document_to_feedparser(extra):
    items = ITEM.format(title="One", n=1, date="Mon, 02 Nov 2026 10:00:00 +0000", desc="x")
    odd = ITEM.format(title="Two", n=2, date="Sun, 01 Nov 2026 10:00:00 +0000", desc="y").replace(
        "</item>", extra + "</item>")
    content = _rss(items + odd)
    result = fast.read(content, {"content-type": "application/xml; charset=utf-8", "content-location": BASE})
    if result is not None:  # the channel was fine: the odd item is found when read
        with pytest.raises(fast.Unsupported):
            result["entries"].check()
    quick, slow = _both(content)
    _same(quick, slow)


@pytest.mark.parametrize("content", [
    b'<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel><title>T\xe9</title></channel></rss>',
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x "y">]><rss version="2.0"><channel><title>&x;</title>'
    b'</channel></rss>',
    b'<rss version="0.91"><channel><title>Old</title></channel></rss>',
    b'<rss version="2.0"><channel xml:base="https://example.org/x/"><title>T</title></channel></rss>',
    b'<rss version="2.0"><channel><title>T</title><item><title>broken</item></channel></rss>',
])
def test_documents_the_fast_path_does_not_take(content):
    assert fast.read(content, {"content-type": "application/xml; charset=utf-8"}) is None


# -- a Hypothesis corpus --------------------------------------------------------------------

TEXT = st.text(st.sampled_from(list("abc XYZ é€ü’“”—…\u0080\u0093\u0099Ã©&<>\"'\t\n;#")), max_size=30)
MARKUP = st.sampled_from(["", "<b>bold</b>", "&amp;", "&lt;i&gt;x&lt;/i&gt;", "<p>para</p>", "&#8230;",
                          "a &copy; b", "<script>x</script>", "<br/>", "caf\u00c3\u00a9"])
LINKS = st.sampled_from(["https://example.org/a", "/relative/path", "https://example.org/?p=1&amp;q=2",
                         "  https://example.org/spaced  ", "", "page.html", "https://example.org/a?x=1&amp;y;"])
DATES = st.sampled_from(["Mon, 02 Nov 2026 10:00:00 +0000", "2026-11-02T10:00:00Z", "Tue, 3 Nov 2026 9:00 GMT",
                         "not a date", "", "Mon, 02 Nov 2026 10:00:00 +0200"])


def _field(tag: str, value: str, cdata: bool) -> str:
    if cdata and "]]>" not in value:
        return f"<{tag}><![CDATA[{value}]]></{tag}>"
    return f"<{tag}>{escape(value)}</{tag}>"


@st.composite
def items(draw: st.DrawFn, n: int) -> str:
    parts = []
    cdata = draw(st.booleans())
    if draw(st.booleans()):
        parts.append(_field("title", draw(TEXT) + draw(MARKUP), cdata))
    if draw(st.booleans()):
        parts.append(_field("title", draw(TEXT), cdata))
    link = draw(LINKS)
    if draw(st.booleans()):
        parts.append(f"<link>{link}</link>" if "&" in link else _field("link", link, False))
    guid = draw(st.sampled_from(["", ' isPermaLink="false"', ' isPermaLink="true"']))
    if draw(st.booleans()):
        parts.append(f"<guid{guid}>{escape(draw(LINKS)) or f'g{n}'}</guid>")
    if draw(st.booleans()):
        parts.append(_field("pubDate", draw(DATES), False))
    order = draw(st.sampled_from(["dc", "cd", "d", "c", ""]))
    for which in order:
        if which == "d":
            parts.append(_field("description", draw(TEXT) + draw(MARKUP), cdata))
        else:
            parts.append(_field("content:encoded", draw(MARKUP) + draw(TEXT), True))
    for _ in range(draw(st.integers(0, 3))):
        domain = draw(st.sampled_from(["", ' domain="d"', ' domain=""']))
        parts.append(f"<category{domain}>{escape(draw(st.sampled_from(['', 'News', 'Art', ' News '])))}"
                     "</category>")
    for _ in range(draw(st.integers(0, 2))):
        parts.append(_field("dc:creator", draw(st.sampled_from(["", "Ann Author", " Bo ", "Ç Çedilla"])), cdata))
    if draw(st.booleans()):  # the Dublin Core RSS 1.0 shares: read the same in RSS 2.0
        parts.append(_field("dc:date", draw(DATES), False))
    for _ in range(draw(st.integers(0, 2))):
        parts.append(_field("dc:subject", draw(st.sampled_from(["", "News", " Art "])), cdata))
    if draw(st.booleans()):
        parts.append(_field("dc:source", draw(LINKS), False))
    if draw(st.booleans()):
        parts.append(_field("dc:language", draw(st.sampled_from(["fr", "en_GB", ""])), False))
    if draw(st.booleans()):
        parts.append(_field("dc:rights", draw(TEXT) + draw(MARKUP), cdata))
    if draw(st.booleans()):
        parts.append("<dc:identifier>doi:10.1/x</dc:identifier>")
    parts = draw(st.permutations(parts))
    return "<item>" + "".join(parts) + "</item>"


@st.composite
def documents(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    channel = []
    if draw(st.booleans()):
        channel.append(f"<language>{draw(st.sampled_from(['en-GB', 'fr', 'en_US', ' de ']))}</language>")
    if draw(st.booleans()):
        channel.append(_field("copyright", draw(TEXT) + draw(MARKUP), False))
    if draw(st.booleans()):
        channel.append('<atom:link href="https://example.org/feed/" rel="self" type="application/rss+xml"/>')
    if draw(st.booleans()):
        channel.append("<dc:date>2026-11-02T10:00:00Z</dc:date><dc:publisher>P</dc:publisher>")
    if draw(st.booleans()):
        channel.append(f"<dc:language>{draw(st.sampled_from(['en-GB', 'fr']))}</dc:language>")
    body = "".join(draw(items(n)) for n in range(draw(st.integers(0, 4))))
    content = _rss(body, channel="".join(channel), namespaces='xmlns:atom="http://www.w3.org/2005/Atom"')
    headers = {"content-type": draw(st.sampled_from(["application/rss+xml", "text/xml; charset=utf-8",
                                                     "application/xml"]))}
    if draw(st.booleans()):
        headers["content-language"] = "en"
    return content, headers


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_any_generated_rss_reads_the_same_both_ways(doc):
    content, headers = doc
    try:
        slow = parse_feed("f", content, base_url=BASE, headers=headers, use_fast=False)
    except Exception as exc:  # what feedparser refuses, the fast path refuses the same way
        with pytest.raises(type(exc)):
            parse_feed("f", content, base_url=BASE, headers=headers)
        return
    quick = parse_feed("f", content, base_url=BASE, headers=headers)
    _same(quick, slow)
    lazy = parse_feed("f", content, base_url=BASE, headers=headers, stop_at=lambda entries: [False] * len(entries))
    _same(lazy, slow)


# -- stopping at known entries ------------------------------------------------------------


def _feed(ns: list[int]) -> bytes:
    return _rss("".join(ITEM.format(title=f"Item {n}", n=n, date=f"Mon, {n:02d} Nov 2026 10:00:00 +0000",
                                    desc=f"d{n}") for n in ns))


def _known(parsed: ParsedFeed):
    prints = {e.id: e.fingerprint for e in parsed.entries}
    asked: list[str] = []

    def known_unchanged(entries: list[Entry]) -> list[bool]:
        asked.extend(e.id for e in entries)
        return [prints.get(e.id) == e.fingerprint for e in entries]
    return known_unchanged, asked


def test_a_newest_first_feed_with_one_new_entry_stops_after_a_few_known_ones():
    before = parse_feed("f", _feed(list(range(20, 0, -1))), base_url=BASE)
    stop, asked = _known(before)
    after = parse_feed("f", _feed(list(range(21, 0, -1))), base_url=BASE, stop_at=stop)
    assert [e.id for e in after.entries] == ["id-21", "id-20", "id-19", "id-18"]
    assert asked == ["id-21", "id-20", "id-19", "id-18", "id-1"]  # and the last, to be sure of the order


def test_an_oldest_first_feed_is_read_whole():
    before = parse_feed("f", _feed(list(range(1, 21))), base_url=BASE)
    stop, _ = _known(before)
    after = parse_feed("f", _feed(list(range(1, 22))), base_url=BASE, stop_at=stop)
    assert [e.id for e in after.entries][-1] == "id-21" and len(after.entries) == 21


def test_an_edit_below_a_sticky_post_is_still_read():
    before = parse_feed("f", _feed([5, 20, 19, 18, 17, 16]), base_url=BASE)
    stop, _ = _known(before)
    edited = _feed([5, 21, 20, 19, 18, 17, 16]).replace(b"<title>Item 20</title>", b"<title>Item 20, fixed</title>")
    after = parse_feed("f", edited, base_url=BASE, stop_at=stop)
    assert "id-21" in [e.id for e in after.entries] and "id-20" in [e.id for e in after.entries]
