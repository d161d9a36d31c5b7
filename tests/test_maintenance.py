"""Maintenance windows through the real alert pipeline: silence, start and end, what the
window hid, restarts, recurring windows across a change of the clocks, refusals.

alice's *mute* covers every bot; bob's covers ``billing-*`` only (the scoped persona);
charlie has no *mute*. Times are moved with the rig's clock, never waited for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from chatops.alerts.maintenance import MaintenanceService
from chatops.blockkit.limits import violations
from chatops.config import EnvSettings, MaintenanceConfig, PermissionRule
from chatops.domain.maintenance import time_zone
from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import RunningServer as SlackServer
from chatops.store.maintenance_models import MaintenanceWindow
from chatops.store.models import AuditEntry, utcnow
from tests.alerts_runner import BILLING, AlertRig, alerts_config, build_rig
from tests.clock import ManualClock
from tests.test_alerts_flow import healthy_bots
from tests.test_alerts_mutes import ALICE, BOB, access, rig, texts

__all__ = ["rig"]  # the fixture, shared with tests.test_alerts_mutes

LONDON = time_zone("Europe/London")
CHARLIE = access("U0CHARLIE", PermissionRule(users=("U0CHARLIE",), allow=("view",)))


@dataclass(frozen=True)
class Window:
    target: str
    start: str = "now"
    duration: timedelta = timedelta(hours=1)
    reason: str | None = "database upgrade"


def service(rig: AlertRig) -> MaintenanceService:
    return rig.service.maintenance_service()


def text_of(reply: dict[str, Any]) -> str:
    return "\n".join(block["text"]["text"] for block in reply["blocks"])


async def windows(rig: AlertRig) -> list[MaintenanceWindow]:
    async with rig.sessions() as session:
        return list((await session.exec(select(MaintenanceWindow))).all())


async def audit(rig: AlertRig) -> list[tuple[str, str, str]]:
    async with rig.sessions() as session:
        rows = (await session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))).all()
    return [(row.user_id, row.action, row.outcome) for row in rows]


def down(fake_lp: LPServer, bot: dict[str, Any]) -> None:
    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="NOT_CONNECTED")


def up(fake_lp: LPServer, bot: dict[str, Any]) -> None:
    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="CONNECTED")


async def test_a_window_silences_its_bots_then_alerts_what_it_hid_once(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    broken, back = healthy_bots(fake_lp, "billing")[:2]
    await rig.poll()
    reply = await service(rig).create_reply(Window("billing-*"), ALICE, "alice", LONDON)
    assert "Maintenance window *#1*" in text_of(reply)
    assert not violations(reply, surface="message")
    down(fake_lp, broken)
    down(fake_lp, back)
    await rig.polls(3)
    up(fake_lp, back)
    await rig.polls(3)
    await rig.deliver_all()
    assert texts(fake_slack, BILLING) == ["Maintenance of billing-* began"]

    rig.clock.advance(timedelta(hours=1, minutes=1))
    await rig.polls(3)
    await rig.deliver_all()
    messages = fake_slack.fake.messages(BILLING)
    assert [m["text"] for m in messages] == [
        "Maintenance of billing-* began",
        "Maintenance of billing-* ended",
        f"{broken['botName']} is Down",
    ]
    ended = messages[1]["blocks"][0]["text"]["text"]
    assert f"{broken['botName']}: Down (alerted now)" in ended
    assert f"*Fine again:* {back['botName']}" in ended

    up(fake_lp, broken)
    await rig.polls(3)
    await rig.deliver_all()
    alert = fake_slack.fake.messages(BILLING)[2]
    assert alert["text"] == f"Resolved: {broken['botName']} recovered"
    assert len(fake_slack.fake.messages(BILLING)) == 3


async def test_a_bot_alerted_before_the_window_is_not_alerted_again_at_its_end(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    bot = healthy_bots(fake_lp, "billing")[0]
    await rig.poll()
    down(fake_lp, bot)
    await rig.polls(2)
    await service(rig).create_reply(Window(bot["botName"]), ALICE, "alice", LONDON)
    rig.clock.advance(timedelta(hours=2))
    await rig.polls(2)
    await rig.deliver_all()
    assert texts(fake_slack, BILLING) == [
        f"{bot['botName']} is Down",
        f"Maintenance of {bot['botName']} began",
        f"Maintenance of {bot['botName']} ended",
    ]


async def test_a_restart_during_a_window_announces_nothing_twice_and_still_ends_it(
    database_url: str, lp_secrets: EnvSettings, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    bot = healthy_bots(fake_lp, "billing")[0]
    clock = ManualClock.real_time()
    slack = (fake_slack.fake.base_url, fake_slack.fake.bot_token)
    first = build_rig(database_url, lp_secrets, *slack, clock=clock)
    await first.poll()
    await service(first).create_reply(Window("billing-*"), ALICE, "alice", LONDON)
    await first.deliver_all()
    await first.aclose()

    second = build_rig(database_url, lp_secrets, *slack, clock=clock)
    try:
        down(fake_lp, bot)
        await second.polls(3)
        await second.service.tick_reminders_and_mutes()
        clock.advance(timedelta(hours=1, minutes=1))
        await second.polls(2)
        await second.service.tick_reminders_and_mutes()
        await second.deliver_all()
    finally:
        await second.aclose()
    assert texts(fake_slack, BILLING) == [
        "Maintenance of billing-* began",
        "Maintenance of billing-* ended",
        f"{bot['botName']} is Down",
    ]


async def test_a_recurring_window_follows_london_time_across_the_spring_change(
    database_url: str, lp_secrets: EnvSettings, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    bot = healthy_bots(fake_lp, "billing")[0]
    clock = ManualClock.real_time()
    # Saturday evening before the clocks go forward (02:00 BST on 2026-03-29 is 01:00 UTC).
    clock.advance(datetime(2026, 3, 28, 23, 0, tzinfo=UTC) - utcnow())
    weekly = MaintenanceConfig.model_validate(
        {
            "bots": ["billing-*"],
            "every": "sun 02:00",
            "for": "2h",
            "timezone": "Europe/London",
            "reason": "weekly deploy",
        }
    )
    rig = build_rig(
        database_url,
        lp_secrets,
        fake_slack.fake.base_url,
        fake_slack.fake.bot_token,
        clock=clock,
        maintenance=(weekly,),
    )
    try:
        await rig.poll()
        listed = text_of(await service(rig).list_reply(ALICE))
        assert "billing-*" in listed and "(recurring)" in listed
        clock.advance(timedelta(hours=1, minutes=59))  # 00:59 UTC, 01:59 GMT: not yet
        down(fake_lp, bot)
        await rig.polls(2)
        await rig.deliver_all()
        assert texts(fake_slack, BILLING) == [f"{bot['botName']} is Down"]
        up(fake_lp, bot)
        clock.advance(timedelta(minutes=2))  # 01:01 UTC, 02:01 BST: in force
        await rig.polls(2)
        down(fake_lp, bot)
        await rig.polls(3)
        await rig.deliver_all()
        assert texts(fake_slack, BILLING)[1:] == ["Maintenance of billing-* began"]
        clock.advance(timedelta(hours=2))  # 03:01 UTC, 04:01 BST: over
        await rig.polls(2)
        await rig.deliver_all()
        assert texts(fake_slack, BILLING)[1:] == [
            "Maintenance of billing-* began",
            "Maintenance of billing-* ended",
            f"{bot['botName']} is Down",
        ]
        async with rig.sessions() as session:
            (occurrence, following) = sorted(
                (await session.exec(select(MaintenanceWindow))).all(), key=lambda w: w.starts_at
            )
        assert occurrence.starts_at == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
        assert following.starts_at == datetime(2026, 4, 5, 1, 0, tzinfo=UTC)
    finally:
        await rig.aclose()


async def test_cancelling_a_window_ends_it_and_its_end_is_announced(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    await rig.poll()
    await service(rig).create_reply(Window("billing-*"), ALICE, "alice", LONDON)
    reply = await service(rig).cancel_reply(1, BOB, "bob")
    assert "ended now" in text_of(reply)
    await rig.poll()
    await rig.deliver_all()
    assert texts(fake_slack, BILLING) == [
        "Maintenance of billing-* began",
        "Maintenance of billing-* ended",
    ]
    assert (
        "cancelled by <@U0BOB>" in fake_slack.fake.messages(BILLING)[1]["blocks"][0]["text"]["text"]
    )
    assert "No maintenance window" in text_of(await service(rig).list_reply(ALICE))


async def test_a_window_to_come_is_listed_and_its_cancel_announces_nothing(
    rig: AlertRig, fake_slack: SlackServer
) -> None:
    await rig.poll()
    start = (rig.clock() + timedelta(days=1)).astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")
    await service(rig).create_reply(Window("billing-*", start), ALICE, "alice", LONDON)
    assert "billing-*" in text_of(await service(rig).list_reply(ALICE))
    assert "will not happen" in text_of(await service(rig).cancel_reply(1, ALICE, "alice"))
    rig.clock.advance(timedelta(days=1, hours=2))
    await rig.polls(2)
    await rig.service.tick_reminders_and_mutes()
    await rig.deliver_all()
    assert texts(fake_slack, BILLING) == []


@pytest.mark.parametrize(
    ("window", "answer"),
    [
        (Window("billing-*", "2020-01-01T10:00"), "That window is in the past"),
        (Window("billing-*", "2020-01-01T10:00", timedelta(days=30)), "in the past"),
        (Window("billing-*", "2099-01-01T10:00"), "at most 90d ahead"),
        (Window("billing-*", "now", timedelta(days=45)), "at most 30d"),
    ],
)
async def test_a_bad_window_gets_a_clear_answer_and_nothing_is_stored(
    rig: AlertRig, window: Window, answer: str
) -> None:
    await rig.poll()
    reply = await service(rig).create_reply(window, ALICE, "alice", LONDON)
    assert answer in text_of(reply)
    assert await windows(rig) == []
    assert await audit(rig) == [("U0ALICE", "maintenance", "invalid")]


async def test_a_window_reaching_outside_the_authors_scope_is_refused(rig: AlertRig) -> None:
    await rig.poll()
    reply = await service(rig).create_reply(Window("*"), BOB, "bob", LONDON)
    assert "your *mute* permission does not cover" in text_of(reply)
    assert await windows(rig) == []
    assert await audit(rig) == [("U0BOB", "maintenance", "refused")]


async def test_someone_without_mute_can_neither_set_nor_cancel_a_window(rig: AlertRig) -> None:
    await rig.poll()
    refused = await service(rig).create_reply(Window("billing-*"), CHARLIE, "charlie", LONDON)
    assert "You need the *mute* permission" in text_of(refused)
    await service(rig).create_reply(Window("billing-*"), ALICE, "alice", LONDON)
    refused = await service(rig).cancel_reply(1, CHARLIE, "charlie")
    assert "You need the *mute* permission" in text_of(refused)
    (window,) = await windows(rig)
    assert window.cancelled_at is None
    assert [row for row in await audit(rig) if row[0] == "U0CHARLIE"] == [
        ("U0CHARLIE", "maintenance", "refused"),
        ("U0CHARLIE", "maintenance_cancel", "refused"),
    ]


async def test_cancel_of_an_unknown_window_or_of_a_wider_one_is_refused(rig: AlertRig) -> None:
    await rig.poll()
    unknown = await service(rig).cancel_reply(7, ALICE, "alice")
    assert "No maintenance window #7 is in force or to come" in text_of(unknown)
    await service(rig).create_reply(Window("*"), ALICE, "alice", LONDON)
    wider = await service(rig).cancel_reply(1, BOB, "bob")
    assert "covers bots your *mute* permission does not" in text_of(wider)
    (window,) = await windows(rig)
    assert window.cancelled_at is None
    assert (await audit(rig))[-1] == ("U0BOB", "maintenance_cancel", "refused")


async def test_a_scoped_window_never_silences_a_bot_outside_its_authors_scope(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    like = healthy_bots(fake_lp, "faq")[0]["botId"]
    await rig.poll()
    await service(rig).create_reply(Window("bil*"), BOB, "bob", LONDON)
    stranger = fake_lp.fake.add_bot("bilingual-bot-1", like=like)
    await rig.poll()
    fake_lp.fake.set_fields(stranger, cbSocketStatus="NOT_CONNECTED")
    await rig.polls(3)
    await rig.deliver_all()
    alerted = [m["text"] for m in fake_slack.fake.messages("C0ALERTS")]
    assert "bilingual-bot-1 is Down" in alerted
    # Its end neither names the stranger nor alerts it again.
    rig.clock.advance(timedelta(hours=1, minutes=1))
    await rig.polls(2)
    await rig.deliver_all()
    assert texts(fake_slack, BILLING) == ["Maintenance of bil* began", "Maintenance of bil* ended"]
    assert "bilingual" not in json.dumps(fake_slack.fake.messages(BILLING))
    alerted = [m["text"] for m in fake_slack.fake.messages("C0ALERTS")]
    assert alerted.count("bilingual-bot-1 is Down") == 1


def test_maintenance_messages_stay_within_slack_limits_however_long_the_lists() -> None:
    from chatops.alerts.maintenance_views import WindowView
    from chatops.alerts.render.maintenance_replies import (
        bot_note,
        created_reply,
        list_reply,
        window_ended,
        window_started,
    )
    from chatops.domain import Health

    now = utcnow()
    long = "x" * 400
    views = [
        WindowView(
            n,
            "bot-" + long[:290],
            long,
            "U0ALICE",
            now,
            now + timedelta(hours=n + 1),
            "Europe/London",
            n % 2 == 0,
        )
        for n in range(1, 60)
    ]
    trouble = [(f"bot-{n}-" + long[:250], Health.DOWN, n % 2 == 0) for n in range(100)]
    fine = [f"fine-{n}-" + long[:250] for n in range(100)]
    messages = [
        list_reply(views, now),
        created_reply(views[0], now),
        window_started(views[0], 10_000),
        window_ended(views[0], now, "U0BOB", trouble, fine),
        window_ended(views[0], now, None, [], []),
    ]
    for message in messages:
        assert not violations(message, surface="message")
    assert "and 19 more" in json.dumps(messages[0])
    assert "and 80 more" in json.dumps(messages[3])
    assert len(bot_note(views[0])) < 600


async def test_the_alerts_a_window_held_back_become_one_digest_past_digest_after(
    database_url: str, lp_secrets: EnvSettings, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    like = healthy_bots(fake_lp, "billing")[0]["botId"]
    for n in (1, 2):
        fake_lp.fake.add_bot(f"billing-extra-{n}", like=like)
    bots = healthy_bots(fake_lp, "billing")
    assert len(bots) == 4
    slack = (fake_slack.fake.base_url, fake_slack.fake.bot_token)
    rig = build_rig(database_url, lp_secrets, *slack, alerts=alerts_config(digest_after=2))
    try:
        await rig.poll()
        await service(rig).create_reply(Window("billing-*"), ALICE, "alice", LONDON)
        for bot in bots:
            down(fake_lp, bot)
        await rig.polls(3)
        rig.clock.advance(timedelta(hours=1, minutes=1))
        await rig.polls(2)
        await rig.deliver_all()
        messages = fake_slack.fake.messages(BILLING)
        assert [m["text"] for m in messages[:2]] == [
            "Maintenance of billing-* began",
            "Maintenance of billing-* ended",
        ]
        assert len(messages) == 3, [m["text"] for m in messages]
        assert messages[2]["text"].startswith("4 bot alerts")
        digest = json.dumps(messages[2]["blocks"])
        assert all(bot["botName"] in digest for bot in bots)
        assert "Acknowledge" in digest

        # Each bot's outage is open, as after any digest: a recovery replies in its thread.
        up(fake_lp, bots[0])
        await rig.polls(3)
        await rig.deliver_all()
        assert len(fake_slack.fake.messages(BILLING)) == 3
        replies = fake_slack.fake.thread(BILLING, messages[2]["ts"])
        assert any(bots[0]["botName"] in reply["text"] for reply in replies[1:])
    finally:
        await rig.aclose()


async def test_a_window_that_ends_while_liveperson_is_unreachable_ends_at_the_first_poll_back(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    bot = healthy_bots(fake_lp, "billing")[0]
    await rig.poll()
    await service(rig).create_reply(Window("billing-*"), ALICE, "alice", LONDON)
    down(fake_lp, bot)
    await rig.polls(3)
    fake_lp.fake.add_fault("status", status=503, times=-1)
    rig.clock.advance(timedelta(hours=1, minutes=1))
    results = await rig.polls(3)
    assert not any(result.ok for result in results)
    await rig.service.tick_reminders_and_mutes()
    await rig.deliver_all()
    assert texts(fake_slack, BILLING) == ["Maintenance of billing-* began"]

    fake_lp.fake.clear_faults()
    await rig.polls(2)
    await rig.deliver_all()
    assert texts(fake_slack, BILLING) == [
        "Maintenance of billing-* began",
        "Maintenance of billing-* ended",
        f"{bot['botName']} is Down",
    ]
