"""Mutes stay within their author's scope: creating, ending and silencing.

bob's *mute* permission covers ``billing-*`` only; alice's covers every bot. The fleet is the
fake LivePerson's (billing-bot-1 and billing-bot-2 among about 40 others); bots added after
a mute are new bots in the fake, found by the next poll.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import col, select

from chatops.alerts.mutes import MuteService
from chatops.blockkit.limits import violations
from chatops.config import PermissionRule
from chatops.permissions import Access
from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import RunningServer as SlackServer
from chatops.store.alert_models import AlertMute
from chatops.store.models import AuditEntry
from tests.alerts_runner import ALERTS, BILLING, AlertRig, alerts_config
from tests.fixtures.app import TEST_PERMISSIONS, AppUnderTest, app_settings, start_app
from tests.test_alerts_flow import healthy_bots
from tests.test_alerts_mutes import ALICE, BOB, MuteCommand, rig, texts

__all__ = ["rig"]  # the fixture, shared with tests.test_alerts_mutes

CHARLIE = Access(user_id="U0CHARLIE", email=None, groups=frozenset(), rules=())


def bot_named(fake_lp: LPServer, name: str) -> dict[str, Any]:
    return next(entry for entry in fake_lp.fake.bots() if entry.get("botName") == name)


def take_down(fake_lp: LPServer, *names: str) -> None:
    for name in names:
        fake_lp.fake.set_fields(bot_named(fake_lp, name)["botId"], cbSocketStatus="NOT_CONNECTED")


def alerted(slack: SlackServer, channel: str, name: str) -> bool:
    return f"{name} is Down" in texts(slack, channel)


async def audit(rig: AlertRig) -> list[tuple[str, str, str, str | None]]:
    async with rig.sessions() as session:
        rows = (await session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))).all()
    return [(row.user_id, row.action, row.outcome, row.detail) for row in rows]


async def active_targets(rig: AlertRig) -> list[str]:
    return [view.target for view in await rig.service.list_mutes(rig.clock())]


async def muted(
    rig: AlertRig, target: str, who: Access = ALICE
) -> tuple[MuteService, dict[str, Any]]:
    """After a first poll, ``who`` mutes ``target``: the mute service and the reply."""
    await rig.poll()
    service = rig.service.mute_service()
    reply = await service.mute_reply(MuteCommand(target), who, who.user_id, None)
    return service, reply


async def added_and_down(rig: AlertRig, fake_lp: LPServer, *names: str) -> None:
    """New bots appear in the fleet, are seen once, then go down for long enough to alert."""
    like = healthy_bots(fake_lp, "faq")[0]["botId"]
    added = [fake_lp.fake.add_bot(name, like=like) for name in names]
    await rig.poll()  # first sight of the new bots: a baseline
    for bot_id in added:
        fake_lp.fake.set_fields(bot_id, cbSocketStatus="NOT_CONNECTED")
    await rig.polls(3)
    await rig.deliver_all()


async def test_a_scoped_unmute_under_a_wider_mute_turns_alerts_on_only_for_that_bot(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    service, _ = await muted(rig, "*")

    reply = await service.unmute_reply(MuteCommand("billing-bot-1"), BOB, "U0BOB", "bob")

    text = str(reply)
    assert "Alerts are back on for `billing-bot-1`" in text
    assert "`*`" in text and "<@U0ALICE>" in text and "stays in force" in text
    assert violations(reply) == []
    assert await active_targets(rig) == ["*"]
    listed = str(await service.list_reply(ALICE))
    assert "except `billing-bot-1`" in listed and "<@U0BOB>" in listed

    take_down(fake_lp, "billing-bot-1", "billing-bot-2", "faq-bot-1")
    await rig.polls(3)
    await rig.deliver_all()
    assert alerted(fake_slack, BILLING, "billing-bot-1")
    assert not alerted(fake_slack, BILLING, "billing-bot-2")
    assert not alerted(fake_slack, ALERTS, "faq-bot-1")
    # The billing channel hears that alerts came back for that bot, and from whom.
    (notice,) = [m for m in fake_slack.fake.messages(BILLING) if "back on" in m["text"]]
    assert "billing-bot-1" in str(notice) and "<@U0BOB>" in str(notice)
    assert "`*`" in str(notice)
    (row,) = [row for row in await audit(rig) if row[1] == "unmute"]
    assert row[:3] == ("U0BOB", "unmute", "ok")
    assert row[3] is not None and "billing-bot-1" in row[3]


async def test_a_scoped_person_may_not_end_a_mute_that_covers_bots_outside_their_scope(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    service, _ = await muted(rig, "*")
    await rig.deliver_all()
    before = texts(fake_slack, ALERTS)

    refused = await service.unmute_reply(MuteCommand("*"), BOB, "U0BOB", "bob")
    await rig.service.tick_reminders_and_mutes()
    await rig.deliver_all()

    text = str(refused)
    assert "Nothing was done" in text
    assert "*mute* permission" in text and "`billing-*`" in text
    assert await active_targets(rig) == ["*"]
    assert texts(fake_slack, ALERTS) == before
    refusal = (await audit(rig))[-1]
    assert refusal[:3] == ("U0BOB", "unmute", "refused")
    assert refusal[3] is not None and "billing-*" in refusal[3]
    take_down(fake_lp, "faq-bot-1")
    await rig.polls(3)
    await rig.deliver_all()
    assert not alerted(fake_slack, ALERTS, "faq-bot-1")


async def test_a_scoped_person_may_not_mute_bots_outside_their_scope_and_is_told_why(
    rig: AlertRig, fake_lp: LPServer
) -> None:
    _, refused = await muted(rig, "*-bot-1", BOB)

    assert "matches bots your *mute* permission does not cover" in str(refused)
    assert "`billing-*`" in str(refused)
    for entry in fake_lp.fake.bots():
        if not str(entry.get("botName", "")).startswith("billing"):
            assert str(entry.get("botName")) not in str(refused)
    assert await active_targets(rig) == []
    (row,) = await audit(rig)
    assert row[:3] == ("U0BOB", "mute", "refused")


async def test_a_scoped_mute_never_silences_a_bot_added_later_outside_its_authors_scope(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    # Today "bil*" matches billing bots only, so bob may set it.
    _, reply = await muted(rig, "bil*", BOB)
    assert "Muted alerts for `bil*`" in str(reply)
    assert "`billing-*`" in str(reply)  # it says it stays within bob's scope

    await added_and_down(rig, fake_lp, "bilingual-bot-1", "billing-bot-9")

    assert alerted(fake_slack, ALERTS, "bilingual-bot-1")
    assert not alerted(fake_slack, BILLING, "billing-bot-9")
    assert not alerted(fake_slack, ALERTS, "billing-bot-9")


async def test_a_scoped_mute_of_bots_that_do_not_exist_yet_covers_only_the_authors_scope(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    _, reply = await muted(rig, "*-canary", BOB)
    assert "Muted alerts for `*-canary`" in str(reply)
    assert "No bot matches it now" in str(reply)

    await added_and_down(rig, fake_lp, "faq-canary", "billing-canary")

    assert alerted(fake_slack, ALERTS, "faq-canary")
    assert not alerted(fake_slack, BILLING, "billing-canary")


async def test_a_scoped_person_ends_a_mute_that_lies_within_their_scope(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    service, _ = await muted(rig, "billing-*")

    reply = await service.unmute_reply(MuteCommand("billing-*"), BOB, "U0BOB", "bob")
    await rig.deliver_all()

    assert "Ended 1 mute" in str(reply)
    assert await active_targets(rig) == []
    assert texts(fake_slack, BILLING) == [
        "Alerts muted for billing-*",
        "Alerts for billing-* are back on",
    ]


async def test_someone_without_the_mute_permission_ends_nothing_and_is_audited(
    rig: AlertRig, fake_lp: LPServer
) -> None:
    service, _ = await muted(rig, "*")

    refused = await service.unmute_reply(MuteCommand("billing-bot-1"), CHARLIE, "U0CHARLIE", None)

    assert "*mute* permission" in str(refused)
    assert await active_targets(rig) == ["*"]
    async with rig.sessions() as session:
        (row,) = (await session.exec(select(AlertMute))).all()
    assert row.ended_at is None
    assert (await audit(rig))[-1][:3] == ("U0CHARLIE", "unmute", "refused")


# -- through the real app ------------------------------------------------------------------

# bob may mute billing bots only.
SCOPED_PERMISSIONS = (
    *TEST_PERMISSIONS,
    PermissionRule(users=("U0BOB",), allow=("mute",), bots=("billing-*",)),
)


@pytest.fixture
def scoped_app(
    fake_lp: LPServer, fake_slack: SlackServer, database_url: str
) -> Iterator[AppUnderTest]:
    settings = app_settings(
        fake_lp,
        fake_slack,
        database_url,
        permissions=SCOPED_PERMISSIONS,
        alerts=alerts_config(),
    )
    yield from start_app(settings, fake_lp, fake_slack)


def test_bob_unmuting_one_billing_bot_in_slack_leaves_alices_mute_of_everything_in_force(
    scoped_app: AppUnderTest,
) -> None:
    alice, bob = scoped_app.users["alice"], scoped_app.users["bob"]
    assert alice.command("mute * 2h maintenance").status_code == 200

    reply = bob.command("unmute billing-bot-1")

    assert reply.status_code == 200
    assert "Alerts are back on for `billing-bot-1`" in reply.text
    listed = alice.command("mutes").json()
    assert "`*`" in str(listed) and "except `billing-bot-1`" in str(listed)
    refused = bob.command("unmute *").json()
    assert "Nothing was done" in str(refused)
    assert "`*`" in str(alice.command("mutes").json())
