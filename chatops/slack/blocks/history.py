"""``/botstatus history <bot>``: recent transitions and the time spent in each health."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final

from chatops.blockkit import kit
from chatops.blockkit.rows import DETAIL_NAME, RAW_IN_LIST, bot_health, status_text
from chatops.blockkit.text import age, code, date_token, escape, escape_within, one_line
from chatops.domain import Dimension, Health
from chatops.domain.durations import format_duration
from chatops.jsontypes import JSONDict
from chatops.slack import grammar
from chatops.slack.blocks.footer import footer_actions
from chatops.store.fleet_rows import BotRecord
from chatops.store.models import TransitionRecord

HISTORY_TRANSITIONS: Final = 25


def history(
    bot: BotRecord,
    transitions: Sequence[TransitionRecord],
    time_in_health_24h: Mapping[Health, timedelta],
    time_in_health_7d: Mapping[Health, timedelta],
    now: datetime,
    *,
    shareable: bool = True,
) -> JSONDict:
    """``/botstatus history <bot>``: recent transitions, each naming its connector (bot user)
    with that connector's health after it, and the time the bot spent in each health (its
    rolled-up health, Degraded included: ``chatops.slack.time_in_health``)."""
    health = bot_health(bot)
    blocks = [
        kit.header(f"History of {one_line(bot.name)}"),
        kit.section(
            f"{health.emoji} *{escape_within(bot.name, DETAIL_NAME)}* is *{health.label}* "
            f"since {date_token(bot.health_since)} ({age(now, bot.health_since)})"
        ),
        {
            "type": "section",
            "fields": [
                kit.mrkdwn(_time_in_health("Last 24 hours", time_in_health_24h)),
                kit.mrkdwn(_time_in_health("Last 7 days", time_in_health_7d)),
            ],
        },
        kit.context(
            "Time in each health is the bot's, rolled up from its connectors; each transition "
            "names its connector and that connector's health after it."
        ),
    ]
    recent = sorted(transitions, key=lambda t: t.at, reverse=True)[:HISTORY_TRANSITIONS]
    if recent:
        blocks.append(kit.section("*Recent transitions*"))
        blocks += [kit.section(text) for text in kit.pack(_transition_line(t) for t in recent)]
        if len(transitions) > len(recent):
            blocks.append(
                kit.context(f"The {len(recent)} most recent of {len(transitions):,} transitions.")
            )
    else:
        blocks.append(kit.context("No transitions recorded yet."))
    blocks += footer_actions(grammar.History(bot.name), shareable=shareable)
    fallback = (
        f"History of {one_line(bot.name)[:100]}: {health.label}, "
        f"{len(transitions):,} transition{'' if len(transitions) == 1 else 's'}"
    )
    return kit.message(escape(fallback), blocks)


def _time_in_health(title: str, durations: Mapping[Health, timedelta]) -> str:
    total = sum(durations.values(), timedelta(0))
    if total <= timedelta(0):
        return f"*{title}*\nNo data"
    lines = [f"*{title}*"]
    for health in sorted(durations, key=lambda h: h.severity):
        spent = durations[health]
        if spent > timedelta(0):
            share = 100 * spent / total
            lines.append(f"{health.emoji} {health.label} {format_duration(spent)} ({share:.0f}%)")
    return "\n".join(lines)


def _transition_line(record: TransitionRecord) -> str:
    try:
        dimension = Dimension(record.dimension).label
    except ValueError:
        dimension = escape_within(record.dimension, 40)
    old = status_text(record.old, record.old_raw, raw_limit=RAW_IN_LIST)
    new = status_text(record.new, record.new_raw, raw_limit=RAW_IN_LIST)
    try:
        new_health = Health(record.new_health)
        outcome = f"{new_health.emoji} {new_health.label}"
    except ValueError:
        outcome = escape_within(record.new_health, 20)
    where = f" · {code(record.bot_user, 80)}" if record.bot_user else ""
    line = f"{date_token(record.at)}{where} · {dimension}: {old} → {new} · {outcome}"
    if record.manual:
        who = f" by {escape_within(record.performed_by, 100)}" if record.performed_by else ""
        line += f" · manual{who}"
    return line
