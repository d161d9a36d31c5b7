"""What the channels are told of mutes: one began, one ended, a part of one was excepted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from chatops.alerts.render import pieces
from chatops.blockkit.text import (
    code,
    date_token,
    escape,
    escape_within,
    mention,
    one_line,
)
from chatops.domain import Health
from chatops.domain.durations import format_duration
from chatops.jsontypes import JSONDict


def mute_created(
    target: str,
    user_id: str,
    until: datetime,
    duration: timedelta,
    reason: str | None,
    matching: int,
) -> JSONDict:
    text = (
        f":zipper_mouth_face: {mention(user_id)} muted alerts for {code(target, 200)} for "
        f"{format_duration(duration)}, until {date_token(until)}."
    )
    if reason:
        text += f"\nReason: {escape_within(reason, 500)}"
    bots = f"{matching:,} bot{'' if matching == 1 else 's'} match now"
    context = (
        f"{bots}. A recovery still updates an open alert. "
        f"`/botstatus unmute {escape_within(target, 200)}` ends it early."
    )
    return pieces.alert_message(
        f"Alerts muted for {escape(one_line(target)[:200])}",
        [pieces.md_section(text), pieces.md_context(context)],
    )


def mute_ended(
    target: str,
    ended_by: str | None,
    at: datetime,
    still_in_trouble: Sequence[tuple[str, Health]],
) -> JSONDict:
    how = f"{mention(ended_by)} unmuted" if ended_by else "The mute of"
    tail = "" if ended_by else " expired"
    text = f":bell: {how} {code(target, 200)}{tail} at {date_token(at)}: its bots alert again."
    blocks = [pieces.md_section(text)]
    if still_in_trouble:
        shown = still_in_trouble[:20]
        lines = [
            f"{health.emoji} {escape_within(name, 80)}: {health.label}" for name, health in shown
        ]
        more = len(still_in_trouble) - len(shown)
        if more:
            lines.append(f"and {more:,} more")
        blocks.append(pieces.md_section("*Still not OK:*\n" + "\n".join(lines)))
    return pieces.alert_message(f"Alerts for {escape(one_line(target)[:200])} are back on", blocks)


def mute_excepted(
    target: str, user_id: str, mute_target: str, muted_by: str, freed: int
) -> JSONDict:
    """Someone turned alerts back on for part of a wider mute that stays in force."""
    bots = f"{freed:,} bot{'' if freed == 1 else 's'}"
    text = (
        f":bell: {mention(user_id)} turned alerts back on for {code(target, 200)} ({bots} now). "
        f"The mute of {code(mute_target, 200)} by {mention(muted_by)} stays in force for "
        "the other bots."
    )
    return pieces.alert_message(
        f"Alerts for {escape(one_line(target)[:200])} are back on", [pieces.md_section(text)]
    )
