"""The alert pipeline end to end: fake LivePerson -> real client, poller, alert service ->
fake Slack, over HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from chatops.config import Secrets
from chatops.domain import parse_connector, parse_server
from chatops.domain.status import Connector, Server
from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import RunningServer as SlackServer
from tests.alerts_runner import ALERTS, BILLING, AlertRig, build_rig


def healthy_bots(fake_lp: LPServer, prefix: str = "") -> list[dict[str, Any]]:
    return [
        entry
        for entry in fake_lp.fake.bots()
        if entry.get("environment") == "PRODUCTION"
        and "cbSocketStatus" in entry
        and str(entry.get("botName", "")).startswith(prefix)
        and parse_connector(entry["nodeStatus"]) is Connector.ONLINE
        and parse_server(entry["cbSocketStatus"]) is Server.CONNECTED
        and str(entry["lpSocketStatus"]).lower() == "connected"
    ]


@pytest.fixture
async def rig(
    database_url: str, lp_secrets: Secrets, fake_slack: SlackServer
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
    assert [e["action_id"] for e in actions[0]["elements"]] == ["bot_stop"]
    assert actions[0]["elements"][0]["value"] == bot["botId"]

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
