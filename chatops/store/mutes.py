"""Mutes and their exceptions: who silenced which bots until when, and the unmutes cut from
a wider mute. What a mute silences is decided in chatops.alerts.routing; the caller owns
the transaction (``add_mute`` and the announcement claims excepted: see each)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.store.alert_models import AlertMute, AlertMuteException
from chatops.store.tables import MUTE, MUTE_EXCEPTION

MuteWithExceptions = tuple[AlertMute, list[AlertMuteException]]


def _active(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(col(AlertMute.ended_at).is_(None), col(AlertMute.expires_at) > now)


async def exceptions_of(
    session: AsyncSession, mute_ids: Sequence[int]
) -> dict[int, list[AlertMuteException]]:
    """The exceptions cut from each of these mutes, oldest first."""
    exceptions: dict[int, list[AlertMuteException]] = {}
    if mute_ids:
        found = await session.exec(
            select(AlertMuteException)
            .where(col(AlertMuteException.mute_id).in_(mute_ids))
            .order_by(col(AlertMuteException.id))
        )
        for exception in found.all():
            exceptions.setdefault(exception.mute_id, []).append(exception)
    return exceptions


async def active_mutes(session: AsyncSession, now: datetime) -> list[MuteWithExceptions]:
    """Active mutes with their exceptions, the soonest to expire first."""
    result = await session.exec(
        select(AlertMute).where(_active(now)).order_by(col(AlertMute.expires_at), col(AlertMute.id))
    )
    rows = list(result.all())
    exceptions = await exceptions_of(session, [row.id for row in rows if row.id is not None])
    return [(row, exceptions.get(row.id or 0, [])) for row in rows]


async def add_mute(session: AsyncSession, mute: AlertMute) -> AlertMute:
    """Store a new mute and commit; it has its id on return."""
    session.add(mute)
    await session.commit()
    await session.refresh(mute)
    return mute


def add_exception(session: AsyncSession, exception: AlertMuteException) -> None:
    """Add an exception to a mute (written with the caller's commit)."""
    session.add(exception)


# -- announcements (chatops.alerts.upkeep) -------------------------------------------------


async def end_expired(session: AsyncSession, now: datetime) -> None:
    """Mutes whose time is up end now."""
    connection = await session.connection()
    await connection.execute(
        sa.update(MUTE)
        .where(MUTE.c.ended_at.is_(None), MUTE.c.expires_at <= now)
        .values(ended_at=now)
    )


async def unannounced(session: AsyncSession) -> list[AlertMute]:
    """Mutes whose start, or whose end, is still to be announced."""
    result = await session.exec(
        select(AlertMute).where(
            sa.or_(
                col(AlertMute.announced_at).is_(None),
                sa.and_(
                    col(AlertMute.ended_at).is_not(None),
                    col(AlertMute.end_announced_at).is_(None),
                ),
            )
        )
    )
    return list(result.all())


async def claim_start_announcement(session: AsyncSession, mute_id: int, now: datetime) -> bool:
    """Mark the mute's start announced; False when someone else did first."""
    return await _claim(session, MUTE, mute_id, "announced_at", now)


async def claim_end_announcement(session: AsyncSession, mute_id: int, now: datetime) -> bool:
    """Mark the mute's end announced; False when someone else did first."""
    return await _claim(session, MUTE, mute_id, "end_announced_at", now)


async def skip_end_announcement(session: AsyncSession, mute_id: int, now: datetime) -> None:
    """A mute that ended before its start was announced: nothing to say of its end either."""
    connection = await session.connection()
    await connection.execute(
        sa.update(MUTE).where(MUTE.c.id == mute_id).values(end_announced_at=now)
    )


async def set_channels(session: AsyncSession, mute_id: int, channels: Sequence[str]) -> None:
    """Where the mute's start was announced (so that its end goes there too)."""
    connection = await session.connection()
    await connection.execute(
        sa.update(MUTE).where(MUTE.c.id == mute_id).values(channels=json.dumps(list(channels)))
    )


async def unannounced_exceptions(session: AsyncSession) -> list[AlertMuteException]:
    result = await session.exec(
        select(AlertMuteException).where(col(AlertMuteException.announced_at).is_(None))
    )
    return list(result.all())


@dataclass(frozen=True, slots=True)
class MuteSummary:
    """What an exception's announcement needs of its mute."""

    id: int
    target: str
    scope: str | None
    created_by: str
    ended_at: datetime | None


async def mute_summaries(session: AsyncSession, mute_ids: Iterable[int]) -> dict[int, MuteSummary]:
    """These mutes' target, scope, author and end, by id."""
    connection = await session.connection()
    rows = await connection.execute(
        sa.select(MUTE.c.id, MUTE.c.target, MUTE.c.scope, MUTE.c.created_by, MUTE.c.ended_at).where(
            MUTE.c.id.in_(set(mute_ids))
        )
    )
    return {row.id: MuteSummary(*row) for row in rows}


async def claim_exception_announcement(
    session: AsyncSession, exception_id: int, now: datetime
) -> bool:
    """Mark the exception announced; False when someone else did first."""
    return await _claim(session, MUTE_EXCEPTION, exception_id, "announced_at", now)


async def _claim(
    session: AsyncSession, table: sa.Table, row_id: int, column: str, now: datetime
) -> bool:
    """Compare-and-set ``column`` from NULL to ``now``: of two replicas, one wins."""
    connection = await session.connection()
    taken = await connection.execute(
        sa.update(table)
        .where(table.c.id == row_id, table.c[column].is_(None))
        .values({column: now})
    )
    return bool(taken.rowcount == 1)
