"""The editors' credentials: the API token, the page's sessions, a limit on wrong guesses.

``api_user(request, …)`` is who calls the API: ``Authorization: Bearer
TOKEN`` (compared in constant time), or the page's session cookie with its
CSRF token on anything but GET; else a 401/403/404/429 ``HTTPException``.

``EditorAuth`` is what it asks:

- ``token_ok(given)``: the given token is the configured one (constant time);
- ``open_session()`` on sign-in: a random session id (the cookie, never
  derived from the token) and a random CSRF token of its own, held in
  memory, valid ``ttl`` seconds from sign-in (``listen.session_ttl``,
  default 12 h); ``session(cookie)`` finds a live one; ``close_session``
  on sign-out forgets it, so a copied cookie is worthless afterwards;
- ``set_token(token)``: a reload with a rotated token.  Every session
  records a digest of the token it was opened with, and only sessions of
  the current token are live: rotating it revokes them all;
- ``refused_for(address)`` / ``failed(address)``: wrong tokens (at sign-in,
  or as a bearer token) are counted per client address; the ``limit``-th
  in ``window`` seconds refuses that address until the oldest ages out.

Sessions are held by their id's SHA-256, so a lookup's timing says nothing
about the ids.  Time is ``clock()`` (monotonic by default; tests pass a fake).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request

from syndicate.value import valueclass

log = logging.getLogger("syndicate.web")

COOKIE = "syndicate_session"
CSRF_HEADER = "x-csrf-token"
API_USER = "api"
PAGE_USER = "editors' page"
CHALLENGE = 'Bearer realm="syndicate"'

DEFAULT_TTL = 12 * 3600.0
FAILURE_LIMIT = 10  # wrong tokens per address …
FAILURE_WINDOW = 60.0  # … in this many seconds
MAX_SESSIONS = 1000  # a script signing in in a loop cannot fill the memory
MAX_ADDRESSES = 10_000


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


@valueclass
class EditorSession:
    csrf: str
    expires_at: float
    token_digest: bytes  # the token it was opened with

    def csrf_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest((given or "").encode("utf-8"), self.csrf.encode())


class EditorAuth:
    """The token, the live sessions and the wrong-token counts of one listener.  Thread-safe."""

    def __init__(self, token: str | None, *, ttl: float = DEFAULT_TTL,
                 clock: Callable[[], float] = time.monotonic, limit: int = FAILURE_LIMIT,
                 window: float = FAILURE_WINDOW) -> None:
        self.ttl = ttl
        self.limit = limit
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._token: bytes | None = None
        self._token_digest = b""
        self._sessions: dict[bytes, EditorSession] = {}
        self._failures: dict[str, deque[float]] = {}
        self.set_token(token)

    @property
    def on(self) -> bool:
        return self._token is not None

    def set_token(self, token: str | None) -> None:
        """Use ``token`` from now on (None or empty: off); a different token revokes every session."""
        with self._lock:
            self._token = token.encode("utf-8") if token else None
            digest = hashlib.sha256(self._token).digest() if self._token else b""
            if digest != self._token_digest:
                self._sessions.clear()
            self._token_digest = digest

    def token_ok(self, given: str) -> bool:
        token = self._token
        return token is not None and hmac.compare_digest(given.encode("utf-8"), token)

    # -- sessions --

    def open_session(self) -> tuple[str, EditorSession]:
        """A new session for someone who gave the right token: ``(cookie value, session)``."""
        cookie = secrets.token_urlsafe(32)
        with self._lock:
            now = self._clock()
            self._sessions = {k: s for k, s in self._sessions.items()
                              if s.expires_at > now and s.token_digest == self._token_digest}
            while len(self._sessions) >= MAX_SESSIONS:  # the oldest sign-in goes first
                del self._sessions[min(self._sessions, key=lambda k: self._sessions[k].expires_at)]
            session = EditorSession(secrets.token_urlsafe(32), now + self.ttl, self._token_digest)
            self._sessions[_digest(cookie)] = session
        return cookie, session

    def session(self, cookie: str | None) -> EditorSession | None:
        """The live session of this cookie, or None (none, expired, signed out, token rotated)."""
        if not cookie or self._token is None:
            return None
        key = _digest(cookie)
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None
            if session.expires_at <= self._clock() or session.token_digest != self._token_digest:
                del self._sessions[key]
                return None
            return session

    def close_session(self, cookie: str | None) -> None:
        if cookie:
            with self._lock:
                self._sessions.pop(_digest(cookie), None)

    # -- wrong tokens --

    def refused_for(self, address: str) -> float | None:
        """Seconds until ``address`` may try a token again, or None if it may now."""
        with self._lock:
            times = self._recent(address)
            if times is None or len(times) < self.limit:
                return None
            return max(times[0] + self.window - self._clock(), 0.001)

    def failed(self, address: str) -> bool:
        """Count a wrong token from ``address``; True if this one reached the limit."""
        with self._lock:
            times = self._recent(address)
            if times is None:
                if len(self._failures) >= MAX_ADDRESSES:
                    self._forget_quiet_addresses()
                times = self._failures[address] = deque()
            times.append(self._clock())
            return len(times) == self.limit

    def _recent(self, address: str) -> deque[float] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        horizon = self._clock() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times

    def _forget_quiet_addresses(self) -> None:
        horizon = self._clock() - self.window
        self._failures = {a: t for a, t in self._failures.items() if t and t[-1] > horizon}
        while len(self._failures) >= MAX_ADDRESSES:  # still full: the longest-known go first
            del self._failures[next(iter(self._failures))]


# --- a request's caller -----------------------------------------------------------------------


def client_address(request: Request) -> str:
    """The client's address, for wrong-token limits and log lines."""
    return request.client.host if request.client else "-"


