"""HTTP for feeds (and the odd image or page): conditional GET, limits, redirects.

``Fetcher.fetch_feed`` returns a ``FetchResult`` (status 200 with bytes, or 304
with ``content=None``) or raises ``FetchError``/``FeedRateLimited`` with a
one-line reason.  No httpx exception ever leaves this module.

Limits, all per call:

- ``timeout`` is a *total* deadline: connect, request, response headers and
  every read of the body share it, so a server trickling one byte at a time
  cannot keep us beyond it.  (Name resolution is the one blocking step that
  no socket timeout covers.)
- ``max_bytes`` caps the decoded body: a Content-Length above it is refused
  before the body is read, and a streamed body is abandoned as soon as it
  passes the cap, so a 50 MB response never sits in memory.
- redirects are followed by hand (at most ``max_redirects``) so the chain can
  be recorded and permanent moves (every hop 301/308) reported to the store.

Where: ``fetch_feed`` fetches the operator's own feed URLs, wherever they
point.  ``get_bytes`` fetches what a feed's content names (pages, images) on
a second connection pool whose network backend applies the content
``AddressPolicy`` (``syndicate.netguard``) to every connection it opens: on
every redirect hop, to the address actually connected to.  Two pools, so a
connection opened for a feed is never reused for content.
"""

from __future__ import annotations

import http
import math
import re
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpcore
import httpx

