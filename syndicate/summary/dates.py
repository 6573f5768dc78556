"""Dates as article texts write them: "13 October 2022", "October 13, 2022", "2022-10-13" …

``parse_date`` reads the first one in a text; ``DATE_NC`` is the same
pattern without named groups, for the credit patterns that embed it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4,
    "april": 4, "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8,
    "sep": 9, "sept": 9, "september": 9, "oct": 10, "october": 10, "nov": 11,
    "november": 11, "dec": 12, "december": 12,
}
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?"
          r"|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_WEEKDAY = r"(?:(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?\.?,?\s+)?"
_DATE_RE = (
    _WEEKDAY
    + r"(?:(?P<d1>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<m1>" + _MONTH + r"),?\s+(?P<y1>\d{4})"
    + r"|(?P<m2>" + _MONTH + r")\s+(?P<d2>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y2>\d{4})"
    + r"|(?P<y3>\d{4})-(?P<m3>\d{1,2})-(?P<d3>\d{1,2}))(?!\d)"
)
_DATE = re.compile(r"\b" + _DATE_RE, re.I)
DATE_NC = re.sub(r"\(\?P<\w+>", "(?:", _DATE_RE)  # for use inside other patterns


def _date_from(m: re.Match[str]) -> datetime | None:
    try:
        if m.group("y1"):
            day, month, year = int(m.group("d1")), _MONTHS[m.group("m1").lower().rstrip(".")], \
                int(m.group("y1"))
        elif m.group("y2"):
            day, month, year = int(m.group("d2")), _MONTHS[m.group("m2").lower().rstrip(".")], \
                int(m.group("y2"))
        else:
            day, month, year = int(m.group("d3")), int(m.group("m3")), int(m.group("y3"))
        if not 1900 <= year <= 2999:
            return None
        return datetime(year, month, day, tzinfo=UTC)
    except (ValueError, KeyError):
        return None


def parse_date(text: str) -> datetime | None:
    """The first date in ``text`` in a common English form, as aware UTC midnight.

    "13 October 2022", "13 Oct 2022", "13th of October 2022", "October 13, 2022",
    "Wednesday 19 October 2022" and "2022-10-13" are understood.
    """
    m = _DATE.search(text)
    return _date_from(m) if m else None

