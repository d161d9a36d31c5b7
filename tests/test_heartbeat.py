"""The heartbeat: the real app pings a push monitor on loopback (a real HTTP server) after
its polls; the fake LivePerson fails through its fault API. Nothing in between is faked."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from chatops.config import ConfigError, HeartbeatConfig, load_app_config
from chatops.monitor.heartbeat import fail_url
from chatops.sandbox.liveperson import RunningServer as LPServer
from tests.clock import ManualClock
from tests.fixtures.app import AppUnderTest, MakeApp
from tests.fixtures.heartbeat import PingReceiver
from tests.test_ops_endpoints import scrape

CHECK = "/ping/0f3c"
FAIL = CHECK + "/fail"
A_MINUTE_LATER = timedelta(seconds=61)


def pings(app: AppUnderTest, **labels: str) -> float:
    return scrape(app).total("chatops_heartbeat_total", **labels)


def settled(app: AppUnderTest, receiver: PingReceiver, count: int) -> list[str]:
    """The receiver's requests once ``count`` pings arrived and each got its answer (or gave
    up): from then on no ping is in flight, so the next poll may send one."""
    requests = receiver.wait_for(count)
    app.fake_slack.wait_for(lambda: pings(app) == count, what=f"{count} pings done")
    return requests


def poll_ok(app: AppUnderTest) -> None:
    result = app.poll()
    assert result is not None and result.ok, result


def poll_failing(app: AppUnderTest) -> None:
    result = app.poll()
    assert result is not None and not result.ok


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock.real_time()


Start = Callable[..., AppUnderTest]


@pytest.fixture
def start(
    make_app: MakeApp, sqlite_url: str, clock: ManualClock, ping_receiver: PingReceiver
) -> Start:
    """``start(every=..., timeout=...)``: the app, pinging the receiver at CHECK."""

    def started(**heartbeat: object) -> AppUnderTest:
        url = ping_receiver.url + CHECK
        config = HeartbeatConfig.model_validate({"url": url, **heartbeat})
        return make_app(sqlite_url, clock=clock, heartbeat=config)

    return started


def test_good_polls_ping_the_url_and_a_failed_one_pings_fail_at_once_then_at_most_every(
    start: Start,
    clock: ManualClock,
    ping_receiver: PingReceiver,
    fake_lp: LPServer,
) -> None:
    app = start(every="1m")
    assert settled(app, ping_receiver, 1) == [CHECK]  # the poll at start

    fake_lp.fake.add_fault("status", status=403, times=-1)
    poll_failing(app)  # good -> bad: at once, though a minute has not passed
    assert settled(app, ping_receiver, 2) == [CHECK, FAIL]

    poll_failing(app)  # bad again, within the minute: nothing
    fake_lp.fake.clear_faults()
    poll_ok(app)  # good again, within the minute: it waits its turn
    clock.advance(A_MINUTE_LATER)
    poll_ok(app)  # a minute after the last ping: due
    fake_lp.fake.add_fault("status", status=403, times=-1)
    poll_failing(app)  # good -> bad: at once again

    # Pings go one at a time, so any ping sent by the two polls within the minute would
    # stand between these: the receiver saw exactly what was due, in order.
    assert settled(app, ping_receiver, 4) == [CHECK, FAIL, CHECK, FAIL]
    assert pings(app, ping="success", outcome="delivered") == 2
    assert pings(app, ping="fail", outcome="delivered") == 2


def test_each_good_poll_a_minute_apart_pings_once(
    start: Start, clock: ManualClock, ping_receiver: PingReceiver
) -> None:
    app = start(every="1m")
    settled(app, ping_receiver, 1)

    for count in (2, 3, 4):
        clock.advance(A_MINUTE_LATER)
        poll_ok(app)
        assert settled(app, ping_receiver, count) == [CHECK] * count


def test_polls_go_on_while_the_receiver_hangs_and_pings_resume_when_it_answers(
    start: Start, clock: ManualClock, ping_receiver: PingReceiver
) -> None:
    ping_receiver.hang()
    # A ping waits up to a minute: a poll that waited for it would miss app.poll()'s bound.
    app = start(every="1m", timeout="60s")
    assert ping_receiver.wait_for(1) == [CHECK]

    for _ in range(3):
        clock.advance(A_MINUTE_LATER)
        poll_ok(app)
    assert scrape(app).value("chatops_polls_total", outcome="ok") == 4

    ping_receiver.release()
    settled(app, ping_receiver, 1)  # the pings due meanwhile were skipped, not queued
    clock.advance(A_MINUTE_LATER)
    poll_ok(app)
    assert settled(app, ping_receiver, 2) == [CHECK, CHECK]


def test_a_ping_without_an_answer_in_time_is_counted_and_logged_once(
    start: Start,
    clock: ManualClock,
    ping_receiver: PingReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="chatops.monitor.heartbeat")
    ping_receiver.hang()
    app = start(every="1m", timeout="1s")
    settled(app, ping_receiver, 1)
    clock.advance(A_MINUTE_LATER)
    poll_ok(app)
    settled(app, ping_receiver, 2)

    assert pings(app, ping="success", outcome="unreachable") == 2
    problems = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert problems == [
        f"heartbeat: {ping_receiver.url} did not take the success ping: no answer within 1s;"
        " polls go on, and pings are tried again at their time"
    ]
    assert CHECK not in caplog.text  # the path is the push monitor's secret


def test_polls_go_on_when_the_receiver_answers_500_and_its_recovery_is_logged_once(
    start: Start,
    clock: ManualClock,
    ping_receiver: PingReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="chatops.monitor.heartbeat")
    ping_receiver.status = 500
    app = start(every="1m")
    settled(app, ping_receiver, 1)
    clock.advance(A_MINUTE_LATER)
    poll_ok(app)
    settled(app, ping_receiver, 2)
    assert pings(app, ping="success", outcome="rejected") == 2

    ping_receiver.status = 200
    for count in (3, 4):
        clock.advance(A_MINUTE_LATER)
        poll_ok(app)
        settled(app, ping_receiver, count)

    assert pings(app, ping="success", outcome="delivered") == 2
    messages = [r.getMessage() for r in caplog.records]
    assert [m for m in messages if "did not take" in m] == [
        f"heartbeat: {ping_receiver.url} did not take the success ping: HTTP 500;"
        " polls go on, and pings are tried again at their time"
    ]
    assert [m for m in messages if "again" in m and "takes" in m] == [
        f"heartbeat: {ping_receiver.url} takes pings again"
    ]


def test_a_good_poll_while_the_alert_relay_is_down_pings_fail(
    start: Start, clock: ManualClock, ping_receiver: PingReceiver
) -> None:
    app = start(every="1m")
    settled(app, ping_receiver, 1)
    assert scrape(app).value("chatops_relay_up") == 1

    alerts = app.runtime.alerts
    assert alerts is not None
    app.run(alerts.aclose())  # the relay loop ends, as it does at shutdown
    app.fake_slack.wait_for(lambda: scrape(app).value("chatops_relay_up") == 0)
    poll_ok(app)

    assert settled(app, ping_receiver, 2) == [CHECK, FAIL]
    metrics = scrape(app)
    assert (metrics.value("chatops_leader"), metrics.value("chatops_relay_up")) == (1, 0)


def test_without_a_heartbeat_in_the_config_nothing_is_pinged(
    make_app: MakeApp, sqlite_url: str
) -> None:
    app = make_app(sqlite_url)
    poll_ok(app)

    assert app.runtime.heartbeat is None
    assert pings(app) == 0


# ------------------------------------------------------------------------------ config


def test_the_heartbeat_config_takes_a_url_and_durations_in_the_usual_grammar(
    tmp_path: Path,
) -> None:
    path = tmp_path / "chatops.yml"
    path.write_text("heartbeat: {url: 'https://hc-ping.com/0f3c', every: 2m, timeout: 3s}\n")

    heartbeat = load_app_config(path).heartbeat

    assert heartbeat is not None
    assert heartbeat.url == "https://hc-ping.com/0f3c"
    assert (heartbeat.every, heartbeat.timeout) == (timedelta(minutes=2), timedelta(seconds=3))
    path.write_text("heartbeat: {url: 'https://hc-ping.com/0f3c'}\n")
    heartbeat = load_app_config(path).heartbeat
    assert heartbeat is not None and heartbeat.every == timedelta(minutes=1)


@pytest.mark.parametrize(
    ("heartbeat", "complaint"),
    [
        ("{url: 'https://x', evry: 1m}", "unknown key 'heartbeat.evry'"),
        ("{every: 1m}", "heartbeat.url: Field required"),
        ("{url: 'hc-ping.com/0f3c'}", "must be an http:// or https:// URL, not 'hc-ping.com/0f3c'"),
        ("{url: 'https://x', every: 0s}", "heartbeat.every: Value error, must be at least 1s"),
        ("{url: 'https://x', timeout: soon}", "heartbeat.timeout: Value error, not a duration"),
    ],
)
def test_a_bad_heartbeat_config_is_refused_naming_the_key(
    tmp_path: Path, heartbeat: str, complaint: str
) -> None:
    path = tmp_path / "chatops.yml"
    path.write_text(f"heartbeat: {heartbeat}\n")

    with pytest.raises(ConfigError) as raised:
        load_app_config(path)

    assert complaint in str(raised.value)


@pytest.mark.parametrize(
    ("url", "failure"),
    [
        ("https://hc-ping.com/0f3c", "https://hc-ping.com/0f3c/fail"),
        ("https://hc-ping.com/0f3c/", "https://hc-ping.com/0f3c/fail"),
        (
            "https://push.example.com/api/v1?token=abc",
            "https://push.example.com/api/v1/fail?token=abc",
        ),
    ],
)
def test_the_failure_ping_appends_fail_to_the_path_and_keeps_the_query(
    url: str, failure: str
) -> None:
    assert fail_url(url) == failure
