"""Leases and locks in the database: which process does a job that must run once.

- The poller's leadership (several replicas, one poller): :class:`PostgresLeaseGate` on
  PostgreSQL (a lease row taken under ``pg_try_advisory_xact_lock`` in the tick's own
  transaction), :class:`LeaseGate` elsewhere (a lease row by compare-and-set, committed at
  once); :class:`AdvisoryLockGate` alone only keeps ticks apart (``chatops poll --once``).
  ``leader_gate_for`` picks the gate for a backend.
- Start and Stop clicked twice reach LivePerson once: a short :class:`LeaseGate` per
  connector (chatops.slack.control).
- Migrations run one at a time: ``advisory_lock_key`` (chatops.store.migrate).
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.store.engine import dialect_insert
from chatops.store.models import utcnow
from chatops.store.tables import LEASE

POLLER_LOCK_NAME = "chatops.poller"


def advisory_lock_key(name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL advisory locks, derived from a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class LeaderGate(Protocol):
    """Decides, at the start of each tick, whether this process is the one that polls.

    ``lease`` is how long leadership lasts without renewal (zero: the gate has no lease, it
    only keeps ticks apart). The poller calls ``extend`` in the tick's transaction just
    before committing it, and ``release`` on a clean shutdown.
    """

    @property
    def lease(self) -> timedelta: ...

    async def acquire(self, session: AsyncSession) -> bool:
        """True to poll now. Runs first in the tick's session, before the fetch."""
        ...

    async def extend(self, session: AsyncSession) -> None:
        """Renew the lease from now, in the tick's transaction (which the caller commits)."""
        ...

    async def release(self, session: AsyncSession) -> None:
        """Give leadership up at once, so that another process need not wait for the lease."""
        ...


class AdvisoryLockGate:
    """PostgreSQL: ``pg_try_advisory_xact_lock`` in the tick's transaction.

    The lock lives exactly as long as that transaction (through the fetch and the writes)
    and is freed by commit, rollback or a dropped connection; it works behind PgBouncer's
    transaction pooling, unlike a session-level lock.

    Alone it only keeps ticks apart; it is not sticky (whoever ticks next after a commit
    polls again). ``chatops poll --once`` uses it; ``serve`` uses :class:`PostgresLeaseGate`.
    """

    lease = timedelta(0)

    def __init__(self, name: str = POLLER_LOCK_NAME) -> None:
        self.key = advisory_lock_key(name)

    async def acquire(self, session: AsyncSession) -> bool:
        connection = await session.connection()
        result = await connection.execute(
            sa.select(sa.func.pg_try_advisory_xact_lock(sa.literal(self.key, sa.BigInteger)))
        )
        return bool(result.scalar_one())

    async def extend(self, session: AsyncSession) -> None:
        """Nothing to renew: the lock goes with the transaction."""

    async def release(self, session: AsyncSession) -> None:
        """Nothing to give up outside a tick."""


