"""The alert outbox: an alert is a row before it is a message.

Rows are written in the transaction that decides them (the poll's, an upkeep pass's) and
delivered by the relay (chatops.alerts.relay). The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.store.alert_models import AlertIncident
from chatops.store.models import OutboxMessage
from chatops.store.tables import INCIDENT, OUTBOX


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


# -- delivery (chatops.alerts.relay) -------------------------------------------------------

PENDING: Final = "pending"
SENDING: Final = "sending"
SENT: Final = "sent"
DEAD: Final = "dead"


@dataclass(frozen=True, slots=True)
class DueRow:
    """A pending row whose time has come and that no earlier row of its incident holds up."""

    id: int
    channel: str
    kind: str


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    """A row this process now delivers (``sending``, leased)."""

    id: int
    channel: str
    kind: str
    payload: str
    attempts: int
    incident_id: int | None
    # The message this row edits or replies to: (channel, ts), when it exists.
    target: tuple[str, str] | None
    # True when this row posts the message of its incident (and of a digest's bots).
    opens: bool


async def release_sending(session: AsyncSession) -> int:
    """Give every ``sending`` row back to pending; return how many (one relay: SQLite)."""
    connection = await session.connection()
    result = await connection.execute(
        sa.update(OUTBOX).where(OUTBOX.c.status == SENDING).values(status=PENDING, lease_until=None)
    )
    return int(result.rowcount or 0)


async def release_expired_claims(session: AsyncSession, now: datetime) -> int:
    """Give back the rows whose claim expired (their relay stopped answering)."""
    connection = await session.connection()
    result = await connection.execute(
        sa.update(OUTBOX)
        .where(OUTBOX.c.status == SENDING, OUTBOX.c.lease_until < now)
        .values(status=PENDING, lease_until=None)
    )
    return int(result.rowcount or 0)


async def due_rows(session: AsyncSession, now: datetime, limit: int) -> list[DueRow]:
    """Due pending rows in id order; a row waits while an earlier row of its incident is
    unfinished, so an outage's message exists before anything edits it or replies to it."""
    earlier = OUTBOX.alias("earlier")
    unfinished_before = (
        sa.select(earlier.c.id)
        .where(
            earlier.c.incident_id == OUTBOX.c.incident_id,
            earlier.c.id < OUTBOX.c.id,
            earlier.c.status.in_((PENDING, SENDING)),
        )
        .exists()
    )
    query = (
        sa.select(OUTBOX.c.id, OUTBOX.c.channel, OUTBOX.c.kind)
        .where(
            OUTBOX.c.status == PENDING,
            OUTBOX.c.next_attempt_at <= now,
            sa.or_(OUTBOX.c.incident_id.is_(None), ~unfinished_before),
        )
        .order_by(OUTBOX.c.id)
        .limit(limit)
    )
    connection = await session.connection()
    result = await connection.execute(query)
    return [DueRow(row.id, row.channel, row.kind) for row in result]


async def claim(
    session: AsyncSession, ids: Sequence[int], lease_until: datetime
) -> list[ClaimedRow]:
    """Claim these rows if still pending: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a
    compare-and-set on ``status`` elsewhere. Returns the rows claimed, in id order."""
    connection = await session.connection()
    taken: list[int] = []
    if connection.dialect.name == "postgresql":
        locked = await connection.execute(
            sa.select(OUTBOX.c.id)
            .where(OUTBOX.c.id.in_(ids), OUTBOX.c.status == PENDING)
            .with_for_update(skip_locked=True)
        )
        taken = list(locked.scalars())
        if taken:
            await connection.execute(
                sa.update(OUTBOX)
                .where(OUTBOX.c.id.in_(taken))
                .values(status=SENDING, lease_until=lease_until, attempts=OUTBOX.c.attempts + 1)
            )
    else:
        for row_id in ids:
            result = await connection.execute(
                sa.update(OUTBOX)
                .where(OUTBOX.c.id == row_id, OUTBOX.c.status == PENDING)
                .values(status=SENDING, lease_until=lease_until, attempts=OUTBOX.c.attempts + 1)
            )
            if result.rowcount == 1:
                taken.append(row_id)
    if not taken:
        return []
    parent = OUTBOX.alias("parent")
    rows = await connection.execute(
        sa.select(
            OUTBOX.c.id,
            OUTBOX.c.channel,
            OUTBOX.c.kind,
            OUTBOX.c.payload,
            OUTBOX.c.attempts,
            OUTBOX.c.incident_id,
            INCIDENT.c.outbox_id,
            parent.c.status,
            parent.c.channel,
            parent.c.slack_ts,
        )
        .select_from(
            OUTBOX.outerjoin(INCIDENT, INCIDENT.c.id == OUTBOX.c.incident_id).outerjoin(
                parent, parent.c.id == INCIDENT.c.outbox_id
            )
        )
        .where(OUTBOX.c.id.in_(taken))
        .order_by(OUTBOX.c.id)
    )
    claimed = []
    for row in rows:
        (
            row_id,
            channel,
            kind,
            body,
            attempts,
            incident_id,
            opener,
            status,
            p_channel,
            p_ts,
        ) = tuple(row)
        opens = opener is not None and opener == row_id
        target = None
        if not opens and status == SENT and p_ts:
            target = (p_channel, p_ts)
        claimed.append(
            ClaimedRow(row_id, channel, kind, body, attempts, incident_id, target, opens)
        )
    return claimed


