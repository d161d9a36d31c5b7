"""Agent Metrics in the store: written in the poll's transaction, read by alerts and details.

The poll writes only the rows whose values moved since the last poll, from a copy of the
table it keeps in memory; the copy is trusted while the highest ``poll_id`` in the table is
the one it wrote last (another replica's poll writes a higher one, and the copy is read
again). A poll where the API failed or was refused writes no row: the rows keep the last
values read, and ``poll_run.metrics`` says they are not current.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.domain import ConnectorKey, Health, Snapshot
from chatops.domain.conversations import (
    ApiStatus,
    BotConversations,
    ConnectorConversations,
    ConnectorMetricsState,
    ConversationLimits,
    MetricsOutcome,
    MetricsReading,
)
from chatops.pacing import Pacer
from chatops.store.models import PollRun
from chatops.store.polls import last_success_columns
from chatops.store.tables import AGENT_METRICS, POLL_RUN, chunks

_ERROR = 2000
# Rows per executemany.
WRITE_BATCH = 500


class _Values(NamedTuple):
    """A row's values as the poller last wrote them (a tuple: compared in C, and never
    walked by the cyclic garbage collector, 10,000 of them kept between polls)."""

    state: str
    open_conversations: int | None
    load: int | None
    agent_status: str | None
    connection_state: str | None
    before_drop: int | None


def _clip(value: str | None, limit: int = 32) -> str | None:
    return value[:limit] if value is not None else None


def _outcome(value: str | None) -> MetricsOutcome | None:
    try:
        return MetricsOutcome(value) if value is not None else None
    except ValueError:
        return MetricsOutcome.FAILED


class AgentMetricsRows:
    """The poller's writer of ``agent_metrics`` (one per poller)."""

    def __init__(self) -> None:
        self._rows: dict[ConnectorKey, _Values] | None = None
        self._written_by: int | None = None

    async def save(
        self,
        session: AsyncSession,
        reading: MetricsReading,
        snapshots: Mapping[ConnectorKey, Snapshot],
        poll: PollRun,
        now: datetime,
    ) -> int:
        """Record ``reading`` in the poll's transaction; the number of rows written."""
        poll.metrics = reading.outcome.value
        poll.metrics_error = reading.error[:_ERROR] if reading.error else None
        if reading.outcome is not MetricsOutcome.OK:
            return 0
        assert poll.id is not None
        connection = await session.connection()
        stored = await self._stored(session)
        wanted: dict[ConnectorKey, _Values] = {}
        changed: list[tuple[ConnectorKey, _Values]] = []
        # 10,000 connectors take tens of ms: the replies get a turn of the loop every few.
        pacer = Pacer()
        agents, asked = reading.agents, reading.asked
        listed = ConnectorMetricsState.LISTED.value
        not_listed = ConnectorMetricsState.NOT_LISTED.value
        no_agent = ConnectorMetricsState.NO_AGENT.value
        for key, snapshot in snapshots.items():
            await pacer.pace()
            old = stored.get(key)
            agent = agents.get(key)
            if agent is not None:
                count = agent.open_conversations
                values = _Values(
                    listed,
                    count,
                    agent.load,
                    _clip(agent.status),
                    _clip(agent.connection),
                    count
                    if snapshot.health is Health.OK and count is not None
                    else (old.before_drop if old else None),
                )
            else:
                # reading.state_of(key), inline: 10,000 connectors a poll.
                state = not_listed if key in asked else no_agent
                if old is None:
                    values = _Values(state, None, None, None, None, None)
                else:  # what was last read of the agent stays; unchanged, the same row
                    values = old if old.state == state else old._replace(state=state)
            wanted[key] = values
            if values is not old and values != old:
                changed.append((key, values))
        gone = [key for key in stored if key not in wanted]
        # Rows the table has are updated, others inserted (the copy of the table says which,
        # and it was checked above): executemany of one statement, WRITE_BATCH rows at a
        # time, so that binding thousands of rows in the database's worker thread does not
        # hold the GIL (and the replies) for long at once.
        updates: list[dict[str, object]] = []
        inserts: list[dict[str, object]] = []
        for key, values in changed:
            await pacer.pace()
            if key in stored:
                updates.append(_params(key, values, now, poll.id))
            else:
                inserts.append(_row(key, values, now, poll.id))
        for part in chunks(updates, WRITE_BATCH):
            await connection.execute(_UPDATE, list(part))
        for part in chunks(inserts, WRITE_BATCH):
            await connection.execute(AGENT_METRICS.insert(), list(part))
        for keys in chunks(gone):
            await connection.execute(
                AGENT_METRICS.delete().where(
                    sa.tuple_(AGENT_METRICS.c.bot_id, AGENT_METRICS.c.bot_user).in_(keys)
                )
            )
        self._rows = wanted
        if changed or gone:
            self._written_by = poll.id
        return len(changed) + len(gone)

    async def _stored(self, session: AsyncSession) -> dict[ConnectorKey, _Values]:
        connection = await session.connection()
        latest = (
            await connection.execute(sa.select(sa.func.max(AGENT_METRICS.c.poll_id)))
        ).scalar()
        if self._rows is not None and latest == self._written_by:
            return self._rows
        result = await connection.execute(
            sa.select(AGENT_METRICS.c.bot_id, AGENT_METRICS.c.bot_user, *_columns())
        )
        rows = {(row[0], row[1]): _Values(*row[2:]) for row in result}
        self._rows, self._written_by = rows, latest
        return rows


