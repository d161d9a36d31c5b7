"""Text for mrkdwn: escaping, truncation, dates, ages and mentions. Pure functions.

Every string that comes from a bot or a person goes through ``escape_within`` (or ``code``)
before it reaches a message, so that a bot named ``<!channel>`` pings no one and a long
name cannot push a block past Slack's limits.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

from chatops.domain.durations import format_duration

_ESCAPES: Final = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_WHITESPACE: Final = re.compile(r"\s+")
_SLACK_ID: Final = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def escape(text: str) -> str:
    """Slack mrkdwn escaping: a bot named ``<!channel>`` must not ping anyone."""
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def one_line(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, the last an ellipsis when something was cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def escape_within(text: str, limit: int) -> str:
    """Escaped ``text`` of at most ``limit`` characters, never cutting an entity in two."""
    text = one_line(text)
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    pieces: list[str] = []
    size = 0
    for ch in text:
        piece = _ESCAPES.get(ch, ch)
        if size + len(piece) > limit - 1:
            break
        pieces.append(piece)
        size += len(piece)
    return "".join(pieces) + "…"


def code(text: str, limit: int) -> str:
    """Inline code for a raw value; a backtick inside would end the code span early."""
    return "`" + escape_within(text.replace("`", "'"), limit) + "`"


def date_token(at: datetime) -> str:
    """Shown in each reader's own time zone; the fallback is UTC."""
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    fallback = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def age(now: datetime, since: datetime) -> str:
    return format_duration(max(now - since, timedelta(0)))


def mention(user_id: str) -> str:
    return f"<@{user_id}>" if _SLACK_ID.match(user_id) else escape_within(user_id, 64)


def fallback_mention(user_id: str) -> str:
    """A mention for a notification's plain-text fallback: a Slack user id, else "someone"."""
    return f"<@{user_id}>" if _SLACK_ID.match(user_id) else "someone"


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
