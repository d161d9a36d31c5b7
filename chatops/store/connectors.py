"""Connectors: reading a bot's agent connector rows (listed, or every one it ever had) and
the transitions of their statuses. The caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.store.models import Connector, TransitionRecord
from chatops.store.tables import chunks


async def transitions_for(
    session: AsyncSession, bot_id: str, since: datetime
) -> list[TransitionRecord]:
    """The bot's transitions at or after ``since``, oldest first."""
    result = await session.exec(
        select(TransitionRecord)
        .where(col(TransitionRecord.bot_id) == bot_id, col(TransitionRecord.at) >= since)
        .order_by(col(TransitionRecord.at), col(TransitionRecord.id))
    )
    return list(result.all())


async def connectors_of(
    session: AsyncSession, bot_ids: Iterable[str]
) -> dict[str, list[Connector]]:
    """The listed connectors of each of these bots, in bot user order (no key: none listed)."""
    found: dict[str, list[Connector]] = {}
    for ids in chunks(sorted(set(bot_ids))):
        result = await session.exec(
            select(Connector)
            .where(col(Connector.bot_id).in_(ids), col(Connector.removed_at).is_(None))
            .order_by(col(Connector.bot_id), col(Connector.bot_user))
        )
        for connector in result:
            found.setdefault(connector.bot_id, []).append(connector)
    return found


async def all_connectors(session: AsyncSession) -> dict[str, list[Connector]]:
    """Every listed connector, by bot id, in bot user order."""
    result = await session.exec(
        select(Connector)
        .where(col(Connector.removed_at).is_(None))
        .order_by(col(Connector.bot_id), col(Connector.bot_user))
    )
    found: dict[str, list[Connector]] = {}
    for connector in result:
        found.setdefault(connector.bot_id, []).append(connector)
    return found


async def connectors_ever(session: AsyncSession, bot_id: str) -> list[Connector]:
    """Every connector the bot has had, removed ones included (with ``removed_at``), in bot
    user order: a bot's history needs the connectors it no longer has."""
    result = await session.exec(
        select(Connector).where(col(Connector.bot_id) == bot_id).order_by(col(Connector.bot_user))
    )
    return list(result.all())