_FIELDS = (
    "state",
    "open_conversations",
    "load",
    "agent_status",
    "connection_state",
    "before_drop",
)


_UPDATE = (
    sa.update(AGENT_METRICS)
    .where(
        AGENT_METRICS.c.bot_id == sa.bindparam("p_bot_id"),
        AGENT_METRICS.c.bot_user == sa.bindparam("p_bot_user"),
    )
    .values(
        {
            name: sa.bindparam(f"p_{name}", type_=AGENT_METRICS.c[name].type)
            for name in (*_FIELDS, "changed_at", "poll_id")
        }
    )
)


def _row(key: ConnectorKey, values: _Values, now: datetime, poll_id: int) -> dict[str, object]:
    return {
        "bot_id": key[0],
        "bot_user": key[1],
        **_as_dict(values),
        "changed_at": now,
        "poll_id": poll_id,
    }


def _params(key: ConnectorKey, values: _Values, now: datetime, poll_id: int) -> dict[str, object]:
    return {f"p_{name}": value for name, value in _row(key, values, now, poll_id).items()}


def _columns() -> list[sa.ColumnElement[object]]:
    return [AGENT_METRICS.c[name] for name in _FIELDS]


def _as_dict(values: _Values) -> dict[str, object]:
    return {name: getattr(values, name) for name in _FIELDS}


async def api_status(session: AsyncSession) -> ApiStatus:
    """How the Agent Metrics API went at the last successful poll."""
    row = await last_success_columns(
        session, POLL_RUN.c.metrics, POLL_RUN.c.metrics_error, POLL_RUN.c.finished_at
    )
    if row is None:
        return ApiStatus(None)
    return ApiStatus(_outcome(row[0]), row[1], row[2])


async def conversations_for(
    session: AsyncSession, bot_ids: Iterable[str], limits: ConversationLimits
) -> dict[str, BotConversations]:
    """The conversations of these bots' connectors; empty when the API was never read (the
    feature is off, or no poll read it yet): then nothing is shown of it."""
    api = await api_status(session)
    if api.outcome is None:
        return {}
    wanted = sorted(set(bot_ids))
    connection = await session.connection()
    found: dict[str, dict[str, ConnectorConversations]] = {bot_id: {} for bot_id in wanted}
    for part in chunks(wanted):
        result = await connection.execute(
            sa.select(AGENT_METRICS.c.bot_id, AGENT_METRICS.c.bot_user, *_columns()).where(
                AGENT_METRICS.c.bot_id.in_(part)
            )
        )
        for row in result:
            values = _Values(*row[2:])
            try:
                state = ConnectorMetricsState(values.state)
            except ValueError:
                state = ConnectorMetricsState.NO_AGENT
            found[row[0]][row[1]] = ConnectorConversations(
                state=state,
                last_open=values.open_conversations,
                load=values.load,
                agent_status=values.agent_status,
                before_drop=values.before_drop,
            )
    return {
        bot_id: BotConversations(connectors, api, limits) for bot_id, connectors in found.items()
    }
