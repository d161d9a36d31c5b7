"""The relay against a misbehaving Slack: pacing, Retry-After, 5xx, network errors, dead
letters, and the wake-up right after a poll commits."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from chatops.alerts.service import outbox_summary
from chatops.config import EnvSettings
from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import FakeSlack
from chatops.sandbox.slack import RunningServer as SlackServer
from chatops.store.models import OutboxMessage
from tests.alerts_runner import ALERTS, BILLING, AlertRig, alerts_config, build_rig
from tests.replica_runner import proxied
from tests.test_alerts_flow import healthy_bots
from tests.waiting import PATIENCE


@pytest.fixture
async def rig(
    sqlite_url: str, lp_secrets: EnvSettings, fake_slack: SlackServer
) -> AsyncIterator[AlertRig]:
    rig = build_rig(sqlite_url, lp_secrets, fake_slack.fake.base_url, fake_slack.fake.bot_token)
    yield rig
    await rig.aclose()


async def take_down(rig: AlertRig, fake_lp: LPServer, *bot_ids: str) -> None:
    await rig.poll()
    for bot_id in bot_ids:
        fake_lp.fake.set_fields(bot_id, cbSocketStatus="NOT_CONNECTED")
    await rig.polls(2)


async def outbox(rig: AlertRig) -> list[OutboxMessage]:
    async with rig.sessions() as session:
        return list((await session.exec(select(OutboxMessage))).all())


def counter(rig: AlertRig, name: str, **labels: str) -> float:
    value = rig.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def aware(value: datetime) -> datetime:
    """A stored time (SQLite gives it back without its UTC zone)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def post_times(fake: FakeSlack, channel: str) -> list[float]:
    return [
        call["_at"]
        for call in fake.calls("chat.postMessage")
        if call["channel"] == channel and call["_ok"]
    ]


BREAKAGES: dict[str, Callable[[FakeSlack], None]] = {
    "not_in_channel": lambda fake: fake.set_channel_state(BILLING, member=False),
    "is_archived": lambda fake: fake.set_channel_state(BILLING, archived=True),
    "channel_not_found": lambda fake: None,  # the route names a channel that does not exist
    "msg_too_long": lambda fake: fake.inject(
        method="chat.postMessage", status=200, error="msg_too_long"
    ),
}


