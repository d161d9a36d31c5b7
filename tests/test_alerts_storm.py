"""Many alerts at once: digests, pacing, Slack's 429s and 5xx, and a process killed mid-storm."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chatops.config import Route
from chatops.domain import Health
from chatops.sandbox.liveperson import FakeLivePerson
from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import RunningServer as SlackServer
from tests import fleet
from tests.alerts_runner import ALERTS, AlertRig, alerts_config, build_rig
from tests.fixtures.liveperson import MakeFakeLP, secrets_for

COUNT = re.compile(r"\*([\d,]+)\* (\w[\w ]*)")


def healthy_bots(fake: FakeLivePerson) -> list[dict[str, Any]]:
    """One entry per production custom bot every connector of which is OK (tests/fleet.py):
    dropping the bot's Bot Server connection makes it Down."""
    return fleet.healthy_bots(fake)


def digest_counts(message: dict[str, Any]) -> dict[str, int]:
    """The per-group counts on a digest's first line."""
    first = message["blocks"][0]["text"]["text"].split("\n")[1]
    return {title.strip(): int(number.replace(",", "")) for number, title in COUNT.findall(first)}


@pytest.fixture
async def big_rig(
    sqlite_url: str, make_fake_lp: MakeFakeLP, fake_slack: SlackServer
) -> AsyncIterator[tuple[AlertRig, LPServer]]:
    lp = make_fake_lp(bots=4000, seed=7)
    rig = build_rig(
        sqlite_url,
        secrets_for(lp),
        fake_slack.fake.base_url,
        fake_slack.fake.bot_token,
        alerts=alerts_config(routes=()),
        post_interval=1.0,
        edit_interval=1.0,
    )
    yield rig, lp
    await rig.aclose()


async def test_two_thousand_bots_down_at_once_make_one_digest(
    big_rig: tuple[AlertRig, LPServer], fake_slack: SlackServer
) -> None:
    rig, lp = big_rig
    await rig.poll()
    victims = healthy_bots(lp.fake)[:2000]
    assert len(victims) == 2000
    for entry in victims:
        lp.fake.set_fields(entry["botId"], nodeStatus="NOT_CONNECTED")
    await rig.polls(2)
    await rig.deliver_all()

    messages = fake_slack.fake.messages(ALERTS)
    assert 1 <= len(messages) <= 3
    counts = digest_counts(messages[0])
    assert sum(counts.values()) == 2000
    assert counts[Health.DOWN.label] == 2000

    for entry in victims:
        lp.fake.set_fields(entry["botId"], nodeStatus=entry["nodeStatus"])
    await rig.polls(2)
    await rig.deliver_all()

    (digest,) = fake_slack.fake.messages(ALERTS)
    assert digest["edited"]
    assert "All 2,000 bots of this digest resolved" in str(digest["blocks"][0])
    replies = fake_slack.fake.thread(ALERTS, digest["ts"])[1:]
    assert len(replies) == 1
    assert digest_counts(replies[0]) == {"Recovered": 2000}


async def test_under_429s_and_500s_every_alert_is_delivered_once_per_incident(
    sqlite_url: str, make_fake_lp: MakeFakeLP, fake_slack: SlackServer
) -> None:
    lp = make_fake_lp(bots=700, seed=3)
    victims = healthy_bots(lp.fake)[:250]
    assert len(victims) == 250
    # Slack's Retry-After holds back one channel; spread over many, the storm is not a queue.
    channels = [f"C0STORM{number:03d}" for number in range(100)]
    for channel in channels:
        fake_slack.fake.set_channel_state(channel)
    routes = tuple(
        Route(channel=channel, bots=tuple(v["botName"] for v in victims[i::100]))
        for i, channel in enumerate(channels)
    )
    rig = build_rig(
        sqlite_url,
        secrets_for(lp),
        fake_slack.fake.base_url,
        fake_slack.fake.bot_token,
        alerts=alerts_config(routes=routes, digest_after=1000),
    )
    try:
        await rig.poll()
        # 12% of calls get a 429, and 20% of the rest a 500: about 30% fail.
        fake_slack.fake.inject(status=429, retry_after=1, ratio=0.12, seed=1)
        fake_slack.fake.inject(status=500, ratio=0.2, seed=2)
        for entry in victims:
            lp.fake.set_fields(entry["botId"], cbSocketStatus="NOT_CONNECTED")
        await rig.polls(2)
        for entry in victims:
            lp.fake.set_fields(entry["botId"], cbSocketStatus=entry["cbSocketStatus"])
        await rig.polls(2)
        await rig.deliver_all()
    finally:
        await rig.aclose()

    calls = fake_slack.fake.calls("chat.postMessage") + fake_slack.fake.calls("chat.update")
    failed = [call for call in calls if not call["_ok"]]
    assert {call["_status"] for call in failed} == {429, 500}
    assert 0.25 * len(calls) < len(failed) < 0.35 * len(calls)
    alerts: dict[str, int] = {}
    for channel in channels:
        for message in fake_slack.fake.messages(channel):
            name = message["history"][0]["text"].split(" is ")[0]
            alerts[name] = alerts.get(name, 0) + 1
            assert message["text"] == f"Resolved: {name} recovered"
            replies = message["replies"]
            assert [reply["text"] for reply in replies] == [f"{name} is OK again"]
    assert alerts == {entry["botName"]: 1 for entry in victims}
