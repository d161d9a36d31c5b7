"""``/botstatus maintenance`` through the real app: signed commands, the guard, the person's
time zone from users.info, and what details and App Home say of a bot in maintenance.

In this workspace alice lives in Tokyo (UTC+9 all year), so a time she types differs from
UTC and from the fake's default zone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import col, select

from chatops.config import AlertsConfig, Route
from chatops.domain.maintenance import time_zone
from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import ALICE, BOB, CHARLIE, FakeSlack, FakeSlackHost
from chatops.sandbox.slack import RunningServer as SlackServer
from chatops.slack.timezones import UserTimeZones
from chatops.store.maintenance_models import MaintenanceWindow
from chatops.store.models import AuditEntry, utcnow
from tests.fixtures.app import AppUnderTest, app_settings, start_app
from tests.test_alerts_flow import healthy_bots
from tests.waiting import PATIENCE

TOKYO = time_zone("Asia/Tokyo")


@pytest.fixture
def fake_slack(fake_slack_host: FakeSlackHost) -> Iterator[SlackServer]:
    personas = (replace(ALICE, tz="Asia/Tokyo"), BOB, CHARLIE)
    with fake_slack_host.add(FakeSlack(deadline=PATIENCE, personas=personas)) as server:
        yield server


@pytest.fixture
def app(fake_lp: LPServer, fake_slack: SlackServer, database_url: str) -> Iterator[AppUnderTest]:
    alerts = AlertsConfig(
        channel="C0ALERTS", routes=(Route(channel="C0BILLING", bots=("billing-*",)),)
    )
    settings = app_settings(fake_lp, fake_slack, database_url, alerts=alerts)
    yield from start_app(settings, fake_lp, fake_slack)


def reply_text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return json.dumps(body)


def stored(app: AppUnderTest) -> list[MaintenanceWindow]:
    async def load() -> list[MaintenanceWindow]:
        async with app.runtime.sessions() as session:
            return list((await session.exec(select(MaintenanceWindow))).all())

    return app.run(load())


def audit(app: AppUnderTest) -> list[tuple[str, str, str]]:
    async def load() -> list[tuple[str, str, str]]:
        async with app.runtime.sessions() as session:
            rows = (await session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))).all()
        return [(row.user_id, row.action, row.outcome) for row in rows]

    return app.run(load())


def test_a_time_of_day_is_read_in_the_time_zone_slack_gives_the_person(
    app: AppUnderTest,
) -> None:
    in_tokyo = (utcnow() + timedelta(hours=2)).astimezone(TOKYO)
    typed = in_tokyo.strftime("%H:%M")
    text = reply_text(app.users["alice"].command(f"maintenance billing-* {typed} 1h deploy"))
    assert "Maintenance window *#1*" in text and "Asia/Tokyo" in text
    (window,) = stored(app)
    assert window.starts_at.astimezone(TOKYO).strftime("%H:%M") == typed
    assert window.ends_at - window.starts_at == timedelta(hours=1)
    assert window.created_by == "U0ALICE" and window.reason == "deploy"
    assert [call["user"] for call in app.fake_slack.calls("users.info")][-1:] == ["U0ALICE"]
    listed = reply_text(app.users["bob"].command("maintenance"))
    assert "billing-*" in listed and "deploy" in listed


@pytest.mark.parametrize("person", ["bob", "charlie"])
def test_without_mute_a_window_can_neither_be_set_nor_cancelled(
    app: AppUnderTest, person: str
) -> None:
    refused = reply_text(app.users[person].command("maintenance billing-* now 1h"))
    assert "*mute* permission" in refused
    assert stored(app) == []
    reply_text(app.users["alice"].command("maintenance billing-* now 1h"))
    refused = reply_text(app.users[person].command("maintenance cancel 1"))
    assert "*mute* permission" in refused
    (window,) = stored(app)
    assert window.cancelled_at is None
    user_id = app.users[person].user_id
    assert [row for row in audit(app) if row[0] == user_id] == [
        (user_id, "maintenance", "refused"),
        (user_id, "maintenance_cancel", "refused"),
    ]


def test_details_and_app_home_say_a_bot_is_in_maintenance_until_when_by_whom_and_why(
    app: AppUnderTest, fake_lp: LPServer
) -> None:
    name = healthy_bots(fake_lp, "billing")[0]["botName"]
    reply_text(app.users["alice"].command(f"maintenance {name} now 2h database upgrade"))
    details = reply_text(app.users["bob"].command(name))
    assert "In maintenance until" in details
    assert "by <@U0ALICE>, database upgrade" in details
    assert app.users["alice"].open_home().status_code == 200
    app.fake_slack.wait_for(lambda: app.fake_slack.home("U0ALICE") is not None)
    home = app.fake_slack.home("U0ALICE")
    assert home is not None
    assert "In maintenance" in json.dumps(home) and "database upgrade" in json.dumps(home)
    ended = reply_text(app.users["alice"].command("maintenance cancel 1"))
    assert "ended now" in ended
    assert "In maintenance" not in reply_text(app.users["bob"].command(name))


def test_a_window_in_the_past_gets_a_clear_answer_and_nothing_is_stored(
    app: AppUnderTest,
) -> None:
    text = reply_text(app.users["alice"].command("maintenance billing-* 2020-01-01T10:00 1h"))
    assert "That window is in the past" in text
    assert stored(app) == []


async def test_a_time_zone_slack_gives_that_is_unknown_reads_times_in_utc(
    fake_slack_host: FakeSlackHost,
) -> None:
    martian = replace(ALICE, tz="Mars/Olympus_Mons")
    with fake_slack_host.add(FakeSlack(deadline=PATIENCE, personas=(martian, BOB))) as server:
        client = AsyncWebClient(token=server.fake.bot_token, base_url=server.fake.base_url)
        zones = UserTimeZones()
        assert (await zones.zone(client, "U0ALICE")).key == "UTC"
        assert (await zones.zone(client, "U0BOB")).key == "Europe/London"
        assert (await zones.zone(client, "U0NOBODY")).key == "UTC"


def test_a_window_cancelled_twice_ends_once_and_the_second_cancel_is_told_so(
    app: AppUnderTest,
) -> None:
    reply_text(app.users["alice"].command("maintenance billing-* now 1h deploy"))
    first = reply_text(app.users["alice"].command("maintenance cancel 1"))
    again = reply_text(app.users["alice"].command("maintenance cancel 1"))
    assert "ended now" in first
    assert "No maintenance window #1 is in force or to come" in again
    (window,) = stored(app)
    assert window.cancelled_by == "U0ALICE"
    app.poll()
    app.fake_slack.wait_for(lambda: app.unfinished_alerts() == 0, what="the relay is done")
    assert [m["text"] for m in app.fake_slack.messages("C0BILLING")] == [
        "Maintenance of billing-* began",
        "Maintenance of billing-* ended",
    ]
    assert [row for row in audit(app) if row[1] == "maintenance_cancel"] == [
        ("U0ALICE", "maintenance_cancel", "ok"),
        ("U0ALICE", "maintenance_cancel", "invalid"),
    ]
