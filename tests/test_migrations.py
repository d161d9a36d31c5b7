from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from chatops.config import AppConfig, EnvSettings, Settings
from chatops.store.migrate import (
    HEAD_REVISION,
    DatabaseUnavailable,
    SchemaOutOfDate,
    alembic_config,
    current_revision,
    prepare_database,
    schema_is_current,
    table_metadata,
    upgrade,
    upgrade_command,
)


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
    return list(compare_metadata(context, table_metadata()))


def _settings(url: str) -> Settings:
    return Settings(env=EnvSettings(database_url=url), app=AppConfig())


def test_the_head_revision_is_the_newest_migration() -> None:
    # Known without Alembic at start: a new migration must move HEAD_REVISION with it.
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


async def test_the_migrations_build_exactly_the_schema_of_the_models(
    empty_database_url: str,
) -> None:
    await upgrade(empty_database_url)

    assert await _run(empty_database_url, _differences) == []


async def test_an_empty_database_has_no_revision_until_upgraded(empty_database_url: str) -> None:
    assert await current_revision(empty_database_url) is None
    assert not await schema_is_current(empty_database_url)

    await upgrade(empty_database_url)

    assert await current_revision(empty_database_url) == HEAD_REVISION
    assert await schema_is_current(empty_database_url)


async def test_upgrading_a_current_database_changes_nothing(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    await upgrade(empty_database_url)

    assert await current_revision(empty_database_url) == HEAD_REVISION


async def test_downgrade_removes_every_table_and_upgrade_brings_them_back(
    empty_database_url: str,
) -> None:
    def downgrade_to_base(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")

    def table_names(connection: Connection) -> set[str]:
        from sqlalchemy import inspect

        return set(inspect(connection).get_table_names()) - {"alembic_version"}

    await upgrade(empty_database_url)
    await _run(empty_database_url, downgrade_to_base)
    assert await _run(empty_database_url, table_names) == set()

    await upgrade(empty_database_url)
    assert await _run(empty_database_url, table_names) == set(table_metadata().tables)


@pytest.mark.postgres
async def test_concurrent_upgrades_of_postgres_run_one_after_the_other(
    fresh_postgres_url: str,
) -> None:
    url = fresh_postgres_url

    await asyncio.gather(upgrade(url), upgrade(url), upgrade(url))

    assert await current_revision(url) == HEAD_REVISION
    assert await _run(url, _differences) == []


async def test_sqlite_is_upgraded_by_prepare_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"

    await prepare_database(url)

    assert await current_revision(url) == HEAD_REVISION


@pytest.mark.postgres
async def test_postgres_must_be_upgraded_explicitly(fresh_postgres_url: str) -> None:
    url = fresh_postgres_url

    with pytest.raises(SchemaOutOfDate, match="run `chatops db upgrade`"):
        await prepare_database(url)
    assert await current_revision(url) is None

    await upgrade(url)
    await prepare_database(url)


async def test_a_revision_from_a_newer_chatops_is_refused(empty_database_url: str) -> None:
    await upgrade(empty_database_url)

    def stamp_unknown(connection: Connection) -> None:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))

    await _run(empty_database_url, stamp_unknown)

    with pytest.raises(SchemaOutOfDate, match="f00d"):
        await prepare_database(empty_database_url)


async def test_an_unreachable_database_is_reported_without_its_password() -> None:
    url = "postgresql+asyncpg://chatops:hunter2@127.0.0.1:1/chatops"

    with pytest.raises(DatabaseUnavailable) as caught:
        await prepare_database(url)

    message = str(caught.value)
    assert "127.0.0.1:1" in message
    assert "hunter2" not in message


async def test_a_database_url_without_an_async_driver_is_explained() -> None:
    with pytest.raises(DatabaseUnavailable, match=r"sqlite\+aiosqlite"):
        await prepare_database("nosuchdb://localhost/chatops")


