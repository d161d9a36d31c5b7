"""Mutes (announced, silencing, expiring) and reminders in an outage's thread."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlmodel import col, select

from chatops.alerts.mutes import MuteError, list_mutes, mute, unmute
from chatops.alerts.render.mute_replies import mute_reply, mutes_reply, unmute_reply
from chatops.blockkit.limits import violations
from chatops.config import EnvSettings, PermissionRule
from chatops.permissions import Access
from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import RunningServer as SlackServer
from chatops.store.models import AuditEntry
from tests.alerts_runner import ALERTS, BILLING, AlertRig, build_rig
from tests.test_alerts_flow import healthy_bots


@pytest.fixture
async def rig(
    database_url: str, lp_secrets: EnvSettings, fake_slack: SlackServer
) -> AsyncIterator[AlertRig]:
    rig = build_rig(database_url, lp_secrets, fake_slack.fake.base_url, fake_slack.fake.bot_token)
    yield rig
    await rig.aclose()


def texts(slack: SlackServer, channel: str) -> list[str]:
    return [message["text"] for message in slack.fake.messages(channel)]


async def test_a_muted_bot_does_not_alert_and_the_mute_is_announced_and_expires(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    bot = healthy_bots(fake_lp, "billing")[0]
    await rig.poll()
    result = await rig.service.mute(
        "billing-*", timedelta(hours=2), "deploy", "U0ALICE", rig.clock()
    )
    assert result.matching > 1
    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="NOT_CONNECTED")
    await rig.polls(3)
    await rig.deliver_all()
    assert texts(fake_slack, BILLING) == ["Alerts muted for billing-*"]
    assert [view.target for view in await rig.service.list_mutes(rig.clock())] == ["billing-*"]

    rig.clock.advance(timedelta(hours=2, minutes=1))
    await rig.service.tick_reminders_and_mutes()
    await rig.service.tick_reminders_and_mutes()
    await rig.deliver_all()

    announced = fake_slack.fake.messages(BILLING)
    assert [m["text"] for m in announced] == [
        "Alerts muted for billing-*",
        "Alerts for billing-* are back on",
    ]
    still = announced[1]["blocks"][1]["text"]["text"]
    assert f"{bot['botName']}: Down" in still
    assert await rig.service.list_mutes(rig.clock()) == []


async def test_a_recovery_while_muted_still_updates_the_open_alert(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    bot = healthy_bots(fake_lp, "billing")[0]
    await rig.poll()
    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="NOT_CONNECTED")
    await rig.polls(2)
    await rig.service.mute(bot["botName"], timedelta(hours=1), None, "U0ALICE", rig.clock())
    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="CONNECTED")
    await rig.polls(2)
    await rig.deliver_all()

    alert, muted = fake_slack.fake.messages(BILLING)
    assert alert["text"] == f"Resolved: {bot['botName']} recovered"
    assert [reply["text"] for reply in alert["replies"]] == [f"{bot['botName']} is OK again"]
    assert muted["text"] == f"Alerts muted for {bot['botName']}"


async def test_unmute_by_name_ends_the_glob_that_covers_it_and_says_so(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    bot = healthy_bots(fake_lp, "billing")[0]
    await rig.poll()
    await rig.service.mute("BILLING-*", timedelta(hours=1), None, "U0ALICE", rig.clock())
    result = await rig.service.unmute(bot["botName"], "U0BOB", rig.clock())
    await rig.deliver_all()

    assert [view.target for view in result.ended] == ["BILLING-*"]
    assert texts(fake_slack, BILLING) == [
        "Alerts muted for BILLING-*",
        "Alerts for BILLING-* are back on",
    ]
    assert "<@U0BOB> unmuted" in fake_slack.fake.messages(BILLING)[1]["blocks"][0]["text"]["text"]
    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="NOT_CONNECTED")
    await rig.polls(2)
    await rig.deliver_all()
    assert texts(fake_slack, BILLING)[-1] == f"{bot['botName']} is Down"


async def test_a_mute_ended_before_it_was_announced_is_never_announced(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    await rig.poll()
    now = rig.clock()
    await mute(rig.sessions, "billing-*", timedelta(hours=1), None, "U0ALICE", now)
    await unmute(rig.sessions, "billing-*", "U0ALICE", now)
    await rig.service.tick_reminders_and_mutes()
    await rig.deliver_all()

    assert fake_slack.fake.calls("chat.postMessage") == []


async def test_mute_refuses_an_empty_target_and_silly_durations(rig: AlertRig) -> None:
    now = rig.clock()
    with pytest.raises(MuteError, match="Say which bot"):
        await mute(rig.sessions, "  ", timedelta(hours=1), None, "U0ALICE", now)
    with pytest.raises(MuteError, match="longer than zero"):
        await mute(rig.sessions, "x", timedelta(0), None, "U0ALICE", now)
    with pytest.raises(MuteError, match="at most 30d"):
        await mute(rig.sessions, "x", timedelta(days=31), None, "U0ALICE", now)
    assert await list_mutes(rig.sessions, now) == []


async def test_the_replies_to_mute_commands_fit_slack_and_escape_what_people_typed(
    rig: AlertRig,
) -> None:
    now = rig.clock()
    result = await mute(
        rig.sessions, "<!channel>*", timedelta(hours=3), "a" * 600 + "<@U1>", "U0ALICE", now
    )
    for _ in range(60):
        await mute(rig.sessions, "x" * 300, timedelta(hours=1), "r" * 500, "U0BOB", now)
    replies = [
        mute_reply(result),
        mutes_reply(await list_mutes(rig.sessions, now), now),
        unmute_reply(await unmute(rig.sessions, "nothing", "U0ALICE", now)),
        unmute_reply(await unmute(rig.sessions, "<!channel>*", "U0ALICE", now)),
    ]
    for reply in replies:
        assert violations(reply) == []
        assert "<!channel>" not in str(reply)
    assert "No bot matches it now" in str(replies[0])
    assert "and 21 more" in str(replies[1])


async def test_an_open_outage_is_reminded_in_its_thread_every_remind_every(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    bot = healthy_bots(fake_lp, "billing")[0]
    await rig.poll()
    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="NOT_CONNECTED")
    await rig.polls(2)
    await rig.deliver_all()
    await rig.service.tick_reminders_and_mutes()
    rig.clock.advance(timedelta(hours=4))
    await rig.service.tick_reminders_and_mutes()
    await rig.service.tick_reminders_and_mutes()
    await rig.deliver_all()

    (alert,) = fake_slack.fake.messages(BILLING)
    assert [reply["text"] for reply in alert["replies"]] == [f"Still Down: {bot['botName']}"]

    rig.clock.advance(timedelta(hours=4))
    await rig.service.tick_reminders_and_mutes()
    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="CONNECTED")
    await rig.polls(2)
    rig.clock.advance(timedelta(hours=4))
    await rig.service.tick_reminders_and_mutes()
    await rig.deliver_all()

    (alert,) = fake_slack.fake.messages(BILLING)
    assert [reply["text"] for reply in alert["replies"]] == [
        f"Still Down: {bot['botName']}",
        f"Still Down: {bot['botName']}",
        f"{bot['botName']} is OK again",
    ]
    assert texts(fake_slack, ALERTS) == []


@dataclass(frozen=True)
class MuteCommand:
    target: str
    duration: timedelta = timedelta(hours=1)
    reason: str | None = "deploy"


def access(user_id: str, *rules: PermissionRule) -> Access:
    return Access(user_id=user_id, email=None, groups=frozenset(), rules=rules)


ALICE = access("U0ALICE", PermissionRule(users=("U0ALICE",), allow=("view", "mute")))
BOB = access("U0BOB", PermissionRule(users=("U0BOB",), allow=("view", "mute"), bots=("billing-*",)))


async def audit_rows(rig: AlertRig) -> list[tuple[str, str, str]]:
    async with rig.sessions() as session:
        rows = (await session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))).all()
    return [(row.user_id, row.action, row.outcome) for row in rows]


async def test_the_mute_service_mutes_what_the_user_may_mute_and_audits_every_attempt(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    await rig.poll()
    service = rig.service.mute_service()

    refused = await service.mute_reply(MuteCommand("*-bot-*"), BOB, "U0BOB", "bob")
    nothing = await service.mute_reply(MuteCommand("no-such-*"), BOB, "U0BOB", "bob")
    muted = await service.mute_reply(MuteCommand("billing-*"), BOB, "U0BOB", "bob")
    everything = await service.mute_reply(MuteCommand("no-such-*"), ALICE, "U0ALICE", "alice")
    listed = await service.list_reply(BOB)
    unmuted = await service.unmute_reply(MuteCommand("billing-*"), BOB, "U0BOB", "bob")
    await rig.deliver_all()

    assert "matches bots your *mute* permission does not cover" in str(refused)
    assert "Muted alerts for `no-such-*`" in str(nothing)
    assert "only bots your *mute* permission covers (`billing-*`)" in str(nothing)
    assert "Muted alerts for `billing-*`" in str(muted)
    assert "Muted alerts for `no-such-*`" in str(everything)
    assert "`billing-*`" in str(listed) and "`no-such-*`" in str(listed)
    assert "Ended 1 mute" in str(unmuted)
    for reply in (refused, nothing, muted, everything, listed, unmuted):
        assert violations(reply) == []
    for name in (b["botName"] for b in healthy_bots(fake_lp)):
        assert name not in str(refused)
    assert texts(fake_slack, BILLING) == [
        "Alerts muted for billing-*",
        "Alerts for billing-* are back on",
    ]
    assert await audit_rows(rig) == [
        ("U0BOB", "mute", "refused"),
        ("U0BOB", "mute", "ok"),
        ("U0BOB", "mute", "ok"),
        ("U0ALICE", "mute", "ok"),
        ("U0BOB", "unmute", "ok"),
    ]
