"""A total deadline per HTTP request, under clients whose timeouts are per socket operation.

httpcore (under httpx: our fetcher, and atproto) and urllib3 (under requests:
Mastodon.py) apply their timeout to each connect, read and write.  The body's
read timeout is even fixed once for the whole body, so a server trickling one
byte at a time, each within the timeout, holds the caller for as long as it
likes.  Here every socket operation waits at most what is left of the
current call's deadline, kept in a context variable (each thread has its own)::

    with total_deadline(30.0):     # nested: the earlier deadline wins
        ...                        # every clamped socket operation in here

- ``DeadlineBackend``: an httpcore network backend whose streams clamp
  (``fetch.wire``'s pools are built on it), and make a ``LazySSLContext``
  when its pool's first TLS connection starts;
- ``DeadlineTransport(total)``: an httpx transport on such a backend that
  gives each request, its body included, ``total`` seconds (atproto's
  ``Request(transport=...)``);
- ``syndicate.deadline_requests.DeadlineSession``: the same for requests.

Name resolution is the one blocking step that no socket timeout covers.
"""

from __future__ import annotations

import contextvars
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import httpcore
import httpx

from syndicate.value import valueclass

if TYPE_CHECKING:
    from syndicate.netguard import AddressPolicy

DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("syndicate_deadline",
                                                                         default=None)


@valueclass
class Deadline:
    at: float  # time.monotonic()

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at


@contextmanager
def total_deadline(seconds: float) -> Iterator[Deadline]:
    """Every clamped socket operation inside ends by ``seconds`` from now (or an earlier deadline)."""
    outer = DEADLINE.get()
    at = time.monotonic() + seconds
    if outer is not None:
        at = min(at, outer)
    token = DEADLINE.set(at)
    try:
        yield Deadline(at)
    finally:
        DEADLINE.reset(token)


def remaining() -> float | None:
    """Seconds left before the current deadline (≤ 0 once passed), or None without one."""
    deadline = DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()


def clamp(timeout: float | None, exc: type[Exception]) -> float | None:
    """``timeout`` cut to what is left of the deadline; raises ``exc`` once it has passed."""
    left = remaining()
    if left is None:
        return timeout
    if left <= 0:
        raise exc("total deadline passed")
    return left if timeout is None else min(timeout, left)


# --- httpcore ----------------------------------------------------------------------------------


class LazySSLContext:
    """A pool's SSL context, made when the pool's first TLS connection starts, not with the pool.

    Loading the CA bundle costs ≈20 ms (``load_verify_locations``), which a process that reads
    plain-http feeds only, or fetches nothing, does not pay.  httpcore gives the context its pool
    was built with to ``set_alpn_protocols`` and then to the stream's ``start_tls``: a pool given
    this stand-in (``as_ssl_context()``) must be built on a ``DeadlineBackend``, whose streams'
    ``start_tls`` makes the real context here and hands that on.  ``make`` is
    ``httpx.create_ssl_context`` (certifi, or SSL_CERT_FILE / SSL_CERT_DIR, read when made): the
    same context, with the same verification, as an eager one.  Thread-safe; made once.
    """

    def __init__(self, make: Callable[[], ssl.SSLContext] | None = None) -> None:
        self._make = make or httpx.create_ssl_context
        self._context: ssl.SSLContext | None = None
        self._alpn: list[str] | None = None
        self._lock = threading.Lock()

    @property
    def made(self) -> bool:
        """Has a TLS connection needed the context yet?"""
        return self._context is not None

    def set_alpn_protocols(self, protocols: Iterable[str]) -> None:
        """As httpcore sets them on its context before each TLS connection."""
        with self._lock:
            self._alpn = list(protocols)
            if self._context is not None:
                self._context.set_alpn_protocols(self._alpn)

    def context(self) -> ssl.SSLContext:
        """The real context, made on the first call."""
        with self._lock:
            if self._context is None:
                context = self._make()
                if self._alpn is not None:
                    context.set_alpn_protocols(self._alpn)
                self._context = context
            return self._context

    def as_ssl_context(self) -> ssl.SSLContext:
        """The stand-in, typed as what httpcore's pools take (for a pool on a ``DeadlineBackend``)."""
        return cast(ssl.SSLContext, self)


class _DeadlineStream(httpcore.NetworkStream):
    __slots__ = ("_inner",)

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:  # h11's empty end of a bodiless request: nothing to send, nothing to clamp
            return
        self._inner.write(buffer, clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        if isinstance(ssl_context, LazySSLContext):  # the first TLS connection makes it
            ssl_context = ssl_context.context()
        stream = self._inner.start_tls(ssl_context, server_hostname,
                                       clamp(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """A network backend whose every connect, read and write ends by the current deadline.

    With an address ``policy`` (``syndicate.netguard``) it connects only where
    the policy allows: the host is resolved here, every address checked, and
    the socket connected to a checked address, so nothing can change between
    the check and the connection (TLS still names the host: httpcore takes
    SNI from the request's origin, not from what we connect to).
    """

    def __init__(self, inner: httpcore.NetworkBackend | None = None, *,
                 policy: AddressPolicy | None = None) -> None:
        self._inner = inner or httpcore.SyncBackend()
        self._policy = policy

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        if self._policy is None:
            stream = self._inner.connect_tcp(host, port, clamp(timeout, httpcore.ConnectTimeout),
                                             local_address, socket_options)
            return _DeadlineStream(stream)
        try:
            addresses = self._policy.addresses(host, port)  # raises AddressRefused
        except OSError as exc:  # the name does not resolve
            raise httpcore.ConnectError(str(exc)) from exc
        failure: Exception = httpcore.ConnectError(f"{host} resolves to no address")
        for address in addresses:  # as socket.create_connection, but only to checked addresses
            try:
                stream = self._inner.connect_tcp(address, port, clamp(timeout, httpcore.ConnectTimeout),
                                                 local_address, socket_options)
                return _DeadlineStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, clamp(timeout, httpcore.ConnectTimeout),
                                                 socket_options)
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


# --- httpx -------------------------------------------------------------------------------------


class _DeadlineBody(httpx.SyncByteStream):
    """A response body read under the deadline its request started with."""

    def __init__(self, inner: httpx.SyncByteStream, at: float) -> None:
        self._inner = inner
        self._at = at

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._inner)
        while True:
            token = DEADLINE.set(self._at)
            try:
                chunk = next(chunks, None)
            finally:
                DEADLINE.reset(token)
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        self._inner.close()


class DeadlineTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` on a ``DeadlineBackend``: each request, body included, ends by
    ``total`` seconds after it started.  (No proxies from the environment: none is taken.)"""

    def __init__(self, total: float, *, limits: httpx.Limits | None = None) -> None:
        # Not HTTPTransport.__init__: the pool it builds cannot be given a network backend.
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20,
                                        keepalive_expiry=5.0)  # httpx's defaults
        self.total = total
        self.tls = LazySSLContext()  # certifi, or SSL_CERT_FILE / SSL_CERT_DIR: at the first TLS connection
        self._pool = httpcore.ConnectionPool(
            ssl_context=self.tls.as_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=DeadlineBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with total_deadline(self.total) as deadline:
            response = super().handle_request(request)
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _DeadlineBody(response.stream, deadline.at)
        return response
