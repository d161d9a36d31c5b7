"""Typed Core access to the tables, for the repositories' bulk reads and writes.

SQLModel declares ``__table__`` at runtime only; these are the same ``sa.Table`` objects,
looked up once and typed, so that no module reaches for ``Model.__table__``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

import sqlalchemy as sa
from sqlmodel import SQLModel

from chatops.store.alert_models import (
    AlertIncident,
    AlertMute,
    AlertMuteException,
    BotAlert,
)
from chatops.store.metrics_models import AgentMetricsRow
from chatops.store.models import (
    AuditEntry,
    Bot,
    Connector,
    Lease,
    OutboxMessage,
    PollRun,
    TransitionRecord,
)

T = TypeVar("T")

# Both SQLite (32766 variables) and asyncpg (32767 arguments) cap bound parameters.
CHUNK = 900


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in slices of ``size``: one ``IN (...)`` per slice stays under the caps."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core table behind a SQLModel table class."""
    return SQLModel.metadata.tables[str(model.__tablename__)]


BOT = table_of(Bot)
CONNECTOR = table_of(Connector)
TRANSITION = table_of(TransitionRecord)
POLL_RUN = table_of(PollRun)
AUDIT = table_of(AuditEntry)
OUTBOX = table_of(OutboxMessage)
LEASE = table_of(Lease)
ALERT_STATE = table_of(BotAlert)
INCIDENT = table_of(AlertIncident)
MUTE = table_of(AlertMute)
MUTE_EXCEPTION = table_of(AlertMuteException)
AGENT_METRICS = table_of(AgentMetricsRow)
