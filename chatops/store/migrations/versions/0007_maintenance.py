"""Maintenance windows: one-off ones from /botstatus, occurrences of recurring ones.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29

Written by hand to match chatops/store/maintenance_models.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "maintenance_window",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("bots", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("schedule_key", sa.String(length=64), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        sa.Column("channels", sa.String(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_maintenance_window"),
        sa.UniqueConstraint(
            "schedule_key", "starts_at", name="uq_maintenance_window_schedule_key_starts_at"
        ),
    )
    op.create_index("ix_maintenance_window_starts_at", "maintenance_window", ["starts_at"])
    op.create_index("ix_maintenance_window_ends_at", "maintenance_window", ["ends_at"])
    op.create_index("ix_maintenance_window_ended_at", "maintenance_window", ["ended_at"])


def downgrade() -> None:
    op.drop_index("ix_maintenance_window_ended_at", table_name="maintenance_window")
    op.drop_index("ix_maintenance_window_ends_at", table_name="maintenance_window")
    op.drop_index("ix_maintenance_window_starts_at", table_name="maintenance_window")
    op.drop_table("maintenance_window")
