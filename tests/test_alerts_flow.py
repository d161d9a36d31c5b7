"""The alert pipeline end to end: fake LivePerson -> real client, poller, alert service ->
fake Slack, over HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from chatops.config import EnvSettings
from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import RunningServer as SlackServer
from tests import fleet
from tests.alerts_runner import ALERTS, BILLING, AlertRig, build_rig


def healthy_bots(fake_lp: LPServer, prefix: str = "") -> list[dict[str, Any]]:
    """OK production custom bots, ``prefix`` first in name (tests/fleet.py)."""
    return fleet.healthy_bots(fake_lp.fake, prefix)


@pytest.fixture
async def rig(
    database_url: str, lp_secrets: EnvSettings, fake_slack: SlackServer
) -> AsyncIterator[AlertRig]:
    rig = build_rig(database_url, lp_secrets, fake_slack.fake.base_url, fake_slack.fake.bot_token)
    yield rig
    await rig.aclose()


async def test_a_bot_server_drop_for_one_poll_alerts_nothing(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    bot = healthy_bots(fake_lp)[0]
    await rig.poll()
    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="NOT_CONNECTED")
    await rig.poll()
    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="CONNECTED")
    await rig.polls(3)
    await rig.deliver_all()

    assert fake_slack.fake.calls("chat.postMessage") == []


async def test_a_drop_for_two_polls_alerts_once_and_recovery_edits_and_replies(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    bot = healthy_bots(fake_lp, "billing")[0]
    await rig.poll()
    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="NOT_CONNECTED")
    await rig.polls(4)
    await rig.deliver_all()

    messages = fake_slack.fake.messages(BILLING)
    assert len(messages) == 1
    assert bot["botName"] in messages[0]["text"]
    assert "Down" in messages[0]["text"]
    assert fake_slack.fake.messages(ALERTS) == []
    actions = [b for b in messages[0]["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions[0]["elements"]] == ["bot_stop", "bot_restart"]
    assert [e["value"] for e in actions[0]["elements"]] == [bot["botId"]] * 2

    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="CONNECTED")
    await rig.polls(2)
    await rig.deliver_all()

    (message,) = fake_slack.fake.messages(BILLING)
    assert message["edited"]
    assert message["text"].startswith("Resolved")
    assert not [b for b in message["blocks"] if b["type"] == "actions"]
    thread = fake_slack.fake.thread(BILLING, message["ts"])
    assert len(thread) == 2
    assert "OK again" in thread[1]["text"]


async def test_a_bot_flapping_every_poll_for_ten_polls_gives_one_flapping_alert(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    bot = healthy_bots(fake_lp, "billing")[0]
    await rig.poll()
    fake_lp.fake.flap(bot["botId"], "cbSocketStatus", ["NOT_CONNECTED", "CONNECTED"])
    await rig.polls(10)
    await rig.deliver_all()

    (message,) = fake_slack.fake.messages(BILLING)
    assert message["text"] == f"{bot['botName']} is flapping"

    fake_lp.fake.clear_flaps()
    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="CONNECTED")
    await rig.poll()
    rig.clock.advance(timedelta(minutes=16))
    await rig.polls(2)
    await rig.deliver_all()

    (message,) = fake_slack.fake.messages(BILLING)
    assert message["edited"]
    assert "stopped flapping" in message["text"]
    assert "settled, now :large_green_circle: OK" in message["blocks"][0]["text"]["text"]
    assert fake_slack.fake.messages(ALERTS) == []


async def failing_polls(rig: AlertRig, count: int) -> None:
    """Polls that fail, each followed by the service's periodic upkeep."""
    for _ in range(count):
        result = await rig.poll()
        assert not result.ok
        await rig.service.tick_reminders_and_mutes()


async def test_an_unreachable_source_alerts_once_and_recovers_once_and_no_bot_alerts(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    await rig.poll()
    fake_lp.fake.add_fault("status", status=503, times=-1)
    await failing_polls(rig, 2)
    await rig.deliver_all()
    assert fake_slack.fake.messages(ALERTS) == []

    await failing_polls(rig, 4)
    await rig.deliver_all()
    (message,) = fake_slack.fake.messages(ALERTS)
    assert message["text"] == "The status source is unreachable"
    text = message["blocks"][0]["text"]["text"]
    assert "3 polls in a row failed" in text
    assert "503" in text
    assert "old (last successful poll" in text

    fake_lp.fake.clear_faults()
    await rig.polls(3)
    await rig.deliver_all()
    (message,) = fake_slack.fake.messages(ALERTS)
    assert message["edited"]
    assert message["text"] == "The status source is reachable again"
    assert [reply["text"] for reply in message["replies"]] == [
        "The status source is reachable again"
    ]
    assert fake_slack.fake.messages(BILLING) == []


async def test_a_manual_stop_is_a_notice_and_closes_an_open_outage(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    bot = healthy_bots(fake_lp, "billing")[0]
    await rig.poll()
    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="NOT_CONNECTED")
    await rig.polls(2)
    await rig.source.stop(bot["botId"], bot["lpAccountUser"])
    await rig.polls(3)
    await rig.deliver_all()

    (message,) = fake_slack.fake.messages(BILLING)
    assert message["text"] == f"Resolved: {bot['botName']} stopped by chatops"
    (reply,) = message["replies"]
    assert reply["text"] == f"{bot['botName']} was stopped by chatops"


async def test_a_manual_stop_of_a_healthy_bot_is_one_notice_and_no_outage(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    bot = healthy_bots(fake_lp, "billing")[0]
    await rig.poll()
    await rig.source.stop(bot["botId"], bot["lpAccountUser"])
    await rig.polls(4)
    await rig.deliver_all()

    (message,) = fake_slack.fake.messages(BILLING)
    assert message["text"] == f"{bot['botName']} was stopped by chatops"
    assert message["replies"] == []


async def test_outages_announced_in_a_digest_are_followed_up_in_its_thread(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    bots = [bot for bot in healthy_bots(fake_lp) if not bot["botName"].startswith("billing")]
    bots = bots[:8]
    assert len(bots) == 8
    await rig.poll()
    for bot in bots:
        fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="NOT_CONNECTED")
    await rig.polls(2)
    for bot in bots[:2]:
        fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="CONNECTED")
    await rig.polls(2)
    await rig.deliver_all()

    (digest,) = fake_slack.fake.messages(ALERTS)
    assert digest["text"] == "8 bot alerts: 8 Down"
    assert not digest["edited"]
    assert sorted(reply["text"] for reply in digest["replies"]) == sorted(
        f"{bot['botName']} is OK again" for bot in bots[:2]
    )

    for bot in bots[2:]:
        fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="CONNECTED")
    await rig.polls(2)
    await rig.deliver_all()

    (digest,) = fake_slack.fake.messages(ALERTS)
    assert digest["edited"]
    assert digest["text"] == "Resolved: 8 bot alerts: 8 Down"
    assert digest["replies"][-1]["text"] == "6 bot alerts: 6 Recovered"
    assert len(digest["replies"]) == 3
