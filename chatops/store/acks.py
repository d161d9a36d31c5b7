"""Acknowledgements in the store: who owns an open incident, taken and released by
compare-and-set so that two clicks, two deliveries or two replicas change it once.

An incident is acknowledged while ``alert_incident.acked_by`` is set and it is open; the
columns stay once it closes (its last message says who had it). ``/botstatus ack`` reaches
a bot's outage; the Acknowledge button also digests (a digest's open bots with it) and the
status source's outage.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.jsontypes import JSONDict
from chatops.store.alert_models import AlertIncident
from chatops.store.models import Bot, OutboxMessage

INCIDENT = AlertIncident.__table__  # type: ignore[attr-defined]
# The incidents with a message of their own that can be acknowledged.
ACKNOWLEDGEABLE = ("bot", "digest", "source")


@dataclass(frozen=True, slots=True)
class Owner:
    """Who acknowledged an incident (a Slack user id), and when."""

    user_id: str
    since: datetime


def owner_of(incident: AlertIncident) -> Owner | None:
    """Who owns the incident (None: nobody); kept once it is over."""
    if incident.acked_by is None or incident.acked_at is None:
        return None
    return Owner(incident.acked_by, incident.acked_at)


async def open_outage(session: AsyncSession, bot_id: str) -> AlertIncident | None:
    """The bot's open outage, if any (the newest, should there be several)."""
    result = await session.exec(
        select(AlertIncident)
        .where(
            col(AlertIncident.bot_id) == bot_id,
            col(AlertIncident.kind) == "bot",
            col(AlertIncident.closed_at).is_(None),
        )
        .order_by(col(AlertIncident.id).desc())
        .limit(1)
    )
    return result.first()


async def incident_of_message(
    session: AsyncSession, channel: str, message_ts: str
) -> AlertIncident | None:
    """The outage or digest whose message this is (a digest's bots share its message)."""
    result = await session.exec(
        select(AlertIncident)
        .where(
            col(AlertIncident.channel) == channel,
            col(AlertIncident.message_ts) == message_ts,
            col(AlertIncident.parent_id).is_(None),
            col(AlertIncident.kind).in_(ACKNOWLEDGEABLE),
        )
        .order_by(col(AlertIncident.id).desc())
        .limit(1)
    )
    return result.first()


async def open_children(session: AsyncSession, digest_id: int) -> list[AlertIncident]:
    """The open outages a digest announced."""
    result = await session.exec(
        select(AlertIncident).where(
            col(AlertIncident.parent_id) == digest_id, col(AlertIncident.closed_at).is_(None)
        )
    )
    return list(result.all())


async def bots_named(session: AsyncSession, name: str) -> list[Bot]:
    """Listed bots whose id is ``name``, or else whose name is ``name`` (case ignored)."""
    listed = col(Bot.removed_at).is_(None)
    by_id = await session.exec(select(Bot).where(listed, col(Bot.id) == name))
    found = list(by_id.all())
    if found:
        return found
    by_name = await session.exec(
        select(Bot).where(listed, sa.func.lower(col(Bot.name)) == name.lower())
    )
    return [bot for bot in by_name.all() if bot.name.casefold() == name.casefold()]


async def bots_by_ids(session: AsyncSession, ids: Sequence[str]) -> dict[str, Bot]:
    result = await session.exec(select(Bot).where(col(Bot.id).in_(sorted(set(ids)))))
    return {bot.id: bot for bot in result.all()}


async def take(session: AsyncSession, incident_id: int, user_id: str, at: datetime) -> bool:
    """Acknowledge the incident for ``user_id`` unless someone owns it or it is over; True
    when this call did (one of two at once does, on any database)."""
    connection = await session.connection()
    result = await connection.execute(
        sa.update(INCIDENT)
        .where(
            INCIDENT.c.id == incident_id,
            INCIDENT.c.acked_by.is_(None),
            INCIDENT.c.closed_at.is_(None),
        )
        .values(acked_by=user_id[:64], acked_at=at)
    )
    return result.rowcount == 1


async def take_children(
    session: AsyncSession, digest_id: int, user_id: str, at: datetime
) -> list[int]:
    """Acknowledge the open outages of a digest that nobody owns; their ids."""
    children = await session.exec(
        select(AlertIncident.id).where(
            col(AlertIncident.parent_id) == digest_id,
            col(AlertIncident.closed_at).is_(None),
            col(AlertIncident.acked_by).is_(None),
        )
    )
    ids = [incident_id for incident_id in children.all() if incident_id is not None]
    if not ids:
        return []
    connection = await session.connection()
    await connection.execute(
        sa.update(INCIDENT)
        .where(INCIDENT.c.id.in_(ids), INCIDENT.c.acked_by.is_(None))
        .values(acked_by=user_id[:64], acked_at=at)
    )
    return ids


async def release(session: AsyncSession, incident_id: int, owner: str) -> bool:
    """Clear ``owner``'s acknowledgement of an open incident; True when this call did."""
    connection = await session.connection()
    result = await connection.execute(
        sa.update(INCIDENT)
        .where(
            INCIDENT.c.id == incident_id,
            INCIDENT.c.acked_by == owner,
            INCIDENT.c.closed_at.is_(None),
        )
        .values(acked_by=None, acked_at=None)
    )
    return result.rowcount == 1


async def opening_post(session: AsyncSession, incident: AlertIncident) -> JSONDict | None:
    """The message that announced ``incident`` (its outbox row's post), if stored."""
    if incident.outbox_id is None:
        return None
    row = await session.get(OutboxMessage, incident.outbox_id)
    if row is None:
        return None
    post = json.loads(row.payload).get("post")
    return post if isinstance(post, dict) else None
