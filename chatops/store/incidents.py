"""Incidents: anything with a Slack message that later messages edit or reply to (a bot's
outage, a flapping episode, a digest, an outage of the status source).

The caller owns the transaction; new incidents get their ids when added.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.store.alert_models import AlertIncident
from chatops.store.tables import chunks

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


async def get_incident(session: AsyncSession, incident_id: int) -> AlertIncident | None:
    return await session.get(AlertIncident, incident_id)


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
