"""Requests and responses on our own HTTP/1.1 connection pool: the wire under ``Fetcher``.

No httpx, httpcore, h11 or ssl is imported for a plain-http feed: a 304 costs
the exchange and nothing else (ssl and the CA bundle come with the first TLS
connection).  ``target_for`` parses a URL once (``urls``, as httpx.URL
does; cached per URL string) into a ``Target``: what to connect to and the
request's first lines.  ``Pool`` keeps idle connections per (scheme, host,
port) for ``keepalive_expiry`` seconds, hands one out only when its previous
response was read to its end and kept alive, and sends a request again, once,
on a fresh connection when a pooled one turns out closed before any byte of
the response came (the server dropped it while idle).  ``Response`` is one
response whether it came from the pool or a caller's httpx transport
(``transport``).  No cookies are kept: feeds do not need them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from syndicate.deadline import LazySSLContext
from syndicate.fetch.failures import ClosedEarly, ConnectionBroke, InvalidURL, UnsupportedProtocol, WireError
from syndicate.fetch.http11 import Connection, connect, exchange
from syndicate.fetch.urls import URL, parse
from syndicate.netguard import AddressPolicy

__all__ = ["Pool", "Response", "Target", "decode_headers", "header_value", "target_for"]

_PORTS = {"http": 80, "https": 443}


class Target:
    """One request URL, parsed once."""

    __slots__ = ("url", "text", "origin", "head")

    def __init__(self, url: URL) -> None:
        self.url = url  # as httpx.Client would send it (redirects are joined to it)
        self.text = str(url)  # the result's URL
        port = url.port if url.port is not None else _PORTS[url.scheme]
        self.origin = (url.scheme, url.host, port)  # where to connect; the pool's key
        # the request line and the Host field, as httpx sent them
        try:
            self.head = f"GET {url.target} HTTP/1.1\r\nHost: {url.netloc}\r\n".encode("ascii")
        except UnicodeEncodeError:  # only a host can be: an IPv6 zone id (the rest is IDNA or %-encoded)
            raise InvalidURL(f"Invalid non-ASCII host: {url.host!r}") from None


_TARGETS: dict[str, Target] = {}
_TARGETS_MAX = 4096
_CACHED_MAX = 4096  # the longest URL and request line kept parsed, together (a feed's URL is)


def target_for(url: str) -> Target:
    """``url`` parsed (raises ``InvalidURL``), refused unless it is an http(s) URL with a host."""
    target = _TARGETS.get(url)
    if target is None:
        parsed = parse(url)
        if not parsed.is_absolute:
            raise UnsupportedProtocol("Request URL is missing an 'http://' or 'https://' protocol.")
        if parsed.scheme not in _PORTS:
            raise UnsupportedProtocol(f"Request URL has an unsupported protocol '{parsed.scheme}://'.")
        target = Target(parsed)
        if len(url) + len(target.head) > _CACHED_MAX:
            return target  # (a URL of content's up to 64 kB, its path percent-encoded up to six times that)
        if len(_TARGETS) >= _TARGETS_MAX:
            _TARGETS.clear()
        _TARGETS[url] = target
    return target


def header_value(value: str) -> bytes:
    try:
        return value.encode("ascii")  # as httpx encodes str header values
    except UnicodeEncodeError:  # a validator we stored from a utf-8 header: send it back as it came
        return value.encode("utf-8")


def decode_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
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


class Response:
    """A response whose body is still to read, from the pool or from an httpx transport."""

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
            return ""
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


def request_bytes(target: Target, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The GET's bytes: the request line, Host, then ``headers`` in order."""
    lines = [target.head]
    for name, value in headers:
        if b"\r" in value or b"\n" in value or b"\0" in value:
            raise WireError(f"Illegal header value {value!r}", kind="LocalProtocolError")
        lines.append(b"%s: %s\r\n" % (name, value))
    lines.append(b"\r\n")
    return b"".join(lines)


class Pool:
    """Keep-alive HTTP/1.1 connections, per (scheme, host, port).  Thread-safe.

    With a ``policy`` every new connection goes only where it allows (``http11.connect``);
    TLS connections verify with ``tls``'s context, made at the first of them."""

    def __init__(self, tls: LazySSLContext, policy: AddressPolicy | None = None, *,
                 keepalive_expiry: float = 60.0, max_idle: int = 16) -> None:
        self.tls = tls
        tls.set_alpn_protocols(["http/1.1"])  # (as httpcore offered, for HTTP/1.1 only)
        self.policy = policy
        self.keepalive_expiry = keepalive_expiry
        self.max_idle = max_idle
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._idle_count = 0
        self._lock = threading.Lock()
        self._closed = False

    def request(self, target: Target, headers: Iterable[tuple[bytes, bytes]],
                timeout: float | None) -> Response:
        """Send a GET for ``target`` and read the response's head; its body is read as iterated."""
        request = request_bytes(target, headers)
        conn = self._checkout(target.origin)
        if conn is not None:
            try:
                return self._exchange(conn, request, timeout)
            except (ClosedEarly, ConnectionBroke):
                if conn.received:  # part of a response came: no telling what the server did
                    raise
                # a kept-alive connection the server had closed: once more, on a new one
        scheme, host, port = target.origin
        conn = connect(scheme, host, port, timeout, policy=self.policy, tls=self.tls)
        return self._exchange(conn, request, timeout)

    def _exchange(self, conn: Connection, request: bytes, timeout: float | None) -> Response:
        try:
            head, body = exchange(conn, request, timeout, self._release)
        except BaseException:
            conn.close()
            raise
        return Response(head.status, decode_headers(head.fields), head.reason, body, body.close)

    def _checkout(self, origin: tuple[str, str, int]) -> Connection | None:
        """An idle connection to ``origin`` that is still open and unexpired, if any."""
        if not self._idle_count:
            return None
        oldest = time.monotonic() - self.keepalive_expiry
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                if not idle:
                    return None
                conn = idle.pop()  # the most recently used first
                self._idle_count -= 1
            if conn.idle_since >= oldest and not conn.looks_closed():
                return conn
            conn.close()

    def _release(self, conn: Connection) -> None:
        """A connection whose response was read to its end, kept alive: back to the idle ones."""
        conn.idle_since = time.monotonic()
        dropped: list[Connection] = []
        with self._lock:
            if self._closed:
                dropped.append(conn)
            else:
                self._idle.setdefault(conn.origin, []).append(conn)
                self._idle_count += 1
                while self._idle_count > self.max_idle:  # the one idle longest goes
                    origin = min((k for k, v in self._idle.items() if v),
                                 key=lambda k: self._idle[k][0].idle_since)
                    dropped.append(self._idle[origin].pop(0))
                    self._idle_count -= 1
        for old in dropped:
            old.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [conn for conns in self._idle.values() for conn in conns]
            self._idle.clear()
            self._idle_count = 0
        for conn in idle:
            conn.close()
