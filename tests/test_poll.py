from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.config import EnvSettings
from chatops.domain import BotChange, Environment, parse_connector, parse_server
from chatops.domain.status import ConnectorStatus, Server
from chatops.monitor.poll import Poller, PollResult
from chatops.monitor.scheduler import build_scheduler
from chatops.sandbox.liveperson import RunningServer
from chatops.sources.liveperson import LivePersonSource
from chatops.store.engine import SessionFactory, make_engine, make_session_factory
from chatops.store.leases import AdvisoryLockGate, LeaseGate
from chatops.store.models import Bot, Connector, OutboxMessage, PollRun, TransitionRecord
from tests.clock import ManualClock
from tests.fixtures.db import WriteLog
from tests.fixtures.liveperson import secrets_for
from tests.waiting import PATIENCE, await_until


def make_source(env: EnvSettings) -> LivePersonSource:
    # No waits between retries: a failing fake fails the poll at once.
    return LivePersonSource(env, [Environment.PRODUCTION], timeout=PATIENCE, retry_waits=())


@pytest.fixture
async def source(lp_secrets: EnvSettings) -> AsyncIterator[LivePersonSource]:
    source = make_source(lp_secrets)
    yield source
    await source.aclose()


def healthy_bot(fake_lp: RunningServer) -> dict[str, Any]:
    """A production custom bot of one connector that is fully up (the fleet is deterministic
    per seed); tests/test_connectors.py is about bots of several."""
    entries = fake_lp.fake.bots()
    connectors = Counter(str(entry["botId"]) for entry in entries)
    for entry in entries:
        if (
            connectors[str(entry["botId"])] == 1
            and entry.get("environment") == "PRODUCTION"
            and "cbSocketStatus" in entry
            and parse_connector(entry["nodeStatus"]) is ConnectorStatus.ONLINE
            and parse_server(entry["cbSocketStatus"]) is Server.CONNECTED
            and str(entry["lpSocketStatus"]).lower() == "connected"
        ):
            return entry
    raise AssertionError("the fake fleet has no healthy production bot")


async def connector_rows(sessions: SessionFactory) -> list[Connector]:
    async with sessions() as session:
        statement = select(Connector).order_by(col(Connector.bot_id), col(Connector.bot_user))
        return list((await session.exec(statement)).all())


async def bot_rows(sessions: SessionFactory) -> list[Bot]:
    async with sessions() as session:
        return list((await session.exec(select(Bot).order_by(col(Bot.id)))).all())


async def transition_rows(sessions: SessionFactory) -> list[TransitionRecord]:
    async with sessions() as session:
        statement = select(TransitionRecord).order_by(col(TransitionRecord.id))
        return list((await session.exec(statement)).all())


async def poll_rows(sessions: SessionFactory) -> list[PollRun]:
    async with sessions() as session:
        return list((await session.exec(select(PollRun).order_by(col(PollRun.id)))).all())


async def ok_tick(poller: Poller) -> PollResult:
    result = await poller.tick()
    assert result is not None and result.ok, result
    return result


async def test_the_first_poll_stores_the_fleet_as_a_baseline(
    fake_lp: RunningServer, source: LivePersonSource, sessions: SessionFactory
) -> None:
    production = [e for e in fake_lp.fake.bots() if e.get("environment") == "PRODUCTION"]

    result = await ok_tick(Poller(source, sessions))

    assert result.added == result.connectors == len(await connector_rows(sessions))
    assert result.connectors >= len(production)
    assert result.bots == len(await bot_rows(sessions)) == len({e["botId"] for e in production})
    assert result.transitions == []
    assert await transition_rows(sessions) == []
    (poll,) = await poll_rows(sessions)
    assert (poll.id, poll.ok, poll.bots, poll.transitions) == (result.poll_id, True, result.bots, 0)
    assert poll.finished_at is not None


async def test_a_dropped_bot_server_connection_is_exactly_one_transition(
    fake_lp: RunningServer, source: LivePersonSource, sessions: SessionFactory
) -> None:
    poller = Poller(source, sessions)
    await ok_tick(poller)
    bot = healthy_bot(fake_lp)

    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="NOT_CONNECTED")
    changed = await ok_tick(poller)
    steady = await ok_tick(poller)

    (transition,) = changed.transitions
    assert (transition.bot_id, transition.dimension.value, transition.old, transition.new) == (
        bot["botId"],
        "server",
        Server.CONNECTED,
        Server.NOT_CONNECTED,
    )
    assert steady.transitions == [] and steady.added == 0
    (record,) = await transition_rows(sessions)
    assert (record.poll_id, record.new_raw, record.old_health, record.new_health) == (
        changed.poll_id,
        "NOT_CONNECTED",
        "ok",
        "down",
    )


