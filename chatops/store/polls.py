"""Poll runs: one row per poll, ok or failed, with what it found. The caller owns the
transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.store.models import PollRun
from chatops.store.tables import POLL_RUN


@dataclass(frozen=True, slots=True)
class LastPoll:
    """The last successful poll: its id and when its data was read."""

    id: int
    finished_at: datetime


async def start_poll(session: AsyncSession, started_at: datetime) -> PollRun:
    """Insert the poll run (not yet ok) and return it with its id."""
    poll = PollRun(started_at=started_at)
    session.add(poll)
    await session.flush()
    return poll


def finish_poll(
    poll: PollRun,
    *,
    finished_at: datetime,
    duration_ms: int,
    ok: bool,
    error: str | None = None,
    permanent: bool = False,
    bots: int = 0,
    connectors: int = 0,
    changed: int = 0,
    transitions: int = 0,
) -> None:
    """Fill in the outcome; the session writes it with the rest of the transaction."""
    poll.finished_at = finished_at
    poll.duration_ms = duration_ms
    poll.ok = ok
    poll.error = error[:2000] if error is not None else None
    poll.permanent = permanent
    poll.bots = bots
    poll.connectors = connectors
    poll.changed = changed
    poll.transitions = transitions


async def record_failed_poll(
    session: AsyncSession,
    *,
    started_at: datetime,
    finished_at: datetime,
    duration_ms: int,
    error: str,
    permanent: bool,
) -> PollRun:
    """One row for a poll that changed nothing because it failed."""
    poll = PollRun(started_at=started_at)
    finish_poll(
        poll,
        finished_at=finished_at,
        duration_ms=duration_ms,
        ok=False,
        error=error,
        permanent=permanent,
    )
    session.add(poll)
    await session.flush()
    return poll


async def last_poll(session: AsyncSession) -> PollRun | None:
    result = await session.exec(select(PollRun).order_by(col(PollRun.id).desc()).limit(1))
    return result.first()


async def last_successful_poll(session: AsyncSession) -> PollRun | None:
    result = await session.exec(
        select(PollRun).where(col(PollRun.ok)).order_by(col(PollRun.id).desc()).limit(1)
    )
    return result.first()


async def failed_polls_in_a_row(session: AsyncSession) -> int:
    """How many polls failed since the last one that succeeded (all of them if none did)."""
    last_ok = select(func.coalesce(func.max(PollRun.id), 0)).where(col(PollRun.ok))
    result = await session.exec(
        select(func.count()).select_from(PollRun).where(col(PollRun.id) > last_ok.scalar_subquery())
    )
    return int(result.one())


async def last_success_columns(
    session: AsyncSession, *columns: sa.ColumnElement[Any]
) -> tuple[Any, ...] | None:
    """These columns of the last successful poll's row, by one indexed row read."""
    connection = await session.connection()
    query = sa.select(*columns).where(POLL_RUN.c.ok).order_by(POLL_RUN.c.id.desc()).limit(1)
    row = (await connection.execute(query)).first()
    return None if row is None else tuple(row)


async def last_success(session: AsyncSession) -> LastPoll | None:
    """The id and finish time of the last successful poll."""
    row = await last_success_columns(
        session, POLL_RUN.c.id, POLL_RUN.c.finished_at, POLL_RUN.c.started_at
    )
    if row is None:
        return None
    return LastPoll(int(row[0]), row[1] or row[2])


async def latest_error(session: AsyncSession) -> str | None:
    """The error of the latest poll (None when it succeeded, or there is none)."""
    latest = await session.exec(select(PollRun.error).order_by(col(PollRun.id).desc()).limit(1))
    return latest.first()


async def first_started_after(session: AsyncSession, poll_id: int) -> datetime | None:
    """When the first poll after ``poll_id`` started (None: there is none)."""
    result = await session.exec(
        select(sa.func.min(PollRun.started_at)).where(col(PollRun.id) > poll_id)
    )
    return result.one()
