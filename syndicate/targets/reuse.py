"""What a retried delivery may reuse from its first attempt.

``ReuseCache`` is the small bounded memory that lets a retry reuse what an
earlier attempt already had — the thumbnail blob it uploaded, the
``og:image`` of the page it read — instead of fetching and uploading again.
Entries may expire (an uploaded blob that no record references yet may be
collected by the PDS after a while).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")

class ReuseCache(Generic[V]):
    """At most ``size`` entries, least recently used dropped first, each kept ``ttl`` seconds
    (None: until dropped); ``clock`` is injectable for tests."""

    def __init__(self, size: int, ttl: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_at, value = entry
        if self.ttl is not None and self._clock() - stored_at >= self.ttl:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: V) -> None:
        self._entries[key] = (self._clock(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
