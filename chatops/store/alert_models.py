"""Tables of the alert pipeline: per-bot policy state, incidents, mutes and their
exceptions, source health.

The outbox itself is ``models.OutboxMessage``. An *incident* here is anything that owns a
Slack message later messages refer to (edit it, reply in its thread): a bot's outage, a
flapping episode, a digest of many bots, an outage of the status source. Its message is
the outbox row ``outbox_id``; ``channel`` and ``message_ts`` are copied from that row when
Slack accepts it, so the reference survives restarts.

Migrations: ``migrations/versions/0002_alerts.py``, ``0003_mute_scope.py`` and
``0005_acks.py`` (written by hand, like 0001).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from chatops.store.models import UTCDateTime


class BotAlert(SQLModel, table=True):
    """The alert policy's state of one bot (``BotAlertState.to_dict()`` as JSON)."""

    __tablename__ = "alert_bot_state"

    bot_id: str = Field(primary_key=True, max_length=200)
    state: str
    # needs_evaluation(state): the bot is observed at every poll, changed or not.
    pending: bool = Field(default=False, index=True)
    # The last manual operation seen ("stop@<iso time>"), so each is passed to the policy once.
    manual_key: str | None = Field(default=None, max_length=64)
    # The bot's open outage and open flapping episode, if any.
    incident_id: int | None = None
    flapping_id: int | None = None
    updated_at: datetime = Field(sa_type=UTCDateTime)


class AlertIncident(SQLModel, table=True):
    """Something with a Slack message that later messages edit or reply to."""

    __tablename__ = "alert_incident"
    __table_args__ = (sa.Index("ix_alert_incident_kind_closed_at", "kind", "closed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # bot, flapping, digest, source
    bot_id: str | None = Field(default=None, max_length=200, index=True)
    channel: str = Field(max_length=64)
    health: str = Field(max_length=16)  # the problem announced (bot), or "unknown"
    since: datetime = Field(sa_type=UTCDateTime)
    opened_at: datetime = Field(sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolution: str | None = Field(default=None, max_length=32)
    # The outbox row that posts this incident's message (a digest's, for its bots).
    outbox_id: int | None = Field(default=None, index=True)
    # The digest a bot's incident was announced in.
    parent_id: int | None = Field(default=None, index=True)
    message_ts: str | None = Field(default=None, max_length=32)
    reminders: int = 0
    last_reminder_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Who acknowledged it (a Slack user id) and when: set by Acknowledge while it is open,
    # cleared by unack; kept once it closes, so its last message says who owned it.
    acked_by: str | None = Field(default=None, max_length=64)
    acked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AlertMute(SQLModel, table=True):
    """``/botstatus mute <bot|glob> <duration> [reason]``: no alerts for matching bots."""

    __tablename__ = "alert_mute"

    id: int | None = Field(default=None, primary_key=True)
    target: str = Field(max_length=300, index=True)
    reason: str | None = Field(default=None, max_length=500)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    # Set by unmute (ended_by = who) or once the expiry is noticed (ended_by None).
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    ended_by: str | None = Field(default=None, max_length=64)
    # The alert service announces creation and end in the channels the matching bots
    # route to (kept in ``channels``, a JSON list, so the end goes where the start went).
    announced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_announced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    channels: str = "[]"
    # The bot globs the author's mute permission covered (a JSON list); the mute silences
    # only bots among them, also bots added later. None: every bot.
    scope: str | None = None


class AlertMuteException(SQLModel, table=True):
    """An unmute inside a wider mute: the bots it reaches alert again while the mute lasts.

    Written when someone ends a mute only part of which lies within their own scope; the
    mute stays in force for every other bot. ``target`` and ``scope`` work as a mute's.
    """

    __tablename__ = "alert_mute_exception"

    id: int | None = Field(default=None, primary_key=True)
    mute_id: int = Field(index=True)
    target: str = Field(max_length=300)
    scope: str | None = None
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    announced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SourceHealth(SQLModel, table=True):
    """Whether the status source is announced as unreachable, and the incident saying so."""

    __tablename__ = "alert_source_health"

    name: str = Field(primary_key=True, max_length=64)
    unreachable: bool = False
    incident_id: int | None = None
    updated_at: datetime = Field(sa_type=UTCDateTime)
