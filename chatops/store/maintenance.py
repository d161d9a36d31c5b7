"""Queries of maintenance windows (``maintenance_window``) and of what their end needs.

Claims are compare-and-set updates checked by their row count, so that a start or an end is
announced once whichever replica, or how many, run the same step; an occurrence of a
recurring window is inserted with ``ON CONFLICT DO NOTHING`` on its (schedule key, start).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.store.engine import dialect_insert
from chatops.store.maintenance_models import MaintenanceWindow
from chatops.store.models import TransitionRecord
from chatops.store.tables import ALERT_STATE, table_of

WINDOW = table_of(MaintenanceWindow)


def _not_cancelled() -> sa.ColumnElement[bool]:
    return col(MaintenanceWindow.cancelled_at).is_(None)


async def in_force(session: AsyncSession, now: datetime) -> list[MaintenanceWindow]:
    """Windows that have begun and not ended or been cancelled, the soonest to end first."""
    result = await session.exec(
        select(MaintenanceWindow)
        .where(
            col(MaintenanceWindow.starts_at) <= now,
            col(MaintenanceWindow.ends_at) > now,
            _not_cancelled(),
        )
        .order_by(col(MaintenanceWindow.ends_at), col(MaintenanceWindow.id))
    )
    return list(result.all())


async def current_and_coming(session: AsyncSession, now: datetime) -> list[MaintenanceWindow]:
    """Windows in force or still to come, the soonest to start first."""
    result = await session.exec(
        select(MaintenanceWindow)
        .where(col(MaintenanceWindow.ends_at) > now, _not_cancelled())
        .order_by(col(MaintenanceWindow.starts_at), col(MaintenanceWindow.id))
    )
    return list(result.all())


async def add(session: AsyncSession, window: MaintenanceWindow) -> MaintenanceWindow:
    session.add(window)
    await session.commit()
    await session.refresh(window)
    return window


async def cancel(session: AsyncSession, window_id: int, user_id: str, now: datetime) -> bool:
    """Cancel a window that has neither ended nor been cancelled; whether this did it."""
    connection = await session.connection()
    result = await connection.execute(
        sa.update(WINDOW)
        .where(
            WINDOW.c.id == window_id,
            WINDOW.c.cancelled_at.is_(None),
            WINDOW.c.ended_at.is_(None),
            WINDOW.c.ends_at > now,
        )
        .values(cancelled_at=now, cancelled_by=user_id[:64])
    )
    await session.commit()
    return bool(result.rowcount == 1)


async def schedule(session: AsyncSession, rows: Sequence[dict[str, object]]) -> None:
    """Insert occurrences of recurring windows that are not stored yet (by key and start)."""
    if not rows:
        return
    connection = await session.connection()
    insert = dialect_insert(connection.dialect.name, WINDOW)
    await connection.execute(
        insert.values(list(rows)).on_conflict_do_nothing(
            index_elements=[WINDOW.c.schedule_key, WINDOW.c.starts_at]
        )
    )


async def unschedule(session: AsyncSession, keep: Iterable[str], now: datetime) -> None:
    """Cancel occurrences yet to start of recurring windows the config no longer has."""
    connection = await session.connection()
    await connection.execute(
        sa.update(WINDOW)
        .where(
            WINDOW.c.schedule_key.is_not(None),
            WINDOW.c.schedule_key.not_in(list(keep)),
            WINDOW.c.starts_at > now,
            WINDOW.c.cancelled_at.is_(None),
        )
        .values(cancelled_at=now, cancelled_by="config")
    )


async def to_announce(session: AsyncSession, now: datetime) -> list[MaintenanceWindow]:
    """Windows whose start or end is due and not yet announced, oldest first."""
    result = await session.exec(
        select(MaintenanceWindow)
        .where(
            col(MaintenanceWindow.ended_at).is_(None),
            sa.or_(
                sa.and_(
                    col(MaintenanceWindow.started_at).is_(None),
                    col(MaintenanceWindow.starts_at) <= now,
                ),
                sa.and_(
                    col(MaintenanceWindow.started_at).is_not(None),
                    sa.or_(
                        col(MaintenanceWindow.ends_at) <= now,
                        col(MaintenanceWindow.cancelled_at).is_not(None),
                    ),
                ),
                sa.and_(
                    col(MaintenanceWindow.started_at).is_(None),
                    col(MaintenanceWindow.cancelled_at).is_not(None),
                ),
            ),
        )
        .order_by(col(MaintenanceWindow.starts_at), col(MaintenanceWindow.id))
    )
    return list(result.all())


async def claim_start(session: AsyncSession, window_id: int, now: datetime, channels: str) -> bool:
    """Mark the start announced (in ``channels``); False when someone else did first."""
    connection = await session.connection()
    result = await connection.execute(
        sa.update(WINDOW)
        .where(WINDOW.c.id == window_id, WINDOW.c.started_at.is_(None))
        .values(started_at=now, channels=channels)
    )
    return bool(result.rowcount == 1)


async def claim_end(session: AsyncSession, window_id: int, now: datetime) -> bool:
    """Mark the end handled; False when someone else did first."""
    connection = await session.connection()
    result = await connection.execute(
        sa.update(WINDOW)
        .where(WINDOW.c.id == window_id, WINDOW.c.ended_at.is_(None))
        .values(ended_at=now)
    )
    return bool(result.rowcount == 1)


async def link_incident(session: AsyncSession, bot_id: str, incident_id: int) -> None:
    """The bot's policy state now points at the outage opened for it."""
    connection = await session.connection()
    await connection.execute(
        sa.update(ALERT_STATE).where(ALERT_STATE.c.bot_id == bot_id).values(incident_id=incident_id)
    )


async def changed_between(
    session: AsyncSession, bot_ids: Sequence[str], start: datetime, end: datetime
) -> set[str]:
    """Which of these bots had a status transition from ``start`` to ``end``."""
    if not bot_ids:
        return set()
    result = await session.exec(
        select(TransitionRecord.bot_id)
        .where(
            col(TransitionRecord.bot_id).in_(list(bot_ids)),
            col(TransitionRecord.at) >= start,
            col(TransitionRecord.at) <= end,
        )
        .distinct()
    )
    return set(result.all())
