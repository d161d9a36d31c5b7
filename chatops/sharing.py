"""One object for each of many equal values: the fleet's copies hold each value once.

The fleet lives in memory as long-lived rows of 10,000 connectors, and their values repeat:
a few statuses, kinds and environments, the same timestamp on every row one poll wrote. Each
value read from the database or decoded from JSON is a new object (50-70 bytes for a short
string or a datetime), so without sharing a copy of the fleet holds a few hundred thousand
of them. A :class:`Pool` hands back the first object it was given equal to a value.

A pool lives for one load (a fetch, a read of the stored fleet) and is then dropped: it
holds its values, so a pool kept forever would keep every value ever seen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

T = TypeVar("T")


class Pool:
    """Equal strings and datetimes made one object; any other value passes through."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[Any, Any] = {}

    def __call__(self, value: T) -> T:
        # Exact types: a str subclass (an enum member) is never swapped for a plain str.
        kind = type(value)
        if kind is str or kind is datetime:
            return cast(T, self._values.setdefault(value, value))
        return value

    @property
    def share_string(self) -> Callable[[str, str], str]:
        """``share_string(s, s)`` is ``self(s)`` for a ``str`` ``s``, without a Python call
        (the pool's ``dict.setdefault``): for loops over hundreds of thousands of values."""
        return cast(Callable[[str, str], str], self._values.setdefault)


__all__ = ["Pool"]
