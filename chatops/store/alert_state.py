"""The alert policy's stored state: one ``alert_bot_state`` row per bot, read and written
in bulk (ORM objects cost too much at 10,000 bots).

The planner (chatops.alerts.planner) reads the rows of the bots it observes, the pure plan
(chatops.alerts.plan) changes them in memory, and ``save_state_rows`` writes the new and
changed ones in the poll's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.domain import ManualOperation
from chatops.store.tables import ALERT_STATE, BOT, chunks

# The planner's batches: small enough for SQLite's and asyncpg's parameter caps.
_CHUNK = 500


@dataclass(slots=True)
class StateRow:
    """A bot's ``alert_bot_state`` row; ``new`` and ``dirty`` say what ``save`` writes."""

    bot_id: str
    state: str
    pending: bool
    manual_key: str | None
    incident_id: int | None
    flapping_id: int | None
    new: bool = False
    dirty: bool = False


@dataclass(frozen=True, slots=True)
class StoredBot:
    """A listed bot's stored roll-up, as the policy re-observes it without a change."""

    bot_id: str
    name: str
    kind: str
    environment: str
    health: str
    manual: ManualOperation | None


async def pending_bot_ids(session: AsyncSession) -> set[str]:
    """The bots whose policy state has something pending (observed at every poll)."""
    connection = await session.connection()
    result = await connection.execute(
        sa.select(ALERT_STATE.c.bot_id).where(ALERT_STATE.c.pending.is_(True))
    )
    return set(result.scalars())


async def stored_bots(session: AsyncSession, ids: Iterable[str]) -> list[StoredBot]:
    """The listed (not removed) bots among ``ids``, with their stored health."""
    connection = await session.connection()
    found: list[StoredBot] = []
    for part in chunks(sorted(ids), _CHUNK):
        result = await connection.execute(
            sa.select(
                BOT.c.id,
                BOT.c.name,
                BOT.c.kind,
                BOT.c.environment,
                BOT.c.health,
                BOT.c.manual_operation,
                BOT.c.manual_by,
                BOT.c.manual_at,
            ).where(BOT.c.id.in_(part), BOT.c.removed_at.is_(None))
        )
        for bot_id, name, kind, environment, health, operation, by, at in result:
            manual = ManualOperation(operation, by, at) if operation else None
            found.append(StoredBot(bot_id, name, kind, environment, health, manual))
    return found


async def state_rows(session: AsyncSession, ids: Iterable[str]) -> dict[str, StateRow]:
    """The stored policy state rows of these bots, by bot id (absent: never observed)."""
    connection = await session.connection()
    stored: dict[str, StateRow] = {}
    for part in chunks(sorted(ids), _CHUNK):
        result = await connection.execute(
            sa.select(
                ALERT_STATE.c.bot_id,
                ALERT_STATE.c.state,
                ALERT_STATE.c.pending,
                ALERT_STATE.c.manual_key,
                ALERT_STATE.c.incident_id,
                ALERT_STATE.c.flapping_id,
            ).where(ALERT_STATE.c.bot_id.in_(part))
        )
        for bot_id, state, pending, key, incident_id, flapping_id in result:
            stored[bot_id] = StateRow(bot_id, state, pending, key, incident_id, flapping_id)
    return stored


async def save_state_rows(session: AsyncSession, rows: Sequence[StateRow], now: datetime) -> None:
    """Insert the new rows and update the changed ones; the others are left alone."""
    connection = await session.connection()
    inserts = [{"bot_id": row.bot_id, **_values(row, now)} for row in rows if row.new]
    updates = [
        {"key": row.bot_id, **_values(row, now)} for row in rows if row.dirty and not row.new
    ]
    if inserts:
        await connection.execute(sa.insert(ALERT_STATE), inserts)
    if updates:
        await connection.execute(
            sa.update(ALERT_STATE)
            .where(ALERT_STATE.c.bot_id == sa.bindparam("key"))
            .values(
                state=sa.bindparam("state"),
                pending=sa.bindparam("pending"),
                manual_key=sa.bindparam("manual_key"),
                incident_id=sa.bindparam("incident_id"),
                flapping_id=sa.bindparam("flapping_id"),
                updated_at=sa.bindparam("updated_at"),
            ),
            updates,
        )


def _values(row: StateRow, now: datetime) -> dict[str, object]:
    return {
        "state": row.state,
        "pending": row.pending,
        "manual_key": row.manual_key,
        "incident_id": row.incident_id,
        "flapping_id": row.flapping_id,
        "updated_at": now,
    }
