"""The Slack surface end to end: signed requests over HTTP to the real ASGI app and Bolt,
the real store, and the sandbox fakes for LivePerson and Slack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from chatops.blockkit.limits import violations
from chatops.config import AlertsConfig
from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import RunningServer as SlackServer
from chatops.store.models import AuditEntry, Bot
from tests.fixtures.app import AppUnderTest, app_settings, start_app


def _reply(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _text_of(message: dict[str, Any]) -> str:
    return json.dumps(message)


def _bots(app: AppUnderTest) -> list[Bot]:
    async def load() -> list[Bot]:
        async with app.runtime.sessions() as session:
            return list((await session.exec(select(Bot))).all())

    return app.run(load())


def _audit(app: AppUnderTest) -> list[AuditEntry]:
    async def load() -> list[AuditEntry]:
        async with app.runtime.sessions() as session:
            return list((await session.exec(select(AuditEntry).order_by(AuditEntry.id))).all())  # type: ignore[arg-type]

    return app.run(load())


def _settled(app: AppUnderTest, count: int) -> list[AuditEntry]:
    """The audit rows once there are ``count`` and none is pending (a click still running)."""

    def done() -> bool:
        entries = _audit(app)
        return len(entries) == count and all(entry.outcome != "pending" for entry in entries)

    app.fake_slack.wait_for(done, what=f"{count} settled audit rows")
    return _audit(app)


def _bot_named(app: AppUnderTest, prefix: str, kind: str = "custom") -> Bot:
    """A bot of one connector whose name starts with ``prefix`` (tests/test_slack_connectors.py
    covers bots of several)."""
    return next(
        bot
        for bot in sorted(_bots(app), key=lambda bot: bot.name)
        if bot.name.startswith(prefix) and bot.kind == kind and bot.connectors == 1
    )


def _shown(app: AppUnderTest, user: str, text: str) -> dict[str, Any]:
    """Run ``/botstatus text`` as ``user``; the ephemeral message Slack showed them."""
    reply = _reply(app.users[user].command(text))
    assert reply["response_type"] == "ephemeral"
    return app.fake_slack.ephemerals(app.users[user].user_id)[-1]


def _detail_message(app: AppUnderTest, user: str, bot: Bot) -> dict[str, Any]:
    return _shown(app, user, bot.id)


def test_alice_gets_the_summary(chatops_app: AppUnderTest) -> None:
    reply = _reply(chatops_app.users["alice"].command(""))
    assert reply["response_type"] == "ephemeral"
    assert reply["blocks"][0]["text"]["text"] == "Bots Status"
    total = len(_bots(chatops_app))
    assert f"*{total:,}* bots" in _text_of(reply)
    assert violations(reply, surface="message") == []


def test_charlie_is_refused_without_any_bot_name(chatops_app: AppUnderTest) -> None:
    reply = _reply(chatops_app.users["charlie"].command(""))
    text = _text_of(reply)
    assert "*view* permission" in text
    assert "#bot-ops" in text
    for bot in _bots(chatops_app):
        assert bot.name not in text
        assert bot.id not in text


def test_charlie_asking_for_a_bot_by_name_learns_nothing(chatops_app: AppUnderTest) -> None:
    bot = _bots(chatops_app)[0]
    known = _text_of(_reply(chatops_app.users["charlie"].command(bot.name)))
    unknown = _text_of(_reply(chatops_app.users["charlie"].command("no-such-bot-anywhere")))
    assert known == unknown


def test_a_forged_signature_gets_401_and_does_nothing(chatops_app: AppUnderTest) -> None:
    bot = _bot_named(chatops_app, "billing")
    message = _detail_message(chatops_app, "alice", bot)
    forged = chatops_app.users["alice"].forged()
    assert forged.command("").status_code == 401
    assert forged.click(message, "bot_stop").status_code == 401
    assert chatops_app.lp.fake.stop_count(bot.id) == 0
    assert _audit(chatops_app) == []


def test_a_replayed_request_gets_401_and_does_nothing(chatops_app: AppUnderTest) -> None:
    bot = _bot_named(chatops_app, "billing")
    message = _detail_message(chatops_app, "alice", bot)
    replayer = chatops_app.users["alice"].replaying(age_seconds=301)
    assert replayer.command("").status_code == 401
    assert replayer.click(message, "bot_stop").status_code == 401
    assert chatops_app.lp.fake.stop_count(bot.id) == 0
    assert _audit(chatops_app) == []


def test_alice_stops_a_bot_once_even_when_clicking_twice(chatops_app: AppUnderTest) -> None:
    bot = _bot_named(chatops_app, "billing")
    message = _detail_message(chatops_app, "alice", bot)
    stop = next(
        element
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element.get("action_id") == "bot_stop"
    )
    assert "confirm" in stop
    alice = chatops_app.users["alice"]
    assert alice.click(message, "bot_stop").status_code == 200
    assert alice.click(message, "bot_stop").status_code == 200
    fake = chatops_app.fake_slack
    entries = _settled(chatops_app, 2)
    assert chatops_app.lp.fake.stop_count(bot.id) == 1
    outcomes = sorted(entry.outcome for entry in entries)
    assert outcomes == ["duplicate", "ok"]
    assert all(
        entry.user_id == "U0ALICE" and entry.target == bot.id for entry in _audit(chatops_app)
    )
    # The original message now says who stopped the bot.
    fake.wait_for(lambda: any("stopped" in _text_of(m) for m in fake.ephemerals("U0ALICE")))


def test_bob_may_not_stop_a_billing_bot(chatops_app: AppUnderTest) -> None:
    bot = _bot_named(chatops_app, "billing")
    # bob sees no Stop button; he replays alice's button as if he had it.
    message = _detail_message(chatops_app, "alice", bot)
    assert chatops_app.users["bob"].click(message, "bot_stop").status_code == 200
    chatops_app.fake_slack.wait_for(lambda: len(_audit(chatops_app)) == 1)
    (entry,) = _audit(chatops_app)
    assert (entry.user_id, entry.outcome, entry.action) == ("U0BOB", "refused", "stop")
    assert chatops_app.lp.fake.stop_count(bot.id) == 0


def test_bob_sees_no_stop_button_on_a_bot_outside_his_globs(chatops_app: AppUnderTest) -> None:
    bot = _bot_named(chatops_app, "billing")
    reply = _detail_message(chatops_app, "bob", bot)
    assert "bot_stop" not in _text_of(reply)
    assert bot.name in _text_of(reply)


def test_a_button_value_changed_to_a_bot_outside_the_users_globs_is_refused(
    chatops_app: AppUnderTest,
) -> None:
    faq = _bot_named(chatops_app, "faq")
    billing = _bot_named(chatops_app, "billing")
    message = _detail_message(chatops_app, "bob", faq)
    assert "bot_stop" in _text_of(message)
    bob = chatops_app.users["bob"]
    assert bob.click(message, "bot_stop", value=billing.id).status_code == 200
    chatops_app.fake_slack.wait_for(lambda: len(_audit(chatops_app)) == 1)
    (entry,) = _audit(chatops_app)
    assert (entry.target, entry.outcome) == (billing.id, "refused")
    assert chatops_app.lp.fake.stop_count(billing.id) == 0
    assert chatops_app.lp.fake.stop_count(faq.id) == 0


def test_a_button_naming_a_bot_that_does_not_exist_is_refused(chatops_app: AppUnderTest) -> None:
    bot = _bot_named(chatops_app, "billing")
    message = _detail_message(chatops_app, "alice", bot)
    alice = chatops_app.users["alice"]
    assert alice.click(message, "bot_stop", value="no-such-bot").status_code == 200
    chatops_app.fake_slack.wait_for(lambda: len(_audit(chatops_app)) == 1)
    (entry,) = _audit(chatops_app)
    assert (entry.target, entry.outcome) == ("no-such-bot", "unknown_bot")
    actions = [r for r in chatops_app.lp.fake.requests() if r["method"] == "PUT"]
    assert actions == []


def test_an_unknown_word_gets_help_with_a_suggestion(chatops_app: AppUnderTest) -> None:
    reply = _reply(chatops_app.users["alice"].command("problms"))
    assert "Did you mean" in _text_of(reply)
    assert "/botstatus problems" in _text_of(reply)


def test_history_shows_a_transition_after_it_happened(chatops_app: AppUnderTest) -> None:
    bot = _bot_named(chatops_app, "billing")
    chatops_app.lp.fake.set_fields(bot.id, cbSocketStatus="NOT_CONNECTED")
    result = chatops_app.poll()
    assert result is not None and result.ok
    reply = _reply(chatops_app.users["alice"].command(f"history {bot.name}"))
    text = _text_of(reply)
    assert "Not Connected" in text
    assert violations(reply, surface="message") == []


def test_share_posts_the_view_in_the_channel(chatops_app: AppUnderTest) -> None:
    reply = _shown(chatops_app, "alice", "problems")
    alice = chatops_app.users["alice"]
    assert alice.click(reply, "share", channel="C0GENERAL").status_code == 200
    fake = chatops_app.fake_slack
    fake.wait_for(lambda: len(fake.messages("C0GENERAL")) == 1)
    (posted,) = fake.messages("C0GENERAL")
    assert "Problem bots" in _text_of(posted)
    assert "share" not in [
        e.get("action_id")
        for b in posted["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def test_app_home_shows_the_dashboard_to_alice_and_an_explanation_to_charlie(
    chatops_app: AppUnderTest,
) -> None:
    fake = chatops_app.fake_slack
    assert chatops_app.users["alice"].open_home().status_code == 200
    assert chatops_app.users["charlie"].open_home().status_code == 200
    fake.wait_for(lambda: fake.home("U0ALICE") is not None and fake.home("U0CHARLIE") is not None)
    alice_home = fake.home("U0ALICE")
    charlie_home = fake.home("U0CHARLIE")
    assert alice_home is not None and charlie_home is not None
    assert violations(alice_home, surface="home") == []
    assert "Production" in _text_of(alice_home)
    assert "*view* permission" in _text_of(charlie_home)
    for bot in _bots(chatops_app):
        assert bot.name not in _text_of(charlie_home)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=st.text(max_size=300) | st.text(alphabet="\x00\x01\n\t *?<>&\"'", max_size=50))
def test_any_text_after_botstatus_gets_a_reply(chatops_app: AppUnderTest, text: str) -> None:
    response = chatops_app.users["alice"].command(text)
    reply = _reply(response)
    assert reply.get("blocks") or reply.get("text")
    assert violations(reply, surface="message") == []


def test_a_huge_text_gets_a_reply(chatops_app: AppUnderTest) -> None:
    reply = _reply(chatops_app.users["alice"].command("x" * 100_000))
    assert violations(reply, surface="message") == []


def _stopped_bot(app: AppUnderTest) -> Bot:
    bot = _bot_named(app, "billing")
    app.lp.fake.set_fields(bot.id, nodeStatus="STOPPED")
    result = app.poll()
    assert result is not None and result.ok
    return bot


def test_charlie_may_not_start_a_bot(chatops_app: AppUnderTest) -> None:
    bot = _stopped_bot(chatops_app)
    message = _detail_message(chatops_app, "alice", bot)
    assert "bot_start" in _text_of(message)
    assert chatops_app.users["charlie"].click(message, "bot_start").status_code == 200
    chatops_app.fake_slack.wait_for(lambda: len(_audit(chatops_app)) == 1)
    (entry,) = _audit(chatops_app)
    assert (entry.user_id, entry.action, entry.outcome) == ("U0CHARLIE", "start", "refused")
    assert chatops_app.lp.fake.start_count(bot.id) == 0


def test_alice_starts_a_stopped_bot_and_hears_when_it_is_online(
    chatops_app: AppUnderTest,
) -> None:
    bot = _stopped_bot(chatops_app)
    chatops_app.runtime.services.start_followup_every = timedelta(seconds=0.2)
    message = _detail_message(chatops_app, "alice", bot)
    assert chatops_app.users["alice"].click(message, "bot_start").status_code == 200
    fake = chatops_app.fake_slack
    fake.wait_for(lambda: chatops_app.lp.fake.start_count(bot.id) == 1)
    # The fake brings the connector Online after its start delay; the next poll sees it.
    fake.wait_for(
        lambda: any(
            entry["botId"] == bot.id and entry["nodeStatus"] == "ONLINE"
            for entry in chatops_app.lp.fake.bots()
        )
    )
    chatops_app.poll()
    fake.wait_for(lambda: any("Online again" in _text_of(m) for m in fake.ephemerals("U0ALICE")))


def test_bob_may_not_mute_and_nothing_is_muted(chatops_app: AppUnderTest) -> None:
    reply = _reply(chatops_app.users["bob"].command("mute billing-* 1h maintenance"))
    assert "*mute* permission" in _text_of(reply)
    listed = _reply(chatops_app.users["alice"].command("mutes"))
    assert "No active mutes" in _text_of(listed)
    (entry,) = _audit(chatops_app)
    assert (entry.user_id, entry.action, entry.outcome) == ("U0BOB", "mute", "refused")


def test_alice_mutes_and_unmutes_bots(chatops_app: AppUnderTest) -> None:
    reply = _reply(chatops_app.users["alice"].command("mute billing-* 2h deploy"))
    assert "Muted alerts for" in _text_of(reply)
    listed = _text_of(_reply(chatops_app.users["bob"].command("mutes")))
    assert "billing-*" in listed and "deploy" in listed
    reply = _reply(chatops_app.users["alice"].command("unmute billing-*"))
    assert "Ended 1 mute" in _text_of(reply)
    assert "No active mutes" in _text_of(_reply(chatops_app.users["alice"].command("mutes")))


@pytest.fixture
def alerting_app(
    fake_lp: LPServer, fake_slack: SlackServer, sqlite_url: str
) -> Iterator[AppUnderTest]:
    alerts = AlertsConfig(channel="C0ALERTS", confirm_polls=1)
    settings = app_settings(fake_lp, fake_slack, sqlite_url, alerts=alerts)
    yield from start_app(settings, fake_lp, fake_slack)


def test_an_alert_notice_names_the_person_who_stopped_the_bot_in_slack(
    alerting_app: AppUnderTest,
) -> None:
    app = alerting_app
    bot = _bot_named(app, "billing")
    message = _detail_message(app, "alice", bot)
    assert app.users["alice"].click(message, "bot_stop").status_code == 200
    app.fake_slack.wait_for(lambda: app.lp.fake.stop_count(bot.id) == 1)
    app.poll()
    fake = app.fake_slack
    fake.wait_for(lambda: any(bot.name in _text_of(m) for m in fake.messages("C0ALERTS")))
    (notice,) = fake.messages("C0ALERTS")
    assert "stopped by alice (in Slack)" in _text_of(notice)
    assert "not an outage" in _text_of(notice)
