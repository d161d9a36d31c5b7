"""Benchmark: three replicas on PostgreSQL, 10,000 bots, 100 concurrent /botstatus requests.

    python tests/bench/bench_replicas.py [--bots 10000] [--replicas 3] [--concurrency 100]
                                         [--bursts 10] [--interval 10]

Everything is a process of its own, as in production: three ``chatops serve`` replicas on a
throw-away PostgreSQL database (``CHATOPS_TEST_POSTGRES_URL``, default the local server),
the fake LivePerson (``chatops sandbox liveperson``); the fake Slack and the load run here.
While the leader polls the 10,000 bots every ``--interval`` seconds (1% of them change
before each poll), bursts of ``--concurrency`` signed /botstatus requests are sent at once,
spread round-robin over the replicas, with a mix of forms (summary, problems, one bot by
name, a page of all). The load runs on the same machine (and cores) as the replicas.
Reported: latency from signed request to full HTTP response (p50,
p99, max, over all bursts, and per replica), the share over Slack's 3 s deadline, and the
poll duration of the leader's polls (from the poll_run table, steady polls only).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from chatops.sandbox.slack import PERSONAS, FakeSlack  # noqa: E402
from chatops.sandbox.slack import run_in_thread as run_slack  # noqa: E402
from chatops.sandbox.slack_client import SlackUser  # noqa: E402
from tests.replica_runner import (  # noqa: E402
    ReplicaCluster,
    free_port,
    lease_holder_pid,
    poll_rows,
)

DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
SLACK_DEADLINE = 3.0
FORMS = ["", "problems", "faq-bot-1", "all 3"]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def start_fake_lp(bots: int) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "chatops", "sandbox", "liveperson"]
    command += ["--port", str(free_port()), "--bots", str(bots), "--seed", "7"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    match = re.search(r"on (http://\S+)", process.stdout.readline())
    if not match:
        process.kill()
        raise SystemExit("the fake LivePerson did not start")
    return process, match.group(1)


def churn(lp_url: str, interval: float, stop: threading.Event) -> None:
    """Before each poll, 1% of the bots toggle their Bot Server connection."""
    with httpx.Client(base_url=lp_url, timeout=60) as client:
        entries = client.get("/_sandbox/bots").json()
        bot_ids = [
            entry["botId"]
            for entry in entries
            if entry.get("environment") == "PRODUCTION" and "cbSocketStatus" in entry
        ][: max(1, len(entries) // 100)]
        value = "NOT_CONNECTED"
        while not stop.wait(interval):
            for bot_id in bot_ids:
                client.patch(f"/_sandbox/bots/{bot_id}", json={"cbSocketStatus": value})
            value = "CONNECTED" if value == "NOT_CONNECTED" else "NOT_CONNECTED"


async def burst(users: list[SlackUser], concurrency: int, offset: int) -> list[tuple[int, float]]:
    """``concurrency`` commands at once, round-robin over the replicas; (replica, seconds)."""

    async def one(number: int) -> tuple[int, float]:
        replica = (number + offset) % len(users)
        response = await users[replica].acommand(FORMS[number % len(FORMS)])
        if response.status_code != 200:
            raise SystemExit(f"replica {replica}: HTTP {response.status_code}")
        # From sending the request to having read the whole answer; not the time this
        # process then spends showing the reply in the fake Slack.
        return replica, response.elapsed.total_seconds()

    return await asyncio.gather(*(one(number) for number in range(concurrency)))


async def run_load(
    users: list[SlackUser], concurrency: int, bursts: int, pause: float
) -> list[tuple[int, float]]:
    # A connection per request, as each Slack request may come on its own; it also keeps
    # uvicorn's keep-alive timeout from racing a reused connection.
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
    results: list[tuple[int, float]] = []
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        for user in users:
            user.ahttp = http
        await burst(users, len(users) * 10, 0)  # warm-up: Bolt's auth.test, users.info
        for number in range(bursts):
            results += await burst(users, concurrency, number)
            await asyncio.sleep(pause)
    return results


def wait_ready(cluster: ReplicaCluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for replica in cluster.replicas:
        while replica.get("/readyz", timeout=10).status_code != 200:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"replica {replica.index} not ready: {replica.get('/readyz').text}"
                )
            time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bots", type=int, default=10_000)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--bursts", type=int, default=10)
    parser.add_argument("--interval", type=float, default=10.0, help="poll interval, seconds")
    args = parser.parse_args()

    admin_url = os.environ.get("CHATOPS_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)
    name = f"chatops_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(admin_url, f'CREATE DATABASE "{name}"'))
    database_url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    lp_process, lp_url = start_fake_lp(args.bots)
    slack_fake = FakeSlack()
    slack = run_slack(slack_fake)
    stop_churn = threading.Event()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = ReplicaCluster(
            Path(tmp),
            {
                "SLACK_BOT_TOKEN": slack_fake.bot_token,
                "SLACK_SIGNING_SECRET": slack_fake.signing_secret,
                "SLACK_API_URL": slack_fake.base_url,
                "CHATOPS_DATABASE_URL": database_url,
                "LP_API_URL": lp_url,
                "LP_ACCOUNT_ID": "12345678",
                "LP_USERNAME": "chatops",
                "LP_PASSWORD": "sandbox",
            },
            {
                "poll": {"interval": f"{args.interval:g}s", "timeout": "60s"},
                "alerts": {"channel": "C0ALERTS", "digest_after": 5},
                "permissions": [
                    {"users": ["U0ALICE", "alice@example.com"], "allow": ["view", "start", "stop"]}
                ],
            },
            count=args.replicas,
        )
        try:
            upgraded = cluster.chatops("db", "upgrade")
            if upgraded.returncode != 0:
                raise SystemExit(upgraded.stderr)
            started = time.monotonic()
            cluster.start(timeout=60)
            wait_ready(cluster, timeout=180)
            first_poll = time.monotonic() - started
            churner = threading.Thread(
                target=churn, args=(lp_url, args.interval, stop_churn), daemon=True
            )
            churner.start()
            users = [
                SlackUser(slack_fake, PERSONAS["alice"], f"{replica.url}/slack/events")
                for replica in cluster.replicas
            ]
            load_started = time.monotonic()
            results = asyncio.run(run_load(users, args.concurrency, args.bursts, pause=0.5))
            load_seconds = time.monotonic() - load_started
            if load_seconds < 3 * args.interval:
                time.sleep(3 * args.interval - load_seconds)  # a few polls under churn
            stop_churn.set()
            leader_pid = lease_holder_pid(database_url)
            leader = cluster.by_pid(leader_pid) if leader_pid is not None else None
            polls = [row for row in poll_rows(database_url) if row.ok]
        finally:
            stop_churn.set()
            cluster.stop()
            lp_process.terminate()
            lp_process.wait(timeout=20)
            slack.stop()
            asyncio.run(admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    latencies = [seconds for _, seconds in results]
    late = sum(1 for seconds in latencies if seconds > SLACK_DEADLINE)
    steady = [row.duration_ms / 1000 for row in polls[1:]]
    print(
        f"{args.replicas} replicas (`chatops serve`) on PostgreSQL, {args.bots:,} bots,"
        f" {args.bursts} bursts of {args.concurrency} concurrent /botstatus"
        f" ({', '.join(repr(f) for f in FORMS)}), polls every {args.interval:g}s with 1% churn,"
        f" {os.cpu_count()} CPUs"
    )
    print(f"first poll stored and every replica ready after {first_poll:.1f}s")
    print(
        f"/botstatus latency: p50 {percentile(latencies, 0.5) * 1000:.0f} ms,"
        f" p99 {percentile(latencies, 0.99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms;"
        f" {late} of {len(latencies)} over Slack's 3 s"
    )
    for replica in range(args.replicas):
        own = [seconds for index, seconds in results if index == replica]
        role = " (leader)" if leader is not None and leader.index == replica else ""
        print(
            f"  replica {replica}{role}: p50 {percentile(own, 0.5) * 1000:.0f} ms,"
            f" p99 {percentile(own, 0.99) * 1000:.0f} ms"
        )
    if steady:
        print(
            f"poll duration ({len(steady)} steady polls of {polls[-1].bots:,} production bots"
            " by the leader):"
            f" median {statistics.median(steady):.2f}s, max {max(steady):.2f}s;"
            f" first poll (inserting the fleet) {polls[0].duration_ms / 1000:.2f}s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
