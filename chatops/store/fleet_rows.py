"""The stored fleet in memory: bot and connector rows, kept in step with the database.

A poll writes only the rows that changed, and every write bumps the row's ``version``. A
:class:`FleetRows` remembers the version of each row it holds, so catching up after a poll
reads the (key, version) pairs and then only the rows whose version moved: at 1% churn, 100
connectors rather than 10,000. The first load reads everything.

Reading is done in partitions, with a turn of the event loop between them, so that loading
10,000 rows never holds the loop (and the replies waiting on it) for more than a few ms.

The rows are held as plain slotted objects (:class:`BotRow`, :class:`ConnectorRow`) read with
Core, not as ORM instances: an ORM row's state and instrumentation cost about 1.5 kB more
than its values, some 15 MB over a fleet of 10,000 connectors. Equal values of one
catch-up's rows are one object (chatops.sharing).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeAlias, TypeVar

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.pacing import Pacer
from chatops.sharing import Pool
from chatops.store.models import Bot, Connector
from chatops.store.polls import LastPoll, last_success
from chatops.store.tables import BOT, CONNECTOR, chunks

# Rows per partition: one partition of ORM rows costs the loop a few ms.
PARTITION = 200
# Past this share of changed rows, reading everything again is cheaper than by key.
FULL_RELOAD_SHARE = 0.3


ConnectorKey = tuple[str, str]
T = TypeVar("T")


@dataclass(slots=True)
class BotRow:
    """A bot row (``chatops.store.models.Bot``) as a plain object; fields in column order."""

    id: str
    name: str
    kind: str
    channel: str
    environment: str
    health: str
    health_since: datetime
    connectors: int
    connectors_ok: int
    manual_operation: str | None
    manual_by: str | None
    manual_at: datetime | None
    first_seen: datetime
    removed_at: datetime | None
    version: int


@dataclass(slots=True)
class ConnectorRow:
    """A connector row (``chatops.store.models.Connector``) as a plain object."""

    bot_id: str
    bot_user: str
    name: str
    kind: str
    channel: str
    environment: str
    connector: str
    cloud: str
    server: str
    raw_connector: str
    raw_cloud: str
    raw_server: str
    health: str
    health_since: datetime
    connector_since: datetime
    cloud_since: datetime
    server_since: datetime
    manual_operation: str | None
    manual_by: str | None
    manual_at: datetime | None
    account_user: str | None
    source_updated_at: datetime | None
    first_seen: datetime
    removed_at: datetime | None
    version: int


# A bot or connector row as read: the ORM's, or the replies' plain copy.
BotRecord: TypeAlias = "Bot | BotRow"
ConnectorRecord: TypeAlias = "Connector | ConnectorRow"

_BOT_COLUMNS = [BOT.c[field.name] for field in fields(BotRow)]
_CONNECTOR_COLUMNS = [CONNECTOR.c[field.name] for field in fields(ConnectorRow)]


@dataclass(frozen=True, slots=True)
class Loaded:
    """What one catch-up found: the rows as of ``poll`` and whether any of them changed."""

    poll: LastPoll | None
    bots: dict[str, BotRow]
    connectors: dict[str, list[ConnectorRow]]
    changed: bool
    full: bool


class FleetRows:
    """Listed bots and their listed connectors, as plain rows, and their versions."""

    def __init__(self) -> None:
        self._bots: dict[str, BotRow] = {}
        self._bot_versions: dict[str, int] = {}
        self._connectors: dict[str, list[ConnectorRow]] = {}
        self._connector_versions: dict[ConnectorKey, int] = {}
        self._poll: LastPoll | None = None
        self._loaded = False

    async def catch_up(self, session: AsyncSession) -> Loaded:
        """Read what changed since the last call (everything the first time).

        Rows change only in a successful poll's transaction, so while the last successful
        poll is the one seen last time, nothing is read but that poll's row.
        """
        poll = await last_success(session)
        if self._loaded and poll == self._poll:
            return Loaded(poll, self._bots, self._connectors, changed=False, full=False)
        pacer = Pacer()
        # The rows of one catch-up share their equal values (chatops.sharing).
        pool = Pool()
        bot_versions: dict[str, int] = {}
        for bot_id, version in await _rows(session, sa.select(BOT.c.id, BOT.c.version), BOT):
            await pacer.pace()
            bot_versions[pool(bot_id)] = version
        connector_versions: dict[ConnectorKey, int] = {}
        changed_connectors: set[str] = set()
        for bot_id, user, version in await _rows(
            session,
            sa.select(CONNECTOR.c.bot_id, CONNECTOR.c.bot_user, CONNECTOR.c.version),
            CONNECTOR,
        ):
            await pacer.pace()
            connector_versions[pool(bot_id), pool(user)] = version
            if self._connector_versions.get((bot_id, user)) != version:
                changed_connectors.add(bot_id)
        changed_bots = [b for b, v in bot_versions.items() if self._bot_versions.get(b) != v]
        changed_connectors.update(
            key[0] for key in self._connector_versions.keys() - connector_versions.keys()
        )
        gone = self._bots.keys() - bot_versions.keys()
        full = not self._loaded or (
            len(changed_bots) > FULL_RELOAD_SHARE * max(len(bot_versions), 1)
            or len(changed_connectors) > FULL_RELOAD_SHARE * max(len(bot_versions), 1)
        )
        if full:
            self._bots = {}
            async for row in _stream(session, _listed_bots()):
                bot = BotRow(*map(pool, row))
                self._bots[bot.id] = bot
            self._connectors = {}
            async for row in _stream(session, _listed_connectors()):
                connector = ConnectorRow(*map(pool, row))
                self._connectors.setdefault(connector.bot_id, []).append(connector)
        else:
            for bot_id in gone:
                del self._bots[bot_id]
            for ids in chunks(changed_bots, PARTITION):
                for row in await _all(session, _listed_bots(BOT.c.id.in_(ids))):
                    bot = BotRow(*map(pool, row))
                    self._bots[bot.id] = bot
            for ids in chunks(sorted(changed_connectors), PARTITION):
                for bot_id in ids:
                    self._connectors.pop(bot_id, None)
                condition = CONNECTOR.c.bot_id.in_(ids)
                for row in await _all(session, _listed_connectors(condition)):
                    connector = ConnectorRow(*map(pool, row))
                    self._connectors.setdefault(connector.bot_id, []).append(connector)
        self._bot_versions = bot_versions
        self._connector_versions = connector_versions
        self._poll = poll
        self._loaded = True
        changed = full or bool(changed_bots or changed_connectors or gone)
        return Loaded(poll, self._bots, self._connectors, changed, full)


def _listed_bots(*conditions: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return sa.select(*_BOT_COLUMNS).where(BOT.c.removed_at.is_(None), *conditions)


def _listed_connectors(*conditions: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return (
        sa.select(*_CONNECTOR_COLUMNS)
        .where(CONNECTOR.c.removed_at.is_(None), *conditions)
        .order_by(CONNECTOR.c.bot_id, CONNECTOR.c.bot_user)
    )


async def _rows(session: AsyncSession, statement: sa.Select[Any], table: sa.Table) -> list[Any]:
    """Core rows of the listed (not removed) rows of ``table``, a partition at a time."""
    connection = await session.connection()
    result = await connection.stream(statement.where(table.c.removed_at.is_(None)))
    rows: list[Any] = []
    async for partition in result.partitions(PARTITION * 10):
        rows.extend(tuple(row) for row in partition)
        await asyncio.sleep(0)
    return rows


async def _stream(session: AsyncSession, statement: sa.Select[Any]) -> AsyncIterator[Any]:
    connection = await session.connection()
    result = await connection.stream(statement)
    async for partition in result.partitions(PARTITION):
        for row in partition:
            yield row
        await asyncio.sleep(0)


async def _all(session: AsyncSession, statement: sa.Select[Any]) -> Sequence[Any]:
    connection = await session.connection()
    rows: Sequence[Any] = (await connection.execute(statement)).all()
    await asyncio.sleep(0)
    return rows


__all__ = ["BotRecord", "BotRow", "ConnectorRecord", "ConnectorRow", "FleetRows", "Loaded"]
