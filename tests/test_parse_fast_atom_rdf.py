"""The lxml fast path (``parse.fast``) on Atom 1.0 and RSS 1.0 (RDF), against feedparser.

A Hypothesis corpus of each format is parsed both ways (``parse_feed(use_fast=True/False)``):
the same ``Entry``s and ``Article``s, and the same values under every key ``parse`` reads of
feedparser's dicts.  Plain Atom and RDF go the fast way (``fast.read`` answers, and every entry
reads); a document with something it does not fully read (xhtml, ``<source>``, Media RSS, a
second summary, Media RSS beyond empty media:content/thumbnail, …) falls back, whole, to feedparser and still gives the right articles; and a
read of a known feed stops at its known entries in these formats too.  The golden cases go
through ``tests/test_parse_fast.py``.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicate.parse import Entry, ParsedFeed, fast, parse_feed
from tests.test_parse_fast import BASE, CASES, MARKUP, TEXT, _same, documents

HEADERS = {"content-type": "application/xml; charset=utf-8", "content-location": BASE}
ENTRY_KEYS = ("id", "link", "title", "title_detail", "summary", "summary_detail", "content", "published",
              "media_content", "media_thumbnail",
              "published_parsed", "updated", "updated_parsed", "authors", "author_detail", "author", "tags",
              "language", "rights", "rights_detail", "dc_source")
FEED_KEYS = ("title", "title_detail", "link", "language", "rights", "rights_detail", "authors",
             "author_detail", "author")


def _links(d: dict) -> list[tuple]:
    return [(link.get("rel"), link.get("type"), link.get("href")) for link in dict.get(d, "links", [])]


def _same_dicts(content: bytes, headers: dict[str, str]) -> None:
    """What ``parse`` reads of feedparser's dicts, the same from the fast path."""
    quick = fast.read(content, headers, lazy=False)
    if quick is None:
        return
    slow = feedparser.parse(content, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    assert quick["version"] == slow["version"] and not slow["bozo"]
    for key in FEED_KEYS:
        assert dict.get(quick["feed"], key) == dict.get(slow["feed"], key), key
    assert _links(quick["feed"]) == _links(slow["feed"])
    assert len(quick["entries"]) == len(slow["entries"])
    for mine, theirs in zip(quick["entries"], slow["entries"], strict=True):
        for key in ENTRY_KEYS:
            assert dict.get(mine, key) == dict.get(theirs, key), key
        assert _links(mine) == _links(theirs)


def _check_both_ways(content: bytes, headers: dict[str, str]) -> None:
    try:
        slow = parse_feed("f", content, base_url=BASE, headers=headers, use_fast=False)
    except Exception as exc:  # what feedparser refuses, the fast path refuses the same way
        with pytest.raises(type(exc)):
            parse_feed("f", content, base_url=BASE, headers=headers)
        return
    _same(parse_feed("f", content, base_url=BASE, headers=headers), slow)
    lazy = parse_feed("f", content, base_url=BASE, headers=headers, stop_at=lambda entries: [False] * len(entries))
    _same(lazy, slow)
    _same_dicts(content, {**headers, "content-type": "application/xml; charset=utf-8", "content-location": BASE})


def _taken(content: bytes) -> bool:
    """Whether the fast path reads the whole document (the hook ``parse_feed`` uses)."""
    result = fast.read(content, HEADERS)
    if result is None:
        return False
    try:
        result["entries"].check()
    except fast.Unsupported:
        return False
    return fast.read(content, HEADERS, lazy=False) is not None


# -- Atom ------------------------------------------------------------------------------------

ATOM_NS = ('xmlns="http://www.w3.org/2005/Atom" xmlns:thr="http://purl.org/syndication/thread/1.0" '
           'xmlns:media="http://search.yahoo.com/mrss/"')


def _atom(entries: str, *, feed: str = "", attrs: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><feed {ATOM_NS}{attrs}><title type="text">T</title>'
            f'<link rel="alternate" type="text/html" href="https://example.org/"/><id>urn:feed</id>{feed}'
            f"{entries}</feed>").encode()


ENTRY = ('<entry><title>{title}</title><link rel="alternate" type="text/html" href="https://example.org/{n}"/>'
         "<id>https://example.org/?p={n}</id><published>{date}</published><updated>{date}</updated>"
         '<summary type="html">s{n}</summary></entry>')

ATOM_LINKS = st.sampled_from(["https://example.org/a", "/relative/path", "page.html", "", "?p=1&amp;q=2",
                              "https://example.org/a?x=1&amp;y;", "../up/", "  spaced  "])
ATOM_DATES = st.sampled_from(["2026-11-02T10:00:00Z", "2026-11-02T10:00:00+02:00", "2026-11-02", "not a date",
                              "", "Mon, 02 Nov 2026 10:00:00 +0000"])
BASES = st.sampled_from(["", ' xml:base="https://other.example/x/"', ' xml:base="sub/"', ' xml:base="../"',
                         ' xml:base=""'])
LANGS = st.sampled_from(["", ' xml:lang="fr"', ' xml:lang="en_GB"', ' xml:lang=""'])
TYPES = st.sampled_from(["", ' type="text"', ' type="html"', ' type="TEXT"', ' type="text/html"',
                         ' type="text/plain"'])


def _cdata_or_escaped(value: str, cdata: bool) -> str:
    return f"<![CDATA[{value}]]>" if cdata and "]]>" not in value else escape(value)


@st.composite
def _construct(draw: st.DrawFn, tag: str) -> str:
    value = draw(TEXT) + draw(MARKUP)
    return (f"<{tag}{draw(TYPES)}{draw(BASES)}{draw(LANGS)}>{_cdata_or_escaped(value, draw(st.booleans()))}"
            f"</{tag}>")


@st.composite
def _person(draw: st.DrawFn, tag: str) -> str:
    parts = []
    if draw(st.booleans()):
        parts.append(f"<name>{escape(draw(st.sampled_from(['Ann Author', ' Bo ', 'Ç Çedilla', '', 'Ã©'])))}</name>")
    if draw(st.booleans()):
        parts.append(f"<email>{draw(st.sampled_from(['ann@example.org', '', 'x']))}</email>")
    if draw(st.booleans()):
        parts.append(f"<uri{draw(BASES)}>{escape(draw(ATOM_LINKS))}</uri>")
    parts = draw(st.permutations(parts))
    return f"<{tag}{draw(BASES)}>" + "\n ".join(parts) + f"</{tag}>"


@st.composite
def _link(draw: st.DrawFn) -> str:
    rel = draw(st.sampled_from(["", ' rel="alternate"', ' rel="Alternate"', ' rel="self"', ' rel="replies"',
                                ' rel="enclosure"', ' rel="related"', ' rel="license"']))
    kind = draw(st.sampled_from(["", ' type="text/html"', ' type="application/atom+xml"', ' type="image/jpeg"',
                                 ' type="html"', ' type="xhtml"', ' type="TEXT/HTML"']))
    extra = draw(st.sampled_from(["", ' thr:count="2"', ' title="T"', ' length="10"', ' hreflang="fr"']))
    return f"<link{rel}{kind} href={quoteattr(draw(ATOM_LINKS))}{extra}{draw(BASES)}/>"


@st.composite
def atom_entry(draw: st.DrawFn, n: int) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 2))):
        parts.append(draw(_construct("title")))
    for _ in range(draw(st.integers(0, 3))):
        parts.append(draw(_link()))
    if draw(st.booleans()):
        ident = draw(st.sampled_from([f"urn:uuid:{n}", f"tag:example.org,2026:{n}", f"https://example.org/?p={n}",
                                      f"/p/{n}", ""]))
        parts.append(f"<id{draw(BASES)}>{ident}</id>")
    for key in ("published", "updated"):
        if draw(st.booleans()):
            parts.append(f"<{key}>{draw(ATOM_DATES)}</{key}>")
    for _ in range(draw(st.integers(0, 2))):
        parts.append(draw(_person("author")))
    if draw(st.booleans()):
        parts.append(draw(_person("contributor")))
    for _ in range(draw(st.integers(0, 3))):
        term = draw(st.sampled_from(["", ' term="News"', ' term="Art"', ' term=" News "']))
        scheme = draw(st.sampled_from(["", ' scheme="https://example.org/"']))
        label = draw(st.sampled_from(["", ' label="L"']))
        text = draw(st.sampled_from(["", "Inner"]))
        parts.append(f"<category{term}{scheme}{label}>{text}</category>")
    order = draw(st.sampled_from(["sc", "cs", "s", "c", "", "cc", "csc"]))
    for which in order:
        parts.append(draw(_construct("summary" if which == "s" else "content")))
    if draw(st.booleans()):
        parts.append(draw(_construct("rights")))
    if draw(st.booleans()):
        parts.append("<thr:total>2</thr:total>")
    for _ in range(draw(st.integers(0, 2))):
        tag = draw(st.sampled_from(["media:content", "media:thumbnail"]))
        url = draw(st.sampled_from(["https://example.org/i.jpg", "/rel/i.png", "https://www.gravatar.com/avatar/x",
                                    "https://example.org/v.mp4", ""]))
        attrs = draw(st.sampled_from(["", ' medium="image"', ' type="IMAGE/JPEG"', ' width="72" height="72"',
                                      ' type="video/mp4" fileSize="10"']))
        parts.append(f'<{tag} url="{url}"{attrs}/>')
    parts = draw(st.permutations(parts))
    return f"<entry{draw(BASES)}{draw(LANGS)}>\n" + "\n".join(parts) + "</entry>"


