"""The ``maintenance_window`` table: one row per window, one-off or one occurrence of a
recurring window from the config file.

Migration: ``migrations/versions/0007_maintenance.py`` (written by hand, like the others).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from chatops.store.models import UTCDateTime


class MaintenanceWindow(SQLModel, table=True):
    """No alerts for the bots ``target`` names within ``scope`` from ``starts_at`` to
    ``ends_at`` (or ``cancelled_at``, if sooner).

    ``schedule_key`` names the config entry an occurrence of a recurring window comes from
    (None: typed in chat); with ``starts_at`` it is unique, so that each occurrence is one
    row however many replicas schedule it. ``started_at`` and ``ended_at`` say that the
    start and the end were announced (and the end's alerts written), each once.
    """

    __tablename__ = "maintenance_window"
    __table_args__ = (sa.UniqueConstraint("schedule_key", "starts_at"),)

    id: int | None = Field(default=None, primary_key=True)
    # What the window names, as typed (one-off) or its config entry's globs joined by ", ".
    target: str = Field(max_length=300)
    # JSON list of the bot ids, names or globs it silences (one-off: [target]).
    bots: str
    # JSON list of the author's mute globs; None: every bot (as alert_mute.scope).
    scope: str | None = None
    reason: str | None = Field(default=None, max_length=500)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    starts_at: datetime = Field(sa_type=UTCDateTime, index=True)
    ends_at: datetime = Field(sa_type=UTCDateTime, index=True)
    timezone: str = Field(max_length=64)
    schedule_key: str | None = Field(default=None, max_length=64)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_by: str | None = Field(default=None, max_length=64)
    # JSON list of the channels the start was announced in; the end goes to the same ones.
    channels: str | None = None
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
