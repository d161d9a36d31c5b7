"""Benchmark: /botstatus latency, signed request to full HTTP response, 10,000 bots stored.

Runs `chatops serve` as its own process (as in production) against the fake LivePerson and
the fake Slack, waits for the first poll to store the fleet, then sends correctly signed
slash commands from 20 concurrent clients and prints p50/p99 per command form.

    python tests/bench/bench_commands.py [--bots 10000] [--clients 20] [--requests 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from chatops.sandbox.liveperson import FakeLivePerson, run_in_thread
from chatops.sandbox.slack import PERSONAS, FakeSlack
from chatops.sandbox.slack import run_in_thread as run_slack
from chatops.sandbox.slack_client import SlackUser

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
poll: {interval: 300s, timeout: 60s}
permissions:
  - {users: [U0ALICE, alice@example.com], usergroups: [bot-ops], allow: [view, start, stop, mute]}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def wait_until_polled(url: str, deadline: float) -> None:
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                response = await client.get(f"{url}/readyz")
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("the app did not become ready (first poll) in time")


async def load(user: SlackUser, texts: list[str], clients: int, total: int) -> list[float]:
    latencies: list[float] = []
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(texts[i % len(texts)])
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=10) as http:
        user.ahttp = http

        async def worker() -> None:
            while not queue.empty():
                text = queue.get_nowait()
                started = time.perf_counter()
                response = await user.acommand(text)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise SystemExit(f"/botstatus {text!r}: HTTP {response.status_code}")

        await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bots", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()

    lp = run_in_thread(FakeLivePerson(bots=args.bots, seed=7))
    slack_fake = FakeSlack()
    slack = run_slack(slack_fake)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "chatops.yml"
        config.write_text(CONFIG)
        env = {
            **os.environ,
            "CHATOPS_CONFIG": str(config),
            "CHATOPS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db",
            "SLACK_BOT_TOKEN": slack_fake.bot_token,
            "SLACK_SIGNING_SECRET": slack_fake.signing_secret,
            "SLACK_API_URL": slack_fake.base_url,
            "LP_API_URL": lp.url,
            "LP_ACCOUNT_ID": lp.fake.account_id,
            "LP_USERNAME": lp.fake.username,
            "LP_PASSWORD": lp.fake.password,
            "CHATOPS_LOG_FORMAT": "text",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "chatops", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            asyncio.run(wait_until_polled(url, time.monotonic() + 120))
            user = SlackUser(slack_fake, PERSONAS["alice"], f"{url}/slack/events")
            forms = {"summary": [""], "problems": ["problems"], "query": ["faq-bot-1"]}
            asyncio.run(load(user, [""], args.clients, 100))  # warm-up
            print(
                f"/botstatus latency, signed request to full response; {args.bots:,} bots stored,"
                f" {args.clients} concurrent clients, {args.requests} requests per form,"
                f" `chatops serve` on SQLite, {os.cpu_count()} CPUs"
            )
            print(f"{'form':<10} {'p50':>8} {'p99':>8} {'max':>8} {'req/s':>8}")
            for form, texts in forms.items():
                started = time.perf_counter()
                latencies = asyncio.run(load(user, texts, args.clients, args.requests))
                elapsed = time.perf_counter() - started
                print(
                    f"{form:<10} {percentile(latencies, 0.5) * 1000:>6.1f}ms"
                    f" {percentile(latencies, 0.99) * 1000:>6.1f}ms"
                    f" {max(latencies) * 1000:>6.1f}ms {len(latencies) / elapsed:>8.0f}"
                )
            print("target: summary p99 <= 250 ms")
        finally:
            server.terminate()
            server.wait(timeout=20)
            lp.stop()
            slack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
