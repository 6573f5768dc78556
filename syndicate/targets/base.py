"""What a platform is to the rest of syndicate.

``Target`` is the protocol an adapter implements for the outbox; ``Platform``
is the value a platform's module declares (``PLATFORM = Platform(...)``) and
the registry (``syndicate.targets.PLATFORMS``) holds: its config model, its
limits as data, how to build its adapter and how to turn a composed text into
its ``PostDraft``.  ``Services`` is what syndicate lends an adapter.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from importlib import import_module
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, runtime_checkable

from syndicate.config import Secret, TargetBase
from syndicate.models import Article, Attempted, PostDraft, Posted, StoredSession, TargetLimits
from syndicate.value import valueclass

if TYPE_CHECKING:
    from syndicate.compose import Composed

__all__ = ["HeldSession", "Platform", "Services", "SessionLocks", "SessionStore", "SharedValues", "Target",
           "adapter_in"]

MAX_RESET_WAIT = 6 * 3600.0  # no rate-limit reset is believed further off (delivery.max_requeue)


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

    def rate_budget(self) -> tuple[int, datetime | None] | None:
        """``(remaining, reset)``: how many requests the server still allows before ``reset``
        (when a request may go again), from its last answer's rate-limit headers; None when it
        has said nothing.  The outbox paces a backlog by it."""
        ...

    def verify(self) -> str:
        """Check the credentials (and limits) against the server; one line saying who we are.

        Raises ``AuthError`` when they are refused.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class SessionStore(Protocol):
    """Where a target's session lives between runs (the state database)."""

    def load_session(self, target: str) -> StoredSession | None: ...

    def save_session(self, target: str, session: StoredSession) -> None: ...


class HeldSession(Protocol):
    """A target's session while no other worker may refresh it: as stored now, and its saving."""

    @property
    def stored(self) -> StoredSession | None: ...

    @property
    def save(self) -> Callable[[StoredSession], None]: ...


@runtime_checkable
class SessionLocks(Protocol):
    """A session store several workers share: a session is refreshed holding its lock, and read
    again once held (``store.sessions``), so two workers never spend one refresh token."""

    def locked_session(self, target: str) -> AbstractContextManager[HeldSession]: ...


class SharedValues(Protocol):
    """Small named values every worker on the state reads (the state database's ``meta``): what
    one worker asked a server once, the others take from here."""

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...


@valueclass
class Services:
    """What syndicate lends an adapter; each platform takes what it uses.

    ``fetch_image(url) -> (bytes, mime type)`` and ``page_image(article url)
    -> og:image or None`` go through the content-guarded fetcher;
    ``session_store`` keeps a login between runs; ``shared`` keeps what one
    worker asked a server for every worker (a Mastodon instance's limits);
    ``max_reset_wait`` bounds how far off a rate-limit reset is believed.
    """

    fetch_image: Callable[[str], tuple[bytes, str]] | None = None
    page_image: Callable[[str], str | None] | None = None
    session_store: SessionStore | None = None
    shared: SharedValues | None = None
    clock: Callable[[], float] = time.time
    max_reset_wait: float = MAX_RESET_WAIT


C = TypeVar("C", bound=TargetBase)


@valueclass
class Platform(Generic[C]):
    """One platform, as its module declares it.

    * ``kind``: what ``kind:`` says in feeds.yaml; ``config``: its model there.
    * ``limits``: the platform's own bounds on a post's text, as data.
    * ``offline_limits(cfg)``: those with the config's overrides, asked of
      nobody (``preview`` and the editors' page without credentials).
    * ``build(name, cfg, secret, services)``: its adapter (the SDK is imported
      only when the adapter first talks to the server).
    * ``draft(article, composed, cfg)``: the ``PostDraft`` of a composed text,
      with what only this platform adds (facets, link cards, thumbnails).
    * ``reserve(article, cfg)``: (graphemes, bytes) of the text's budget the
      draft takes for itself (a content warning counted with the text), or None.
    * ``link_text(url, cfg)``: how the article's link is shown in the text, when
      the platform shows it otherwise than as the URL (Bluesky: a short display
      text under a link facet); None: the URL itself.
    """

    kind: str
    config: type[C]
    limits: TargetLimits
    offline_limits: Callable[[C], TargetLimits]
    build: Callable[[str, C, Secret, Services], Target]
    draft: Callable[[Article, Composed, C], PostDraft]
    reserve: Callable[[Article, C], tuple[int, int]] | None = None
    link_text: Callable[[str, C], str] | None = None



def adapter_in(module: str) -> Callable[[str, C, Secret, Services], Target]:
    """A ``Platform.build`` that imports ``module`` (the platform's adapter, with its own
    imports) when it first makes an adapter, and calls its ``build``: the post module that
    declares ``PLATFORM`` names its adapter's module, which imports it, and drafting
    (``preview``, the editors' page) loads no adapter."""

    def build(name: str, cfg: C, secret: Secret, services: Services) -> Target:
        made: Target = import_module(module).build(name, cfg, secret, services)
        return made

    build.__qualname__ = build.__name__ = f"build ({module})"
    return build
