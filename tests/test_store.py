from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from chatops.domain import (
    BotKind,
    Channel,
    Environment,
    Health,
    ManualOperation,
    Snapshot,
    bot_changes,
    diff_fleet,
)
from chatops.store.audit import add_audit
from chatops.store.bots import count_by_health, find_bots, list_bots
from chatops.store.connectors import transitions_for
from chatops.store.engine import SessionFactory
from chatops.store.fleet import (
    apply_fleet_diff,
    fleet_fingerprint,
    load_fleet,
    load_snapshots,
    snapshot_of,
    storable,
)
from chatops.store.models import AuditEntry, Bot, Connector, TransitionRecord
from chatops.store.polls import (
    failed_polls_in_a_row,
    finish_poll,
    last_successful_poll,
    record_failed_poll,
    start_poll,
)
from tests.fixtures.db import WriteLog

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def snap(
    bot_id: str,
    *,
    name: str | None = None,
    connector: str = "ONLINE",
    cloud: str = "connected",
    server: str = "connected",
    kind: BotKind = BotKind.CUSTOM,
    environment: Environment = Environment.PRODUCTION,
    manual: ManualOperation | None = None,
    account_user: str | None = None,
) -> Snapshot:
    return Snapshot(
        bot_id=bot_id,
        name=name or bot_id,
        kind=kind,
        channel=Channel.MESSAGING,
        environment=environment,
        raw_connector=connector,
        raw_cloud=cloud,
        raw_server=server,
        manual=manual,
        account_user=account_user,
    )


async def store(
    sessions: SessionFactory, fetched: Sequence[Snapshot], now: datetime
) -> list[TransitionRecord]:
    """One successful poll's worth of writes, the way the poller does them."""
    async with sessions() as session:
        poll = await start_poll(session, now)
        stored = await load_fleet(session)
        diff = diff_fleet(stored.snapshots, fetched)
        changes = bot_changes(stored.bots, diff)
        records = await apply_fleet_diff(session, diff, poll, now, changes)
        finish_poll(poll, finished_at=now, duration_ms=1, ok=True, bots=len(fetched))
        await session.commit()
        return records


async def bot_row(sessions: SessionFactory, bot_id: str) -> Bot:
    async with sessions() as session:
        bot = await session.get(Bot, bot_id)
        assert bot is not None
        return bot


async def connector_row(sessions: SessionFactory, bot_id: str, bot_user: str = "") -> Connector:
    async with sessions() as session:
        connector = await session.get(Connector, (bot_id, bot_user))
        assert connector is not None
        return connector


async def test_new_bots_are_stored_as_a_baseline_without_transitions(
    sessions: SessionFactory,
) -> None:
    records = await store(sessions, [snap("a"), snap("b", connector="STOPPED")], T0)

    assert records == []
    bot = await connector_row(sessions, "b")
    assert (bot.connector, bot.health, bot.version) == ("Stopped", "stopped", 1)
    assert bot.first_seen == T0
    assert bot.health_since == bot.connector_since == bot.server_since == T0


async def test_a_change_writes_one_transition_and_moves_only_its_since(
    sessions: SessionFactory,
) -> None:
    await store(sessions, [snap("a")], T0)
    later = T0 + timedelta(minutes=5)

    records = await store(sessions, [snap("a", server="NOT_CONNECTED")], later)

    assert [(r.dimension, r.old, r.new, r.old_health, r.new_health) for r in records] == [
        ("server", "Connected", "Not Connected", "ok", "down")
    ]
    assert records[0].id is not None and records[0].poll_id is not None
    bot = await connector_row(sessions, "a")
    assert (bot.server, bot.raw_server, bot.health, bot.version) == (
        "Not Connected",
        "NOT_CONNECTED",
        "down",
        2,
    )
    assert (bot.server_since, bot.health_since) == (later, later)
    assert (bot.connector_since, bot.cloud_since) == (T0, T0)


async def test_a_change_that_keeps_the_health_keeps_health_since(
    sessions: SessionFactory,
) -> None:
    await store(sessions, [snap("a", connector="STOPPED", server="connected")], T0)
    later = T0 + timedelta(minutes=1)

    await store(sessions, [snap("a", connector="STOPPED", server="not connected")], later)

    bot = await connector_row(sessions, "a")
    assert (bot.health, bot.health_since, bot.server_since) == ("stopped", T0, later)


