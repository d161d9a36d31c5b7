"""Alert messages as Block Kit payloads. Pure functions: rows and decisions in, JSON out.

Each function returns ``{"text": fallback, "blocks": [...]}`` inside Slack's limits whatever
the input (names are escaped and cut, lists are capped with an "and N more" line); that is
checked by ``chatops.blockkit.limits`` here and in tests/test_alerts_render.py. Escaping,
dates, statuses and the Start/Stop buttons come from ``chatops.blockkit``, so an alert
looks and acts like ``/botstatus``: the buttons carry action ids ``bot_start``/``bot_stop``
and the Slack surface re-checks the clicking user's permission. Outages, digests and the
status source's outage carry an *Acknowledge* button beside their headline (``ack_button``)
until someone owns them (``Owner``); then a line under the headline says who, and since
when.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from chatops.blockkit.controls import ACTION_ACK, ack_button, start_button, stop_button
from chatops.blockkit.limits import MAX_BLOCKS, MAX_MESSAGE_TEXT, MAX_SECTION_TEXT, violations
from chatops.blockkit.rows import status_text
from chatops.blockkit.text import (
    age,
    code,
    date_token,
    escape,
    escape_within,
    mention,
    one_line,
    truncate,
)
from chatops.domain import BotKind, Environment, Health
from chatops.domain.durations import format_duration
from chatops.jsontypes import JSONDict
from chatops.store.acks import Owner
from chatops.store.cards import BotCard
from chatops.store.models import Bot, Connector

NAME: Final = 150
RAW: Final = 80
# A digest lists at most this many names per group and this many overall; the counts
# always cover every bot, and /botstatus problems pages through the rest.
DIGEST_NAMES_PER_GROUP: Final = 60
DIGEST_NAMES_TOTAL: Final = 200
ERROR_TEXT: Final = 400
# An alert lists at most this many connectors (problems first); the rest are counted.
CONNECTORS_LISTED: Final = 20
# The headline and fallback name at most this many connectors concerned.
CONNECTORS_NAMED: Final = 3
USER: Final = 80


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One bot in a digest: its name and the group it is counted in (``group_key``)."""

    bot_name: str
    group: str  # problem, recovered, flapping, stopped_by_hand, started_by_hand, settled
    health: Health
    # How many of the bot's connectors are not OK, and how many it has.
    connectors_down: int = 0
    connectors: int = 1


_GROUP_TITLES: Final = {
    "recovered": (":large_green_circle:", "Recovered"),
    "flapping": (":warning:", "Flapping"),
    "stopped_by_hand": (":black_circle:", "Stopped by hand"),
    "started_by_hand": (":large_green_circle:", "Started by hand"),
}


def _section(text: str) -> JSONDict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 3000)}}


def _headline(text: str, owner: Owner | None, ack_value: str | None) -> list[JSONDict]:
    """The headline section, with Acknowledge beside it while nobody owns the incident, or
    followed by who owns it."""
    section = _section(text)
    if owner is not None:
        return [section, ownership(owner)]
    if ack_value is not None:
        section["accessory"] = ack_button(ack_value)
    return [section]


def ownership(owner: Owner, *, over: bool = False) -> JSONDict:
    """``Acknowledged by @alice since 12:03``; once the incident is over, ``... at 12:03``."""
    when = "at" if over else "since"
    return _context(
        f":eyes: Acknowledged by {mention(owner.user_id)} {when} {date_token(owner.since)}"
    )


def owned(message: Mapping[str, Any], owner: Owner | None, *, over: bool = False) -> JSONDict:
    """An alert we rendered, without its Acknowledge button, and with who owns it (``owner``)
    under its first block. Used for messages that are kept rather than rendered again (a
    digest)."""
    blocks = [_without_ack(block) for block in message.get("blocks", [])]
    if owner is not None and not any(_is_ownership(block) for block in blocks):
        blocks.insert(1, ownership(owner, over=over))
    return _message(str(message.get("text", "")), blocks)