def refused_wait(auth: EditorAuth, address: str) -> int | None:
    """Whole seconds until ``address`` may give a token again, or None if it may now."""
    wait = auth.refused_for(address)
    return None if wait is None else max(1, math.ceil(wait))


def wrong_token(auth: EditorAuth, address: str, what: str) -> None:
    """Count and log a wrong token (the address, never the token)."""
    if auth.failed(address):
        log.warning("editors' API: too many wrong tokens, refusing this address for a while",
                    extra={"client": address, "limit": auth.limit, "window": f"{auth.window:g}s"})
    else:
        log.warning(f"editors' API: {what}", extra={"client": address})


def api_user(request: Request, auth: EditorAuth, off_message: Callable[[], str]) -> str:
    """Who is calling (``api`` or the page), or raise the 401/403/404/429 ``HTTPException``."""
    if not auth.on:
        raise HTTPException(404, off_message())
    header = request.headers.get("authorization")
    if header is not None:
        address = client_address(request)
        wait = refused_wait(auth, address)
        if wait is not None:
            raise HTTPException(429, f"too many wrong tokens from {address}: try again in {wait} s",
                                {"Retry-After": str(wait)})
        scheme, _, credential = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            wrong_token(auth, address, "malformed Authorization header")
            raise HTTPException(401, "malformed Authorization header: expected 'Bearer TOKEN'",
                                {"WWW-Authenticate": CHALLENGE + ', error="invalid_request"'})
        if not auth.token_ok(credential.strip()):
            wrong_token(auth, address, "wrong bearer token")
            raise HTTPException(401, "wrong token",
                                {"WWW-Authenticate": CHALLENGE + ', error="invalid_token"'})
        return API_USER
    cookie = request.cookies.get(COOKIE)
    session = auth.session(cookie)
    if session is not None:
        if request.method not in ("GET", "HEAD") and not session.csrf_ok(request.headers.get(CSRF_HEADER)):
            raise HTTPException(403, "missing or wrong CSRF token: reload the editors' page")
        return PAGE_USER
    if cookie:
        raise HTTPException(401, "the editors' page session has expired or was signed out: sign in again",
                            {"WWW-Authenticate": CHALLENGE})
    raise HTTPException(401, "missing token: send 'Authorization: Bearer TOKEN'",
                        {"WWW-Authenticate": CHALLENGE})
