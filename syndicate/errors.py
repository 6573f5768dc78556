"""One exception tree for the whole package.

::

    SyndicateError                      anything syndicate raises on purpose
    ├── ConfigError                     feeds.yaml or the environment is wrong
    ├── FeedError                       one feed failed; the other feeds go on
    │   ├── FetchError                  network, HTTP status, size cap, timeout
    │   │   └── FeedRateLimited         429/503 with Retry-After (retry_after)
    │   └── ParseError                  bytes that are not a usable feed
    ├── StoreError                      the state database is unreadable
    ├── ClaimLost                       a poll's claim passed to another worker: not recorded
    ├── StateLocked                     another syndicate holds the state's lock
    └── DeliveryError                   one post to one target failed
        ├── TransientError              try again later (5xx, timeouts, resets)
        │   └── RateLimited             wait until retry_at, then try again
        └── PermanentError              never retried (400/404/422): the row fails
            ├── AuthError               credentials rejected (401/403): the target pauses
            └── TooLong                 the server counts the post as too long (limit):
                                        re-composed once, more strictly, then retried

SDK errors (Mastodon.py, atproto, httpx) are translated into these at the
adapter boundary, so nothing outside ``syndicate/targets`` and ``syndicate/fetch``
imports an SDK exception.  Every message is one line that names the file,
feed, article or target concerned.

What a target's answer means is one table for every platform
(``error_class``, ``delivery_error``)::

    no answer (refused, dropped, timed out)     TransientError
    401, 403                                    AuthError
    408 Request Timeout, 425 Too Early          TransientError
    409 Conflict                                TransientError
    429                                         RateLimited
    any other 4xx                               PermanentError
    5xx                                         TransientError
    a 1xx-3xx where an answer was expected      TransientError

409 is what a server says while a request with the same idempotency key is
still being processed (Mastodon's ``Idempotency-Key``; atproto's SDK even
files it with network errors): the next attempt gets the first one's post.
An exception nobody expected on a target's path (an SDK that cannot read an
answer, a bug) is ``internal_error``: transient, so the row is kept and
retried within the policy's bounds — the deliverer treats one from anywhere
else the same way.  An adapter only refines the table where its platform's
words say more than the status (Mastodon's "too long" is ``TooLong``;
Bluesky's ``ExpiredToken`` at 400 is ``AuthError``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType


class SyndicateError(Exception):
    """Base of every error syndicate raises on purpose."""


class ConfigError(SyndicateError):
    """The configuration is invalid.

    ``str(err)`` is one line: ``FILE:LINE: key.path: what was expected``.
    """

    def __init__(self, file: str, path: str, reason: str, line: int | None = None) -> None:
        self.file = file
        self.path = path
        self.reason = reason
        self.line = line
        self.problems: list[ConfigError] = [self]  # every problem found, this one first
        where = f"{file}:{line}" if line else file
        key = f" {path}:" if path else ""
        super().__init__(f"{where}:{key} {reason}")


class FeedError(SyndicateError):
    """One feed could not be read."""

    def __init__(self, feed: str, reason: str) -> None:
        self.feed = feed
        self.reason = reason
        super().__init__(f"feed {feed}: {reason}")


class FetchError(FeedError):
    """The feed could not be fetched (network, status, size, timeout)."""

    status: int | None = None  # the HTTP status that failed it, when an answer did (a page's 404)


class FeedRateLimited(FetchError):
    """The feed server asked us to come back later (429/503 + Retry-After)."""

    def __init__(self, feed: str, reason: str, retry_after: float | None) -> None:
        super().__init__(feed, reason)
        self.retry_after = retry_after


class ParseError(FeedError):
    """The bytes fetched are not a usable feed."""


class StoreError(SyndicateError):
    """The state database cannot be opened or read."""


class ClaimLost(SyndicateError):
    """A poll's record was refused, nothing of it written: its claim of the feed ran out and
    another worker has claimed the feed since (``store.feeds``).  The poll is not this worker's
    any more; the caller leaves the feed to the other worker."""

    def __init__(self, feed: str, owner: str) -> None:
        self.feed = feed
        self.owner = owner
        super().__init__(f"feed {feed}: the poll of {owner} is not recorded: its claim ran out "
                         "and another worker has claimed the feed since")


class StateLocked(SyndicateError):
    """Another process holds the state database's lock (see ``syndicate.lock``)."""

    def __init__(self, state: str, holder: str) -> None:
        self.state = state
        self.holder = holder  # "pid 12 on host web-1, since 2025-10-13T09:00:00Z"
        super().__init__(f"state {state} is in use by another syndicate ({holder}); "
                         "stop it first, or give this one another state")


class DeliveryError(SyndicateError):
    """One post to one target failed.

    ``target`` and ``article`` may be filled in by the outbox after the
    adapter raised, so the message always names both.
    """

    def __init__(self, reason: str, *, target: str = "", article: str = "") -> None:
        self.reason = reason
        self.target = target
        self.article = article
        super().__init__(reason)

    def __str__(self) -> str:
        parts = []
        if self.target:
            parts.append(f"target {self.target}")
        if self.article:
            parts.append(f"article {self.article}")
        prefix = ", ".join(parts)
        return f"{prefix}: {self.reason}" if prefix else self.reason


class TransientError(DeliveryError):
    """Worth trying again: 5xx, timeouts, dropped connections."""


class RateLimited(TransientError):
    """The target's rate limit is spent; ``retry_at`` says when it resets."""

    def __init__(
        self, reason: str, *, retry_at: datetime | None = None, target: str = "", article: str = ""
    ) -> None:
        super().__init__(reason, target=target, article=article)
        self.retry_at = retry_at


class PermanentError(DeliveryError):
    """Trying again cannot help: the post is refused as it is."""


class AuthError(PermanentError):
    """The target rejected our credentials: the target pauses, its rows wait (see ``credentials``)."""


class TooLong(PermanentError):
    """The server refused the post as too long; ``limit`` is its limit, when it said.

    Servers count differently (Pleroma, Akkoma, GoToSocial and others are
    stricter than Mastodon's 23 characters per URL), so this is not the end
    of the post: the outbox re-composes it once at a stricter measure.
    """

    def __init__(self, reason: str, *, limit: int | None = None, target: str = "", article: str = "") -> None:
        super().__init__(reason, target=target, article=article)
        self.limit = limit


#: The statuses that mean something other than "a 4xx is permanent, anything else transient".
STATUS_ERRORS: Mapping[int, type[DeliveryError]] = MappingProxyType({
    401: AuthError,
    403: AuthError,
    408: TransientError,
    409: TransientError,
    425: TransientError,
    429: RateLimited,
})


def error_class(status: int | None) -> type[DeliveryError]:
    """What an answer with HTTP ``status`` to a target's request means (None: no answer at all)."""
    if status is None:
        return TransientError
    found = STATUS_ERRORS.get(status)
    if found is not None:
        return found
    return PermanentError if 400 <= status < 500 else TransientError


def delivery_error(status: int | None, reason: str, *, retry_at: datetime | None = None,
                   target: str = "") -> DeliveryError:
    """The error for an answer with ``status`` (see ``error_class``); ``retry_at`` for a 429."""
    kind = error_class(status)
    if issubclass(kind, RateLimited):
        return kind(reason, retry_at=retry_at, target=target)
    return kind(reason, target=target)


def internal_error(where: str, exc: BaseException, *, target: str = "") -> TransientError:
    """An exception nobody expected on a target's path, ``where`` it happened: kept and retried."""
    detail = " ".join(str(exc).split())[:300]
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return TransientError(f"{where}: internal error: {what}", target=target)
