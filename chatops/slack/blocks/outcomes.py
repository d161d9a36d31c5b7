"""What a Start, Stop or Restart button did (replacing the message it was on), and the
follow-up once the connectors it started are Online again, or are late."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final, Literal

from chatops.blockkit import kit
from chatops.blockkit.controls import PAST, VERB_ING, Action
from chatops.blockkit.rows import (
    COMPACT_NAME,
    DETAIL_NAME,
    RAW_IN_LIST,
    bot_health,
    is_pcs,
    status_text,
)
from chatops.blockkit.text import (
    code,
    date_token,
    escape,
    escape_within,
    fallback_mention,
    mention,
    one_line,
    plural,
)
from chatops.domain.durations import format_duration
from chatops.jsontypes import JSONDict
from chatops.slack.results import ConnectorOutcome, ConnectorWatch, Outcome
from chatops.store.cards import BotCard
from chatops.store.fleet_rows import BotRecord

# What an action result shows; every other ``Outcome`` of a click is answered by a refusal.
ShownOutcome = Literal["ok", "failed", "duplicate"]
# A result lists at most this many sections of connector lines (about 60 lines each).
RESULT_SECTIONS: Final = 20


def action_result(
    bot: BotRecord | BotCard,
    action: Action,
    user_id: str,
    at: datetime,
    outcome: ShownOutcome,
    *,
    detail: str | None = None,
    pcs_count: int = 0,
    connectors: Sequence[ConnectorOutcome] = (),
    bot_user: str | None = None,
) -> JSONDict:
    """What replaces the message a Start/Stop/Restart button was on: who did what to which
    connectors, and when, with the outcome per connector.

    ``bot_user`` names the connector of a connector-level button (None: the bot's button);
    ``connectors`` are the outcomes per connector, as ``ConnectorControl`` reports them.
    """
    who = mention(user_id)
    name = f"*{escape_within(bot.name, DETAIL_NAME)}*"
    done = sum(1 for c in connectors if c.outcome is Outcome.OK)
    if is_pcs(bot):
        others = f"all {pcs_count:,} survey bots" if pcs_count > 1 else "every survey bot"
        what = f"the shared survey connector ({name} and {others})"
    elif bot_user is not None:
        what = f"the connector {code(bot_user, 200)} of {name}"
    elif len(connectors) > 1:
        what = f"{name} (all {len(connectors):,} of its connectors)"
        if outcome == "ok" and done < len(connectors):
            what = f"{done:,} of the {len(connectors):,} connectors of {name}"
    else:
        what = name
    past = PAST[action]
    when = date_token(at)
    if outcome == "ok":
        emoji = {"stop": ":black_circle:", "start": ":large_green_circle:"}.get(
            action, ":arrows_counterclockwise:"
        )
        if done < len(connectors):
            emoji = ":warning:"
        text = f"{emoji} {who} {past} {what} at {when}."
        note = "The statuses here change at the next poll."
        if action in ("start", "restart"):
            note += " You will hear when each connector is Online again."
    elif outcome == "duplicate":
        text = f":repeat: {who} asked to {action} {what} at {when}; it was already requested."
        note = (
            escape_within(detail, 1000)
            if detail
            else "The source is called once per click on a message."
        )
    else:
        text = f":x: {who} tried to {action} {what} at {when}, but it failed."
        note = escape_within(detail, 1000) if detail else "The status source did not say why."
    health = bot_health(bot.bot if isinstance(bot, BotCard) else bot)
    status = f"Before: {health.emoji} {health.label} since {date_token(bot.health_since)}"
    blocks = [kit.section(text)]
    lines = [connector_outcome_line(c, action) for c in connectors]
    blocks += [kit.section(part) for part in kit.pack(lines)[:RESULT_SECTIONS]]
    blocks.append(kit.context(note, status))
    plain_who = fallback_mention(user_id)
    fallback_verb = {
        "ok": past,
        "duplicate": f"asked again to {action}",
        "failed": f"could not {action}",
    }
    fallback = f"{plain_who} {fallback_verb[outcome]} {escape(one_line(bot.name)[:100])}"
    return kit.message(fallback, blocks)


def connector_outcome_line(connector: ConnectorOutcome, action: Action) -> str:
    user = code(connector.bot_user, 80)
    if connector.outcome is Outcome.OK:
        return f":white_check_mark: {user} {PAST[action]}"
    if connector.outcome is Outcome.DUPLICATE:
        why = (
            escape_within(connector.message, 300)
            if connector.message
            else f"already {VERB_ING[action]} (an earlier click); sent once"
        )
        return f":repeat: {user} {why}"
    reason = escape_within(connector.message, 300) if connector.message else "no reason given"
    return f":x: {user} could not {action}: {reason}"


def followup(watches: Sequence[ConnectorWatch], action: Action, timeout: timedelta) -> JSONDict:
    """After a Start or Restart: each connector it reached is Online again, and when, or
    did not get there within ``timeout``."""
    online = [w for w in watches if w.online_after is not None]
    late = [w for w in watches if w.online_after is None]
    names = {w.bot_name for w in watches}
    if len(watches) == 1 and online:
        name = escape_within(watches[0].bot_name, DETAIL_NAME)
        head = f":large_green_circle: *{name}* is Online again."
    elif not late:
        head = f":large_green_circle: All {plural(len(watches), 'connector')} are Online again."
    else:
        head = (
            f":warning: {plural(len(late), 'connector')} did not come Online within "
            f"{format_duration(timeout)} of the {action.capitalize()}."
        )
    lines = []
    for watch in sorted(
        watches, key=lambda w: (w.online_after is not None, w.bot_name, w.bot_user)
    ):
        where = f"*{escape_within(watch.bot_name, COMPACT_NAME)}* {code(watch.bot_user, 80)}"
        if watch.online_after is not None:
            lines.append(
                f":large_green_circle: {where}: Online again, seen "
                f"{format_duration(watch.online_after)} after the {action.capitalize()}"
            )
            continue
        now = watch.current
        state = (
            status_text(now.connector, now.raw_connector, raw_limit=RAW_IN_LIST)
            if now is not None
            else "no longer listed"
        )
        lines.append(f":warning: {where}: not Online; Bot Agent Connector now {state}")
    blocks = [kit.section(head), *(kit.section(t) for t in kit.pack(lines)[:RESULT_SECTIONS])]
    if late:
        look = sorted(names)[0] if len(names) == 1 else "problems"
        blocks.append(kit.context(f"{code('/botstatus ' + look, 300)} shows the statuses now."))
    fallback = one_line(head.split(" ", 1)[1].replace("*", ""))
    return kit.message(fallback, blocks)
