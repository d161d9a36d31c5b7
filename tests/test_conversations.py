"""The conversations at stake, end to end: the fake LivePerson's Agent Metrics -> the real
client and poller -> the store -> alerts in the fake Slack and ``/botstatus`` details; the
flags; what happens when the API refuses or fails; check-config's verdicts; Block Kit limits.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from chatops.alerts import render
from chatops.blockkit.limits import violations
from chatops.checks import WARN, check_settings
from chatops.config import AppConfig, ConversationsConfig, Settings
from chatops.domain import Environment, Health
from chatops.domain.conversations import (
    ApiStatus,
    BotConversations,
    ConnectorConversations,
    ConnectorMetricsState,
    ConversationLimits,
    MetricsOutcome,
)
from chatops.monitor.poll import Poller
from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import RunningServer as SlackServer
from chatops.sources.liveperson import LivePersonSource
from chatops.sources.liveperson.parse import entry_health
from chatops.store.agent_metrics import WRITE_BATCH
from chatops.store.cards import BotCard
from chatops.store.engine import SessionFactory
from chatops.store.tables import AGENT_METRICS, OUTBOX
from tests.alerts_runner import ALERTS, BILLING, AlertRig, build_rig
from tests.fixtures.app import AppUnderTest, app_settings, start_app
from tests.fixtures.liveperson import MakeFakeLP, secrets_for
from tests.test_blocks import NOW, details, make_bot, within_limits


def whole_bots(fake_lp: LPServer, connectors: int) -> list[list[dict[str, Any]]]:
    """Production custom bots of exactly ``connectors`` connectors, every one OK, each as
    its entries in bot user order."""
    by_bot: dict[str, list[dict[str, Any]]] = {}
    for entry in fake_lp.fake.bots():
        by_bot.setdefault(str(entry["botId"]), []).append(entry)
    return [
        sorted(entries, key=lambda e: str(e["lpAccountUser"]))
        for entries in by_bot.values()
        if len(entries) == connectors
        and all(
            e.get("environment") == "PRODUCTION"
            and "cbSocketStatus" in e
            and e.get("botName")
            and entry_health(e) is Health.OK
            for e in entries
        )
    ]


def channel_of(entry: dict[str, Any]) -> str:
    return BILLING if str(entry["botName"]).startswith("billing") else ALERTS


def text_of(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


@pytest.fixture
async def rig(
    database_url: str, fake_lp: LPServer, fake_slack: SlackServer
) -> AsyncIterator[AlertRig]:
    rig = build_rig(
        database_url,
        secrets_for(fake_lp),
        fake_slack.fake.base_url,
        fake_slack.fake.bot_token,
        agent_metrics=True,
        conversations=ConversationLimits(near_limit=900, degraded_load=50),
    )
    yield rig
    await rig.aclose()


async def outbox_rows(rig: AlertRig) -> int:
    async with rig.sessions() as session:
        connection = await session.connection()
        return int(
            (await connection.execute(sa.select(sa.func.count()).select_from(OUTBOX))).scalar_one()
        )


async def agent_metrics_rows(
    sessions: SessionFactory, *columns: sa.Column[Any]
) -> dict[tuple[str, str], tuple[Any, ...]]:
    """The stored ``agent_metrics`` rows: ``columns`` by (bot id, bot user)."""
    async with sessions() as session:
        connection = await session.connection()
        result = await connection.execute(
            sa.select(AGENT_METRICS.c.bot_id, AGENT_METRICS.c.bot_user, *columns)
        )
        return {(row[0], row[1]): tuple(row[2:]) for row in result}


async def stored_counts(rig: AlertRig) -> dict[tuple[str, str], tuple[Any, ...]]:
    """(state, open conversations, before drop) by connector."""
    return await agent_metrics_rows(
        rig.sessions,
        AGENT_METRICS.c.state,
        AGENT_METRICS.c.open_conversations,
        AGENT_METRICS.c.before_drop,
    )


# -- alerts ---------------------------------------------------------------------------------


async def test_a_down_alert_says_what_the_bot_was_handling_before_it_dropped(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    (entry,) = whole_bots(fake_lp, 1)[0]
    fake_lp.fake.pin_conversations(entry["lpAccountUser"], 37)
    await rig.poll()
    stored = await stored_counts(rig)
    assert stored[(entry["botId"], entry["lpAccountUser"])] == ("listed", 37, 37)

    fake_lp.fake.set_fields(entry["botId"], nodeStatus="NOT_CONNECTED")
    await rig.polls(3)
    await rig.deliver_all()

    (message,) = fake_slack.fake.messages(channel_of(entry))
    text = text_of(message)
    assert "is *Down*" in text
    assert "It was handling 37 conversations before it dropped." in text
    assert "conversations unknown (agent not logged in)" in text
    assert "0 open conversations" not in text
    assert violations(message, surface="message") == []


async def test_moving_counts_alert_nothing_and_are_stored_only_when_they_move(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    first = whole_bots(fake_lp, 2)[0][0]
    await rig.poll()
    rows_before = await outbox_rows(rig)
    for count in (5, 250, 960, 0, 40):
        fake_lp.fake.pin_conversations(first["lpAccountUser"], count)
        result = await rig.poll()
        assert result.metrics is not None
        assert result.metrics.outcome is MetricsOutcome.OK
        assert result.changes == ()
        stored = await stored_counts(rig)
        assert stored[(first["botId"], first["lpAccountUser"])][1] == count
    await rig.deliver_all()

    assert await outbox_rows(rig) == rows_before
    assert fake_slack.fake.calls("chat.postMessage") == []


async def test_a_degraded_bot_whose_remaining_connectors_are_overloaded_is_flagged(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    first, second = whole_bots(fake_lp, 2)[0]
    fake_lp.fake.pin_conversations(first["lpAccountUser"], 64)
    fake_lp.fake.pin_conversations(second["lpAccountUser"], 30)
    await rig.poll()

    # The second loses its Bot Server: still logged in to LivePerson, so still listed.
    fake_lp.fake.set_fields(first["botId"], second["lpAccountUser"], cbSocketStatus="NOT_CONNECTED")
    await rig.polls(3)
    await rig.deliver_all()

    (message,) = fake_slack.fake.messages(channel_of(first))
    text = text_of(message)
    assert "Degraded" in text
    assert ":speech_balloon: 94 open conversations on 2 connectors" in text
    assert "The remaining OK connectors carry 64 open conversations each, more than 50" in text
    assert f"`{second['lpAccountUser']}` 30)" in text
    assert "near LivePerson's limit" not in text


async def test_an_alert_goes_out_when_the_api_fails_and_counts_read_unknown_not_zero(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    (entry,) = whole_bots(fake_lp, 1)[1]
    fake_lp.fake.pin_conversations(entry["lpAccountUser"], 12)
    await rig.poll()
    fake_lp.fake.add_fault("status", status=500, times=-1, path="agent-view")
    fake_lp.fake.set_fields(entry["botId"], nodeStatus="NOT_CONNECTED")
    results = await rig.polls(3)
    await rig.deliver_all()

    assert all(r.ok and r.metrics is not None for r in results)
    assert {r.metrics.outcome for r in results if r.metrics} == {MetricsOutcome.FAILED}
    (message,) = fake_slack.fake.messages(channel_of(entry))
    text = text_of(message)
    assert "is *Down*" in text
    assert "Open conversations unknown: LivePerson's Agent Metrics API failed" in text
    assert "HTTP 500" in text
    assert "conversations unknown (Agent Metrics API failed)" in text
    assert "0 open conversations" not in text
    fake_lp.fake.clear_faults()


async def test_two_replicas_polling_in_turn_keep_the_stored_counts_right(
    fake_lp: LPServer, sessions: SessionFactory
) -> None:
    (entry,) = whole_bots(fake_lp, 1)[0]
    key = (entry["botId"], entry["lpAccountUser"])
    sources = [LivePersonSource(secrets_for(fake_lp), [Environment.PRODUCTION]) for _ in "ab"]
    here, there = (Poller(s, sessions, agent_metrics=s.agent_metrics) for s in sources)

    async def stored_count() -> int | None:
        async with sessions() as session:
            connection = await session.connection()
            found = await connection.execute(
                sa.select(AGENT_METRICS.c.open_conversations).where(
                    AGENT_METRICS.c.bot_id == key[0], AGENT_METRICS.c.bot_user == key[1]
                )
            )
            return found.scalar_one()

    try:
        for poller, count in ((here, 10), (there, 20), (here, 10), (there, 10), (here, 30)):
            fake_lp.fake.pin_conversations(entry["lpAccountUser"], count)
            result = await poller.tick()
            assert result is not None and result.ok
            assert await stored_count() == count
    finally:
        for source in sources:
            await source.aclose()


async def test_more_rows_than_one_write_batch_are_all_stored_and_then_only_the_moved_one(
    make_fake_lp: MakeFakeLP, sessions: SessionFactory
) -> None:
    fake = make_fake_lp(connectors=WRITE_BATCH * 2 + 7)
    source = LivePersonSource(secrets_for(fake), [Environment.PRODUCTION])
    poller = Poller(source, sessions, agent_metrics=source.agent_metrics)

    async def stored() -> dict[tuple[str, str], tuple[Any, ...]]:
        columns = (AGENT_METRICS.c.open_conversations, AGENT_METRICS.c.poll_id)
        return await agent_metrics_rows(sessions, *columns)

    try:
        first = await poller.tick()
        assert first is not None and first.ok
        rows = await stored()
        assert len(rows) == first.connectors > WRITE_BATCH
        (entry,) = whole_bots(fake, 1)[0]
        key = (entry["botId"], entry["lpAccountUser"])
        fake.fake.pin_conversations(entry["lpAccountUser"], 77)
        second = await poller.tick()
        assert second is not None and second.ok
        after = await stored()
        assert after[key][0] == 77
        moved = {k for k in after if after[k] != rows[k]}
        assert key in moved
        assert len(moved) < len(rows)
    finally:
        await source.aclose()


# -- details (/botstatus <bot>) through the app -----------------------------------------------


@pytest.fixture
def app(fake_lp: LPServer, fake_slack: SlackServer, sqlite_url: str) -> Iterator[AppUnderTest]:
    yield from start_app(app_settings(fake_lp, fake_slack, sqlite_url), fake_lp, fake_slack)


def shown(app: AppUnderTest, text: str) -> dict[str, Any]:
    response = app.users["alice"].command(text)
    assert response.status_code == 200, response.text
    message = app.fake_slack.ephemerals(app.users["alice"].user_id)[-1]
    assert violations(message, surface="message") == []
    return message


def test_details_show_each_connectors_conversations_the_total_and_a_connector_near_the_limit(
    app: AppUnderTest, fake_lp: LPServer
) -> None:
    first, second = whole_bots(fake_lp, 2)[0]
    fake_lp.fake.pin_conversations(first["lpAccountUser"], 955)
    fake_lp.fake.pin_conversations(second["lpAccountUser"], 21)
    app.poll()

    text = text_of(shown(app, str(first["botName"])))

    assert ":speech_balloon: 976 open conversations on 2 connectors" in text
    assert "*Conversations*\\n955 open conversations · load 96%" in text
    assert "*Conversations*\\n21 open conversations · load 2%" in text
    assert (
        f":warning: `{first['lpAccountUser']}` has 955 open conversations, near LivePerson's"
        " limit of 999 per connector"
    ) in text


def test_details_of_many_matches_show_the_conversations_of_each_bot_shown(
    app: AppUnderTest,
) -> None:
    text = text_of(shown(app, "bot"))

    found = re.search(r"([\d,]+) bots match `bot`; the (\d+) most urgent are shown", text)
    assert found is not None, "the query matches more bots than one message shows"
    assert text.count(":speech_balloon:") == int(found.group(2))


def test_details_say_when_the_api_refuses_and_statuses_are_unaffected(
    app: AppUnderTest, fake_lp: LPServer
) -> None:
    (entry,) = whole_bots(fake_lp, 1)[0]
    fake_lp.fake.add_fault("status", status=403, times=-1, path="agent-view")
    result = app.poll()
    assert result is not None and result.ok
    assert result.metrics is not None and result.metrics.outcome is MetricsOutcome.REFUSED

    text = text_of(shown(app, str(entry["botName"])))

    assert "Open conversations unknown: LivePerson's Agent Metrics API refused" in text
    assert "(HTTP 403)" in text
    assert "conversations unknown (Agent Metrics API refused)" in text
    assert "open conversations ·" not in text
    assert "*OK* since" in text
    fake_lp.fake.clear_faults()


def test_details_show_nothing_of_conversations_when_they_are_off(
    fake_lp: LPServer, fake_slack: SlackServer, sqlite_url: str
) -> None:
    settings = app_settings(fake_lp, fake_slack, sqlite_url)
    app_config = settings.app.model_copy(
        update={"conversations": ConversationsConfig(metrics=False)}
    )
    settings = settings.model_copy(update={"app": app_config})
    for app in start_app(settings, fake_lp, fake_slack):
        (entry,) = whole_bots(fake_lp, 1)[0]
        fake_lp.fake.clear_requests()
        app.poll()
        text = text_of(shown(app, str(entry["botName"])))
        assert "onversations" not in text
        assert not [r for r in fake_lp.fake.requests() if "agent-view" in r["path"]]


# -- check-config ---------------------------------------------------------------------------


def settings_for(fake_lp: LPServer, tmp_path: Path, **conversations: Any) -> Settings:
    return Settings(
        env=secrets_for(fake_lp, database_url=f"sqlite+aiosqlite:///{tmp_path / 'check.db'}"),
        app=AppConfig(conversations=ConversationsConfig(**conversations)),
    )


def metrics_line(results: list[tuple[Any, str, str]]) -> tuple[Any, str]:
    (found,) = [(ok, detail) for ok, item, detail in results if item == "agent metrics"]
    return found


async def test_check_config_says_the_api_answers(fake_lp: LPServer, tmp_path: Path) -> None:
    ok, detail = metrics_line(await check_settings(settings_for(fake_lp, tmp_path)))
    assert ok is True
    found = re.fullmatch(
        rf"messaging history at {re.escape(fake_lp.url)} answers: (\d+) logged-in agents of"
        r" (\d+) connectors, ([\d,]+) open conversations",
        detail,
    )
    assert found is not None, detail
    agents, connectors, _ = found.groups()
    production = [e for e in fake_lp.fake.bots() if e.get("environment") == "PRODUCTION"]
    logged_in = {r["agentId"] for r in fake_lp.fake.agent_records()}
    assert int(agents) == len({e["lpUserId"] for e in production} & logged_in)
    assert int(connectors) == len(production)


@pytest.mark.parametrize(
    ("status", "words"), [(403, "refused: "), (401, "refused: "), (500, "failed: ")]
)
async def test_check_config_warns_when_the_api_is_refused_or_fails(
    fake_lp: LPServer, tmp_path: Path, status: int, words: str
) -> None:
    fake_lp.fake.add_fault("status", status=status, times=-1, path="agent-view")
    results = await check_settings(settings_for(fake_lp, tmp_path))
    ok, detail = metrics_line(results)
    assert ok == WARN
    assert detail.startswith(words)
    assert f"HTTP {status}" in detail
    assert "Polling and alerts work without it" in detail
    assert "liveperson" in {item for verdict, item, _ in results if verdict is True}


async def test_check_config_skips_the_api_when_it_is_off(fake_lp: LPServer, tmp_path: Path) -> None:
    fake_lp.fake.clear_requests()
    ok, detail = metrics_line(await check_settings(settings_for(fake_lp, tmp_path, metrics=False)))
    assert ok is None
    assert "conversations.metrics is false" in detail
    assert not [r for r in fake_lp.fake.requests() if "agent-view" in r["path"]]


def test_the_config_keys_are_validated() -> None:
    assert AppConfig().conversations == ConversationsConfig(
        metrics=True, near_limit=900, degraded_load=50
    )
    for bad in ({"near_limit": 0}, {"near_limit": 1000}, {"degraded_load": -1}, {"nope": 1}):
        with pytest.raises(ValueError):
            AppConfig.model_validate({"conversations": bad})


# -- Block Kit limits -----------------------------------------------------------------------


def with_conversations(card: BotCard, counts: list[int | None], api: MetricsOutcome) -> BotCard:
    connectors = {
        c.bot_user: ConnectorConversations(
            ConnectorMetricsState.LISTED if count is not None else ConnectorMetricsState.NOT_LISTED,
            last_open=count,
            load=None if count is None else round(count / 9.99),
            before_drop=count if count is not None else 480,
        )
        for c, count in zip(card.connectors, counts, strict=True)
    }
    status = ApiStatus(api, "LivePerson failed to serve it (HTTP 500)" * 20, NOW)
    return BotCard(card.bot, card.connectors, BotConversations(connectors, status))


@pytest.mark.parametrize("api", [MetricsOutcome.OK, MetricsOutcome.FAILED])
def test_ten_connectors_with_their_conversations_stay_within_slacks_limits(
    api: MetricsOutcome,
) -> None:
    states = [Health.OK] * 4 + [Health.DOWN] * 6
    card = make_bot(1, name="care-chat-" + "x" * 140, states=states)
    counts: list[int | None] = [990, 995, 999, 998, None, None, None, None, None, 3]
    card = with_conversations(card, counts, api)

    message = details([card])
    within_limits(message, "message")
    alert = render.problem(card, Health.DEGRADED, NOW - timedelta(minutes=5))
    within_limits(alert, "message")
    text = text_of(alert)
    if api is MetricsOutcome.OK:
        assert "near LivePerson's limit of 999" in text
        # Five not listed (480 each before they dropped) and one still listed (3).
        assert "were handling 2,403 conversations before they dropped" in text
        assert "and 1 more" in text
    else:
        assert "Open conversations unknown" in text
