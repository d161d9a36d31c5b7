"""Restarts: nothing alerted twice, changes made while down alerted once, and a process
killed with SIGKILL in the middle of a storm loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col

from chatops.config import EnvSettings
from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import RunningServer as SlackServer
from chatops.store.engine import make_engine
from chatops.store.models import OutboxMessage, PollRun
from tests.alerts_runner import ALERTS, BILLING, AlertRig, build_rig
from tests.test_alerts_flow import healthy_bots
from tests.test_alerts_storm import healthy_bots as healthy_fleet
from tests.waiting import PATIENCE, await_until, wait_until

ROOT = Path(__file__).resolve().parent.parent


def alerted_names(slack: SlackServer, *channels: str) -> Counter[str]:
    """How many top-level alert messages each bot got."""
    names: Counter[str] = Counter()
    for channel in channels:
        for message in slack.fake.messages(channel):
            first = message["history"][0]["text"] if message["history"] else message["text"]
            names[first.split(" is ")[0]] += 1
    return names


async def confirmed_outage(rig: AlertRig, fake_lp: LPServer) -> dict[str, Any]:
    """A billing bot goes down long enough to be confirmed: its alert is in the outbox."""
    bot = healthy_bots(fake_lp, "billing")[0]
    await rig.poll()
    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="NOT_CONNECTED")
    await rig.polls(2)
    return bot


async def test_a_restart_alerts_nothing_already_alerted(
    sqlite_url: str, lp_secrets: EnvSettings, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    first = build_rig(sqlite_url, lp_secrets, fake_slack.fake.base_url, fake_slack.fake.bot_token)
    bot = await confirmed_outage(first, fake_lp)
    await first.deliver_all()
    await first.aclose()

    second = build_rig(sqlite_url, lp_secrets, fake_slack.fake.base_url, fake_slack.fake.bot_token)
    await second.polls(3)
    await second.deliver_all()
    await second.aclose()

    assert alerted_names(fake_slack, BILLING, ALERTS) == {bot["botName"]: 1}


async def test_a_change_made_while_the_app_was_down_alerts_once(
    sqlite_url: str, lp_secrets: EnvSettings, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    bot = healthy_bots(fake_lp, "billing")[0]
    first = build_rig(sqlite_url, lp_secrets, fake_slack.fake.base_url, fake_slack.fake.bot_token)
    await first.poll()
    await first.aclose()
    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="NOT_CONNECTED")

    second = build_rig(sqlite_url, lp_secrets, fake_slack.fake.base_url, fake_slack.fake.bot_token)
    await second.polls(4)
    await second.deliver_all()
    await second.aclose()

    assert alerted_names(fake_slack, BILLING, ALERTS) == {bot["botName"]: 1}


async def test_a_clean_shutdown_in_the_middle_of_a_delivery_finishes_it_and_nothing_is_sent_twice(
    sqlite_url: str, lp_secrets: EnvSettings, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    first = build_rig(sqlite_url, lp_secrets, fake_slack.fake.base_url, fake_slack.fake.bot_token)
    bot = await confirmed_outage(first, fake_lp)
    # Slack takes a second to answer: the shutdown (SIGTERM) comes while it has the message.
    fake_slack.fake.inject(method="chat.postMessage", delay=1.0)
    relay = asyncio.create_task(first.service.run_relay_forever())
    await await_until(lambda: fake_slack.fake.faults()[0]["times"] == 0, what="Slack has it")
    await first.service.aclose()
    await relay
    await first.aclose()
    # Slack has the message, whatever the process made of its answer.
    await await_until(lambda: len(fake_slack.fake.messages(BILLING)) == 1, what="posted")

    # The next process on this database gives back what was left 'sending' and relays it.
    second = build_rig(sqlite_url, lp_secrets, fake_slack.fake.base_url, fake_slack.fake.bot_token)
    relay = asyncio.create_task(second.service.run_relay_forever())
    await await_until(
        lambda: _nothing_unfinished(second), what="the next process relays what was left"
    )
    await second.service.aclose()
    await relay
    await second.aclose()

    assert alerted_names(fake_slack, BILLING, ALERTS) == {bot["botName"]: 1}


async def _nothing_unfinished(rig: AlertRig) -> bool:
    return await rig.unfinished() == 0


def _count(url: str, query: sa.Select[tuple[int]]) -> int:
    async def count() -> int:
        engine = make_engine(url)
        try:
            async with engine.connect() as connection:
                return int((await connection.execute(query)).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(count())


def _poll_count(url: str) -> int:
    return _count(url, sa.select(sa.func.count()).select_from(PollRun).where(col(PollRun.ok)))


def _unfinished_alerts(url: str) -> int:
    unfinished = col(OutboxMessage.status).in_(("pending", "sending"))
    return _count(url, sa.select(sa.func.count()).select_from(OutboxMessage).where(unfinished))


@pytest.fixture
def start_runner(
    tmp_path: Path, fake_slack: SlackServer
) -> Iterator[tuple[Path, list[subprocess.Popen[str]]]]:
    processes: list[subprocess.Popen[str]] = []
    yield tmp_path / "runner.db", processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=PATIENCE)
        if process.stdout is not None:
            process.stdout.close()


def _spawn(database: Path, lp: LPServer, slack: SlackServer) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "tests.alerts_runner",
        "--lp-url",
        lp.url,
        "--slack-url",
        slack.fake.base_url,
        "--database",
        str(database),
        "--interval",
        "0.2",
        "--post-interval",
        "0.05",
        "--digest-after",
        "1000",
        "--no-routes",
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def test_a_process_killed_mid_storm_delivers_everything_and_repeats_at_most_one(
    make_fake_lp: object,
    fake_slack: SlackServer,
    start_runner: tuple[Path, list[subprocess.Popen[str]]],
) -> None:
    database, processes = start_runner
    url = f"sqlite+aiosqlite:///{database}"
    lp: LPServer = make_fake_lp(bots=200, seed=5)  # type: ignore[operator]
    victims = healthy_fleet(lp.fake)[:60]
    assert len(victims) == 60
    first = _spawn(database, lp, fake_slack)
    processes.append(first)
    wait_until(lambda: _poll_count(url) >= 1, what="the runner's first poll")
    for entry in victims:
        lp.fake.set_fields(entry["botId"], cbSocketStatus="NOT_CONNECTED")
    fake_slack.fake.wait_for(lambda: len(fake_slack.fake.messages(ALERTS)) >= 15)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=PATIENCE)
    before_kill = [m["text"].split(" is ")[0] for m in fake_slack.fake.messages(ALERTS)]
    assert len(before_kill) < 60, "the storm ended before the kill: nothing was tested"

    second = _spawn(database, lp, fake_slack)
    processes.append(second)
    names = {entry["botName"] for entry in victims}
    fake_slack.fake.wait_for(lambda: set(alerted_names(fake_slack, ALERTS)) >= names)
    # Everything queued has gone out: anything sent twice is in Slack now.
    wait_until(lambda: _unfinished_alerts(url) == 0, what="an empty outbox")

    counts = alerted_names(fake_slack, ALERTS)
    assert set(counts) == names
    repeated = [name for name, count in counts.items() if count > 1]
    assert len(repeated) <= 1
    assert all(counts[name] == 1 for name in before_kill[:-1])
    if repeated:
        assert repeated == [before_kill[-1]]