def _without_ack(block: Mapping[str, Any]) -> JSONDict:
    accessory = block.get("accessory")
    if isinstance(accessory, Mapping) and accessory.get("action_id") == ACTION_ACK:
        return {key: value for key, value in block.items() if key != "accessory"}
    return dict(block)


def _is_ownership(block: Mapping[str, Any]) -> bool:
    elements = block.get("elements") if block.get("type") == "context" else None
    if not isinstance(elements, list) or not elements or not isinstance(elements[0], Mapping):
        return False
    return str(elements[0].get("text", "")).startswith(":eyes: Acknowledged")


def _context(*texts: str) -> JSONDict:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": truncate(t, 3000)} for t in texts],
    }


def _message(text: str, blocks: list[JSONDict]) -> JSONDict:
    message = {"text": truncate(text, MAX_MESSAGE_TEXT), "blocks": blocks[: MAX_BLOCKS["message"]]}
    problems = violations(message, surface="message")
    if problems:  # a renderer bug; the relay would only get msg_too_long/invalid_blocks
        raise AssertionError("alert message breaks Slack's limits: " + "; ".join(problems))
    return message


def _name(bot: Bot | BotCard) -> str:
    return f"*{escape_within(bot.name, NAME)}*"


def _plain_name(name: str) -> str:
    return escape(one_line(name)[:NAME])


def health_of(value: str) -> Health:
    """A stored health string; anything unreadable is Unknown rather than an error."""
    try:
        return Health(value)
    except ValueError:
        return Health.UNKNOWN


_GOOD: Final = {
    "connector": ("Online",),
    "cloud": ("Connected", "Online", "N/A"),
    "server": ("Connected", "N/A"),
}
_LABELS: Final = {
    "connector": "Bot Agent Connector",
    "cloud": "Conversational Cloud",
    "server": "Bot Server",
}


def _statuses(connector: Connector) -> tuple[tuple[str, str, str, datetime], ...]:
    return (
        ("connector", connector.connector, connector.raw_connector, connector.connector_since),
        ("cloud", connector.cloud, connector.raw_cloud, connector.cloud_since),
        ("server", connector.server, connector.raw_server, connector.server_since),
    )


def _user(connector: Connector) -> str:
    return code(connector.bot_user, USER)


def _what_is_wrong(connector: Connector, *, plain: bool = False) -> str:
    """``Bot Server Not Connected``: the statuses of a connector that are not as they should."""
    wrong = [
        (dimension, value, raw)
        for dimension, value, raw, _ in _statuses(connector)
        if value not in _GOOD[dimension]
    ]
    if not wrong:
        return health_of(connector.health).label
    if plain:
        return ", ".join(f"{_LABELS[d]} {value}" for d, value, _ in wrong)
    return ", ".join(
        f"{_LABELS[d]} *{status_text(value, raw, raw_limit=RAW)}*" for d, value, raw in wrong
    )


def concerned(card: BotCard, *, plain: bool = False) -> str:
    """``1 of 2 connectors; care_user_1b: Bot Server Not Connected`` (empty for one connector)."""
    if len(card.connectors) <= 1:
        return ""
    problems = card.problem_connectors
    total = len(card.connectors)
    named = [
        (
            f"{escape(one_line(c.bot_user)[:USER])}: {_what_is_wrong(c, plain=True)}"
            if plain
            else f"{_user(c)}: {_what_is_wrong(c)}"
        )
        for c in problems[:CONNECTORS_NAMED]
    ]
    if len(problems) > CONNECTORS_NAMED:
        named.append(f"{len(problems) - CONNECTORS_NAMED} more")
    head = f"{len(problems)} of {total} connectors"
    return f"{head}; {'; '.join(named)}" if named else f"{total} connectors OK"


