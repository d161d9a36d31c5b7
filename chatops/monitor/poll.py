"""The poll tick: fetch every bot, diff against stored state, write only what changed.

One tick, in order:

1. Leadership (several replicas): the :class:`LeaderGate` says whether this process polls
   now. Every replica ticks; only the holder of the ``poller`` lease row polls. On
   PostgreSQL the lease is taken and renewed inside the tick's own transaction under
   ``pg_try_advisory_xact_lock``; on SQLite by a compare-and-set committed at once (the
   gates are in chatops.store.leases). The lease is extended again just
   before the tick commits, so it runs for one lease period from the end of the last tick.
2. Fetch from the source, outside any write: a slow source never holds SQLite's write lock.
3. One transaction: the poll run row (written first, so that SQLite's write lock is taken
   before stored state is read), stored state, the diff, changed bot rows, transition
   rows, then the ``in_transaction`` hooks (the alert outbox), commit.
4. The ``on_commit`` hooks (wake the alert relay), after failed polls too.

A failed fetch (:class:`SourceError`) writes a failed poll run and changes no bot. Any other
exception rolls the transaction back, is logged with its traceback and is recorded as a
failed poll run in a transaction of its own: the scheduler's next tick runs as usual.

A database that cannot be reached (refused, dropped mid-tick, pool exhausted) makes ``tick``
raise :class:`StoreUnavailable`, with the driver's reason and no traceback or statement:
nothing was stored, so nothing is lost; the next tick sees the same changes again.

The stored fleet is kept in memory between ticks and re-read only when the bot table's
fingerprint (row count, sum of versions) is not the one the last commit left, i.e. when
someone else wrote bot rows. A steady poll of 10,000 bots thus reads one aggregate row.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.domain import (
    BotChange,
    ConnectorKey,
    FleetDiff,
    Snapshot,
    Transition,
    bot_changes,
    diff_fleet,
)
from chatops.domain.conversations import MetricsOutcome, MetricsReading
from chatops.pacing import Pacer
from chatops.sources.base import AgentMetricsReader, SourceError, StatusSource
from chatops.store.agent_metrics import AgentMetricsRows
from chatops.store.engine import SessionFactory, describe_database_error, is_database_unavailable
from chatops.store.fleet import (
    FleetFingerprint,
    StoredFleet,
    apply_fleet_diff,
    fleet_fingerprint,
    load_fleet,
    storable,
)
from chatops.store.leases import LeaderGate
from chatops.store.models import PollRun, utcnow
from chatops.store.polls import finish_poll, record_failed_poll, start_poll

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollResult:
    """What one tick did. ``ok`` is False when the source (or the tick itself) failed.

    ``changes`` are the bots whose roll-up changed (a connector's statuses, a connector
    added or removed); ``added`` and ``removed`` count connectors.
    """

    poll_id: int
    ok: bool
    error: str | None
    permanent: bool
    changes: tuple[BotChange, ...]
    added: int
    removed: int
    bots: int
    duration: float
    connectors: int = 0
    # The poll's read of LivePerson's Agent Metrics (None: not read).
    metrics: MetricsReading | None = None

    @property
    def transitions(self) -> list[Transition]:
        return [transition for change in self.changes for transition in change.transitions]


OnCommit = Callable[[PollResult], Awaitable[None]]
# Runs in the poll's transaction with the bots whose roll-up changed (the alert planner).
InTransaction = Callable[[AsyncSession, Sequence[BotChange], PollRun, datetime], Awaitable[None]]


class StoreUnavailable(Exception):
    """The database could not be reached during a tick; nothing was stored.

    The message is the driver's reason (no SQL statement, no parameters, no password).
    """


class Poller:
    """Runs poll ticks against one source and one database, one tick at a time."""

    def __init__(
        self,
        source: StatusSource,
        sessions: SessionFactory,
        *,
        clock: Callable[[], datetime] = utcnow,
        in_transaction: Sequence[InTransaction] = (),
        on_commit: Sequence[OnCommit] = (),
        leader: LeaderGate | None = None,
        agent_metrics: AgentMetricsReader | None = None,
    ) -> None:
        self._source = source
        self._agent_metrics = agent_metrics
        self._metrics_rows = AgentMetricsRows()
        self._sessions = sessions
        self._clock = clock
        self._in_transaction = tuple(in_transaction)
        self._on_commit = tuple(on_commit)
        self._leader = leader
        # The fleet as this poller last committed it; its fingerprint is the one expected.
        self._cache: StoredFleet | None = None
        # The scheduler never overlaps ticks, but a tick asked for by hand could.
        self._one_at_a_time = asyncio.Lock()
        # Until when (time.monotonic) this process holds the lease, as of its last commit.
        self._leading_until: float | None = None

    def leads(self) -> bool:
        """True while this process holds the poller lease (always, without a gate).

        Measured from just before the last tick's commit, by this process's own clock: it
        never outlasts the lease stored in the database, which started later.
        """
        if self._leader is None:
            return True
        return self._leading_until is not None and time.monotonic() < self._leading_until

    async def tick(self) -> PollResult | None:
        """Poll once; None when another process is the leader.

        A failing source, hook or write is logged and recorded as a failed poll run, and
        the result says so. A database that cannot be reached raises StoreUnavailable.
        """
        async with self._one_at_a_time:
            try:
                return await self._tick()
            except Exception as exc:
                if is_database_unavailable(exc):
                    raise StoreUnavailable(_database_unavailable(exc)) from None
                raise

    async def release_leadership(self) -> None:
        """Give the lease up (clean shutdown): another replica takes over at its next tick."""
        if self._leader is None:
            return
        async with self._one_at_a_time, self._sessions() as session:
            await self._leader.release(session)
        if self._leading_until is not None:
            logger.info("gave up the poller lease")
        self._leading_until = None

    async def _tick(self) -> PollResult | None:
        result = await self._attempt()
        if result is None:
            return None
        for hook in self._on_commit:
            try:
                await hook(result)
            except Exception:
                # The poll is committed; a failing listener must not undo or repeat it.
                logger.exception("on-commit hook %r failed", hook)
        return result

    async def _attempt(self) -> PollResult | None:
        started_at = self._clock()
        started = time.monotonic()
        async with self._sessions() as session:
            if self._leader is not None and not await self._leader.acquire(session):
                self._not_leading()
                return None
            try:
                fetched = await self._source.fetch()
            except SourceError as exc:
                logger.warning("poll failed: the status source said: %s", exc)
                return await self._record_failure(
                    session, started_at, started, str(exc), permanent=exc.permanent
                )
            except Exception as exc:
                logger.exception("poll failed: the status source raised an unexpected error")
                await session.rollback()
                return await self._record_failure(
                    session, started_at, started, _internal(exc), permanent=False, renew=False
                )
            reading = await self._read_agent_metrics(fetched, started)
            try:
                result = await self._write(session, fetched, started_at, started, reading)
            except Exception as exc:
                if is_database_unavailable(exc):
                    raise
                logger.exception("poll failed while storing its results; nothing was stored")
                await session.rollback()
                return await self._record_failure(
                    session, started_at, started, _internal(exc), permanent=False, renew=False
                )
        return result

    async def _read_agent_metrics(
        self, fetched: Sequence[Snapshot], started: float
    ) -> MetricsReading | None:
        """The conversations at stake, when a reader is set; their failure fails no poll."""
        if self._agent_metrics is None:
            return None
        try:
            return await self._agent_metrics.read(fetched, started)
        except Exception as exc:
            logger.exception("reading LivePerson's Agent Metrics raised; polling goes on without")
            return MetricsReading(MetricsOutcome.FAILED, _internal(exc))

    async def _commit(self, session: AsyncSession, *, renew: bool = True) -> None:
        """Commit the tick, renewing the lease in the same transaction.

        ``renew`` is False after a rollback: the lease claim and the advisory lock went with
        the rolled-back transaction, so this commit proves nothing about leadership.
        """
        deadline = None
        if renew and self._leader is not None:
            deadline = time.monotonic() + self._leader.lease.total_seconds()
            await self._leader.extend(session)
        await session.commit()
        if deadline is not None:
            if not self.leads() and self._leader is not None and self._leader.lease:
                logger.info("this process now holds the poller lease: it polls and relays alerts")
            self._leading_until = deadline

    def _not_leading(self) -> None:
        if self.leads():
            logger.info("the poller lease is not this process's now; it stops polling")
        else:
            logger.debug("another process holds the poller lease; not polling")
        self._leading_until = None

    async def _write(
        self,
        session: AsyncSession,
        fetched: Sequence[Snapshot],
        started_at: datetime,
        started: float,
        reading: MetricsReading | None = None,
    ) -> PollResult:
        snapshots = _unique(fetched)
        poll = await start_poll(session, started_at)
        now = self._clock()
        fleet = await self._stored_fleet(session)
        diff = await _diff(fleet.snapshots, snapshots)
        changes = bot_changes(fleet.bots, diff)
        _report_disagreements(changes)
        records = await apply_fleet_diff(session, diff, poll, now, changes)
        if reading is not None:
            # Before the hooks: the alerts they plan show the counts of this poll.
            await self._metrics_rows.save(session, reading, snapshots, poll, now)
        for hook in self._in_transaction:
            await hook(session, changes, poll, now)
        duration = time.monotonic() - started
        bots = len({bot_id for bot_id, _ in snapshots})
        finish_poll(
            poll,
            finished_at=self._clock(),
            duration_ms=round(duration * 1000),
            ok=True,
            bots=bots,
            connectors=len(snapshots),
            changed=len(diff.changed),
            transitions=len(records),
        )
        await self._commit(session)
        await self._remember(fleet, diff, changes, snapshots)
        assert poll.id is not None
        return PollResult(
            poll_id=poll.id,
            ok=True,
            error=None,
            permanent=False,
            changes=changes,
            added=len(diff.added),
            removed=len(diff.removed),
            bots=bots,
            duration=duration,
            connectors=len(snapshots),
            metrics=reading,
        )

    async def _stored_fleet(self, session: AsyncSession) -> StoredFleet:
        cache = self._cache
        if cache is not None and await fleet_fingerprint(session) == cache.fingerprint:
            return cache
        if cache is not None:
            logger.info("connector table changed outside this poller; reloading stored state")
        return await load_fleet(session)

    async def _remember(
        self,
        fleet: StoredFleet,
        diff: FleetDiff,
        changes: Sequence[BotChange],
        fetched: Mapping[ConnectorKey, Snapshot],
    ) -> None:
        """Carry the committed changes into the cached fleet and its expected fingerprint.

        An unchanged connector's stored snapshot is replaced by the equal one fetched: the
        source hands that same object back while the entry stays the same, so the fleet is
        held once, not once by the source and once here. Paced (chatops.pacing).
        """
        snapshots = fleet.snapshots
        pacer = Pacer()
        for key, snapshot in fetched.items():
            await pacer.pace()
            stored = snapshots.get(key)
            if stored is not None and stored is not snapshot and stored == snapshot:
                snapshots[key] = snapshot
        removed = set(fleet.removed)
        returning = sum(1 for snapshot in diff.added if snapshot.key in removed)
        for snapshot in diff.added:
            snapshots[snapshot.key] = snapshot
            removed.discard(snapshot.key)
        for change in diff.changed:
            snapshots[change.key] = change.snapshot
        for snapshot in diff.refreshed:
            snapshots[snapshot.key] = snapshot
        for key in diff.removed:
            snapshots.pop(key, None)
            removed.add(key)
        bots = fleet.bots
        for bot in changes:
            if bot.new is None:
                bots.pop(bot.bot_id, None)
            else:
                bots[bot.bot_id] = bot.new
        new_rows = len(diff.added) - returning
        # apply_fleet_diff: new rows start at version 1, every other written row gets +1.
        bumps = new_rows + returning + len(diff.changed) + len(diff.refreshed) + len(diff.removed)
        before = fleet.fingerprint
        expected = FleetFingerprint(before.rows + new_rows, before.version_sum + bumps)
        self._cache = StoredFleet(snapshots, frozenset(removed), expected, bots)

    async def _record_failure(
        self,
        session: AsyncSession,
        started_at: datetime,
        started: float,
        error: str,
        *,
        permanent: bool,
        renew: bool = True,
    ) -> PollResult:
        duration = time.monotonic() - started
        poll = await record_failed_poll(
            session,
            started_at=started_at,
            finished_at=self._clock(),
            duration_ms=round(duration * 1000),
            error=error,
            permanent=permanent,
        )
        await self._commit(session, renew=renew)
        assert poll.id is not None
        return PollResult(
            poll_id=poll.id,
            ok=False,
            error=error,
            permanent=permanent,
            changes=(),
            added=0,
            removed=0,
            bots=0,
            duration=duration,
        )


def _unique(fetched: Sequence[Snapshot]) -> dict[ConnectorKey, Snapshot]:
    """Snapshots by connector; a source listing one connector twice keeps the first."""
    snapshots = {snapshot.key: snapshot for snapshot in reversed(fetched)}
    if len(snapshots) != len(fetched):
        logger.warning(
            "the source listed %d connectors under %d (bot, bot user) keys; kept the first of each",
            len(fetched),
            len(snapshots),
        )
    return snapshots


async def _diff(
    stored: Mapping[ConnectorKey, Snapshot], fetched: Mapping[ConnectorKey, Snapshot]
) -> FleetDiff:
    """``diff_fleet``, with the unchanged majority set aside by one equality test each.

    Only the snapshots that differ from the stored ones are made storable (clipped) and
    diffed; one equal to what is stored is storable already. Paced (chatops.pacing).
    """
    candidates = []
    pacer = Pacer()
    for key, snapshot in fetched.items():
        old = stored.get(key)
        if old is not snapshot and old != snapshot:
            candidates.append(storable(snapshot))
        await pacer.pace()
    known = {s.key: stored[s.key] for s in candidates if s.key in stored}
    found = diff_fleet(known, candidates)
    removed = tuple(sorted(stored.keys() - fetched.keys()))
    return FleetDiff(found.added, found.changed, removed, found.refreshed)


def _report_disagreements(changes: Sequence[BotChange]) -> None:
    """Log, once per new disagreement, a bot whose connectors disagree on its attributes."""
    for change in changes:
        new = change.new
        if new is None or new.disagreement is None:
            continue
        if change.old is None or change.old.disagreement != new.disagreement:
            logger.warning("%s; showing the majority's", new.disagreement)


def _internal(exc: Exception) -> str:
    return f"internal error: {type(exc).__name__}: {exc}"


def _database_unavailable(exc: BaseException) -> str:
    return f"the database is unavailable: {describe_database_error(exc)}"
