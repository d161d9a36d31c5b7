"""The poller's side of connector and bot rows: the stored fleet, and one poll's writes.

Connector rows hold the last successful poll's view of each agent connector, bot rows the
roll-up of each bot's connectors. Every function here that changes a connector row bumps its
``version``; anything else that writes connector rows must do the same, because the poller
trusts its in-memory copy of the fleet only while the table's :class:`FleetFingerprint` (row
count and sum of versions) is the one it expects. The caller owns the transaction.

One cohesive thing, hence its length: how a snapshot maps to a connector row (both ways,
clipped to the columns) is what loading and writing the fleet share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.domain import (
    BotChange,
    BotKind,
    BotState,
    Channel,
    ConnectorKey,
    Dimension,
    Environment,
    FleetDiff,
    ManualOperation,
    Snapshot,
    bot_state,
)
from chatops.pacing import Pacer
from chatops.sharing import Pool
from chatops.store.models import Connector, PollRun, TransitionRecord
from chatops.store.tables import BOT, CONNECTOR, TRANSITION, chunks

# -- Snapshots in and out of connector rows ------------------------------------------------

# Column lengths of the strings a snapshot carries (chatops/store/models.py).
_NAME, _RAW, _PERSON, _OPERATION = 300, 200, 300, 16


def _clip(value: str | None, limit: int) -> str | None:
    return value[:limit] if value is not None else None


def storable(snapshot: Snapshot) -> Snapshot:
    """The snapshot as the connector table can hold it: over-long strings clipped.

    The poller diffs storable snapshots, so a source sending a 500-character status does
    not look changed at every poll against the clipped value stored last time.
    """
    manual = snapshot.manual
    # The common case first, written out: this runs for every connector at every poll.
    if (
        len(snapshot.name) <= _NAME
        and len(snapshot.raw_connector) <= _RAW
        and len(snapshot.raw_cloud) <= _RAW
        and len(snapshot.raw_server) <= _RAW
        and len(snapshot.account_user or "") <= _PERSON
        and len(snapshot.bot_user) <= _PERSON
        and (
            manual is None
            or (len(manual.operation) <= _OPERATION and len(manual.performed_by or "") <= _PERSON)
        )
    ):
        return snapshot
    return replace(
        snapshot,
        name=snapshot.name[:_NAME],
        raw_connector=snapshot.raw_connector[:_RAW],
        raw_cloud=snapshot.raw_cloud[:_RAW],
        raw_server=snapshot.raw_server[:_RAW],
        account_user=_clip(snapshot.account_user, _PERSON),
        bot_user=snapshot.bot_user[:_PERSON],
        manual=ManualOperation(
            manual.operation[:_OPERATION], _clip(manual.performed_by, _PERSON), manual.at
        )
        if manual is not None
        else None,
    )


def _state_values(snapshot: Snapshot) -> dict[str, object]:
    """The connector columns that come straight from a snapshot (not the book-keeping)."""
    manual = snapshot.manual
    return {
        "name": snapshot.name,
        "kind": snapshot.kind.value,
        "channel": snapshot.channel.value,
        "environment": snapshot.environment.value,
        "connector": snapshot.connector.value,
        "cloud": snapshot.cloud.value,
        "server": snapshot.server.value,
        "raw_connector": snapshot.raw_connector,
        "raw_cloud": snapshot.raw_cloud,
        "raw_server": snapshot.raw_server,
        "health": snapshot.health.value,
        "manual_operation": manual.operation if manual else None,
        "manual_by": manual.performed_by if manual else None,
        "manual_at": manual.at if manual else None,
        "account_user": snapshot.account_user,
        "source_updated_at": snapshot.updated_at,
    }


_STATE_COLUMNS = (
    "name",
    "kind",
    "channel",
    "environment",
    "connector",
    "cloud",
    "server",
    "raw_connector",
    "raw_cloud",
    "raw_server",
    "health",
    "manual_operation",
    "manual_by",
    "manual_at",
    "account_user",
    "source_updated_at",
)
_SINCE_COLUMNS = ("connector_since", "cloud_since", "server_since", "health_since")

_SNAPSHOT_COLUMNS = (
    CONNECTOR.c.bot_id,
    CONNECTOR.c.name,
    CONNECTOR.c.kind,
    CONNECTOR.c.channel,
    CONNECTOR.c.environment,
    CONNECTOR.c.raw_connector,
    CONNECTOR.c.raw_cloud,
    CONNECTOR.c.raw_server,
    CONNECTOR.c.manual_operation,
    CONNECTOR.c.manual_by,
    CONNECTOR.c.manual_at,
    CONNECTOR.c.source_updated_at,
    CONNECTOR.c.account_user,
    CONNECTOR.c.bot_user,
)


def _snapshot_from_row(row: Sequence[Any], pool: Pool | None = None) -> Snapshot:
    if pool is not None:
        row = [pool(value) for value in row]
    (bot_id, name, kind, channel, environment, raw_connector, raw_cloud, raw_server) = row[:8]
    manual_operation, manual_by, manual_at, updated_at, account_user, bot_user = row[8:]
    manual = (
        ManualOperation(manual_operation, manual_by, manual_at)
        if manual_operation is not None
        else None
    )
    return Snapshot(
        bot_id=bot_id,
        name=name,
        kind=BotKind(kind),
        channel=Channel(channel),
        environment=Environment(environment),
        raw_connector=raw_connector,
        raw_cloud=raw_cloud,
        raw_server=raw_server,
        manual=manual,
        updated_at=updated_at,
        account_user=account_user,
        bot_user=bot_user,
    )


def snapshot_of(connector: Connector) -> Snapshot:
    """Rebuild the snapshot a connector row was stored from."""
    return _snapshot_from_row([getattr(connector, column.name) for column in _SNAPSHOT_COLUMNS])


# -- Loading the fleet ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FleetFingerprint:
    """Changes whenever a connector row is inserted, deleted or has its version bumped."""

    rows: int
    version_sum: int


@dataclass(frozen=True, slots=True)
class StoredFleet:
    """The stored connectors the source still lists, by key, and the bots they make up."""

    snapshots: dict[ConnectorKey, Snapshot]
    removed: frozenset[ConnectorKey]  # connectors it stopped listing (rows kept)
    fingerprint: FleetFingerprint
    bots: dict[str, BotState] = field(default_factory=dict)


async def _connection(session: AsyncSession) -> AsyncConnection:
    return await session.connection()


async def fleet_fingerprint(session: AsyncSession) -> FleetFingerprint:
    connection = await _connection(session)
    result = await connection.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(CONNECTOR.c.version), 0))
    )
    rows, version_sum = result.one()
    return FleetFingerprint(int(rows), int(version_sum))


async def load_fleet(session: AsyncSession) -> StoredFleet:
    """Every stored connector as a snapshot, the removed apart, with its fingerprint.

    Read a partition at a time and paced (chatops.pacing): replies are answered meanwhile.
    """
    connection = await _connection(session)
    fingerprint = await fleet_fingerprint(session)
    result = await connection.stream(sa.select(*_SNAPSHOT_COLUMNS, CONNECTOR.c.removed_at))
    snapshots: dict[ConnectorKey, Snapshot] = {}
    removed: set[ConnectorKey] = set()
    by_bot: dict[str, list[Snapshot]] = {}
    pacer = Pacer()
    # The snapshots share their equal values (chatops.sharing).
    pool = Pool()
    async for row in result:
        if row[-1] is None:
            snapshot = _snapshot_from_row(row[:-1], pool)
            snapshots[snapshot.key] = snapshot
            by_bot.setdefault(snapshot.bot_id, []).append(snapshot)
        else:
            removed.add((row[0], row[-2]))
        await pacer.pace()
    bots: dict[str, BotState] = {}
    for bot_id, connectors in by_bot.items():
        bots[bot_id] = bot_state(connectors)
        await pacer.pace()
    return StoredFleet(snapshots, frozenset(removed), fingerprint, bots)


async def load_snapshots(session: AsyncSession) -> dict[ConnectorKey, Snapshot]:
    """The stored snapshot of every connector that is not marked removed, by key."""
    return (await load_fleet(session)).snapshots


# -- Writing a poll's changes --------------------------------------------------------------


async def apply_fleet_diff(
    session: AsyncSession,
    diff: FleetDiff,
    poll: PollRun,
    now: datetime,
    bots: Sequence[BotChange] = (),
) -> list[TransitionRecord]:
    """Write what one poll found, and nothing for connectors that did not change.

    New connectors: inserted, with no transition rows (first sight is a baseline, not a
    change). A connector that comes back after being removed is updated in place, also
    without transitions, since nobody saw what happened in between. Changed connectors:
    updated, plus one transition row per dimension that moved; ``<dimension>_since`` and
    ``health_since`` move only when that value did. Removed connectors: ``removed_at`` set.
    Transitions of a connector whose manual operation is new in this poll are marked manual.
    ``bots`` are the roll-ups of the bots concerned (``chatops.domain.bot_changes``), written
    to the bot table.

    Each kind of write is one batched statement (executemany), so a poll costs a few
    round trips however many connectors changed. The transition records returned carry
    their ids but are not attached to the session.
    """
    connection = await _connection(session)
    returning = await _write_added(connection, diff.added, now)
    previous_manual = await _manual_operations(connection, [c.key for c in diff.changed])
    updates: list[dict[str, object]] = []
    transitions: list[dict[str, Any]] = []
    for change in diff.changed:
        snapshot = change.snapshot
        moved = {transition.dimension for transition in change.transitions}
        updates.append(
            _update_params(
                snapshot,
                now,
                connector=Dimension.CONNECTOR in moved,
                cloud=Dimension.CLOUD in moved,
                server=Dimension.SERVER in moved,
                health=change.health_changed,
            )
        )
        manual = snapshot.manual
        by_hand = manual is not None and previous_manual.get(snapshot.key) != (
            manual.operation,
            manual.at,
        )
        for transition in change.transitions:
            transitions.append(
                {
                    "bot_id": transition.bot_id,
                    "bot_user": transition.bot_user[:_PERSON],
                    "poll_id": poll.id,
                    "at": now,
                    "dimension": transition.dimension.value,
                    "old": transition.old.value,
                    "new": transition.new.value,
                    "old_raw": transition.old_raw[:_RAW],
                    "new_raw": transition.new_raw[:_RAW],
                    "old_health": change.old_health.value,
                    "new_health": change.new_health.value,
                    "manual": by_hand,
                    "performed_by": manual.performed_by if by_hand and manual else None,
                }
            )
    updates.extend(_update_params(snapshot, now) for snapshot in diff.refreshed)
    updates.extend(
        _update_params(snapshot, now, connector=True, cloud=True, server=True, health=True)
        for snapshot in returning
    )
    if updates:
        await connection.execute(_UPDATE_CONNECTOR, updates)
    if diff.removed:
        await connection.execute(
            sa.update(CONNECTOR)
            .where(
                CONNECTOR.c.bot_id == sa.bindparam("p_bot_id"),
                CONNECTOR.c.bot_user == sa.bindparam("p_bot_user"),
            )
            .values(removed_at=now, version=CONNECTOR.c.version + 1),
            [{"p_bot_id": bot_id, "p_bot_user": user} for bot_id, user in diff.removed],
        )
    await _write_bots(connection, bots, now)
    if not transitions:
        return []
    inserted = await connection.execute(
        sa.insert(TRANSITION).returning(TRANSITION.c.id, sort_by_parameter_order=True),
        transitions,
    )
    ids = inserted.scalars().all()
    return [TransitionRecord(id=id_, **row) for id_, row in zip(ids, transitions, strict=True)]


def _update_statement() -> sa.Update:
    """UPDATE one connector from a snapshot, moving each ``*_since`` only when told to.

    Every row of a batch has the same parameters, so changed, respelled and returning
    connectors all go in one executemany.
    """
    values: dict[str, object] = {
        column: sa.bindparam(f"p_{column}", type_=CONNECTOR.c[column].type)
        for column in _STATE_COLUMNS
    }
    for since in _SINCE_COLUMNS:
        values[since] = sa.case(
            (
                sa.bindparam(f"move_{since}", type_=sa.Boolean),
                sa.bindparam("p_now", type_=CONNECTOR.c[since].type),
            ),
            else_=CONNECTOR.c[since],
        )
    values["removed_at"] = None
    values["version"] = CONNECTOR.c.version + 1
    return (
        sa.update(CONNECTOR)
        .where(
            CONNECTOR.c.bot_id == sa.bindparam("p_bot_id"),
            CONNECTOR.c.bot_user == sa.bindparam("p_bot_user"),
        )
        .values(values)
    )


def _update_params(
    snapshot: Snapshot,
    now: datetime,
    *,
    connector: bool = False,
    cloud: bool = False,
    server: bool = False,
    health: bool = False,
) -> dict[str, object]:
    params = {f"p_{column}": value for column, value in _state_values(snapshot).items()}
    params.update(
        p_bot_id=snapshot.bot_id,
        p_bot_user=snapshot.bot_user,
        p_now=now,
        move_connector_since=connector,
        move_cloud_since=cloud,
        move_server_since=server,
        move_health_since=health,
    )
    return params


async def _existing(
    connection: AsyncConnection, table: sa.Table, column: str, bot_ids: Sequence[str]
) -> list[Any]:
    found: list[Any] = []
    for ids in chunks(sorted(set(bot_ids))):
        if column == "bot_id":
            statement = sa.select(table.c.bot_id, table.c.bot_user)
        else:
            statement = sa.select(table.c[column])
        result = await connection.execute(statement.where(table.c[column].in_(ids)))
        found.extend(tuple(row) if column == "bot_id" else row[0] for row in result)
    return found


async def _write_added(
    connection: AsyncConnection, added: Sequence[Snapshot], now: datetime
) -> list[Snapshot]:
    """Insert the connectors never seen before; return the others (removed once, now back)."""
    if not added:
        return []
    known = set(await _existing(connection, CONNECTOR, "bot_id", [s.bot_id for s in added]))
    rows = [
        {
            "bot_id": snapshot.bot_id,
            "bot_user": snapshot.bot_user,
            "first_seen": now,
            "version": 1,
            "health_since": now,
            "connector_since": now,
            "cloud_since": now,
            "server_since": now,
            **_state_values(snapshot),
        }
        for snapshot in added
        if snapshot.key not in known
    ]
    if rows:
        await connection.execute(sa.insert(CONNECTOR), rows)
    return [snapshot for snapshot in added if snapshot.key in known]


_UPDATE_CONNECTOR = _update_statement()


def _bot_values(bot: BotState) -> dict[str, object]:
    manual = bot.manual
    return {
        "name": bot.name[:_NAME],
        "kind": bot.kind.value,
        "channel": bot.channel.value,
        "environment": bot.environment.value,
        "health": bot.health.value,
        "connectors": bot.total,
        "connectors_ok": bot.ok_count,
        "manual_operation": manual.operation if manual else None,
        "manual_by": manual.performed_by if manual else None,
        "manual_at": manual.at if manual else None,
    }


def _update_bot_statement() -> sa.Update:
    columns = (
        "name",
        "kind",
        "channel",
        "environment",
        "health",
        "connectors",
        "connectors_ok",
        "manual_operation",
        "manual_by",
        "manual_at",
    )
    values: dict[str, object] = {
        column: sa.bindparam(f"p_{column}", type_=BOT.c[column].type) for column in columns
    }
    values["health_since"] = sa.case(
        (
            sa.bindparam("move_health_since", type_=sa.Boolean),
            sa.bindparam("p_now", type_=BOT.c.health_since.type),
        ),
        else_=BOT.c.health_since,
    )
    values["removed_at"] = None
    values["version"] = BOT.c.version + 1
    return sa.update(BOT).where(BOT.c.id == sa.bindparam("p_id")).values(values)


_UPDATE_BOT = _update_bot_statement()


async def _write_bots(
    connection: AsyncConnection, changes: Sequence[BotChange], now: datetime
) -> None:
    """Insert, update or mark removed the bot roll-ups of ``changes``."""
    if not changes:
        return
    listed = [change for change in changes if change.new is not None]
    known = set(await _existing(connection, BOT, "id", [c.bot_id for c in listed]))
    inserts: list[dict[str, object]] = []
    updates: list[dict[str, object]] = []
    for change in listed:
        assert change.new is not None
        values = _bot_values(change.new)
        if change.bot_id not in known:
            inserts.append(
                {"id": change.bot_id, "first_seen": now, "health_since": now, "version": 1} | values
            )
            continue
        moved = change.old is None or change.old.health is not change.new.health
        updates.append(
            {f"p_{key}": value for key, value in values.items()}
            | {"p_id": change.bot_id, "p_now": now, "move_health_since": moved}
        )
    if inserts:
        await connection.execute(sa.insert(BOT), inserts)
    if updates:
        await connection.execute(_UPDATE_BOT, updates)
    gone = [change.bot_id for change in changes if change.new is None]
    for ids in chunks(gone):
        await connection.execute(
            sa.update(BOT)
            .where(BOT.c.id.in_(ids))
            .values(removed_at=now, version=BOT.c.version + 1)
        )


async def _manual_operations(
    connection: AsyncConnection, keys: Sequence[ConnectorKey]
) -> dict[ConnectorKey, tuple[str | None, datetime | None]]:
    wanted = set(keys)
    stored: dict[ConnectorKey, tuple[str | None, datetime | None]] = {}
    for ids in chunks(sorted({bot_id for bot_id, _ in wanted})):
        result = await connection.execute(
            sa.select(
                CONNECTOR.c.bot_id,
                CONNECTOR.c.bot_user,
                CONNECTOR.c.manual_operation,
                CONNECTOR.c.manual_at,
            ).where(CONNECTOR.c.bot_id.in_(ids))
        )
        for bot_id, bot_user, operation, at in result:
            if (bot_id, bot_user) in wanted:
                stored[(bot_id, bot_user)] = (operation, at)
    return stored
