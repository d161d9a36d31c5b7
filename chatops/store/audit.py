"""The audit log: every attempted action from Slack (Start, Stop, Restart, mutes), with who,
what, on which bot and connector, and how it went. The caller owns the transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.domain import BotKind
from chatops.store.models import AuditEntry
from chatops.store.tables import AUDIT, BOT

# How far back a Start or Stop clicked in Slack explains a manual operation the source reports.
ACTOR_WINDOW = timedelta(minutes=15)


async def recent_actors(session: AsyncSession, now: datetime) -> dict[tuple[str, str], str]:
    """Who started or stopped a connector from Slack lately, by (operation, bot id or "pcs").

    LivePerson reports our own Start/Stop as done by the account chatops logs in with; the
    audit log knows the person who clicked.
    """
    connection = await session.connection()
    result = await connection.execute(
        sa.select(AUDIT.c.action, AUDIT.c.target, AUDIT.c.user_id, AUDIT.c.user_name, BOT.c.kind)
        .select_from(AUDIT.outerjoin(BOT, BOT.c.id == AUDIT.c.target))
        .where(
            AUDIT.c.outcome == "ok",
            AUDIT.c.action.in_(("start", "stop")),
            AUDIT.c.at >= now - ACTOR_WINDOW,
        )
        .order_by(AUDIT.c.at)
    )
    actors: dict[tuple[str, str], str] = {}
    for action, target, user_id, user_name, kind in result.all():
        who = f"{user_name or user_id} (in Slack)"
        actors[(action, "pcs" if kind == BotKind.PCS.value else target)] = who
    return actors


async def add_audit(
    session: AsyncSession,
    *,
    at: datetime,
    user_id: str,
    action: str,
    target: str,
    outcome: str,
    user_name: str | None = None,
    detail: str | None = None,
    request_key: str | None = None,
    bot_user: str | None = None,
) -> AuditEntry:
    """Record an attempted action. A repeated ``request_key`` raises IntegrityError on flush."""
    entry = AuditEntry(
        at=at,
        user_id=user_id,
        user_name=user_name,
        action=action,
        target=target[:300],
        bot_user=bot_user[:300] if bot_user is not None else None,
        outcome=outcome,
        detail=detail[:2000] if detail is not None else None,
        request_key=request_key,
    )
    session.add(entry)
    await session.flush()
    return entry


async def by_request_key(session: AsyncSession, key: str) -> AuditEntry | None:
    """The audit row of the click with this key (its first delivery), if any."""
    found = await session.exec(select(AuditEntry).where(col(AuditEntry.request_key) == key))
    return found.first()


async def settle(session: AsyncSession, key: str, outcome: str, detail: str | None) -> None:
    """Record how the click with this key ended (its row says ``pending`` until then)."""
    entry = await by_request_key(session, key)
    if entry is None:
        raise LookupError(f"no audit row for the click {key!r}")
    entry.outcome = outcome
    entry.detail = detail
    session.add(entry)
