"""The kinds of value feeds.yaml's keys hold.

A duration (``90``, ``"15m"``, ``"1h"``), a wait (a duration, or 0), a name, an http(s) URL,
a post template (checked when the file is read), a list of ports: each an ``Annotated`` type
that ``syndicate.config.check`` knows how to check.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from syndicate.config.check import After, Before, Match, Plain

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any, *, allow_zero: bool = False) -> float:
    """``90``, ``"90s"``, ``"15m"``, ``"1h"`` → seconds; ``allow_zero``: zero, in any unit, too."""
    if isinstance(value, bool):
        raise ValueError('expected a duration such as 90, "15m" or "1h"')
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError('expected a duration such as 90, "15m" or "1h"')
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError("expected a duration of zero or more" if allow_zero
                         else "expected a duration greater than zero")
    return seconds


def parse_wait(value: Any) -> float:
    """A duration that may be zero (``0``, ``"0s"``, ``"0h"``: no wait at all), else as ``parse_duration``."""
    return parse_duration(value, allow_zero=True)


Duration = Annotated[float, Before(parse_duration)]
Wait = Annotated[float, Before(parse_wait)]  # a duration, or 0
Name = Annotated[str, Match(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
                            "expected a name of letters, digits, '.', '_' or '-'")]
HttpUrl = Annotated[str, Match(r"https?://[^\s/$.?#][^\s]*", "expected an http(s) URL")]


def _check_template(template: str | None) -> str | None:
    if template is not None:
        from syndicate.template import validate_template

        validate_template(template)
    return template


Template = Annotated[str, After(_check_template)]


def _ports(value: Any) -> list[int] | Literal["any"]:
    if value == "any":
        return "any"
    if (isinstance(value, list) and value
            and all(isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in value)):
        return value
    raise ValueError('expected a list of port numbers such as [80, 443], or "any"')


Ports = Annotated[list[int] | Literal["any"], Plain(_ports)]
