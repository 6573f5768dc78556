"""Fetch against a real HTTP server on 127.0.0.1: no mocks, no sleeps."""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from syndicate.errors import FeedRateLimited, FetchError
from syndicate.fetch import FEED_ACCEPT, Fetcher, FetchResult, body_hash, parse_retry_after
from syndicate.netguard import AddressPolicy
from tests.helpers import wait_until
from tests.servers.feeds import Fault, FeedServer

UA = "syndicate-test/1.0 (+https://example.org/bot)"
RSS = (b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>T</title>'
       b"<item><title>One</title><link>https://example.org/1</link></item></channel></rss>\n")
MB = 1_000_000
BOUND = 30.0  # seconds a test waits for what must come back before calling it stuck


@pytest.fixture(scope="module")
def server():
    with FeedServer() as srv:
        yield srv


@pytest.fixture
def fetcher():
    with Fetcher(UA) as f:
        yield f


@pytest.fixture
def path(request):
    """A path of its own for each test, so tests sharing the server never collide."""
    return "/" + request.node.name.replace("[", "-").replace("]", "")


# --- conditional GET ---------------------------------------------------------------


def test_200_then_304_with_stored_etag(server, fetcher, path):
    server.set_feed(path, RSS)
    first = fetcher.fetch_feed("acr", server.url(path))
    assert isinstance(first, FetchResult)
    assert (first.status, first.content, first.not_modified) == (200, RSS, False)
    assert first.etag and first.etag.startswith('"')
    assert first.last_modified and first.last_modified.endswith("GMT")
    assert first.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert first.url == server.url(path) and first.redirects == () and first.permanent_redirect is None

    second = fetcher.fetch_feed("acr", server.url(path), etag=first.etag, last_modified=first.last_modified)
    assert (second.status, second.content, second.not_modified) == (304, None, True)
    assert (second.etag, second.last_modified) == (first.etag, first.last_modified)
    sent = server.requests_for(path)[-1].headers
    assert sent["if-none-match"] == first.etag
    assert sent["if-modified-since"] == first.last_modified


def test_304_with_last_modified_only(server, fetcher, path):
    server.set_feed(path, RSS, etag=None)
    first = fetcher.fetch_feed("acr", server.url(path))
    assert first.etag is None and first.last_modified
    second = fetcher.fetch_feed("acr", server.url(path), last_modified=first.last_modified)
    assert second.not_modified and second.last_modified == first.last_modified
    sent = server.requests_for(path)[-1].headers
    assert "if-none-match" not in sent and sent["if-modified-since"] == first.last_modified


def test_changed_feed_is_fetched_again(server, fetcher, path):
    server.set_feed(path, RSS)
    first = fetcher.fetch_feed("acr", server.url(path))
    server.set_feed(path, RSS.replace(b"One", b"Two"))
    second = fetcher.fetch_feed("acr", server.url(path), etag=first.etag, last_modified=first.last_modified)
    assert second.status == 200 and b"Two" in second.content and second.etag != first.etag
    server.set_feed(path, RSS.replace(b"One", b"Three"), etag=None)  # a later Last-Modified
    third = fetcher.fetch_feed("acr", server.url(path), last_modified=second.last_modified)
    assert third.status == 200 and b"Three" in third.content


def test_a_body_comes_with_its_hash_the_bytes_of_a_304_with_none(server, fetcher, path):
    """The hash of the (decoded) bytes, by the recipe the feeds' stored hashes were made with."""
    server.set_feed(path, RSS * 200, gzip=True)
    first = fetcher.fetch_feed("acr", server.url(path))
    assert first.body_hash == body_hash(RSS * 200) and len(first.body_hash) == 32
    assert body_hash(RSS) == "32fc39a2aae602ba836a28984625e189"  # sha256, its first 128 bits
    assert fetcher.fetch_feed("acr", server.url(path), etag=first.etag).body_hash is None


