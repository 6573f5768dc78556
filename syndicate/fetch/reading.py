"""A response read within the limits, or one line saying why not.

``read_parts`` reads a 2xx body under ``max_bytes`` (a Content-Length above
it refused before reading, a streamed body abandoned as soon as it passes
the cap, gzip and deflate inflated here with a bound on the output) and the
total deadline.  Every failure is a ``FetchError`` (``FeedRateLimited`` for
429/503, with ``parse_retry_after``'s wait) whose reason is one line naming
the URL: ``status_text``, ``describe`` (a transport failure).
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime

from syndicate.errors import FeedRateLimited, FetchError
from syndicate.fetch.failures import (
    BrokenResponse,
    ClosedEarly,
    ConnectFailed,
    ConnectionBroke,
    InvalidURL,
    Truncated,
    WireError,
)
from syndicate.fetch.urls import parse
from syndicate.fetch.wire import Response

__all__ = ["check_location", "describe", "drain", "one_line", "parse_retry_after", "raise_for_status",
           "read_parts", "seconds", "status_text"]

_RATE_LIMIT_STATUSES = frozenset({429, 503})
_SMALL_BODY = 65_536  # redirect/error bodies up to this size are read so the connection is reused
_DELTA_SECONDS = re.compile(r"^-?\d+(?:\.\d+)?$")


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
    from email.utils import parsedate_to_datetime  # (email.* only for a date: not on a 304's path)

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    wait = (when - now).total_seconds()
    return max(0.0, wait) if math.isfinite(wait) else None


def check_location(location: str) -> None:
    """Refuse a Location that is no URL at all, as httpx.Client did on receiving it."""
    try:
        parse(location)
    except InvalidURL as exc:
        raise BrokenResponse(f"Invalid URL in location header: {exc}.") from None


def read_parts(label: str, response: Response, url: str, max_bytes: int, deadline: float,
               timeout: float) -> list[bytes]:
    """A 2xx body read within the limits (see the module docstring), as the parts it came in
    (inflated), never joined here: a feed's body recognised by its hash is never copied whole."""
    length = response.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
        raise FetchError(label, f"response larger than {_size(max_bytes)} limit "
                                f"(Content-Length {int(length)}) from {url}")
    encoding = (response.headers.get("content-encoding") or "identity").strip().lower()
    corrupt: type[Exception] = _NeverRaised
    if encoding in ("", "identity"):
        inflater = None
    elif encoding in ("gzip", "x-gzip", "deflate"):
        import zlib  # (for a compressed body only: a 304 has none)

        inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # a gzip or zlib header
        corrupt = zlib.error
    else:  # zstd, br...: not asked for, and not inflatable within the cap
        raise FetchError(label, f"unsupported Content-Encoding {one_line(encoding)} from {url}")
    chunks: list[bytes] = []
    total = 0

    def add(data: bytes) -> None:
        nonlocal total
        total += len(data)
        if total > max_bytes:
            raise FetchError(label, f"response larger than {_size(max_bytes)} limit from {url}")
        if data:
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
                raise FetchError(label, f"timed out after {seconds(timeout)} fetching {url}")
        if inflater is not None:
            add(inflater.flush())
    except corrupt as exc:
        raise FetchError(label, f"corrupt {encoding} body from {url}: {exc}") from None
    return chunks


class _NeverRaised(Exception):
    """What an identity body's read catches where an inflated one's catches ``zlib.error``."""


def drain(response: Response) -> None:
    """Read a small body so the connection can go back to the pool."""
    length = response.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) <= _SMALL_BODY:
        response.read()


def raise_for_status(label: str, response: Response, url: str) -> None:
    status = response.status
    reason = f"{status_text(response)} from {url}"
    drain(response)
    if status in _RATE_LIMIT_STATUSES:
        retry_after = parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC))
        if retry_after is not None:
            reason += f" (retry after {seconds(retry_after)})"
        limited = FeedRateLimited(label, reason, retry_after=retry_after)
        limited.status = status
        raise limited
    failed = FetchError(label, reason)
    failed.status = status
    raise failed


def status_text(response: Response) -> str:
    import http  # (HTTPStatus: only for a status that fails)

    try:
        phrase = http.HTTPStatus(response.status).phrase
    except ValueError:
        phrase = one_line(response.reason_phrase)
    return f"HTTP {response.status} {phrase}".rstrip()


def describe(exc: WireError, url: str) -> str:
    """One line for a transport-level failure."""
    msg = one_line(str(exc)) or exc.kind
    try:
        parsed = parse(url)
        host = parsed.display_host()
        where = f"{host}:{parsed.port}" if parsed.port else host
    except (InvalidURL, TypeError, ValueError):
        host = where = url
    lower = msg.lower()
    if isinstance(exc, ConnectFailed):
        if "refused" in lower:
            return f"connection refused by {where}"
        if any(s in lower for s in ("name or service not known", "nodename nor servname",
                                    "name resolution", "no address associated", "getaddrinfo")):
            return f"cannot resolve host {host}"
        if "certificate" in lower or "ssl" in lower:
            return f"TLS error connecting to {where}: {msg}"
        return f"cannot connect to {where}: {msg}"
    if isinstance(exc, ClosedEarly):
        return f"connection closed by {where} without a response"
    if isinstance(exc, Truncated):
        return f"connection closed by {where} before the end of the response ({msg})"
    if isinstance(exc, BrokenResponse):
        return f"broken HTTP response from {url}: {msg}"
    if isinstance(exc, ConnectionBroke):
        return f"connection to {where} failed: {msg}"
    if isinstance(exc, InvalidURL):
        return f"invalid URL {url!r}: {msg}"
    return f"{exc.kind} fetching {url}: {msg}"


def one_line(text: str) -> str:
    return " ".join(text.split())


def seconds(value: float) -> str:
    return f"{value:g}s"


def _size(n: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{round(n / scale, 1):g} {unit}"
    return f"{n} bytes"
