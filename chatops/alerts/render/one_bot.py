"""Alerts about one bot: its outage and recovery, a change while it is down, a manual
Start or Stop, flapping, and the reminder while it stays down."""

from __future__ import annotations

from datetime import datetime, timedelta

from chatops.alerts.render import pieces
from chatops.blockkit.text import (
    age,
    date_token,
    escape_within,
    mention,
)
from chatops.domain import Health
from chatops.domain.durations import format_duration
from chatops.jsontypes import JSONDict
from chatops.store.acks import Owner
from chatops.store.cards import BotCard
from chatops.store.models import Bot


def problem(
    bot: BotCard,
    health: Health,
    since: datetime,
    *,
    was: Health | None = None,
    pcs_count: int = 1,
    note: str | None = None,
    owner: Owner | None = None,
) -> JSONDict:
    """The message of an outage: health, since when, the connectors concerned and their
    statuses, Start/Stop/Restart; Acknowledge until ``owner`` owns it, then who does."""
    headline = (
        f"{health.emoji} {pieces.bold_name(bot)} is *{health.label}* since {date_token(since)}"
    )
    if was is not None and was is not health:
        headline += f" (was {was.label})"
    which = pieces.concerned(bot)
    if which:
        headline += f": {which}"
    blocks = [
        *pieces.headline(headline, owner, bot.id),
        *pieces.facts_blocks(bot),
        *pieces.conversation_blocks(bot),
        *pieces.action_buttons(bot, pcs_count),
    ]
    context = [pieces.about_line(bot)]
    if note:
        context.append(note)
    blocks.append(pieces.md_context(*context))
    fallback = f"{pieces.plain_name(bot.name)} is {health.label}"
    if health is Health.DEGRADED:
        fallback += f": {pieces.concerned(bot, plain=True)}"
    return pieces.alert_message(fallback, blocks)


def resolved(
    bot: BotCard,
    incident_health: Health,
    since: datetime,
    at: datetime,
    how: str,
    owner: Owner | None = None,
) -> JSONDict:
    """What an outage's first message becomes once it is over (buttons removed), still
    saying who had acknowledged it.

    ``how`` finishes the sentence "... was <health> for 12m: <how>", e.g. "recovered".
    """
    duration = format_duration(max(at - since, timedelta(0)))
    headline = (
        f":white_check_mark: {pieces.bold_name(bot)} was *{incident_health.label}* for {duration} "
        f"(from {date_token(since)} to {date_token(at)}): {how}."
    )
    owned_by = [pieces.ownership(owner, over=True)] if owner is not None else []
    blocks = [
        pieces.md_section(headline),
        *owned_by,
        *pieces.facts_blocks(bot),
        pieces.md_context(pieces.about_line(bot)),
    ]
    return pieces.alert_message(f"Resolved: {pieces.plain_name(bot.name)} {how}", blocks)


def recovered_reply(
    bot: Bot | BotCard,
    incident_health: Health,
    since: datetime,
    at: datetime,
    owner: Owner | None = None,
) -> JSONDict:
    duration = format_duration(max(at - since, timedelta(0)))
    text = (
        f"{Health.OK.emoji} {pieces.bold_name(bot)} is *OK* again since {date_token(at)}, "
        f"after {duration} {incident_health.label}."
    )
    if owner is not None:
        text += f" {mention(owner.user_id)} had acknowledged it."
    return pieces.alert_message(
        f"{pieces.plain_name(bot.name)} is OK again", [pieces.md_section(text)]
    )


def changed_reply(
    bot: BotCard, health: Health, was: Health, since: datetime, owner: Owner | None = None
) -> JSONDict:
    """A change within an outage (Degraded to Down); the owner, if any, keeps it and is told."""
    before = "again" if was is health else f"(was {was.label})"
    text = (
        f"{health.emoji} {pieces.bold_name(bot)} is now *{health.label}* {before} "
        f"since {date_token(since)}."
    )
    which = pieces.concerned(bot)
    if which:
        text += f" {which}."
    if owner is not None:
        text += (
            f"\n{mention(owner.user_id)}: you acknowledged it {date_token(owner.since)} and "
            "still own it."
        )
    return pieces.alert_message(
        f"{pieces.plain_name(bot.name)} is now {health.label}", [pieces.md_section(text)]
    )


def _manual_words(operation: str | None) -> tuple[str, Health]:
    stop = (operation or "").strip().lower() == "stop"
    return ("stopped", Health.STOPPED) if stop else ("started", Health.OK)


def _performer(performed_by: str | None) -> str:
    return f" by {escape_within(performed_by, 100)}" if performed_by else " by hand"


def notice(
    bot: Bot | BotCard, operation: str | None, performed_by: str | None, at: datetime
) -> JSONDict:
    """A manual Start or Stop: news, never an outage."""
    verb, target = _manual_words(operation)
    emoji = Health.STOPPED.emoji if target is Health.STOPPED else Health.OK.emoji
    text = (
        f"{emoji} {pieces.bold_name(bot)} was {verb}{_performer(performed_by)} at {date_token(at)}."
    )
    context = "A manual operation, not an outage: no alert follows unless it fails to get there."
    fallback = f"{pieces.plain_name(bot.name)} was {verb}{_performer(performed_by)}"
    return pieces.alert_message(fallback, [pieces.md_section(text), pieces.md_context(context)])


def manual_resolution(operation: str | None, performed_by: str | None) -> str:
    verb, _ = _manual_words(operation)
    return f"{verb}{_performer(performed_by)}"


def flapping(
    bot: BotCard, health: Health, since: datetime, changes: int, window: timedelta
) -> JSONDict:
    text = (
        f":warning: {pieces.bold_name(bot)} is *flapping*: {changes} health changes since "
        f"{date_token(since)}, now {health.emoji} {health.label}."
    )
    context = (
        f"No more alerts for it until it holds one health for {format_duration(window)}; "
        "then one message says where it settled."
    )
    return pieces.alert_message(
        f"{pieces.plain_name(bot.name)} is flapping",
        [pieces.md_section(text), *pieces.facts_blocks(bot), pieces.md_context(context)],
    )


def flapping_over(
    bot: Bot | BotCard, health: Health, since: datetime, at: datetime, how: str
) -> JSONDict:
    """What a flapping message becomes when the episode ends."""
    text = (
        f":white_check_mark: {pieces.bold_name(bot)} flapped from {date_token(since)} "
        f"to {date_token(at)}; "
        f"{how}, now {health.emoji} {health.label}."
    )
    return pieces.alert_message(
        f"{pieces.plain_name(bot.name)} stopped flapping", [pieces.md_section(text)]
    )


def reminder(bot: Bot | BotCard, health: Health, since: datetime, now: datetime) -> JSONDict:
    text = (
        f":alarm_clock: Still {health.emoji} *{health.label}*: {pieces.bold_name(bot)} since "
        f"{date_token(since)} ({age(now, since)})."
    )
    return pieces.alert_message(
        f"Still {health.label}: {pieces.plain_name(bot.name)}", [pieces.md_section(text)]
    )
