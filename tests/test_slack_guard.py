"""The permission guard (chatops.slack.guard): one Bolt middleware in front of every listener,
checked with correctly signed requests through the real ASGI app."""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from chatops.sandbox.slack import TEAM_ID
from chatops.sandbox.slack_client import sign
from chatops.slack import blocks
from tests.fixtures.app import AppUnderTest
from tests.test_slack_app import _audit, _bot_named, _reply
from tests.waiting import PATIENCE

CHANNEL = "C0GENERAL"
ACTION_IDS = sorted(value for name, value in vars(blocks).items() if name.startswith("ACTION_"))


def _button_message(action_id: str, value: str) -> dict[str, Any]:
    """A channel message with one button, as a forged payload would carry it."""
    button = {
        "type": "button",
        "action_id": action_id,
        "value": value,
        "text": {"type": "plain_text", "text": action_id},
    }
    return {
        "type": "message",
        "channel": CHANNEL,
        "ts": "1700000000.000100",
        "blocks": [{"type": "actions", "block_id": "forged", "elements": [button]}],
    }


def _requests() -> list[dict[str, Any]]:
    """One request of every kind the app could be listening for, as Bolt parses them."""
    user = {"id": "U0CHARLIE", "username": "charlie"}
    clicks = [
        {
            "type": "block_actions",
            "team": {"id": TEAM_ID},
            "user": user,
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": "x"}],
        }
        for action_id in ACTION_IDS
    ]
    command = {"command": "/botstatus", "text": "", "user_id": "U0CHARLIE", "team_id": TEAM_ID}
    home = {
        "type": "event_callback",
        "team_id": TEAM_ID,
        "event": {"type": "app_home_opened", "user": "U0CHARLIE", "tab": "home"},
    }
    return [*clicks, command, home]


async def _matches(app: AppUnderTest, body: dict[str, Any]) -> list[int]:
    """Which of the app's listeners (by position) would take ``body``."""
    request = AsyncBoltRequest(body=body, mode="socket_mode")
    response = BoltResponse(status=200)
    listeners = app.runtime.bolt._async_listeners
    return [
        index
        for index, listener in enumerate(listeners)
        if await listener.async_matches(req=request, resp=response)
    ]


def _refusals(app: AppUnderTest, user_id: str) -> list[str]:
    return [
        json.dumps(message)
        for message in app.fake_slack.ephemerals(user_id)
        if ":no_entry:" in json.dumps(message)
    ]


def test_every_listener_is_covered_by_the_requests_sent_to_charlie(
    chatops_app: AppUnderTest,
) -> None:
    async def covered() -> set[int]:
        return {index for body in _requests() for index in await _matches(chatops_app, body)}

    assert chatops_app.run(covered()) == set(range(len(chatops_app.runtime.bolt._async_listeners)))


def test_charlie_is_refused_by_every_listener_and_nothing_happens(
    chatops_app: AppUnderTest,
) -> None:
    app = chatops_app
    charlie = app.users["charlie"]
    bot = _bot_named(app, "billing")
    connector = blocks.connector_value(bot.id, "billing_bot_1")
    values = {
        **dict.fromkeys(blocks.BOT_ACTIONS.values(), bot.id),
        **dict.fromkeys(blocks.CONNECTOR_ACTIONS.values(), connector),
        blocks.ACTION_RESTART_BOTS: "billing-*",
        blocks.ACTION_HOME_ENVIRONMENT: "demo",
        blocks.ACTION_ACK: bot.id,
    }

    for action_id in ACTION_IDS:
        message = _button_message(action_id, values.get(action_id, "all"))
        assert charlie.click(message, action_id).status_code == 200
    for text in ("", "problems", "all 2", f"history {bot.name}", "mutes", "mute * 1h", "unmute *"):
        reply = _text(_reply(charlie.command(text)))
        assert ":no_entry: You need the *" in reply
        assert bot.name not in reply
    assert charlie.open_home().status_code == 200

    fake = app.fake_slack
    fake.wait_for(lambda: len(_refusals(app, "U0CHARLIE")) >= len(ACTION_IDS) + 7)
    fake.wait_for(lambda: "You need the *view* permission" in json.dumps(fake.home("U0CHARLIE")))
    refusals = _refusals(app, "U0CHARLIE")
    assert all("You need the *" in refusal for refusal in refusals)
    assert all(bot.name not in refusal for refusal in refusals)
    assert app.lp.fake.stop_count(bot.id) == app.lp.fake.start_count(bot.id) == 0
    assert fake.messages(CHANNEL) == []
    assert "No active mutes" in _text(_reply(app.users["alice"].command("mutes")))
    audited = sorted((e.user_id, e.action, e.target, e.outcome) for e in _audit(app))
    clicks = [
        *((action, bot.id) for action in blocks.BOT_ACTIONS),
        *((action, connector) for action in blocks.CONNECTOR_ACTIONS),
        ("restart", "billing-*"),
        ("ack", bot.id),
    ]
    assert audited == sorted(
        ("U0CHARLIE", action, target, "refused")
        for action, target in (*clicks, ("mute", "*"), ("unmute", "*"))
    )


def test_a_listener_registered_without_declaring_what_it_needs_refuses_everyone(
    chatops_app: AppUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    app = chatops_app
    ran: list[str] = []

    async def register_unguarded() -> None:
        @app.runtime.bolt.action("probe")
        async def probe(ack: Any, body: dict[str, Any]) -> None:
            await ack()
            ran.append(body["user"]["id"])

    app.run(register_unguarded())
    message = _button_message("probe", "anything")

    with caplog.at_level(logging.ERROR, logger="chatops.slack.guard"):
        for user in ("alice", "charlie"):
            assert app.users[user].click(message, "probe").status_code == 200
        for user_id in ("U0ALICE", "U0CHARLIE"):
            app.fake_slack.wait_for(lambda user_id=user_id: bool(_refusals(app, user_id)))

    assert ran == []
    for user_id in ("U0ALICE", "U0CHARLIE"):
        (refusal,) = _refusals(app, user_id)
        assert "chatops does not handle this request" in refusal
    assert (
        caplog.messages.count("refused the action 'probe': no permission is declared for it") == 2
    )


def _text(message: dict[str, Any]) -> str:
    return json.dumps(message)


@pytest.mark.parametrize("actions", ["garbage", ["garbage"], [{"value": "no action id"}]])
def test_a_click_payload_without_a_readable_action_is_refused_not_a_server_error(
    chatops_app: AppUnderTest, actions: object
) -> None:
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM_ID},
        "user": {"id": "U0ALICE", "username": "alice"},
        "trigger_id": "1.forged",
        "actions": actions,
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        **sign(body, chatops_app.fake_slack.signing_secret, int(time.time())),
    }

    response = httpx.post(
        f"{chatops_app.url}/slack/events", content=body, headers=headers, timeout=PATIENCE
    )

    assert response.status_code == 200
    assert _audit(chatops_app) == []
