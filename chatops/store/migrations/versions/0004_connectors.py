"""Agent connectors: one status row per connector, bots as their roll-up.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

Until now a bot had one row holding one connector's statuses. This revision moves those
statuses into ``connector`` (key: bot id, bot user), carrying each bot row over as its one
connector (bot user: the stored ``account_user``, or the bot id when there was none), gives
every transition row the bot user of its connector, and trims ``bot`` to the roll-up of its
connectors. Written by hand to match chatops/store/models.py; tests/test_migrations.py
checks that autogenerate finds no difference and upgrades a populated database.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Columns that move from bot to connector (besides the ones both keep).
_MOVED = (
    "connector",
    "cloud",
    "server",
    "raw_connector",
    "raw_cloud",
    "raw_server",
    "connector_since",
    "cloud_since",
    "server_since",
    "account_user",
    "source_updated_at",
)
_SHARED = (
    "name",
    "kind",
    "channel",
    "environment",
    "health",
    "health_since",
    "manual_operation",
    "manual_by",
    "manual_at",
    "first_seen",
    "removed_at",
    "version",
)


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "connector",
        sa.Column("bot_id", sa.String(length=200), nullable=False),
        sa.Column("bot_user", sa.String(length=300), nullable=False),
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
        sa.PrimaryKeyConstraint("bot_id", "bot_user", name="pk_connector"),
    )
    op.create_index("ix_connector_health", "connector", ["health"])
    columns = ", ".join((*_SHARED, *_MOVED))
    op.execute(
        f"INSERT INTO connector (bot_id, bot_user, {columns})"
        f" SELECT id, COALESCE(account_user, id), {columns} FROM bot"
    )

    with op.batch_alter_table("transition") as batch:
        batch.add_column(
            sa.Column("bot_user", sa.String(length=300), nullable=False, server_default="")
        )
    op.execute(
        "UPDATE transition SET bot_user = (SELECT COALESCE(bot.account_user, bot.id) FROM bot"
        " WHERE bot.id = transition.bot_id) WHERE bot_id IN (SELECT id FROM bot)"
    )
    with op.batch_alter_table("transition") as batch:
        batch.alter_column("bot_user", server_default=None)

    with op.batch_alter_table("bot") as batch:
        batch.add_column(sa.Column("connectors", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(
            sa.Column("connectors_ok", sa.Integer(), nullable=False, server_default="0")
        )
    op.execute("UPDATE bot SET connectors_ok = CASE WHEN health = 'ok' THEN 1 ELSE 0 END")
    with op.batch_alter_table("bot") as batch:
        batch.alter_column("connectors", server_default=None)
        batch.alter_column("connectors_ok", server_default=None)
        for column in _MOVED:
            batch.drop_column(column)

    with op.batch_alter_table("audit") as batch:
        batch.add_column(sa.Column("bot_user", sa.String(length=300), nullable=True))
    with op.batch_alter_table("poll_run") as batch:
        batch.add_column(sa.Column("connectors", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE poll_run SET connectors = bots")
    with op.batch_alter_table("poll_run") as batch:
        batch.alter_column("connectors", server_default=None)


def downgrade() -> None:
    """Back to one row per bot: each bot keeps its first connector (in bot user order)."""
    with op.batch_alter_table("poll_run") as batch:
        batch.drop_column("connectors")
    with op.batch_alter_table("audit") as batch:
        batch.drop_column("bot_user")
    with op.batch_alter_table("bot") as batch:
        batch.add_column(sa.Column("connector", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("cloud", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("server", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("raw_connector", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("raw_cloud", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("raw_server", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("connector_since", _utc(), nullable=True))
        batch.add_column(sa.Column("cloud_since", _utc(), nullable=True))
        batch.add_column(sa.Column("server_since", _utc(), nullable=True))
        batch.add_column(sa.Column("account_user", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("source_updated_at", _utc(), nullable=True))
    first = (
        "(SELECT c.{column} FROM connector c WHERE c.bot_id = bot.id ORDER BY c.bot_user LIMIT 1)"
    )
    assignments = ", ".join(
        f"{column} = {first.format(column=column)}" for column in (*_MOVED, "health")
    )
    op.execute(f"UPDATE bot SET {assignments}")
    op.execute(
        "UPDATE bot SET connector = 'Unknown', cloud = 'Unknown', server = 'Unknown',"
        " raw_connector = '', raw_cloud = '', raw_server = '', connector_since = health_since,"
        " cloud_since = health_since, server_since = health_since WHERE connector IS NULL"
    )
    with op.batch_alter_table("bot") as batch:
        for column in _MOVED:
            if column not in ("account_user", "source_updated_at"):
                batch.alter_column(column, nullable=False)
        batch.drop_column("connectors")
        batch.drop_column("connectors_ok")
    with op.batch_alter_table("transition") as batch:
        batch.drop_column("bot_user")
    op.drop_index("ix_connector_health", table_name="connector")
    op.drop_table("connector")
