"""Delivery adapters, one module per platform, behind one small protocol.

An adapter turns a ``PostDraft`` into a remote post and translates its SDK's
errors into ``syndicate.errors`` (``TransientError``, ``RateLimited``,
``PermanentError``, ``AuthError``, ``TooLong``).  It never retries or sleeps by itself:
the outbox and ``syndicate.retry`` decide when to try again.  SDKs are
imported inside the adapter modules only, so ``syndicate --help`` stays fast.
"""

from __future__ import annotations

from typing import Protocol

from syndicate.models import Attempted, PostDraft, Posted, TargetLimits


class Target(Protocol):
    """What the outbox needs from a platform."""

    name: str  # the target's name in feeds.yaml

    def limits(self) -> TargetLimits:
        """The platform's post limits (may ask the server once and cache)."""
        ...

    def lookup(self, attempted: Attempted) -> Posted | None:
        """The post an earlier request of the row made, if any — never another post.

        Asked only when such a request may have left (``attempted.since``).
        """
        ...

    def deliver(self, draft: PostDraft, key: str) -> Posted:
        """Post ``draft``; ``key`` is deterministic per outbox row (idempotency)."""
        ...

    def verify(self) -> str:
        """Check the credentials (and limits) against the server; one line saying who we are.

        Raises ``AuthError`` when they are refused.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...