from syndicate.deadline import DEADLINE, DeadlineBackend
from syndicate.errors import FeedRateLimited, FetchError
from syndicate.netguard import AddressPolicy, AddressRefused

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"
)

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_PERMANENT_STATUSES = frozenset({301, 308})
_RATE_LIMIT_STATUSES = frozenset({429, 503})
_SMALL_BODY = 65_536  # redirect/error bodies up to this size are read so the connection is reused
_DELTA_SECONDS = re.compile(r"^-?\d+(?:\.\d+)?$")


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch of a feed produced."""

    status: int  # 200 (any 2xx) or 304
    content: bytes | None  # None on 304
    headers: Mapping[str, str]  # response headers, lower-cased keys
    url: str  # final URL after redirects
    redirects: tuple[str, ...]  # each URL redirected from, in order
    permanent_redirect: str | None  # the final URL if every hop was 301/308
    etag: str | None  # on 304, the server's or else the one we sent
    last_modified: str | None  # likewise

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """A ``Retry-After`` header → seconds from ``now`` (never negative).

    Accepts delta-seconds (``"120"``) and an HTTP-date (IMF-fixdate, RFC 850
    or asctime, taken as GMT).  Returns ``None`` for a missing or unreadable
    value.  A naive ``now`` is taken as UTC.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.match(text):
        return max(0.0, float(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    seconds = (when - now).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _default_pool(ssl_context: ssl.SSLContext, policy: AddressPolicy | None = None,
                  ) -> httpcore.ConnectionPool:
    """What ``httpx.HTTPTransport`` would build, on a deadline-clamping network backend
    (``deadline``) that, with a ``policy``, connects only where the policy allows."""
    return httpcore.ConnectionPool(
        ssl_context=ssl_context,
        max_connections=32,
        max_keepalive_connections=16,
        keepalive_expiry=60.0,
        network_backend=DeadlineBackend(policy=policy),
    )


# --- requests and responses without httpx's client layer -------------------------
#
# The feed path talks to httpcore's connection pool directly: httpx's Client
# (URL merging, cookie jar, header models, its Response) cost more CPU than
# the HTTP exchange itself on a 304.  What the Client did for us is done here:
# URL parsing (with httpx.URL, cached per URL string), the default headers in
# the same order, and httpcore's exceptions turned into httpx's.  No cookies
# are kept: feeds do not need them.


@dataclass(frozen=True, slots=True)
class _Target:
    """One request URL, parsed once."""

    url: httpx.URL  # as httpx.Client would send it (redirects are joined to it)
    text: str  # str(url): the result's URL
    core: httpcore.URL
    host: bytes  # the Host header


_TARGETS: dict[str, _Target] = {}
_TARGETS_MAX = 4096
_NO_BASE = httpx.URL("")


def _target(url: str) -> _Target:
    target = _TARGETS.get(url)
    if target is None:
        parsed = httpx.URL(url)  # may raise httpx.InvalidURL
        if parsed.is_relative_url:  # merged with httpx.Client's empty base URL (the pool refuses it)
            parsed = _NO_BASE.copy_with(raw_path=_NO_BASE.raw_path + parsed.raw_path.lstrip(b"/"))
        core = httpcore.URL(scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port,
                            target=parsed.raw_path)
        target = _Target(parsed, str(parsed), core, parsed.netloc)
        if len(_TARGETS) >= _TARGETS_MAX:
            _TARGETS.clear()
        _TARGETS[url] = target
    return target


def _header_value(value: str) -> bytes:
    try:
        return value.encode("ascii")  # as httpx encodes str header values
    except UnicodeEncodeError:  # a validator we stored from a utf-8 header: send it back as it came
        return value.encode("utf-8")


def _decode_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Response headers as ``dict(httpx.Headers(raw).items())``: lower-cased, repeats joined."""
    for encoding in ("ascii", "utf-8"):
        try:
            pairs = [(k.decode(encoding).lower(), v.decode(encoding)) for k, v in raw]
            break
        except UnicodeDecodeError:
            continue
    else:
        pairs = [(k.decode("iso-8859-1").lower(), v.decode("iso-8859-1")) for k, v in raw]
    headers: dict[str, str] = {}
    for key, value in pairs:
        if key in headers:
            headers[key] += f", {value}"
        else:
            headers[key] = value
    return headers


_CORE_TO_HTTPX: dict[type[Exception], type[httpx.HTTPError]] = {
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
}
_CORE_ERRORS = (httpcore.NetworkError, httpcore.ProxyError, httpcore.UnsupportedProtocol,
                httpcore.ProtocolError)


def _as_httpx(exc: Exception) -> httpx.HTTPError:
    """An httpcore exception as the httpx one its transport would have raised."""
    for cls in type(exc).__mro__:
        mapped = _CORE_TO_HTTPX.get(cls)
        if mapped is not None:
            return mapped(str(exc))
    return httpx.TransportError(str(exc))


class _Response:
    """A response whose body is still to read, from httpcore or from an httpx transport."""

    __slots__ = ("status", "headers", "_reason", "_stream", "_close")

    def __init__(self, status: int, headers: dict[str, str], reason: bytes | str | None,
                 stream: Iterable[bytes], close: Callable[[], None]) -> None:
        self.status = status
        self.headers = headers
        self._reason = reason
        self._stream = stream
        self._close = close

    @property
    def reason_phrase(self) -> str:
        if self._reason is None:
            return httpx.codes.get_reason_phrase(self.status)
        if isinstance(self._reason, bytes):
            return self._reason.decode("ascii", errors="ignore")
        return self._reason

    def iter_raw(self) -> Iterable[bytes]:
        """The body as it comes (still content-encoded)."""
        return self._stream

    def read(self) -> None:
        """Read (and drop) the rest of the body, so the connection can be reused."""
        for _ in self._stream:
            pass

    def close(self) -> None:
        self._close()


# --- the fetcher ---------------------------------------------------------------


class Fetcher:
    """One pooled HTTP client (keep-alive) shared by every feed.  Thread-safe.

    ``content_policy`` bounds where ``get_bytes`` may connect (default: public
    addresses on ports 80 and 443).  A ``transport`` given by the caller is
    used for everything as it is, with no address checks (tests of the HTTP
    handling, which never leave the process).
    """

    def __init__(self, user_agent: str, *, transport: httpx.BaseTransport | None = None,
                 max_redirects: int = 5, content_policy: AddressPolicy | None = None) -> None:
        self.user_agent = user_agent
        self.max_redirects = max_redirects
        # httpx.Client's default headers with ours, in the order it sent them
        base = [(b"Connection", b"keep-alive"), (b"User-Agent", user_agent.encode("ascii"))]
        # only what _read_body can inflate within the size cap
        encoding = (b"Accept-Encoding", b"gzip, deflate")
        self._feed_headers = (*base, (b"Accept", FEED_ACCEPT.encode("ascii")), encoding)
        self._other_headers = (*base, encoding)  # + Accept, last
        self._transport = transport  # someone else's transport: sent through it, as httpx.Client did
        self.content_policy = content_policy or AddressPolicy()
        self._ssl_context: ssl.SSLContext | None = None
        self._pool: httpcore.ConnectionPool | None = None  # feeds: the operator's URLs
        self._content_pool: httpcore.ConnectionPool | None = None  # what content names (made on first use)
        self._pool_lock = threading.Lock()
        if transport is None:
            self._ssl_context = httpx.create_ssl_context()  # certifi, or SSL_CERT_FILE / SSL_CERT_DIR
            self._pool = _default_pool(self._ssl_context)
        self._closed = False

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True
        with self._pool_lock:
            content, self._content_pool = self._content_pool, None
        if content is not None:
            content.close()
        if self._pool is not None:
            self._pool.close()
        elif self._transport is not None:
            self._transport.close()

    def fetch_feed(self, feed: str, url: str, *, etag: str | None = None,
                   last_modified: str | None = None, timeout: float = 20.0,
                   max_bytes: int = 10_000_000) -> FetchResult:
        """GET a feed, conditionally when ``etag``/``last_modified`` are given.

        Raises ``FeedRateLimited`` on 429/503, ``FetchError`` on anything else
        that is not a 2xx or a 304.
        """
        headers = self._feed_headers
        if etag:
            headers += ((b"If-None-Match", _header_value(etag)),)
        if last_modified:
            headers += ((b"If-Modified-Since", _header_value(last_modified)),)
        resp, target, body, redirects, permanent = self._get(feed, url, headers, timeout, max_bytes,
                                                             pool=self._pool)
        hdrs = resp.headers
        final = target.text
        if resp.status == 304:
            new_etag = hdrs.get("etag") or etag
            new_lm = hdrs.get("last-modified") or last_modified
        else:
            new_etag = hdrs.get("etag")
            new_lm = hdrs.get("last-modified")
        return FetchResult(
            status=resp.status,
            content=body,
            headers=hdrs,
            url=final,
            redirects=redirects,
            permanent_redirect=final if redirects and permanent else None,
            etag=new_etag,
            last_modified=new_lm,
        )

    def get_bytes(self, url: str, *, max_bytes: int, timeout: float, accept: str = "*/*",
                  label: str = "") -> tuple[bytes, str]:
        """GET what a feed's content names (an image, a page): ``(body, content-type)``.

        Connects only where ``content_policy`` allows, on every hop.  Errors
        are ``FetchError`` naming ``label`` (else the URL).
        """
        headers = (*self._other_headers, (b"Accept", _header_value(accept)))
        resp, _, body, _, _ = self._get(label or url, url, headers, timeout, max_bytes, conditional=False,
                                        pool=self._content())
        return body or b"", resp.headers.get("content-type", "")

    # -- internals --

    def _content(self) -> httpcore.ConnectionPool | None:
        """The content pool (None when sending through the caller's transport)."""
        if self._ssl_context is None:
            return None
        with self._pool_lock:
            if self._content_pool is None and not self._closed:
                self._content_pool = _default_pool(self._ssl_context, self.content_policy)
            return self._content_pool

    def _send(self, target: _Target, headers: tuple[tuple[bytes, bytes], ...], timeout: float,
              pool: httpcore.ConnectionPool | None) -> _Response:
        if self._closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        timeouts = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        if pool is not None:
            request = httpcore.Request(b"GET", target.core, headers=[(b"Host", target.host), *headers],
                                       extensions={"timeout": timeouts})
            core = pool.handle_request(request)
            return _Response(core.status, _decode_headers(core.headers), core.extensions.get("reason_phrase"),
                             core.stream, core.close)
        assert self._transport is not None
        response = self._transport.handle_request(
            httpx.Request("GET", target.url, headers=list(headers), extensions={"timeout": timeouts}))
        return _Response(response.status_code, dict(response.headers.items()), response.reason_phrase,
                         response.stream, response.close)

    def _get(self, label: str, url: str, headers: tuple[tuple[bytes, bytes], ...], timeout: float,
             max_bytes: int, *, conditional: bool = True, pool: httpcore.ConnectionPool | None,
             ) -> tuple[_Response, _Target, bytes | None, tuple[str, ...], bool]:
        """Follow redirects by hand and read the body within the limits."""
        deadline = time.monotonic() + timeout
        token = DEADLINE.set(deadline)
        current = url
        redirects: list[str] = []
        permanent = True
        try:
            for _ in range(self.max_redirects + 1):
                target = _target(current)
                response = self._send(target, headers, timeout, pool)
                try:
                    status = response.status
                    if status in _REDIRECT_STATUSES:
                        location = response.headers.get("location")
                        if location is not None:
                            _check_location(location)
                        if not location:
                            raise FetchError(label, f"{_status_text(response)} without a Location header "
                                                    f"from {current}")
                        moved = target.url.join(location.strip())
                        if moved.scheme not in ("http", "https"):
                            raise FetchError(label, f"redirected from {current} to a non-HTTP URL "
                                                    f"{_one_line(str(moved))}")
                        _drain(response)
                        redirects.append(current)
                        permanent = permanent and status in _PERMANENT_STATUSES
                        current = str(moved)
                        continue
                    if status == 304 and conditional:
                        response.read()  # no body, but reach its end so the connection is reused
                        return response, target, None, tuple(redirects), permanent
                    if not 200 <= status < 300 or status == 304:
                        _raise_for_status(label, response, current)
                    body = _read_body(label, response, current, max_bytes, deadline, timeout)
                    return response, target, body, tuple(redirects), permanent
                finally:
                    response.close()
            raise FetchError(label, f"more than {self.max_redirects} redirects starting at {url}")
        except AddressRefused as exc:
            hop = f" (redirected to {current})" if current != url else ""
            raise FetchError(label, f"refused{hop}: {exc}") from None
        except (httpx.TimeoutException, httpcore.TimeoutException):
            raise FetchError(label, f"timed out after {_seconds(timeout)} fetching {current}") from None
        except _CORE_ERRORS as exc:
            raise FetchError(label, _describe(_as_httpx(exc), current)) from exc
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            raise FetchError(label, _describe(exc, current)) from exc
        finally:
            DEADLINE.reset(token)


def _check_location(location: str) -> None:
    """Refuse a Location that is no URL at all, as httpx.Client did on receiving it."""
    try:
        httpx.URL(location)
    except httpx.InvalidURL as exc:
        raise httpx.RemoteProtocolError(f"Invalid URL in location header: {exc}.") from None


def _read_body(label: str, response: _Response, url: str, max_bytes: int, deadline: float,
               timeout: float) -> bytes:
    length = response.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
        raise FetchError(label, f"response larger than {_size(max_bytes)} limit "
                                f"(Content-Length {int(length)}) from {url}")
    encoding = (response.headers.get("content-encoding") or "identity").strip().lower()
    if encoding in ("", "identity"):
        inflater = None
    elif encoding in ("gzip", "x-gzip", "deflate"):
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # a gzip or zlib header
    else:  # zstd, br...: not asked for, and not inflatable within the cap
        raise FetchError(label, f"unsupported Content-Encoding {_one_line(encoding)} from {url}")
    chunks: list[bytes] = []
    total = 0

    def add(data: bytes) -> None:
        nonlocal total
        total += len(data)
        if total > max_bytes:
            raise FetchError(label, f"response larger than {_size(max_bytes)} limit from {url}")
        chunks.append(data)

    try:
        # Raw bytes, inflated here with a bound on the output: httpx would inflate each
        # network chunk whole (a 64 kB chunk of a gzip bomb is 64 MB) before we could count it.
        for raw in response.iter_raw():
            while raw:
                if inflater is None:
                    add(raw)
                    break
                add(inflater.decompress(raw, max_bytes - total + 1))
                raw = inflater.unconsumed_tail
            if time.monotonic() > deadline:
                raise FetchError(label, f"timed out after {_seconds(timeout)} fetching {url}")
        if inflater is not None:
            add(inflater.flush())
    except zlib.error as exc:
        raise FetchError(label, f"corrupt {encoding} body from {url}: {exc}") from None
    return b"".join(chunks)


def _drain(response: _Response) -> None:
    """Read a small body so the connection can go back to the pool."""
    length = response.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) <= _SMALL_BODY:
        response.read()


def _raise_for_status(label: str, response: _Response, url: str) -> None:
    status = response.status
    reason = f"{_status_text(response)} from {url}"
    _drain(response)
    if status in _RATE_LIMIT_STATUSES:
        retry_after = parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC))
        if retry_after is not None:
            reason += f" (retry after {_seconds(retry_after)})"
        raise FeedRateLimited(label, reason, retry_after=retry_after)
    raise FetchError(label, reason)


