"""The one duration grammar, read from the YAML config and from chat, and the short forms
durations are written in.

A duration is one or more parts, each a number and a unit, case ignored, spaces allowed
between them: ``90s``, ``15m``, ``4h``, ``2d``, ``1w``, ``1h30m``, ``1.5h``, ``500ms``.
Units: ``ms``; ``s``, ``sec``, ``secs``; ``m``, ``min``, ``mins``; ``h``, ``hr``, ``hrs``;
``d``; ``w``. A number alone is no duration here (``mute billing 30`` could mean seconds,
minutes or hours); the YAML config also takes a plain number of seconds, as YAML numbers.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

_NUMBER: Final = r"\d{1,9}(?:\.\d{1,9})?"
_UNIT: Final = r"ms|secs|sec|s|mins|min|m|hrs|hr|h|d|w"
_PART: Final = re.compile(rf"({_NUMBER})\s*({_UNIT})", re.IGNORECASE)
_DURATION: Final = re.compile(rf"^\s*(?:(?:{_NUMBER})\s*(?:{_UNIT})\s*)+$", re.IGNORECASE)
_UNIT_SECONDS: Final = {
    "ms": 0.001,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "d": 86400,
    "w": 604800,
}
# What a timedelta holds (about 2.7 million years); ``999999999w`` spells more.
_LONGEST: Final = timedelta.max.total_seconds()


def parse_duration(text: str) -> timedelta | None:
    """The duration ``text`` spells, or None when it spells none (or more than a timedelta
    holds)."""
    if not _DURATION.match(text):
        return None
    seconds = sum(
        float(number) * _UNIT_SECONDS[unit.lower()] for number, unit in _PART.findall(text)
    )
    if seconds >= _LONGEST:
        return None
    return timedelta(seconds=seconds)


def format_duration(td: timedelta) -> str:
    """A short human form, rounded down: ``45s``, ``12m``, ``3h 5m``, ``2d 4h``."""
    seconds = int(td.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def compact_duration(td: timedelta) -> str:
    """The whole seconds of ``td`` in one word that ``parse_duration`` reads back: ``1h30m``."""
    seconds = int(td.total_seconds())
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0s"
