"""Agent connectors are the unit: a bot of several connectors, as an operator sees it.

LivePerson lists one status entry per agent connector, several per bot, in any order. These
run the real command line, poller and Start/Stop control against the fake LivePerson over
HTTP: a second connector's failure is seen, the list's order changes nothing, and a Stop of
the bot names each of its connectors to LivePerson.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from chatops.blockkit.controls import Action
from chatops.config import PermissionRule
from chatops.domain import Environment, Health
from chatops.metrics import Metrics
from chatops.monitor.poll import Poller, PollResult
from chatops.permissions import PermissionResolver
from chatops.sandbox.liveperson import MONITORING, RunningServer
from chatops.sandbox.slack import RunningServer as SlackServer
from chatops.slack.control import ConnectorControl
from chatops.slack.results import ActionResult, Outcome
from chatops.sources.liveperson import LivePersonSource
from chatops.sources.liveperson.parse import entry_health
from chatops.store.connectors import connectors_of
from chatops.store.engine import SessionFactory
from chatops.store.models import AuditEntry, Bot
from tests.fixtures.liveperson import MakeFakeLP, secrets_for
from tests.test_cli_poll import chatops, lp_environment


def healthy(entry: dict[str, Any]) -> bool:
    return entry_health(entry) is Health.OK


def bots_with(server: RunningServer, connectors: int) -> list[list[dict[str, Any]]]:
    """Production custom bots with exactly ``connectors`` connectors, all healthy."""
    by_bot: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in server.fake.bots():
        if entry.get("environment") == "PRODUCTION" and "cbSocketStatus" in entry:
            by_bot[str(entry["botId"])].append(entry)
    return [
        sorted(entries, key=lambda e: str(e["lpAccountUser"]))
        for entries in by_bot.values()
        if len(entries) == connectors
        and all(healthy(e) and e.get("botName") for e in entries)
        and len({e["botName"] for e in entries}) == 1
    ]


@pytest.fixture
def fleet(make_fake_lp: MakeFakeLP) -> RunningServer:
    return make_fake_lp(bots=60, seed=7)


def test_the_fleet_has_bots_of_one_two_and_four_connectors(fleet: RunningServer) -> None:
    for count in (1, 2, 4):
        assert bots_with(fleet, count), f"no healthy bot with {count} connectors"


def test_the_second_connector_losing_its_bot_server_is_seen_and_the_bot_is_degraded(
    fleet: RunningServer, database_url: str, tmp_path: Path
) -> None:
    env = lp_environment(fleet, database_url)
    assert chatops(env, tmp_path, "poll", "--once").returncode == 0
    first, second = bots_with(fleet, 2)[0]
    name = first["botName"]
    patched = httpx.patch(
        f"{fleet.url}/_sandbox/bots/{second['botId']}/connectors/{second['lpAccountUser']}",
        json={"cbSocketStatus": "NOT_CONNECTED"},
    )
    assert patched.status_code == 200

    poll = chatops(env, tmp_path, "poll", "--once")

    assert poll.returncode == 0, poll.stderr
    assert poll.stdout.splitlines()[:-1] == [
        f"{name}  {second['lpAccountUser']}  Bot Server: Connected -> Not Connected"
        "  (bot ok -> degraded)"
    ]
    status = chatops(env, tmp_path, "status", name)
    lines = status.stdout.splitlines()
    (at,) = [n for n, line in enumerate(lines) if line.startswith(name + " ")]
    assert "Degraded, 1 of 2 OK" in lines[at]
    rows = lines[at + 1 : at + 3]
    assert rows[0].startswith(f"  {first['lpAccountUser']} ") and " OK " in rows[0]
    assert rows[1].startswith(f"  {second['lpAccountUser']} ") and "Not Connected" in rows[1]


def test_the_order_of_the_status_list_changes_nothing(
    fleet: RunningServer, database_url: str, tmp_path: Path
) -> None:
    env = lp_environment(fleet, database_url)
    assert chatops(env, tmp_path, "poll", "--once").returncode == 0

    # The fake sends its list in a new order on every call.
    for _ in range(4):
        poll = chatops(env, tmp_path, "poll", "--once")
        assert poll.returncode == 0, poll.stderr
        assert len(poll.stdout.splitlines()) == 1, poll.stdout
        assert " 0 transitions, 0 added" in poll.stdout


# -- the poller, in this process ------------------------------------------------------------


@pytest.fixture
async def sources() -> AsyncIterator[list[LivePersonSource]]:
    made: list[LivePersonSource] = []
    yield made
    for source in made:
        await source.aclose()


@pytest.fixture
def source(fleet: RunningServer, sources: list[LivePersonSource]) -> LivePersonSource:
    sources.append(LivePersonSource(secrets_for(fleet), [Environment.PRODUCTION]))
    return sources[-1]


async def tick(poller: Poller) -> PollResult:
    result = await poller.tick()
    assert result is not None and result.ok, result
    return result


async def test_losing_the_last_connector_takes_a_degraded_bot_down_and_back(
    fleet: RunningServer, source: LivePersonSource, sessions: SessionFactory
) -> None:
    poller = Poller(source, sessions)
    await tick(poller)
    first, second = bots_with(fleet, 2)[0]
    bot_id = first["botId"]

    fleet.fake.set_fields(bot_id, second["lpAccountUser"], nodeStatus="NOT_CONNECTED")
    degraded = await tick(poller)
    fleet.fake.set_fields(bot_id, first["lpAccountUser"], nodeStatus="NOT_CONNECTED")
    down = await tick(poller)
    fleet.fake.set_fields(bot_id, nodeStatus="ONLINE")
    back = await tick(poller)

    healths = [
        [(c.bot_id, c.old_health, c.new_health) for c in result.changes]
        for result in (degraded, down, back)
    ]
    assert healths == [
        [(bot_id, Health.OK, Health.DEGRADED)],
        [(bot_id, Health.DEGRADED, Health.DOWN)],
        [(bot_id, Health.DOWN, Health.OK)],
    ]
    assert [t.bot_user for t in degraded.transitions] == [second["lpAccountUser"]]
    async with sessions() as session:
        row = await session.get(Bot, bot_id)
        assert row is not None
        assert (row.health, row.connectors, row.connectors_ok) == ("ok", 2, 2)


async def test_a_connector_the_source_stops_listing_is_no_longer_listed_not_down(
    fleet: RunningServer, source: LivePersonSource, sessions: SessionFactory
) -> None:
    poller = Poller(source, sessions)
    await tick(poller)
    first, second = bots_with(fleet, 2)[0]
    bot_id = first["botId"]

    fleet.fake.set_fields(bot_id, second["lpAccountUser"], environment="STAGING")
    result = await tick(poller)

    assert (result.removed, result.transitions) == (1, [])
    (change,) = result.changes
    assert (change.old_health, change.new_health) == (Health.OK, Health.OK)
    async with sessions() as session:
        listed = (await connectors_of(session, [bot_id]))[bot_id]
        bot = await session.get(Bot, bot_id)
    assert [c.bot_user for c in listed] == [first["lpAccountUser"]]
    assert bot is not None and (bot.health, bot.connectors) == ("ok", 1)


async def test_duplicate_entries_keep_one_connector_and_log_once(
    make_fake_lp: MakeFakeLP,
    sessions: SessionFactory,
    sources: list[LivePersonSource],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = make_fake_lp(bots=30, seed=3, duplicates=True)
    listed = server.fake.bots()
    assert len({(e["botId"], e.get("lpAccountUser")) for e in listed}) < len(listed)
    source = LivePersonSource(secrets_for(server), [Environment.PRODUCTION, Environment.DEMO])
    sources.append(source)
    poller = Poller(source, sessions)

    with caplog.at_level(logging.WARNING, logger="chatops.sources.liveperson"):
        first = await tick(poller)
        second = await tick(poller)

    warnings = [
        r for r in caplog.records if "listed" in r.getMessage() and "twice" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert first.connectors == len({(e["botId"], e.get("lpAccountUser")) for e in listed})
    assert second.transitions == []


async def test_an_entry_without_a_bot_user_is_a_connector_of_its_own_named_by_its_app_name(
    make_fake_lp: MakeFakeLP,
    sources: list[LivePersonSource],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = make_fake_lp(bots=40, seed=5, messy=True)
    userless = [e for e in server.fake.bots() if not e.get("lpAccountUser")]
    assert userless, "the messy fleet leaves lpAccountUser out of some entries"
    source = LivePersonSource(secrets_for(server), [Environment.PRODUCTION, Environment.DEMO])
    sources.append(source)

    with caplog.at_level(logging.WARNING, logger="chatops.sources.liveperson"):
        snapshots = await source.fetch()

    keys = {s.key for s in snapshots}
    for entry in userless:
        assert (entry["botId"], entry["appName"]) in keys
    assert any("without a bot user" in r.getMessage() for r in caplog.records)


# -- Start and Stop per connector -----------------------------------------------------------


@pytest.fixture
async def slack(fake_slack: SlackServer) -> AsyncIterator[AsyncWebClient]:
    yield AsyncWebClient(token=fake_slack.fake.bot_token, base_url=fake_slack.fake.base_url)


def control_for(
    source: LivePersonSource,
    sessions: SessionFactory,
    slack: AsyncWebClient,
    *,
    allow: tuple[str, ...],
) -> ConnectorControl:
    rules = (PermissionRule.model_validate({"users": ["U0ALICE"], "allow": list(allow)}),)
    permissions = PermissionResolver(rules, slack, contact="#bot-ops")
    return ConnectorControl(source, sessions, permissions, Metrics())


async def as_alice(
    control: ConnectorControl,
    action: Action,
    bot_id: str,
    click_id: str,
    bot_user: str | None = None,
) -> ActionResult:
    """``action`` clicked by alice, with the access the guard would have resolved."""
    access = await control.permissions.access("U0ALICE")
    return await control.run(
        action, bot_id, access=access, user_name="alice", click_id=click_id, bot_user=bot_user
    )


def bodies(server: RunningServer, operation: str, bot_id: str) -> list[str]:
    requests = server.fake.requests()
    return [
        r["body"]["lpAccountUser"]
        for r in requests
        if r["path"] == f"{MONITORING}/{operation}/{bot_id}" and r["status"] == 200
    ]


async def test_a_stop_of_the_bot_names_each_of_its_connectors_once(
    fleet: RunningServer,
    source: LivePersonSource,
    sessions: SessionFactory,
    slack: AsyncWebClient,
) -> None:
    await tick(Poller(source, sessions))
    entries = bots_with(fleet, 4)[0]
    bot_id = entries[0]["botId"]
    control = control_for(source, sessions, slack, allow=("view", "start", "stop"))

    result = await as_alice(control, "stop", bot_id, "t1")

    users = sorted(e["lpAccountUser"] for e in entries)
    assert result.outcome is Outcome.OK
    assert sorted(c.bot_user for c in result.connectors) == users
    assert sorted(bodies(fleet, "stop", bot_id)) == users
    assert [fleet.fake.stop_count(bot_id, user) for user in users] == [1, 1, 1, 1]
    async with sessions() as session:
        audit = (await session.exec(select_audit(bot_id))).all()
    assert sorted((a.action, a.bot_user, a.outcome) for a in audit) == [
        ("stop", user, "ok") for user in users
    ]


async def test_a_stop_of_one_connector_names_only_that_connector(
    fleet: RunningServer,
    source: LivePersonSource,
    sessions: SessionFactory,
    slack: AsyncWebClient,
) -> None:
    await tick(Poller(source, sessions))
    first, second = bots_with(fleet, 2)[0]
    bot_id = first["botId"]
    control = control_for(source, sessions, slack, allow=("view", "stop"))

    result = await as_alice(control, "stop", bot_id, "t2", second["lpAccountUser"])

    assert result.outcome is Outcome.OK
    assert bodies(fleet, "stop", bot_id) == [second["lpAccountUser"]]
    assert fleet.fake.stop_count(bot_id, first["lpAccountUser"]) == 0


async def test_a_restart_stops_then_starts_each_connector_and_needs_both_permissions(
    fleet: RunningServer,
    source: LivePersonSource,
    sessions: SessionFactory,
    slack: AsyncWebClient,
) -> None:
    await tick(Poller(source, sessions))
    first, second = bots_with(fleet, 2)[0]
    bot_id = first["botId"]

    stop_only = control_for(source, sessions, slack, allow=("view", "stop"))
    refused = await as_alice(stop_only, "restart", bot_id, "t3")
    assert refused.outcome is Outcome.REFUSED
    assert bodies(fleet, "stop", bot_id) == []

    operator = control_for(source, sessions, slack, allow=("view", "start", "stop"))
    result = await as_alice(operator, "restart", bot_id, "t4")

    assert result.outcome is Outcome.OK
    paths = [
        (r["path"].rsplit("/", 2)[-2], r["body"]["lpAccountUser"])
        for r in fleet.fake.requests()
        if r["path"].endswith(f"/{bot_id}") and r["method"] == "PUT"
    ]
    assert paths == [
        ("stop", first["lpAccountUser"]),
        ("start", first["lpAccountUser"]),
        ("stop", second["lpAccountUser"]),
        ("start", second["lpAccountUser"]),
    ]
    async with sessions() as session:
        audit = (await session.exec(select_audit(bot_id))).all()
    assert sorted((a.action, a.bot_user or "", a.outcome) for a in audit) == [
        ("restart", "", "refused"),
        ("restart", first["lpAccountUser"], "ok"),
        ("restart", second["lpAccountUser"], "ok"),
    ]


def select_audit(bot_id: str) -> Any:
    from sqlmodel import col, select

    return select(AuditEntry).where(col(AuditEntry.target) == bot_id)
