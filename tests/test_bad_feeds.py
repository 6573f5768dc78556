"""Bad feeds: ingestion over a corpus of broken input, and over generated feeds.

One configuration holds a good feed and, each as its own feed, every kind of
breakage we have met or can think of, all served by the loopback
``FeedServer``: broken XML, wrong encodings, entity bombs and XXE, a 100 MB
body, HTML and garbage, odd dates, 10,000 entries, HTTP errors and a hang.
One ``App.run_cycle`` reads them all (the run is shared by the tests of the
corpus; each test checks one feed).  The promises:

- no exception leaves the cycle, and nothing is logged as "feed crashed";
- each problem is exactly one log line naming the feed, with the reason in
  its fields; a clean feed logs no warning;
- the good feed's articles are all recorded; a failed feed records its
  error with a backoff (``Retry-After`` honoured);
- memory stays bounded (tracemalloc) for the huge body and the bombs;
- no local file named by an external entity is read, no DTD fetched.

Then Hypothesis builds RSS and Atom documents with arbitrary text and
structural damage: ``parse_feed`` + ``normalise`` give Articles that keep the
invariants, or ``ParseError``, never anything else.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import gzip
import logging
import re
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, formatdate
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import feedparser
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from syndicate.app import App, CycleResult
from syndicate.config import Config
from syndicate.errors import ParseError
from syndicate.models import Article
from syndicate.parse import canonical_url, normalise, parse_feed
from syndicate.pipeline import FIRST_BACKOFF, FeedResult, Ingester
from syndicate.store import Store
from tests.fakes import make_config
from tests.servers.feeds import Fault, FeedServer

BAD = Path(__file__).parent / "data" / "bad"
GOOD = Path(__file__).parent / "data" / "feeds" / "acr.rss"
MB = 1_000_000
HUGE = 100 * MB
MAX_BYTES = 10 * MB  # FeedConfig's default cap
MEMORY_LIMIT = 50 * MB  # traced peak for one cycle over a huge body or a bomb
MANY = 10_000
TAG_LIKE = re.compile(r"<\s*/?\s*[A-Za-z!?][^<>]*>")  # as summary.blocks._TAG_LIKE
REAL_TAG = re.compile(r"</?(?:script|style|img|iframe|a|b|i|em|strong|p|div|span|br)(?:\s+\w+=[^<>]*)?\s*/?>",
                      re.I)  # markup a title must not keep


# --- documents made at test time ------------------------------------------------------------


def rss(items: str, *, title: str = "A feed", encoding: str | None = "utf-8") -> str:
    decl = f'<?xml version="1.0" encoding="{encoding}"?>\n' if encoding else ""
    return (f'{decl}<rss version="2.0"><channel><title>{title}</title><link>https://feed.example/</link>'
            f"<description>Test</description>{items}</channel></rss>\n")


def host(name: str) -> str:
    """A site of its own for each feed: a link seen in another feed is not new."""
    return f"https://{name}.example"


def item(n: int | str, title: str, *, base: str = "https://feed.example", date: str | None = None,
         body: str = "<p>Body.</p>") -> str:
    date = date or "Mon, 06 Mar 2023 09:00:00 +0000"
    return (f"<item><title>{escape(title)}</title><link>{base}/{n}</link><guid>{base}/{n}</guid>"
            f"<pubDate>{date}</pubDate><description>{escape(body)}</description></item>")


ACCENTED = "Café Noël, déjà vu"
SMART = "“Quoted” — and ‘dashed’"


def many_entries(n: int = MANY) -> bytes:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    items = "".join(item(i, f"Entry {i} & more", base="https://many.example",
                         date=format_datetime(start + timedelta(minutes=i)),
                         body=f"<p>Paragraph {i} with <a href='/x{i}'>a link</a>.</p>")
                    for i in range(n))
    return rss(items, title="Many").encode()


def quadratic_blowup() -> bytes:
    """One 50 kB entity used 2,000 times: 100 MB if expanded (no nesting, so no 'laughs')."""
    return ('<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY a "' + "x" * 50_000 + '">]>\n'
            '<rss version="2.0"><channel><title>Quadratic</title><link>https://quad.example/</link>'
            "<item><title>Quad</title><link>https://quad.example/1</link><guid>q1</guid>"
            "<description>" + "&a;" * 2_000 + "</description></item></channel></rss>").encode()


def gzip_bomb(size: int = HUGE) -> bytes:
    """``size`` zero bytes, gzip-compressed (about 100 kB for 100 MB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * MB
    return b"".join([packer.compress(block) for _ in range(size // MB)] + [packer.flush()])


def zstd_bomb(size: int = HUGE) -> bytes:
    """``size`` zero bytes, zstd-compressed (a few kB for 100 MB)."""
    import zstandard  # installed with atproto; httpx then asks for zstd too
    packer = zstandard.ZstdCompressor(level=3).compressobj()
    block = b"\0" * MB
    return b"".join([packer.compress(block) for _ in range(size // MB)] + [packer.flush()])


# --- the corpus -------------------------------------------------------------------------------


Route = Callable[[FeedServer, str, Path], None]  # serves one feed at /NAME


@dataclass(frozen=True)
class Case:
    """One feed of the corpus and what must come of it.

    ``kind``: "error" (the feed fails: recorded with a backoff, one "feed failed" line),
    "warning" (read, with ``warnings`` "feed warning" lines), "clean" (read, no warning line).
    """

    name: str
    kind: str
    reason: str | tuple[str, ...] = ""  # a part of the error or warning line (one of them)
    articles: int = 0  # articles recorded (read feeds)
    warnings: int = 1
    titles: tuple[str, ...] = ()  # some titles that must be recorded, exactly
    timeout: float | None = None
    check: Callable[[Corpus, Case], None] | None = field(default=None, compare=False)

    def said(self, line: str) -> bool:
        return any(part in line for part in ((self.reason,) if isinstance(self.reason, str) else self.reason))


@dataclass
class Corpus:
    server: FeedServer
    store: Store
    result: CycleResult
    records: list[logging.LogRecord]
    started: float
    seconds: float
    secret: str  # what the XXE feed's local file holds
    cases: dict[str, Case]
    ingester: Ingester

    def state(self, name: str):
        return self.store.feed_state(name)

    @functools.cached_property
    def stored(self) -> list[Article]:
        return self.store.latest_articles(100_000)

    def articles(self, name: str | None = None) -> list[Article]:
        return [a for a in self.stored if name is None or a.feed == name]

    def result_for(self, name: str) -> FeedResult:
        return next(r for r in self.result.feeds if r.feed == name)

    def lines(self, name: str) -> list[logging.LogRecord]:
        """Records at WARNING and above that name the feed."""
        return [r for r in self.records if r.levelno >= logging.WARNING and getattr(r, "feed", None) == name]


def check_good(corpus: Corpus, case: Case) -> None:
    expected = {canonical_url(e.link) for e in feedparser.parse(GOOD.read_bytes()).entries}
    assert {a.link for a in corpus.articles(case.name)} == expected


def check_huge_not_read(corpus: Corpus, case: Case) -> None:
    sent = corpus.server.stream_sent(f"/{case.name}")
    assert sent < 3 * MAX_BYTES, f"{sent} bytes sent: the client read on past its cap"


def check_retry_after(seconds: float) -> Callable[[Corpus, Case], None]:
    def check(corpus: Corpus, case: Case) -> None:
        assert corpus.state(case.name).next_fetch_at >= corpus.started + seconds - 5
    return check


def check_no_dtd_fetched(corpus: Corpus, case: Case) -> None:
    assert corpus.server.requests_for("/evil.dtd") == []


def check_dates(corpus: Corpus, case: Case) -> None:
    arts = {a.link.rsplit("/", 1)[1]: a for a in corpus.articles(case.name)}
    now = datetime.fromtimestamp(corpus.started + corpus.seconds, UTC)
    for a in arts.values():
        assert a.published.utcoffset() == timedelta(0)
        assert a.published <= now + timedelta(days=1)
    for slug in ("future", "soon", "garbage", "zeros", "feb-30", "none", "epoch"):  # dated when first seen
        assert corpus.started - 1 <= arts[slug].published.timestamp() <= corpus.started + corpus.seconds + 1
    assert arts["future"].feed_published == datetime(2124, 3, 6, 9, tzinfo=UTC)  # kept beside it
    assert arts["normal"].published == datetime(2023, 3, 6, 8, tzinfo=UTC)
    assert arts["epoch"].feed_published is None  # 1 Jan 1970 is a broken CMS's zero, not a date


def xml_feed(body: bytes | Callable[[], bytes], **kw) -> Route:
    def route(server: FeedServer, name: str, secret_file: Path) -> None:
        server.set_feed(f"/{name}", body() if callable(body) else body, **kw)
    return route


def fixture(file: str, **kw) -> Route:
    return xml_feed(lambda: (BAD / file).read_bytes(), **kw)


def faults(*items: Fault) -> Route:
    def route(server: FeedServer, name: str, secret_file: Path) -> None:
        server.queue_faults(f"/{name}", *items)
    return route


def stream(**kw) -> Route:
    def route(server: FeedServer, name: str, secret_file: Path) -> None:
        server.set_stream(f"/{name}", HUGE, **kw)
    return route


def xxe_file(server: FeedServer, name: str, secret_file: Path) -> None:
    body = (BAD / "xxe-file.rss").read_bytes().replace(b"SECRET_PATH", str(secret_file).encode())
    server.set_feed(f"/{name}", body)


def xxe_parameter(server: FeedServer, name: str, secret_file: Path) -> None:
    server.set_feed("/evil.dtd", f'<!ENTITY exfil SYSTEM "file://{secret_file}">'.encode(),
                    content_type="application/xml-dtd")
    body = (BAD / "xxe-parameter.rss").read_bytes().replace(b"DTD_URL", server.url("/evil.dtd").encode())
    server.set_feed(f"/{name}", body)


def redirect_loop(server: FeedServer, name: str, secret_file: Path) -> None:
    server.set_redirect(f"/{name}", f"/{name}-b", 302)
    server.set_redirect(f"/{name}-b", f"/{name}", 302)


def retry_at(seconds: float) -> dict[str, str]:
    return {"Retry-After": formatdate(time.time() + seconds, usegmt=True)}


XML = "application/rss+xml"
GOOD_BYTES = GOOD.read_bytes()
ROUTES: dict[str, Route] = {
    "good": xml_feed(GOOD_BYTES),
    "gzip": xml_feed(GOOD_BYTES.replace(b"https://anticapitalistresistance.org/", b"https://gzip.example/"),
                     gzip=True),
    "truncated-item": fixture("truncated-item.rss"),
    "truncated-header": fixture("truncated-header.rss"),
    "latin1-declared-utf8": xml_feed(rss(item(1, ACCENTED, base=host("latin1"))).encode("latin-1"),
                                     content_type=f"{XML}; charset=utf-8"),
    "utf8-declared-latin1": xml_feed(rss(item(1, ACCENTED, base=host("utf8")), encoding="iso-8859-1").encode(),
                                     content_type=f"{XML}; charset=iso-8859-1"),
    "cp1252-declared-utf8": xml_feed(rss(item(1, SMART, base=host("cp1252"))).encode("cp1252"), content_type=XML),
    "utf16-bom-declared-utf8": xml_feed(rss(item(1, ACCENTED, base=host("utf16"))).encode("utf-16"),
                                        content_type=f"{XML}; charset=utf-8"),
    "utf8-bom-declared-utf16": xml_feed(
        codecs.BOM_UTF8 + rss(item(1, ACCENTED, base=host("bom")), encoding="utf-16").encode(), content_type=XML),
    "billion-laughs": fixture("billion-laughs.rss"),
    "quadratic-blowup": xml_feed(quadratic_blowup),
    "xxe-file": xxe_file,
    "xxe-parameter": xxe_parameter,
    "huge-chunked": stream(),
    "huge-length": stream(content_length=True),
    "gzip-bomb": xml_feed(gzip_bomb, headers={"Content-Encoding": "gzip"}),
    "zstd-bomb": xml_feed(zstd_bomb, headers={"Content-Encoding": "zstd"}),
    "html": fixture("not-a-feed.html", content_type="text/html; charset=utf-8"),
    "empty": xml_feed(b""),
    "garbage": fixture("garbage.txt", content_type="text/plain"),
    "gzip-unlabelled": xml_feed(gzip.compress(GOOD_BYTES, mtime=0), content_type="application/octet-stream"),
    "dates": fixture("dates.rss"),
    "no-links": fixture("no-links.rss"),
    "many": xml_feed(many_entries),
    "not-found": lambda server, name, secret_file: None,
    "server-error": faults(Fault(status=500, body=b"Internal Server Error")),
    "rate-limited": faults(Fault(status=429, headers={"Retry-After": "7200"})),
    "unavailable": lambda server, name, secret_file: server.queue_faults(
        f"/{name}", Fault(status=503, headers=retry_at(3 * 3600))),
    "redirect-loop": redirect_loop,
    "hang": faults(Fault(hang=True)),
}


CASES = [
    Case("good", "clean", articles=5, check=check_good),
    Case("gzip", "clean", articles=5),
    Case("truncated-item", "warning", "no element found", articles=2,
         titles=("The whole first item", "The second item")),
    Case("truncated-header", "error", "not well-formed XML"),
    Case("latin1-declared-utf8", "warning", "declared as utf-8, but parsed as windows-1252",
         articles=1, titles=(ACCENTED,)),
    Case("utf8-declared-latin1", "clean", articles=1, titles=(ACCENTED,)),
    Case("cp1252-declared-utf8", "warning", "parsed as windows-1252", articles=1, titles=(SMART,)),
    Case("utf16-bom-declared-utf8", "warning", "parsed as utf-16", articles=1, titles=(ACCENTED,)),
    Case("utf8-bom-declared-utf16", "clean", articles=1, titles=(ACCENTED,)),
    Case("billion-laughs", "warning", "not well-formed XML", articles=1),
    Case("quadratic-blowup", "warning", "not well-formed XML", articles=1),
    Case("xxe-file", "warning", "not well-formed XML", articles=1),
    Case("xxe-parameter", "warning", "not well-formed XML", articles=1, check=check_no_dtd_fetched),
    Case("huge-chunked", "error", "response larger than 10 MB limit", check=check_huge_not_read),
    Case("huge-length", "error", "(Content-Length 100000000)", check=check_huge_not_read),
    Case("gzip-bomb", "error", "response larger than 10 MB limit"),
    # refused by the cap, or (never asked for) as an encoding not to be inflated at all
    Case("zstd-bomb", "error", ("response larger than 10 MB limit", "Content-Encoding zstd")),
    Case("html", "error", "the server sent an HTML page"),
    Case("empty", "error", "empty response body"),
    Case("garbage", "error", "not a usable feed"),
    Case("gzip-unlabelled", "error", "not a usable feed"),
    Case("dates", "clean", articles=9, check=check_dates),
    Case("no-links", "warning", "4 entries without a link skipped", articles=3,
         titles=("", "No guid", "Relative link")),
    Case("many", "clean", articles=MANY),
    Case("not-found", "error", "HTTP 404 Not Found"),
    Case("server-error", "error", "HTTP 500 Internal Server Error"),
    Case("rate-limited", "error", "HTTP 429 Too Many Requests", check=check_retry_after(7200)),
    Case("unavailable", "error", "HTTP 503 Service Unavailable", check=check_retry_after(3 * 3600)),
    Case("redirect-loop", "error", "more than 5 redirects"),
    Case("hang", "error", "timed out after 1", timeout=1.0),
]


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def capture_logs() -> Iterator[Records]:
    """Every record of the ``syndicate`` loggers (caplog is per test; the corpus is per module)."""
    handler = Records()
    logger = logging.getLogger("syndicate")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def captured() -> Iterator[Records]:
    with capture_logs() as handler:
        yield handler


def corpus_config(tmp_path: Path, server: FeedServer, cases: list[Case]) -> Config:
    feeds = {case.name: {"url": server.url(f"/{case.name}"), **({"timeout": case.timeout} if case.timeout else {})}
             for case in cases}
    return make_config(tmp_path, feeds, poll_interval="15m", output=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Iterator[Corpus]:
    tmp_path = tmp_path_factory.mktemp("bad-feeds")
    secret = "XXE-SECRET-c2VjcmV0LW1hcmtlcg"
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(secret + "\n")
    with capture_logs() as handler, FeedServer() as server:
        for case in CASES:
            ROUTES[case.name](server, case.name, secret_file)
        config = corpus_config(tmp_path, server, CASES)
        app = App(config, targets={})
        try:
            started = time.time()
            result = app.run_cycle(all_feeds=True)  # an exception here fails every test
            seconds = time.time() - started
            yield Corpus(server, app.store, result, handler.records, started, seconds, secret,
                         {c.name: c for c in CASES}, app.ingester)
        finally:
            app.close()


# --- the corpus, in one cycle -------------------------------------------------------------------


def test_one_cycle_reads_every_feed_and_nothing_escapes(corpus):
    assert [r.feed for r in corpus.result.feeds] == [c.name for c in CASES]
    crashed = [r for r in corpus.records if r.getMessage() == "feed crashed" or r.exc_info]
    assert crashed == [], [(getattr(r, "feed", None), r.exc_text or r.exc_info) for r in crashed]
    assert corpus.result.written, "the output feed was written after the cycle"


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_each_problem_is_one_line_naming_the_feed_and_its_state_is_recorded(corpus, name):
    case = corpus.cases[name]
    result, state, lines = corpus.result_for(name), corpus.state(name), corpus.lines(name)
    articles = corpus.articles(name)
    shown = [(r.getMessage(), {k: v for k, v in vars(r).items() if k in ("error", "warning")}) for r in lines]
    if case.kind == "error":
        assert result.status == "error"
        assert state.error_count == 1
        assert case.said(state.last_error) and "\n" not in state.last_error
        assert result.error == f"feed {name}: {state.last_error}"
        assert state.next_fetch_at >= corpus.started + FIRST_BACKOFF * 0.9 - 1  # backs off
        assert articles == []
        assert len(lines) == 1, shown
        [line] = lines
        assert line.getMessage() == "feed failed" and line.error == state.last_error
        assert line.levelno == logging.WARNING and line.errors == 1
    else:
        assert result.status == "fetched", result.error
        assert state.error_count == 0 and state.last_error is None and state.seeded
        assert len(articles) == case.articles
        assert len(lines) == (case.warnings if case.kind == "warning" else 0), shown
        for line in lines:
            assert line.getMessage() == "feed warning"
            assert line.warning.startswith(f"feed {name}: ") and "\n" not in line.warning
        if case.kind == "warning":
            assert any(case.said(line.warning) for line in lines), shown
        assert set(case.titles) <= {a.title for a in articles}, [a.title for a in articles]
        for a in articles:
            assert a.id and a.link.startswith(("http://", "https://"))
            assert a.published.utcoffset() == timedelta(0)
    if case.check:
        case.check(corpus, case)


def test_failed_feeds_come_back_after_their_backoff_and_retry_after(corpus):
    now = corpus.started + corpus.seconds
    assert corpus.ingester.due(now) == []  # every feed was just read, or is backing off
    later = {f.name for f in corpus.ingester.due(now + FIRST_BACKOFF * 1.1 + 1)}
    failed = {c.name for c in CASES if c.kind == "error"}
    assert later == failed - {"rate-limited", "unavailable"}  # those asked for hours
    assert {f.name for f in corpus.ingester.due(now + 3 * 3600 + 60)} >= failed


def test_no_external_entity_is_ever_read(corpus):
    stored = repr(corpus.articles())
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in corpus.records)
    written = "\n".join(p.read_text(errors="replace") for p in corpus.result.written)
    for where in (stored, logged, written):
        assert corpus.secret not in where
        assert "root:x:0:0" not in where
    xxe = corpus.articles("xxe-file")[0]
    assert xxe.title == "Leak &xxe; &secret;"  # the references are left as text, never expanded
    assert corpus.server.requests_for("/evil.dtd") == []


def test_the_many_entries_are_all_recorded(corpus):
    titles = {a.title for a in corpus.articles("many")}
    assert len(titles) == MANY and "Entry 9999 & more" in titles


# --- memory ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "huge-chunked", "huge-length", "billion-laughs", "quadratic-blowup", "xxe-file",
    "gzip-bomb", "zstd-bomb",
])
def test_memory_stays_bounded(tmp_path, feed_server, captured, name):
    case = next(c for c in CASES if c.name == name)
    feed_server.set_feed("/small", rss(item(1, "Small and good", base=host("small"))).encode())
    ROUTES[name](feed_server, name, tmp_path / "secret.txt")
    config = Config.validate({
        "state": str(tmp_path / "state.db"), "output": {"enabled": False},
        "feeds": [{"name": "small", "url": feed_server.url("/small")},
                  {"name": name, "url": feed_server.url(f"/{name}")}],
    })
    app = App(config, targets={})
    tracemalloc.start()
    try:
        result = app.run_cycle(all_feeds=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        app.close()
    assert [r.status for r in result.feeds] == ["fetched", "error" if case.kind == "error" else "fetched"]
    print(f"{name}: {peak / MB:.1f} MB traced at the peak")
    assert peak < MEMORY_LIMIT, f"{peak / MB:.0f} MB traced at the peak"
    assert [r.getMessage() for r in captured.records if r.levelno >= logging.WARNING] == \
           ["feed failed" if case.kind == "error" else "feed warning"]


# --- Hypothesis: generated feeds ----------------------------------------------------------------

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
TRICKY = (
    "<b>bold</b>", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<p>para</p>",
    "<a href='javascript:alert(1)'>x</a>", "<!-- comment -->", "<?pi x?>", "<br/>", "</div>",
    "&amp;", "&nbsp;", "&eacute;", "&#8217;", "&#x1F600;", "&#0;", "&bogus;", "&", "<", ">", '"', "'",
    "]]>", "<![CDATA[", "\u202e", "😀", "e\u0301", "\r\n", "\t", "\x00", "\x0b", "\ufffe", "\u2028",
)
OFFSETS = [UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12)),
           timezone(timedelta(hours=5, minutes=30))]

texts = st.lists(st.one_of(st.text(max_size=12), st.sampled_from(TRICKY)), max_size=4).map("".join)
moments = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                       timezones=st.sampled_from(OFFSETS))
dates = st.one_of(
    moments.map(format_datetime),
    moments.map(datetime.isoformat),
    st.sampled_from(["", "0", "-1", "0000-00-00", "Thu, 01 Jan 1970 00:00:00 +0000",
                     "Sat, 30 Feb 2023 12:00:00 GMT", "2023-13-45T25:61:61Z", "99999999999999999999",
                     "Mon, 06 Mar 2023 09:00:00 +9999", "tomorrow"]),
    texts,
)
hosts = st.from_regex(r"[a-z0-9][a-z0-9-]{0,10}(\.[a-z]{2,6}){1,2}", fullmatch=True)
links = st.one_of(
    st.builds(lambda h, p: f"https://{h}/{p}", hosts, st.text(max_size=12)),
    st.builds(lambda h, n: f"http://{h}/{n}?utm_source=rss&id={n}", hosts, st.integers(0, 99)),
    st.sampled_from(["", "/relative/path", "page.html", "javascript:alert(1)", "mailto:a@b.example",
                     "http://", "https://[::1]:8080/x", "http://exa mple.com/a b", "https://例え.jp/パス?q=1#f",
                     "HTTP://UPPER.EXAMPLE:80/?utm_source=x", "https://e.example:99999/", "//rel.example/x",
                     "https://[bad/"]),
    texts,
)
guids = st.one_of(st.none(), st.sampled_from(["dup-1", "dup-2", " ", ""]), links, texts)


def embed(draw: st.DrawFn, value: str) -> str:
    """``value`` as element content: escaped (mostly), in CDATA, or raw (which may break the XML)."""
    how = draw(st.sampled_from(["escaped", "escaped", "escaped", "cdata", "raw"]))
    if how == "cdata":
        return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"
    return value if how == "raw" else escape(value)


@st.composite
def entries(draw: st.DrawFn, atom: bool) -> str:
    parts = draw(st.fixed_dictionaries({}, optional={
        "title": texts, "link": links, "guid": guids, "date": dates, "updated": dates,
        "summary": texts, "content": texts, "author": texts, "category": texts}))
    out = []
    for key, value in parts.items():
        if value is None:
            continue
        body = embed(draw, value)
        if atom:
            kind = draw(st.sampled_from([None, "text", "html", "xhtml"]))
            typed = f' type="{kind}"' if kind else ""
            if kind == "xhtml":
                body = f'<div xmlns="http://www.w3.org/1999/xhtml">{value}</div>'
            out.append({
                "title": f"<title{typed}>{body}</title>",
                "link": f"<link rel=\"alternate\" href={quoteattr(value)}/>",
                "guid": f"<id>{body}</id>",
                "date": f"<published>{body}</published>",
                "updated": f"<updated>{body}</updated>",
                "summary": f"<summary{typed}>{body}</summary>",
                "content": f"<content{typed}>{body}</content>",
                "author": f"<author><name>{body}</name></author>",
                "category": f"<category term={quoteattr(value)}/>",
            }[key])
        else:
            permalink = draw(st.sampled_from(["", ' isPermaLink="false"', ' isPermaLink="true"']))
            out.append({
                "title": f"<title>{body}</title>",
                "link": f"<link>{body}</link>",
                "guid": f"<guid{permalink}>{body}</guid>",
                "date": f"<pubDate>{body}</pubDate>",
                "updated": f"<dc:date>{body}</dc:date>",
                "summary": f"<description>{body}</description>",
                "content": f"<content:encoded>{body}</content:encoded>",
                "author": f"<dc:creator>{body}</dc:creator>",
                "category": f"<category>{body}</category>",
            }[key])
    inner = "".join(draw(st.permutations(out)))
    return f"<entry>{inner}</entry>" if atom else f"<item>{inner}</item>"


@st.composite
def feed_documents(draw: st.DrawFn) -> tuple[bytes, dict[str, str] | None]:
    atom = draw(st.booleans())
    items = draw(st.lists(entries(atom), max_size=5))
    if items and draw(st.booleans()):  # the same entry twice
        items.append(items[draw(st.integers(0, len(items) - 1))])
    title = embed(draw, draw(texts))
    if atom:
        doc = (f'<feed xmlns="http://www.w3.org/2005/Atom"><title>{title}</title>'
               f'<link href="https://feed.example/"/><id>urn:feed</id>{"".join(items)}</feed>')
    else:
        doc = ('<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
               f'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>{title}</title>'
               f'<link>https://feed.example/</link>{"".join(items)}</channel></rss>')
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "iso-8859-1", "cp1252"]))
    declared = draw(st.sampled_from([encoding, "utf-8", "iso-8859-1", None]))
    if declared:
        doc = f'<?xml version="1.0" encoding="{declared}"?>\n' + doc
    body = doc.encode(encoding, errors="replace")

    mutation = draw(st.sampled_from(["none", "none", "drop-close", "truncate", "garbage", "bom"]))
    if mutation == "drop-close":
        closing = [m.span() for m in re.finditer(rb"</[\w:]+>", body)]
        if closing:
            start, end = closing[draw(st.integers(0, len(closing) - 1))]
            body = body[:start] + body[end:]
    elif mutation == "truncate":
        body = body[:draw(st.integers(0, len(body)))]
    elif mutation == "garbage":
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.binary(min_size=1, max_size=8)) + body[at:]
    elif mutation == "bom":
        body = draw(st.sampled_from([codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE])) + body
    content_type = draw(st.sampled_from([None, "application/rss+xml; charset=utf-8", "application/atom+xml",
                                         "text/xml", "text/html", "text/plain; charset=iso-8859-1",
                                         "application/octet-stream"]))
    return body, {"content-type": content_type} if content_type else None


