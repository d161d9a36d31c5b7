"""The first schema: bots, transitions, poll runs, audit log, alert outbox, leases.

Revision ID: 0001
Revises:
Create Date: 2026-01-01

Written by hand to match chatops/store/models.py; tests/test_migrations.py checks that
autogenerate finds no difference on SQLite and PostgreSQL. Migrations never import the
models: a later model change must not rewrite history.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    # models.UTCDateTime stores through this type and normalises to UTC in Python.
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "bot",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("connector", sa.String(length=32), nullable=False),
        sa.Column("cloud", sa.String(length=32), nullable=False),
        sa.Column("server", sa.String(length=32), nullable=False),
        sa.Column("raw_connector", sa.String(length=200), nullable=False),
        sa.Column("raw_cloud", sa.String(length=200), nullable=False),
        sa.Column("raw_server", sa.String(length=200), nullable=False),
        sa.Column("health", sa.String(length=16), nullable=False),
        sa.Column("health_since", _utc(), nullable=False),
        sa.Column("connector_since", _utc(), nullable=False),
        sa.Column("cloud_since", _utc(), nullable=False),
        sa.Column("server_since", _utc(), nullable=False),
        sa.Column("manual_operation", sa.String(length=16), nullable=True),
        sa.Column("manual_by", sa.String(length=300), nullable=True),
        sa.Column("manual_at", _utc(), nullable=True),
        sa.Column("account_user", sa.String(length=300), nullable=True),
        sa.Column("source_updated_at", _utc(), nullable=True),
        sa.Column("first_seen", _utc(), nullable=False),
        sa.Column("removed_at", _utc(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bot"),
    )
    op.create_index("ix_bot_name", "bot", ["name"])
    op.create_index("ix_bot_environment", "bot", ["environment"])
    op.create_index("ix_bot_health", "bot", ["health"])

    op.create_table(
        "transition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bot_id", sa.String(length=200), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=True),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("old", sa.String(length=32), nullable=False),
        sa.Column("new", sa.String(length=32), nullable=False),
        sa.Column("old_raw", sa.String(length=200), nullable=False),
        sa.Column("new_raw", sa.String(length=200), nullable=False),
        sa.Column("old_health", sa.String(length=16), nullable=False),
        sa.Column("new_health", sa.String(length=16), nullable=False),
        sa.Column("manual", sa.Boolean(), nullable=False),
        sa.Column("performed_by", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_transition"),
    )
    op.create_index("ix_transition_poll_id", "transition", ["poll_id"])
    op.create_index("ix_transition_at", "transition", ["at"])
    op.create_index("ix_transition_bot_id_at", "transition", ["bot_id", "at"])

    op.create_table(
        "poll_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("permanent", sa.Boolean(), nullable=False),
        sa.Column("bots", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("transitions", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_poll_run"),
    )
    op.create_index("ix_poll_run_started_at", "poll_run", ["started_at"])

    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=300), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=2000), nullable=True),
        sa.Column("request_key", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
        sa.UniqueConstraint("request_key", name="uq_audit_request_key"),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_index("ix_audit_user_id", "audit", ["user_id"])

    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=300), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("bot_id", sa.String(length=200), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("poll_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _utc(), nullable=False),
        sa.Column("lease_until", _utc(), nullable=True),
        sa.Column("slack_ts", sa.String(length=32), nullable=True),
        sa.Column("thread_ts", sa.String(length=32), nullable=True),
        sa.Column("sent_at", _utc(), nullable=True),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_outbox"),
        sa.UniqueConstraint("dedupe_key", name="uq_alert_outbox_dedupe_key"),
    )
    op.create_index("ix_alert_outbox_bot_id", "alert_outbox", ["bot_id"])
    op.create_index("ix_alert_outbox_incident_id", "alert_outbox", ["incident_id"])
    op.create_index("ix_alert_outbox_status_next", "alert_outbox", ["status", "next_attempt_at"])

    op.create_table(
        "lease",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_lease"),
    )


def downgrade() -> None:
    op.drop_table("lease")
    op.drop_index("ix_alert_outbox_status_next", table_name="alert_outbox")
    op.drop_index("ix_alert_outbox_incident_id", table_name="alert_outbox")
    op.drop_index("ix_alert_outbox_bot_id", table_name="alert_outbox")
    op.drop_table("alert_outbox")
    op.drop_index("ix_audit_user_id", table_name="audit")
    op.drop_index("ix_audit_at", table_name="audit")
    op.drop_table("audit")
    op.drop_index("ix_poll_run_started_at", table_name="poll_run")
    op.drop_table("poll_run")
    op.drop_index("ix_transition_bot_id_at", table_name="transition")
    op.drop_index("ix_transition_at", table_name="transition")
    op.drop_index("ix_transition_poll_id", table_name="transition")
    op.drop_table("transition")
    op.drop_index("ix_bot_health", table_name="bot")
    op.drop_index("ix_bot_environment", table_name="bot")
    op.drop_index("ix_bot_name", table_name="bot")
    op.drop_table("bot")