def _facts(card: BotCard) -> list[JSONDict]:
    """The connectors' statuses: three fields for a one-connector bot, else a line each."""
    if not card.connectors:
        return []
    if len(card.connectors) == 1:
        fields = [
            {
                "type": "mrkdwn",
                "text": (
                    f"*{_LABELS[dimension]}*\n{status_text(value, raw, raw_limit=RAW)}\n"
                    f"since {date_token(since)}"
                ),
            }
            for dimension, value, raw, since in _statuses(card.connectors[0])
        ]
        conversations = card.conversations_of(card.connectors[0].bot_user)
        if conversations is not None:
            fields.append({"type": "mrkdwn", "text": f"*Conversations*\n{conversations}"})
        return [{"type": "section", "fields": fields}]
    ordered = [*card.problem_connectors]
    ordered += [c for c in card.connectors if c.health == Health.OK.value]
    lines = [
        f"{health_of(c.health).emoji} {_user(c)}: "
        + " · ".join(
            f"{_LABELS[d]} *{status_text(value, raw, raw_limit=RAW)}*"
            for d, value, raw, _ in _statuses(c)
        )
        + f" (since {date_token(c.health_since)})"
        + _conversations_suffix(card, c)
        for c in ordered[:CONNECTORS_LISTED]
    ]
    if len(ordered) > CONNECTORS_LISTED:
        lines.append(f"and {len(ordered) - CONNECTORS_LISTED} more connectors")
    return [_section(part) for part in _pack(lines)]


def _conversations_suffix(card: BotCard, connector: Connector) -> str:
    text = card.conversations_of(connector.bot_user)
    return f" · {text}" if text is not None else ""


def _conversations(card: BotCard) -> list[JSONDict]:
    """The conversations at stake (Agent Metrics): the total, what was lost, the flags."""
    lines = card.conversation_lines(lambda user: code(user, USER))
    return [_section(part) for part in _pack(lines)]


def _pack(lines: list[str]) -> list[str]:
    parts: list[str] = []
    current = ""
    for line in lines:
        if current and len(current) + 1 + len(line) > MAX_SECTION_TEXT:
            parts.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        parts.append(current)
    return parts


def _about(bot: Bot | BotCard) -> str:
    kind = BotKind.PCS.label if bot.kind == BotKind.PCS.value else BotKind.CUSTOM.label
    try:
        environment = Environment(bot.environment).label
    except ValueError:
        environment = escape_within(bot.environment, 40)
    return f"{kind} bot · {environment} · id {code(bot.id, 100)}"


def _buttons(card: BotCard, pcs_count: int) -> list[JSONDict]:
    """Start when a connector is not Online, Stop when one is not stopped (whole bot)."""
    buttons = []
    statuses = {c.connector for c in card.connectors}
    if statuses - {"Online"}:
        buttons.append(start_button(card, pcs_count=pcs_count))
    if statuses - {"Stopped", "Ready to Start"}:
        buttons.append(stop_button(card, pcs_count=pcs_count))
    return [{"type": "actions", "elements": buttons}] if buttons else []


def reply(fallback: str, text: str) -> JSONDict:
    """A reply to the person who asked: ``text`` is mrkdwn we built, split into sections."""
    sections: list[str] = []
    current = ""
    for line in text.split("\n"):
        line = truncate(line, MAX_SECTION_TEXT)
        if current and len(current) + 1 + len(line) > MAX_SECTION_TEXT:
            sections.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        sections.append(current)
    return _message(escape(one_line(fallback)), [_section(part) for part in sections])