@example(doc=((BAD / "dates.rss").read_bytes(), None))
@example(doc=((BAD / "no-links.rss").read_bytes(), None))
@example(doc=((BAD / "billion-laughs.rss").read_bytes(), None))
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(doc=feed_documents())
def test_generated_feeds_give_articles_or_a_parse_error(doc):
    body, headers = doc
    try:
        parsed = parse_feed("generated", body, base_url="https://feed.example/feed.xml", headers=headers)
    except ParseError as exc:
        assert str(exc).startswith("feed generated: ") and "\n" not in str(exc)
        return
    assert all(w.startswith("feed generated: ") and "\n" not in w for w in parsed.warnings)
    ids = [e.id for e in parsed.entries]
    assert len(ids) == len(set(ids)), "duplicates dropped"
    for entry in parsed.entries:
        article = normalise("generated", entry, parsed, now=NOW)
        assert isinstance(article, Article)
        assert article.id.strip() and article.link.startswith(("http://", "https://"))
        for when in (article.published, article.feed_published, article.updated):
            assert when is None or (when.tzinfo is not None and when.utcoffset() == timedelta(0))
        assert article.published <= NOW + timedelta(days=1)
        assert not TAG_LIKE.search(article.standfirst), article.standfirst
        assert "\n" not in article.title and article.title == article.title.strip()
        if (entry.raw.get("title_detail") or {}).get("type") != "text/plain":  # HTML: no markup left
            assert not REAL_TAG.search(article.title), article.title  # "<Fourth International>" is text


@pytest.mark.parametrize(("title", "expected"), [
    ("<script>alert(1)</script> Hello", "Hello"),
    ("<img src=x onerror=alert(1)>Breaking", "Breaking"),
    ("<b>Unclosed bold", "Unclosed bold"),
    ("<marquee>Old news</marquee>", "Old news"),
])
def test_an_rss_title_keeps_no_markup(title, expected):
    body = rss(item(1, title)).encode()
    parsed = parse_feed("markup", body, base_url="https://feed.example/feed.xml")
    assert normalise("markup", parsed.entries[0], parsed, now=NOW).title == expected
