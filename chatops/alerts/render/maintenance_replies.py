"""Maintenance windows in words: the start and the end told in the channels, and the replies
to ``/botstatus maintenance`` for the person who asked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from chatops.alerts.maintenance_views import WindowView
from chatops.alerts.mute_views import MAX_REASON
from chatops.alerts.render.pieces import reply
from chatops.blockkit.text import code, date_token, escape_within, mention, plural
from chatops.domain import Health
from chatops.domain.durations import format_duration
from chatops.jsontypes import JSONDict

# The end of a window lists at most this many bots of each kind.
LISTED: Final = 20


def _reason(view: WindowView, limit: int = MAX_REASON) -> str:
    return f"\nReason: {escape_within(view.reason, limit)}" if view.reason else ""


def window_started(view: WindowView, matching: int) -> JSONDict:
    text = (
        f":construction: Maintenance of {code(view.target, 200)} began, set by "
        f"{view.author}: no alerts for these bots until {date_token(view.ends_at)} "
        f"({format_duration(view.ends_at - view.starts_at)}).{_reason(view)}\n"
        f"{plural(matching, 'bot')} match now. When it ends, each bot still not OK is alerted. "
        f"`/botstatus maintenance cancel {view.id}` ends it early."
    )
    return reply(f"Maintenance of {view.target[:200]} began", text)


def window_ended(
    view: WindowView,
    at: datetime,
    cancelled_by: str | None,
    trouble: Sequence[tuple[str, Health, bool]],
    fine: Sequence[str],
) -> JSONDict:
    how = f", cancelled by {mention(cancelled_by)}" if cancelled_by else ""
    lines = [
        f":white_check_mark: Maintenance of {code(view.target, 200)} ended "
        f"{date_token(at)}{how}: its bots alert again."
    ]
    if trouble:
        lines.append("*Still not OK:*")
        for name, health, alerted in trouble[:LISTED]:
            tail = " (alerted now)" if alerted else ""
            lines.append(f"{health.emoji} {escape_within(name, 80)}: {health.label}{tail}")
        if len(trouble) > LISTED:
            lines.append(f"and {len(trouble) - LISTED:,} more")
    if fine:
        names = ", ".join(escape_within(name, 80) for name in fine[:LISTED])
        more = f" and {len(fine) - LISTED:,} more" if len(fine) > LISTED else ""
        lines.append(f"*Fine again:* {names}{more}")
    elif not trouble:
        lines.append("Every bot it covered is OK.")
    return reply(f"Maintenance of {view.target[:200]} ended", "\n".join(lines))


def window_line(view: WindowView, now: datetime) -> str:
    if view.in_force(now):
        when = f"in force until {date_token(view.ends_at)}"
    else:
        when = f"{date_token(view.starts_at)} to {date_token(view.ends_at)}"
    line = f"*#{view.id}* {code(view.target, 120)}: {when} ({view.timezone}), by {view.author}"
    if view.recurring:
        line += " (recurring)"
    if view.reason:
        line += f": {escape_within(view.reason, 150)}"
    return line


def created_reply(view: WindowView, now: datetime) -> JSONDict:
    length = format_duration(view.ends_at - view.starts_at)
    if view.in_force(now):
        when = f"from now until {date_token(view.ends_at)} ({length})"
    else:
        when = f"from {date_token(view.starts_at)} until {date_token(view.ends_at)} ({length})"
    text = (
        f":construction: Maintenance window *#{view.id}* for {code(view.target, 200)} "
        f"{when}, in your time zone {view.timezone}. No alerts for these bots meanwhile; "
        "the channels hear when it starts and ends, and each bot still not OK at the end "
        "is alerted."
    )
    if view.scope is not None:
        text += "\nIt covers only bots your *mute* permission covers, now and later."
    text += _reason(view)
    return reply(f"Maintenance window #{view.id} for {view.target[:200]}", text)


def list_reply(views: Sequence[WindowView], now: datetime) -> JSONDict:
    if not views:
        return reply(
            "No maintenance windows",
            ":construction: No maintenance window is in force or to come.",
        )
    lines = [window_line(view, now) for view in views[:40]]
    if len(views) > 40:
        lines.append(f"and {len(views) - 40:,} more")
    lines.append("`/botstatus maintenance cancel <id>` ends one.")
    return reply(f"{len(views)} maintenance windows", "*Maintenance windows*\n" + "\n".join(lines))


def cancelled_reply(view: WindowView, now: datetime) -> JSONDict:
    started = view.in_force(now)
    what = "ended now" if started else "will not happen"
    text = (
        f":white_check_mark: Maintenance window *#{view.id}* for {code(view.target, 200)} {what}."
    )
    if started:
        text += " Its bots alert again; the channels hear of each bot still not OK."
    return reply(f"Cancelled maintenance window #{view.id}", text)


def bot_note(view: WindowView) -> str:
    """What a bot's details and the Home tab say of the window it is in."""
    note = f":construction: In maintenance until {date_token(view.ends_at)}, by {view.author}"
    if view.reason:
        note += f", {escape_within(view.reason, 200)}"
    return note
