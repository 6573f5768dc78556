"""The kinds of value feeds.yaml's keys hold, and the base of every section's model.

A duration (``90``, ``"15m"``, ``"1h"``), a name, an http(s) URL, a post
template (checked when the file is read), a list of ports; ``StrictModel``
refuses unknown keys (a misspelt key is an error, not a silent default) and
is frozen.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator

from syndicate.template import validate_template

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> float:
    """``90``, ``"90s"``, ``"15m"``, ``"1h"`` → seconds."""
    if isinstance(value, bool):
        raise ValueError('expected a duration such as 90, "15m" or "1h"')
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError('expected a duration such as 90, "15m" or "1h"')
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds <= 0:
        raise ValueError("expected a duration greater than zero")
    return seconds


def parse_wait(value: Any) -> float:
    """A duration that may be zero (``0``: no wait at all), else as ``parse_duration``."""
    if not isinstance(value, bool) and (value == 0 or str(value).strip() in ("0", "0s", "0m")):
        return 0.0
    return parse_duration(value)


Duration = Annotated[float, BeforeValidator(parse_duration)]
Wait = Annotated[float, BeforeValidator(parse_wait)]  # a duration, or 0
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
HttpUrl = Annotated[str, Field(pattern=r"^https?://[^\s/$.?#][^\s]*$")]


class StrictModel(BaseModel):
    """A section of feeds.yaml: unknown keys refused, frozen once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_template(template: str | None) -> str | None:
    if template is not None:
        validate_template(template)
    return template


Template = Annotated[str, AfterValidator(_check_template)]


def _ports(value: Any) -> list[int] | Literal["any"]:
    if value == "any":
        return "any"
    if (isinstance(value, list) and value
            and all(isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in value)):
        return value
    raise ValueError('expected a list of port numbers such as [80, 443], or "any"')


Ports = Annotated[list[int] | Literal["any"], PlainValidator(_ports)]
