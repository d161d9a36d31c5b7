"""The conversations at stake: LivePerson's Agent Metrics per connector, and per poll.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29

Written by hand to match chatops/store/metrics_models.py (``agent_metrics``) and
``PollRun.metrics``/``metrics_error``. Polls before this revision read no metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_metrics",
        sa.Column("bot_id", sa.String(length=200), nullable=False),
        sa.Column("bot_user", sa.String(length=300), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("open_conversations", sa.Integer(), nullable=True),
        sa.Column("load", sa.Integer(), nullable=True),
        sa.Column("agent_status", sa.String(length=32), nullable=True),
        sa.Column("connection_state", sa.String(length=32), nullable=True),
        sa.Column("before_drop", sa.Integer(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bot_id", "bot_user", name=op.f("pk_agent_metrics")),
    )
    op.create_index(op.f("ix_agent_metrics_poll_id"), "agent_metrics", ["poll_id"])
    op.add_column("poll_run", sa.Column("metrics", sa.String(length=16), nullable=True))
    op.add_column("poll_run", sa.Column("metrics_error", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("poll_run") as batch:
        batch.drop_column("metrics_error")
        batch.drop_column("metrics")
    op.drop_index(op.f("ix_agent_metrics_poll_id"), table_name="agent_metrics")
    op.drop_table("agent_metrics")
