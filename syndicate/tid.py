"""AT Protocol TIDs: the record keys of Bluesky posts, and our outbox keys.

A TID is 13 characters of base32-sortable text encoding a 64-bit integer:
a zero top bit, 53 bits of microseconds since the Unix epoch, and a 10-bit
clock id.  Every outbox row gets one when it is created and keeps it for
life, so every retry of a delivery sends the same key: Mastodon's
``Idempotency-Key`` and Bluesky's record key (``rkey``).
"""

from __future__ import annotations

import re

_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


def tid_for(micros: int, clock_id: int = 0) -> str:
    """The TID for a microsecond timestamp and a clock id (0–1023)."""
    if not 0 <= micros < 1 << 53:
        raise ValueError(f"timestamp out of range for a TID: {micros}")
    value = (micros << 10) | (clock_id & 0x3FF)
    chars = []
    for _ in range(13):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_tid(text: str) -> bool:
    """True when ``text`` is a syntactically valid TID."""
    return bool(_TID.match(text))