async def test_a_steady_poll_writes_its_poll_run_and_nothing_else(
    fake_lp: RunningServer,
    source: LivePersonSource,
    sessions: SessionFactory,
    engine: AsyncEngine,
    count_writes: Callable[[AsyncEngine], WriteLog],
) -> None:
    poller = Poller(source, sessions)
    await ok_tick(poller)
    writes = count_writes(engine)

    await ok_tick(poller)

    assert writes.statements == [("INSERT", "poll_run"), ("UPDATE", "poll_run")]


async def test_writes_per_poll_follow_the_number_of_changed_bots(
    fake_lp: RunningServer,
    source: LivePersonSource,
    sessions: SessionFactory,
    engine: AsyncEngine,
    count_writes: Callable[[AsyncEngine], WriteLog],
) -> None:
    poller = Poller(source, sessions)
    await ok_tick(poller)
    entries = [
        e
        for e in fake_lp.fake.bots()
        if e.get("environment") == "PRODUCTION" and "cbSocketStatus" in e
    ]
    changed = list(dict.fromkeys(e["botId"] for e in entries))[:3]
    connectors = sum(1 for e in entries if e["botId"] in changed)
    writes = count_writes(engine)

    for bot_id in changed:
        fake_lp.fake.set_fields(bot_id, nodeStatus="SOMETHING_ELSE")
    result = await ok_tick(poller)

    assert len(result.changes) == 3
    assert writes.count(table="connector") == 1  # one batch of every changed connector
    assert writes.rows("UPDATE", "connector") == connectors
    assert writes.count(table="bot") == 1
    assert writes.rows("UPDATE", "bot") == 3
    assert writes.count(table="poll_run") == 2
    assert 1 <= writes.count("INSERT", "transition") <= connectors


async def test_a_failing_source_records_a_failed_poll_and_changes_no_bot(
    fake_lp: RunningServer, source: LivePersonSource, sessions: SessionFactory
) -> None:
    poller = Poller(source, sessions)
    await ok_tick(poller)
    before = [bot.model_dump() for bot in await bot_rows(sessions)]
    fake_lp.fake.set_fields(healthy_bot(fake_lp)["botId"], cbSocketStatus="NOT_CONNECTED")
    fake_lp.fake.add_fault("status", status=500, times=-1)

    result = await poller.tick()

    assert result is not None and not result.ok and not result.permanent
    assert result.error and "500" in result.error
    assert [bot.model_dump() for bot in await bot_rows(sessions)] == before
    assert await transition_rows(sessions) == []
    failed = (await poll_rows(sessions))[-1]
    assert (failed.id, failed.ok, failed.error) == (result.poll_id, False, result.error)

    fake_lp.fake.clear_faults()
    recovered = await ok_tick(poller)
    assert len(recovered.transitions) == 1


async def test_a_refused_login_is_a_permanent_failure(
    fake_lp: RunningServer, sessions: SessionFactory
) -> None:
    source = make_source(secrets_for(fake_lp, lp_password=SecretStr("wrong")))
    try:
        result = await Poller(source, sessions).tick()
    finally:
        await source.aclose()

    assert result is not None and not result.ok and result.permanent
    (poll,) = await poll_rows(sessions)
    assert poll.permanent and poll.error == result.error
    assert "wrong" not in (poll.error or "")
    assert await bot_rows(sessions) == []


