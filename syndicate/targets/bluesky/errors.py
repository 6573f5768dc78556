"""Bluesky's errors as ``syndicate.errors``, by the one status table there.

``translate`` is the whole mapping: 429 → ``RateLimited`` (``retry_at`` from
``ratelimit-reset``); 408, 409, 425, 5xx, timeouts and dropped connections
→ ``TransientError``; other 4xx → ``PermanentError`` with the server's
message; a rejected login or session (401/403, ``ExpiredToken``) →
``AuthError``; anything else the SDK raises (an answer it cannot read) →
``internal_error``.  A message is one line and holds no secret.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from syndicate.errors import AuthError, DeliveryError, delivery_error, internal_error

AUTH_REJECTED = {"ExpiredToken", "InvalidToken", "AuthenticationRequired", "AuthMissing"}


def translate(exc: BaseException, what: str, *, target: str, timeout: float) -> DeliveryError:
    """An SDK or httpx error as a ``syndicate.errors`` error by its one status table (one
    line, no secrets); ``what`` says what was being done, ``timeout`` the request's limit."""
    import httpx
    from atproto import exceptions

    name = target
    if isinstance(exc, exceptions.RateLimitExceededError):
        retry_at = exc.reset_at
        if retry_at is None and exc.retry_after is not None:
            retry_at = datetime.fromtimestamp(datetime.now(UTC).timestamp() + exc.retry_after, UTC)
        when = f", retry at {retry_at.isoformat()}" if retry_at else ""
        return delivery_error(429, f"{what}: rate limited (429){when}", retry_at=retry_at, target=name)
    if isinstance(exc, exceptions.InvokeTimeoutError | httpx.TimeoutException):
        return delivery_error(None, f"{what}: timed out after {timeout:g}s", target=name)
    if isinstance(exc, exceptions.RequestErrorBase):
        response = exc.response
        if response is None:  # a transport failure
            return delivery_error(None, f"{what}: {one_line(exc.__cause__ or exc)}", target=name)
        status = response.status_code
        error, message = xrpc_error(exc)
        detail = f"{status} {error}: {message}" if message else f"{status} {error}"
        if error in AUTH_REJECTED:  # the words say more than the status (400 ExpiredToken)
            return AuthError(f"{what}: {detail}", target=name)
        return delivery_error(status, f"{what}: {detail}", target=name)
    if isinstance(exc, httpx.TransportError):
        return delivery_error(None, f"{what}: {one_line(exc)}", target=name)
    if isinstance(exc, exceptions.LoginRequiredError):
        return AuthError(f"{what}: not logged in", target=name)
    # A model error on an answer, or anything else the SDK raised: retrying is safe
    # (the next attempt looks the record up first) and the retry policy bounds it.
    return internal_error(what, exc, target=name)


def auth_rejected(exc: BaseException) -> bool:
    """The server refused our tokens (not our password): worth one fresh login."""
    from atproto import exceptions

    if isinstance(exc, exceptions.LoginRequiredError):
        return True
    if not isinstance(exc, exceptions.RequestErrorBase) or exc.response is None:
        return False
    status = exc.response.status_code
    error = xrpc_error(exc)[0]
    return status == 401 or (status == 400 and error in {"ExpiredToken", "InvalidToken"})


def xrpc_error(exc: Any) -> tuple[str, str]:
    """``(error, message)`` of an XRPC error answer."""
    content = getattr(getattr(exc, "response", None), "content", None)
    error = getattr(content, "error", None)
    message = getattr(content, "message", None)
    if error is None and isinstance(content, dict):
        error, message = content.get("error"), content.get("message")
    if error is None:
        status = getattr(getattr(exc, "response", None), "status_code", "")
        return (f"HTTP {status}".strip(), "")
    return (str(error), one_line(message or ""))


def one_line(exc: object) -> str:
    """``exc`` (or any value) as one line of at most 300 characters, naming its type."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, BaseException) and str(exc) and type(exc).__name__ not in text:
        text = f"{type(exc).__name__}: {text}"
    return " ".join(text.split())[:300]
