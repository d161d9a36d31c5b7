"""Apply the Alembic migrations in ``chatops/store/migrations`` from code (no alembic.ini).

``chatops db upgrade`` runs :func:`upgrade`. ``serve``, ``demo`` and ``poll`` call
:func:`prepare_database` first: SQLite (one replica, nobody else to coordinate with) upgrades
itself, every other backend must already be at the head revision, so that a rolling deploy
never has replicas migrating under each other's feet.

To write the next migration, generate a draft against a database at head and then edit it
by hand::

    from alembic import command
    from chatops.store.migrate import alembic_config
    command.revision(alembic_config(url), autogenerate=True, message="...")
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import MetaData, inspect, pool, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel

from chatops.config import Settings
from chatops.store.engine import driver_words, is_sqlite
from chatops.store.leases import advisory_lock_key

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"

# The newest migration in ``migrations/versions``. Known without Alembic, which would import
# itself and load every migration script at each start only to find it: a database already
# at head (every start but the first after an upgrade) never loads Alembic.
# tests/test_migrations.py checks it against Alembic's own head.
HEAD_REVISION = "0007"

# Held (transaction-scoped) while migrating PostgreSQL, so that two `chatops db upgrade`
# started at once run one after the other: the second then finds nothing to do.
MIGRATION_LOCK_KEY = advisory_lock_key("chatops.migrate")


def table_metadata() -> MetaData:
    """Every table chatops declares: the modules ``chatops/store/*models.py`` imported.

    Tables live in more than one module (``models``, ``alert_models``); autogenerate and
    the schema tests must see all of them, whoever imported what so far.
    """
    package = Path(__file__).parent
    for module in pkgutil.iter_modules([str(package)]):
        if module.name.endswith("models"):
            importlib.import_module(f"{__package__}.{module.name}")
    return SQLModel.metadata


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened. The message never contains a password."""


class SchemaOutOfDate(Exception):
    """The database schema is not the one this version of chatops needs."""


class _UnknownRevision(Exception):
    """Alembic cannot upgrade from the database's revision (its own message)."""


def safe_url(url: str) -> str:
    """The URL as it may appear in logs and messages: the password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "(unparseable database URL)"


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # The ini parser treats "%" as interpolation; URL-encoded passwords contain it.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _check_sqlite_directory(url: str) -> None:
    # Said plainly here rather than as sqlite's "unable to open database file" (and a
    # failed aiosqlite connect leaves a worker thread that outlives a short event loop).
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    directory = Path(database).parent
    if not directory.is_dir():
        raise DatabaseUnavailable(
            f"cannot reach the database {safe_url(url)}: the directory {directory} does not exist"
        )


def _open_engine(url: str) -> AsyncEngine:
    try:
        if is_sqlite(url):
            _check_sqlite_directory(url)
            return create_async_engine(url, poolclass=pool.NullPool, connect_args={"timeout": 30})
        return create_async_engine(url, poolclass=pool.NullPool)
    except (
        sa_exc.ArgumentError,
        sa_exc.NoSuchModuleError,
        sa_exc.InvalidRequestError,
        ImportError,
    ) as exc:
        # InvalidRequestError: a synchronous driver; ImportError: a driver not installed.
        raise DatabaseUnavailable(
            f"cannot use the database URL {safe_url(url)}: {_driver_message(exc)} "
            "(use sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST/DB)"
        ) from None


def _driver_message(exc: BaseException) -> str:
    """The driver's own first line (its exception type when it says nothing)."""
    exc, text = driver_words(exc)
    return text or type(exc).__name__


def _unavailable(url: str, exc: BaseException) -> DatabaseUnavailable:
    return DatabaseUnavailable(f"cannot reach the database {safe_url(url)}: {_driver_message(exc)}")


def _read_revision(connection: Connection) -> str | None:
    # Read directly: an Alembic MigrationContext logs its set-up at every process start.
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    revision = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    return str(revision) if revision is not None else None


def _upgrade_on(connection: Connection) -> tuple[str | None, str | None]:
    before = _read_revision(connection)
    if before == HEAD_REVISION:
        return before, before
    from alembic import command
    from alembic.util import CommandError

    config = alembic_config()
    config.attributes["connection"] = connection
    try:
        command.upgrade(config, "head")
    except CommandError as exc:
        raise _UnknownRevision(str(exc)) from None
    return before, _read_revision(connection)


async def _upgrade(url: str) -> tuple[str | None, str | None]:
    """Upgrade to head; return the revisions before and after."""
    engine = _open_engine(url)
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            revisions = await connection.run_sync(_upgrade_on)
            await connection.commit()
            return revisions
    except _UnknownRevision as exc:
        # The database names a revision we do not ship: a newer chatops migrated it.
        raise SchemaOutOfDate(
            f"the database {safe_url(url)} cannot be upgraded: {exc} "
            "(was it migrated by a newer version of chatops?)"
        ) from None
    except (sa_exc.OperationalError, sa_exc.InterfaceError, OSError) as exc:
        raise _unavailable(url, exc) from None
    except sa_exc.DBAPIError as exc:
        # e.g. asyncpg's InvalidCatalogNameError (no such database), wrapped by SQLAlchemy.
        raise _unavailable(url, exc) from None
    finally:
        await engine.dispose()


async def upgrade(url: str) -> None:
    """``alembic upgrade head`` on ``url``; safe to run from several processes at once."""
    await _upgrade(url)


async def current_revision(url: str) -> str | None:
    """The revision the database is at; None for an empty database."""
    engine = _open_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_read_revision)
    except (sa_exc.DBAPIError, OSError) as exc:
        raise _unavailable(url, exc) from None
    finally:
        await engine.dispose()


async def schema_is_current(url: str) -> bool:
    return await current_revision(url) == HEAD_REVISION


async def prepare_database(url: str) -> None:
    """Make sure the schema is usable before serving or polling.

    SQLite upgrades itself. Other backends raise SchemaOutOfDate unless already at head:
    migrating is an explicit step there (``chatops db upgrade``), run once per deploy.
    """
    if is_sqlite(url):
        await upgrade(url)
        return
    current = await current_revision(url)
    if current != HEAD_REVISION:
        at = f"revision {current}" if current else "no schema at all (an empty database)"
        raise SchemaOutOfDate(
            f"the database {safe_url(url)} has {at}, this chatops needs revision {HEAD_REVISION}: "
            "run `chatops db upgrade`"
        )


def upgrade_command(settings: Settings) -> int:
    """``chatops db upgrade``: print the revision before and after; exit 1 on failure."""
    url = settings.env.database_url
    try:
        before, after = asyncio.run(_upgrade(url))
    except (DatabaseUnavailable, SchemaOutOfDate) as exc:
        print(f"chatops db upgrade: {exc}", file=sys.stderr)
        return 1
    where = safe_url(url)
    if before == after:
        print(f"{where}: already at revision {after}, nothing to do")
    else:
        print(f"{where}: upgraded from {before or 'an empty database'} to revision {after}")
    return 0