async def test_a_respelling_refreshes_the_row_without_a_transition(
    sessions: SessionFactory,
) -> None:
    await store(sessions, [snap("a", server="connected")], T0)

    records = await store(sessions, [snap("a", server="CONNECTED")], T0 + timedelta(minutes=1))

    assert records == []
    bot = await connector_row(sessions, "a")
    assert (bot.raw_server, bot.version, bot.server_since) == ("CONNECTED", 2, T0)


async def test_an_unchanged_fleet_costs_no_write_at_all(
    sessions: SessionFactory,
    engine: AsyncEngine,
    count_writes: Callable[[AsyncEngine], WriteLog],
) -> None:
    fleet = [snap(f"bot-{n}") for n in range(50)]
    await store(sessions, fleet, T0)
    writes = count_writes(engine)

    async with sessions() as session:
        poll = await start_poll(session, T0)
        writes.clear()
        stored = await load_fleet(session)
        diff = diff_fleet(stored.snapshots, fleet)
        await apply_fleet_diff(session, diff, poll, T0, bot_changes(stored.bots, diff))
        await session.commit()

    assert writes.statements == []


async def test_writes_grow_with_the_changes_not_with_the_fleet(
    sessions: SessionFactory,
    engine: AsyncEngine,
    count_writes: Callable[[AsyncEngine], WriteLog],
) -> None:
    fleet = [snap(f"bot-{n}") for n in range(100)]
    await store(sessions, fleet, T0)
    changed = {f"bot-{n}" for n in (3, 40, 77)}
    fetched = [snap(s.bot_id, server="NOT_CONNECTED") if s.bot_id in changed else s for s in fleet]
    writes = count_writes(engine)

    await store(sessions, fetched, T0 + timedelta(minutes=1))

    assert writes.count(table="connector") == 1  # one batch...
    assert writes.rows("UPDATE", "connector") == 3  # ...of one row per changed connector
    assert writes.count(table="bot") == 1  # and their bots' roll-ups, one batch too
    assert writes.rows("UPDATE", "bot") == 3
    # One statement per row on SQLite, one multi-row statement on PostgreSQL.
    assert 1 <= writes.count("INSERT", "transition") <= 3
    assert writes.count(table="poll_run") == 2  # insert, then the outcome
    async with sessions() as session:
        rows = (await session.exec(select(TransitionRecord))).all()
    assert {row.bot_id for row in rows} == changed


async def test_a_bot_the_source_stops_listing_is_marked_removed_and_can_come_back(
    sessions: SessionFactory,
    engine: AsyncEngine,
    count_writes: Callable[[AsyncEngine], WriteLog],
) -> None:
    await store(sessions, [snap("a"), snap("b")], T0)
    gone_at = T0 + timedelta(minutes=1)
    writes = count_writes(engine)

    await store(sessions, [snap("a")], gone_at)

    assert writes.count(table="connector") == 1
    assert writes.count(table="bot") == 1
    assert (await bot_row(sessions, "b")).removed_at == gone_at
    assert (await connector_row(sessions, "b")).removed_at == gone_at
    async with sessions() as session:
        assert set(await load_snapshots(session)) == {("a", "")}
        assert (await load_fleet(session)).removed == frozenset({("b", "")})
        assert await find_bots(session, "b") == []

    back_at = T0 + timedelta(minutes=2)
    records = await store(sessions, [snap("a"), snap("b", connector="STOPPED")], back_at)

    assert records == []
    bot = await connector_row(sessions, "b")
    assert (bot.removed_at, bot.connector, bot.health_since, bot.first_seen) == (
        None,
        "Stopped",
        back_at,
        T0,
    )
    assert bot.version == 3
    assert (await bot_row(sessions, "b")).removed_at is None


