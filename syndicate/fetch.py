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
"""

from __future__ import annotations

import contextvars
import http
import math
import re
import ssl
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpcore
import httpx

from syndicate.errors import FeedRateLimited, FetchError

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


# --- a total deadline under httpx's per-operation timeouts ---------------------
#
# httpx applies its timeouts to each socket operation; the body's read timeout
# is even fixed once for the whole body.  The network backend below clamps
# every connect, read and write to what is left of the current call's
# deadline, kept in a context variable (so each thread has its own).

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("syndicate_fetch_deadline",
                                                                          default=None)


def _clamp(timeout: float | None, exc: type[Exception]) -> float | None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise exc("total deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    __slots__ = ("_inner",)

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        stream = self._inner.start_tls(ssl_context, server_hostname,
                                       _clamp(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, _clamp(timeout, httpcore.ConnectTimeout),
                                         local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, _clamp(timeout, httpcore.ConnectTimeout),
                                                 socket_options)
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _default_transport() -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport(
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=60.0),
    )
    # httpx offers no public hook for the network backend; if its internals
    # move, we lose only the sub-read precision (the deadline is still
    # checked between body chunks).
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.NetworkBackend):
        pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
    return transport


# --- the fetcher ---------------------------------------------------------------


class Fetcher:
    """One pooled HTTP client (keep-alive) shared by every feed.  Thread-safe."""

    def __init__(self, user_agent: str, *, transport: httpx.BaseTransport | None = None,
                 max_redirects: int = 5) -> None:
        self.user_agent = user_agent
        self.max_redirects = max_redirects
        self._client = httpx.Client(
            transport=transport if transport is not None else _default_transport(),
            # only what _read_body can inflate within the size cap
            headers={"User-Agent": user_agent, "Accept": FEED_ACCEPT, "Accept-Encoding": "gzip, deflate"},
            follow_redirects=False,
            timeout=20.0,
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def fetch_feed(self, feed: str, url: str, *, etag: str | None = None,
                   last_modified: str | None = None, timeout: float = 20.0,
                   max_bytes: int = 10_000_000) -> FetchResult:
        """GET a feed, conditionally when ``etag``/``last_modified`` are given.

        Raises ``FeedRateLimited`` on 429/503, ``FetchError`` on anything else
        that is not a 2xx or a 304.
        """
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        resp, body, redirects, permanent = self._get(feed, url, headers, timeout, max_bytes)
        hdrs = dict(resp.headers.items())
        final = str(resp.url)
        if resp.status_code == 304:
            new_etag = hdrs.get("etag") or etag
            new_lm = hdrs.get("last-modified") or last_modified
        else:
            new_etag = hdrs.get("etag")
            new_lm = hdrs.get("last-modified")
        return FetchResult(
            status=resp.status_code,
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
        """GET any resource (an image, a page): ``(body, content-type)``.

        Errors are ``FetchError`` naming ``label`` (else the URL).
        """
        resp, body, _, _ = self._get(label or url, url, {"Accept": accept}, timeout, max_bytes,
                                     conditional=False)
        return body or b"", resp.headers.get("content-type", "")

    # -- internals --

    def _get(self, label: str, url: str, headers: dict[str, str], timeout: float, max_bytes: int,
             *, conditional: bool = True) -> tuple[httpx.Response, bytes | None, tuple[str, ...], bool]:
        """Follow redirects by hand and read the body within the limits."""
        deadline = time.monotonic() + timeout
        token = _DEADLINE.set(deadline)
        current = url
        redirects: list[str] = []
        permanent = True
        try:
            for _ in range(self.max_redirects + 1):
                request = self._client.build_request("GET", current, headers=headers, timeout=timeout)
                response = self._client.send(request, stream=True)
                try:
                    status = response.status_code
                    if status in _REDIRECT_STATUSES:
                        location = response.headers.get("location")
                        if not location:
                            raise FetchError(label, f"{_status_text(response)} without a Location header "
                                                    f"from {current}")
                        target = response.url.join(location.strip())
                        if target.scheme not in ("http", "https"):
                            raise FetchError(label, f"redirected from {current} to a non-HTTP URL "
                                                    f"{_one_line(str(target))}")
                        _drain(response)
                        redirects.append(current)
                        permanent = permanent and status in _PERMANENT_STATUSES
                        current = str(target)
                        continue
                    if status == 304 and conditional:
                        response.read()  # no body, but reach its end so the connection is reused
                        return response, None, tuple(redirects), permanent
                    if not 200 <= status < 300 or status == 304:
                        _raise_for_status(label, response, current)
                    body = _read_body(label, response, current, max_bytes, deadline, timeout)
                    return response, body, tuple(redirects), permanent
                finally:
                    response.close()
            raise FetchError(label, f"more than {self.max_redirects} redirects starting at {url}")
        except httpx.TimeoutException:
            raise FetchError(label, f"timed out after {_seconds(timeout)} fetching {current}") from None
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            raise FetchError(label, _describe(exc, current)) from exc
        finally:
            _DEADLINE.reset(token)


def _read_body(label: str, response: httpx.Response, url: str, max_bytes: int, deadline: float,
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


def _drain(response: httpx.Response) -> None:
    """Read a small body so the connection can go back to the pool."""
    length = response.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) <= _SMALL_BODY:
        response.read()


def _raise_for_status(label: str, response: httpx.Response, url: str) -> None:
    status = response.status_code
    reason = f"{_status_text(response)} from {url}"
    _drain(response)
    if status in _RATE_LIMIT_STATUSES:
        retry_after = parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC))
        if retry_after is not None:
            reason += f" (retry after {_seconds(retry_after)})"
        raise FeedRateLimited(label, reason, retry_after=retry_after)
    raise FetchError(label, reason)


def _status_text(response: httpx.Response) -> str:
    try:
        phrase = http.HTTPStatus(response.status_code).phrase
    except ValueError:
        phrase = _one_line(response.reason_phrase)
    return f"HTTP {response.status_code} {phrase}".rstrip()


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