async def mark_sent(
    session: AsyncSession, row: ClaimedRow, ts: str | None, thread_ts: str | None, now: datetime
) -> None:
    """Slack accepted the row; a row that opens an incident gives it its message reference."""
    connection = await session.connection()
    await connection.execute(
        sa.update(OUTBOX)
        .where(OUTBOX.c.id == row.id)
        .values(
            status=SENT,
            slack_ts=ts,
            thread_ts=thread_ts,
            sent_at=now,
            lease_until=None,
            last_error=None,
        )
    )
    if row.opens and ts is not None:
        # The incident (and a digest's bots) now has its message reference.
        await connection.execute(
            sa.update(INCIDENT)
            .where(INCIDENT.c.outbox_id == row.id)
            .values(message_ts=ts, channel=row.channel)
        )


async def mark_for_retry(
    session: AsyncSession,
    row_id: int,
    *,
    at: datetime,
    error: str,
    failed: bool,
    remaining: str | None,
) -> None:
    """Back to pending until ``at``. ``failed`` False (a 429: Slack pacing us) does not
    count the try; ``remaining`` replaces the payload with what is left to deliver."""
    values: dict[str, Any] = {
        "status": PENDING,
        "next_attempt_at": at,
        "lease_until": None,
        "last_error": error[:2000],
    }
    if not failed:
        values["attempts"] = OUTBOX.c.attempts - 1
    if remaining is not None:
        values["payload"] = remaining
    connection = await session.connection()
    await connection.execute(sa.update(OUTBOX).where(OUTBOX.c.id == row_id).values(values))


async def mark_dead(session: AsyncSession, row_id: int, error: str) -> None:
    """Never to be delivered (Slack refused it for good); kept, with the reason."""
    connection = await session.connection()
    await connection.execute(
        sa.update(OUTBOX)
        .where(OUTBOX.c.id == row_id)
        .values(status=DEAD, lease_until=None, last_error=error[:2000])
    )


async def count_unsent(session: AsyncSession) -> int:
    """Rows pending or being sent."""
    connection = await session.connection()
    result = await connection.execute(
        sa.select(sa.func.count())
        .select_from(OUTBOX)
        .where(OUTBOX.c.status.in_((PENDING, SENDING)))
    )
    return int(result.scalar_one())


async def earliest_pending(session: AsyncSession) -> datetime | None:
    """When the first pending row is due (None: nothing is pending)."""
    connection = await session.connection()
    result = await connection.execute(
        sa.select(sa.func.min(OUTBOX.c.next_attempt_at)).where(OUTBOX.c.status == PENDING)
    )
    earliest = result.scalar_one()
    return earliest if isinstance(earliest, datetime) else None


@dataclass(frozen=True, slots=True)
class DeadAlert:
    id: int
    kind: str
    channel: str
    created_at: datetime
    last_error: str | None


@dataclass(frozen=True, slots=True)
class OutboxSummary:
    """What ``chatops status`` shows of the outbox: counts per status and the dead rows."""

    counts: dict[str, int]
    dead: tuple[DeadAlert, ...]


async def summary(session: AsyncSession, *, dead_limit: int = 20) -> OutboxSummary:
    """Rows per status, and the latest ``dead_limit`` dead ones."""
    grouped = await session.exec(
        select(OutboxMessage.status, sa.func.count()).group_by(col(OutboxMessage.status))
    )
    counts = {status: int(count) for status, count in grouped.all()}
    dead = await session.exec(
        select(OutboxMessage)
        .where(col(OutboxMessage.status) == DEAD)
        .order_by(col(OutboxMessage.id).desc())
        .limit(dead_limit)
    )
    rows = tuple(
        DeadAlert(row.id or 0, row.kind, row.channel, row.created_at, row.last_error)
        for row in dead.all()
    )
    return OutboxSummary(counts, rows)


def add_row(session: AsyncSession, row: OutboxMessage) -> None:
    """Queue one outbox row (written with the caller's transaction)."""
    session.add(row)


async def count_for_poll(session: AsyncSession, poll_id: int) -> int:
    """How many outbox rows the poll ``poll_id`` wrote."""
    result = await session.exec(
        select(sa.func.count())
        .select_from(OutboxMessage)
        .where(col(OutboxMessage.poll_id) == poll_id)
    )
    return int(result.one())
