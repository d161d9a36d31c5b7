"""The status source's outage: unreachable after several failed polls, the reminder
while it lasts, and the recovery."""

from __future__ import annotations

from datetime import datetime, timedelta

from chatops.alerts.render import pieces
from chatops.blockkit.text import (
    age,
    code,
    date_token,
)
from chatops.domain.durations import format_duration
from chatops.jsontypes import JSONDict
from chatops.store.acks import Owner


def source_unreachable(
    failed_polls: int, error: str | None, last_success: datetime | None, now: datetime
) -> JSONDict:
    if last_success is None:
        freshness = "No poll has succeeded yet, so no status is known."
    else:
        freshness = (
            f"Statuses are {age(now, last_success)} old (last successful poll "
            f"{date_token(last_success)}) and show as unknown until it answers."
        )
    error_text = code(error, pieces.ERROR_TEXT) if error else "(no error text)"
    text = (
        f":rotating_light: *The status source is unreachable*: {failed_polls} polls in a row "
        f"failed.\nLast error: {error_text}\n{freshness}"
    )
    context = "No bot alerts as down because of this; they are judged again once polls succeed."
    blocks = [*pieces.headline(text, None, "source"), pieces.md_context(context)]
    return pieces.alert_message("The status source is unreachable", blocks)


def source_reminder(since: datetime, now: datetime) -> JSONDict:
    text = (
        f":alarm_clock: The status source is still unreachable, since {date_token(since)} "
        f"({age(now, since)})."
    )
    return pieces.alert_message("The status source is still unreachable", [pieces.md_section(text)])


def source_recovered_update(
    since: datetime, at: datetime, error: str | None, owner: Owner | None = None
) -> JSONDict:
    duration = format_duration(max(at - since, timedelta(0)))
    text = (
        f":white_check_mark: The status source was unreachable for {duration} "
        f"(from {date_token(since)} to {date_token(at)}); polls succeed again."
    )
    blocks = [pieces.md_section(text)]
    if owner is not None:
        blocks.append(pieces.ownership(owner, over=True))
    if error:
        blocks.append(pieces.md_context(f"Last error was {code(error, pieces.ERROR_TEXT)}"))
    return pieces.alert_message("The status source is reachable again", blocks)


def source_recovered_reply(since: datetime, at: datetime) -> JSONDict:
    duration = format_duration(max(at - since, timedelta(0)))
    text = f":large_green_circle: Polls succeed again after {duration}; statuses are fresh."
    return pieces.alert_message("The status source is reachable again", [pieces.md_section(text)])
