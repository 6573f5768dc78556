"""The fetcher's own HTTP/1.1 wire, over loopback sockets: framing, keep-alive, refusals, retries.

A raw server (``tests.servers.raw``) answers each request with scripted
bytes, so each case is exactly the response under test: chunked bodies with
extensions and trailers, bodies read to the close, 1xx before the answer,
204/304 that carry a Content-Length but no body, and heads no client should
accept.  Keep-alive is judged by how many connections the server accepted.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from syndicate.deadline import LazySSLContext
from syndicate.errors import FetchError
from syndicate.fetch import FEED_ACCEPT, Fetcher
from syndicate.fetch.http11 import MAX_FIELDS, MAX_HEAD, MAX_LINE
from syndicate.fetch.wire import Pool, target_for
from syndicate.netguard import AddressPolicy
from tests.servers.raw import RawServer

UA = "syndicate-test/1"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody"


@pytest.fixture
def raw():
    with RawServer() as server:
        yield server


@pytest.fixture
def fetcher():
    with Fetcher(UA) as f:
        yield f


def test_the_request_is_the_get_httpx_sent(raw, fetcher):
    raw.answer(b"HTTP/1.1 304 Not Modified\r\n\r\n")
    assert fetcher.fetch_feed("f", raw.url("/a b/é?q=1 2"), etag='"e1"', last_modified="Wed, 01 May 2024").not_modified
    assert raw.requests == [
        b"GET /a%20b/%C3%A9?q=1%202 HTTP/1.1\r\n"
        + f"Host: 127.0.0.1:{raw.port}\r\n".encode()
        + b"Connection: keep-alive\r\n"
        + f"User-Agent: {UA}\r\n".encode()
        + f"Accept: {FEED_ACCEPT}\r\n".encode()
        + b"Accept-Encoding: gzip, deflate\r\n"
        + b'If-None-Match: "e1"\r\n'
        + b"If-Modified-Since: Wed, 01 May 2024\r\n\r\n"
    ]


def test_a_chunked_body_with_extensions_and_trailers(raw, fetcher):
    raw.answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4\r\nabcd\r\n6;name=value\r\nefghij\r\nA \r\n0123456789\r\n0\r\nX-Trailer: 1\r\nX-Other: 2\r\n\r\n")
    assert fetcher.fetch_feed("f", raw.url()).content == b"abcdefghij0123456789"
    assert fetcher.fetch_feed("f", raw.url()).content == b"ok"  # the next response, on the same connection
    assert raw.connections == 1


def test_a_body_of_many_small_chunks_comes_in_few_parts():
    """Each chunk was a part of its own, and the fetcher keeps a body as its parts: 2-byte
    chunks held ~30 bytes of memory for each byte the size cap counted (1M of them: 61 MB
    for a 2 MB body), and each chunk copied what was left of the buffer."""
    with RawServer() as raw:
        raw.answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   + b"2\r\nxy\r\n" * 50_000 + b"1;ext=1\r\nz\r\n0\r\n\r\n")
        pool = Pool(LazySSLContext())
        response = pool.request(target_for(raw.url()), [], 5.0)
        parts = list(response.iter_raw())
        assert b"".join(parts) == b"xy" * 50_000 + b"z"
        assert len(parts) < 1000  # a few a read (350 kB: some 6 reads), not one a chunk
        assert pool.request(target_for(raw.url()), [], 5.0).status == 200 and raw.connections == 1
        pool.close()


def test_bare_lf_line_ends_and_a_folded_field(raw, fetcher):
    raw.answer(b"HTTP/1.1 200 OK\nX-Folded: one\n  two\nContent-Length: 2\n\nhi")
    result = fetcher.fetch_feed("f", raw.url())
    assert (result.content, result.headers["x-folded"]) == (b"hi", "one two")


def test_a_body_read_to_the_close_is_not_kept_alive(raw, fetcher):
    raw.answer(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\r\nto the very end", close=True)
    assert fetcher.fetch_feed("f", raw.url()).content == b"to the very end"
    assert fetcher.fetch_feed("f", raw.url()).content == b"ok"
    assert raw.connections == 2


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbody",
    b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 4\r\n\r\nbody",
    b"HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nbody",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n4\r\nbody\r\n0\r\n\r\n",
])
def test_a_connection_the_response_does_not_keep_alive_is_not_reused(raw, fetcher, answer):
    raw.answer(answer)
    assert fetcher.fetch_feed("f", raw.url()).content == b"body"
    assert fetcher.fetch_feed("f", raw.url()).content == b"ok"
    assert raw.connections == 2


def test_informational_responses_are_skipped(raw, fetcher):
    raw.answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" + OK)
    assert fetcher.fetch_feed("f", raw.url()).content == b"body"


@pytest.mark.parametrize("status", [b"304 Not Modified", b"204 No Content"])
def test_304_and_204_have_no_body_whatever_their_content_length(raw, fetcher, status):
    raw.answer(b"HTTP/1.1 " + status + b"\r\nContent-Length: 50\r\nETag: \"x\"\r\n\r\n")
    first = fetcher.fetch_feed("f", raw.url(), etag='"x"')
    assert first.status == int(status[:3]) and not first.content
    assert fetcher.fetch_feed("f", raw.url()).content == b"ok"  # read right after the bodiless head
    assert raw.connections == 1


def test_a_body_not_read_to_its_end_closes_its_connection(raw, fetcher):
    big = b"x" * 100_000  # an error body too large to drain
    raw.answer(b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s" % (len(big), big))
    with pytest.raises(FetchError, match="HTTP 404 Not Found"):
        fetcher.fetch_feed("f", raw.url())
    assert fetcher.fetch_feed("f", raw.url()).content == b"ok"
    assert raw.connections == 2


def test_a_pooled_connection_the_server_dropped_is_retried_once_on_a_new_one(raw, fetcher):
    raw.answer(OK)
    raw.answer(b"", close=True)  # the kept-alive connection, closed as the next request arrives
    assert fetcher.fetch_feed("f", raw.url()).content == b"body"
    assert fetcher.fetch_feed("f", raw.url()).content == b"ok"
    assert (raw.connections, len(raw.requests)) == (2, 3)


def test_a_pooled_connection_that_broke_mid_response_is_not_retried(raw, fetcher):
    raw.answer(OK)
    raw.answer(b"HTTP/1.1 200 OK\r\nContent-Le", close=True)
    fetcher.fetch_feed("f", raw.url())
    with pytest.raises(FetchError, match=r"^feed f: connection closed by 127\.0\.0\.1:\d+ without a response$"):
        fetcher.fetch_feed("f", raw.url())
    assert len(raw.requests) == 2


def test_a_fresh_connection_dropped_is_not_retried(raw, fetcher):
    raw.answer(b"", close=True)
    with pytest.raises(FetchError, match="without a response"):
        fetcher.fetch_feed("f", raw.url())
    assert len(raw.requests) == 1


def test_a_server_that_closed_an_idle_connection_gets_a_new_one(raw, fetcher):
    raw.answer(OK, close=True)  # says nothing of closing, then closes: the pooled socket reads as closed
    assert fetcher.fetch_feed("f", raw.url()).content == b"body"
    assert fetcher.fetch_feed("f", raw.url()).content == b"ok"  # (seen closed when taken, or retried)
    assert raw.connections == 2


def test_idle_connections_expire():
    with RawServer() as raw:
        pool = Pool(LazySSLContext(), keepalive_expiry=-1.0)  # expired as soon as it is idle
        for _ in range(2):
            response = pool.request(target_for(raw.url()), [], 5.0)
            response.read()
            response.close()
        assert raw.connections == 2
        pool = Pool(LazySSLContext())
        for _ in range(3):
            response = pool.request(target_for(raw.url()), [], 5.0)
            response.read()
        pool.close()
        assert raw.connections == 3


def test_truncated_bodies_are_one_line_naming_what_came(raw, fetcher):
    raw.answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", close=True)
    with pytest.raises(FetchError) as err:
        fetcher.fetch_feed("f", raw.url())
    assert str(err.value) == (f"feed f: connection closed by 127.0.0.1:{raw.port} before the end of the "
                              "response (received 3 of 10 bytes)")
    raw.answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", close=True)
    with pytest.raises(FetchError, match=r"before the end of the response \(received 2 of 5 bytes\)"):
        fetcher.fetch_feed("f", raw.url())


@pytest.mark.parametrize(("answer", "reason"), [
    (b"garbage\r\n\r\n", "illegal status line: b'garbage'"),
    (b"HTTP/2 200 OK\r\n\r\n", "illegal status line: b'HTTP/2 200 OK'"),
    (b"HTTP/2.0 200 OK\r\n\r\n", "unsupported HTTP version: b'HTTP/2.0 200 OK'"),
    (b"HTTP/1.1 99 Low\r\n\r\n", "illegal status line"),
    (b"HTTP/1.1 2000 High\r\n\r\n", "illegal status line"),
    (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "illegal header line: b'no colon'"),
    (b"HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n", "illegal header line: b'X-A : 1'"),
    (b"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", "illegal header line"),
    (b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n", "illegal header line"),
    (b"HTTP/1.1 200 OK\r\n folded first\r\n\r\n", "illegal header line"),
    (b"HTTP/1.1 200 OK\r\nX-A: " + b"a" * (MAX_LINE + 1) + b"\r\n\r\n", "a header line longer than 64 kB"),
    (b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * (MAX_FIELDS + 1) + b"\r\n",
     f"more than {MAX_FIELDS} header fields in the response"),
    (b"HTTP/1.1 200 OK\r\n" + (b"X-A: " + b"b" * 1000 + b"\r\n") * (MAX_HEAD // 1000 + 1),
     "response head larger than 100 kB"),
    (b"HTTP/1.1 200 OK\r\nX-A: " + b"c" * (MAX_HEAD + 10), "response head larger than 100 kB"),  # never ends
    (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", "conflicting Content-Length headers"),
    # a later value past int()'s 4300 digits escaped as a ValueError (only the first one's length was checked)
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5, " + b"0" * 5000 + b"\r\n\r\nhello", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: " + b"0" * 5000 + b"5\r\n\r\nhello",
     "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported Transfer-Encoding: 'gzip'"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", "illegal chunk header: b'zz'"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 17 + b"\r\n", "illegal chunk header"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n0\r\n\r\n",
     r"malformed chunk footer: b'X\r' (expected b'\r\n')"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n" + b"T: 1\r\n" * (MAX_FIELDS + 1),
     "more than 1000 trailer fields"),
    # 1xx heads counted against no limit: 100,000 of them (2.6 MB) held the GIL for 4 s, then the 200 was read
    (b"HTTP/1.1 100 Continue\r\n\r\n" * 5000 + OK, "informational responses larger than 100 kB"),
    # trailers are dropped, but were read up to 1000 lines of 64 kB each: 64 MB past the size cap
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n"
     + (b"T: " + b"t" * 40_000 + b"\r\n") * 3 + b"\r\n", "trailer section larger than 100 kB"),
])
def test_broken_or_monstrous_responses_are_refused_in_one_line(raw, fetcher, answer, reason):
    raw.answer(answer, close=True)
    with pytest.raises(FetchError) as err:
        fetcher.fetch_feed("f", raw.url(), timeout=5)
    assert str(err.value).startswith(f"feed f: broken HTTP response from {raw.url()}: {reason}")
    assert "\n" not in str(err.value)


def test_a_status_without_a_reason_and_an_unknown_status(raw, fetcher):
    raw.answer(b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nhi")
    assert fetcher.fetch_feed("f", raw.url()).content == b"hi"
    raw.answer(b"HTTP/1.1 599 Network Read Timeout\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(FetchError) as err:
        fetcher.fetch_feed("f", raw.url())
    assert str(err.value) == f"feed f: HTTP 599 Network Read Timeout from {raw.url()}"


def test_a_head_that_never_ends_times_out_by_the_total_deadline(raw, fetcher):
    raw.answer(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n", hang=True)
    with pytest.raises(FetchError) as err:
        fetcher.fetch_feed("f", raw.url(), timeout=0.3)
    assert str(err.value) == f"feed f: timed out after 0.3s fetching {raw.url()}"


def test_a_header_value_that_would_split_the_request_is_never_sent(raw, fetcher):
    with pytest.raises(FetchError, match=r"^feed f: LocalProtocolError fetching .*: Illegal header value"):
        fetcher.fetch_feed("f", raw.url(), etag='"a"\r\nX-Injected: 1')
    assert raw.requests == []


@pytest.mark.parametrize("host", ["a" * 64 + ".example", "a..b.example"])
def test_a_host_dns_cannot_carry_is_a_fetch_error(fetcher, host):
    """(It escaped as a UnicodeError from getaddrinfo's IDNA codec.)"""
    with pytest.raises(FetchError) as err:
        fetcher.fetch_feed("f", f"http://{host}/feed", timeout=2)
    assert str(err.value) == f"feed f: cannot resolve host {host}"
    with pytest.raises(FetchError) as err:
        fetcher.get_bytes(f"http://{host}/img", max_bytes=10, timeout=2)  # through the address policy
    assert str(err.value) == f"feed http://{host}/img: cannot resolve host {host}"


def test_a_port_getaddrinfo_cannot_carry_is_a_fetch_error(fetcher):
    """(Through the address policy it escaped as an OverflowError from getaddrinfo.)"""
    url = "http://127.0.0.1:99999999999999999999/img"
    with pytest.raises(FetchError, match="^feed f: cannot resolve host 127.0.0.1$"):
        fetcher.fetch_feed("f", url, timeout=2)
    with Fetcher(UA, content_policy=AddressPolicy(allow_private=True, ports=None)) as content:
        with pytest.raises(FetchError, match="^feed i: cannot resolve host 127.0.0.1$"):
            content.get_bytes(url, max_bytes=10, timeout=2, label="i")
    with pytest.raises(FetchError, match="^feed i: cannot resolve host 127.0.0.1$"):
        fetcher.get_bytes(url, max_bytes=10, timeout=2, label="i")  # the default policy, too


def test_a_url_whose_host_cannot_be_sent_in_ascii_is_a_fetch_error(fetcher):
    """An IPv6 zone id may hold any character (ipaddress accepts it, as httpx.URL does); a
    non-ASCII one escaped as a UnicodeEncodeError while the request line was made."""
    url = "http://[fe80::1%\u00e9]/img"
    with pytest.raises(FetchError, match="^feed f: invalid URL .*non-ASCII"):
        fetcher.fetch_feed("f", url, timeout=2)
    with pytest.raises(FetchError, match="^feed i: invalid URL .*non-ASCII"):
        fetcher.get_bytes(url, max_bytes=10, timeout=2, label="i")


def test_long_urls_are_not_kept_parsed():
    """Each URL fetched was kept parsed, up to 4096 of them, whatever its length: the key, the
    text, the path and the request line, each up to 64 kB (six times that once non-ASCII is
    percent-encoded): 500 distinct 60 kB URLs of "\u00e9"s, as a feed's images, held 570 MB."""
    import tracemalloc

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(100):
            target = target_for(f"http://example.com/{i}/" + "a" * 60_000)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert target.head.startswith(b"GET /99/aaa")
    assert held < 2_000_000  # (24 MB when kept)


def test_content_connects_to_the_checked_addresses(raw):
    policy = AddressPolicy(allow_private=True, ports=None)
    with Fetcher(UA, content_policy=policy) as fetcher:
        body, _ = fetcher.get_bytes(f"http://localhost:{raw.port}/img", max_bytes=10, timeout=5)
        assert body == b"ok"
    assert raw.requests[0].startswith(b"GET /img HTTP/1.1\r\nHost: localhost:%d\r\n" % raw.port)


def test_one_fetcher_shared_by_threads(raw):
    with Fetcher(UA) as fetcher, ThreadPoolExecutor(8) as threads:
        bodies = list(threads.map(lambda i: fetcher.fetch_feed(f"f{i}", raw.url(f"/{i}")).content, range(64)))
    assert bodies == [b"ok"] * 64
    assert raw.connections <= 8  # kept alive and handed out again: one a thread at most


def test_a_connection_on_a_descriptor_past_fd_setsize_is_still_reused(raw, fetcher):
    """(select.select refuses descriptors past 1024: the idle check would take every such
    connection for closed, and a busy daemon would never keep one alive.)"""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip("cannot open 1200 descriptors here")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = [os.open(os.devnull, os.O_RDONLY)]
    try:
        while held[-1] < 1100:
            held.append(os.dup(held[0]))
        assert fetcher.fetch_feed("f", raw.url()).content == b"ok"  # its socket past 1100
        assert fetcher.fetch_feed("f", raw.url()).content == b"ok"
        assert raw.connections == 1
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
