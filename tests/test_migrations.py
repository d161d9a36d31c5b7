from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from chatops.config import AppConfig, Secrets, Settings
from chatops.store.migrate import (
    DatabaseUnavailable,
    SchemaOutOfDate,
    alembic_config,
    current_revision,
    head_revision,
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
    return Settings(secrets=Secrets(database_url=url), app=AppConfig())


async def test_the_migrations_build_exactly_the_schema_of_the_models(
    empty_database_url: str,
) -> None:
    await upgrade(empty_database_url)

    assert await _run(empty_database_url, _differences) == []


async def test_an_empty_database_has_no_revision_until_upgraded(empty_database_url: str) -> None:
    assert await current_revision(empty_database_url) is None
    assert not await schema_is_current(empty_database_url)

    await upgrade(empty_database_url)

    assert await current_revision(empty_database_url) == head_revision()
    assert await schema_is_current(empty_database_url)


async def test_upgrading_a_current_database_changes_nothing(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    await upgrade(empty_database_url)

    assert await current_revision(empty_database_url) == head_revision()


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

    assert await current_revision(url) == head_revision()
    assert await _run(url, _differences) == []


async def test_sqlite_is_upgraded_by_prepare_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"

    await prepare_database(url)

    assert await current_revision(url) == head_revision()


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
    assert (
        f"upgraded from an empty database to revision {head_revision()}" in capsys.readouterr().out
    )

    assert upgrade_command(_settings(url)) == 0
    assert "already at revision" in capsys.readouterr().out


def test_db_upgrade_fails_clearly_when_the_database_cannot_be_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"

    assert upgrade_command(_settings(url)) == 1
    assert "cannot reach the database" in capsys.readouterr().err