# -- one bot -----------------------------------------------------------------------------


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
    statuses, Start/Stop; Acknowledge until ``owner`` owns it, then who does."""
    headline = f"{health.emoji} {_name(bot)} is *{health.label}* since {date_token(since)}"
    if was is not None and was is not health:
        headline += f" (was {was.label})"
    which = concerned(bot)
    if which:
        headline += f": {which}"
    blocks = [
        *_headline(headline, owner, bot.id),
        *_facts(bot),
        *_conversations(bot),
        *_buttons(bot, pcs_count),
    ]
    context = [_about(bot)]
    if note:
        context.append(note)
    blocks.append(_context(*context))
    fallback = f"{_plain_name(bot.name)} is {health.label}"
    if health is Health.DEGRADED:
        fallback += f": {concerned(bot, plain=True)}"
    return _message(fallback, blocks)


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
        f":white_check_mark: {_name(bot)} was *{incident_health.label}* for {duration} "
        f"(from {date_token(since)} to {date_token(at)}): {how}."
    )
    owned_by = [ownership(owner, over=True)] if owner is not None else []
    blocks = [_section(headline), *owned_by, *_facts(bot), _context(_about(bot))]
    return _message(f"Resolved: {_plain_name(bot.name)} {how}", blocks)


def recovered_reply(
    bot: Bot | BotCard,
    incident_health: Health,
    since: datetime,
    at: datetime,
    owner: Owner | None = None,
) -> JSONDict:
    duration = format_duration(max(at - since, timedelta(0)))
    text = (
        f"{Health.OK.emoji} {_name(bot)} is *OK* again since {date_token(at)}, "
        f"after {duration} {incident_health.label}."
    )
    if owner is not None:
        text += f" {mention(owner.user_id)} had acknowledged it."
    return _message(f"{_plain_name(bot.name)} is OK again", [_section(text)])


def changed_reply(
    bot: BotCard, health: Health, was: Health, since: datetime, owner: Owner | None = None
) -> JSONDict:
    """A change within an outage (Degraded to Down); the owner, if any, keeps it and is told."""
    text = (
        f"{health.emoji} {_name(bot)} is now *{health.label}* (was {was.label}) "
        f"since {date_token(since)}."
    )
    which = concerned(bot)
    if which:
        text += f" {which}."
    if owner is not None:
        text += (
            f"\n{mention(owner.user_id)}: you acknowledged it {date_token(owner.since)} and "
            "still own it."
        )
    return _message(f"{_plain_name(bot.name)} is now {health.label}", [_section(text)])


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
    text = f"{emoji} {_name(bot)} was {verb}{_performer(performed_by)} at {date_token(at)}."
    context = "A manual operation, not an outage: no alert follows unless it fails to get there."
    fallback = f"{_plain_name(bot.name)} was {verb}{_performer(performed_by)}"
    return _message(fallback, [_section(text), _context(context)])


def manual_resolution(operation: str | None, performed_by: str | None) -> str:
    verb, _ = _manual_words(operation)
    return f"{verb}{_performer(performed_by)}"


def flapping(
    bot: BotCard, health: Health, since: datetime, changes: int, window: timedelta
) -> JSONDict:
    text = (
        f":warning: {_name(bot)} is *flapping*: {changes} health changes since "
        f"{date_token(since)}, now {health.emoji} {health.label}."
    )
    context = (
        f"No more alerts for it until it holds one health for {format_duration(window)}; "
        "then one message says where it settled."
    )
    return _message(
        f"{_plain_name(bot.name)} is flapping", [_section(text), *_facts(bot), _context(context)]
    )


def flapping_over(
    bot: Bot | BotCard, health: Health, since: datetime, at: datetime, how: str
) -> JSONDict:
    """What a flapping message becomes when the episode ends."""
    text = (
        f":white_check_mark: {_name(bot)} flapped from {date_token(since)} to {date_token(at)}; "
        f"{how}, now {health.emoji} {health.label}."
    )
    return _message(f"{_plain_name(bot.name)} stopped flapping", [_section(text)])


def reminder(bot: Bot | BotCard, health: Health, since: datetime, now: datetime) -> JSONDict:
    text = (
        f":alarm_clock: Still {health.emoji} *{health.label}*: {_name(bot)} since "
        f"{date_token(since)} ({age(now, since)})."
    )
    return _message(f"Still {health.label}: {_plain_name(bot.name)}", [_section(text)])


# -- many bots at once -------------------------------------------------------------------


def _group_title(item: DigestItem) -> tuple[int, str, str]:
    """(sort key, emoji, title) of the group an item is counted in; problems first."""
    if item.group in ("problem", "settled"):
        return item.health.severity, item.health.emoji, item.health.label
    order = list(_GROUP_TITLES)
    emoji, title = _GROUP_TITLES.get(item.group, (":grey_question:", item.group))
    rank = order.index(item.group) if item.group in order else len(order)
    return 100 + rank, emoji, title


def digest(items: Sequence[DigestItem], at: datetime, *, acknowledge: bool = False) -> JSONDict:
    """Many alerts of one poll for one channel: counts per group, then the names;
    ``acknowledge``: the digest opens outages, and has an Acknowledge button for them."""
    groups: dict[tuple[int, str, str], list[str]] = {}
    for item in items:
        name = item.bot_name
        if item.connectors > 1 and item.group in ("problem", "settled"):
            name = f"{name} ({item.connectors_down} of {item.connectors} connectors)"
        groups.setdefault(_group_title(item), []).append(name)
    ordered = sorted(groups.items())
    total = len(items)
    counts = "   ".join(f"{emoji} *{len(names):,}* {title}" for (_, emoji, title), names in ordered)
    connectors = sum(item.connectors_down for item in items if item.group in ("problem", "settled"))
    heading = f":rotating_light: *{total:,} bot alerts* at {date_token(at)}"
    if connectors:
        heading += f", {connectors:,} connectors not OK"
    blocks = _headline(f"{heading}\n{counts}", None, "digest" if acknowledge else None)
    listed = 0
    for (_, emoji, title), names in ordered:
        room = min(DIGEST_NAMES_PER_GROUP, DIGEST_NAMES_TOTAL - listed)
        shown = sorted(names, key=str.casefold)[: max(room, 0)]
        listed += len(shown)
        line = ", ".join(escape_within(name, 80) for name in shown)
        more = len(names) - len(shown)
        if more:
            line = f"{line} and {more:,} more" if line else f"{more:,} bots"
        text = f"{emoji} *{title}* ({len(names):,})\n{line}"
        if len(text) > MAX_SECTION_TEXT:
            text = truncate(text, MAX_SECTION_TEXT)
        blocks.append(_section(text))
        if len(blocks) >= MAX_BLOCKS["message"] - 1:
            break
    blocks.append(
        _context("`/botstatus problems` lists every problem bot; replies in this thread follow up.")
    )
    parts = ", ".join(f"{len(names):,} {title}" for (_, _, title), names in ordered)
    return _message(f"{total:,} bot alerts: {parts}", blocks)


def digest_resolved(
    original: Mapping[str, Any], count: int, at: datetime, owner: Owner | None = None
) -> JSONDict:
    """A digest whose every bot is resolved: the original with a banner on top, without its
    Acknowledge button, saying who had acknowledged it."""
    banner = _context(
        f":white_check_mark: All {count:,} bots of this digest resolved by {date_token(at)}."
    )
    kept = owned(original, owner, over=True)["blocks"]
    blocks = [banner, *kept[: MAX_BLOCKS["message"] - 1]]
    return _message(f"Resolved: {original.get('text', '')}", blocks)


def digest_reminder(
    open_counts: Mapping[Health, int], opened_at: datetime, now: datetime
) -> JSONDict:
    still = sum(open_counts.values())
    parts = "   ".join(
        f"{health.emoji} *{count:,}* {health.label}"
        for health, count in sorted(open_counts.items(), key=lambda pair: pair[0].severity)
    )
    text = (
        f":alarm_clock: Still open: *{still:,}* bots of this digest, since "
        f"{date_token(opened_at)} ({age(now, opened_at)}).\n{parts}"
    )
    return _message(f"Still open: {still:,} bots", [_section(text)])


def health_counts(healths: Sequence[Health]) -> Counter[Health]:
    return Counter(healths)


# -- the status source -------------------------------------------------------------------


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
    error_text = code(error, ERROR_TEXT) if error else "(no error text)"
    text = (
        f":rotating_light: *The status source is unreachable*: {failed_polls} polls in a row "
        f"failed.\nLast error: {error_text}\n{freshness}"
    )
    context = "No bot alerts as down because of this; they are judged again once polls succeed."
    blocks = [*_headline(text, None, "source"), _context(context)]
    return _message("The status source is unreachable", blocks)


def source_reminder(since: datetime, now: datetime) -> JSONDict:
    text = (
        f":alarm_clock: The status source is still unreachable, since {date_token(since)} "
        f"({age(now, since)})."
    )
    return _message("The status source is still unreachable", [_section(text)])


def source_recovered_update(
    since: datetime, at: datetime, error: str | None, owner: Owner | None = None
) -> JSONDict:
    duration = format_duration(max(at - since, timedelta(0)))
    text = (
        f":white_check_mark: The status source was unreachable for {duration} "
        f"(from {date_token(since)} to {date_token(at)}); polls succeed again."
    )
    blocks = [_section(text)]
    if owner is not None:
        blocks.append(ownership(owner, over=True))
    if error:
        blocks.append(_context(f"Last error was {code(error, ERROR_TEXT)}"))
    return _message("The status source is reachable again", blocks)


def source_recovered_reply(since: datetime, at: datetime) -> JSONDict:
    duration = format_duration(max(at - since, timedelta(0)))
    text = f":large_green_circle: Polls succeed again after {duration}; statuses are fresh."
    return _message("The status source is reachable again", [_section(text)])


# -- mutes -------------------------------------------------------------------------------


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
    return _message(
        f"Alerts muted for {escape(one_line(target)[:200])}", [_section(text), _context(context)]
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
    blocks = [_section(text)]
    if still_in_trouble:
        shown = still_in_trouble[:20]
        lines = [
            f"{health.emoji} {escape_within(name, 80)}: {health.label}" for name, health in shown
        ]
        more = len(still_in_trouble) - len(shown)
        if more:
            lines.append(f"and {more:,} more")
        blocks.append(_section("*Still not OK:*\n" + "\n".join(lines)))
    return _message(f"Alerts for {escape(one_line(target)[:200])} are back on", blocks)


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
    return _message(f"Alerts for {escape(one_line(target)[:200])} are back on", [_section(text)])


# -- acknowledgements --------------------------------------------------------------------


def acknowledged_reply(owner: Owner, subject: str | None = None) -> JSONDict:
    """In the alert's thread: who took it. ``subject`` names the bot or bots when the thread
    is a digest's (None: the alert itself)."""
    what = f"acknowledged {subject}" if subject else "acknowledged this alert"
    text = (
        f":eyes: {mention(owner.user_id)} {what} at {date_token(owner.since)}. No reminders "
        "while it is acknowledged."
    )
    return _message(f"Acknowledged by {owner.user_id}", [_section(text)])


def released_reply(by: str, owner: Owner, subject: str | None, at: datetime) -> JSONDict:
    """In the alert's thread: ``by`` released the acknowledgement ``owner`` held."""
    what = f" of {subject}" if subject else ""
    held = "their" if by == owner.user_id else f"{mention(owner.user_id)}'s"
    text = (
        f":raised_hand: {mention(by)} released {held} acknowledgement{what} "
        f"(since {date_token(owner.since)}) at {date_token(at)}. Reminders resume."
    )
    return _message(f"Acknowledgement released by {by}", [_section(text)])


def bot_subject(bot: Bot | BotCard) -> str:
    """A bot as the subject of a reply in a digest's thread."""
    return _name(bot)
