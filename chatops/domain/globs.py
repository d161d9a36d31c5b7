"""The one rule for bot globs: permission rules (``bots:``), alert routes, mute and
maintenance targets, ``/botstatus <query>`` and ``/botstatus restart`` all match with it.

- Case is ignored (Unicode case folding on both sides).
- ``*`` stands for any run of characters, none included; ``?`` for exactly one character.
- Every other character stands for itself, ``[`` and ``]`` included: bot names contain
  them (``[EU] Billing``), so there are no character classes.
- A glob matches the whole name, never a part: ``billing`` does not match ``billing-bot``.

A text with neither ``*`` nor ``?`` is no glob (``is_glob``): where a target may be a name
or a glob, it is then the name itself.
"""

from __future__ import annotations

import re
from functools import lru_cache


def is_glob(text: str) -> bool:
    return "*" in text or "?" in text


@lru_cache(maxsize=4096)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` as a regular expression whose ``fullmatch`` on a case-folded text is
    ``glob_matches``: for matching one glob against many folded names."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.casefold())
    return re.compile("".join(parts), re.DOTALL)


def glob_matches(pattern: str, text: str) -> bool:
    """Whether ``text`` (a bot name, id or bot user) is one that ``pattern`` names."""
    return glob_regex(pattern).fullmatch(text.casefold()) is not None
