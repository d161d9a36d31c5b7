"""The alert tables: migrations 0002 and 0003 build exactly the models, and the outbox claim
gives each row to one relay however many run at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import inspect, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel, col, func, select

import chatops.store.alert_models  # noqa: F401  (the models compared below)
from chatops.alerts.outbox_rows import new_row, payload
from chatops.alerts.relay import Relay
from chatops.metrics import Metrics
from chatops.sandbox.slack import RunningServer as SlackServer
from chatops.store.alert_models import AlertMute
from chatops.store.engine import SessionFactory, make_engine, make_session_factory
from chatops.store.migrate import alembic_config, upgrade
from chatops.store.models import OutboxMessage, utcnow

ALERT_TABLES = {
    "alert_bot_state",
    "alert_incident",
    "alert_mute",
    "alert_mute_exception",
    "alert_source_health",
}


async def _run(url: str, work: object) -> object:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            result = await connection.run_sync(work)  # type: ignore[arg-type]
            await connection.commit()
            return result
    finally:
        await engine.dispose()


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _downgrade_to(revision: str) -> Callable[[Connection], None]:
    def downgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    return downgrade


def _mute_columns_and_rows(connection: Connection) -> tuple[set[str], int]:
    columns = {column["name"] for column in inspect(connection).get_columns("alert_mute")}
    rows = connection.execute(text("SELECT count(*) FROM alert_mute")).scalar_one()
    return columns, int(rows)


async def test_the_migrations_build_exactly_the_alert_models(empty_database_url: str) -> None:
    await upgrade(empty_database_url)

    assert await _run(empty_database_url, _differences) == []
    assert ALERT_TABLES <= await _run(empty_database_url, _tables)  # type: ignore[operator]


async def test_downgrading_0002_removes_only_the_alert_tables(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    await _run(empty_database_url, _downgrade_to("0003"))  # the connectors migration first
    before = await _run(empty_database_url, _tables)

    await _run(empty_database_url, _downgrade_to("0001"))

    assert before - await _run(empty_database_url, _tables) == ALERT_TABLES  # type: ignore[operator]


async def test_downgrading_0003_drops_mute_scopes_and_exceptions_and_keeps_the_mutes(
    empty_database_url: str,
) -> None:
    await upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    async with make_session_factory(engine)() as session:
        now = utcnow()
        session.add(
            AlertMute(
                target="bil*",
                created_by="U0BOB",
                created_at=now,
                expires_at=now + timedelta(hours=1),
                scope='["billing-*"]',
            )
        )
        await session.commit()
    await engine.dispose()

    await _run(empty_database_url, _downgrade_to("0002"))

    columns, rows = await _run(empty_database_url, _mute_columns_and_rows)  # type: ignore[misc]
    assert "scope" not in columns and "target" in columns
    assert rows == 1
    assert "alert_mute_exception" not in await _run(empty_database_url, _tables)  # type: ignore[operator]


async def test_concurrent_relays_deliver_each_row_exactly_once(
    sessions: SessionFactory, fake_slack: SlackServer
) -> None:
    now = utcnow()
    channels = [f"C0LANE{number}" for number in range(8)]
    for channel in channels:
        fake_slack.fake.set_channel_state(channel)
    async with sessions() as session:
        for number in range(80):
            message = {"text": f"alert {number}"}
            session.add(
                new_row(
                    kind="problem",
                    channel=channels[number % 8],
                    dedupe_key=f"test:{number}",
                    body=payload(post=message),
                    now=now,
                )
            )
        await session.commit()
    clients = [
        AsyncWebClient(
            token=fake_slack.fake.bot_token, base_url=fake_slack.fake.base_url, retry_handlers=[]
        )
        for _ in range(4)
    ]
    relays = [
        Relay(sessions, client, Metrics(), post_interval=0.0, lease=timedelta(minutes=5))
        for client in clients
    ]

    async def unfinished() -> int:
        async with sessions() as session:
            result = await session.exec(
                select(func.count())
                .select_from(OutboxMessage)
                .where(col(OutboxMessage.status).in_(("pending", "sending")))
            )
            return int(result.one())

    async def drain(relay: Relay) -> None:
        for _ in range(100):
            if not await relay.relay_once() and not await unfinished():
                return

    await asyncio.gather(*(drain(relay) for relay in relays))

    posted = [call["text"] for call in fake_slack.fake.calls("chat.postMessage") if call["_ok"]]
    assert sorted(posted) == sorted(f"alert {number}" for number in range(80))


async def test_a_row_left_sending_is_taken_again_only_once_its_lease_has_expired(
    sessions: SessionFactory, fake_slack: SlackServer
) -> None:
    now = utcnow()
    async with sessions() as session:
        for name, lease_until in (
            ("expired", now - timedelta(seconds=1)),
            ("live", now + timedelta(minutes=1)),
        ):
            row = new_row(
                kind="problem",
                channel="C0ALERTS",
                dedupe_key=f"test:{name}",
                body=payload(post={"text": name}),
                now=now,
            )
            row.status = "sending"
            row.lease_until = lease_until
            session.add(row)
        await session.commit()
    client = AsyncWebClient(
        token=fake_slack.fake.bot_token, base_url=fake_slack.fake.base_url, retry_handlers=[]
    )
    relay = Relay(sessions, client, Metrics(), post_interval=0.0)

    assert await relay.relay_once() == 1
    assert await relay.relay_once() == 0

    assert [call["text"] for call in fake_slack.fake.calls("chat.postMessage")] == ["expired"]