def test_db_upgrade_prints_where_it_started_and_ended(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"

    assert upgrade_command(_settings(url)) == 0
    assert f"upgraded from an empty database to revision {HEAD_REVISION}" in capsys.readouterr().out

    assert upgrade_command(_settings(url)) == 0
    assert "already at revision" in capsys.readouterr().out


def test_db_upgrade_fails_clearly_when_the_database_cannot_be_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"

    assert upgrade_command(_settings(url)) == 1
    assert "cannot reach the database" in capsys.readouterr().err


def _alembic(target: str, *, down: bool = False) -> object:
    def work(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, target)

    return work


_BOT_COLUMNS = (
    "id, name, kind, channel, environment, connector, cloud, server, raw_connector, raw_cloud,"
    " raw_server, health, health_since, connector_since, cloud_since, server_since,"
    " manual_operation, manual_by, manual_at, account_user, source_updated_at, first_seen,"
    " removed_at, version"
)


def _populate_0002(connection: Connection) -> None:
    """Bots and history as chatops stored them before connectors (revision 0002)."""
    at = datetime(2026, 1, 2, 9, 0, tzinfo=UTC)
    if connection.dialect.name == "sqlite":
        at = at.replace(tzinfo=None)  # as models.UTCDateTime stores it there
    rows = [
        ("care-bot-1", "Care Bot", "care_user_1", "Online", "Connected", "Not Connected", "down"),
        ("survey-1", "Survey 1", "Survey Connector", "Online", "Connected", "Connected", "ok"),
        ("old-bot", "Old Bot", None, "Stopped", "Connected", "Connected", "stopped"),
    ]
    for bot_id, name, user, connector, cloud, server, health in rows:
        connection.execute(
            text(
                f"INSERT INTO bot ({_BOT_COLUMNS}) VALUES (:id, :name, 'custom', 'messaging',"
                " 'production', :connector, :cloud, :server, :connector, :cloud, :server,"
                " :health, :at, :at, :at, :at, NULL, NULL, NULL, :user, NULL, :at, NULL, 3)"
            ),
            {
                "id": bot_id,
                "name": name,
                "connector": connector,
                "cloud": cloud,
                "server": server,
                "health": health,
                "at": at,
                "user": user,
            },
        )
    connection.execute(
        text(
            "INSERT INTO transition (bot_id, poll_id, at, dimension, old, new, old_raw, new_raw,"
            " old_health, new_health, manual, performed_by) VALUES ('care-bot-1', 1, :at,"
            " 'server', 'Connected', 'Not Connected', 'connected', 'not connected', 'ok',"
            " 'down', false, NULL)"
        ),
        {"at": at},
    )


def _read_upgraded(connection: Connection) -> dict[str, object]:
    connectors = connection.execute(
        text(
            "SELECT bot_id, bot_user, connector, server, health, version FROM connector"
            " ORDER BY bot_id"
        )
    ).all()
    bots = connection.execute(
        text("SELECT id, health, connectors, connectors_ok FROM bot ORDER BY id")
    ).all()
    history = connection.execute(text("SELECT bot_id, bot_user, dimension FROM transition")).all()
    return {
        "connectors": [tuple(row) for row in connectors],
        "bots": [tuple(row) for row in bots],
        "history": [tuple(row) for row in history],
    }


async def test_upgrading_a_populated_database_carries_each_bot_over_as_one_connector(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    await _run(url, _alembic("0002"))
    await _run(url, _populate_0002)

    await upgrade(url)

    upgraded = await _run(url, _read_upgraded)
    assert upgraded == {
        "connectors": [
            ("care-bot-1", "care_user_1", "Online", "Not Connected", "down", 3),
            ("old-bot", "old-bot", "Stopped", "Connected", "stopped", 3),
            ("survey-1", "Survey Connector", "Online", "Connected", "ok", 3),
        ],
        "bots": [
            ("care-bot-1", "down", 1, 0),
            ("old-bot", "stopped", 1, 0),
            ("survey-1", "ok", 1, 1),
        ],
        "history": [("care-bot-1", "care_user_1", "server")],
    }
    assert await _run(url, _differences) == []


async def test_downgrading_the_connectors_keeps_each_bots_first_connector(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    await _run(url, _alembic("0002"))
    await _run(url, _populate_0002)
    await upgrade(url)

    await _run(url, _alembic("0002", down=True))

    def read(connection: Connection) -> list[tuple[object, ...]]:
        rows = connection.execute(
            text("SELECT id, server, health, account_user FROM bot ORDER BY id")
        ).all()
        return [tuple(row) for row in rows]

    assert await _run(url, read) == [
        ("care-bot-1", "Not Connected", "down", "care_user_1"),
        ("old-bot", "Connected", "stopped", None),
        ("survey-1", "Connected", "ok", "Survey Connector"),
    ]
