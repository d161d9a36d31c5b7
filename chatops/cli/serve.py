"""``chatops serve``: HTTP mode under uvicorn, or Socket Mode when SLACK_APP_TOKEN is set."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import sys

import uvicorn

from chatops.config import Settings
from chatops.malloc import keep_large_blocks_mapped
from chatops.runtime import build_runtime
from chatops.sources.base import SourceError
from chatops.store.migrate import DatabaseUnavailable, SchemaOutOfDate, prepare_database

log = logging.getLogger(__name__)


def missing_slack_settings(settings: Settings) -> list[str]:
    env = settings.env
    missing = []
    if env.slack_bot_token is None:
        missing.append("SLACK_BOT_TOKEN")
    if env.slack_signing_secret is None and env.slack_app_token is None:
        missing.append("SLACK_SIGNING_SECRET")
    return missing


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def serve(settings: Settings, *, host: str, port: int) -> int:
    missing = missing_slack_settings(settings)
    if missing:
        print(
            f"chatops serve: set {' and '.join(missing)} (see README: Configuration)",
            file=sys.stderr,
        )
        return 2
    # A long-running process whose polls allocate and free megabytes (chatops.malloc).
    keep_large_blocks_mapped()
    try:
        runtime = build_runtime(settings)
    except SourceError as exc:
        print(f"chatops serve: {exc}", file=sys.stderr)
        return 2
    # Migrate (SQLite) or refuse (an out-of-date PostgreSQL schema) before binding the port,
    # with a message instead of uvicorn's startup traceback.
    try:
        asyncio.run(prepare_database(settings.env.database_url))
    except (DatabaseUnavailable, SchemaOutOfDate) as exc:
        print(f"chatops serve: {exc}", file=sys.stderr)
        return 1
    runtime.database_prepared = True
    if not port_is_free(host, port):
        print(f"chatops serve: port {port} on {host} is already in use", file=sys.stderr)
        return 1
    config = uvicorn.Config(
        runtime.web_app(),
        host=host,
        port=port,
        lifespan="on",
        log_config=None,  # our logging setup (JSON or text) applies to uvicorn's lines too
        access_log=False,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1
