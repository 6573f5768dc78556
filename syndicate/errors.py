"""One exception tree for the whole package.

::

    SyndicateError                      anything syndicate raises on purpose
    ├── ConfigError                     feeds.yaml or the environment is wrong
    ├── FeedError                       one feed failed; the other feeds go on
    │   ├── FetchError                  network, HTTP status, size cap, timeout
    │   │   └── FeedRateLimited         429/503 with Retry-After (retry_after)
    │   └── ParseError                  bytes that are not a usable feed
    ├── StoreError                      the state database is unreadable
    ├── StateLocked                     another syndicate holds the state's lock
    └── DeliveryError                   one post to one target failed
        ├── TransientError              try again later (5xx, timeouts, resets)
        │   └── RateLimited             wait until retry_at, then try again
        └── PermanentError              never retried (400/404/422): the row fails
            ├── AuthError               credentials rejected (401/403): the target pauses
            └── TooLong                 the server counts the post as too long (limit):
                                        re-composed once, more strictly, then retried

SDK errors (Mastodon.py, atproto, httpx) are translated into these at the
adapter boundary, so nothing outside ``syndicate/targets`` and ``fetch.py``
imports an SDK exception.  Every message is one line that names the file,
feed, article or target concerned.
"""

from __future__ import annotations

from datetime import datetime


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


class FeedRateLimited(FetchError):
    """The feed server asked us to come back later (429/503 + Retry-After)."""

    def __init__(self, feed: str, reason: str, retry_after: float | None) -> None:
        super().__init__(feed, reason)
        self.retry_after = retry_after


class ParseError(FeedError):
    """The bytes fetched are not a usable feed."""


class StoreError(SyndicateError):
    """The state database cannot be opened or read."""


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
