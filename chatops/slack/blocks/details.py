"""``/botstatus <query>``: each matching bot in detail, every connector with its statuses,
its last manual operation and its own Start / Stop / Restart."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Final

from chatops.blockkit import kit
from chatops.blockkit.controls import bot_buttons, connector_buttons
from chatops.blockkit.limits import MAX_BLOCKS
from chatops.blockkit.rows import (
    DETAIL_NAME,
    RAW_IN_DETAIL,
    RAW_IN_LIST,
    bot_health,
    connectors_text,
    dimension_statuses,
    is_pcs,
    label,
    status_text,
)
from chatops.blockkit.text import (
    age,
    code,
    date_token,
    escape,
    escape_within,
    one_line,
    plural,
    truncate,
)
from chatops.domain import BotKind, Channel, Environment
from chatops.domain.globs import glob_matches
from chatops.jsontypes import JSONDict
from chatops.slack import grammar
from chatops.slack.blocks.fleet import problem_first
from chatops.slack.blocks.footer import footer_actions
from chatops.store.cards import BotCard
from chatops.store.fleet_rows import BotRecord, ConnectorRecord

# A bot with one connector is three blocks (section with fields, buttons, divider); one
# with several adds two per connector (section, buttons), as many as the message holds.
MAX_DETAILED_BOTS: Final = 10


def bot_details(
    bots: Sequence[BotCard],
    now: datetime,
    *,
    query: str,
    can_start: Callable[[BotCard], bool],
    can_stop: Callable[[BotCard], bool],
    pcs_count: int,
    suggestion: str | None = None,
    shareable: bool = True,
    notes: Mapping[str, str] | None = None,
) -> JSONDict:
    """``/botstatus <query>``: each matching bot in detail, every connector with its own
    Start/Stop/Restart, and the bot-level ones, where permitted and where they make sense.

    ``bots`` are the matches the user may see; ``pcs_count`` is how many survey bots share
    the PCS connector, named in the PCS confirm dialogs; ``notes`` (by bot id) add a line
    under a bot's health, such as the maintenance window it is in; ``suggestion`` is offered when
    nothing matched (``grammar.suggest`` over bot names). The most urgent bots come first,
    as many as the message's blocks hold (at most ``MAX_DETAILED_BOTS``); a bot with more
    connectors than fit lists the rest one line each, and the connectors the query names
    come first, so ``/botstatus <bot user>`` always shows that one with its buttons.
    """
    shown_query = code(query, 100)
    if not bots:
        lines = [f"No bot matches {shown_query}."]
        if suggestion:
            lines.append(f"Did you mean {code('/botstatus ' + suggestion, 200)}?")
        lines.append("`/botstatus help` lists what I understand.")
        return kit.message(
            f"No bot matches {escape_within(query, 100)}.", [kit.section("\n".join(lines))]
        )
    ordered = problem_first(bots)
    footer = footer_actions(grammar.Query(query), shareable=shareable)
    # One block stays free for the "N bots match" line above the bots.
    budget = MAX_BLOCKS["message"] - len(footer) - 1
    body: list[JSONDict] = []
    shown: list[BotCard] = []
    for bot in ordered[:MAX_DETAILED_BOTS]:
        rendered = _detail_blocks(
            bot,
            now,
            query=query,
            can_start=can_start(bot),
            can_stop=can_stop(bot),
            pcs_count=pcs_count,
            budget=budget - len(body),
            note=(notes or {}).get(bot.id),
        )
        if rendered is None:
            break
        body += rendered
        shown.append(bot)
    blocks: list[JSONDict] = []
    if len(bots) > len(shown):
        blocks.append(
            kit.context(
                f"{len(bots):,} bots match {shown_query}; the {len(shown)} most urgent are "
                "shown. Narrow the query, or page through every bot with `/botstatus all`."
            )
        )
    blocks += body + footer
    first = shown[0]
    fallback = (
        f"{one_line(first.name)[:100]}: {bot_health(first).label}"
        if len(bots) == 1
        else f"{len(bots):,} bots match {one_line(query)[:100]}"
    )
    return kit.message(escape(fallback), blocks)


def _detail_blocks(
    bot: BotCard,
    now: datetime,
    *,
    query: str,
    can_start: bool,
    can_stop: bool,
    pcs_count: int,
    budget: int,
    note: str | None = None,
) -> list[JSONDict] | None:
    """One bot in at most ``budget`` blocks, or None when even its shortest form is more."""
    health = bot_health(bot.bot)
    lines = [
        f"{health.emoji} *{escape_within(bot.name, DETAIL_NAME)}*",
        f"*{health.label}* since {date_token(bot.health_since)} ({age(now, bot.health_since)})"
        f" · {connectors_text(bot)}",
    ]
    if note:
        lines.append(truncate(note, 500))
    if bot.bot.removed_at is not None:
        lines.append(
            f":ghost: No longer listed by the source since {date_token(bot.bot.removed_at)}."
        )
    lines += bot.conversation_lines(lambda user: code(user, 80))
    kind = label(BotKind, bot.kind)
    if is_pcs(bot):
        kind += f" (shares the survey connector with {max(pcs_count, 1):,} survey bots)"
    about = [
        f"*Kind*\n{kind}",
        f"*Channel*\n{label(Channel, bot.channel)}",
        f"*Environment*\n{label(Environment, bot.environment)}",
        f"*Last manual operation*\n{_manual_text(bot)}",
    ]
    buttons = bot_buttons(bot, can_start=can_start, can_stop=can_stop, pcs_count=pcs_count)
    actions = [{"type": "actions", "elements": buttons}] if buttons else []
    if len(bot.connectors) <= 1:
        # One connector (a PCS bot's is the shared survey connector): its statuses are the
        # bot's, and the bot's buttons are its buttons.
        fields = about
        if bot.connectors:
            connector = bot.connectors[0]
            fields = [
                *_status_fields(connector, now),
                f"*Bot user*\n{code(connector.bot_user, 200)}",
                *_conversations_field(bot, connector),
            ]
            fields += about
        blocks = [kit.with_fields(kit.section("\n".join(lines)), fields), *actions, kit.divider()]
        return blocks if len(blocks) <= budget else None
    head = [kit.with_fields(kit.section("\n".join(lines)), about), *actions]
    connectors = _connectors_for(bot, query)
    each = [
        _connector_blocks(bot, c, now, can_start=can_start, can_stop=can_stop) for c in connectors
    ]
    if len(head) + sum(len(blocks) for blocks in each) + 1 <= budget:
        return [*head, *(block for blocks in each for block in blocks), kit.divider()]
    # Not every connector fits with its own blocks: as many as fit, then one line each for
    # the others (one section of them), a note on how to act on one, and the divider.
    room = budget - len(head) - 3
    if room < 0:
        return None
    body: list[JSONDict] = []
    fitted = 0
    for blocks in each:
        if len(body) + len(blocks) > room:
            break
        body += blocks
        fitted += 1
    rest = connectors[fitted:]
    texts = kit.pack(_connector_line(c, now, bot) for c in rest)
    listed = texts[0].count("\n") + 1
    note = f"The {plural(listed, 'connector')} listed one line each have no buttons here"
    if listed < len(rest):
        note += f", and {len(rest) - listed:,} more are not listed"
    note += ": `/botstatus <bot user>` shows that connector first, with its buttons."
    return [*head, *body, kit.section(texts[0]), kit.context(note), kit.divider()]


def _status_fields(connector: ConnectorRecord, now: datetime) -> list[str]:
    return [
        f"*{dimension.label}*\n{status_text(value, raw, raw_limit=RAW_IN_DETAIL)}\n"
        f"since {date_token(since)} ({age(now, since)})"
        for dimension, value, raw, since in dimension_statuses(connector)
    ]


def _connectors_for(bot: BotCard, query: str) -> list[ConnectorRecord]:
    """The bot's connectors in the order shown: those the query names, then the most
    urgent, then by bot user."""
    folded = query.strip().casefold()

    def named(connector: ConnectorRecord) -> bool:
        user = connector.bot_user.casefold()
        return bool(folded) and (user == folded or folded in user or glob_matches(folded, user))

    return sorted(
        bot.connectors,
        key=lambda c: (not named(c), bot_health(c).severity, c.bot_user),
    )


def _connector_blocks(
    bot: BotCard, connector: ConnectorRecord, now: datetime, *, can_start: bool, can_stop: bool
) -> list[JSONDict]:
    """A connector of a bot with several: its statuses, last manual operation and buttons."""
    health = bot_health(connector)
    text = (
        f"{health.emoji} {code(connector.bot_user, 200)} *{health.label}* for "
        f"{age(now, connector.health_since)}"
    )
    fields = [
        *_status_fields(connector, now),
        f"*Last manual operation*\n{_manual_text(connector)}",
        *_conversations_field(bot, connector),
    ]
    blocks = [kit.with_fields(kit.section(text), fields)]
    buttons = connector_buttons(bot, connector, can_start=can_start, can_stop=can_stop)
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return blocks


def _conversations_field(bot: BotCard, connector: ConnectorRecord) -> list[str]:
    """The connector's open conversations as a field (none when they are not read)."""
    text = bot.conversations_of(connector.bot_user)
    return [] if text is None else [f"*Conversations*\n{text}"]


def _connector_line(connector: ConnectorRecord, now: datetime, bot: BotCard) -> str:
    """A connector of a bot on one line: health, bot user, its three statuses, since when,
    and its open conversations when they are read."""
    health = bot_health(connector)
    statuses = " / ".join(
        status_text(value, raw, raw_limit=RAW_IN_LIST)
        for _, value, raw, _ in dimension_statuses(connector)
    )
    conversations = bot.conversations_of(connector.bot_user)
    return (
        f"{health.emoji} {code(connector.bot_user, 80)} {health.label} for "
        f"{age(now, connector.health_since)} · {statuses}"
        + (f" · {conversations}" if conversations is not None else "")
    )


def _manual_text(row: BotRecord | BotCard | ConnectorRecord) -> str:
    if not row.manual_operation:
        return "None recorded"
    text = escape_within(row.manual_operation.capitalize(), 20)
    if row.manual_by:
        text += f" by {escape_within(row.manual_by, 100)}"
    if row.manual_at is not None:
        text += f"\n{date_token(row.manual_at)}"
    return text
