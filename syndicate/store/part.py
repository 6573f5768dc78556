"""What every domain part of ``Store`` works with: the backend and the clock.

``Store`` (``syndicate.store``) is assembled from one part per domain
(``FeedsPart``, ``ArticlesPart``, …), each a class over this base holding
its domain's SQL; work that spans two domains in one transaction (an
article recorded with its outbox rows) calls the other domain's functions
of a ``Connection`` (``outbox.enqueue``, ``operator.hold``).
"""

from __future__ import annotations

from collections.abc import Callable

from syndicate.store.backend import Backend


class StorePart:
    """The backend the SQL runs on, and the clock (Unix seconds) that dates what is written."""

    backend: Backend
    _clock: Callable[[], float]
