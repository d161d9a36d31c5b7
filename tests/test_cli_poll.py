"""`chatops poll --once` and `chatops status` as an operator runs them.

The acceptance scenario runs `python -m chatops` in a process of its own with real
environment variables and a real database, driving the fake LivePerson over HTTP. The
other cases call the same command-line entry point in this process (about 50 ms instead
of a second per command).
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlmodel import col, select

from chatops.cli import main
from chatops.config import AlertsConfig
from chatops.domain import Health
from chatops.sandbox.liveperson import RunningServer
from chatops.sandbox.slack import RunningServer as SlackServer
from chatops.sources.liveperson.parse import entry_health
from chatops.store.connectors import all_connectors
from chatops.store.engine import make_engine, make_session_factory
from chatops.store.models import OutboxMessage
from tests.alerts_runner import ALERTS
from tests.fixtures.app import AppUnderTest, app_settings, start_app
from tests.fixtures.liveperson import MakeFakeLP

REPO = Path(__file__).resolve().parent.parent


def clean_environment(**variables: str) -> dict[str, str]:
    """The caller's environment without any chatops, Slack or LivePerson setting, plus these."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CHATOPS_", "LP_", "SLACK_"))
    }
    env["PYTHONPATH"] = str(REPO)
    env.update(variables)
    return env


