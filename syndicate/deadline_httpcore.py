"""httpcore and httpx under a total deadline: ``DeadlineBackend`` and ``DeadlineTransport``.

Imported only by the targets that need them (Mastodon's wire builds an
httpcore pool on ``DeadlineBackend``; the Bluesky session gives atproto a
``DeadlineTransport``), so ``syndicate.deadline``, which the fetcher uses,
loads neither httpx nor httpcore.  See ``syndicate.deadline`` for the
deadline itself.

- ``DeadlineBackend``: an httpcore network backend whose streams clamp, and
  make a ``LazySSLContext`` when its pool's first TLS connection starts;
- ``DeadlineTransport(total)``: an httpx transport on such a backend that
  gives each request, its body included, ``total`` seconds (atproto's
  ``Request(transport=...)``).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

from syndicate.deadline import DEADLINE, LazySSLContext, clamp, total_deadline

__all__ = ["DeadlineBackend", "DeadlineTransport"]


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

    (Only the platforms' own servers are reached through it: what a feed's content names is
    fetched by ``syndicate.fetch``, whose ``http11.connect`` applies the address policy.)
    """

    def __init__(self, inner: httpcore.NetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, clamp(timeout, httpcore.ConnectTimeout),
                                         local_address, socket_options)
        return _DeadlineStream(stream)

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