def test_keep_alive_reuses_one_connection(fetcher, path):
    with FeedServer() as srv:
        srv.set_feed(path, RSS)
        first = fetcher.fetch_feed("acr", srv.url(path))
        for _ in range(5):
            assert fetcher.fetch_feed("acr", srv.url(path), etag=first.etag).not_modified
        assert srv.connections == 1


def test_headers_sent(server, fetcher, path):
    server.set_feed(path, RSS)
    fetcher.fetch_feed("acr", server.url(path))
    sent = server.requests_for(path)[-1]
    assert sent.method == "GET"
    assert sent.headers["user-agent"] == UA
    assert sent.headers["accept"] == FEED_ACCEPT
    assert "gzip" in sent.headers["accept-encoding"]
    assert "if-none-match" not in sent.headers and "if-modified-since" not in sent.headers


def test_gzip_body_is_decoded(server, fetcher, path):
    body = RSS * 200
    server.set_feed(path, body, gzip=True)
    result = fetcher.fetch_feed("acr", server.url(path))
    assert result.content == body
    assert result.headers["content-encoding"] == "gzip"
    assert int(result.headers["content-length"]) < len(body) // 10


# --- rate limits -------------------------------------------------------------------


def test_429_retry_after_seconds(server, fetcher, path):
    server.set_feed(path, RSS)
    server.queue_faults(path, Fault(status=429, headers={"Retry-After": "120"}))
    with pytest.raises(FeedRateLimited) as err:
        fetcher.fetch_feed("acr", server.url(path))
    assert err.value.retry_after == 120
    assert err.value.feed == "acr"
    assert str(err.value) == (f"feed acr: HTTP 429 Too Many Requests from {server.url(path)} "
                              "(retry after 120s)")
    assert fetcher.fetch_feed("acr", server.url(path)).status == 200  # the fault was served once


def test_429_retry_after_http_date(server, fetcher, path):
    server.set_feed(path, RSS)
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=300)
    server.queue_faults(path, Fault(status=429, headers={"Retry-After": format_datetime(when, usegmt=True)}))
    with pytest.raises(FeedRateLimited) as err:
        fetcher.fetch_feed("acr", server.url(path))
    assert 290 <= err.value.retry_after <= 300


def test_503_with_and_without_retry_after(server, fetcher, path):
    server.set_feed(path, RSS)
    server.queue_faults(path, Fault(status=503), Fault(status=503, headers={"Retry-After": "30"}))
    with pytest.raises(FeedRateLimited) as err:
        fetcher.fetch_feed("acr", server.url(path))
    assert err.value.retry_after is None
    assert "HTTP 503 Service Unavailable" in str(err.value)
    with pytest.raises(FeedRateLimited) as err:
        fetcher.fetch_feed("acr", server.url(path))
    assert err.value.retry_after == 30


# --- timeouts ----------------------------------------------------------------------


def test_hanging_feed_times_out(server, fetcher, path):
    server.set_feed(path, RSS)
    server.queue_faults(path, Fault(hang=True))  # until the client goes: only the timeout ends it
    with pytest.raises(FetchError) as err:
        fetcher.fetch_feed("slowpoke", server.url(path), timeout=0.5)
    assert not isinstance(err.value, FeedRateLimited)
    assert str(err.value).startswith("feed slowpoke: timed out after 0.5s")  # how soon: bench figure 8a
    assert fetcher.fetch_feed("slowpoke", server.url(path)).status == 200  # the fetcher still works


def test_trickling_feed_hits_the_total_deadline(server, fetcher, path):
    """Each read returns within the timeout, but the whole response must fit in it too.

    A byte every 0.4 s, for ever: a per-read timeout of 0.5 s alone would never end it.
    (That it ends at 0.5 s, not at the next byte, is bench figure 8b.)
    """
    server.queue_faults(path, Fault(trickle=0.4))
    with pytest.raises(FetchError, match=r"^feed slow: timed out after 0\.5s"):
        fetcher.fetch_feed("slow", server.url(path), timeout=0.5)