def chatops(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatops", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def lp_environment(server: RunningServer, database_url: str, **extra: str) -> dict[str, str]:
    fake = server.fake
    return clean_environment(
        LP_API_URL=server.url,
        LP_ACCOUNT_ID=fake.account_id,
        LP_USERNAME=fake.username,
        LP_PASSWORD=fake.password,
        CHATOPS_DATABASE_URL=database_url,
        **extra,
    )


def healthy_production_bot(server: RunningServer) -> dict[str, str]:
    """A healthy production bot of one connector (tests/test_connectors.py: several)."""
    entries = httpx.get(f"{server.url}/_sandbox/bots").json()
    connectors = Counter(entry["botId"] for entry in entries)
    for entry in entries:
        if (
            connectors[entry["botId"]] == 1
            and entry.get("environment") == "PRODUCTION"
            and "cbSocketStatus" in entry
            and entry_health(entry) is Health.OK
        ):
            return entry
    raise AssertionError("no healthy production bot in the fake fleet")


@pytest.fixture
def fleet(make_fake_lp: MakeFakeLP) -> RunningServer:
    return make_fake_lp(bots=200)


def test_poll_stores_the_fleet_then_prints_exactly_the_one_change_then_nothing(
    fleet: RunningServer, database_url: str, tmp_path: Path
) -> None:
    env = lp_environment(fleet, database_url)

    first = chatops(env, tmp_path, "poll", "--once")
    assert first.returncode == 0, first.stderr
    *lines, summary = first.stdout.splitlines()
    assert lines == []
    bots, connectors = int(summary.split()[0]), int(summary.split()[2])
    assert bots > 100 and connectors >= bots
    assert summary.startswith(
        f"{bots} bots, {connectors} connectors, 0 transitions, {connectors} added"
    )

    bot = healthy_production_bot(fleet)
    patched = httpx.patch(
        f"{fleet.url}/_sandbox/bots/{bot['botId']}", json={"cbSocketStatus": "NOT_CONNECTED"}
    )
    assert patched.status_code == 200
    second = chatops(env, tmp_path, "poll", "--once")
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[:-1] == [
        f"{bot['botName']}  {bot['lpAccountUser']}  Bot Server: Connected -> Not Connected"
        "  (bot ok -> down)"
    ]
    assert second.stdout.splitlines()[-1].startswith(
        f"{bots} bots, {connectors} connectors, 1 transition, 0 added"
    )

    third = chatops(env, tmp_path, "poll", "--once")
    assert third.returncode == 0, third.stderr
    assert third.stdout.splitlines() == [third.stdout.splitlines()[-1]]
    assert third.stdout.startswith(f"{bots} bots, {connectors} connectors, 0 transitions, 0 added")

    status = chatops(env, tmp_path, "status", bot["botName"])
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    (at,) = [n for n, line in enumerate(lines) if line.startswith(bot["botName"] + " ")]
    assert lines[at].split("  ")[0] == bot["botName"]
    assert " Down " in lines[at]
    connector = lines[at + 1]
    assert connector.startswith(f"  {bot['lpAccountUser']} ")
    assert "Not Connected" in connector and " Down " in connector


def test_a_failing_source_exits_1_with_the_reason_and_changes_no_status(
    fleet: RunningServer, sqlite_url: str, tmp_path: Path
) -> None:
    env = lp_environment(fleet, sqlite_url)
    assert chatops(env, tmp_path, "poll", "--once").returncode == 0
    before = asyncio.run(stored_statuses(sqlite_url))
    bot = healthy_production_bot(fleet)
    httpx.patch(f"{fleet.url}/_sandbox/bots/{bot['botId']}", json={"nodeStatus": "STOPPED"})
    fault = {"kind": "status", "status": 403, "times": -1}
    assert httpx.post(f"{fleet.url}/_sandbox/faults", json=fault).status_code < 300

    failed = chatops(env, tmp_path, "poll", "--once")

    assert failed.returncode == 1
    assert "the status source failed" in failed.stderr and "403" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert fleet.fake.password not in failed.stderr + failed.stdout
    assert asyncio.run(stored_statuses(sqlite_url)) == before


async def stored_statuses(url: str) -> list[tuple[str, ...]]:
    engine = make_engine(url)
    try:
        async with make_session_factory(engine)() as session:
            connectors = await all_connectors(session)
    finally:
        await engine.dispose()
    return [
        (c.bot_id, c.bot_user, c.connector, c.cloud, c.server, c.health, str(c.version))
        for bot_id in sorted(connectors)
        for c in connectors[bot_id]
    ]


def run_main(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    *args: str,
) -> tuple[int, str, str]:
    """The `chatops` entry point in this process, with exactly ``env`` as its environment."""
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert gc.isenabled()
    code = main(list(args))
    # The command turns the collector off while it starts, and leaves it as it found it.
    assert gc.isenabled()
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Callable[..., tuple[int, str, str]]:
    monkeypatch.chdir(tmp_path)

    def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
        return run_main(monkeypatch, capsys, env, *args)

    return run


def test_status_after_a_failed_poll_says_so_above_the_unchanged_table(
    fleet: RunningServer, sqlite_url: str, cli: Callable[..., tuple[int, str, str]]
) -> None:
    env = lp_environment(fleet, sqlite_url)
    assert cli(env, "poll", "--once")[0] == 0
    before = cli(env, "status")[1].splitlines()
    fleet.fake.add_fault("status", status=403, times=-1)
    assert cli(env, "poll", "--once")[0] == 1

    code, out, _ = cli(env, "status")

    assert code == 0
    after = out.splitlines()
    assert after[0].startswith("data from poll #1, ")
    assert "the last 1 poll failed" in after[0] and "403" in after[0]

    def without_age(lines: list[str]) -> list[str]:
        return [line.rsplit("  ", 1)[0] for line in lines[1:]]

    assert without_age(after) == without_age(before)


def test_status_shows_every_bot_as_unknown_once_polls_keep_failing(
    fleet: RunningServer, sqlite_url: str, cli: Callable[..., tuple[int, str, str]]
) -> None:
    env = lp_environment(fleet, sqlite_url)
    assert cli(env, "poll", "--once")[0] == 0
    fleet.fake.add_fault("status", status=403, times=-1)
    for _ in range(3):  # poll.unreachable_after
        assert cli(env, "poll", "--once")[0] == 1

    code, out, _ = cli(env, "status")

    assert code == 0
    header, _, columns, *rows = out.splitlines()
    assert "the last 3 polls failed" in header
    table = rows[: rows.index("")]
    assert table and all(
        row[columns.index("HEALTH") :].startswith("Unknown (was ") for row in table
    )


def test_poll_without_login_variables_names_them_and_exits_2(
    sqlite_url: str, cli: Callable[..., tuple[int, str, str]]
) -> None:
    env = clean_environment(CHATOPS_DATABASE_URL=sqlite_url, LP_API_URL="http://127.0.0.1:9")

    code, _, err = cli(env, "poll", "--once")

    assert code == 2
    assert "LP_ACCOUNT_ID" in err


def test_status_shows_problems_first_with_raw_values_of_unknown_statuses(
    fleet: RunningServer, sqlite_url: str, cli: Callable[..., tuple[int, str, str]]
) -> None:
    env = lp_environment(fleet, sqlite_url)
    bot = healthy_production_bot(fleet)
    fleet.fake.set_fields(bot["botId"], cbSocketStatus="REBOOTING")
    assert cli(env, "poll", "--once")[0] == 0

    code, every, _ = cli(env, "status")
    one_code, one, _ = cli(env, "status", bot["botName"])

    assert code == 0
    header, _, columns, *rows = every.splitlines()
    assert header.startswith("data from poll #1, ")
    assert columns.split("  ")[0] == "BOT / BOT USER"
    assert [c.strip() for c in columns.split("  ") if c.strip()] == [
        "BOT / BOT USER",
        "KIND",
        "ENV",
        "CONNECTOR",
        "CONVERSATIONAL CLOUD",
        "BOT SERVER",
        "HEALTH",
        "SINCE",
    ]
    table = [row for row in rows[: rows.index("")] if not row.startswith("  ")]
    healths = [row[columns.index("HEALTH") :].split("  ")[0].strip() for row in table]
    # Problems first (down, unknown, stopped, ready, away), the healthy bots last.
    first_ok = healths.index("OK")
    assert first_ok > 0 and "OK" not in healths[:first_ok]
    assert set(healths[first_ok:]) == {"OK"}
    assert rows[-1].startswith(f"{len(table)} bots: ")
    assert one_code == 0
    one_columns, line, connector = (row for row in one.splitlines()[2:] if row)
    assert line.startswith(bot["botName"] + " ")
    assert line[one_columns.index("HEALTH") :].startswith("Unknown")
    assert connector.startswith(f"  {bot['lpAccountUser']} ")
    assert "Unknown (REBOOTING)" in connector
    assert connector[one_columns.index("HEALTH") :].startswith("Unknown")


def test_status_on_an_empty_database_says_how_to_fill_it(
    sqlite_url: str, cli: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, _ = cli(clean_environment(CHATOPS_DATABASE_URL=sqlite_url), "status")

    assert code == 0
    assert out.strip() == "no bots stored yet — run chatops poll --once"


def test_status_of_a_query_that_matches_nothing_exits_1(
    fleet: RunningServer, sqlite_url: str, cli: Callable[..., tuple[int, str, str]]
) -> None:
    env = lp_environment(fleet, sqlite_url)
    assert cli(env, "poll", "--once")[0] == 0

    code, out, _ = cli(env, "status", "no-such-bot-*")

    assert code == 1
    assert "no bot matches 'no-such-bot-*'" in out


def test_commands_on_an_unreachable_database_fail_clearly_without_the_password(
    cli: Callable[..., tuple[int, str, str]],
) -> None:
    url = "postgresql+asyncpg://chatops:s3cret-pw@127.0.0.1:1/chatops"
    env = clean_environment(CHATOPS_DATABASE_URL=url)

    for command in (["db", "upgrade"], ["status"]):
        code, out, err = cli(env, *command)

        assert code == 1
        assert "cannot reach the database" in err
        assert "s3cret-pw" not in out + err


def test_a_bot_down_while_only_poll_once_ran_is_alerted_once_when_the_service_starts(
    fake_lp: RunningServer, fake_slack: SlackServer, database_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "chatops.yml"
    config.write_text(f"alerts:\n  channel: {ALERTS}\n  confirm_polls: 2\n")
    env = lp_environment(fake_lp, database_url, CHATOPS_CONFIG=str(config))
    assert chatops(env, tmp_path, "poll", "--once").returncode == 0
    bot = healthy_production_bot(fake_lp)
    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="NOT_CONNECTED")

    # Long enough for the change to be confirmed: the alert is in the outbox, unsent.
    polls = [chatops(env, tmp_path, "poll", "--once") for _ in range(2)]
    for polled in polls:
        assert polled.returncode == 0, polled.stderr
    assert "1 alert queued" in polls[-1].stdout
    assert fake_slack.fake.calls("chat.postMessage") == []

    alerts = AlertsConfig(channel=ALERTS, confirm_polls=2)
    service = start_app(
        app_settings(fake_lp, fake_slack, database_url, alerts=alerts), fake_lp, fake_slack
    )
    app = next(service)
    try:
        fake_slack.fake.wait_for(lambda: fake_slack.fake.messages(ALERTS) != [])
        app.poll()
        app.poll()
        app.fake_slack.wait_for(lambda: app.run(unsent_alerts(app)) == 0)
    finally:
        service.close()
    (alert,) = fake_slack.fake.messages(ALERTS)
    assert alert["text"] == f"{bot['botName']} is Down"


async def unsent_alerts(app: AppUnderTest) -> int:
    async with app.runtime.sessions() as session:
        rows = await session.exec(
            select(OutboxMessage).where(col(OutboxMessage.status).in_(("pending", "sending")))
        )
        return len(rows.all())