class LeaseGate:
    """A lease row taken by compare-and-set, for backends without advisory locks (SQLite).

    The holder renews the lease at every tick; if it stops ticking, another process takes
    over once ``ttl`` has passed. The compare-and-set is committed at once, so the fetch
    that follows does not hold SQLite's write lock.

    Also the once-per-double-click lock of Start/Stop (chatops.slack.control).
    """

    def __init__(
        self,
        holder: str,
        ttl: timedelta,
        *,
        name: str = "poller",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.holder = holder
        self.ttl = ttl
        self.name = name
        self._clock = clock

    @property
    def lease(self) -> timedelta:
        return self.ttl

    async def acquire(self, session: AsyncSession) -> bool:
        now = self._clock()
        connection = await session.connection()
        taken = await connection.execute(
            sa.update(LEASE)
            .where(
                LEASE.c.name == self.name,
                sa.or_(LEASE.c.expires_at <= now, LEASE.c.holder == self.holder),
            )
            .values(holder=self.holder, expires_at=now + self.ttl)
        )
        acquired = taken.rowcount == 1
        if not acquired:
            created = await connection.execute(
                dialect_insert(connection.dialect.name, LEASE)
                .values(name=self.name, holder=self.holder, expires_at=now + self.ttl)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            acquired = created.rowcount == 1
        await session.commit()
        return acquired

    async def extend(self, session: AsyncSession) -> None:
        connection = await session.connection()
        await connection.execute(
            sa.update(LEASE)
            .where(LEASE.c.name == self.name, LEASE.c.holder == self.holder)
            .values(expires_at=self._clock() + self.ttl)
        )

    async def release(self, session: AsyncSession) -> None:
        """Give the lease up (clean shutdown), so that another process need not wait."""
        connection = await session.connection()
        await connection.execute(
            sa.update(LEASE)
            .where(LEASE.c.name == self.name, LEASE.c.holder == self.holder)
            .values(expires_at=self._clock())
        )
        await session.commit()


class PostgresLeaseGate:
    """PostgreSQL, several replicas: a lease row, taken under the tick's advisory xact lock.

    Why both. The advisory lock alone keeps ticks apart but is not sticky: with three
    replicas ticking every interval, whoever ticks right after a commit would poll again,
    three polls per interval. The lease row makes one replica *the* poller: others skip
    until it has not renewed for one lease period, so a replica killed with SIGKILL is
    replaced within one lease period plus one poll interval (the next tick of another
    replica). The lock serialises the contenders and the holder's own tick, and being
    transaction-scoped it works behind PgBouncer's transaction pooling.

    One tick: read the lease (a plain MVCC read: a replica that is not the holder and
    finds the lease valid stops here, without touching the lock, so it never makes the
    holder's try-lock fail); take ``pg_try_advisory_xact_lock``; compare-and-set the row
    (``holder`` is us, or the lease expired); fetch and write; ``extend`` just before the
    commit. Expiry is compared with the database's clock (``now()``, ``clock_timestamp()``),
    so replicas on hosts whose clocks differ agree on it.
    """

    def __init__(
        self,
        holder: str,
        lease: timedelta,
        *,
        name: str = "poller",
        lock_name: str = POLLER_LOCK_NAME,
    ) -> None:
        self.holder = holder
        self.lease = lease
        self.name = name
        # The same lock as ``chatops poll --once`` takes, so that it never polls beside a tick.
        self._lock = AdvisoryLockGate(lock_name)

    async def acquire(self, session: AsyncSession) -> bool:
        connection = await session.connection()
        current = (
            await connection.execute(
                sa.select(LEASE.c.holder, LEASE.c.expires_at > sa.func.now()).where(
                    LEASE.c.name == self.name
                )
            )
        ).first()
        if current is not None and current[0] != self.holder and current[1]:
            return False
        if not await self._lock.acquire(session):
            return False
        expires_at = sa.func.now() + sa.literal(self.lease, sa.Interval)
        claimed = await connection.execute(
            sa.update(LEASE)
            .where(
                LEASE.c.name == self.name,
                sa.or_(LEASE.c.holder == self.holder, LEASE.c.expires_at <= sa.func.now()),
            )
            .values(holder=self.holder, expires_at=expires_at)
        )
        if claimed.rowcount == 1:
            return True
        created = await connection.execute(
            dialect_insert("postgresql", LEASE)
            .values(name=self.name, holder=self.holder, expires_at=expires_at)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        return created.rowcount == 1

    async def extend(self, session: AsyncSession) -> None:
        connection = await session.connection()
        await connection.execute(
            sa.update(LEASE)
            .where(LEASE.c.name == self.name, LEASE.c.holder == self.holder)
            .values(expires_at=sa.func.clock_timestamp() + sa.literal(self.lease, sa.Interval))
        )

    async def release(self, session: AsyncSession) -> None:
        connection = await session.connection()
        await connection.execute(
            sa.update(LEASE)
            .where(LEASE.c.name == self.name, LEASE.c.holder == self.holder)
            .values(expires_at=sa.func.now())
        )
        await session.commit()


def process_identity() -> str:
    """Who holds a lease: host, pid and a random part (pids repeat across containers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_period(interval: timedelta) -> timedelta:
    """How long the poller's leadership lasts without renewal: 1.5 intervals, at least one
    interval plus a second.

    The holder renews at every tick, so it may be late by half an interval (or a second)
    before losing the lease. Shorter than two intervals on purpose: a dead leader is then
    replaced within 2.5 intervals, before /readyz (last successful poll younger than three
    intervals) turns every replica unready.
    """
    return max(interval * 3 / 2, interval + timedelta(seconds=1))


def leader_gate_for(
    dialect_name: str, *, interval: timedelta, holder: str | None = None
) -> LeaderGate:
    """The gate suited to the backend: lease plus advisory lock on PostgreSQL, a lease row
    by compare-and-set elsewhere (SQLite: one replica; the lease still guards a second
    process started by mistake)."""
    holder = holder or process_identity()
    if dialect_name == "postgresql":
        return PostgresLeaseGate(holder, lease_period(interval))
    return LeaseGate(holder, ttl=lease_period(interval))
