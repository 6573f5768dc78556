"""The UTC offset a feed wrote a date in, read from the date as written.  Pure.

feedparser (and any parser that gives aware UTC) keeps the moment but loses
the zone: "Tue, 24 Nov 2026 00:30:00 +0200" becomes 23 November 22:30 UTC,
and a post dated by that UTC day is dated the day before the one the source
printed.  ``utc_offset`` reads the offset back from the string the feed gave
(RFC 822 / RFC 2822 and W3C-DTF / ISO 8601 forms), so the day can be shown
as the source saw it.
"""

from __future__ import annotations

import re

__all__ = ["MAX_OFFSET", "utc_offset"]

MAX_OFFSET = 14 * 60  # minutes: no zone is further from UTC (UTC+14, Kiribati; UTC-12)

# RFC 822's named zones (RFC 2822 section 4.3); the military letters are ambiguous and ignored.
_NAMED = {"UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "EST": -300, "EDT": -240, "CST": -360, "CDT": -300,
          "MST": -420, "MDT": -360, "PST": -480, "PDT": -420}
# A time of day, then (after optional seconds and fractions) the zone: "+02:00", "+0200", "+02", "Z", "GMT".
_ZONE = re.compile(
    r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*"
    r"(?:(?P<sign>[+-])(?P<hh>\d{2}):?(?P<mm>\d{2})?|(?P<name>[A-Za-z]{1,3}))?\s*(?:\([^)]*\))?\s*$"
)


def utc_offset(raw: str | None) -> int | None:
    """Minutes east of UTC the date ``raw`` was written in; None when it gives no time of day or
    no zone (a day alone, a time taken as UTC), or an offset no zone has."""
    if not raw:
        return None
    m = _ZONE.search(raw.strip())
    if m is None:
        return None
    if m.group("sign"):
        minutes = int(m.group("hh")) * 60 + int(m.group("mm") or 0)
        offset = -minutes if m.group("sign") == "-" else minutes
    elif m.group("name"):
        found = _NAMED.get(m.group("name").upper())
        if found is None:
            return None
        offset = found
    else:
        return None
    return offset if abs(offset) <= MAX_OFFSET else None
