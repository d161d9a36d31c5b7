"""Maintenance windows in time: when a recurring window occurs, and what a typed start means.

Pure: no I/O and no clock reads; the caller passes ``now``. Times are timezone-aware.

A *recurring* window (``maintenance:`` in the config file) says ``every: "sun 02:00"`` and
``for: 2h`` in a time zone. Its occurrences start at that wall-clock time in that zone, so
``sun 02:00`` in Europe/London is 02:00 GMT in winter and 02:00 BST in summer, and each
lasts ``for`` of elapsed time. On the day clocks go forward a wall-clock time that does not
exist (01:30 on the last Sunday of March in London) starts the window when the clocks say
02:30; on the day they go back, a time that happens twice starts it the first time.

A *one-off* window typed in chat starts at ``now``, at ``HH:MM`` (the next time the person's
clock shows it: today, or tomorrow when that time has passed) or at an ISO time
(``2026-03-29T02:00``, in the person's time zone unless it carries its own offset).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = {
    **{name: index for index, name in enumerate(WEEKDAYS)},
    **{
        name: index
        for index, name in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    },
}
_EVERY_DAY = ("daily", "day")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class WindowTimeError(ValueError):
    """A time, a schedule or a time zone that cannot be used; the message says why."""


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/London``); unknown names are an error."""
    if not name or name != name.strip() or ".." in name or name.startswith("/"):
        raise WindowTimeError(f"unknown time zone {name!r} (use an IANA name, e.g. Europe/London)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise WindowTimeError(
            f"unknown time zone {name!r} (use an IANA name, e.g. Europe/London)"
        ) from exc


def clock_time(text: str) -> time | None:
    """``02:00`` or ``2:00`` as a time of day; None for anything else."""
    match = _CLOCK.match(text.strip())
    if match is None:
        return None
    return time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True, slots=True)
class Recurrence:
    """``every``: on these weekdays (0 is Monday; all seven for ``daily``), at ``at``."""

    weekdays: frozenset[int]
    at: time

    @classmethod
    def parse(cls, text: str) -> Recurrence:
        """``sun 02:00``, ``sat,sun 23:30``, ``daily 04:15`` (day names in English, any case)."""
        words = text.strip().casefold().split()
        if len(words) != 2:
            raise WindowTimeError(
                f"{text!r} is not a schedule: use a day and a time, e.g. 'sun 02:00', "
                "'sat,sun 23:30' or 'daily 04:15'"
            )
        days, clock = words
        at = clock_time(clock)
        if at is None:
            raise WindowTimeError(f"{clock!r} is not a time of day (use HH:MM, e.g. 02:00)")
        if days in _EVERY_DAY:
            return cls(frozenset(range(7)), at)
        weekdays = set()
        for day in days.split(","):
            if day not in _DAY_NAMES:
                raise WindowTimeError(f"{day!r} is not a day (use {', '.join(WEEKDAYS)} or daily)")
            weekdays.add(_DAY_NAMES[day])
        return cls(frozenset(weekdays), at)

    def starts(self, zone: ZoneInfo, first: date, last: date) -> list[datetime]:
        """Every start from the local date ``first`` to ``last`` (both included), in UTC."""
        found = []
        day = first
        while day <= last:
            if day.weekday() in self.weekdays:
                found.append(local_instant(day, self.at, zone))
            day += timedelta(days=1)
        return found


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant (UTC) a clock in ``zone`` shows ``at`` on ``day``.

    A time skipped when clocks go forward is read with the offset before the change, so it
    lands as far after the change as it was meant after the hour (01:30 becomes 02:30 BST);
    a time that happens twice is its first occurrence (``fold=0``).
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def occurrence(
    every: Recurrence, length: timedelta, zone: ZoneInfo, now: datetime
) -> tuple[datetime, datetime]:
    """The occurrence in force at ``now``, or else the next one: (start, end), in UTC."""
    today = now.astimezone(zone).date()
    # A window longer than a day may have begun several days ago.
    back = timedelta(days=length.days + 2)
    for start in every.starts(zone, today - back, today + timedelta(days=8)):
        if start + length > now:
            return start, start + length
    raise AssertionError("a weekly schedule has a start within eight days")  # pragma: no cover


def parse_start(text: str, now: datetime, zone: ZoneInfo) -> datetime:
    """When a window typed in chat starts (UTC): ``now``, ``HH:MM`` or an ISO time."""
    word = text.strip()
    if word.casefold() == "now":
        return now
    at = clock_time(word)
    if at is not None:
        today = now.astimezone(zone).date()
        start = local_instant(today, at, zone)
        if start < now - timedelta(minutes=1):
            start = local_instant(today + timedelta(days=1), at, zone)
        return start
    try:
        parsed = datetime.fromisoformat(word)
    except ValueError:
        raise WindowTimeError(
            f"{word[:40]!r} is not a start: use now, HH:MM or an ISO time such as 2026-03-29T02:00"
        ) from None
    if parsed.tzinfo is None:
        return local_instant(parsed.date(), parsed.time(), zone)
    return parsed.astimezone(UTC)


def is_start_word(text: str) -> bool:
    """Whether ``text`` reads as a start (``now``, ``HH:MM``, an ISO date and time)."""
    word = text.strip()
    if word.casefold() == "now" or clock_time(word) is not None:
        return True
    if not word[:4].isdigit():
        return False
    try:
        datetime.fromisoformat(word)
    except ValueError:
        return False
    return True
