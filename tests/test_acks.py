"""Acknowledge, end to end: the alert's button and ``/botstatus ack|unack <bot>``.

Signed commands and ``block_actions`` payloads go through the real ASGI app and Bolt; the
real poller and relay alert in the fake Slack, which records every chat.update and
chat.postMessage. A test makes a bot fail at the fake LivePerson, polls, and reads the
alert as Slack shows it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from chatops.config import AlertsConfig, PermissionRule
from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import RunningServer as SlackServer
from chatops.sandbox.slack_client import Delivery, SlackUser
from chatops.store.models import AuditEntry
from tests import fleet
from tests.clock import ManualClock
from tests.fixtures.app import (
    TEST_PERMISSIONS,
    AppUnderTest,
    MakeApp,
    app_settings,
    start_app,
    start_two_replicas,
)
from tests.test_slack_connectors import healthy_bot

ALERTS = "C0ALERTS"
ACK = "alert_ack"
OWNED_BY_ALICE = "Acknowledged by <@U0ALICE> since"


def alerting(**overrides: Any) -> AlertsConfig:
    values: dict[str, Any] = {"channel": ALERTS, "confirm_polls": 1, "digest_after": 5}
    values.update(overrides)
    return AlertsConfig.model_validate(values)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock.real_time()


@pytest.fixture
def app(make_app: MakeApp, sqlite_url: str, clock: ManualClock) -> AppUnderTest:
    return make_app(sqlite_url, clock=clock, alerts=alerting())


@pytest.fixture
def both_backends(make_app: MakeApp, database_url: str) -> AppUnderTest:
    return make_app(database_url, alerts=alerting())


# -- helpers ----------------------------------------------------------------------------------


def text_of(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


def has_ack_button(message: dict[str, Any]) -> bool:
    return any(
        (block.get("accessory") or {}).get("action_id") == ACK for block in message["blocks"]
    )


def audit(app: AppUnderTest, *actions: str) -> list[AuditEntry]:
    async def load() -> list[AuditEntry]:
        async with app.runtime.sessions() as session:
            rows = await session.exec(select(AuditEntry).order_by(AuditEntry.id))  # type: ignore[arg-type]
            return [row for row in rows.all() if row.action in actions]

    return app.run(load())


def quiet(app: AppUnderTest) -> None:
    """Wait until the relay has delivered everything written so far."""
    app.fake_slack.wait_for(lambda: app.unfinished_alerts() == 0, what="the outbox drained")


def alert_about(app: AppUnderTest, name: str) -> dict[str, Any]:
    """The newest top-level message in the alert channel that names ``name``."""
    fake = app.fake_slack

    def found() -> dict[str, Any] | None:
        named = [m for m in fake.messages(ALERTS) if name in m["text"]]
        return named[-1] if named else None

    fake.wait_for(lambda: found() is not None, what=f"an alert about {name}")
    message = found()
    assert message is not None
    return message


def fail(app: AppUnderTest, bot_id: str, user: str | None = None) -> None:
    """The Bot Server connection of the bot (or of one connector) drops; one poll sees it."""
    app.lp.fake.set_fields(bot_id, user, cbSocketStatus="NOT_CONNECTED")
    app.poll()


def recover(app: AppUnderTest, bot_id: str) -> None:
    app.lp.fake.set_fields(bot_id, cbSocketStatus="CONNECTED")
    app.poll()


def down_bot(app: AppUnderTest, prefix: str = "billing") -> tuple[str, str, dict[str, Any]]:
    """(id, name, alert) of a healthy bot that has just gone down."""
    entry = fleet.healthy_bots(app.lp.fake, prefix)[0]
    bot_id, name = str(entry["botId"]), str(entry["botName"])
    fail(app, bot_id)
    return bot_id, name, alert_about(app, name)


def current(app: AppUnderTest, message: dict[str, Any]) -> dict[str, Any]:
    """The message as Slack shows it now."""
    (now,) = [m for m in app.fake_slack.messages(ALERTS) if m["ts"] == message["ts"]]
    return now


def shown(app: AppUnderTest, message: dict[str, Any]) -> str:
    """What the message shows now (not its earlier versions or replies)."""
    now = current(app, message)
    return text_of({"text": now["text"], "blocks": now["blocks"]})


def replies(app: AppUnderTest, message: dict[str, Any]) -> list[str]:
    return [text_of(reply) for reply in current(app, message)["replies"]]


def owned(app: AppUnderTest, message: dict[str, Any], words: str = OWNED_BY_ALICE) -> None:
    app.fake_slack.wait_for(
        lambda: words in shown(app, message), what=f"the alert saying {words!r}"
    )


def ephemeral_saying(app: AppUnderTest, user: str, words: str) -> dict[str, Any]:
    fake = app.fake_slack
    user_id = app.users[user].user_id

    def found() -> dict[str, Any] | None:
        return next((m for m in fake.ephemerals(user_id) if words in text_of(m)), None)

    fake.wait_for(lambda: found() is not None, what=f"{user} told {words!r}")
    message = found()
    assert message is not None
    return message


def command(app: AppUnderTest, user: str, text: str) -> str:
    response = app.users[user].command(text)
    assert response.status_code == 200, response.text
    return text_of(response.json())


def at_once(user: SlackUser, click: Delivery, *urls: str | None) -> list[int]:
    async def all_of_them() -> list[int]:
        answers = await asyncio.gather(*(user.adeliver(click, app_url=url) for url in urls))
        return [answer.status_code for answer in answers]

    return asyncio.run(all_of_them())


# -- the button -------------------------------------------------------------------------------


def test_alice_acknowledges_an_alert_and_it_says_who_owns_it_since_when(
    both_backends: AppUnderTest,
) -> None:
    app = both_backends
    bot_id, _, alert = down_bot(app)
    assert has_ack_button(alert)

    assert app.users["alice"].click(alert, ACK).status_code == 200
    owned(app, alert)
    quiet(app)

    now = current(app, alert)
    assert now["edited"]
    assert not has_ack_button(now)
    assert "Down" in now["text"]
    (reply,) = replies(app, alert)
    assert "<@U0ALICE> acknowledged this alert" in reply
    (entry,) = audit(app, "ack")
    assert (entry.user_id, entry.target, entry.outcome) == ("U0ALICE", bot_id, "ok")


def test_a_double_click_a_redelivered_payload_and_clicks_at_once_acknowledge_once(
    both_backends: AppUnderTest,
) -> None:
    app = both_backends
    _, _, alert = down_bot(app)
    alice = app.users["alice"]
    click = alice.click_delivery(alert, ACK)

    assert at_once(alice, click, None, None) == [200, 200]
    assert at_once(alice, alice.click_delivery(alert, ACK), None, None) == [200, 200]
    owned(app, alert)
    assert alice.deliver(click).status_code == 200
    ephemeral_saying(app, "alice", "already acknowledged by you")
    quiet(app)

    assert len(replies(app, alert)) == 1
    assert [entry.outcome for entry in audit(app, "ack")] == ["ok"]


def test_a_redelivered_click_does_not_acknowledge_again_after_a_release(
    app: AppUnderTest,
) -> None:
    _, name, alert = down_bot(app)
    alice = app.users["alice"]
    click = alice.click_delivery(alert, ACK)
    assert alice.deliver(click).status_code == 200
    owned(app, alert)
    assert "released" in command(app, "alice", f"unack {name}")

    assert alice.deliver(click).status_code == 200
    ephemeral_saying(app, "alice", "already received")
    quiet(app)
    assert [entry.outcome for entry in audit(app, "ack")] == ["ok"]
    assert has_ack_button(current(app, alert))


def test_bob_and_charlie_are_refused_and_nothing_changes(app: AppUnderTest) -> None:
    bot_id, _, alert = down_bot(app)
    quiet(app)

    for user in ("bob", "charlie"):
        assert app.users[user].click(alert, ACK).status_code == 200
        refusal = ephemeral_saying(app, user, "You need the *ack* permission")
        assert "#bot-ops" in text_of(refusal)
    quiet(app)

    assert current(app, alert)["edited"] is False
    assert has_ack_button(current(app, alert))
    assert replies(app, alert) == []
    entries = audit(app, "ack")
    assert [(e.user_id, e.target, e.outcome) for e in entries] == [
        ("U0BOB", bot_id, "refused"),
        ("U0CHARLIE", bot_id, "refused"),
    ]
    assert "You need the *ack* permission" in command(app, "bob", "ack billing")


def test_bob_and_charlie_may_not_release_alices_acknowledgement(app: AppUnderTest) -> None:
    bot_id, name, alert = down_bot(app)
    command(app, "alice", f"ack {name}")
    owned(app, alert)
    quiet(app)

    for user in ("bob", "charlie"):
        assert "You need the *ack* permission" in command(app, user, f"unack {name}")
    quiet(app)

    assert OWNED_BY_ALICE in shown(app, alert)
    assert len(replies(app, alert)) == 1
    assert [(e.user_id, e.action, e.target, e.outcome) for e in audit(app, "ack", "unack")] == [
        ("U0ALICE", "ack", bot_id, "ok"),
        ("U0BOB", "unack", name, "refused"),
        ("U0CHARLIE", "unack", name, "refused"),
    ]


def test_someone_whose_ack_covers_other_bots_is_refused_on_this_one(
    fake_lp: LPServer, fake_slack: SlackServer, sqlite_url: str
) -> None:
    # bob may acknowledge faq-* bots only.
    rules = (*TEST_PERMISSIONS, PermissionRule(users=("U0BOB",), allow=("ack",), bots=("faq-*",)))
    settings = app_settings(fake_lp, fake_slack, sqlite_url, alerts=alerting(), permissions=rules)
    running = start_app(settings, fake_lp, fake_slack)
    app = next(running)
    try:
        bot_id, name, alert = down_bot(app, "billing")
        assert app.users["bob"].click(alert, ACK).status_code == 200
        ephemeral_saying(app, "bob", "You need the *ack* permission")
        assert "You need the *ack* permission" in command(app, "bob", f"ack {name}")
        assert "You need the *ack* permission" in command(app, "bob", f"unack {name}")
        quiet(app)
        assert not current(app, alert)["edited"]
        assert [(e.target, e.outcome) for e in audit(app, "ack")] == [
            (bot_id, "refused"),
            (bot_id, "refused"),
        ]

        _, _, faq_alert = down_bot(app, "faq")
        assert app.users["bob"].click(faq_alert, ACK).status_code == 200
        owned(app, faq_alert, "Acknowledged by <@U0BOB> since")
    finally:
        running.close()


# -- the commands -----------------------------------------------------------------------------


def test_ack_and_unack_commands_edit_the_alert_and_reply_in_its_thread(app: AppUnderTest) -> None:
    bot_id, name, alert = down_bot(app)

    answer = command(app, "alice", f"ack {name}")
    assert "You acknowledged the alert" in answer
    owned(app, alert)
    assert "already acknowledged by you" in command(app, "alice", f"ack {name}")

    answer = command(app, "alice", f"unack {name}")
    assert "You released the acknowledgement" in answer
    app.fake_slack.wait_for(lambda: has_ack_button(current(app, alert)), what="the button back")
    quiet(app)
    assert "Acknowledged by" not in shown(app, alert)
    acked, released = replies(app, alert)
    assert "<@U0ALICE> acknowledged this alert" in acked
    assert "<@U0ALICE> released their acknowledgement" in released
    assert [(e.action, e.target, e.outcome) for e in audit(app, "ack", "unack")] == [
        ("ack", bot_id, "ok"),
        ("unack", bot_id, "ok"),
    ]


def test_bad_input_gets_a_clear_answer_and_changes_nothing(app: AppUnderTest) -> None:
    _, name, alert = down_bot(app)
    quiet(app)
    healthy = fleet.healthy_bots(app.lp.fake, "faq")[0]["botName"]

    assert "No bot named `no-such-bot`" in command(app, "alice", "ack no-such-bot")
    assert f"*{healthy}* has no open alert" in command(app, "alice", f"ack {healthy}")
    assert "is not acknowledged" in command(app, "alice", f"unack {name}")
    assert "Which bot?" in command(app, "alice", "ack")
    typo = name[:3] + name[2] + name[3:]  # a letter typed twice
    assert f"/botstatus ack {name}" in command(app, "alice", f"ack {typo}")
    quiet(app)

    assert not current(app, alert)["edited"]
    assert replies(app, alert) == []
    assert [(e.action, e.outcome) for e in audit(app, "ack", "unack")] == [
        ("ack", "unknown_bot"),
        ("ack", "no_incident"),
        ("unack", "not_acked"),
        ("ack", "unknown_bot"),
    ]


# -- what an acknowledgement changes ----------------------------------------------------------


def reminders(app: AppUnderTest, message: dict[str, Any]) -> list[str]:
    return [reply for reply in replies(app, message) if "Still" in reply]


def remind_later(app: AppUnderTest, clock: ManualClock) -> None:
    alerts = app.runtime.alerts
    assert alerts is not None
    clock.advance(timedelta(hours=5))
    app.run(alerts.tick_reminders_and_mutes())
    quiet(app)


def test_reminders_stop_while_acknowledged_and_resume_once_released(
    app: AppUnderTest, clock: ManualClock
) -> None:
    _, name, alert = down_bot(app)
    quiet(app)
    remind_later(app, clock)
    assert len(reminders(app, alert)) == 1

    command(app, "alice", f"ack {name}")
    owned(app, alert)
    remind_later(app, clock)
    remind_later(app, clock)
    assert len(reminders(app, alert)) == 1

    command(app, "alice", f"unack {name}")
    remind_later(app, clock)
    assert len(reminders(app, alert)) == 2


def test_an_escalation_keeps_the_owner_and_mentions_them_in_the_thread(
    app: AppUnderTest,
) -> None:
    bot = healthy_bot(app, 2)
    first, second = sorted(e["lpAccountUser"] for e in app.lp.fake.bots() if e["botId"] == bot.id)
    fail(app, bot.id, first)
    alert = alert_about(app, bot.name)
    assert "Degraded" in alert["text"]
    app.users["alice"].click(alert, ACK)
    owned(app, alert)

    fail(app, bot.id, second)
    app.fake_slack.wait_for(lambda: "is Down" in current(app, alert)["text"], what="escalation")
    quiet(app)

    now = current(app, alert)
    assert OWNED_BY_ALICE in shown(app, alert)
    assert not has_ack_button(now)
    escalation = replies(app, alert)[-1]
    assert "now *Down*" in escalation
    assert "<@U0ALICE>: you acknowledged it" in escalation


def test_recovery_ends_the_acknowledgement_and_still_says_who_had_it(app: AppUnderTest) -> None:
    bot_id, name, alert = down_bot(app)
    command(app, "alice", f"ack {name}")
    owned(app, alert)

    recover(app, bot_id)
    app.fake_slack.wait_for(lambda: current(app, alert)["text"].startswith("Resolved"))
    quiet(app)
    resolved = shown(app, alert)
    assert "Acknowledged by <@U0ALICE> at" in resolved
    assert "<@U0ALICE> had acknowledged it" in replies(app, alert)[-1]
    assert "has no open alert" in command(app, "alice", f"unack {name}")

    fail(app, bot_id)
    app.fake_slack.wait_for(lambda: len(app.fake_slack.messages(ALERTS)) == 2)
    again = alert_about(app, name)
    assert again["ts"] != alert["ts"]
    assert has_ack_button(again)
    assert "Acknowledged" not in text_of(again)


# -- digests ----------------------------------------------------------------------------------


def test_a_digest_is_acknowledged_for_all_its_open_bots(
    app: AppUnderTest, clock: ManualClock
) -> None:
    bots = fleet.healthy_bots(app.lp.fake)[:7]
    for entry in bots:
        app.lp.fake.set_fields(entry["botId"], cbSocketStatus="NOT_CONNECTED")
    app.poll()
    digest = alert_about(app, "7 bot alerts")
    assert has_ack_button(digest)

    app.users["alice"].click(digest, ACK)
    owned(app, digest)
    quiet(app)
    assert not has_ack_button(current(app, digest))
    assert "acknowledged the 7 open bots of this digest" in replies(app, digest)[0]
    remind_later(app, clock)
    assert reminders(app, digest) == []

    name = str(bots[0]["botName"])
    assert "already acknowledged by you" in command(app, "alice", f"ack {name}")
    command(app, "alice", f"unack {name}")
    app.fake_slack.wait_for(lambda: "released" in replies(app, digest)[-1])
    assert name in replies(app, digest)[-1]
    remind_later(app, clock)
    (reminder,) = reminders(app, digest)
    assert "*1* bots" in reminder
    assert [(e.action, e.outcome) for e in audit(app, "ack", "unack")] == [
        ("ack", "ok"),
        ("unack", "ok"),
    ]


# -- several replicas -------------------------------------------------------------------------


@pytest.fixture
def two_replicas(
    fake_lp: LPServer, fake_slack: SlackServer, postgres_url: str
) -> Iterator[tuple[AppUnderTest, AppUnderTest]]:
    settings = app_settings(fake_lp, fake_slack, postgres_url, alerts=alerting())
    yield from start_two_replicas(settings, fake_lp, fake_slack)


def leader(replicas: tuple[AppUnderTest, AppUnderTest]) -> AppUnderTest:
    return next(replica for replica in replicas if replica.runtime.poller.leads())


@pytest.mark.postgres
def test_clicks_at_two_replicas_acknowledge_once_and_both_know_it(
    two_replicas: tuple[AppUnderTest, AppUnderTest],
) -> None:
    first, _ = two_replicas
    polling = leader(two_replicas)
    _, name, alert = down_bot(polling)
    alice = first.users["alice"]
    urls = [f"{replica.url}/slack/events" for replica in two_replicas]

    assert at_once(alice, alice.click_delivery(alert, ACK), *urls) == [200, 200]
    assert at_once(alice, alice.click_delivery(alert, ACK), *urls) == [200, 200]
    owned(first, alert)
    quiet(first)

    assert len(replies(first, alert)) == 1
    assert [entry.outcome for entry in audit(first, "ack")] == ["ok"]
    for replica in two_replicas:
        assert "already acknowledged by you" in command(replica, "alice", f"ack {name}")


# -- the status source ------------------------------------------------------------------------


def test_the_status_source_alert_is_acknowledged_by_someone_whose_ack_covers_every_bot(
    make_app: MakeApp, sqlite_url: str, clock: ManualClock
) -> None:
    # bob may acknowledge faq-* bots only, so not what concerns every bot.
    rules = (*TEST_PERMISSIONS, PermissionRule(users=("U0BOB",), allow=("ack",), bots=("faq-*",)))
    app = make_app(sqlite_url, clock=clock, alerts=alerting(), permissions=rules)
    alerts = app.runtime.alerts
    assert alerts is not None
    app.lp.fake.add_fault("status", status=503, times=-1)
    for _ in range(3):
        app.poll()
    app.run(alerts.tick_reminders_and_mutes())
    alert = alert_about(app, "The status source is unreachable")
    assert has_ack_button(alert)

    assert app.users["bob"].click(alert, ACK).status_code == 200
    ephemeral_saying(app, "bob", "it needs `ack` on all of them")
    assert app.users["alice"].click(alert, ACK).status_code == 200
    owned(app, alert)
    quiet(app)
    assert "<@U0ALICE> acknowledged this alert" in replies(app, alert)[0]
    remind_later(app, clock)
    assert reminders(app, alert) == []

    app.lp.fake.clear_faults()
    app.poll()
    app.fake_slack.wait_for(lambda: "reachable again" in current(app, alert)["text"])
    assert "Acknowledged by <@U0ALICE> at" in shown(app, alert)
    assert [(e.user_id, e.target, e.outcome) for e in audit(app, "ack")] == [
        ("U0BOB", "status source", "refused"),
        ("U0ALICE", "status source", "ok"),
    ]


# -- maintenance windows ----------------------------------------------------------------------


def test_ack_within_a_maintenance_window_keeps_its_owner_and_says_why_there_is_no_alert(
    app: AppUnderTest, clock: ManualClock
) -> None:
    alerted, held = fleet.healthy_bots(app.lp.fake, "billing")[:2]
    held_id, held_name = str(held["botId"]), str(held["botName"])
    alerted_id, name, alert = down_bot(app)
    assert alerted_id == str(alerted["botId"])
    command(app, "alice", f"ack {name}")
    owned(app, alert)
    assert "Maintenance window *#1*" in command(app, "alice", "maintenance billing-* now 1h")
    fail(app, held_id)
    # The outage the window holds back has no alert yet: said so, nothing acknowledged.
    answer = command(app, "alice", f"ack {held_name}")
    assert "has no open alert" in answer and "maintenance window" in answer
    assert "already acknowledged" in command(app, "alice", f"ack {name}")

    clock.advance(timedelta(hours=1, minutes=1))
    app.poll()
    quiet(app)
    # The alert acknowledged before the window is not sent again and keeps its owner.
    assert [m["text"] for m in app.fake_slack.messages(ALERTS)].count(f"{name} is Down") == 1
    assert OWNED_BY_ALICE in shown(app, alert)
    # The one the window held back comes now, and can be acknowledged like any other.
    late = alert_about(app, f"{held_name} is Down")
    assert has_ack_button(late)
    command(app, "alice", f"ack {held_name}")
    owned(app, late)