@pytest.mark.parametrize("error", sorted(BREAKAGES))
async def test_a_permanent_error_keeps_the_alert_dead_says_what_to_fix_and_the_rest_flow(
    error: str,
    sqlite_url: str,
    lp_secrets: EnvSettings,
    fake_lp: LPServer,
    fake_slack: SlackServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    billing = "C0NOSUCH" if error == "channel_not_found" else BILLING
    alerts = alerts_config(routes=[{"channel": billing, "bots": ["billing-*"]}])
    rig = build_rig(
        sqlite_url, lp_secrets, fake_slack.fake.base_url, fake_slack.fake.bot_token, alerts=alerts
    )
    try:
        BREAKAGES[error](fake_slack.fake)
        broken = healthy_bots(fake_lp, "billing")[0]
        fine = healthy_bots(fake_lp, "support")[0]
        await rig.poll()
        fake_lp.fake.set_fields(broken["botId"], cbSocketStatus="NOT_CONNECTED")
        await rig.polls(2)
        await rig.deliver_all()
        fake_lp.fake.set_fields(fine["botId"], cbSocketStatus="NOT_CONNECTED")
        await rig.polls(2)
        with caplog.at_level(logging.ERROR, logger="chatops.alerts"):
            await rig.deliver_all()

        rows = {row.bot_id: row for row in await outbox(rig)}
        summary = await outbox_summary(rig.sessions)
    finally:
        await rig.aclose()
    dead = rows[broken["botId"]]
    assert dead.status == "dead"
    assert dead.last_error is not None and dead.last_error.startswith(error)
    assert rows[fine["botId"]].status == "sent"
    assert [m["text"] for m in fake_slack.fake.messages(ALERTS)] == [f"{fine['botName']} is Down"]
    assert summary.counts == {"dead": 1, "sent": 1}
    assert summary.dead[0].last_error == dead.last_error
    assert counter(rig, "chatops_alerts_total", outcome="dead") == 1
    assert counter(rig, "chatops_alerts_total", outcome="sent") == 1
    (line,) = [r.getMessage() for r in caplog.records if "will not be delivered" in r.getMessage()]
    assert error in line
    assert billing in line


async def test_a_revoked_token_is_dead_with_a_line_that_says_to_reinstall(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake_slack.fake.revoke_token()
    await take_down(rig, fake_lp, healthy_bots(fake_lp, "billing")[0]["botId"])
    with caplog.at_level(logging.ERROR, logger="chatops.alerts"):
        await rig.deliver_all()

    (row,) = await outbox(rig)
    assert row.status == "dead"
    assert "reinstall" in caplog.text
    assert fake_slack.fake.bot_token not in caplog.text


def six_down_one_channel_rig(
    sqlite_url: str, lp_secrets: EnvSettings, fake_slack: SlackServer, post_interval: float
) -> AlertRig:
    """Every alert to ALERTS (no digest for six), paced at ``post_interval``."""
    return build_rig(
        sqlite_url,
        lp_secrets,
        fake_slack.fake.base_url,
        fake_slack.fake.bot_token,
        alerts=alerts_config(routes=(), digest_after=10),
        post_interval=post_interval,
    )


async def test_a_channel_gets_a_burst_of_three_then_waits_for_its_interval(
    sqlite_url: str, lp_secrets: EnvSettings, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    rig = six_down_one_channel_rig(sqlite_url, lp_secrets, fake_slack, post_interval=3600)
    try:
        await take_down(rig, fake_lp, *(v["botId"] for v in healthy_bots(fake_lp)[:6]))
        handled = [await rig.service.relay_once() for _ in range(6)]
        statuses = sorted(row.status for row in await outbox(rig))
    finally:
        await rig.aclose()

    assert handled == [1, 1, 1, 0, 0, 0]
    assert len(fake_slack.fake.messages(ALERTS)) == 3
    assert statuses == ["pending"] * 3 + ["sent"] * 3


async def test_messages_to_one_channel_are_paced_after_a_short_burst(
    sqlite_url: str, lp_secrets: EnvSettings, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    rig = six_down_one_channel_rig(sqlite_url, lp_secrets, fake_slack, post_interval=0.3)
    try:
        await take_down(rig, fake_lp, *(v["botId"] for v in healthy_bots(fake_lp)[:6]))
        await rig.deliver_all()
    finally:
        await rig.aclose()

    times = post_times(fake_slack.fake, ALERTS)
    assert len(times) == 6
    # After the burst, one per interval: a token bucket refills from the first post, so the
    # k-th post (from 0) comes no sooner than (k - 2) intervals after it.
    for k in range(3, len(times)):
        assert times[k] - times[0] >= (k - 2) * 0.3 - 0.02, (k, times)


async def test_a_429_holds_back_its_channel_for_retry_after_and_not_the_others(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    billing = healthy_bots(fake_lp, "billing")[0]
    support = healthy_bots(fake_lp, "support")[0]
    await take_down(rig, fake_lp, billing["botId"], support["botId"])
    fake_slack.fake.inject(method="chat.postMessage", status=429, retry_after=3600, times=1)
    fake = fake_slack.fake

    def limited_channel() -> str | None:
        limited = [call for call in fake.calls("chat.postMessage") if call["_status"] == 429]
        return str(limited[0]["channel"]) if limited else None

    # The other channel gets its alert while the limited one waits out Retry-After.
    async def until_the_other_channel_has_its_alert() -> None:
        while (channel := limited_channel()) is None or not post_times(
            fake, ALERTS if channel == BILLING else BILLING
        ):
            await rig.service.relay_once()

    await asyncio.wait_for(until_the_other_channel_has_its_alert(), PATIENCE)
    assert await rig.service.relay_once() == 0

    (limited,) = [call for call in fake.calls("chat.postMessage") if call["_status"] == 429]
    waiting = next(row for row in await outbox(rig) if row.channel == limited["channel"])
    assert waiting.status == "pending"
    held_until = aware(waiting.next_attempt_at).timestamp()
    assert held_until >= limited["_at"] + 3600
    assert post_times(fake, limited["channel"]) == []
    assert counter(rig, "chatops_slack_rate_limited_total", method="chat.postMessage") == 1


async def test_server_errors_are_retried_with_backoff_until_delivered(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    await take_down(rig, fake_lp, healthy_bots(fake_lp, "billing")[0]["botId"])
    fake_slack.fake.inject(method="chat.postMessage", status=500, times=2)
    fake_slack.fake.inject(method="chat.postMessage", status=503, error="service_unavailable")
    await rig.deliver_all()

    (row,) = await outbox(rig)
    assert row.status == "sent"
    assert row.attempts == 4
    assert len(fake_slack.fake.messages(BILLING)) == 1
    labels = {"method": "chat.postMessage", "outcome": "server_error"}
    assert counter(rig, "chatops_slack_api_calls_total", **labels) == 3


async def test_a_network_error_leaves_the_alert_pending_with_growing_backoff(
    sqlite_url: str, lp_secrets: EnvSettings, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    unreachable = "http://127.0.0.1:9/api/"
    # 10 s, then 20 s (each within 20 %): far more than a pass takes, even on a busy machine.
    rig = build_rig(
        sqlite_url, lp_secrets, unreachable, fake_slack.fake.bot_token, backoff=10, max_backoff=60
    )
    try:
        await take_down(rig, fake_lp, healthy_bots(fake_lp, "billing")[0]["botId"])
        first_try = rig.clock()
        assert await rig.service.relay_once() == 1
        (first,) = await outbox(rig)
        rig.clock.advance(timedelta(seconds=30))  # the retry is due
        second_try = rig.clock()
        assert await rig.service.relay_once() == 1
        (second,) = await outbox(rig)
    finally:
        await rig.aclose()

    assert second.status == "pending"
    assert second.attempts == 2
    assert second.last_error is not None and second.last_error.startswith("network error")
    first_wait = (aware(first.next_attempt_at) - first_try).total_seconds()
    second_wait = (aware(second.next_attempt_at) - second_try).total_seconds()
    assert 8 <= first_wait < 16 <= second_wait


async def test_the_relay_is_woken_as_soon_as_a_poll_commits(
    rig: AlertRig, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    # Left alone, the loop would look at the outbox again in an hour: only a wake-up from
    # the poll's commit delivers within the test's patience.
    rig.service.idle_wait = 3600
    rig.service.upkeep_every = timedelta(hours=1)
    relay = asyncio.create_task(rig.service.run_relay_forever())
    try:
        await take_down(rig, fake_lp, healthy_bots(fake_lp, "billing")[0]["botId"])
        await fake_slack.fake.await_for(lambda: bool(fake_slack.fake.messages(BILLING)))
        # Now the loop has been idle since that delivery, asleep for up to an hour.
        fake_lp.fake.set_fields(
            healthy_bots(fake_lp, "support")[0]["botId"], cbSocketStatus="NOT_CONNECTED"
        )
        await rig.polls(2)
        await fake_slack.fake.await_for(lambda: bool(fake_slack.fake.messages(ALERTS)))
    finally:
        await rig.service.aclose()
        await relay


def failed_attempts(detail: str) -> int:
    match = re.search(r"(\d+) failed attempts?", detail)
    return int(match.group(1)) if match else 0


@pytest.mark.postgres
async def test_a_relay_that_cannot_reach_the_database_at_start_keeps_trying_and_then_delivers(
    postgres_url: str, lp_secrets: EnvSettings, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    with proxied(postgres_url) as (proxy, url):
        rig = build_rig(url, lp_secrets, fake_slack.fake.base_url, fake_slack.fake.bot_token)
        rig.service.restart_backoff = rig.service.max_restart_backoff = 0.05
        await take_down(rig, fake_lp, healthy_bots(fake_lp, "billing")[0]["botId"])
        proxy.cut()
        relay = asyncio.create_task(rig.service.run_relay_forever())
        try:
            await fake_slack.fake.await_for(
                lambda: failed_attempts(rig.service.relay_health()[1]) >= 2
            )
            assert rig.service.relay_health()[0] is False
            assert counter(rig, "chatops_relay_up") == 0
            assert not relay.done()

            proxy.restore()
            await fake_slack.fake.await_for(lambda: rig.service.relay_health()[0])
            await fake_slack.fake.await_for(lambda: bool(fake_slack.fake.messages(BILLING)))
            assert rig.service.relay_health() == (True, "running on this leader")
            assert counter(rig, "chatops_relay_up") == 1
        finally:
            await rig.aclose()
            await relay