def test_a_hanging_feed_does_not_hold_up_the_others(fetcher):
    """One shared Fetcher, used from several threads as the pipeline does: the others are all
    fetched while the first still hangs (it hangs until its server goes away)."""

    def fetch(i):
        try:
            return fetcher.fetch_feed(f"f{i}", own.url(f"/{i}"), timeout=BOUND).content
        except FetchError as exc:
            return exc

    with FeedServer() as own, ThreadPoolExecutor(8) as pool:
        for i in range(8):
            own.set_feed(f"/{i}", RSS + str(i).encode())
        own.queue_faults("/0", Fault(hang=True))
        hanging = pool.submit(fetch, 0)
        assert wait_until(lambda: own.requests_for("/0"), timeout=BOUND)  # in flight
        results = list(pool.map(fetch, range(1, 8)))
        assert not hanging.done()  # the others did not wait for it
        own.stop()
        error = hanging.result(timeout=BOUND)
    assert isinstance(error, FetchError) and str(error).startswith("feed f0: ")
    assert results == [RSS + str(i).encode() for i in range(1, 8)]


# --- size cap ----------------------------------------------------------------------


def test_huge_streamed_body_is_refused_without_reading_it(server, fetcher, path):
    server.set_stream(path, 50 * MB)
    with pytest.raises(FetchError) as err:
        fetcher.fetch_feed("big", server.url(path), max_bytes=1 * MB)
    assert str(err.value) == f"feed big: response larger than 1 MB limit from {server.url(path)}"
    assert server.stream_sent(path) < 10 * MB  # what the kernel buffers took, not 50 MB


def test_content_length_over_cap_is_refused_early(server, fetcher, path):
    server.set_stream(path, 50 * MB, content_length=True)
    with pytest.raises(FetchError, match=r"larger than 10 MB limit \(Content-Length 50000000\)"):
        fetcher.fetch_feed("big", server.url(path))
    assert server.stream_sent(path) < 10 * MB


def test_body_at_the_cap_is_accepted(server, fetcher, path):
    server.set_stream(path, 200_000, chunk=4096)
    assert len(fetcher.fetch_feed("ok", server.url(path), max_bytes=200_000).content) == 200_000
    with pytest.raises(FetchError, match="larger than 199.9 kB limit"):
        fetcher.fetch_feed("ok", server.url(path), max_bytes=199_900)


# --- redirects ---------------------------------------------------------------------


def test_permanent_redirect_chain(server, fetcher, path):
    server.set_feed(path + "/feed", RSS)
    server.set_redirect(path + "/a", path + "/b", status=301)
    server.set_redirect(path + "/b", server.url(path + "/feed"), status=308)  # absolute Location
    result = fetcher.fetch_feed("moved", server.url(path + "/a"))
    assert result.content == RSS
    assert result.url == server.url(path + "/feed")
    assert result.redirects == (server.url(path + "/a"), server.url(path + "/b"))
    assert result.permanent_redirect == server.url(path + "/feed")


def test_temporary_hop_means_no_permanent_redirect(server, fetcher, path):
    server.set_feed(path + "/feed", RSS)
    server.set_redirect(path + "/a", path + "/b", status=301)
    server.set_redirect(path + "/b", path + "/feed", status=302)
    result = fetcher.fetch_feed("moved", server.url(path + "/a"))
    assert result.redirects == (server.url(path + "/a"), server.url(path + "/b"))
    assert result.url == server.url(path + "/feed") and result.permanent_redirect is None


def test_304_after_redirect(server, fetcher, path):
    server.set_feed(path + "/feed", RSS)
    server.set_redirect(path, path + "/feed", status=301)
    first = fetcher.fetch_feed("moved", server.url(path))
    second = fetcher.fetch_feed("moved", server.url(path), etag=first.etag)
    assert second.not_modified and second.permanent_redirect == server.url(path + "/feed")


