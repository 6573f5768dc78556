"""Where a cycle's CPU goes: wrap named callables and add up the CPU time of the calling thread."""

from __future__ import annotations

import functools
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Phases:
    """``wrap(owner, attr, label)`` replaces ``owner.attr`` by a timed wrapper until ``restore()``.

    Times are inclusive; wrap only callables that do not call each other.
    """

    def __init__(self) -> None:
        self.cpu: defaultdict[str, float] = defaultdict(float)
        self.calls: defaultdict[str, int] = defaultdict(int)
        self._saved: list[tuple[Any, str, Any, bool]] = []
        self._lock = threading.Lock()  # wrapped callables may run in several threads

    def wrap(self, owner: Any, attr: str, label: str | None = None) -> None:
        label = label or attr
        original = getattr(owner, attr)
        had_own = attr in getattr(owner, "__dict__", {})

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.thread_time() - t0
                with self._lock:
                    self.cpu[label] += spent
                    self.calls[label] += 1

        self._saved.append((owner, attr, original, had_own))
        setattr(owner, attr, timed)

    def restore(self) -> None:
        for owner, attr, original, had_own in reversed(self._saved):
            if had_own:
                setattr(owner, attr, original)
            else:
                delattr(owner, attr)
        self._saved.clear()

    def summary(self, total: float) -> str:
        parts = [f"{label} {cpu * 1000:.0f} ms ({cpu / total:.0%})" for label, cpu in
                 sorted(self.cpu.items(), key=lambda kv: -kv[1]) if total > 0]
        rest = total - sum(self.cpu.values())
        parts.append(f"other {rest * 1000:.0f} ms ({rest / total:.0%})")
        return ", ".join(parts)


@contextmanager
def counting(owner: Any, attr: str) -> Iterator[list[int]]:
    """Count calls of ``owner.attr`` while inside the block (``box[0]``)."""
    box = [0]
    original = getattr(owner, attr)

    @functools.wraps(original)
    def counted(*args: Any, **kwargs: Any) -> Any:
        box[0] += 1
        return original(*args, **kwargs)

    setattr(owner, attr, counted)
    try:
        yield box
    finally:
        setattr(owner, attr, original)
