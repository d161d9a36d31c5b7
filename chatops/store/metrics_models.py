"""The table of LivePerson's Agent Metrics per connector (the conversations at stake).

One row per connector whose agent the Agent Metrics API was asked about: the last values
read, whether the last poll that read the API listed the agent, and the last count read
while the connector was OK (what it "was handling" before it dropped). A poll where the
API failed writes no row; ``poll_run.metrics`` says how the API went at each poll.

Migration: ``migrations/versions/0006_agent_metrics.py`` (written by hand, like 0001).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from chatops.store.models import UTCDateTime


class AgentMetricsRow(SQLModel, table=True):
    """One connector's agent as the Agent Metrics API last showed it."""

    __tablename__ = "agent_metrics"

    bot_id: str = Field(primary_key=True, max_length=200)
    bot_user: str = Field(primary_key=True, max_length=300)
    # listed, not_listed (not logged in), no_agent (no lpUserId to ask for)
    state: str = Field(max_length=16)
    # The last values read (kept while the agent is not listed: they are then not current).
    open_conversations: int | None = None
    load: int | None = None
    agent_status: str | None = Field(default=None, max_length=32)
    connection_state: str | None = Field(default=None, max_length=32)
    # The last count read while the connector was OK: what it was handling before it dropped.
    before_drop: int | None = None
    changed_at: datetime = Field(sa_type=UTCDateTime)
    # The poll that last wrote the row: a cache of the rows is still right while the
    # highest poll id in the table is the one it wrote last.
    poll_id: int = Field(index=True)