@st.composite
def atom_documents(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    feed = []
    for _ in range(draw(st.integers(0, 2))):
        feed.append(draw(_link()))
    if draw(st.booleans()):
        feed.append(draw(_person("author")))
    if draw(st.booleans()):
        feed.append(draw(_construct("rights")))
    if draw(st.booleans()):
        feed.append(draw(_construct("subtitle")))
    if draw(st.booleans()):
        feed.append('<generator uri="https://wordpress.org/" version="6.8">WordPress</generator>')
    body = "".join(draw(atom_entry(n)) for n in range(draw(st.integers(0, 4))))
    attrs = draw(BASES) + draw(LANGS)
    headers = {"content-type": draw(st.sampled_from(["application/atom+xml", "text/xml; charset=utf-8",
                                                     "application/xml"]))}
    if draw(st.booleans()):
        headers["content-language"] = "en"
    return _atom(body, feed="".join(feed), attrs=attrs), headers


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(atom_documents())
def test_any_generated_atom_reads_the_same_both_ways(doc):
    _check_both_ways(*doc)


# -- RDF -------------------------------------------------------------------------------------

RDF_NS = ('xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" '
          'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
          'xmlns:prism="http://prismstandard.org/namespaces/1.2/basic/" '
          'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"')


def _rdf(items: str, *, channel: str = "", about: list[str] | None = None) -> bytes:
    seq = "".join(f'<rdf:li rdf:resource="{a}"/>' for a in about or [])
    return (f'<?xml version="1.0" encoding="utf-8"?><rdf:RDF {RDF_NS}>'
            f'<channel rdf:about="https://example.org/"><title>T</title><link>https://example.org/</link>'
            f"<description>D</description>{channel}<items><rdf:Seq>{seq}</rdf:Seq></items></channel>"
            f"{items}</rdf:RDF>").encode()


RDF_ITEM = ('<item rdf:about="https://example.org/{n}"><title>{title}</title><link>https://example.org/{n}</link>'
            "<description>d{n}</description><dc:date>{date}</dc:date><dc:creator>A</dc:creator></item>")


def _field(tag: str, value: str, cdata: bool) -> str:
    return f"<{tag}>{_cdata_or_escaped(value, cdata)}</{tag}>"


@st.composite
def rdf_item(draw: st.DrawFn, n: int) -> str:
    parts = []
    cdata = draw(st.booleans())
    for _ in range(draw(st.integers(0, 2))):
        parts.append(_field("title", draw(TEXT) + draw(MARKUP), cdata))
    if draw(st.booleans()):
        parts.append(f"<link>{escape(draw(ATOM_LINKS))}</link>")
    if draw(st.booleans()):
        parts.append(_field("description", draw(TEXT) + draw(MARKUP), cdata))
    if draw(st.booleans()):
        parts.append(_field("content:encoded", draw(MARKUP) + draw(TEXT), True))
    for _ in range(draw(st.integers(0, 2))):
        parts.append(_field("dc:creator", draw(st.sampled_from(["", "Ann Author", " Bo ", "Ç Çedilla"])), cdata))
    if draw(st.booleans()):
        parts.append(f"<dc:date>{draw(ATOM_DATES)}</dc:date>")
    for _ in range(draw(st.integers(0, 3))):
        parts.append(f"<dc:subject>{draw(st.sampled_from(['', 'News', 'Art', ' News ']))}</dc:subject>")
    if draw(st.booleans()):
        parts.append(f"<dc:source>{escape(draw(ATOM_LINKS))}</dc:source>")
    if draw(st.booleans()):
        parts.append(f"<dc:language>{draw(st.sampled_from(['fr', 'en_GB', '']))}</dc:language>")
    if draw(st.booleans()):
        parts.append(_field("dc:rights", draw(TEXT) + draw(MARKUP), cdata))
    if draw(st.booleans()):
        parts.append("<prism:volume>4</prism:volume><dc:identifier>doi:1</dc:identifier>")
    parts = draw(st.permutations(parts))
    about = draw(st.sampled_from([f' rdf:about="https://example.org/{n}"', f' rdf:about="/rel/{n}"', ""]))
    return f"<item{about}>" + "".join(parts) + "</item>"


@st.composite
def rdf_documents(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    channel = []
    if draw(st.booleans()):
        channel.append(f"<dc:language>{draw(st.sampled_from(['en-GB', 'fr', 'en_US', ' de ']))}</dc:language>")
    if draw(st.booleans()):
        channel.append(_field("dc:rights", draw(TEXT) + draw(MARKUP), False))
    if draw(st.booleans()):
        channel.append("<dc:date>2026-11-02T10:00:00Z</dc:date><dc:publisher>P</dc:publisher>"
                       "<sy:updatePeriod>daily</sy:updatePeriod>")
    if draw(st.booleans()):
        channel.append('<image rdf:resource="https://example.org/logo.png"/>')
    body = "".join(draw(rdf_item(n)) for n in range(draw(st.integers(0, 4))))
    headers = {"content-type": draw(st.sampled_from(["application/rdf+xml", "text/xml; charset=utf-8",
                                                     "application/xml"]))}
    if draw(st.booleans()):
        headers["content-language"] = "en"
    return _rdf(body, channel="".join(channel)), headers


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rdf_documents())
def test_any_generated_rdf_reads_the_same_both_ways(doc):
    _check_both_ways(*doc)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_any_generated_rss_gives_feedparser_s_values_under_every_key_read(doc):
    content, headers = doc
    _same_dicts(content, {**headers, "content-type": "application/xml; charset=utf-8", "content-location": BASE})


# -- the fast path is taken, or falls back whole ---------------------------------------------


def test_plain_atom_and_rdf_go_the_fast_way():
    atom = _atom("".join(ENTRY.format(title=f"T{n}", n=n, date=f"2026-11-{n:02d}T10:00:00Z") for n in (2, 1)))
    rdf = _rdf("".join(RDF_ITEM.format(title=f"T{n}", n=n, date=f"2026-11-{n:02d}T10:00:00Z") for n in (2, 1)))
    assert _taken(atom) and _taken(rdf)
    assert fast.read(atom, HEADERS)["version"] == "atom10" and fast.read(rdf, HEADERS)["version"] == "rss10"
    golden = {p.name for p in CASES.iterdir() if p.suffix in (".atom", ".rdf", ".xml") and _taken(p.read_bytes())}
    assert {"atom-wordpress.atom", "atom-authors-categories.atom", "atom-blogger.xml", "credit-dc-source.rdf", "rdf-ojs-day-only.rdf",
            "rdf-dc-creator-date.rdf"} <= golden, golden


ODD_ATOM_ENTRIES = [
    '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div></content>',
    '<summary type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">x</div></summary>',
    '<content type="image/png">aGVsbG8=</content>',
    '<content src="https://example.org/c"/>',
    '<summary>one</summary><summary>two</summary>',
    '<source><id>urn:s</id><title>Elsewhere</title></source>',
    '<media:content xmlns:media="http://search.yahoo.com/mrss/" url="https://example.org/i.jpg">'
    "<media:title>T</media:title></media:content>",
    '<media:group xmlns:media="http://search.yahoo.com/mrss/"><media:content url="https://example.org/i.jpg"/>'
    "</media:group>",
    '<media:thumbnail xmlns:media="http://search.yahoo.com/mrss/" url="https://example.org/i.jpg" lang="fr"/>',
    '<link rel="alternate">https://example.org/text-link</link>',
    '<link base="https://other.example/" href="x"/>',
    '<title type="html"><b>markup</b> not escaped</title>',
    '<author>Someone</author>',
    '<x:y xmlns:x="https://unknown.example/">z</x:y>',
    "<dc:creator xmlns:dc=\"http://purl.org/dc/elements/1.1/\">Dee</dc:creator>",
    "<issued>2026-11-01T10:00:00Z</issued>",
    # a skipped namespace under a prefix one of feedparser's handlers answers to: itunes:image is an image
    '<itunes:image xmlns:itunes="http://purl.org/syndication/thread/1.0" href="https://example.org/i.jpg"/>',
]


@pytest.mark.parametrize("extra", ODD_ATOM_ENTRIES)
def test_an_atom_entry_the_fast_path_cannot_read_sends_the_whole_document_to_feedparser(extra):
    plain = ENTRY.format(title="One", n=1, date="2026-11-02T10:00:00Z")
    odd = ENTRY.format(title="Two", n=2, date="2026-11-01T10:00:00Z").replace("</entry>", extra + "</entry>")
    content = _atom(plain + odd)
    assert not _taken(content)
    quick, slow = (parse_feed("f", content, base_url=BASE),
                   parse_feed("f", content, base_url=BASE, use_fast=False))
    _same(quick, slow)
    assert [e.id for e in quick.entries] == ["https://example.org/?p=1", "https://example.org/?p=2"]


@pytest.mark.parametrize("content", [
    _atom(ENTRY.format(title="One", n=1, date="2026-11-02T10:00:00Z"), feed="").replace(
        b"</feed>", b"<title>late</title></feed>"),  # the feed's own elements after an entry
    _atom("", attrs=' xmlns:rss="http://purl.org/rss/1.0/"'),  # feedparser's version would be rss10
    _atom("", attrs=' version="0.3"'),
    b'<?xml version="1.0"?><feed xmlns="http://purl.org/atom/ns#"><title>Atom 0.3</title></feed>',
    _rdf(RDF_ITEM.format(title="One", n=1, date="2026-11-02")).replace(
        b"</rdf:RDF>", b'<image rdf:about="https://example.org/i.png"><title>I</title></image></rdf:RDF>'),
    _rdf(RDF_ITEM.format(title="One", n=1, date="2026-11-02")).replace(b"<item ", b'<item xml:lang="fr" '),
    _rdf("").replace(b"<channel", RDF_ITEM.format(title="One", n=1, date="2026-11-02").encode() + b"<channel"),
    _rdf("").replace(b'xmlns="http://purl.org/rss/1.0/"', b'xmlns="http://purl.org/rss/1.0/" '
                                                            b'xmlns:atom="http://www.w3.org/2005/Atom"'),
    _rdf(RDF_ITEM.format(title="One", n=1, date="2026-11-02").replace("</item>", "<guid>g</guid></item>")),
])
def test_atom_and_rdf_documents_the_fast_path_does_not_take(content):
    assert not _taken(content)
    try:
        slow = parse_feed("f", content, base_url=BASE, use_fast=False)
    except Exception:
        return
    _same(parse_feed("f", content, base_url=BASE), slow)


def test_xml_base_and_lang_are_resolved_and_inherited_as_feedparser_does():
    entry = ('<entry xml:base="news/" xml:lang="fr"><title>Un</title><link href="one.html"/><id>one</id>'
             '<updated>2026-11-02T10:00:00Z</updated><author><name>A</name><uri>me/</uri></author>'
             '<content type="html" xml:base="one/" xml:lang="">&lt;p&gt;&lt;img src="i.jpg"&gt;text&lt;/p&gt;'
             "</content></entry>")
    content = _atom(entry, attrs=' xml:base="https://example.org/site/" xml:lang="en-GB"')
    assert _taken(content)
    _check_both_ways(content, {"content-type": "application/atom+xml"})
    quick = parse_feed("f", content, base_url=BASE)
    assert quick.entries[0].link == "https://example.org/site/news/one.html"
    assert quick.language == "en-GB"


# -- stopping at known entries ---------------------------------------------------------------


def _known(parsed: ParsedFeed):
    prints = {e.id: e.fingerprint for e in parsed.entries}
    asked: list[str] = []

    def known_unchanged(entries: list[Entry]) -> list[bool]:
        asked.extend(e.id for e in entries)
        return [prints.get(e.id) == e.fingerprint for e in entries]
    return known_unchanged, asked


@pytest.mark.parametrize("make", [
    lambda ns: _atom("".join(ENTRY.format(title=f"Item {n}", n=n, date=f"2026-11-{n:02d}T10:00:00Z") for n in ns)),
    lambda ns: _rdf("".join(RDF_ITEM.format(title=f"Item {n}", n=n, date=f"2026-11-{n:02d}T10:00:00Z")
                            for n in ns)),
], ids=["atom", "rdf"])
def test_a_known_atom_or_rdf_feed_with_one_new_entry_stops_after_a_few_known_ones(make):
    before = parse_feed("f", make(list(range(20, 0, -1))), base_url=BASE)
    stop, asked = _known(before)
    after = parse_feed("f", make(list(range(21, 0, -1))), base_url=BASE, stop_at=stop)
    assert len(after.entries) == 4 and after.entries[0].link == "https://example.org/21"
    assert len(asked) == 5  # four read, and the last, to be sure of the order
    assert _taken(make([21, 20]))


# -- feedparser's _urljoin, taken at once for a URL it gives back unchanged ------------------

URL_PARTS = st.sampled_from(["https://", "http://", "HTTP://", "https:///", "ftp://", "", "//", "/", "a", "b.c",
                             ":8080", "@", "[::1]", "é", "?", "#", ";", ";p", "&amp;", " ", "\t", "%20", ".",
                             "..", "/x", "?", "=", "\\", "~", "\x00", "\x7f", "'", "(", "*"])


@settings(max_examples=2000, deadline=None)
@given(st.lists(URL_PARTS, max_size=10).map("".join),
       st.sampled_from(["", "https://example.org/feed/", "http://example.org/a/b?c#d", "https://h",
                        "file:///x/", "tag:example.org,2026:x"]))
def test_join_is_feedparsers_urljoin(uri, base):
    from feedparser.urls import _urljoin

    from syndicate.parse.fast.common import join

    assert join(base, uri) == _urljoin(base, uri)
    assert join(base, "https://example.org" + uri) == _urljoin(base, "https://example.org" + uri)
