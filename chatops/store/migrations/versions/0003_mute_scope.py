"""Mutes keep their author's scope; an unmute inside a wider mute is an exception to it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-03

Mutes made before this revision have no scope: they silence every bot their target
matches, as they did. Written by hand to match chatops/store/alert_models.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("alert_mute", sa.Column("scope", sa.String(), nullable=True))
    op.create_table(
        "alert_mute_exception",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mute_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("scope", sa.String(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_mute_exception"),
    )
    op.create_index("ix_alert_mute_exception_mute_id", "alert_mute_exception", ["mute_id"])


def downgrade() -> None:
    op.drop_index("ix_alert_mute_exception_mute_id", table_name="alert_mute_exception")
    op.drop_table("alert_mute_exception")
    with op.batch_alter_table("alert_mute") as batch:
        batch.drop_column("scope")
