"""SQLModel tables. Alembic (``chatops/store/migrations``) owns the schema; keep both in step.

Times are stored as UTC and always come back timezone-aware, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone otherwise)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Bot(SQLModel, table=True):
    """One bot as its agent connectors add up at the last successful poll (a roll-up).

    Written by the poller in the same transaction as the bot's ``connector`` rows and derived
    from them alone (``chatops.domain.bots``): ``health`` is the bot's rolled-up health
    (``degraded`` when some connectors are OK and some not), ``connectors`` how many the
    source lists and ``connectors_ok`` how many of those are OK. The manual operation is the
    latest any of its connectors reports.
    """

    __tablename__ = "bot"

    id: str = Field(primary_key=True, max_length=200)
    name: str = Field(index=True, max_length=300)
    kind: str = Field(max_length=16)
    channel: str = Field(max_length=16)
    environment: str = Field(index=True, max_length=16)
    health: str = Field(index=True, max_length=16)
    health_since: datetime = Field(sa_type=UTCDateTime)
    connectors: int = 0
    connectors_ok: int = 0
    manual_operation: str | None = Field(default=None, max_length=16)
    manual_by: str | None = Field(default=None, max_length=300)
    manual_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_seen: datetime = Field(sa_type=UTCDateTime)
    # Set when the source stops listing every connector of the bot; cleared if one comes back.
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Bumped on every stored change.
    version: int = 0


class Connector(SQLModel, table=True):
    """One agent connector (a bot user of a bot) and its state at the last successful poll.

    Its identity is ``(bot_id, bot_user)``; ``bot_user`` is LivePerson's ``lpAccountUser``
    (or, for an entry without one, its ``appName``). ``connector``, ``cloud`` and ``server``
    are its three statuses (Bot Agent Connector, Conversational Cloud, Bot Server), each
    with the raw string the source sent and the time it last changed.
    """

    __tablename__ = "connector"

    bot_id: str = Field(primary_key=True, max_length=200)
    bot_user: str = Field(primary_key=True, max_length=300)
    name: str = Field(max_length=300)
    kind: str = Field(max_length=16)
    channel: str = Field(max_length=16)
    environment: str = Field(max_length=16)
    connector: str = Field(max_length=32)
    cloud: str = Field(max_length=32)
    server: str = Field(max_length=32)
    raw_connector: str = Field(max_length=200)
    raw_cloud: str = Field(max_length=200)
    raw_server: str = Field(max_length=200)
    health: str = Field(index=True, max_length=16)
    health_since: datetime = Field(sa_type=UTCDateTime)
    connector_since: datetime = Field(sa_type=UTCDateTime)
    cloud_since: datetime = Field(sa_type=UTCDateTime)
    server_since: datetime = Field(sa_type=UTCDateTime)
    manual_operation: str | None = Field(default=None, max_length=16)
    manual_by: str | None = Field(default=None, max_length=300)
    manual_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # LivePerson's lpAccountUser, which start and stop name; None when the source sent none.
    account_user: str | None = Field(default=None, max_length=300)
    source_updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_seen: datetime = Field(sa_type=UTCDateTime)
    # Set when the source stops listing the connector; cleared if it comes back.
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Bumped on every stored change; optimistic concurrency and outbox de-duplication keys.
    version: int = 0


class TransitionRecord(SQLModel, table=True):
    """One dimension of one connector changed value (the healthchecks ``Flip``).

    ``old_health`` and ``new_health`` are the connector's; ``bot_user`` names the connector.
    """

    __tablename__ = "transition"
    __table_args__ = (sa.Index("ix_transition_bot_id_at", "bot_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    bot_id: str = Field(max_length=200)
    bot_user: str = Field(default="", max_length=300)
    poll_id: int | None = Field(default=None, index=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    dimension: str = Field(max_length=16)
    old: str = Field(max_length=32)
    new: str = Field(max_length=32)
    old_raw: str = Field(max_length=200)
    new_raw: str = Field(max_length=200)
    old_health: str = Field(max_length=16)
    new_health: str = Field(max_length=16)
    # A Start/Stop done by a person (ours, or reported by the source): a notice, never an outage.
    manual: bool = False
    performed_by: str | None = Field(default=None, max_length=300)


class PollRun(SQLModel, table=True):
    __tablename__ = "poll_run"

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(sa_type=UTCDateTime, index=True)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ok: bool = False
    error: str | None = Field(default=None, max_length=2000)
    permanent: bool = False
    bots: int = 0
    connectors: int = 0
    changed: int = 0
    transitions: int = 0
    duration_ms: int = 0
    # LivePerson's Agent Metrics API at this poll: ok, refused, failed (None: not read).
    metrics: str | None = Field(default=None, max_length=16)
    metrics_error: str | None = Field(default=None, max_length=2000)


class AuditEntry(SQLModel, table=True):
    """Every attempted action, allowed or refused: who, what, which bot, outcome, when."""

    __tablename__ = "audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    user_id: str = Field(max_length=64, index=True)
    user_name: str | None = Field(default=None, max_length=300)
    action: str = Field(max_length=32)  # start, stop, mute, unmute, ...
    target: str = Field(max_length=300)  # bot id or glob
    bot_user: str | None = Field(default=None, max_length=300)  # the connector acted on
    outcome: str = Field(max_length=32)  # ok, refused, failed, duplicate, ...
    detail: str | None = Field(default=None, max_length=2000)
    # One interaction (Slack's trigger_id), action and bot: a click delivered again finds
    # the row of its first delivery (chatops.slack.control).
    request_key: str | None = Field(default=None, max_length=300, unique=True)


class OutboxMessage(SQLModel, table=True):
    """An alert is a row before it is a message (the transactional outbox)."""

    __tablename__ = "alert_outbox"
    __table_args__ = (sa.Index("ix_alert_outbox_status_next", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=300, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(max_length=32)
    channel: str = Field(max_length=64)
    bot_id: str | None = Field(default=None, max_length=200, index=True)
    incident_id: int | None = Field(default=None, index=True)
    poll_id: int | None = None
    payload: str  # JSON: whatever the relay needs to render the message
    status: str = Field(default="pending", max_length=16)  # pending, sending, sent, dead
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    slack_ts: str | None = Field(default=None, max_length=32)
    thread_ts: str | None = Field(default=None, max_length=32)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=2000)


class Lease(SQLModel, table=True):
    """A named lease (leader election where advisory locks do not exist)."""

    __tablename__ = "lease"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=200)
    expires_at: datetime = Field(sa_type=UTCDateTime)
