"""Share in channel and paging buttons, attacked with forged but correctly signed payloads
through the real ASGI app: they re-run only the read-only views they were made for, as the
person who clicked, whatever value the payload carries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chatops.config import PermissionRule
from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import RunningServer as SlackServer
from tests.fixtures.app import TEST_PERMISSIONS, AppUnderTest, app_settings, start_app
from tests.test_slack_app import _audit, _bots, _reply, _shown

CHANNEL = "C0GENERAL"


def _text_of(message: dict[str, Any]) -> str:
    return json.dumps(message)


def _mutes(app: AppUnderTest) -> str:
    return _text_of(_reply(app.users["alice"].command("mutes")))


def _answers(app: AppUnderTest, count: int) -> list[dict[str, Any]]:
    """Wait until the app has answered ``count`` clicks through their response URLs."""
    fake = app.fake_slack
    fake.wait_for(lambda: len(fake.calls("response_url")) == count)
    return fake.calls("response_url")


@pytest.mark.parametrize("button", ["page_next", "share"])
def test_a_navigation_button_carrying_a_mute_or_an_unmute_changes_no_mute(
    chatops_app: AppUnderTest, button: str
) -> None:
    alice = chatops_app.users["alice"]
    assert "Muted alerts for" in _text_of(_reply(alice.command("mute billing-* 2h deploy")))
    message = _shown(chatops_app, "alice", "all")
    forged = ["mute * 1h", "mute faq-* 2h", "unmute billing-*", "unmute *", "mutes", "help"]

    for value in forged:
        assert alice.click(message, button, value=value, channel=CHANNEL).status_code == 200

    answers = _answers(chatops_app, len(forged))
    assert all(answer.get("response_type") != "in_channel" for answer in answers)
    assert all("only" in _text_of(answer) for answer in answers)
    listed = _mutes(chatops_app)
    assert "billing-*" in listed and "faq-*" not in listed and "`*`" not in listed
    assert [(entry.action, entry.target) for entry in _audit(chatops_app)] == [
        ("mute", "billing-*")
    ]
    assert chatops_app.fake_slack.messages(CHANNEL) == []


def test_paging_buttons_page_problems_and_all_and_nothing_else(chatops_app: AppUnderTest) -> None:
    alice = chatops_app.users["alice"]
    message = _shown(chatops_app, "alice", "all")
    bot = _bots(chatops_app)[0]

    assert alice.click(message, "page_next", value="all 2").status_code == 200
    assert alice.click(message, "page_next", value="problems 2").status_code == 200
    assert alice.click(message, "page_next", value=f"history {bot.name}").status_code == 200
    assert alice.click(message, "page_next", value="").status_code == 200

    pages, problems, history, empty = _answers(chatops_app, 4)
    assert "page 2 of" in _text_of(pages)
    assert "Problem bots" in _text_of(problems)
    assert "History of" not in _text_of(history) and "only" in _text_of(history)
    assert "only" in _text_of(empty)


def test_charlie_sharing_or_paging_a_view_is_refused_and_nothing_is_posted(
    chatops_app: AppUnderTest,
) -> None:
    message = _shown(chatops_app, "alice", "all")
    charlie = chatops_app.users["charlie"]

    assert charlie.click(message, "share", channel=CHANNEL).status_code == 200
    assert charlie.click(message, "page_next", channel=CHANNEL).status_code == 200

    answers = _answers(chatops_app, 2)
    for answer in answers:
        assert answer.get("response_type") != "in_channel"
        assert "*view* permission" in _text_of(answer)
        for bot in _bots(chatops_app):
            assert bot.name not in _text_of(answer)
    assert chatops_app.fake_slack.messages(CHANNEL) == []


@pytest.fixture
def scoped_app(
    fake_lp: LPServer, fake_slack: SlackServer, sqlite_url: str
) -> Iterator[AppUnderTest]:
    """bob sees only the faq-* bots."""
    alice = TEST_PERMISSIONS[0]
    permissions = (
        alice,
        PermissionRule(usergroups=("support-leads",), allow=("view",), bots=("faq-*",)),
    )
    settings = app_settings(fake_lp, fake_slack, sqlite_url, permissions=permissions)
    yield from start_app(settings, fake_lp, fake_slack)


def test_a_scoped_user_shares_only_the_bots_in_his_scope(scoped_app: AppUnderTest) -> None:
    message = _shown(scoped_app, "alice", "all")
    bob = scoped_app.users["bob"]
    faq = [bot for bot in _bots(scoped_app) if bot.name.startswith("faq-")]
    others = [bot for bot in _bots(scoped_app) if not bot.name.startswith("faq-")]
    assert faq and others

    assert bob.click(message, "share", channel=CHANNEL).status_code == 200
    assert bob.click(message, "share", value="summary", channel=CHANNEL).status_code == 200

    fake = scoped_app.fake_slack
    fake.wait_for(lambda: len(fake.messages(CHANNEL)) == 2)
    shared_all, shared_summary = (_text_of(m) for m in fake.messages(CHANNEL))
    assert all(bot.name in shared_all for bot in faq[:20])
    assert f"{len(faq):,} bot" in shared_all
    assert f"*{len(faq):,}* bots" in shared_summary
    for bot in others:
        assert bot.name not in shared_all and bot.name not in shared_summary
