"""Odd but correctly signed requests through the real ASGI app: a normal answer or a clean
refusal, never an empty reply or a server error, and nothing happens that should not."""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import pytest

from chatops.blockkit.limits import violations
from chatops.sandbox.slack_client import sign
from chatops.slack import blocks
from tests.fixtures.app import AppUnderTest
from tests.test_slack_app import _audit, _bot_named, _detail_message, _reply, _settled
from tests.waiting import PATIENCE

# Words that are also field names of a slash command's form body, the form field Bolt reads
# interactivity from, and characters that mean something in a form body.
HOSTILE_TEXTS = [
    "payload",
    "history payload",
    "payload=1",
    "payload={}",
    'payload={"type":"block_actions"}',
    "text",
    "command",
    "user_id=U0CHARLIE",
    "response_url",
    "ssl_check=1",
    "&",
    "=",
    "%",
    "%26payload%3D",
    "a&payload=b",
    "billing-*&user_id=U0ALICE",
    "x" * 20_000,
    "Ünïcödé ботстатус 🤖 ﷽",
    "problems\nall",
    "\r\n\r\n",
]


@pytest.mark.parametrize("text", HOSTILE_TEXTS, ids=range(len(HOSTILE_TEXTS)))
def test_a_hostile_command_text_gets_the_normal_answer(
    chatops_app: AppUnderTest, text: str
) -> None:
    reply = _reply(chatops_app.users["alice"].command(text))

    shown = json.dumps(reply)
    assert reply.get("response_type") == "ephemeral"
    assert "/botstatus help" in shown or "Bots" in shown or "No bot" in shown, shown[:500]
    assert violations(reply, surface="message") == []
    assert _audit(chatops_app) == []


def test_payload_as_a_bot_name_in_history_is_looked_up_like_any_other_word(
    chatops_app: AppUnderTest,
) -> None:
    reply = json.dumps(_reply(chatops_app.users["alice"].command("history payload")))

    assert "payload" in reply


def _post_signed(app: AppUnderTest, payload: dict[str, Any]) -> httpx.Response:
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        **sign(body, app.fake_slack.signing_secret, int(time.time())),
    }
    return httpx.post(f"{app.url}/slack/events", content=body, headers=headers, timeout=PATIENCE)


def _click_payload(app: AppUnderTest, actions: Any) -> dict[str, Any]:
    """A click of alice's on a bot's details, as Slack would send it, with ``actions``."""
    bot = _bot_named(app, "billing")
    message = _detail_message(app, "alice", bot)
    delivery = app.users["alice"].click_delivery(message, blocks.ACTION_STOP)
    (form,) = parse_qs(delivery.body.decode())["payload"]
    payload: dict[str, Any] = json.loads(form)
    payload["actions"] = actions
    return payload


def _stop_action(value: Any) -> dict[str, Any]:
    return {"type": "button", "action_id": blocks.ACTION_STOP, "block_id": "b", "value": value}


UNREADABLE_CLICKS = {
    "no actions": [],
    "actions that are not a list": {"action_id": blocks.ACTION_STOP},
    "null actions": None,
    "unknown action_id": [{"type": "button", "action_id": "no_such_action", "value": "x"}],
}


@pytest.mark.parametrize("actions", UNREADABLE_CLICKS.values(), ids=UNREADABLE_CLICKS.keys())
def test_a_signed_click_without_a_readable_action_is_ignored_and_logged(
    chatops_app: AppUnderTest, actions: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = chatops_app

    with caplog.at_level(logging.WARNING, logger="chatops.slack.guard"):
        response = _post_signed(app, _click_payload(app, actions))

    assert response.status_code == 200, response.text
    assert [r for r in app.lp.fake.requests() if r["method"] == "PUT"] == []
    assert _audit(app) == []
    (logged,) = [r for r in caplog.records if r.name == "chatops.slack.guard"]
    assert "ignored" in logged.getMessage() or "no permission is declared" in logged.getMessage()


MALFORMED_VALUES = {
    "a value that is not a bot": "'; drop table bots; --",
    "a value that is not text": {"bot": "x"},
    "no value": None,
    "a huge value": "b" * 100_000,
}


@pytest.mark.parametrize("value", MALFORMED_VALUES.values(), ids=MALFORMED_VALUES.keys())
def test_a_signed_stop_click_with_a_malformed_value_is_refused_and_nothing_happens(
    chatops_app: AppUnderTest, value: Any
) -> None:
    app = chatops_app
    action = {"type": "button", "action_id": blocks.ACTION_STOP, "block_id": "b"}
    if value is not None:
        action["value"] = value

    response = _post_signed(app, _click_payload(app, [action]))

    assert response.status_code == 200, response.text
    fake = app.fake_slack
    fake.wait_for(lambda: any(":no_entry:" in str(m) for m in fake.ephemerals("U0ALICE")))
    (entry,) = _settled(app, 1)
    assert (entry.action, entry.outcome) == ("stop", "unknown_bot")
    assert [r for r in app.lp.fake.requests() if r["method"] == "PUT"] == []
