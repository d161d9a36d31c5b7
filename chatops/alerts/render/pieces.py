"""The pieces every alert message is made of: names, statuses, what is wrong with which
connectors, the facts and buttons of one bot, the headline with its Acknowledge button or
its owner, and the finished message checked against Slack's limits."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from chatops.blockkit.controls import ACTION_ACK, ack_button, bot_buttons
from chatops.blockkit.kit import pack
from chatops.blockkit.limits import MAX_BLOCKS, MAX_MESSAGE_TEXT, violations
from chatops.blockkit.rows import status_text
from chatops.blockkit.text import (
    code,
    date_token,
    escape,
    escape_within,
    mention,
    one_line,
    truncate,
)
from chatops.domain import BotKind, Environment, Health
from chatops.jsontypes import JSONDict
from chatops.store.acks import Owner
from chatops.store.cards import BotCard
from chatops.store.fleet_rows import BotRecord, ConnectorRecord

NAME: Final = 150


RAW: Final = 80


ERROR_TEXT: Final = 400


# An alert lists at most this many connectors (problems first); the rest are counted.
CONNECTORS_LISTED: Final = 20


# The headline and fallback name at most this many connectors concerned.
CONNECTORS_NAMED: Final = 3


USER: Final = 80


def md_section(text: str) -> JSONDict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 3000)}}


def headline(text: str, owner: Owner | None, ack_value: str | None) -> list[JSONDict]:
    """The headline section, with Acknowledge beside it while nobody owns the incident, or
    followed by who owns it."""
    section = md_section(text)
    if owner is not None:
        return [section, ownership(owner)]
    if ack_value is not None:
        section["accessory"] = ack_button(ack_value)
    return [section]


def ownership(owner: Owner, *, over: bool = False) -> JSONDict:
    """``Acknowledged by @alice since 12:03``; once the incident is over, ``... at 12:03``."""
    when = "at" if over else "since"
    return md_context(
        f":eyes: Acknowledged by {mention(owner.user_id)} {when} {date_token(owner.since)}"
    )


def owned(message: Mapping[str, Any], owner: Owner | None, *, over: bool = False) -> JSONDict:
    """An alert we rendered, without its Acknowledge button, and with who owns it (``owner``)
    under its first block. Used for messages that are kept rather than rendered again (a
    digest)."""
    blocks = [_without_ack(block) for block in message.get("blocks", [])]
    if owner is not None and not any(_is_ownership(block) for block in blocks):
        blocks.insert(1, ownership(owner, over=over))
    return alert_message(str(message.get("text", "")), blocks)


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


def md_context(*texts: str) -> JSONDict:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": truncate(t, 3000)} for t in texts],
    }


def alert_message(text: str, blocks: list[JSONDict]) -> JSONDict:
    message = {"text": truncate(text, MAX_MESSAGE_TEXT), "blocks": blocks[: MAX_BLOCKS["message"]]}
    problems = violations(message, surface="message")
    if problems:  # a renderer bug; the relay would only get msg_too_long/invalid_blocks
        raise AssertionError("alert message breaks Slack's limits: " + "; ".join(problems))
    return message


def bold_name(bot: BotRecord | BotCard) -> str:
    return f"*{escape_within(bot.name, NAME)}*"


def plain_name(name: str) -> str:
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


def _statuses(connector: ConnectorRecord) -> tuple[tuple[str, str, str, datetime], ...]:
    return (
        ("connector", connector.connector, connector.raw_connector, connector.connector_since),
        ("cloud", connector.cloud, connector.raw_cloud, connector.cloud_since),
        ("server", connector.server, connector.raw_server, connector.server_since),
    )


def _user(connector: ConnectorRecord) -> str:
    return code(connector.bot_user, USER)


def _what_is_wrong(connector: ConnectorRecord, *, plain: bool = False) -> str:
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


def facts_blocks(card: BotCard) -> list[JSONDict]:
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
    return [md_section(part) for part in pack(lines)]


def _conversations_suffix(card: BotCard, connector: ConnectorRecord) -> str:
    text = card.conversations_of(connector.bot_user)
    return f" · {text}" if text is not None else ""


def conversation_blocks(card: BotCard) -> list[JSONDict]:
    """The conversations at stake (Agent Metrics): the total, what was lost, the flags."""
    lines = card.conversation_lines(lambda user: code(user, USER))
    return [md_section(part) for part in pack(lines)]


def about_line(bot: BotRecord | BotCard) -> str:
    kind = BotKind.PCS.label if bot.kind == BotKind.PCS.value else BotKind.CUSTOM.label
    try:
        environment = Environment(bot.environment).label
    except ValueError:
        environment = escape_within(bot.environment, 40)
    return f"{kind} bot · {environment} · id {code(bot.id, 100)}"


def action_buttons(card: BotCard, pcs_count: int) -> list[JSONDict]:
    """Start when a connector is not Online; Stop and Restart when one is not stopped (whole
    bot, each behind the confirm dialog of a bot's details). An alert is seen by the whole
    channel, so it carries every one that makes sense: the click re-checks permissions."""
    buttons = bot_buttons(card, can_start=True, can_stop=True, pcs_count=pcs_count)
    return [{"type": "actions", "elements": buttons}] if buttons else []


def reply(fallback: str, text: str) -> JSONDict:
    """A reply to the person who asked: ``text`` is mrkdwn we built, split into sections."""
    sections = pack(text.split("\n"))
    return alert_message(escape(one_line(fallback)), [md_section(part) for part in sections])
