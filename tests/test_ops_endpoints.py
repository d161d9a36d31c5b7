"""The operations endpoints of one replica: /healthz, /readyz and /metrics, after real traffic
(signed Slack requests, polls of the fake LivePerson, alerts to the fake Slack), and while the
database goes away and comes back (a TCP proxy cut in front of PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import Counter
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from chatops.config import AlertsConfig
from chatops.monitor.poll import StoreUnavailable
from chatops.runtime import build_runtime
from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import RunningServer as SlackServer
from chatops.sandbox.slack_client import sign
from tests.alerts_runner import ALERTS
from tests.clock import ManualClock
from tests.fixtures.app import AppUnderTest, MakeApp, app_settings
from tests.replica_runner import Scrape, proxied
from tests.test_alerts_delivery import failed_attempts
from tests.test_alerts_flow import healthy_bots
from tests.waiting import PATIENCE

STATUS_LIST = "nodejs/instance"


def readyz(app: AppUnderTest) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{app.url}/readyz", timeout=PATIENCE)
    body: dict[str, Any] = response.json()
    return response.status_code, body


def scrape(app: AppUnderTest) -> Scrape:
    response = httpx.get(f"{app.url}/metrics", timeout=PATIENCE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape.parse(response.text)


def test_healthz_says_ok_and_readyz_names_each_check_and_asks_slack_once(
    chatops_app: AppUnderTest,
) -> None:
    health = httpx.get(f"{chatops_app.url}/healthz", timeout=PATIENCE)
    assert (health.status_code, health.text) == (200, "ok")

    for _ in range(5):
        status, body = readyz(chatops_app)
        assert status == 200, body
    assert body["ready"] is True
    assert set(body["checks"]) == {"database", "polls", "slack", "relay"}
    assert all(check["ok"] for check in body["checks"].values())
    assert "Sandbox" in body["checks"]["slack"]["detail"]
    assert len(chatops_app.fake_slack.calls("auth.test")) == 1


def test_readyz_is_503_once_polls_are_stale_and_200_after_the_next_poll(
    make_app: MakeApp, database_url: str
) -> None:
    clock = ManualClock.real_time()
    app = make_app(database_url, clock=clock)  # polls every hour: stale after three
    assert readyz(app)[0] == 200

    clock.advance(timedelta(hours=3, minutes=1))
    status, body = readyz(app)
    assert status == 503
    polls = body["checks"]["polls"]
    assert polls["ok"] is False
    # 3 h 1 min, plus however long the test has taken so far.
    age = re.fullmatch(r"last successful poll (\d+)s ago \(stale after 10800s\)", polls["detail"])
    assert age is not None and int(age.group(1)) >= 10860, polls
    assert body["checks"]["database"]["ok"] and body["checks"]["slack"]["ok"]

    result = app.poll()
    assert result is not None and result.ok
    assert readyz(app)[0] == 200


def test_readyz_is_503_and_names_slack_while_the_token_is_revoked(
    chatops_app: AppUnderTest,
) -> None:
    chatops_app.fake_slack.revoke_token()

    status, body = readyz(chatops_app)

    assert status == 503
    assert body["checks"]["slack"] == {"ok": False, "detail": "auth.test failed: token_revoked"}
    assert chatops_app.fake_slack.bot_token not in json.dumps(body)


@pytest.mark.postgres
def test_the_database_going_away_mid_poll_stores_nothing_and_the_change_alerts_once_after(
    make_app: MakeApp, postgres_url: str, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    with proxied(postgres_url) as (proxy, url):
        app = make_app(url, alerts=AlertsConfig(channel=ALERTS, confirm_polls=1))
        bot = healthy_bots(fake_lp)[0]
        fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="NOT_CONNECTED")
        # The status list answers after 5 s; the database goes while the tick waits for it
        # (the tick's transaction, with its lease and lock, is open by then).
        fake_lp.fake.add_fault("latency", seconds=5, path=STATUS_LIST)
        tick = asyncio.run_coroutine_threadsafe(app.runtime.poll(), app.loop)
        fake_slack.fake.wait_for(
            lambda: not fake_lp.fake.faults(),
            what="the tick asking LivePerson for the status list",
        )
        proxy.cut()

        with pytest.raises(StoreUnavailable, match="the database is unavailable"):
            tick.result(timeout=PATIENCE)
        status, body = readyz(app)
        assert status == 503
        assert body["checks"]["database"]["ok"] is False
        assert "the database is unavailable" in body["checks"]["database"]["detail"]
        assert body["checks"]["polls"]["detail"].startswith("cannot tell: ")
        assert scrape(app).value("chatops_polls_total", outcome="db_unavailable") == 1
        assert fake_slack.fake.messages(ALERTS) == []

        proxy.restore()
        fake_slack.fake.wait_for(lambda: readyz(app)[0] == 200)
        result = app.poll()
        assert result is not None and result.ok
        # The bot's every connector lost its Bot Server connection: one bot, one dimension.
        assert {(t.bot_id, t.dimension.value) for t in result.transitions} == {
            (bot["botId"], "server")
        }
        fake_slack.fake.wait_for(lambda: len(fake_slack.fake.messages(ALERTS)) == 1)
        app.poll()
        app.poll()
        # Whatever those polls queued has gone out: a repeated alert would be in Slack now.
        fake_slack.fake.wait_for(lambda: app.unfinished_alerts() == 0)

    (message,) = fake_slack.fake.messages(ALERTS)
    assert message["text"].startswith(f"{bot['botName']} is ")


def test_metrics_after_real_traffic_show_every_metric_with_sensible_values(
    make_app: MakeApp, database_url: str, fake_lp: LPServer, fake_slack: SlackServer
) -> None:
    app = make_app(database_url, alerts=AlertsConfig(channel=ALERTS, confirm_polls=1))
    slack = fake_slack.fake
    bots = healthy_bots(fake_lp)
    # The first command looks alice up (users.info); Slack answers that with a 429 once.
    slack.inject(method="users.info", status=429, retry_after=0, times=1)
    alice = app.users["alice"]
    commands = ["", "problems", "all", "help", bots[0]["botName"]]
    for text in commands:
        assert alice.command(text).status_code == 200
    detail = slack.ephemerals(alice.user_id)[-1]  # the bot in detail, with its Stop button
    assert alice.click(detail, "bot_stop").status_code == 200
    slack.wait_for(lambda: len(slack.calls("response_url")) == 1)
    fake_lp.fake.set_fields(bots[1]["botId"], cbSocketStatus="NOT_CONNECTED")
    polled = app.poll()
    assert polled is not None and polled.ok

    # Two alerts: the manual stop's notice and the dropped connection. Slack records a post
    # when it receives it, the relay counts it when the answer is back: wait for both.
    def delivered() -> bool:
        sent = scrape(app).value("chatops_alerts_total", outcome="sent")
        return sent == len(slack.calls("chat.postMessage")) == 2

    slack.wait_for(delivered)

    metrics = scrape(app)

    assert metrics.value("chatops_leader") == 1
    polls = metrics.value("chatops_polls_total", outcome="ok")
    assert polls is not None and polls >= 2  # the one at start, and ours
    assert metrics.value("chatops_poll_duration_seconds_count", outcome="ok") == polls
    # A full collection after each tick (chatops.collector), none started by the interpreter.
    full = metrics.value("chatops_gc_pause_seconds_count", generation="2")
    assert full is not None and full >= polls
    # The loop's lateness is sampled every 0.1 s from the start (chatops.loopwatch).
    lag = metrics.value("chatops_event_loop_lag_seconds_count")
    assert lag is not None and lag >= 1
    duration = metrics.value("chatops_poll_duration_seconds_sum", outcome="ok")
    assert duration is not None and 0 < duration < 10 * polls
    health = metrics.labels("chatops_bots", "health")
    assert sum(health.values()) == polled.bots  # the production fleet, as stored
    assert health["down"] >= 1 and health["ok"] > health["down"]
    last_poll = metrics.value("chatops_last_successful_poll_timestamp_seconds")
    assert last_poll is not None and abs(time.time() - last_poll) < 60
    # Our poll saw the stopped bot and the dropped one (the first poll only added bots).
    seen = Counter(transition.dimension.value for transition in polled.transitions)
    assert seen["connector"] >= 1 and seen["server"] >= 1
    assert metrics.labels("chatops_transitions_total", "dimension") == seen
    assert metrics.value("chatops_alerts_total", outcome="sent") == len(
        slack.calls("chat.postMessage")
    )
    calls = "chatops_slack_api_calls_total"
    assert metrics.value(calls, method="chat.postMessage", outcome="ok") == len(
        slack.calls("chat.postMessage")
    )
    assert metrics.value(calls, method="users.info", outcome="ratelimited") == 1
    assert metrics.value(calls, method="users.info", outcome="ok") == 1
    assert metrics.value("chatops_slack_rate_limited_total", method="users.info") == 1
    assert metrics.value(calls, method="response_url", outcome="ok") == 1
    assert metrics.total(calls) >= len(slack.calls("users.info")) + 2
    latency = metrics.labels("chatops_command_latency_seconds_count", "command")
    assert sum(latency.values()) == len(commands)
    assert set(latency) == {"summary", "problems", "query", "all", "help"}
    slowest = metrics.total("chatops_command_latency_seconds_sum")
    assert 0 < slowest < 3 * len(commands)
    assert metrics.value("chatops_actions_total", action="stop", outcome="ok") == 1


async def test_socket_mode_serves_no_slack_events_path_and_keeps_the_probes(
    fake_lp: LPServer, fake_slack: SlackServer, sqlite_url: str
) -> None:
    settings = app_settings(fake_lp, fake_slack, sqlite_url)
    env = settings.env.model_copy(
        update={"slack_app_token": SecretStr("xapp-1-A0-1-socket"), "slack_signing_secret": None}
    )
    runtime = build_runtime(settings.model_copy(update={"env": env}))
    body = urlencode({"command": "/botstatus", "text": "", "user_id": "U0ALICE"}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    try:
        transport = httpx.ASGITransport(app=runtime.web_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://chatops") as client:
            # Signed with the empty secret such an instance would verify with, and unsigned.
            signed = {**headers, **sign(body, "", int(time.time()))}
            for sent_headers in (signed, headers):
                events = await client.post("/slack/events", content=body, headers=sent_headers)
                assert events.status_code == 404, events.text
            health = await client.get("/healthz")
            assert (health.status_code, health.text) == (200, "ok")
            ready = await client.get("/readyz")
            assert {"database", "polls", "slack"} <= set(ready.json()["checks"])
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200
            assert "chatops_polls_total" in metrics.text
    finally:
        await runtime.source.aclose()
        await runtime.engine.dispose()


def _relay_outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "chatops.alerts.service" and record.levelno >= logging.WARNING
    ]


@pytest.mark.postgres
def test_a_relay_that_fails_says_so_once_fails_readyz_and_its_gauge_then_recovers(
    make_app: MakeApp,
    postgres_url: str,
    fake_lp: LPServer,
    fake_slack: SlackServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with proxied(postgres_url) as (proxy, url):
        app = make_app(url, alerts=AlertsConfig(channel=ALERTS, confirm_polls=1))
        alerts = app.runtime.alerts
        assert alerts is not None
        alerts.max_restart_backoff = 0.2
        status, body = readyz(app)
        assert status == 200, body
        assert body["checks"]["relay"] == {"ok": True, "detail": "running on this leader"}
        assert scrape(app).value("chatops_relay_up") == 1

        with caplog.at_level(logging.INFO, logger="chatops.alerts.service"):
            proxy.cut()

            fake_slack.fake.wait_for(
                lambda: failed_attempts(readyz(app)[1]["checks"]["relay"]["detail"]) >= 3,
            )
            status, body = readyz(app)
            assert status == 503
            relay = body["checks"]["relay"]
            assert relay["ok"] is False
            assert "the database is unavailable" in relay["detail"]
            assert scrape(app).value("chatops_relay_up") == 0
            (stopped,) = _relay_outage_lines(caplog)
            assert "the alert relay stopped" in stopped
            assert "the database is unavailable" in stopped

            proxy.restore()
            fake_slack.fake.wait_for(lambda: readyz(app)[0] == 200)
        assert scrape(app).value("chatops_relay_up") == 1
        stopped, back = _relay_outage_lines(caplog)
        assert "the alert relay works again" in back

        bot = healthy_bots(fake_lp)[0]
        fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="NOT_CONNECTED")
        result = app.poll()
        assert result is not None and result.ok
        fake_slack.fake.wait_for(lambda: len(fake_slack.fake.messages(ALERTS)) == 1)
