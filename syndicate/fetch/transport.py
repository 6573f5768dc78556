"""A caller's httpx transport under ``Fetcher`` (tests of the HTTP handling): the only place httpx is used.

Imported only when a ``Fetcher`` is given a ``transport``.  The request goes
through it as httpx.Client sent it; its response becomes a ``wire.Response``,
and every httpx exception it (or its body) raises becomes the ``failures``
exception ``reading.describe`` knows, so ``Fetcher`` catches one family.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import httpx

from syndicate.fetch import failures
from syndicate.fetch.wire import Response, Target

__all__ = ["as_wire", "send"]

_KINDS: tuple[tuple[type[Exception], type[failures.WireError]], ...] = (
    (httpx.TimeoutException, failures.TimedOut),
    (httpx.ConnectError, failures.ConnectFailed),
    (httpx.ReadError, failures.ConnectionBroke),
    (httpx.WriteError, failures.ConnectionBroke),
    (httpx.RemoteProtocolError, failures.BrokenResponse),
    (httpx.UnsupportedProtocol, failures.UnsupportedProtocol),
    (httpx.InvalidURL, failures.InvalidURL),
)


def as_wire(exc: Exception) -> failures.WireError:
    """An httpx exception as the ``failures`` one it amounts to (its message and class name kept)."""
    for httpx_type, ours in _KINDS:
        if isinstance(exc, httpx_type):
            if ours is failures.BrokenResponse and "without sending" in str(exc).lower():
                ours = failures.ClosedEarly
            return ours(str(exc), kind=type(exc).__name__)
    return failures.WireError(str(exc), kind=type(exc).__name__)


_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError)


def send(transport: httpx.BaseTransport, target: Target, headers: tuple[tuple[bytes, bytes], ...],
         timeout: float) -> Response:
    timeouts = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
    try:
        response = transport.handle_request(
            httpx.Request("GET", str(target.url), headers=list(headers), extensions={"timeout": timeouts}))
    except _ERRORS as exc:
        raise as_wire(exc) from exc
    stream = response.stream
    if not isinstance(stream, Iterable):
        raise TypeError("an httpx transport answered with an async stream")
    return Response(response.status_code, dict(response.headers.items()), response.reason_phrase,
                    _converted(stream), response.close)


def _converted(stream: Iterable[bytes]) -> Iterator[bytes]:
    try:
        yield from stream
    except _ERRORS as exc:
        raise as_wire(exc) from exc