def test_redirect_loop_and_limit(server, path):
    server.set_redirect(path + "/x", path + "/y", status=302)
    server.set_redirect(path + "/y", path + "/x", status=302)
    with Fetcher(UA, max_redirects=3) as f, pytest.raises(FetchError) as err:
        f.fetch_feed("loop", server.url(path + "/x"))
    assert str(err.value) == f"feed loop: more than 3 redirects starting at {server.url(path + '/x')}"
    assert len(server.requests_for(path + "/x")) + len(server.requests_for(path + "/y")) == 4


def test_redirect_without_location(server, fetcher, path):
    server.queue_faults(path, Fault(status=302))
    with pytest.raises(FetchError, match="HTTP 302 Found without a Location header"):
        fetcher.fetch_feed("acr", server.url(path))


# --- other failures ----------------------------------------------------------------


def test_404_message(server, fetcher, path):
    with pytest.raises(FetchError) as err:
        fetcher.fetch_feed("acr", server.url(path))
    assert str(err.value) == f"feed acr: HTTP 404 Not Found from {server.url(path)}"
    assert type(err.value) is FetchError


def test_connection_refused(fetcher):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError) as err:
        fetcher.fetch_feed("gone", f"http://127.0.0.1:{port}/feed", timeout=2)
    assert str(err.value) == f"feed gone: connection refused by 127.0.0.1:{port}"


def test_dropped_connection(server, fetcher, path):
    server.queue_faults(path, Fault(drop=True))
    closed = r"^feed acr: connection closed by 127\.0\.0\.1:\d+ without a response$"
    with pytest.raises(FetchError, match=closed):
        fetcher.fetch_feed("acr", server.url(path))


@pytest.mark.parametrize("url", ["ftp://example.org/feed", "not a url", "http://", "http://exa mple.org/"])
def test_bad_urls_are_fetch_errors(fetcher, url):
    with pytest.raises(FetchError) as err:
        fetcher.fetch_feed("bad", url, timeout=1)
    assert "\n" not in str(err.value) and str(err.value).startswith("feed bad: ")


def test_redirect_to_an_invalid_url(server, fetcher, path):
    server.set_redirect(path, "http://[::1/feed", status=302)
    with pytest.raises(FetchError) as err:
        fetcher.fetch_feed("acr", server.url(path))
    assert str(err.value) == (f"feed acr: broken HTTP response from {server.url(path)}: "
                              "Invalid URL in location header: Invalid port: ':1'.")


def test_no_cookies_are_kept(server, fetcher, path):
    server.set_feed(path, RSS, headers={"Set-Cookie": "session=abc; Path=/"})
    first = fetcher.fetch_feed("acr", server.url(path))
    assert first.headers["set-cookie"] == "session=abc; Path=/"
    assert fetcher.fetch_feed("acr", server.url(path), etag=first.etag).not_modified
    assert "cookie" not in server.requests_for(path)[-1].headers


def test_a_non_ascii_validator_is_sent_back_not_a_crash(server, fetcher, path):
    server.set_feed(path, RSS)
    result = fetcher.fetch_feed("acr", server.url(path), etag='"caf\u00e9"')
    assert result.status == 200
    assert server.requests_for(path)[-1].headers["if-none-match"] == '"caf\u00c3\u00a9"'  # its utf-8, as latin-1


