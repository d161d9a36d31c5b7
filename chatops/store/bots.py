"""Bots: reading bot rows (the roll-up of each bot's connectors) with their connectors.
The caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.domain.conversations import ConversationLimits
from chatops.store.agent_metrics import conversations_for
from chatops.store.cards import BotCard
from chatops.store.models import Bot
from chatops.store.repo import connectors_of
from chatops.store.tables import chunks

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
