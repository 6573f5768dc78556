"""Patterns of the ``regex`` module, compiled (and ``regex`` imported) when first used.

``regex`` (Unicode properties, ``\\X``, match timeouts) costs ≈15 ms to import
and its patterns more to compile; a module that only needs them to measure or
draft a post names them as strings and asks for them here, so importing it
(the config's ``hashtags``, a platform's module when its adapter is built)
costs none of that::

    words = compiled(r"[^\\p{L}\\p{N}]+").split(text)

Each pattern is compiled once per process (``functools.cache``).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import regex

__all__ = ["compiled"]


@cache
def compiled(expression: str) -> regex.Pattern[str]:
    """``expression`` compiled by ``regex`` (flags inline: ``(?i)…``)."""
    import regex

    return regex.compile(expression)
