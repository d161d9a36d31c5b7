"""Benchmark: alert latency and storm delivery, fake LivePerson to fake Slack over HTTP.

1. Latency: the app polls every 5 s (APScheduler, as in production) with confirm_polls 2
   and the relay paced at one message per second per channel. A bot's Bot Server drops
   about once a second at a random moment; the time from that change at the fake
   LivePerson to its alert at the fake Slack is measured. Target: at most
   interval x confirm_polls + 1 s (11 s).
2. Storm: individual alerts to one channel, then to ten, against a fake Slack that
   enforces Slack's chat.postMessage limit (about 1 per second per channel, bursts of 3):
   messages per second delivered and 429s received.
3. Digest: 2,000 bots down in one poll, from the confirming poll to the digest at Slack.

    python tests/bench/bench_alerts.py [--seconds 120] [--storm 40]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from chatops.config import PollConfig, Route  # noqa: E402
from chatops.monitor.scheduler import build_scheduler  # noqa: E402
from chatops.sandbox.liveperson import FakeLivePerson  # noqa: E402
from chatops.sandbox.liveperson import run_in_thread as run_lp  # noqa: E402
from chatops.sandbox.slack import FakeSlack  # noqa: E402
from chatops.sandbox.slack import run_in_thread as run_slack  # noqa: E402
from chatops.store.migrate import upgrade  # noqa: E402
from tests import fleet  # noqa: E402
from tests.alerts_runner import AlertRig, alerts_config, build_rig  # noqa: E402
from tests.fixtures.liveperson import secrets_for  # noqa: E402

POLL_INTERVAL = 5.0
CONFIRM_POLLS = 2


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def healthy(fake: FakeLivePerson) -> list[dict[str, Any]]:
    """One entry per bot every connector of which is OK (a change reaches the whole bot)."""
    return fleet.healthy_bots(fake)


async def make_rig(
    workdir: Path, name: str, lp: Any, slack: Any, routes: tuple[Route, ...], **alerts: Any
) -> AlertRig:
    url = f"sqlite+aiosqlite:///{workdir / name}.db"
    await upgrade(url)
    return build_rig(
        url,
        secrets_for(lp),
        slack.fake.base_url,
        slack.fake.bot_token,
        alerts=alerts_config(routes=routes, confirm_polls=CONFIRM_POLLS, **alerts),
        poll=PollConfig(interval=timedelta(seconds=POLL_INTERVAL)),
        post_interval=1.0,
        edit_interval=1.0,
        backoff=2.0,
        max_backoff=60.0,
    )


def first_post_times(fake: FakeSlack, channels: Sequence[str]) -> dict[str, float]:
    """Bot name -> when its alert reached the fake Slack."""
    seen: dict[str, float] = {}
    for call in fake.calls("chat.postMessage"):
        if call["_ok"] and call["channel"] in channels and not call.get("thread_ts"):
            name = str(call["text"]).split(" is ")[0]
            seen.setdefault(name, call["_at"])
    return seen


async def latency(workdir: Path, seconds: float) -> None:
    lp = run_lp(FakeLivePerson(bots=400, seed=11))
    slack = run_slack(FakeSlack(enforce_rate_limits=True))
    channels = [f"C0LAT{number}" for number in range(10)]
    for channel in channels:
        slack.fake.set_channel_state(channel)
    victims = healthy(lp.fake)
    random.Random(1).shuffle(victims)
    routes = tuple(
        Route(channel=channel, bots=tuple(v["botName"] for v in victims[i::10]))
        for i, channel in enumerate(channels)
    )
    rig = await make_rig(workdir, "latency", lp, slack, routes)
    await rig.poll()
    relay = asyncio.create_task(rig.service.run_relay_forever())
    scheduler = build_scheduler([("poll", rig.poll, timedelta(seconds=POLL_INTERVAL))])
    scheduler.start()
    changed: dict[str, float] = {}
    rng = random.Random(2)
    started = time.monotonic()
    for entry in victims:
        if time.monotonic() - started > seconds:
            break
        await asyncio.sleep(rng.uniform(0.5, 1.5))
        lp.fake.set_fields(entry["botId"], cbSocketStatus="NOT_CONNECTED")
        changed[entry["botName"]] = time.time()
    deadline = time.monotonic() + POLL_INTERVAL * (CONFIRM_POLLS + 2) + 10
    while time.monotonic() < deadline:
        if set(first_post_times(slack.fake, channels)) >= set(changed):
            break
        await asyncio.sleep(0.2)
    scheduler.shutdown(wait=False)
    await rig.service.aclose()
    await relay
    await rig.aclose()
    delivered = first_post_times(slack.fake, channels)
    latencies = [delivered[name] - at for name, at in changed.items() if name in delivered]
    missing = len(changed) - len(latencies)
    limited = sum(1 for call in slack.fake.calls("chat.postMessage") if call["_status"] == 429)
    target = POLL_INTERVAL * CONFIRM_POLLS + 1
    print(
        f"latency, change at LivePerson -> alert at Slack ({len(latencies)} alerts, "
        f"poll every {POLL_INTERVAL:.0f}s, confirm_polls {CONFIRM_POLLS}):\n"
        f"  median {statistics.median(latencies):.2f}s  p99 {percentile(latencies, 0.99):.2f}s"
        f"  max {max(latencies):.2f}s  min {min(latencies):.2f}s  (target <= {target:.0f}s)\n"
        f"  undelivered {missing}, 429s from Slack {limited}"
    )
    lp.stop()
    slack.stop()


async def storm(workdir: Path, per_channel: int, channel_count: int) -> None:
    lp = run_lp(FakeLivePerson(bots=max(200, per_channel * channel_count * 3), seed=12))
    slack = run_slack(FakeSlack(enforce_rate_limits=True))
    channels = [f"C0STORM{number}" for number in range(channel_count)]
    for channel in channels:
        slack.fake.set_channel_state(channel)
    victims = healthy(lp.fake)[: per_channel * channel_count]
    routes = tuple(
        Route(channel=channel, bots=tuple(v["botName"] for v in victims[i::channel_count]))
        for i, channel in enumerate(channels)
    )
    rig = await make_rig(workdir, f"storm{channel_count}", lp, slack, routes, digest_after=10_000)
    await rig.poll()
    for entry in victims:
        lp.fake.set_fields(entry["botId"], cbSocketStatus="NOT_CONNECTED")
    await rig.polls(CONFIRM_POLLS)
    started = time.time()
    await rig.deliver_all(timeout=per_channel * 3 + 30)
    await rig.aclose()
    calls = slack.fake.calls("chat.postMessage")
    ok = [call["_at"] for call in calls if call["_ok"]]
    limited = sum(1 for call in calls if call["_status"] == 429)
    took = max(ok) - started
    print(
        f"storm, {len(victims)} separate alerts to {channel_count} channel(s): delivered in "
        f"{took:.1f}s = {len(ok) / took:.2f} msg/s ({len(ok) / took / channel_count:.2f} per "
        f"channel; Slack allows about 1), 429s from Slack {limited}"
    )
    lp.stop()
    slack.stop()


async def digest(workdir: Path) -> None:
    lp = run_lp(FakeLivePerson(bots=4000, seed=7))
    slack = run_slack(FakeSlack(enforce_rate_limits=True))
    rig = await make_rig(workdir, "digest", lp, slack, ())
    await rig.poll()
    victims = healthy(lp.fake)[:2000]
    for entry in victims:
        lp.fake.set_fields(entry["botId"], nodeStatus="NOT_CONNECTED")
    await rig.poll()
    polled = time.time()
    await rig.poll()
    confirmed = time.time()
    await rig.deliver_all(timeout=30)
    await rig.aclose()
    posts = [call["_at"] for call in slack.fake.calls("chat.postMessage") if call["_ok"]]
    print(
        f"digest, {len(victims):,} bots down in one poll: {len(posts)} message(s); the "
        f"confirming poll took {confirmed - polled:.2f}s and the digest reached Slack "
        f"{max(posts) - confirmed:.2f}s after it"
    )
    lp.stop()
    slack.stop()


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        if not args.skip_latency:
            await latency(workdir, args.seconds)
        await storm(workdir, args.storm, 1)
        await storm(workdir, args.storm, 10)
        await digest(workdir)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=120.0, help="latency phase length")
    parser.add_argument("--storm", type=int, default=40, help="alerts per channel in a storm")
    parser.add_argument("--skip-latency", action="store_true")
    asyncio.run(main(parser.parse_args()))
