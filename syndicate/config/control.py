"""The editorial controls' sections of feeds.yaml: ``filters:`` (a feed's or a target's), a
target's ``pacing:``, and who may reply to a Bluesky post (``replies:``).  Each is checked
when the file is read (a bad pattern, quiet hours or time zone is one line naming the key)
and made into the plain value the pure modules take (``syndicate.filters.Filter``,
``syndicate.pacing.Pacing``) by ``rules()``."""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import Annotated

from syndicate.config.check import After, Bounds, Plain, Section
from syndicate.filters import FIELDS, Criteria, Filter, compile_pattern
from syndicate.filters import Field as TextField
from syndicate.pacing import Pacing, parse_quiet_hours
from syndicate.value import field

__all__ = ["REPLY_RULES", "FilterConfig", "FilterCriteria", "PacingConfig", "Replies"]


def _pattern(value: str) -> str:
    compile_pattern(value)  # a ValueError naming the pattern: the loader's one line
    return value


Pattern = Annotated[str, After(_pattern)]


class FilterCriteria(Section):
    """One list of an ``include:`` or ``exclude:``: any one criterion matching is a match."""

    categories: list[str] = field(default_factory=list)  # whole, ignoring case
    authors: list[str] = field(default_factory=list)  # whole, ignoring case
    keywords: list[str] = field(default_factory=list)  # whole words or phrases, ignoring case
    patterns: list[Pattern] = field(default_factory=list)  # regular expressions, as written
    fields: list[TextField] = field(default_factory=lambda: list(FIELDS))  # where keywords/patterns look

    def rules(self) -> Criteria:
        return Criteria(tuple(self.categories), tuple(self.authors), tuple(self.keywords),
                        tuple(self.patterns), tuple(self.fields))


class FilterConfig(Section):
    """What a feed or a target posts: everything but ``exclude``'s matches, and with ``include``
    only what matches it (see ``syndicate.filters``)."""

    include: FilterCriteria | None = None
    exclude: FilterCriteria = field(default_factory=FilterCriteria)

    def rules(self, where: str = "") -> Filter:
        return Filter(self.include.rules() if self.include is not None else None, self.exclude.rules(),
                      where)


def _quiet(value: str | None) -> str | None:
    if value is not None:
        parse_quiet_hours(value)
    return value


def _time_zone(name: str) -> tzinfo:
    """The zone an IANA name names ("UTC", every target's default, without reading the zone files);
    ``ValueError`` for a name that is none."""
    if name == "UTC":
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # (it loads sysconfig to find the zone files)

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones, "America"
        raise ValueError(f"unknown time zone {name!r} (expected an IANA name such as "
                         f"Europe/London)") from None


def _zone(value: str) -> str:
    _time_zone(value)
    return value


class PacingConfig(Section):
    """How fast a target posts (see ``syndicate.pacing``); every key optional."""

    max_per_hour: Annotated[int, Bounds(ge=1, le=3600)] | None = None
    quiet_hours: Annotated[str | None, After(_quiet)] = None  # "22:00-07:00", local time in ``time_zone``
    time_zone: Annotated[str, After(_zone)] = "UTC"  # an IANA name: "Europe/London"
    quiet_release: Annotated[int, Bounds(ge=1)] = 4  # posts in the hour after quiet hours end

    def rules(self) -> Pacing:
        quiet = parse_quiet_hours(self.quiet_hours) if self.quiet_hours else None
        return Pacing(self.max_per_hour, quiet, _time_zone(self.time_zone),
                      self.quiet_release if quiet is not None else None)


REPLY_RULES = ("mentioned", "followers", "following")  # and list URIs: at://did/app.bsky.graph.list/rkey


def _replies(value: object) -> str | list[str]:
    """``everybody`` (no threadgate), ``nobody`` (a threadgate allowing none), or a list of who
    may: ``mentioned``, ``followers``, ``following`` and lists by their ``at://`` URI."""
    if value in ("everybody", "nobody"):
        return str(value)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError("expected everybody, nobody, or a list of mentioned, followers, following "
                         "and list URIs (at://…/app.bsky.graph.list/…)")
    for item in value:
        if item not in REPLY_RULES and not (isinstance(item, str) and item.startswith("at://")
                                            and "/app.bsky.graph.list/" in item):
            raise ValueError(f"unknown reply rule {item!r} (expected mentioned, followers, following "
                             f"or a list's at://…/app.bsky.graph.list/… URI)")
    return list(dict.fromkeys(value))


Replies = Annotated[str | list[str], Plain(_replies)]
