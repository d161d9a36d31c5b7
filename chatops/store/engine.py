"""Async engine and session setup for SQLite (embedded default) and PostgreSQL, a readiness
ping, and which database errors mean the database cannot be used at all."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

SessionFactory = async_sessionmaker[AsyncSession]


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create the engine with settings that suit each backend.

    SQLite: WAL so readers never wait for the poller's write, a busy timeout instead of
    "database is locked", foreign keys on. PostgreSQL: pre-ping so a restarted server does
    not fail the first query after it, and a modest pool (2 cores, one process).
    """
    if is_sqlite(url):
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_async_engine(url, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_timeout", 10)
    return create_async_engine(url, **kwargs)


def dialect_insert(dialect: str, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """``INSERT`` into ``table`` in the form of ``dialect`` (``postgresql``, else SQLite), for
    its ``ON CONFLICT`` clauses. Imported on use: a replica on SQLite never loads SQLAlchemy's
    PostgreSQL dialect, whose package imports the modules of its four drivers (tens of ms of
    a start)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    """One round trip to the database (readiness); raises when it cannot be reached."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be used at all (not a bad statement)."""
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, sa_exc.OperationalError | sa_exc.InterfaceError
        )
    # asyncpg raises OSError (refused, reset) unwrapped when it connects; the pool raises
    # sqlalchemy's TimeoutError when every connection is busy.
    return isinstance(exc, OSError | TimeoutError | sa_exc.TimeoutError)


def driver_words(exc: BaseException) -> tuple[BaseException, str]:
    """The driver's exception under SQLAlchemy's wrapper, and its own first line (without
    SQLAlchemy's statement, parameters and background link)."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        exc = exc.orig
    return exc, str(exc).strip().split("\n", 1)[0]


def describe_database_error(exc: BaseException) -> str:
    """The driver's exception type and its own first line, for logs and readiness."""
    exc, text = driver_words(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
