"""Requests and responses without httpx's client layer: the wire under ``Fetcher``.

The feed path talks to httpcore's connection pool directly: httpx's Client
(URL merging, cookie jar, header models, its Response) cost more CPU than
the HTTP exchange itself on a 304.  What the Client did for us is done here:
URL parsing (with httpx.URL, cached per URL string: ``target_for``), the
default headers in the same order, httpcore's exceptions turned into
httpx's (``as_httpx``), and one ``Response`` whether it came from httpcore
or from a caller's httpx transport.  No cookies are kept: feeds do not need
them.  The pools are built on the deadline-clamping network backend
(``syndicate.deadline``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import httpcore
import httpx

from syndicate.deadline import DeadlineBackend, LazySSLContext
from syndicate.netguard import AddressPolicy
from syndicate.value import valueclass

__all__ = ["CORE_ERRORS", "Response", "Target", "as_httpx", "decode_headers", "default_pool", "header_value",
           "target_for"]


def default_pool(tls: LazySSLContext, policy: AddressPolicy | None = None) -> httpcore.ConnectionPool:
    """What ``httpx.HTTPTransport`` would build, on a deadline-clamping network backend
    (``deadline``) that, with a ``policy``, connects only where the policy allows, and makes the
    SSL context (``tls``) when the first TLS connection starts."""
    return httpcore.ConnectionPool(
        ssl_context=tls.as_ssl_context(),
        max_connections=32,
        max_keepalive_connections=16,
        keepalive_expiry=60.0,
        network_backend=DeadlineBackend(policy=policy),
    )


@valueclass
class Target:
    """One request URL, parsed once."""

    url: httpx.URL  # as httpx.Client would send it (redirects are joined to it)
    text: str  # str(url): the result's URL
    core: httpcore.URL
    host: bytes  # the Host header


_TARGETS: dict[str, Target] = {}
_TARGETS_MAX = 4096
_NO_BASE = httpx.URL("")


def target_for(url: str) -> Target:
    target = _TARGETS.get(url)
    if target is None:
        parsed = httpx.URL(url)  # may raise httpx.InvalidURL
        if parsed.is_relative_url:  # merged with httpx.Client's empty base URL (the pool refuses it)
            parsed = _NO_BASE.copy_with(raw_path=_NO_BASE.raw_path + parsed.raw_path.lstrip(b"/"))
        core = httpcore.URL(scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port,
                            target=parsed.raw_path)
        target = Target(parsed, str(parsed), core, parsed.netloc)
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
CORE_ERRORS = (httpcore.NetworkError, httpcore.ProxyError, httpcore.UnsupportedProtocol,
                httpcore.ProtocolError)


def as_httpx(exc: Exception) -> httpx.HTTPError:
    """An httpcore exception as the httpx one its transport would have raised."""
    for cls in type(exc).__mro__:
        mapped = _CORE_TO_HTTPX.get(cls)
        if mapped is not None:
            return mapped(str(exc))
    return httpx.TransportError(str(exc))


class Response:
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


def from_core(core: httpcore.Response) -> Response:
    """httpcore's response, its body still to read (a sync pool's stream is a sync iterable)."""
    stream = core.stream
    if not isinstance(stream, Iterable):
        raise TypeError("a connection pool answered with an async stream")
    return Response(core.status, decode_headers(core.headers), core.extensions.get("reason_phrase"),
                    stream, core.close)


def from_transport(response: httpx.Response) -> Response:
    """An httpx transport's response (a caller's transport: tests of the HTTP handling)."""
    stream = response.stream
    if not isinstance(stream, Iterable):
        raise TypeError("an httpx transport answered with an async stream")
    return Response(response.status_code, dict(response.headers.items()), response.reason_phrase,
                    stream, response.close)