def test_a_transport_of_ones_own():
    """``transport=`` bypasses the pool: the same headers, redirects, 304s and errors."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/old":
            return httpx.Response(301, headers={"Location": "/feed"})
        if request.url.path == "/busy":
            return httpx.Response(429, headers={"Retry-After": "60"})
        if request.headers.get("if-none-match") == '"1"':
            return httpx.Response(304)
        return httpx.Response(200, headers={"ETag": '"1"', "Content-Type": "application/rss+xml"}, content=RSS)

    with Fetcher(UA, transport=httpx.MockTransport(answer)) as f:
        first = f.fetch_feed("acr", "https://feeds.example/old")
        assert (first.status, first.content, first.etag) == (200, RSS, '"1"')
        assert first.permanent_redirect == first.url == "https://feeds.example/feed"
        assert f.fetch_feed("acr", first.url, etag=first.etag).not_modified
        with pytest.raises(FeedRateLimited) as err:
            f.fetch_feed("acr", "https://feeds.example/busy")
        assert err.value.retry_after == 60
    sent = seen[-2].headers
    assert (sent["host"], sent["user-agent"], sent["accept"], sent["if-none-match"]) == (
        "feeds.example", UA, FEED_ACCEPT, '"1"')


# --- get_bytes ---------------------------------------------------------------------


def test_get_bytes(server, path):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    server.set_feed(path, png, content_type="image/png")
    fetcher = Fetcher(UA, content_policy=AddressPolicy(allow_private=True, ports=None))  # content on loopback
    body, ctype = fetcher.get_bytes(server.url(path), max_bytes=MB, timeout=2, accept="image/*",
                                    label="thumb")
    assert (body, ctype) == (png, "image/png")
    assert server.requests_for(path)[-1].headers["accept"] == "image/*"
    with pytest.raises(FetchError, match=r"^feed thumb: response larger than 100 bytes limit"):
        fetcher.get_bytes(server.url(path), max_bytes=100, timeout=2, label="thumb")
    with pytest.raises(FetchError, match=r"^feed http://127\.0\.0\.1:\d+/missing: HTTP 404"):
        fetcher.get_bytes(server.url("/missing"), max_bytes=100, timeout=2)
    fetcher.close()


# --- the server itself -------------------------------------------------------------


def test_server_stops_promptly_while_a_request_hangs(fetcher):
    srv = FeedServer().start()
    srv.queue_faults("/feed", Fault(hang=True))
    with socket.create_connection(("127.0.0.1", srv.port)) as client:
        client.sendall(b"GET /feed HTTP/1.1\r\nHost: x\r\n\r\n")
        while not srv.requests_for("/feed"):  # the request reached the handler
            srv._stopping.wait(0.001)
        stopper = threading.Thread(target=srv.stop)
        stopper.start()
        stopper.join(BOUND)
        assert not stopper.is_alive(), "stop() is still waiting for the hanging request"
        assert client.recv(100) == b""  # closed without a response


# --- parse_retry_after ---------------------------------------------------------------

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "expected"), [
    (None, None),
    ("", None),
    ("   ", None),
    ("120", 120.0),
    (" 7 ", 7.0),
    ("1.5", 1.5),
    ("0", 0.0),
    ("-5", 0.0),
    ("soon", None),
    ("1e3", None),
    ("inf", None),
    ("Wed, 01 May 2024 12:02:00 GMT", 120.0),  # IMF-fixdate
    ("Wednesday, 01-May-24 12:00:30 GMT", 30.0),  # RFC 850
    ("Wed May  1 12:01:00 2024", 60.0),  # asctime
    ("Wed, 01 May 2024 11:00:00 GMT", 0.0),  # in the past
    ("Wed, 01 May 2024 14:00:00 +0200", 0.0),  # an offset
    ("Wed, 32 May 2024 12:00:00 GMT", None),
])
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, NOW) == expected


def test_parse_retry_after_with_naive_or_offset_now():
    assert parse_retry_after("Wed, 01 May 2024 12:01:00 GMT", NOW.replace(tzinfo=None)) == 60.0
    cest = timezone(timedelta(hours=2))
    assert parse_retry_after("Wed, 01 May 2024 12:01:00 GMT", NOW.astimezone(cest)) == 60.0


@given(st.text(max_size=60))
def test_parse_retry_after_never_raises(value):
    result = parse_retry_after(value, NOW)
    assert result is None or result >= 0
