"""Mutes and maintenance windows seen by a person whose ``view`` covers some bots only,
through the real app: ``/botstatus mutes``, ``/botstatus maintenance``, a bot's details and
App Home show what concerns their bots and never name a bot outside their view.

bob may view (and mute) billing bots only; charlie, faq bots only; alice, every bot.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chatops.blockkit.limits import violations
from chatops.config import PermissionRule
from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import RunningServer as SlackServer
from tests.alerts_runner import alerts_config
from tests.fixtures.app import AppUnderTest, app_settings, start_app
from tests.test_alerts_flow import healthy_bots

PERMISSIONS = (
    PermissionRule(users=("U0ALICE",), allow=("view", "start", "stop", "mute", "ack")),
    PermissionRule(users=("U0BOB",), allow=("view", "mute"), bots=("billing-*",)),
    PermissionRule(users=("U0CHARLIE",), allow=("view", "mute"), bots=("faq-*",)),
)


@pytest.fixture
def app(fake_lp: LPServer, fake_slack: SlackServer, database_url: str) -> Iterator[AppUnderTest]:
    settings = app_settings(
        fake_lp, fake_slack, database_url, permissions=PERMISSIONS, alerts=alerts_config()
    )
    yield from start_app(settings, fake_lp, fake_slack)


def _reply(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert violations(body, surface="message") == []
    return body


def _said(app: AppUnderTest, person: str, text: str) -> str:
    return json.dumps(_reply(app.users[person].command(text)), ensure_ascii=False)


def _names(fake_lp: LPServer, prefix: str) -> list[str]:
    return [str(bot["botName"]) for bot in healthy_bots(fake_lp, prefix)]


def test_mutes_list_only_what_concerns_bots_the_person_may_view(
    app: AppUnderTest, fake_lp: LPServer
) -> None:
    faq, other_faq, third_faq = _names(fake_lp, "faq")[:3]
    billing = "billing-*"
    for text in (
        f"mute {faq} 1h {faq} is moving",
        f"mute * 2h while {other_faq} moves",
        "mute *-canary 4h canaries",
    ):
        assert "Muted alerts" in _said(app, "alice", text)
    # Exceptions to alice's mute of every bot: one in bob's view, one in charlie's.
    assert "back on" in _said(app, "bob", "unmute billing-bot-1")
    assert "back on" in _said(app, "charlie", f"unmute {third_faq}")
    assert "Muted alerts" in _said(app, "alice", f"mute {billing} 3h billing deploy")

    everything = _said(app, "alice", "mutes")
    for shown in (f"`{faq}`", "`*`", "`billing-*`", "`*-canary`", "billing-bot-1", third_faq):
        assert shown in everything

    bobs = _said(app, "bob", "mutes")
    assert "`*`" in bobs and "`billing-*`" in bobs and "billing deploy" in bobs
    assert "except `billing-bot-1`" in bobs
    assert "while … moves" in bobs
    for hidden in (faq, other_faq, third_faq, "canary"):
        assert hidden not in bobs

    charlies = _said(app, "charlie", "mutes")
    assert f"`{faq}`" in charlies and "`*`" in charlies and f"except `{third_faq}`" in charlies
    assert f"while {other_faq} moves" in charlies
    assert "billing" not in charlies and "canary" not in charlies


def test_a_scoped_person_sees_their_own_mute_of_bots_that_do_not_exist_yet(
    app: AppUnderTest,
) -> None:
    assert "Muted alerts" in _said(app, "bob", "mute billing-canary-* 1h")

    assert "billing-canary-*" in _said(app, "bob", "mutes")
    assert "billing-canary" not in _said(app, "charlie", "mutes")


def test_maintenance_windows_details_and_home_name_no_bot_outside_the_persons_view(
    app: AppUnderTest, fake_lp: LPServer
) -> None:
    faq = _names(fake_lp, "faq")[0]
    billing = _names(fake_lp, "billing")[0]
    alice = app.users["alice"]
    assert "#1" in _said(app, "alice", f"maintenance {faq} now 1h faq upgrade")
    assert "#2" in _said(app, "alice", f"maintenance {billing} now 1h while {faq} is down")

    everything = _said(app, "alice", "maintenance")
    assert "*#1*" in everything and "*#2*" in everything

    listed = _said(app, "bob", "maintenance")
    assert "*#2*" in listed and "while … is down" in listed
    assert "*#1*" not in listed and faq not in listed and "faq" not in listed

    # Cancelling a window of bots bob may not view reads as cancelling no window at all.
    refused = _said(app, "bob", "maintenance cancel 1")
    assert refused.replace("#1", "#7") == _said(app, "bob", "maintenance cancel 7")
    assert faq not in refused and "faq upgrade" not in refused
    assert "*#1*" in _said(app, "alice", "maintenance")

    details = _said(app, "bob", billing)
    assert "In maintenance until" in details and "while … is down" in details
    assert faq not in details

    assert app.users["bob"].open_home().status_code == 200
    fake = app.fake_slack
    fake.wait_for(lambda: "In maintenance" in json.dumps(fake.home("U0BOB"), ensure_ascii=False))
    home = json.dumps(fake.home("U0BOB"), ensure_ascii=False)
    assert "while … is down" in home and faq not in home and "faq upgrade" not in home

    assert alice.open_home().status_code == 200
    fake.wait_for(lambda: f"while {faq} is down" in json.dumps(fake.home("U0ALICE")))