async def test_stored_snapshots_come_back_equal_to_what_was_stored(
    sessions: SessionFactory,
) -> None:
    manual = ManualOperation("stop", "Jane Ops", T0 - timedelta(hours=1))
    fleet = [
        snap("a", connector="SOMETHING_NEW", account_user="bot_a", manual=manual),
        snap("b", kind=BotKind.PCS, environment=Environment.DEMO, cloud="away"),
    ]
    await store(sessions, fleet, T0)

    async with sessions() as session:
        stored = await load_snapshots(session)

    assert stored == {s.key: s for s in fleet}
    assert stored[("a", "bot_a")].manual is not None
    assert stored[("a", "bot_a")].manual.at == manual.at
    assert snapshot_of(await connector_row(sessions, "a", "bot_a")) == fleet[0]


async def test_a_new_manual_operation_marks_that_polls_transitions_as_manual(
    sessions: SessionFactory,
) -> None:
    earlier = ManualOperation("start", "Ravi Kumar", T0 - timedelta(days=3))
    await store(sessions, [snap("a", manual=earlier), snap("b", manual=earlier)], T0)
    stop = ManualOperation("stop", "Jane Ops", T0 + timedelta(seconds=30))

    records = await store(
        sessions,
        [
            snap("a", connector="STOPPED", manual=stop),
            # b's manual operation is the old one: its outage is not someone's doing.
            snap("b", connector="NOT_CONNECTED", manual=earlier),
        ],
        T0 + timedelta(minutes=1),
    )

    by_bot = {record.bot_id: record for record in records if record.dimension == "connector"}
    assert (by_bot["a"].manual, by_bot["a"].performed_by) == (True, "Jane Ops")
    assert (by_bot["b"].manual, by_bot["b"].performed_by) == (False, None)


async def test_the_fingerprint_moves_with_every_stored_change(sessions: SessionFactory) -> None:
    async with sessions() as session:
        empty = await fleet_fingerprint(session)
    await store(sessions, [snap("a"), snap("b")], T0)
    async with sessions() as session:
        two = await fleet_fingerprint(session)
    await store(sessions, [snap("a", server="NOT_CONNECTED"), snap("b")], T0)
    async with sessions() as session:
        changed = await fleet_fingerprint(session)

    assert (empty.rows, empty.version_sum) == (0, 0)
    assert (two.rows, two.version_sum) == (2, 2)
    assert (changed.rows, changed.version_sum) == (2, 3)


def test_over_long_strings_are_clipped_to_their_columns() -> None:
    long = snap("a", name="n" * 400, server="s" * 500, account_user="u" * 301)

    clipped = storable(long)

    assert (len(clipped.name), len(clipped.raw_server), len(clipped.account_user or "")) == (
        300,
        200,
        300,
    )
    assert storable(clipped) is clipped
    short = snap("b")
    assert storable(short) is short


async def test_over_long_values_are_stored_clipped(sessions: SessionFactory) -> None:
    await store(sessions, [storable(snap("a", server="x" * 300))], T0)

    assert (await connector_row(sessions, "a")).raw_server == "x" * 200


@pytest.fixture
async def fleet_for_queries(sessions: SessionFactory) -> None:
    await store(
        sessions,
        [
            snap("id-1", name="billing-bot-1"),
            snap("id-2", name="billing-bot-2", server="NOT_CONNECTED"),
            snap("id-3", name="Survey Bot", kind=BotKind.PCS, connector="STOPPED"),
            snap("id-4", name="care_chat%", environment=Environment.DEMO),
            snap("id-5", name="caretaker", cloud="away"),
            snap("id-6", name="orders", connector="READY_TO_START"),
        ],
        T0,
    )


@pytest.mark.usefixtures("fleet_for_queries")
async def test_find_bots_tries_id_then_name_then_glob_then_substring(
    sessions: SessionFactory,
) -> None:
    async with sessions() as session:

        async def names(query: str, **kwargs: Environment) -> list[str]:
            return [bot.name for bot in await find_bots(session, query, **kwargs)]

        assert await names("id-2") == ["billing-bot-2"]
        assert await names("SURVEY BOT") == ["Survey Bot"]
        assert await names("billing-*") == ["billing-bot-2", "billing-bot-1"]
        assert await names("id-?") == [
            "billing-bot-2",
            "Survey Bot",
            "orders",
            "caretaker",
            "billing-bot-1",
            "care_chat%",
        ]
        assert await names("care") == ["caretaker", "care_chat%"]
        # LIKE's own wildcards are plain characters in a query.
        assert await names("care_") == ["care_chat%"]
        assert await names("%") == ["care_chat%"]
        assert await names("care", environment=Environment.PRODUCTION) == ["caretaker"]
        assert await names("nothing") == []
        assert await names("   ") == []


