"""A total deadline per HTTP request, under clients whose timeouts are per socket operation.

httpcore (under httpx: atproto, and Mastodon's wire) and urllib3 (under
requests: Mastodon.py) apply their timeout to each connect, read and write, as
a socket timeout does (the fetcher's own wire).  The body's
read timeout is even fixed once for the whole body, so a server trickling one
byte at a time, each within the timeout, holds the caller for as long as it
likes.  Here every socket operation waits at most what is left of the
current call's deadline, kept in a context variable (each thread has its own)::

    with total_deadline(30.0):     # nested: the earlier deadline wins
        ...                        # every clamped socket operation in here

- ``clamp``: the fetcher's own HTTP/1.1 wire (``syndicate.fetch.http11``)
  clamps every socket operation with it;
- ``LazySSLContext``: an SSL context made at the first TLS connection, as
  ``httpx.create_ssl_context`` makes it (``create_ssl_context`` here);
- ``syndicate.deadline_httpcore``: ``DeadlineBackend`` (an httpcore network
  backend whose streams clamp: Mastodon's wire) and ``DeadlineTransport``
  (an httpx transport on it: atproto's), imported only by those targets, so
  this module loads neither httpx nor httpcore (nor ssl);
- ``syndicate.deadline_requests.DeadlineSession``: the same for requests.

Name resolution is the one blocking step that no socket timeout covers.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    import ssl

DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("syndicate_deadline",
                                                                         default=None)


class Deadline:
    """When the current call must end (``time.monotonic()``)."""

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at

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


# --- TLS ---------------------------------------------------------------------------------------


def create_ssl_context() -> ssl.SSLContext:
    """The context ``httpx.create_ssl_context()`` makes (httpx 0.28): verifying, with the CA
    bundle of SSL_CERT_FILE, else the CA directory SSL_CERT_DIR, else certifi's."""
    import ssl

    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class LazySSLContext:
    """A pool's SSL context, made when the pool's first TLS connection starts, not with the pool.

    Loading the CA bundle costs ≈20 ms (``load_verify_locations``), which a process that reads
    plain-http feeds only, or fetches nothing, does not pay.  The fetcher's wire asks for
    ``context()`` when it starts a TLS connection.  httpcore gives the context its pool was built
    with to ``set_alpn_protocols`` and then to the stream's ``start_tls``: a pool given this
    stand-in (``as_ssl_context()``) must be built on a ``DeadlineBackend``, whose streams'
    ``start_tls`` makes the real context here and hands that on.  ``make`` is
    ``create_ssl_context`` (httpx.create_ssl_context's: certifi, or SSL_CERT_FILE / SSL_CERT_DIR,
    read when made): the same context, with the same verification, as an eager one.
    Thread-safe; made once.
    """

    def __init__(self, make: Callable[[], ssl.SSLContext] | None = None) -> None:
        self._make = make or create_ssl_context
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
        return cast("ssl.SSLContext", self)


