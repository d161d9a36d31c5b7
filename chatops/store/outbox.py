"""The alert outbox: an alert is a row before it is a message.

Rows are written in the transaction that decides them (the poll's, an upkeep pass's) and
delivered by the relay (chatops.alerts.relay). The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.store.alert_models import AlertIncident
from chatops.store.models import OutboxMessage


async def add_rows(
    session: AsyncSession, rows: Sequence[tuple[OutboxMessage, Sequence[AlertIncident]]]
) -> None:
    """Add outbox rows; each row's incidents learn it as the row that posts their message."""
    if not rows:
        return
    session.add_all([row for row, _ in rows])
    await session.flush()
    for row, incidents in rows:
        for incident in incidents:
            incident.outbox_id = row.id
    await session.flush()


async def get_row(session: AsyncSession, row_id: int) -> OutboxMessage | None:
    return await session.get(OutboxMessage, row_id)
