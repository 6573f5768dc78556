"""How the wire fails: a small hierarchy of exceptions that ``reading.describe`` turns into one line.

The wire (``http11``, ``wire``, ``urls``) raises only these; a caller's httpx
transport's exceptions are turned into them where they come in
(``transport``), so ``Fetcher`` catches one family whichever way it sent.
"""

from __future__ import annotations

__all__ = ["BrokenResponse", "ClosedEarly", "ConnectFailed", "ConnectionBroke", "InvalidURL", "TimedOut",
           "Truncated", "UnsupportedProtocol", "WireError"]


class WireError(Exception):
    """A request that did not get a (complete) response; ``str()`` says why.

    ``kind`` names what failed for ``describe``'s last resort (the httpx exception's class name
    when it came from a caller's transport)."""

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind or type(self).__name__


class InvalidURL(WireError):
    """A URL that cannot be parsed (httpx.InvalidURL's cases and messages)."""


class UnsupportedProtocol(InvalidURL):
    """A URL that is no http(s) URL with a host."""


class TimedOut(WireError):
    """A connect, read or write that did not end by the deadline (or its own timeout)."""


class ConnectFailed(WireError):
    """No connection: refused, unresolvable, unreachable, or its TLS handshake failed."""


class ConnectionBroke(WireError):
    """A connection that failed while sending or receiving (reset, a TLS error)."""


class BrokenResponse(WireError):
    """Bytes that are no HTTP/1.1 response (or one we refuse: monstrous headers)."""


class ClosedEarly(BrokenResponse):
    """The server closed the connection before the response's head was complete."""


class Truncated(BrokenResponse):
    """The server closed the connection before the end of the response's body."""
