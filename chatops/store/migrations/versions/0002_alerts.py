"""Alert pipeline: per-bot policy state, incidents, mutes, source health.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02

Written by hand to match chatops/store/alert_models.py; tests/test_alerts_store.py checks
that autogenerate finds no difference. Like 0001, it never imports the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alert_bot_state",
        sa.Column("bot_id", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("manual_key", sa.String(length=64), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("flapping_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("bot_id", name="pk_alert_bot_state"),
    )
    op.create_index("ix_alert_bot_state_pending", "alert_bot_state", ["pending"])

    op.create_table(
        "alert_incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("bot_id", sa.String(length=200), nullable=True),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("health", sa.String(length=16), nullable=False),
        sa.Column("since", _utc(), nullable=False),
        sa.Column("opened_at", _utc(), nullable=False),
        sa.Column("closed_at", _utc(), nullable=True),
        sa.Column("resolution", sa.String(length=32), nullable=True),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("last_reminder_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_incident"),
    )
    op.create_index("ix_alert_incident_bot_id", "alert_incident", ["bot_id"])
    op.create_index("ix_alert_incident_outbox_id", "alert_incident", ["outbox_id"])
    op.create_index("ix_alert_incident_parent_id", "alert_incident", ["parent_id"])
    op.create_index("ix_alert_incident_kind_closed_at", "alert_incident", ["kind", "closed_at"])

    op.create_table(
        "alert_mute",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("ended_at", _utc(), nullable=True),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.Column("announced_at", _utc(), nullable=True),
        sa.Column("end_announced_at", _utc(), nullable=True),
        sa.Column("channels", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_mute"),
    )
    op.create_index("ix_alert_mute_target", "alert_mute", ["target"])
    op.create_index("ix_alert_mute_expires_at", "alert_mute", ["expires_at"])
    op.create_index("ix_alert_mute_ended_at", "alert_mute", ["ended_at"])

    op.create_table(
        "alert_source_health",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("unreachable", sa.Boolean(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_alert_source_health"),
    )


def downgrade() -> None:
    op.drop_table("alert_source_health")
    op.drop_index("ix_alert_mute_ended_at", table_name="alert_mute")
    op.drop_index("ix_alert_mute_expires_at", table_name="alert_mute")
    op.drop_index("ix_alert_mute_target", table_name="alert_mute")
    op.drop_table("alert_mute")
    op.drop_index("ix_alert_incident_kind_closed_at", table_name="alert_incident")
    op.drop_index("ix_alert_incident_parent_id", table_name="alert_incident")
    op.drop_index("ix_alert_incident_outbox_id", table_name="alert_incident")
    op.drop_index("ix_alert_incident_bot_id", table_name="alert_incident")
    op.drop_table("alert_incident")
    op.drop_index("ix_alert_bot_state_pending", table_name="alert_bot_state")
    op.drop_table("alert_bot_state")
