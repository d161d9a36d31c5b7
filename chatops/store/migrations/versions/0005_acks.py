"""Incidents people can own: who acknowledged an open incident, and when.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

Written by hand to match chatops/store/alert_models.py (``AlertIncident.acked_by`` and
``acked_at``). Incidents opened before this revision are not acknowledged.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("alert_incident", sa.Column("acked_by", sa.String(length=64), nullable=True))
    op.add_column(
        "alert_incident", sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("alert_incident") as batch:
        batch.drop_column("acked_at")
        batch.drop_column("acked_by")
