"""Pacing: when a target's next post may go out, and when each waiting one is planned.

Pure: a ``Pacing`` (made by ``config.PacingConfig.rules()``) and the times
of the target's recent posts give the earliest moment for one more post
(``next_slot``), and the planned time of each post in its queue
(``schedule``).  Three rules, each optional:

- ``max_per_hour``: at most this many posts in any 60 minutes; the ones
  beyond it wait, oldest first, never dropped;
- ``quiet_hours``: ``(start, end)`` local times in ``zone`` during which
  nothing goes out (``22:00-07:00`` spans midnight); a post due then waits
  for the end;
- ``quiet_release``: at most this many posts in the hour after quiet hours
  end, so a night's backlog is not posted at once at 07:00.

A post is planned at the later of its own due time (its retry time, or any
other not-before its row has) and the pacing's slot: pacing only ever
delays.  The platforms' own rate limits still apply beneath it (the
adapters' ``rate_budget``).  Times are Unix seconds; ``zone`` makes the
quiet hours follow the local clock through daylight-saving changes.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta, tzinfo

from syndicate.value import valueclass

__all__ = ["HOUR", "Pacing", "Slot", "parse_quiet_hours"]

HOUR = 3600.0


def parse_quiet_hours(value: str) -> tuple[time, time]:
    """``"22:00-07:00"`` → (22:00, 07:00); ``ValueError`` for anything else."""
    try:
        start, end = (time.fromisoformat(part.strip()) for part in value.split("-"))
    except ValueError:
        raise ValueError(f'expected quiet hours as "HH:MM-HH:MM", such as "22:00-07:00", not {value!r}') \
            from None
    if start == end:
        raise ValueError(f"quiet hours {value!r} start and end at the same time")
    return start, end


@valueclass
class Slot:
    """When a post is planned, and which rule put it there (None: it is due on its own)."""

    at: float
    why: str | None = None


@valueclass
class Pacing:
    max_per_hour: int | None = None
    quiet_hours: tuple[time, time] | None = None
    zone: tzinfo = UTC  # the config gives a ZoneInfo (Europe/London); this default reads no zone file
    quiet_release: int | None = None  # posts in the hour after quiet hours end (None: no bound)

    @property
    def active(self) -> bool:
        return self.max_per_hour is not None or self.quiet_hours is not None

    def describe(self) -> str:
        """``max 6 per hour; quiet 22:00-07:00 Europe/London, then 4 in the first hour``."""
        parts = []
        if self.max_per_hour is not None:
            parts.append(f"max {self.max_per_hour} per hour")
        if self.quiet_hours is not None:
            start, end = self.quiet_hours
            quiet = f"quiet {start:%H:%M}-{end:%H:%M} {self.zone}"  # a ZoneInfo shows its key
            if self.quiet_release is not None:
                quiet += f", then {self.quiet_release} in the first hour"
            parts.append(quiet)
        return "; ".join(parts) or "none"

    # -- the quiet hours, on the local clock --

    def _at(self, day: datetime, clock: time) -> float:
        return datetime.combine(day.date(), clock, tzinfo=self.zone).timestamp()

    def quiet_end(self, t: float) -> float | None:
        """If ``t`` is within quiet hours, when they end; else None."""
        if self.quiet_hours is None:
            return None
        start, end = self.quiet_hours
        local = datetime.fromtimestamp(t, self.zone)
        for day in (local - timedelta(days=1), local):  # a window may have begun yesterday
            begins = self._at(day, start)
            ends = self._at(day + timedelta(days=1) if end <= start else day, end)
            if begins <= t < ends:
                return ends
        return None

    def last_quiet_end(self, t: float) -> float | None:
        """The end of the latest quiet hours at or before ``t``, if within the hour before it."""
        if self.quiet_hours is None:
            return None
        local = datetime.fromtimestamp(t, self.zone)
        for day in (local, local - timedelta(days=1)):
            ends = self._at(day, self.quiet_hours[1])
            if ends <= t:
                return ends if t - ends < HOUR else None
        return None  # pragma: no cover - yesterday's end is always before t

    # -- the slots --

    def next_slot(self, t: float, posted: Sequence[float]) -> Slot:
        """The earliest moment at or after ``t`` for one more post, given the target's posts
        at ``posted`` (sorted, none after ``t``), and the rule that moved it there."""
        why: str | None = None
        for _ in range(1000):  # each rule only moves t forward; a few rounds settle it
            moved = False
            ends = self.quiet_end(t)
            if ends is not None:
                t, why, moved = ends, "quiet hours", True
            if self.max_per_hour is not None:
                recent = posted[bisect_right(posted, t - HOUR):bisect_right(posted, t)]
                if len(recent) >= self.max_per_hour:
                    t, why, moved = recent[len(recent) - self.max_per_hour] + HOUR, "max per hour", True
            if self.quiet_release is not None:
                since = self.last_quiet_end(t)
                if since is not None:
                    after = bisect_right(posted, t) - bisect_left(posted, since)
                    if after >= self.quiet_release:
                        t, why, moved = since + HOUR, "after quiet hours", True
            if not moved:
                break
        return Slot(t, why)

    def schedule(self, due: Sequence[float], posted: Sequence[float], now: float) -> list[Slot]:
        """The planned slot of each queued post, in queue order (``due``: each one's own due
        time), after the posts at ``posted``: in order, none dropped, none before ``now``."""
        history = sorted(p for p in posted if p <= now)
        slots: list[Slot] = []
        floor = now
        for own in due:
            start = max(floor, own)
            slot = self.next_slot(start, history) if self.active else Slot(start)
            if slot.why is None and slot.at > own and slots:  # in line behind posts pacing delayed
                slot = Slot(slot.at, slots[-1].why)
            slots.append(slot)
            history.append(slot.at)
            floor = slot.at
        return slots
