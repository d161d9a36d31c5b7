"""The ``chatops`` command's parser and sub-commands. Starts things; owns no logic.

Each sub-command imports what it needs lazily so that ``chatops --help`` stays fast and a
command never pays for modules it does not use.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
from collections.abc import Sequence

from pydantic import SecretStr

from chatops import __version__
from chatops.config import DEFAULT_CONFIG_FILE, ConfigError, Settings, load_settings
from chatops.logs import configure_logging, json_logs_wanted, register_secrets


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(getattr(args, "config", None))
    # Whatever a library might log, these exact values never reach a log line.
    register_secrets(
        value.get_secret_value()
        for value in settings.env.__dict__.values()
        if isinstance(value, SecretStr)
    )
    return settings


def _cmd_demo(args: argparse.Namespace) -> int:
    from chatops.demo import run_demo

    return run_demo(port=args.port, host=args.host)


def _cmd_serve(args: argparse.Namespace) -> int:
    from chatops.cli.serve import serve

    return serve(_settings(args), host=args.host, port=args.port)


def _cmd_poll(args: argparse.Namespace) -> int:
    from chatops.cli.poll_status import poll_command

    if not args.once:
        print("chatops poll: only --once is supported here; `chatops serve` polls on a schedule")
        return 2
    return asyncio.run(poll_command(_settings(args)))


def _cmd_status(args: argparse.Namespace) -> int:
    from chatops.cli.poll_status import status_command

    return asyncio.run(status_command(_settings(args), " ".join(args.query)))


def _cmd_db(args: argparse.Namespace) -> int:
    from chatops.store.migrate import upgrade_command

    return upgrade_command(_settings(args))


def _cmd_check_config(args: argparse.Namespace) -> int:
    from chatops.checks import check_config_command

    return asyncio.run(check_config_command(args.config))


def _cmd_sandbox_liveperson(args: argparse.Namespace) -> int:
    from chatops.sandbox.liveperson import serve_forever

    return serve_forever(
        host=args.host,
        port=args.port,
        bots=args.bots,
        connectors=args.connectors,
        seed=args.seed,
        messy=args.messy,
        duplicates=args.duplicates,
    )


# Where the YAML file is looked for without --config (chatops.config.config_path).
CONFIG_HELP = (
    f"YAML config file (default: $CHATOPS_CONFIG, else {DEFAULT_CONFIG_FILE} in the current "
    "directory if present; without one, the defaults)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatops", description="LivePerson Bots Status in Slack.")
    parser.add_argument("--version", action="version", version=f"chatops {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="everything local: fake LivePerson and Slack, the app")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--host", default="127.0.0.1")
    demo.set_defaults(func=_cmd_demo)

    serve = sub.add_parser("serve", help="production: HTTP on /slack/events, or Socket Mode")
    serve.add_argument("--config", help=CONFIG_HELP)
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=3000)
    # Its service turns the garbage collector on once it runs (chatops.collector).
    serve.set_defaults(func=_cmd_serve, collector_on_start=True)

    poll = sub.add_parser("poll", help="poll the status source")
    poll.add_argument("--once", action="store_true", help="one poll, print the transitions")
    poll.add_argument("--config", help=CONFIG_HELP)
    poll.set_defaults(func=_cmd_poll)

    status = sub.add_parser("status", help="terminal table of stored status")
    status.add_argument("query", nargs="*", help="bot name, id or glob")
    status.add_argument("--config", help=CONFIG_HELP)
    status.set_defaults(func=_cmd_status)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply migrations")
    upgrade.add_argument("--config", help=CONFIG_HELP)
    upgrade.set_defaults(func=_cmd_db)

    check = sub.add_parser("check-config", help="validate config, try Slack and LivePerson")
    check.add_argument("--config", help=CONFIG_HELP)
    check.set_defaults(func=_cmd_check_config)

    sandbox = sub.add_parser("sandbox", help="run a fake outside service alone")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", metavar="SERVICE", required=True)
    lp = sandbox_sub.add_parser("liveperson", help="the fake LivePerson API")
    lp.add_argument("--host", default="127.0.0.1")
    lp.add_argument("--port", type=int, default=9100)
    size = lp.add_mutually_exclusive_group()
    size.add_argument("--bots", type=int, help="the fleet's size in bots (default 40)")
    size.add_argument(
        "--connectors", type=int, help="the fleet's size in connectors (about 2.5 per bot)"
    )
    lp.add_argument("--seed", type=int, default=1)
    lp.add_argument(
        "--messy", action="store_true", help="leave botName, type or lpAccountUser out of some"
    )
    lp.add_argument("--duplicates", action="store_true", help="list some connectors twice")
    lp.set_defaults(func=_cmd_sandbox_liveperson)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        json_format = json_logs_wanted(os.environ.get("CHATOPS_LOG_FORMAT"))
    except ValueError as exc:
        print(f"chatops: configuration error:\n{exc}", file=sys.stderr)
        return 2
    configure_logging(
        json_format=json_format, level=logging.DEBUG if args.verbose else logging.INFO
    )
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    if not getattr(args, "collector_on_start", False):
        gc.enable()  # off while the command started (see chatops.cli)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        print(f"chatops: configuration error:\n{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    raise SystemExit(main())
