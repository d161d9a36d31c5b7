"""Bots: reading bot rows (the roll-up of each bot's connectors), finding them by query or
glob, and bot cards (a bot with its listed connectors). The caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Generic, TypeVar

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.domain import (
    BotKind,
    Environment,
    Health,
)
from chatops.domain.conversations import ConversationLimits
from chatops.domain.globs import glob_regex, is_glob
from chatops.store.agent_metrics import conversations_for
from chatops.store.cards import BotCard
from chatops.store.connectors import connectors_of
from chatops.store.fleet_rows import BotRecord
from chatops.store.models import Bot
from chatops.store.tables import chunks

# Any bot row: the ORM's, or the replies' plain copy (chatops.store.fleet_rows).
B = TypeVar("B", bound=BotRecord)

_SEVERITY = sa.case(
    {health.value: health.severity for health in Health},
    value=col(Bot.health),
    else_=len(Health),
)


def _active(environment: Environment | None) -> sa.ColumnElement[bool]:
    condition: sa.ColumnElement[bool] = col(Bot.removed_at).is_(None)
    if environment is not None:
        condition = sa.and_(condition, col(Bot.environment) == environment.value)
    return condition


class BotIndex(Generic[B]):
    """Bots in order with their folded names, ids and bot users, for repeated ``match_bots``.

    Reading an attribute of an ORM row is slow next to a plain tuple; the Slack surface
    matches every query against one index per poll. ``users`` are each bot's connectors'
    bot users, so that a query can name a connector.
    """

    def __init__(self, bots: Sequence[B], users: Mapping[str, Sequence[str]] | None = None) -> None:
        self.bots = list(bots)
        users = users or {}
        self.rows = [
            (
                bot.id,
                bot.name.casefold(),
                bot.id.casefold(),
                tuple(user.casefold() for user in users.get(bot.id, ())),
                bot,
            )
            for bot in self.bots
        ]


def match_bots(bots: Sequence[B] | BotIndex[B], query: str) -> list[B]:
    """The bots matching ``query``, by the first rule that finds any, in the given order.

    An exact id, then an exact name or bot user (ignoring case), then a glob with ``*`` and
    ``?`` on name, id or bot user (ignoring case), else a case-insensitive substring of the
    name or of a bot user. Pure, so the Slack surface can match against its cached fleet
    without a query per command.
    """
    index = bots if isinstance(bots, BotIndex) else BotIndex(bots)
    query = query.strip()
    if not query:
        return []
    rows = index.rows
    by_id = [bot for bot_id, _, _, _, bot in rows if bot_id == query]
    if by_id:
        return by_id
    folded = query.casefold()
    by_name = [bot for _, name, _, users, bot in rows if name == folded or folded in users]
    if by_name:
        return by_name
    if is_glob(query):
        glob = glob_regex(folded)
        return [
            bot
            for _, name, bot_id, users, bot in rows
            if glob.fullmatch(name)
            or glob.fullmatch(bot_id)
            or any(glob.fullmatch(user) for user in users)
        ]
    return [
        bot
        for _, name, _, users, bot in rows
        if folded in name or any(folded in user for user in users)
    ]


async def find_bots(
    session: AsyncSession, query: str, *, environment: Environment | None = None
) -> list[Bot]:
    """Stored bots matching ``query`` (see ``match_bots``); removed bots never match.

    Problems come first, then by name.
    """
    if not query.strip():
        return []
    return match_bots(await list_bots(session, environment=environment), query)


async def _bots(
    session: AsyncSession,
    condition: sa.ColumnElement[bool],
    *,
    offset: int = 0,
    limit: int | None = None,
) -> list[Bot]:
    statement = (
        select(Bot)
        .where(condition)
        .order_by(_SEVERITY, col(Bot.name), col(Bot.id))
        .offset(offset)
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def list_bots(
    session: AsyncSession,
    *,
    environment: Environment | None = None,
    problems_only: bool = False,
    offset: int = 0,
    limit: int | None = None,
) -> list[Bot]:
    """Bots the source still lists, problems first (most severe health first), then by name."""
    condition = _active(environment)
    if problems_only:
        condition = sa.and_(condition, col(Bot.health) != Health.OK.value)
    return await _bots(session, condition, offset=offset, limit=limit)


async def count_pcs_bots(session: AsyncSession) -> int:
    """How many survey (PCS) bots share the account's one survey connector."""
    result = await session.exec(
        select(func.count())
        .select_from(Bot)
        .where(col(Bot.kind) == BotKind.PCS.value, col(Bot.removed_at).is_(None))
    )
    return int(result.one())


async def get_bot(session: AsyncSession, bot_id: str) -> Bot | None:
    return await session.get(Bot, bot_id)


async def count_by_health(
    session: AsyncSession, environment: Environment | None = None
) -> dict[Health, int]:
    """How many bots are in each health, every health present (zero when none)."""
    counts = dict.fromkeys(Health, 0)
    result = await session.exec(
        select(Bot.health, func.count()).where(_active(environment)).group_by(col(Bot.health))
    )
    for health, count in result:
        counts[Health(health)] = count
    return counts


async def listed_bots(session: AsyncSession) -> list[Bot]:
    """Every bot the source lists (removed ones left out), in no particular order."""
    result = await session.exec(select(Bot).where(col(Bot.removed_at).is_(None)))
    return list(result.all())


_CHUNK = 500


async def cards_by_id(
    session: AsyncSession, ids: Iterable[str], limits: ConversationLimits | None = None
) -> dict[str, BotCard]:
    """The bots with these ids (removed ones too), each with its listed connectors and
    their conversations (Agent Metrics)."""
    wanted = sorted(set(ids))
    found: dict[str, Bot] = {}
    for part in chunks(wanted, _CHUNK):
        result = await session.exec(select(Bot).where(col(Bot.id).in_(part)))
        found.update((bot.id, bot) for bot in result.all())
    connectors = await connectors_of(session, found)
    conversations = await conversations_for(session, found, limits or ConversationLimits())
    return {
        bot_id: BotCard(bot, tuple(connectors.get(bot_id, ())), conversations.get(bot_id))
        for bot_id, bot in found.items()
    }
