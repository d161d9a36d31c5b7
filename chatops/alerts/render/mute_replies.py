"""The replies to ``/botstatus mute``, ``unmute`` and ``mutes``, for the person who asked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from chatops.alerts.mute_views import MAX_REASON, MuteResult, MuteView, Scope, UnmuteResult
from chatops.alerts.render.pieces import reply
from chatops.blockkit.text import code, date_token, escape_within, mention, plural
from chatops.domain.durations import format_duration
from chatops.jsontypes import JSONDict


def globs_text(scope: Sequence[str]) -> str:
    return ", ".join(code(glob, 100) for glob in scope[:10]) + (
        " and more" if len(scope) > 10 else ""
    )


def mute_reply(result: MuteResult) -> JSONDict:
    view = result.mute
    duration = view.expires_at - view.created_at
    text = (
        f":zipper_mouth_face: Muted alerts for {code(view.target, 200)} for "
        f"{format_duration(duration)}, until {date_token(view.expires_at)}."
    )
    if result.matching == 0:
        text += "\nNo bot matches it now; bots that match later are muted too."
    else:
        text += f"\n{plural(result.matching, 'bot')} match now."
    if view.scope is not None:
        text += (
            f"\nIt silences only bots your *mute* permission covers ({globs_text(view.scope)}), "
            "now and later."
        )
    if view.reason:
        text += f"\nReason: {escape_within(view.reason, MAX_REASON)}"
    return reply(f"Muted {view.target[:200]}", text)


def unmute_reply(result: UnmuteResult) -> JSONDict:
    if not result.ended and not result.excepted:
        return reply(
            "Nothing to unmute",
            f"No active mute matches {code(result.target, 200)}. `/botstatus mutes` lists them.",
        )
    lines = []
    if result.ended:
        targets = ", ".join(code(view.target, 200) for view in result.ended[:20])
        count = len(result.ended)
        lines.append(f":bell: Ended {plural(count, 'mute')}: {targets}. Their bots alert again.")
    if result.excepted:
        lines.append(f":bell: Alerts are back on for {code(result.target, 200)}.")
        wider = ", ".join(
            f"{code(view.target, 100)} (muted by {mention(view.created_by)} until "
            f"{date_token(view.expires_at)})"
            for view in result.excepted[:10]
        )
        lines.append(f"{wider} stays in force for the bots {_beyond(result.scope)}.")
    return reply(f"Unmuted {result.target[:200]}", "\n".join(lines))


def _beyond(scope: Scope) -> str:
    if scope is None:
        return "it names"
    return f"outside your *mute* permission ({globs_text(scope)})"


def mutes_reply(mutes: list[MuteView], now: datetime) -> JSONDict:
    if not mutes:
        return reply("No active mutes", ":bell: No active mutes: every bot alerts.")
    lines = []
    for view in mutes[:40]:
        line = (
            f"{code(view.target, 120)} until {date_token(view.expires_at)} "
            f"({format_duration(max(view.expires_at - now, timedelta(0)))} left), by "
            f"{mention(view.created_by)}"
        )
        if view.scope is not None:
            line += f", within {globs_text(view.scope[:3])}"
        if view.reason:
            line += f": {escape_within(view.reason, 150)}"
        if view.exceptions:
            excepted = ", ".join(
                f"{code(e.target, 60)} ({mention(e.created_by)})" for e in view.exceptions[:3]
            )
            more = len(view.exceptions) - 3
            line += f"; except {excepted}" + (f" and {more} more" if more > 0 else "")
        lines.append(line)
    if len(mutes) > 40:
        lines.append(f"and {len(mutes) - 40:,} more")
    return reply(f"{len(mutes)} active mutes", "*Active mutes*\n" + "\n".join(lines))