class FailOnce:
    """An in-transaction hook that raises the first time it is called."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(
        self, session: AsyncSession, changes: Sequence[BotChange], poll: PollRun, now: datetime
    ) -> None:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("the outbox is on fire")


async def test_an_error_while_storing_rolls_everything_back_and_is_recorded(
    fake_lp: RunningServer,
    source: LivePersonSource,
    sessions: SessionFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    baseline = Poller(source, sessions)
    await ok_tick(baseline)
    hook = FailOnce()
    poller = Poller(source, sessions, in_transaction=[hook])
    bot = healthy_bot(fake_lp)
    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="NOT_CONNECTED")

    with caplog.at_level(logging.ERROR, logger="chatops.monitor.poll"):
        failed = await poller.tick()

    assert failed is not None and not failed.ok
    assert failed.error == "internal error: RuntimeError: the outbox is on fire"
    assert any(record.exc_info for record in caplog.records)
    assert await transition_rows(sessions) == []
    assert [p.ok for p in await poll_rows(sessions)] == [True, False]
    stored = {row.bot_id: row for row in await connector_rows(sessions)}
    assert stored[bot["botId"]].server == "Connected"

    # Nothing was committed, so the next tick finds the change again.
    retried = await ok_tick(poller)
    assert [t.bot_id for t in retried.transitions] == [bot["botId"]]


async def test_in_transaction_hooks_write_with_the_poll_and_on_commit_hooks_follow_it(
    fake_lp: RunningServer, source: LivePersonSource, sessions: SessionFactory
) -> None:
    seen_after_commit: list[tuple[int, bool]] = []

    async def add_outbox_row(
        session: AsyncSession, changes: Sequence[BotChange], poll: PollRun, now: datetime
    ) -> None:
        for change in changes:
            if change.old is None:
                continue  # first sight of a bot: a baseline, not a change
            session.add(
                OutboxMessage(
                    dedupe_key=f"{change.bot_id}:{poll.id}",
                    created_at=now,
                    kind="transition",
                    channel="C0ALERTS",
                    bot_id=change.bot_id,
                    poll_id=poll.id,
                    payload=json.dumps({"bot": change.bot_id}),
                    next_attempt_at=now,
                )
            )

    async def wake_relay(result: PollResult) -> None:
        # A fresh session sees the committed poll: the hook runs after the commit.
        async with sessions() as session:
            poll = await session.get(PollRun, result.poll_id)
            assert poll is not None
            seen_after_commit.append((result.poll_id, poll.ok))

    poller = Poller(source, sessions, in_transaction=[add_outbox_row], on_commit=[wake_relay])
    first = await ok_tick(poller)
    bot = healthy_bot(fake_lp)
    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="NOT_CONNECTED")
    second = await ok_tick(poller)

    async with sessions() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    assert [(row.bot_id, row.poll_id) for row in rows] == [(bot["botId"], second.poll_id)]
    assert seen_after_commit == [(first.poll_id, True), (second.poll_id, True)]


async def test_a_failing_on_commit_hook_does_not_undo_the_poll(
    fake_lp: RunningServer,
    source: LivePersonSource,
    sessions: SessionFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(result: PollResult) -> None:
        raise ConnectionError("relay unreachable")

    with caplog.at_level(logging.ERROR, logger="chatops.monitor.poll"):
        result = await ok_tick(Poller(source, sessions, on_commit=[broken]))

    assert [p.ok for p in await poll_rows(sessions)] == [True]
    assert result.added > 0
    assert "relay unreachable" in caplog.text


async def test_a_poller_notices_bots_stored_by_another_process(
    fake_lp: RunningServer, source: LivePersonSource, sessions: SessionFactory
) -> None:
    here, elsewhere = Poller(source, sessions), Poller(source, sessions)
    await ok_tick(here)
    bot = healthy_bot(fake_lp)
    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="NOT_CONNECTED")

    stored_elsewhere = await ok_tick(elsewhere)
    here_after = await ok_tick(here)

    assert len(stored_elsewhere.transitions) == 1
    # Had `here` trusted its memory of the fleet, it would record the same change again.
    assert here_after.transitions == []
    assert len(await transition_rows(sessions)) == 1


async def test_a_poller_notices_a_connector_row_changed_by_hand(
    fake_lp: RunningServer, source: LivePersonSource, sessions: SessionFactory
) -> None:
    poller = Poller(source, sessions)
    await ok_tick(poller)
    bot = healthy_bot(fake_lp)
    async with sessions() as session:
        await session.exec(
            update(Connector)
            .where(col(Connector.bot_id) == bot["botId"])
            .values(
                raw_server="NOT_CONNECTED", server="Not Connected", version=Connector.version + 1
            )
        )
        await session.commit()

    result = await ok_tick(poller)

    # The source still says Connected: the poll puts it back, as a transition.
    assert [(t.bot_id, t.new) for t in result.transitions] == [(bot["botId"], Server.CONNECTED)]


async def test_a_bot_that_leaves_the_environment_is_removed_and_may_return(
    fake_lp: RunningServer, source: LivePersonSource, sessions: SessionFactory
) -> None:
    poller = Poller(source, sessions)
    first = await ok_tick(poller)
    bot = healthy_bot(fake_lp)

    fake_lp.fake.set_fields(bot["botId"], environment="STAGING")
    gone = await ok_tick(poller)
    fake_lp.fake.set_fields(bot["botId"], environment="PRODUCTION")
    back = await ok_tick(poller)
    steady = await ok_tick(poller)

    assert (gone.removed, gone.bots) == (1, first.bots - 1)
    assert (back.added, back.removed, back.transitions) == (1, 0, [])
    assert (steady.added, steady.removed, steady.transitions) == (0, 0, [])
    row = {b.id: b for b in await bot_rows(sessions)}[bot["botId"]]
    assert row.removed_at is None and row.version == 3


async def test_a_manual_stop_reported_by_the_source_is_recorded_as_manual(
    fake_lp: RunningServer, source: LivePersonSource, sessions: SessionFactory
) -> None:
    poller = Poller(source, sessions)
    await ok_tick(poller)
    bot = healthy_bot(fake_lp)

    fake_lp.fake.set_fields(
        bot["botId"],
        nodeStatus="STOPPED",
        lastManualOperation="STOP",
        manualOperationPerformedByName="Jane Ops",
        manualOperationTs=int(time.time() * 1000),
    )
    await ok_tick(poller)

    records = await transition_rows(sessions)
    assert {(r.dimension, r.manual, r.performed_by) for r in records} == {
        ("connector", True, "Jane Ops")
    }


# -- Leadership ---------------------------------------------------------------------------


async def test_one_lease_holder_polls_until_its_lease_expires(sessions: SessionFactory) -> None:
    clock = ManualClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    alpha = LeaseGate("alpha", timedelta(minutes=3), clock=clock)
    beta = LeaseGate("beta", timedelta(minutes=3), clock=clock)

    async def acquire(gate: LeaseGate) -> bool:
        async with sessions() as session:
            return await gate.acquire(session)

    assert await acquire(alpha)
    assert not await acquire(beta)
    clock.advance(timedelta(minutes=2))
    assert await acquire(alpha)  # renewed until 9:05
    clock.advance(timedelta(minutes=2))
    assert not await acquire(beta)
    clock.advance(timedelta(minutes=2))  # alpha stopped ticking: its lease ran out
    assert await acquire(beta)
    assert not await acquire(alpha)

    async with sessions() as session:
        await beta.release(session)
    assert await acquire(alpha)


async def test_a_process_without_the_lease_does_not_even_fetch(
    fake_lp: RunningServer, source: LivePersonSource, sessions: SessionFactory
) -> None:
    holder = LeaseGate("holder", timedelta(minutes=3))
    async with sessions() as session:
        assert await holder.acquire(session)
    fake_lp.fake.clear_requests()

    result = await Poller(source, sessions, leader=LeaseGate("other", timedelta(minutes=3))).tick()

    assert result is None
    assert fake_lp.fake.requests() == []
    assert await poll_rows(sessions) == []


@pytest.mark.postgres
async def test_on_postgres_the_advisory_lock_lets_one_tick_poll_at_a_time(
    fake_lp: RunningServer, source: LivePersonSource, postgres_url: str
) -> None:
    engine = make_engine(postgres_url)
    sessions = make_session_factory(engine)
    gate = AdvisoryLockGate()
    try:
        async with sessions() as other_replica:
            assert await gate.acquire(other_replica)  # held until this transaction ends
            assert await Poller(source, sessions, leader=gate).tick() is None
            assert await poll_rows(sessions) == []

        result = await Poller(source, sessions, leader=gate).tick()
        assert result is not None and result.ok
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_on_postgres_concurrent_ticks_store_each_change_once(
    fake_lp: RunningServer, lp_secrets: EnvSettings, postgres_url: str
) -> None:
    engine = make_engine(postgres_url)
    sessions = make_session_factory(engine)
    sources = [make_source(lp_secrets) for _ in range(3)]
    pollers = [Poller(s, sessions, leader=AdvisoryLockGate()) for s in sources]
    try:
        await ok_tick(pollers[0])
        fake_lp.fake.set_fields(healthy_bot(fake_lp)["botId"], cbSocketStatus="NOT_CONNECTED")

        results = await asyncio.gather(*(poller.tick() for poller in pollers))

        polled = [r for r in results if r is not None]
        assert sum(len(r.transitions) for r in polled) == 1
        assert len(await transition_rows(sessions)) == 1
    finally:
        for s in sources:
            await s.aclose()
        await engine.dispose()


# -- Scheduler ----------------------------------------------------------------------------


async def test_a_slow_job_never_runs_beside_itself() -> None:
    running = peak = runs = 0
    idle = asyncio.Event()

    async def slow_tick() -> None:
        nonlocal running, peak, runs
        idle.clear()
        running += 1
        runs += 1
        peak = max(peak, running)
        await asyncio.sleep(0.25)  # five intervals of work
        running -= 1
        if not running:
            idle.set()

    scheduler = build_scheduler([("poll", slow_tick, timedelta(seconds=0.05))])
    scheduler.start()
    try:
        await await_until(lambda: runs >= 3, what="three runs")
    finally:
        scheduler.pause()
        await asyncio.wait_for(idle.wait(), PATIENCE)
        scheduler.shutdown()
        await asyncio.sleep(0)

    assert peak == 1


async def test_the_scheduler_runs_each_job_at_once_not_after_its_first_interval() -> None:
    calls = 0

    async def tick() -> None:
        nonlocal calls
        calls += 1

    # An hour's interval: only the run at start can happen while the test waits.
    scheduler = build_scheduler(
        [("poll", tick, timedelta(hours=1)), ("poll", tick, timedelta(hours=1))]
    )
    scheduler.start()
    try:
        jobs = [job.id for job in scheduler.get_jobs()]
        await await_until(lambda: calls == 1, what="the run at start")
    finally:
        scheduler.shutdown()
        await asyncio.sleep(0)

    assert jobs == ["poll"]


async def test_the_scheduler_runs_a_job_again_at_its_interval() -> None:
    calls = 0

    async def tick() -> None:
        nonlocal calls
        calls += 1

    scheduler = build_scheduler([("poll", tick, timedelta(seconds=0.05))], start_immediately=False)
    scheduler.start()
    try:
        await await_until(lambda: calls >= 3, what="three runs, one per interval")
    finally:
        scheduler.shutdown()
        await asyncio.sleep(0)


async def test_a_run_cut_short_by_the_shutdown_is_not_logged_as_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = asyncio.Event()
    ended = asyncio.Event()

    async def endless_tick() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            ended.set()

    scheduler = build_scheduler([("poll", endless_tick, timedelta(hours=1))])
    with caplog.at_level(logging.INFO):
        scheduler.start()
        await asyncio.wait_for(started.wait(), PATIENCE)
        scheduler.shutdown()
        await asyncio.wait_for(ended.wait(), PATIENCE)
        await asyncio.sleep(0)

    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert "poll: cut short by the shutdown" in caplog.messages


async def test_failing_ticks_do_not_stop_the_scheduler(
    fake_lp: RunningServer, source: LivePersonSource, sessions: SessionFactory
) -> None:
    fake_lp.fake.add_fault("status", status=500, times=-1)
    poller = Poller(source, sessions)
    ticks = 0
    three_ticks = asyncio.Event()

    async def tick_then_crash() -> None:
        nonlocal ticks
        await poller.tick()
        ticks += 1
        if ticks == 3:
            three_ticks.set()
        # Whatever escapes a job is APScheduler's to log; the job stays scheduled.
        raise RuntimeError("escaped the tick")

    scheduler = build_scheduler([("poll", tick_then_crash, timedelta(seconds=0.1))])
    scheduler.start()
    try:
        await asyncio.wait_for(three_ticks.wait(), PATIENCE)
    finally:
        scheduler.shutdown()
        await asyncio.sleep(0)

    polls = await poll_rows(sessions)
    assert len(polls) >= 3 and not any(p.ok for p in polls)
    async with sessions() as session:
        assert (await session.exec(select(func.count()).select_from(Bot))).one() == 0