def _status_text(response: _Response) -> str:
    try:
        phrase = http.HTTPStatus(response.status).phrase
    except ValueError:
        phrase = _one_line(response.reason_phrase)
    return f"HTTP {response.status} {phrase}".rstrip()


def _describe(exc: Exception, url: str) -> str:
    """One line for a transport-level failure."""
    msg = _one_line(str(exc)) or type(exc).__name__
    try:
        parsed = httpx.URL(url)
        host = parsed.host
        where = f"{host}:{parsed.port}" if parsed.port else host
    except (httpx.InvalidURL, TypeError, ValueError):
        host = where = url
    lower = msg.lower()
    if isinstance(exc, httpx.ConnectError):
        if "refused" in lower:
            return f"connection refused by {where}"
        if any(s in lower for s in ("name or service not known", "nodename nor servname",
                                    "name resolution", "no address associated", "getaddrinfo")):
            return f"cannot resolve host {host}"
        if "certificate" in lower or "ssl" in lower:
            return f"TLS error connecting to {where}: {msg}"
        return f"cannot connect to {where}: {msg}"
    if isinstance(exc, httpx.RemoteProtocolError):
        if "without sending" in lower:
            return f"connection closed by {where} without a response"
        return f"broken HTTP response from {url}: {msg}"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return f"connection to {where} failed: {msg}"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return f"invalid URL {url!r}: {msg}"
    if isinstance(exc, httpx.DecodingError):
        return f"cannot decode the response from {url}: {msg}"
    return f"{type(exc).__name__} fetching {url}: {msg}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _size(n: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{round(n / scale, 1):g} {unit}"
    return f"{n} bytes"
