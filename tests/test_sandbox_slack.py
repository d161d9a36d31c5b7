"""The fake Slack and the signing client, through the real slack_sdk clients and Bolt."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import httpx
import pytest
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from chatops.sandbox.slack import (
    BOT_USER_ID,
    MAX_MESSAGE_BLOCKS,
    PERSONAS,
    RESPONSE_URL_LIFETIME_SECONDS,
    FakeSlack,
    FakeSlackHost,
    RunningServer,
    block_errors,
    run_in_thread,
    serve_in_thread,
)
from chatops.sandbox.slack_client import SlackUser, sign
from tests.clock import ManualClock

ALICE = PERSONAS["alice"]
BOB = PERSONAS["bob"]
TOKEN = "xoxb-sandbox-token"
SECRET = "sandbox-signing-secret"


def web(server: RunningServer, **kwargs: Any) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=server.fake.base_url, **kwargs)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(action_id: str, value: str = "v", **extra: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": action_id.title()},
        "value": value,
        **extra,
    }


def confirm(
    title: str = "Stop?", text: str = "Sure?", yes: str = "Stop", no: str = "Cancel"
) -> dict[str, Any]:
    return {
        "title": {"type": "plain_text", "text": title},
        "text": {"type": "mrkdwn", "text": text},
        "confirm": {"type": "plain_text", "text": yes},
        "deny": {"type": "plain_text", "text": no},
    }


def alert_blocks(value: str = "bot-1") -> list[dict[str, Any]]:
    return [
        section("*billing-bot* is down"),
        {
            "type": "actions",
            "block_id": "controls",
            "elements": [
                button("start_bot", value, style="primary"),
                button("stop_bot", value, style="danger", confirm=confirm()),
            ],
        },
    ]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_716_290_400.0)


@pytest.fixture
def clocked_slack(fake_slack_host: FakeSlackHost, clock: ManualClock) -> Iterator[RunningServer]:
    with fake_slack_host.add(FakeSlack(clock=clock.time)) as server:
        yield server


# ---------------------------------------------------------------------- Web API


async def test_auth_test_names_the_bot_and_workspace(fake_slack: RunningServer) -> None:
    reply = await web(fake_slack).auth_test()

    assert reply["user_id"] == BOT_USER_ID
    assert reply["team_id"] == "T0SANDBOX"
    assert reply["bot_id"] and reply["url"].startswith("https://")


@pytest.mark.parametrize(("token", "error"), [("xoxb-wrong", "invalid_auth"), (None, "not_authed")])
async def test_it_refuses_calls_without_the_bot_token(
    fake_slack: RunningServer, token: str | None, error: str
) -> None:
    client = AsyncWebClient(token=token, base_url=fake_slack.fake.base_url)

    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel="C0ALERTS", text="hi")

    assert raised.value.response["error"] == error
    assert fake_slack.fake.messages("C0ALERTS") == []
    assert fake_slack.fake.calls("chat.postMessage")[0]["_error"] == error


async def test_a_revoked_token_fails_every_call(fake_slack: RunningServer) -> None:
    fake_slack.fake.revoke_token()

    with pytest.raises(SlackApiError) as raised:
        await web(fake_slack).auth_test()

    assert raised.value.response["error"] == "token_revoked"


async def test_post_message_records_the_message_with_increasing_ts(
    fake_slack: RunningServer,
) -> None:
    client = web(fake_slack)

    first = await client.chat_postMessage(channel="C0ALERTS", text="one", blocks=[section("one")])
    second = await client.chat_postMessage(channel="C0ALERTS", text="two")

    assert first["channel"] == "C0ALERTS"
    assert first["message"]["blocks"] == [section("one")]
    assert float(second["ts"]) > float(first["ts"])
    assert len(second["ts"].split(".")[1]) == 6
    messages = fake_slack.fake.messages("C0ALERTS")
    assert [m["text"] for m in messages] == ["one", "two"]
    assert messages[0]["ts"] == first["ts"]
    assert messages[0]["user"] == BOT_USER_ID and messages[0]["edited"] is False
    assert fake_slack.fake.calls("chat.postMessage")[0]["channel"] == "C0ALERTS"


async def test_thread_replies_land_in_their_thread(fake_slack: RunningServer) -> None:
    client = web(fake_slack)
    parent = await client.chat_postMessage(channel="C0ALERTS", text="down")

    reply = await client.chat_postMessage(
        channel="C0ALERTS", text="still down", thread_ts=parent["ts"]
    )

    assert reply["message"]["thread_ts"] == parent["ts"]
    [top] = fake_slack.fake.messages("C0ALERTS")
    assert [r["text"] for r in top["replies"]] == ["still down"]
    assert top["reply_count"] == 1
    thread = fake_slack.fake.thread("C0ALERTS", parent["ts"])
    assert [m["text"] for m in thread] == ["down", "still down"]


async def test_a_reply_to_an_unknown_thread_is_refused(fake_slack: RunningServer) -> None:
    with pytest.raises(SlackApiError) as raised:
        await web(fake_slack).chat_postMessage(channel="C0ALERTS", text="x", thread_ts="1.000100")

    assert raised.value.response["error"] == "thread_not_found"


async def test_update_edits_in_place_and_keeps_history(fake_slack: RunningServer) -> None:
    client = web(fake_slack)
    posted = await client.chat_postMessage(channel="C0ALERTS", text="down", blocks=alert_blocks())

    updated = await client.chat_update(
        channel="C0ALERTS", ts=posted["ts"], text="recovered", blocks=[section("recovered")]
    )

    assert updated["ts"] == posted["ts"]
    [message] = fake_slack.fake.messages("C0ALERTS")
    assert message["text"] == "recovered" and message["blocks"] == [section("recovered")]
    assert message["edited"] is True
    assert [(h["text"], h["blocks"]) for h in message["history"]] == [("down", alert_blocks())]


async def test_update_of_an_unknown_message_fails(fake_slack: RunningServer) -> None:
    with pytest.raises(SlackApiError) as raised:
        await web(fake_slack).chat_update(channel="C0ALERTS", ts="1.000100", text="x")

    assert raised.value.response["error"] == "message_not_found"


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        (lambda fake: None, "channel_not_found"),
        (lambda fake: fake.set_channel_state("C0NOWHERE", archived=True), "is_archived"),
        (lambda fake: fake.set_channel_state("C0NOWHERE", member=False), "not_in_channel"),
    ],
)
async def test_posting_needs_a_live_channel_the_bot_is_in(
    fake_slack: RunningServer, setup: Callable[[FakeSlack], None], error: str
) -> None:
    setup(fake_slack.fake)

    with pytest.raises(SlackApiError) as raised:
        await web(fake_slack).chat_postMessage(channel="C0NOWHERE", text="hi")

    assert raised.value.response["error"] == error


async def test_an_ephemeral_message_is_seen_only_by_its_user(fake_slack: RunningServer) -> None:
    reply = await web(fake_slack).chat_postEphemeral(
        channel="C0GENERAL", user=ALICE.user_id, text="psst"
    )

    [ephemeral] = fake_slack.fake.ephemerals(ALICE.user_id)
    assert ephemeral["text"] == "psst" and ephemeral["ts"] == reply["message_ts"]
    assert ephemeral["channel"] == "C0GENERAL"
    assert fake_slack.fake.ephemerals(BOB.user_id) == []
    assert fake_slack.fake.messages("C0GENERAL") == []


async def test_views_publish_sets_the_users_home_tab(fake_slack: RunningServer) -> None:
    view = {"type": "home", "blocks": [section(f"bot {i}") for i in range(100)]}

    reply = await web(fake_slack).views_publish(user_id=ALICE.user_id, view=view)

    home = fake_slack.fake.home(ALICE.user_id)
    assert home is not None and home["blocks"] == view["blocks"]
    assert home["id"] == reply["view"]["id"]
    assert fake_slack.fake.home(BOB.user_id) is None


@pytest.mark.parametrize(
    "view",
    [
        {"type": "home", "blocks": [section("x")] * 101},
        {"type": "modal", "blocks": [section("x")]},
        {"type": "home", "blocks": [{"type": "carousel"}]},
    ],
)
async def test_views_publish_rejects_what_slack_rejects(
    fake_slack: RunningServer, view: dict[str, Any]
) -> None:
    with pytest.raises(SlackApiError) as raised:
        await web(fake_slack).views_publish(user_id=ALICE.user_id, view=view)

    assert raised.value.response["error"] == "invalid_arguments"
    assert raised.value.response["response_metadata"]["messages"]
    assert fake_slack.fake.home(ALICE.user_id) is None


async def test_users_info_gives_the_email(fake_slack: RunningServer) -> None:
    reply = await web(fake_slack).users_info(user=ALICE.user_id)

    assert reply["user"]["id"] == ALICE.user_id
    assert reply["user"]["profile"]["email"] == "alice@example.com"


async def test_users_info_of_a_stranger_fails(fake_slack: RunningServer) -> None:
    with pytest.raises(SlackApiError) as raised:
        await web(fake_slack).users_info(user="U0NOBODY")

    assert raised.value.response["error"] == "user_not_found"


async def test_usergroups_list_members_only_when_asked(fake_slack: RunningServer) -> None:
    client = web(fake_slack)

    plain = await client.usergroups_list()
    with_users = await client.usergroups_list(include_users=True)

    assert {g["handle"]: g["id"] for g in plain["usergroups"]} == {
        "bot-ops": "S0BOTOPS",
        "support-leads": "S0SUPPORT",
    }
    assert all("users" not in g for g in plain["usergroups"])
    assert {g["handle"]: g["users"] for g in with_users["usergroups"]} == {
        "bot-ops": [ALICE.user_id],
        "support-leads": [BOB.user_id],
    }


async def test_usergroups_users_list_lists_the_members(fake_slack: RunningServer) -> None:
    client = web(fake_slack)

    members = await client.usergroups_users_list(usergroup="S0SUPPORT")
    with pytest.raises(SlackApiError) as raised:
        await client.usergroups_users_list(usergroup="S0NOPE")

    assert members["users"] == [BOB.user_id]
    assert raised.value.response["error"] == "no_such_subteam"


def test_form_bodies_carry_blocks_as_a_json_string(fake_slack: RunningServer) -> None:
    response = httpx.post(
        fake_slack.fake.base_url + "chat.postMessage",
        data={"channel": "C0ALERTS", "text": "hi", "blocks": json.dumps([section("hi")])},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

    assert response.json()["ok"] is True
    assert fake_slack.fake.messages("C0ALERTS")[0]["blocks"] == [section("hi")]
    assert "token" not in fake_slack.fake.calls("chat.postMessage")[0]


# ---------------------------------------------------------------------- Block Kit limits


def _blocks(count: int) -> list[dict[str, Any]]:
    return [section("x")] * count


def _section_text(length: int) -> list[dict[str, Any]]:
    return [section("x" * length)]


def _fields(count: int, length: int = 1) -> list[dict[str, Any]]:
    return [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * length}] * count}]


def _buttons(count: int) -> list[dict[str, Any]]:
    return [{"type": "actions", "elements": [button(f"b{i}") for i in range(count)]}]


def _button(**fields: Any) -> list[dict[str, Any]]:
    element = button("b")
    if "text" in fields:
        element["text"] = {"type": "plain_text", "text": fields.pop("text")}
    element.update(fields)
    return [{"type": "actions", "elements": [element]}]


def _confirm(**texts: str) -> list[dict[str, Any]]:
    return _button(confirm=confirm(**texts))


def _header(length: int) -> list[dict[str, Any]]:
    return [{"type": "header", "text": {"type": "plain_text", "text": "x" * length}}]


LIMITS: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]] = [
    ("50 blocks", _blocks(50), _blocks(51)),
    ("section text 3000", _section_text(3000), _section_text(3001)),
    ("10 fields", _fields(10), _fields(11)),
    ("field text 2000", _fields(1, 2000), _fields(1, 2001)),
    ("25 actions", _buttons(25), _buttons(26)),
    ("button text 75", _button(text="x" * 75), _button(text="x" * 76)),
    ("button value 2000", _button(value="x" * 2000), _button(value="x" * 2001)),
    ("confirm title 100", _confirm(title="x" * 100), _confirm(title="x" * 101)),
    ("confirm text 300", _confirm(text="x" * 300), _confirm(text="x" * 301)),
    ("confirm button 30", _confirm(yes="x" * 30), _confirm(yes="x" * 31)),
    ("deny button 30", _confirm(no="x" * 30), _confirm(no="x" * 31)),
    ("header text 150", _header(150), _header(151)),
    ("known block types", [{"type": "divider"}], [{"type": "carousel"}]),
    ("button styles", _button(style="danger"), _button(style="loud")),
    (
        "unique block ids",
        [dict(section("a"), block_id="a"), dict(section("b"), block_id="b")],
        [dict(section("a"), block_id="a"), dict(section("b"), block_id="a")],
    ),
]


@pytest.mark.parametrize(("limit", "at_limit", "over_limit"), LIMITS, ids=[c[0] for c in LIMITS])
async def test_blocks_at_the_limit_pass_and_over_it_are_rejected(
    fake_slack: RunningServer,
    limit: str,
    at_limit: list[dict[str, Any]],
    over_limit: list[dict[str, Any]],
) -> None:
    client = web(fake_slack)

    accepted = await client.chat_postMessage(channel="C0ALERTS", text="fallback", blocks=at_limit)
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel="C0ALERTS", text="fallback", blocks=over_limit)

    assert accepted["ok"] is True
    assert raised.value.response["error"] == "invalid_blocks"
    assert raised.value.response["errors"], "Slack says which block is wrong"
    assert len(fake_slack.fake.messages("C0ALERTS")) == 1


async def test_text_over_4000_characters_is_too_long(fake_slack: RunningServer) -> None:
    client = web(fake_slack)

    await client.chat_postMessage(channel="C0ALERTS", text="x" * 4000)
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel="C0ALERTS", text="x" * 4001)

    assert raised.value.response["error"] == "msg_too_long"


def test_a_message_needs_text_or_blocks(fake_slack: RunningServer) -> None:
    # Raw HTTP: slack_sdk itself warns before sending a message without text.
    reply = httpx.post(
        fake_slack.fake.base_url + "chat.postMessage",
        json={"channel": "C0ALERTS"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

    assert reply.json() == {"ok": False, "error": "no_text"}


def test_block_errors_point_at_the_offending_block() -> None:
    errors = block_errors([section("ok"), section("x" * 3001)])

    assert errors == ["must be less than 3001 characters [json-pointer:/blocks/1/text/text]"]
    assert len(block_errors(_blocks(MAX_MESSAGE_BLOCKS + 1))) == 1
    assert block_errors(_blocks(100), limit=100) == []


# ---------------------------------------------------------------------- faults


async def test_a_429_carries_retry_after_without_a_retry_handler(fake_slack: RunningServer) -> None:
    fake_slack.fake.inject(method="chat.postMessage", status=429, retry_after=7)

    with pytest.raises(SlackApiError) as raised:
        await web(fake_slack).chat_postMessage(channel="C0ALERTS", text="hi")

    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert fake_slack.fake.messages("C0ALERTS") == []


async def test_the_rate_limit_retry_handler_waits_and_retries(fake_slack: RunningServer) -> None:
    fake_slack.fake.inject(method="chat.postMessage", status=429, retry_after=0)
    client = web(fake_slack, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])

    reply = await client.chat_postMessage(channel="C0ALERTS", text="hi")

    assert reply["ok"] is True
    assert [c["_status"] for c in fake_slack.fake.calls("chat.postMessage")] == [429, 200]
    assert len(fake_slack.fake.messages("C0ALERTS")) == 1


async def test_a_server_error_is_retried_by_the_server_error_handler(
    fake_slack: RunningServer,
) -> None:
    fake_slack.fake.inject(method="chat.postMessage", status=503)
    plain = web(fake_slack)
    retrying = web(
        fake_slack,
        retry_handlers=[
            AsyncServerErrorRetryHandler(
                max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0.0)
            )
        ],
    )

    with pytest.raises(SlackApiError) as raised:
        await plain.chat_postMessage(channel="C0ALERTS", text="lost")
    fake_slack.fake.inject(method="chat.postMessage", status=500)
    reply = await retrying.chat_postMessage(channel="C0ALERTS", text="kept")

    assert raised.value.response.status_code == 503
    assert reply["ok"] is True
    assert [m["text"] for m in fake_slack.fake.messages("C0ALERTS")] == ["kept"]


async def test_an_injected_error_is_slacks_ok_false_reply(fake_slack: RunningServer) -> None:
    fake_slack.fake.inject(method="chat.update", error="cant_update_message")

    with pytest.raises(SlackApiError) as raised:
        await web(fake_slack).chat_update(channel="C0ALERTS", ts="1.000100", text="x")

    assert raised.value.response.status_code == 200
    assert raised.value.response["error"] == "cant_update_message"


async def test_a_lost_answer_leaves_the_client_unsure_whether_slack_posted(
    fake_slack: RunningServer,
) -> None:
    fake_slack.fake.inject(method="chat.postMessage", answer_lost="after")
    fake_slack.fake.inject(method="chat.postMessage", answer_lost="before")
    client = web(fake_slack)

    for text in ("posted", "never posted"):
        with pytest.raises(aiohttp.ClientError):
            await client.chat_postMessage(channel="C0ALERTS", text=text)
    await client.chat_postMessage(channel="C0ALERTS", text="answered")

    assert [m["text"] for m in fake_slack.fake.messages("C0ALERTS")] == ["posted", "answered"]
    calls = fake_slack.fake.calls("chat.postMessage")
    assert [(c["text"], c.get("_answer_lost")) for c in calls] == [
        ("posted", "after"),
        ("never posted", "before"),
        ("answered", None),
    ]
    with pytest.raises(ValueError, match="Web API methods only"):
        fake_slack.fake.inject(method="response_url", answer_lost="after")


async def test_a_slow_slack_acts_and_answers_after_the_delay(fake_slack: RunningServer) -> None:
    fake_slack.fake.inject(method="chat.postMessage", delay=0.5)
    client = web(fake_slack)

    slow = asyncio.create_task(client.chat_postMessage(channel="C0ALERTS", text="slow"))
    # The slow call has reached Slack once the fault is used up.
    await fake_slack.fake.await_for(lambda: fake_slack.fake.faults()[0]["times"] == 0)
    fast = await client.chat_postMessage(channel="C0ALERTS", text="fast")

    assert fast["ok"] is True and (await slow)["ok"] is True
    assert [m["text"] for m in fake_slack.fake.messages("C0ALERTS")] == ["fast", "slow"]


async def test_faults_hit_only_their_method_and_only_times_calls(fake_slack: RunningServer) -> None:
    fake_slack.fake.inject(method="chat.postMessage", status=500, times=2)
    client = web(fake_slack)

    await client.auth_test()
    statuses = []
    for _ in range(3):
        try:
            await client.chat_postMessage(channel="C0ALERTS", text="hi")
            statuses.append(200)
        except SlackApiError as exc:
            statuses.append(exc.response.status_code)

    assert statuses == [500, 500, 200]


async def test_a_fault_ratio_fails_a_seeded_share_of_calls(fake_slack_host: FakeSlackHost) -> None:
    patterns = []
    for _ in range(2):
        with fake_slack_host.add(FakeSlack()) as server:
            server.fake.inject(status=500, ratio=0.5, seed=42)
            client = web(server)
            for _ in range(20):
                try:
                    await client.users_info(user=ALICE.user_id)
                except SlackApiError:
                    pass
            patterns.append([c["_ok"] for c in server.fake.calls("users.info")])

    assert patterns[0] == patterns[1]
    assert 4 <= patterns[0].count(False) <= 16


def test_faults_can_be_injected_and_cleared_over_http(fake_slack: RunningServer) -> None:
    faults = fake_slack.url + "/_sandbox/faults"
    post = fake_slack.fake.base_url + "chat.postMessage"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    body = {"channel": "C0ALERTS", "text": "hi"}

    assert (
        httpx.post(
            faults, json={"method": "chat.postMessage", "status": 503, "times": 5}
        ).status_code
        == 200
    )
    assert httpx.post(post, json=body, headers=auth).status_code == 503
    assert httpx.delete(faults).status_code == 200
    assert httpx.post(post, json=body, headers=auth).json()["ok"] is True
    refused = httpx.post(faults, json={"status": 503, "colour": "red"})
    assert refused.status_code == 400 and "colour" in refused.json()["error"]


async def test_post_message_is_paced_per_channel_when_rate_limits_are_on(
    fake_slack_host: FakeSlackHost, clock: ManualClock
) -> None:
    with fake_slack_host.add(FakeSlack(clock=clock.time, enforce_rate_limits=True)) as server:
        client = web(server)
        for _ in range(3):  # the burst allowance
            await client.chat_postMessage(channel="C0ALERTS", text="burst")
        with pytest.raises(SlackApiError) as raised:
            await client.chat_postMessage(channel="C0ALERTS", text="too fast")
        other_channel = await client.chat_postMessage(channel="C0BILLING", text="elsewhere")
        clock.advance(1.0)
        after_a_second = await client.chat_postMessage(channel="C0ALERTS", text="paced")

    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "1"
    assert other_channel["ok"] is True and after_a_second["ok"] is True


# ---------------------------------------------------------------------- response_url


async def test_a_response_url_reply_is_ephemeral_by_default(fake_slack: RunningServer) -> None:
    url = fake_slack.fake.mint_response_url(ALICE.user_id, "C0GENERAL")

    reply = await AsyncWebhookClient(url).send(text="only you", blocks=[section("only you")])

    assert reply.status_code == 200 and reply.body == "ok"
    [ephemeral] = fake_slack.fake.ephemerals(ALICE.user_id)
    assert ephemeral["blocks"] == [section("only you")]
    assert fake_slack.fake.messages("C0GENERAL") == []


async def test_an_in_channel_response_posts_to_the_channel(fake_slack: RunningServer) -> None:
    url = fake_slack.fake.mint_response_url(ALICE.user_id, "C0GENERAL")

    await AsyncWebhookClient(url).send(text="everyone", response_type="in_channel")

    assert [m["text"] for m in fake_slack.fake.messages("C0GENERAL")] == ["everyone"]
    assert fake_slack.fake.ephemerals(ALICE.user_id) == []


async def test_replace_original_edits_the_clicked_message(fake_slack: RunningServer) -> None:
    posted = await web(fake_slack).chat_postMessage(
        channel="C0ALERTS", text="down", blocks=alert_blocks()
    )
    url = fake_slack.fake.mint_response_url(ALICE.user_id, "C0ALERTS", posted["ts"])

    await AsyncWebhookClient(url).send(text="stopped by alice", replace_original=True)

    [message] = fake_slack.fake.messages("C0ALERTS")
    assert message["ts"] == posted["ts"]
    assert message["text"] == "stopped by alice" and message["edited"] is True
    assert message["history"][0]["blocks"] == alert_blocks()


async def test_replace_original_on_an_ephemeral_edits_that_ephemeral(
    fake_slack: RunningServer,
) -> None:
    posted = await web(fake_slack).chat_postEphemeral(
        channel="C0GENERAL", user=ALICE.user_id, text="menu", blocks=alert_blocks()
    )
    url = fake_slack.fake.mint_response_url(ALICE.user_id, "C0GENERAL", posted["message_ts"])

    await AsyncWebhookClient(url).send(text="started", replace_original=True)

    [ephemeral] = fake_slack.fake.ephemerals(ALICE.user_id)
    assert ephemeral["text"] == "started" and ephemeral["edited"] is True


async def test_delete_original_removes_the_message(fake_slack: RunningServer) -> None:
    posted = await web(fake_slack).chat_postMessage(channel="C0ALERTS", text="down")
    url = fake_slack.fake.mint_response_url(ALICE.user_id, "C0ALERTS", posted["ts"])

    reply = await AsyncWebhookClient(url).send_dict({"delete_original": True})

    assert reply.status_code == 200
    assert fake_slack.fake.messages("C0ALERTS") == []


async def test_a_response_url_works_five_times_then_answers_used_url(
    fake_slack: RunningServer,
) -> None:
    client = AsyncWebhookClient(fake_slack.fake.mint_response_url(ALICE.user_id, "C0GENERAL"))

    statuses = [(await client.send(text=f"reply {i}")).status_code for i in range(5)]
    sixth = await client.send(text="one too many")

    assert statuses == [200] * 5
    assert (sixth.status_code, sixth.body) == (404, "used_url")
    assert len(fake_slack.fake.ephemerals(ALICE.user_id)) == 5


async def test_a_response_url_expires_after_30_minutes(
    clocked_slack: RunningServer, clock: ManualClock
) -> None:
    client = AsyncWebhookClient(clocked_slack.fake.mint_response_url(ALICE.user_id, "C0GENERAL"))

    clock.advance(RESPONSE_URL_LIFETIME_SECONDS)
    just_in_time = await client.send(text="at 30:00")
    clock.advance(1)
    too_late = await client.send(text="at 30:01")

    assert just_in_time.status_code == 200
    assert (too_late.status_code, too_late.body) == (404, "expired_url")


async def test_a_response_url_rejects_invalid_blocks(fake_slack: RunningServer) -> None:
    client = AsyncWebhookClient(fake_slack.fake.mint_response_url(ALICE.user_id, "C0GENERAL"))

    reply = await client.send(text="x", blocks=_blocks(51))

    assert (reply.status_code, reply.body) == (400, "invalid_blocks")
    assert fake_slack.fake.ephemerals(ALICE.user_id) == []


async def test_faults_can_target_response_urls(fake_slack: RunningServer) -> None:
    fake_slack.fake.inject(method="response_url", status=500)
    client = AsyncWebhookClient(fake_slack.fake.mint_response_url(ALICE.user_id, "C0GENERAL"))

    failed = await client.send(text="lost")
    delivered = await client.send(text="kept")

    assert (failed.status_code, delivered.status_code) == (500, 200)
    assert [e["text"] for e in fake_slack.fake.ephemerals(ALICE.user_id)] == ["kept"]


# ---------------------------------------------------------------------- inspection and hosting


def test_wait_for_explains_what_it_waited_for(fake_slack: RunningServer) -> None:
    with pytest.raises(AssertionError) as raised:
        fake_slack.fake.wait_for(
            lambda: len(fake_slack.fake.messages("C0ALERTS")) == 1, timeout=0.05
        )

    assert 'fake_slack.fake.messages("C0ALERTS")' in str(raised.value)
    assert "last calls" in str(raised.value)


def test_a_removed_fake_answers_404_and_others_are_isolated(fake_slack_host: FakeSlackHost) -> None:
    first = fake_slack_host.add(FakeSlack())
    second = fake_slack_host.add(FakeSlack())
    auth = {"Authorization": f"Bearer {TOKEN}"}

    httpx.post(
        first.fake.base_url + "chat.postMessage",
        json={"channel": "C0ALERTS", "text": "a"},
        headers=auth,
    )
    first.stop()
    late = httpx.post(first.fake.base_url + "auth.test", headers=auth)
    second.stop()

    assert late.status_code == 404
    assert len(first.fake.messages("C0ALERTS")) == 1
    assert second.fake.messages("C0ALERTS") == []


def test_run_in_thread_serves_a_fake_on_its_own_port() -> None:
    with run_in_thread(FakeSlack()) as server:
        reply = httpx.post(
            server.fake.base_url + "auth.test", headers={"Authorization": f"Bearer {TOKEN}"}
        )

    assert reply.json()["ok"] is True
    with pytest.raises(httpx.ConnectError):
        httpx.post(server.fake.base_url + "auth.test")


# ---------------------------------------------------------------------- the signing client


class Recorder:
    """A stand-in app that records what Slack sent it and answers with a canned reply."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.reply: Response = Response(status_code=200)
        self.app = Starlette(routes=[Route("/slack/events", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        self.requests.append((dict(request.headers), await request.body()))
        return self.reply


@pytest.fixture(scope="module")
def recorder_server() -> Iterator[tuple[Recorder, str]]:
    recorder = Recorder()
    with serve_in_thread(recorder.app) as served:
        yield recorder, served.url + "/slack/events"


@pytest.fixture
def recorder(recorder_server: tuple[Recorder, str]) -> tuple[Recorder, str]:
    app, url = recorder_server
    app.requests.clear()
    app.reply = Response(status_code=200)
    return app, url


def test_a_command_is_a_signed_form_with_slacks_fields(
    fake_slack: RunningServer, recorder: tuple[Recorder, str]
) -> None:
    app, url = recorder

    SlackUser(fake_slack.fake, ALICE, url).command("billing-bot", channel="C0ALERTS")

    [(headers, body)] = app.requests
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid(
        body, headers["x-slack-request-timestamp"], headers["x-slack-signature"]
    )
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    fields = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    assert {k: fields[k] for k in ("command", "text", "user_id", "channel_id", "team_id")} == {
        "command": "/botstatus",
        "text": "billing-bot",
        "user_id": ALICE.user_id,
        "channel_id": "C0ALERTS",
        "team_id": "T0SANDBOX",
    }
    for name in ("token", "team_domain", "channel_name", "user_name", "api_app_id", "trigger_id"):
        assert fields[name]
    assert fields["response_url"].startswith(fake_slack.url + "/response/")


def test_sign_matches_slack_sdks_signature() -> None:
    body = b"payload=%7B%7D"

    headers = sign(body, SECRET, 1_716_290_400)

    expected = SignatureVerifier(SECRET).generate_signature(timestamp="1716290400", body=body)
    assert headers == {"X-Slack-Request-Timestamp": "1716290400", "X-Slack-Signature": expected}


def test_forged_and_replayed_requests_fail_verification(
    fake_slack: RunningServer, recorder: tuple[Recorder, str]
) -> None:
    app, url = recorder
    alice = SlackUser(fake_slack.fake, ALICE, url)

    alice.forged().command("stop everything")
    alice.replaying(age_seconds=600).command("stop everything")

    verifier = SignatureVerifier(SECRET)
    (forged_headers, forged_body), (replayed_headers, replayed_body) = app.requests
    assert not verifier.is_valid(
        forged_body,
        forged_headers["x-slack-request-timestamp"],
        forged_headers["x-slack-signature"],
    )
    replayed_ts = replayed_headers["x-slack-request-timestamp"]
    assert int(replayed_ts) <= time.time() - 600
    assert not verifier.is_valid(replayed_body, replayed_ts, replayed_headers["x-slack-signature"])
    # The replayed request is genuinely signed: only its age gives it away.
    assert SignatureVerifier(SECRET, clock=ManualClock(int(replayed_ts))).is_valid(
        replayed_body, replayed_ts, replayed_headers["x-slack-signature"]
    )


def test_a_click_sends_block_actions_for_the_button(
    fake_slack: RunningServer, recorder: tuple[Recorder, str]
) -> None:
    app, url = recorder
    fake = fake_slack.fake
    httpx.post(
        fake.base_url + "chat.postMessage",
        json={"channel": "C0ALERTS", "text": "down", "blocks": alert_blocks("bot-7")},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    [message] = fake.messages("C0ALERTS")

    SlackUser(fake, BOB, url).click(message, "stop_bot")
    SlackUser(fake, BOB, url).click(message, "stop_bot", value="bot-999")

    payloads = [json.loads(parse_qs(body.decode())["payload"][0]) for _, body in app.requests]
    first, forged = payloads
    assert first["type"] == "block_actions"
    assert first["user"]["id"] == BOB.user_id
    assert first["actions"][0]["action_id"] == "stop_bot"
    assert first["actions"][0]["block_id"] == "controls"
    assert first["actions"][0]["value"] == "bot-7"
    assert first["container"] == {
        "type": "message",
        "message_ts": message["ts"],
        "channel_id": "C0ALERTS",
        "is_ephemeral": False,
    }
    assert first["message"]["ts"] == message["ts"]
    assert first["message"]["blocks"] == alert_blocks("bot-7")
    assert first["response_url"].startswith(fake_slack.url + "/response/")
    assert forged["actions"][0]["value"] == "bot-999"


def _payload(body: bytes) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(parse_qs(body.decode())["payload"][0])
    return payload


async def test_a_click_on_an_ephemeral_or_home_button_says_where_it_was(
    fake_slack: RunningServer, recorder: tuple[Recorder, str]
) -> None:
    app, url = recorder
    fake = fake_slack.fake
    client = web(fake_slack)
    await client.chat_postEphemeral(
        channel="C0GENERAL", user=ALICE.user_id, text="menu", blocks=alert_blocks()
    )
    await client.views_publish(
        user_id=ALICE.user_id, view={"type": "home", "blocks": alert_blocks()}
    )
    alice = SlackUser(fake, ALICE, url)

    await alice.aclick(fake.ephemerals(ALICE.user_id)[0], "start_bot")
    home = fake.home(ALICE.user_id)
    assert home is not None
    await alice.aclick(home, "start_bot")

    ephemeral, in_home = (_payload(body) for _, body in app.requests)
    assert ephemeral["container"]["is_ephemeral"] is True
    assert "message" not in ephemeral and ephemeral["response_url"]
    assert in_home["container"] == {"type": "view", "view_id": home["id"]}
    assert in_home["view"]["blocks"] == alert_blocks()
    assert "response_url" not in in_home and "channel" not in in_home


async def test_an_async_command_is_signed_like_a_sync_one(
    fake_slack: RunningServer, recorder: tuple[Recorder, str]
) -> None:
    app, url = recorder
    app.reply = JSONResponse({"text": "async reply"})

    response = await SlackUser(fake_slack.fake, ALICE, url).acommand("help")

    [(headers, body)] = app.requests
    assert response.status_code == 200
    assert SignatureVerifier(SECRET).is_valid(
        body, headers["x-slack-request-timestamp"], headers["x-slack-signature"]
    )
    assert [e["text"] for e in fake_slack.fake.ephemerals(ALICE.user_id)] == ["async reply"]


def test_a_click_on_a_missing_button_names_the_buttons_there(fake_slack: RunningServer) -> None:
    message = {"channel": "C0ALERTS", "ts": "1.000100", "blocks": alert_blocks()}

    with pytest.raises(LookupError, match="'start_bot', 'stop_bot'"):
        SlackUser(fake_slack.fake, ALICE, "http://127.0.0.1:9/slack/events").click(
            message, "mute_bot"
        )


@pytest.mark.parametrize(
    ("reply", "where", "text"),
    [
        (JSONResponse({"text": "just you"}), "ephemeral", "just you"),
        (JSONResponse({"text": "everyone", "response_type": "in_channel"}), "channel", "everyone"),
        (PlainTextResponse("plain words"), "ephemeral", "plain words"),
    ],
)
def test_the_apps_reply_to_a_command_is_shown_like_slack_shows_it(
    fake_slack: RunningServer,
    recorder: tuple[Recorder, str],
    reply: Response,
    where: str,
    text: str,
) -> None:
    app, url = recorder
    app.reply = reply

    SlackUser(fake_slack.fake, ALICE, url).command("", channel="C0GENERAL")

    shown = (
        fake_slack.fake.ephemerals(ALICE.user_id)
        if where == "ephemeral"
        else fake_slack.fake.messages("C0GENERAL")
    )
    assert [m["text"] for m in shown] == [text]


def test_an_empty_command_reply_shows_nothing(
    fake_slack: RunningServer, recorder: tuple[Recorder, str]
) -> None:
    _, url = recorder

    SlackUser(fake_slack.fake, ALICE, url).command("")

    assert fake_slack.fake.ephemerals(ALICE.user_id) == []
    assert fake_slack.fake.messages("C0GENERAL") == []


# ------------------------------------------------------ Bolt parses what the client sends


class BoltApp:
    """A minimal Bolt app (test only) wired to the fake, to check payload shapes end to end."""

    def __init__(self, fake: FakeSlack) -> None:
        self.seen: list[str] = []
        app = AsyncApp(
            client=AsyncWebClient(token=fake.bot_token, base_url=fake.base_url),
            signing_secret=fake.signing_secret,
        )

        @app.command("/botstatus")
        async def botstatus(ack: Any, command: dict[str, Any], respond: Any) -> None:
            await ack()
            self.seen.append(f"command:{command['text']}")
            await respond(text=f"status of {command['text']}")

        @app.action("stop_bot")
        async def stop_bot(
            ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
        ) -> None:
            await ack()
            self.seen.append(f"stop:{action['value']}:{body['user']['id']}")
            await respond(text=f"stopped {action['value']}", replace_original=True)

        @app.event("app_home_opened")
        async def home(event: dict[str, Any], client: AsyncWebClient) -> None:
            self.seen.append(f"home:{event['user']}")
            await client.views_publish(
                user_id=event["user"], view={"type": "home", "blocks": [section("hi")]}
            )

        handler = AsyncSlackRequestHandler(app)

        async def events(request: Request) -> Response:
            return await handler.handle(request)

        self.asgi = Starlette(routes=[Route("/slack/events", events, methods=["POST"])])


@pytest.fixture
def bolt(fake_slack: RunningServer) -> Iterator[tuple[BoltApp, str]]:
    bolt = BoltApp(fake_slack.fake)
    with serve_in_thread(bolt.asgi) as served:
        yield bolt, served.url + "/slack/events"


def test_bolt_runs_the_command_and_respond_lands_in_the_fake(
    fake_slack: RunningServer, bolt: tuple[BoltApp, str]
) -> None:
    app, url = bolt
    fake = fake_slack.fake

    response = SlackUser(fake, ALICE, url).command("billing-bot")

    assert response.status_code == 200
    fake.wait_for(lambda: len(fake.ephemerals(ALICE.user_id)) == 1)
    assert fake.ephemerals(ALICE.user_id)[0]["text"] == "status of billing-bot"
    assert app.seen == ["command:billing-bot"]


def test_bolt_runs_the_button_and_replace_original_edits_the_alert(
    fake_slack: RunningServer, bolt: tuple[BoltApp, str]
) -> None:
    app, url = bolt
    fake = fake_slack.fake
    httpx.post(
        fake.base_url + "chat.postMessage",
        json={"channel": "C0ALERTS", "text": "down", "blocks": alert_blocks("bot-7")},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

    response = SlackUser(fake, ALICE, url).click(fake.messages("C0ALERTS")[0], "stop_bot")

    assert response.status_code == 200
    fake.wait_for(lambda: fake.messages("C0ALERTS")[0]["edited"])
    assert fake.messages("C0ALERTS")[0]["text"] == "stopped bot-7"
    assert app.seen == [f"stop:bot-7:{ALICE.user_id}"]


async def test_bolt_publishes_home_when_it_is_opened(
    fake_slack: RunningServer, bolt: tuple[BoltApp, str]
) -> None:
    app, url = bolt
    fake = fake_slack.fake

    response = await SlackUser(fake, BOB, url).aopen_home()

    assert response.status_code == 200
    await fake.await_for(lambda: fake.home(BOB.user_id) is not None)
    assert app.seen == [f"home:{BOB.user_id}"]
    assert [c["_ok"] for c in fake.calls("auth.test")] == [True]


def test_bolt_refuses_forged_and_replayed_requests(
    fake_slack: RunningServer, bolt: tuple[BoltApp, str]
) -> None:
    app, url = bolt
    alice = SlackUser(fake_slack.fake, ALICE, url)

    forged = alice.forged().command("x")
    replayed = alice.replaying().command("x")
    forged_click = alice.forged().click(
        {"channel": "C0ALERTS", "ts": "1.000100", "blocks": alert_blocks()}, "stop_bot"
    )

    assert (forged.status_code, replayed.status_code, forged_click.status_code) == (401, 401, 401)
    assert app.seen == []


def test_bolt_answers_url_verification_and_ssl_check(
    fake_slack: RunningServer, bolt: tuple[BoltApp, str]
) -> None:
    _, url = bolt
    alice = SlackUser(fake_slack.fake, ALICE, url)

    verification = alice.verify_url("abc123")
    ssl_check = alice.ssl_check()

    assert verification.status_code == 200 and verification.json() == {"challenge": "abc123"}
    assert ssl_check.status_code == 200