@pytest.mark.usefixtures("fleet_for_queries")
async def test_list_bots_puts_problems_first_then_sorts_by_name(sessions: SessionFactory) -> None:
    async with sessions() as session:
        every = [bot.name for bot in await list_bots(session)]
        problems = [bot.name for bot in await list_bots(session, problems_only=True)]
        page = [bot.name for bot in await list_bots(session, offset=1, limit=2)]
        demo = [bot.name for bot in await list_bots(session, environment=Environment.DEMO)]

    assert every == [
        "billing-bot-2",  # down
        "Survey Bot",  # stopped
        "orders",  # ready
        "caretaker",  # away
        "billing-bot-1",  # ok
        "care_chat%",  # ok
    ]
    assert problems == every[:4]
    assert page == every[1:3]
    assert demo == ["care_chat%"]


@pytest.mark.usefixtures("fleet_for_queries")
async def test_count_by_health_names_every_health(sessions: SessionFactory) -> None:
    async with sessions() as session:
        counts = await count_by_health(session)
        demo = await count_by_health(session, Environment.DEMO)

    assert counts == {
        Health.OK: 2,
        Health.DEGRADED: 0,
        Health.AWAY: 1,
        Health.DOWN: 1,
        Health.STOPPED: 1,
        Health.READY: 1,
        Health.UNKNOWN: 0,
    }
    assert sum(demo.values()) == demo[Health.OK] == 1


async def test_transitions_for_a_bot_since_a_time_come_oldest_first(
    sessions: SessionFactory,
) -> None:
    await store(sessions, [snap("a"), snap("b")], T0)
    for minutes, server in ((1, "NOT_CONNECTED"), (2, "CONNECTED"), (3, "NOT_CONNECTED")):
        await store(
            sessions, [snap("a", server=server), snap("b")], T0 + timedelta(minutes=minutes)
        )

    async with sessions() as session:
        recent = await transitions_for(session, "a", T0 + timedelta(minutes=2))
        none = await transitions_for(session, "b", T0)

    assert [(r.at, r.new) for r in recent] == [
        (T0 + timedelta(minutes=2), "Connected"),
        (T0 + timedelta(minutes=3), "Not Connected"),
    ]
    assert none == []


async def test_failed_polls_are_counted_since_the_last_success(sessions: SessionFactory) -> None:
    async def fail() -> None:
        async with sessions() as session:
            await record_failed_poll(
                session,
                started_at=T0,
                finished_at=T0,
                duration_ms=1,
                error="HTTP 500",
                permanent=False,
            )
            await session.commit()

    async with sessions() as session:
        assert await failed_polls_in_a_row(session) == 0
        assert await last_successful_poll(session) is None
    await fail()
    await fail()
    async with sessions() as session:
        assert await failed_polls_in_a_row(session) == 2

    await store(sessions, [snap("a")], T0)
    await fail()

    async with sessions() as session:
        assert await failed_polls_in_a_row(session) == 1
        success = await last_successful_poll(session)
    assert success is not None and success.ok and success.id == 3


async def test_an_audit_request_key_is_accepted_once(sessions: SessionFactory) -> None:
    async with sessions() as session:
        entry = await add_audit(
            session,
            at=T0,
            user_id="U0ALICE",
            action="stop",
            target="id-1",
            outcome="ok",
            request_key="msg-1:stop:id-1",
        )
        await session.commit()
    assert entry.id is not None

    async with sessions() as session:
        with pytest.raises(IntegrityError):
            await add_audit(
                session,
                at=T0,
                user_id="U0ALICE",
                action="stop",
                target="id-1",
                outcome="duplicate",
                request_key="msg-1:stop:id-1",
            )

    async with sessions() as session:
        rows = (await session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))).all()
    assert [row.outcome for row in rows] == ["ok"]
