"""The stored fleet in memory: bot and connector rows, kept in step with the database.

A poll writes only the rows that changed, and every write bumps the row's ``version``. A
:class:`FleetRows` remembers the version of each row it holds, so catching up after a poll
reads the (key, version) pairs and then only the rows whose version moved: at 1% churn, 100
connectors rather than 10,000. The first load reads everything.

Reading is done in partitions, with a turn of the event loop between them, so that loading
10,000 rows never holds the loop (and the replies waiting on it) for more than a few ms.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.pacing import Pacer
from chatops.store.models import Bot, Connector
from chatops.store.polls import LastPoll, last_success
from chatops.store.tables import BOT, CONNECTOR

# Rows per partition: one partition of ORM rows costs the loop a few ms.
PARTITION = 200
# Past this share of changed rows, reading everything again is cheaper than by key.
FULL_RELOAD_SHARE = 0.3


ConnectorKey = tuple[str, str]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Loaded:
    """What one catch-up found: the rows as of ``poll`` and whether any of them changed."""

    poll: LastPoll | None
    bots: dict[str, Bot]
    connectors: dict[str, list[Connector]]
    changed: bool
    full: bool


class FleetRows:
    """Listed bots and their listed connectors, as detached ORM rows, and their versions."""

    def __init__(self) -> None:
        self._bots: dict[str, Bot] = {}
        self._bot_versions: dict[str, int] = {}
        self._connectors: dict[str, list[Connector]] = {}
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
        bot_versions: dict[str, int] = {}
        for bot_id, version in await _rows(session, sa.select(BOT.c.id, BOT.c.version), BOT):
            await pacer.pace()
            bot_versions[bot_id] = version
        connector_versions: dict[ConnectorKey, int] = {}
        changed_connectors: set[str] = set()
        for bot_id, user, version in await _rows(
            session,
            sa.select(CONNECTOR.c.bot_id, CONNECTOR.c.bot_user, CONNECTOR.c.version),
            CONNECTOR,
        ):
            await pacer.pace()
            connector_versions[bot_id, user] = version
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
            self._bots = {bot.id: bot async for bot in _stream(session, _listed_bots())}
            self._connectors = {}
            async for connector in _stream(session, _listed_connectors()):
                self._connectors.setdefault(connector.bot_id, []).append(connector)
        else:
            for bot_id in gone:
                del self._bots[bot_id]
            for ids in _chunks(changed_bots):
                for bot in await _all(session, _listed_bots(col(Bot.id).in_(ids))):
                    self._bots[bot.id] = bot
            for ids in _chunks(sorted(changed_connectors)):
                for bot_id in ids:
                    self._connectors.pop(bot_id, None)
                condition = col(Connector.bot_id).in_(ids)
                for connector in await _all(session, _listed_connectors(condition)):
                    self._connectors.setdefault(connector.bot_id, []).append(connector)
        self._bot_versions = bot_versions
        self._connector_versions = connector_versions
        self._poll = poll
        self._loaded = True
        changed = full or bool(changed_bots or changed_connectors or gone)
        return Loaded(poll, self._bots, self._connectors, changed, full)


def _listed_bots(*conditions: sa.ColumnElement[bool]) -> Any:
    return select(Bot).where(col(Bot.removed_at).is_(None), *conditions)


def _listed_connectors(*conditions: sa.ColumnElement[bool]) -> Any:
    return (
        select(Connector)
        .where(col(Connector.removed_at).is_(None), *conditions)
        .order_by(col(Connector.bot_id), col(Connector.bot_user))
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


async def _stream(session: AsyncSession, statement: Any) -> AsyncIterator[Any]:
    result = await session.stream_scalars(statement)
    async for partition in result.partitions(PARTITION):
        for row in partition:
            yield row
        await asyncio.sleep(0)


async def _all(session: AsyncSession, statement: Any) -> Sequence[Any]:
    rows: Sequence[Any] = (await session.exec(statement)).all()
    await asyncio.sleep(0)
    return rows


def _chunks(items: Iterable[T], size: int = PARTITION) -> Iterable[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


__all__ = ["FleetRows", "Loaded"]
