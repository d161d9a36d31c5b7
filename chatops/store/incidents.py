"""Incidents: anything with a Slack message that later messages edit or reply to (a bot's
outage, a flapping episode, a digest, an outage of the status source).

The caller owns the transaction; new incidents get their ids when added.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.store.alert_models import AlertIncident, SourceHealth
from chatops.store.tables import INCIDENT, chunks

_CHUNK = 500


async def incidents_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, AlertIncident]:
    """These incidents (open or closed), by id; unknown ids are left out.

    Read ``FOR UPDATE`` (PostgreSQL; SQLite has one writer anyway): an acknowledgement
    (chatops.store.acks) taken while a poll plans waits for the poll, or the poll for it, so
    the edit the poll writes shows the owner the incident has when it commits.
    """
    found: dict[int, AlertIncident] = {}
    for part in chunks(sorted(set(ids)), _CHUNK):
        result = await session.exec(
            select(AlertIncident).where(col(AlertIncident.id).in_(part)).with_for_update()
        )
        found.update((incident.id, incident) for incident in result.all() if incident.id)
    return found


async def get_incident(
    session: AsyncSession, incident_id: int, *, fresh: bool = False
) -> AlertIncident | None:
    """The incident; ``fresh`` reads it again even if the session holds it already (after a
    statement that changed its row)."""
    return await session.get(AlertIncident, incident_id, populate_existing=fresh)


async def add_incidents(session: AsyncSession, incidents: Sequence[AlertIncident]) -> None:
    """Add new incidents; they have their ids on return."""
    session.add_all(incidents)
    await session.flush()


async def count_children(session: AsyncSession, digest_id: int, *, open_only: bool) -> int:
    """How many bots' incidents a digest announced (only those still open: ``open_only``)."""
    query = (
        select(sa.func.count())
        .select_from(AlertIncident)
        .where(col(AlertIncident.parent_id) == digest_id)
    )
    if open_only:
        query = query.where(col(AlertIncident.closed_at).is_(None))
    result = await session.exec(query)
    return int(result.one())


# -- reminders ---------------------------------------------------------------------------


async def open_with_messages(session: AsyncSession) -> list[AlertIncident]:
    """Open incidents of their own (bot, digest, source) whose message Slack accepted and
    that nobody acknowledged (a digest is reminded of while any of its bots is not)."""
    result = await session.exec(
        select(AlertIncident).where(
            col(AlertIncident.closed_at).is_(None),
            col(AlertIncident.parent_id).is_(None),
            col(AlertIncident.kind).in_(("bot", "digest", "source")),
            col(AlertIncident.message_ts).is_not(None),
            sa.or_(col(AlertIncident.kind) == "digest", col(AlertIncident.acked_by).is_(None)),
        )
    )
    return list(result.all())


async def claim_reminder(session: AsyncSession, incident: AlertIncident, now: datetime) -> bool:
    """Count the incident's next reminder as written; False when another replica did first."""
    connection = await session.connection()
    taken = await connection.execute(
        sa.update(INCIDENT)
        .where(INCIDENT.c.id == incident.id, INCIDENT.c.reminders == incident.reminders)
        .values(reminders=incident.reminders + 1, last_reminder_at=now)
    )
    return bool(taken.rowcount == 1)


async def open_children_healths(session: AsyncSession, digest_id: int) -> list[str]:
    """The healths of a digest's bots whose incident is still open and not acknowledged."""
    children = await session.exec(
        select(AlertIncident.health).where(
            col(AlertIncident.parent_id) == digest_id,
            col(AlertIncident.closed_at).is_(None),
            col(AlertIncident.acked_by).is_(None),
        )
    )
    return list(children.all())


# -- the status source -------------------------------------------------------------------


async def source_health(session: AsyncSession, name: str) -> SourceHealth | None:
    """Whether the status source ``name`` is announced as unreachable (None: never was)."""
    return await session.get(SourceHealth, name)


def mark_source_unreachable(
    session: AsyncSession, state: SourceHealth | None, name: str, incident_id: int, now: datetime
) -> None:
    """The source is announced as unreachable by ``incident_id`` (written with the caller's
    transaction)."""
    if state is None:
        session.add(
            SourceHealth(name=name, unreachable=True, incident_id=incident_id, updated_at=now)
        )
        return
    state.unreachable = True
    state.incident_id = incident_id
    state.updated_at = now
