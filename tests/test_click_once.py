"""One click reaches LivePerson once, however often its request reaches chatops.

A retrying proxy, or Slack itself, may deliver the same interaction (the same payload, the
same ``trigger_id``) more than once, to one replica or to several. Each test sends the very
same signed payload again through the real ASGI app and counts the Start/Stop requests the
fake LivePerson received.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import parse_qs, urlencode

import pytest

from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import RunningServer as SlackServer
from chatops.sandbox.slack_client import Delivery, SlackUser
from chatops.store.models import AuditEntry, Bot
from tests.fixtures.app import AppUnderTest, app_settings, start_two_replicas
from tests.test_slack_app import _bot_named, _detail_message, _settled


def _operations(lp: LPServer, operation: str, bot: Bot) -> int:
    """Start or Stop requests for ``bot`` that reached the fake, answered or not."""
    path = f"/{operation}/{bot.id}"
    return sum(
        1
        for request in lp.fake.requests()
        if request["method"] == "PUT" and str(request["path"]).endswith(path)
    )


def _stop_click(app: AppUnderTest, bot: Bot) -> Delivery:
    message = _detail_message(app, "alice", bot)
    return app.users["alice"].click_delivery(message, "bot_stop")


def _outcomes(entries: list[AuditEntry]) -> list[str]:
    return sorted(entry.outcome for entry in entries)


def _delivered_at_once(user: SlackUser, click: Delivery, *app_urls: str | None) -> list[int]:
    """Deliver ``click`` to each of ``app_urls`` (None: the user's app) at the same time."""

    async def all_of_them() -> list[int]:
        answers = await asyncio.gather(*(user.adeliver(click, app_url=url) for url in app_urls))
        return [answer.status_code for answer in answers]

    return asyncio.run(all_of_them())


def _delivered_twice(app: AppUnderTest, user: SlackUser, click: Delivery) -> list[AuditEntry]:
    """Deliver ``click``, wait until it is done, deliver it again: the audit rows after."""
    assert user.deliver(click).status_code == 200
    _settled(app, 1)
    assert user.deliver(click).status_code == 200
    return _settled(app, 2)


def test_the_same_click_delivered_again_later_stops_the_bot_once(
    chatops_app: AppUnderTest,
) -> None:
    bot = _bot_named(chatops_app, "billing")
    click = _stop_click(chatops_app, bot)
    entries = _delivered_twice(chatops_app, chatops_app.users["alice"], click)

    assert _operations(chatops_app.lp, "stop", bot) == 1
    assert chatops_app.lp.fake.stop_count(bot.id) == 1
    assert _outcomes(entries) == ["duplicate", "ok"]
    (again,) = [entry for entry in entries if entry.outcome == "duplicate"]
    assert again.detail is not None and "already received" in again.detail
    assert "done" in again.detail
    # The second answer tells alice what happened to her click.
    fake = chatops_app.fake_slack
    fake.wait_for(lambda: any("already received" in str(m) for m in fake.ephemerals("U0ALICE")))


def test_the_same_click_delivered_twice_at_once_stops_the_bot_once(
    chatops_app: AppUnderTest,
) -> None:
    bot = _bot_named(chatops_app, "billing")
    # LivePerson answers slowly, so the second delivery arrives while the first is sending.
    chatops_app.lp.fake.add_fault("latency", seconds=1.0, path=f"/stop/{bot.id}")

    alice = chatops_app.users["alice"]
    assert _delivered_at_once(alice, _stop_click(chatops_app, bot), None, None) == [200, 200]
    entries = _settled(chatops_app, 2)

    assert _operations(chatops_app.lp, "stop", bot) == 1
    assert _outcomes(entries) == ["duplicate", "ok"]


def test_a_redelivered_click_whose_stop_failed_is_not_sent_again_but_a_new_click_is(
    chatops_app: AppUnderTest,
) -> None:
    bot = _bot_named(chatops_app, "billing")
    click = _stop_click(chatops_app, bot)
    alice = chatops_app.users["alice"]
    chatops_app.lp.fake.add_fault("status", status=400, path=f"/stop/{bot.id}")

    entries = _delivered_twice(chatops_app, alice, click)
    assert _outcomes(entries) == ["duplicate", "failed"]
    assert _operations(chatops_app.lp, "stop", bot) == 1
    (again,) = [entry for entry in entries if entry.outcome == "duplicate"]
    assert again.detail is not None and "failed" in again.detail

    # A new click is a new request: the person may try again at once.
    assert alice.deliver(_stop_click(chatops_app, bot)).status_code == 200
    entries = _settled(chatops_app, 3)
    assert _outcomes(entries) == ["duplicate", "failed", "ok"]
    assert _operations(chatops_app.lp, "stop", bot) == 2
    assert chatops_app.lp.fake.stop_count(bot.id) == 1


def _refusals(app: AppUnderTest, user_id: str) -> int:
    return sum(":no_entry:" in str(m) for m in app.fake_slack.ephemerals(user_id))


def _refused_twice(app: AppUnderTest, user: SlackUser, click: Delivery) -> list[AuditEntry]:
    """Deliver a click that is refused, twice; the audit rows once both were answered."""
    user_id = user.persona.user_id
    for told in (1, 2):
        assert user.deliver(click).status_code == 200
        app.fake_slack.wait_for(lambda told=told: _refusals(app, user_id) == told)
    return _settled(app, 1)


@pytest.mark.parametrize("action", ["bot_stop", "bot_restart"])
def test_a_redelivered_click_by_someone_refused_stays_refused_and_is_audited_once(
    chatops_app: AppUnderTest, action: str
) -> None:
    bot = _bot_named(chatops_app, "billing")
    message = _detail_message(chatops_app, "alice", bot)
    bob = chatops_app.users["bob"]

    entries = _refused_twice(chatops_app, bob, bob.click_delivery(message, action))

    # bob is told both times; the audit log has the click once.
    assert [(e.user_id, e.outcome) for e in entries] == [("U0BOB", "refused")]
    assert (
        _operations(chatops_app.lp, "stop", bot) == _operations(chatops_app.lp, "start", bot) == 0
    )
    # A new click is a new attempt, audited again.
    assert bob.click(message, action).status_code == 200
    assert _outcomes(_settled(chatops_app, 2)) == ["refused", "refused"]


def _without_trigger_id(click: Delivery) -> Delivery:
    """The same click as a payload without a trigger_id: only the action's timestamp names it."""
    fields = parse_qs(click.body.decode())
    payload = json.loads(fields["payload"][0])
    del payload["trigger_id"]
    assert payload["actions"][0]["action_ts"]
    return replace(click, body=urlencode({"payload": json.dumps(payload)}).encode())


@pytest.mark.parametrize("trigger_id", [True, False])
def test_a_redelivered_click_the_guard_refuses_is_audited_once(
    chatops_app: AppUnderTest, trigger_id: bool
) -> None:
    bot = _bot_named(chatops_app, "billing")
    message = _detail_message(chatops_app, "alice", bot)
    charlie = chatops_app.users["charlie"]
    click = charlie.click_delivery(message, "bot_stop")

    entries = _refused_twice(
        chatops_app, charlie, click if trigger_id else _without_trigger_id(click)
    )

    assert [(e.user_id, e.action, e.outcome) for e in entries] == [("U0CHARLIE", "stop", "refused")]
    assert _operations(chatops_app.lp, "stop", bot) == 0


@pytest.fixture
def two_replicas(
    fake_lp: LPServer, fake_slack: SlackServer, postgres_url: str
) -> Iterator[tuple[AppUnderTest, AppUnderTest]]:
    """Two app instances on one PostgreSQL database, as two replicas behind a balancer."""
    yield from start_two_replicas(
        app_settings(fake_lp, fake_slack, postgres_url), fake_lp, fake_slack
    )


@pytest.mark.postgres
def test_the_same_click_delivered_to_two_replicas_stops_the_bot_once(
    two_replicas: tuple[AppUnderTest, AppUnderTest],
) -> None:
    first, second = two_replicas
    bot = _bot_named(first, "billing")
    click = _stop_click(first, bot)
    alice: SlackUser = first.users["alice"]
    first.lp.fake.add_fault("latency", seconds=1.0, path=f"/stop/{bot.id}")

    urls = [f"{replica.url}/slack/events" for replica in (first, second)]
    assert _delivered_at_once(alice, click, *urls) == [200, 200]
    entries = _settled(first, 2)
    assert _operations(first.lp, "stop", bot) == 1
    assert _outcomes(entries) == ["duplicate", "ok"]

    # Later, to either replica: still once.
    for url in urls:
        assert alice.deliver(click, app_url=url).status_code == 200
    entries = _settled(first, 4)
    assert _operations(first.lp, "stop", bot) == 1
    assert _outcomes(entries) == ["duplicate", "duplicate", "duplicate", "ok"]
