"""Benchmark: `/botstatus` against the framework's floor, quiet and while polls churn the fleet.

    python tests/bench/bench_floor.py [--connectors 10000] [--seconds 20] [--poll-seconds 30]

In one run, each server in a process of its own, driven by ``wrk`` (Debian's package,
installed with apt-get if missing) replaying one correctly signed ``/botstatus`` request
(a Lua script sets the body and Slack's signature headers; the signature is made at the
start of the run and stays valid for Slack's 5 minutes):

* the floor: a bare Bolt ``AsyncApp`` behind the same Starlette adapter and uvicorn as
  chatops, acking a fixed reply: chatops's own summary reply, so of the same size;
* ``chatops serve`` against the fake LivePerson (``chatops sandbox liveperson
  --connectors N``, its own process) and the fake Slack, on SQLite, quiet (no poll after
  the first, which stores the fleet);
* ``chatops serve`` restarted on the same database with a poll every 10 s while 1% of the
  connectors change every 10 s (their Bot Server connection toggled through the fake's
  control API).

Both servers run on ``.venv-deploy``, a virtualenv with chatops installed as
deploy/Dockerfile installs it (``pip install ".[postgres]"``: not editable, no dev
extras), made or brought up to date at the start of the run when pyproject.toml or
chatops/ changed; so RSS and start-up are those of a deployed replica. The bench itself
and the fakes run on the bench's own interpreter.

Each at 5 and 20 connections. Printed: p50, p99, max and req/s per run, the ratios to the
floor against the targets of issue 12, the peak RSS of each chatops process, the time from
process start to the first successful ``/botstatus`` reply with the fleet already stored
(the median of five starts), the polling process's event loop lag and garbage collector
pauses (from its /metrics), and the load average around each run (the machine is shared:
read figures with it).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from bench_poll import REPO, connectors_to_change, free_port, set_server, start_fake

POLL_INTERVAL_SECONDS = 10
CHURN_SHARE = 0.01
CONFIG = """
poll: {{interval: {interval}s, timeout: 60s}}
permissions:
  - {{users: [U0ALICE, alice@example.com], usergroups: [bot-ops], allow: [view, start, stop, mute]}}
"""
# (label, measure, target, "<=" or ">=")
TARGETS = (
    ("5 conn quiet: p99 / floor p99", "quiet5_p99", 2.0, "<="),
    ("5 conn, polls + 1% churn: p99 / floor p99", "poll5_p99", 3.0, "<="),
    ("20 conn quiet: req/s / floor req/s", "quiet20_rps", 0.6, ">="),
    ("20 conn, polls + churn: req/s / floor", "poll20_rps", 0.6, ">="),
    ("5 conn quiet: p50 / floor p50", "quiet5_p50", 1.5, "<="),
)
RSS_TARGET_MB = 150.0
FIRST_REPLY_TARGET_S = 1.0
# Starts on the stored fleet after the polling run, for the first reply's median.
RESTARTS = 4
DEPLOY_VENV = REPO / ".venv-deploy"

LUA = """
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["X-Slack-Request-Timestamp"] = "{timestamp}"
wrk.headers["X-Slack-Signature"] = "{signature}"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {{\\"p50\\": %d, \\"p99\\": %d, \\"max\\": %d, \\"requests\\": %d, " ..
    "\\"duration\\": %d, \\"non2xx\\": %d, \\"errors\\": %d}}\\n",
    latency:percentile(50), latency:percentile(99), latency.max, summary.requests,
    summary.duration, e.status, e.connect + e.read + e.write + e.timeout))
end
"""


# -- The floor server (run as ``bench_floor.py --floor-server``) ----------------------------


def floor_server(port: int, reply_file: str) -> None:
    """A bare Bolt app acking the given reply, served as chatops serves its own."""
    import uvicorn
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    reply = json.loads(Path(reply_file).read_text())
    base_url = os.environ["SLACK_API_URL"]
    app = AsyncApp(
        client=AsyncWebClient(
            token=os.environ["SLACK_BOT_TOKEN"],
            base_url=base_url if base_url.endswith("/") else base_url + "/",
        ),
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        process_before_response=False,
    )

    @app.command("/botstatus")
    async def botstatus(ack: AsyncAck) -> None:
        await ack(**reply)

    handler = AsyncSlackRequestHandler(app)

    async def slack_events(request: Request) -> Response:
        return await handler.handle(request)

    web = Starlette(routes=[Route("/slack/events", slack_events, methods=["POST"])])
    config = uvicorn.Config(
        web, host="127.0.0.1", port=port, lifespan="on", log_config=None, access_log=False
    )
    uvicorn.Server(config).run()


# -- Helpers ------------------------------------------------------------------------------


def deploy_python() -> str:
    """The interpreter of ``.venv-deploy``, chatops installed in it as deploy/Dockerfile
    installs it; (re)installed when pyproject.toml or a file under chatops/ changed."""
    python = DEPLOY_VENV / "bin" / "python"
    stamp = DEPLOY_VENV / ".chatops-installed"
    want = _source_digest()
    if python.exists() and stamp.exists() and stamp.read_text() == want:
        return str(python)
    print(f"== installing chatops into {DEPLOY_VENV.name} as deploy/Dockerfile does", flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(DEPLOY_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, ".[postgres]"], cwd=REPO, check=True)
    # The same version number: without this, a changed chatops/ would not replace the copy.
    subprocess.run([*pip, "--no-deps", "--force-reinstall", "."], cwd=REPO, check=True)
    stamp.write_text(want)
    return str(python)


def _source_digest() -> str:
    digest = hashlib.sha256()
    files = [REPO / "pyproject.toml", *(REPO / "chatops").rglob("*")]
    for path in sorted(f for f in files if f.is_file() and "__pycache__" not in f.parts):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    sudo = [] if os.getuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed and apt-get could not install it")
    return found


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Run:
    label: str
    p50: float  # seconds
    p99: float
    max: float
    rps: float
    requests: int
    failed: int  # not 2xx, or no answer within wrk's 10 s timeout
    load: str

    def row(self) -> str:
        return (
            f"{self.label:<30}{self.p50 * 1000:>8.1f}{self.p99 * 1000:>9.1f}"
            f"{self.max * 1000:>9.1f}{self.rps:>9.0f}{self.requests:>9}{self.failed:>7}"
            f"   {self.load}"
        )


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        from chatops.sandbox.slack import FakeSlack
        from chatops.sandbox.slack import run_in_thread as run_slack

        self.args = args
        self.tmp = tmp
        self.wrk = ensure_wrk()
        self.slack_fake = FakeSlack()
        self.slack = run_slack(self.slack_fake)
        self.lp, self.lp_url = start_fake(args.connectors)
        self.database = tmp / "bench.db"
        self.python = deploy_python()
        # The servers import chatops from .venv-deploy, not from this checkout.
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
            "CHATOPS_DATABASE_URL": f"sqlite+aiosqlite:///{self.database}",
            "SLACK_BOT_TOKEN": self.slack_fake.bot_token,
            "SLACK_SIGNING_SECRET": self.slack_fake.signing_secret,
            "SLACK_API_URL": self.slack_fake.base_url,
            "CHATOPS_LOG_FORMAT": "text",
            **self._lp_env(),
        }
        self.script = tmp / "botstatus.lua"
        self.script.write_text(self._lua())

    def _lp_env(self) -> dict[str, str]:
        creds = httpx.get(f"{self.lp_url}/_sandbox/credentials").json()
        return {
            "LP_API_URL": self.lp_url,
            "LP_ACCOUNT_ID": creds["accountId"],
            "LP_USERNAME": creds["username"],
            "LP_PASSWORD": creds["password"],
        }

    def _lua(self) -> str:
        from chatops.sandbox.slack import APP_ID, TEAM_DOMAIN, TEAM_ID, VERIFICATION_TOKEN
        from chatops.sandbox.slack_client import sign

        channel = "C0BENCH"
        body = urlencode(
            {
                "token": VERIFICATION_TOKEN,
                "team_id": TEAM_ID,
                "team_domain": TEAM_DOMAIN,
                "channel_id": channel,
                "channel_name": "bench",
                "user_id": "U0ALICE",
                "user_name": "alice",
                "command": "/botstatus",
                "text": "",
                "api_app_id": APP_ID,
                "is_enterprise_install": "false",
                "response_url": f"{self.slack_fake.base_url}/commands/bench",
                "trigger_id": f"1.{TEAM_ID}.bench",
            }
        ).encode()
        self.body = body
        self.headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            **sign(body, self.slack_fake.signing_secret, int(time.time())),
        }
        return LUA.format(
            body=body.decode(),
            timestamp=self.headers["X-Slack-Request-Timestamp"],
            signature=self.headers["X-Slack-Signature"],
        )

    def botstatus(self, url: str, timeout: float = 10) -> httpx.Response:
        return httpx.post(
            f"{url}/slack/events", content=self.body, headers=self.headers, timeout=timeout
        )

    # -- servers

    @contextmanager
    def chatops(self, interval: int) -> Iterator[tuple[subprocess.Popen[bytes], str, float]]:
        """``chatops serve``; yields it, its URL and the seconds to its first good reply."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        config = self.tmp / f"chatops-{interval}.yml"
        config.write_text(CONFIG.format(interval=interval))
        log = self.tmp / f"chatops-{interval}.log"
        started = time.monotonic()
        with log.open("ab") as stderr:
            process = subprocess.Popen(
                [
                    *(self.python, "-m", "chatops", "serve"),
                    *("--host", "127.0.0.1", "--port", str(port)),
                ],
                env={**self.env, "CHATOPS_CONFIG": str(config)},
                cwd=self.tmp,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        try:
            first = self._first_reply(process, url, started, log)
            yield process, url, first
        finally:
            process.terminate()
            process.wait(timeout=30)

    def _first_reply(
        self, process: subprocess.Popen[bytes], url: str, started: float, log: Path
    ) -> float:
        """Seconds from start to the first 200 reply that is a summary of stored bots."""
        deadline = started + 180
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log.read_text()[-2000:]
                raise SystemExit(f"chatops serve exited ({process.returncode}):\n{tail}")
            try:
                response = self.botstatus(url, timeout=5)
            except httpx.TransportError:
                time.sleep(0.01)
                continue
            if response.status_code == 200 and _is_summary(response.json()):
                return time.monotonic() - started
            time.sleep(0.05)
        raise SystemExit("chatops serve gave no summary reply within 180 s")

    @contextmanager
    def floor(self, reply: dict[str, Any]) -> Iterator[tuple[subprocess.Popen[bytes], str, float]]:
        """The floor server; yields it, its URL and the seconds to its first reply."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        reply_file = self.tmp / "reply.json"
        reply_file.write_text(json.dumps(reply))
        started = time.monotonic()
        process = subprocess.Popen(
            [self.python, __file__, "--floor-server", str(port), str(reply_file)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                try:
                    if self.botstatus(url).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > started + 60 or process.poll() is not None:
                    raise SystemExit("the floor server did not start")
                time.sleep(0.01)
            yield process, url, time.monotonic() - started
        finally:
            process.terminate()
            process.wait(timeout=30)

    # -- load

    def wrk_run(self, label: str, url: str, connections: int, seconds: int) -> Run:
        run = self._wrk(label, url, connections, seconds)
        if label != "warm-up":
            print(run.row(), flush=True)
        return run

    def _wrk(self, label: str, url: str, connections: int, seconds: int) -> Run:
        before = load()
        completed = subprocess.run(
            [
                *(self.wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"),
                *("-s", str(self.script), f"{url}/slack/events"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        line = next(x for x in completed.stdout.splitlines() if x.startswith("WRK_JSON "))
        data = json.loads(line.removeprefix("WRK_JSON "))
        return Run(
            label,
            data["p50"] / 1e6,
            data["p99"] / 1e6,
            data["max"] / 1e6,
            data["requests"] / (data["duration"] / 1e6),
            data["requests"],
            data["non2xx"] + data["errors"],
            f"{before} -> {load()}",
        )

    def warm(self, url: str) -> None:
        self.wrk_run("warm-up", url, 5, 3)

    @contextmanager
    def churn(self, every: float, count: int) -> Iterator[list[float]]:
        """Toggle ``count`` connectors' Bot Server connection every ``every`` seconds."""
        chosen = connectors_to_change(self.lp_url, count)
        stop = threading.Event()
        rounds: list[float] = []

        def run() -> None:
            connected = True
            while not stop.wait(every):
                connected = not connected
                set_server(self.lp_url, chosen, "CONNECTED" if connected else "NOT_CONNECTED")
                rounds.append(time.monotonic())

        set_server(self.lp_url, chosen, "CONNECTED")
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            yield rounds
        finally:
            stop.set()
            thread.join(timeout=60)


def _is_summary(reply: Any) -> bool:
    """A summary of stored bots (not an error, not the no-data-yet answer)."""
    text = json.dumps(reply)
    empty = ("No successful poll yet", "No bots yet", "Something went wrong")
    return "blocks" in reply and not any(words in text for words in empty)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connectors", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=20, help="per quiet run")
    parser.add_argument("--poll-seconds", type=int, default=30, help="per run while polling")
    parser.add_argument("--floor-server", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_server:
        floor_server(int(args.floor_server[0]), args.floor_server[1])
        return 0

    print(f"== {load()} at start, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as directory:
        bench = Bench(args, Path(directory))
        print(f"== chatops serve and the floor server run on {bench.python}")
        try:
            return measure(bench, args)
        finally:
            bench.lp.terminate()
            bench.lp.wait(timeout=20)
            bench.slack.stop()


def measure(bench: Bench, args: argparse.Namespace) -> int:
    runs: dict[str, Run] = {}
    rss: dict[str, float] = {}
    print(
        f"/botstatus (summary), {args.connectors:,} connectors, wrk -t1,"
        f" {args.seconds} s per quiet run, {args.poll_seconds} s per polling run"
    )
    print(
        f"{'run':<30}{'p50 ms':>8}{'p99 ms':>9}{'max ms':>9}{'req/s':>9}{'requests':>9}"
        f"{'failed':>7}"
    )
    # 1. chatops, quiet: its first poll stores the fleet; its summary is the floor's reply.
    with bench.chatops(interval=3600) as (process, url, first_empty):
        reply = bench.botstatus(url).json()
        reply_size = len(json.dumps(reply))
        with bench.floor(reply) as (floor_process, floor_url, floor_first):
            bench.warm(floor_url)
            for connections in (5, 20):
                runs[f"floor{connections}"] = bench.wrk_run(
                    f"floor, {connections} conn", floor_url, connections, args.seconds
                )
            rss["floor"] = peak_rss_mb(floor_process.pid)
        bench.warm(url)
        for connections in (5, 20):
            runs[f"quiet{connections}"] = bench.wrk_run(
                f"chatops quiet, {connections} conn", url, connections, args.seconds
            )
        rss["quiet"] = peak_rss_mb(process.pid)
    # 2. chatops again on the stored fleet, polling every 10 s while 1% of connectors churn.
    churned = round(args.connectors * CHURN_SHARE)
    with (
        bench.chatops(interval=POLL_INTERVAL_SECONDS) as (process, url, first_reply),
        bench.churn(POLL_INTERVAL_SECONDS, churned) as rounds,
    ):
        bench.warm(url)
        for connections in (5, 20):
            runs[f"poll{connections}"] = bench.wrk_run(
                f"chatops polling, {connections} conn", url, connections, args.poll_seconds
            )
        rss["poll"] = peak_rss_mb(process.pid)
        polls = asyncio.run(poll_durations(url))
    # 3. A first reply is one short measurement, which the machine's other work moves by a
    # tenth of a second: RESTARTS more starts on the stored fleet, the median judged.
    starts = [first_reply]
    for _ in range(RESTARTS):
        with bench.chatops(interval=POLL_INTERVAL_SECONDS) as (_, _, seconds):
            starts.append(seconds)
    first = {"floor": floor_first, "stored": statistics.median(starts), "empty": first_empty}
    report(args, runs, rss, first, reply_size, churned, len(rounds), polls, starts)
    return 0


async def poll_durations(url: str) -> str:
    """The serving process's own figures from /metrics: its polls (count and mean), its
    event loop's lag (sampled every 0.1 s: share of samples within each bound) and its
    garbage collector's pauses by generation."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{url}/metrics")).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("chatops_") and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    count = values.get('chatops_poll_duration_seconds_count{outcome="ok"}', 0.0)
    total = values.get('chatops_poll_duration_seconds_sum{outcome="ok"}', 0.0)
    polls = f"{count:.0f} polls, mean {total / count * 1000:.0f} ms" if count else "no poll"
    samples = values.get("chatops_event_loop_lag_seconds_count", 0.0)
    within = []
    for bound in ("0.005", "0.01", "0.025", "0.05"):
        key = "chatops_event_loop_lag_seconds_bucket{le=" + f'"{bound}"' + "}"
        if samples and key in values:
            within.append(f"{values[key] / samples:.1%} <= {float(bound) * 1000:g} ms")
    pauses = []
    for generation in ("0", "1", "2"):
        n = values.get(f'chatops_gc_pause_seconds_count{{generation="{generation}"}}', 0.0)
        spent = values.get(f'chatops_gc_pause_seconds_sum{{generation="{generation}"}}', 0.0)
        if n:
            pauses.append(f"gen{generation} {n:.0f} x {spent / n * 1000:.2f} ms")
    return (
        f"{polls}\nevent loop lag, {samples:.0f} samples: {', '.join(within)}"
        f"\ngarbage collector pauses: {', '.join(pauses) or 'none'}"
    )


def report(
    args: argparse.Namespace,
    runs: dict[str, Run],
    rss: dict[str, float],
    first: dict[str, float],
    reply_size: int,
    churned: int,
    rounds: int,
    polls: str,
    starts: list[float],
) -> None:
    print(f"the summary reply (the floor's too): {reply_size:,} bytes of JSON")
    print(
        f"polling: every {POLL_INTERVAL_SECONDS} s, {churned} connectors toggled every"
        f" {POLL_INTERVAL_SECONDS} s ({rounds} rounds); serving process: {polls}"
    )
    measures = {
        "quiet5_p99": runs["quiet5"].p99 / runs["floor5"].p99,
        "poll5_p99": runs["poll5"].p99 / runs["floor5"].p99,
        "quiet20_rps": runs["quiet20"].rps / runs["floor20"].rps,
        "poll20_rps": runs["poll20"].rps / runs["floor20"].rps,
        "quiet5_p50": runs["quiet5"].p50 / runs["floor5"].p50,
    }
    print()
    print(f"{'measure':<44}{'value':>8}{'target':>10}")
    for label, key, target, sense in TARGETS:
        value = measures[key]
        met = value <= target if sense == "<=" else value >= target
        print(f"{label:<44}{value:>8.2f}{sense:>5}{target:>5.1f}  {'ok' if met else 'MISSED'}")
    for name in ("quiet", "poll"):
        value = rss[name]
        met = value <= RSS_TARGET_MB
        print(
            f"{'peak RSS, chatops ' + name:<44}{value:>5.0f} MB{'<=':>5}{RSS_TARGET_MB:>5.0f}"
            f"  {'ok' if met else 'MISSED'}"
        )
    met = first["stored"] <= FIRST_REPLY_TARGET_S
    print(
        f"{'first reply after start, fleet stored':<44}{first['stored']:>7.2f}s{'<=':>5}"
        f"{FIRST_REPLY_TARGET_S:>5.1f}  {'ok' if met else 'MISSED'}"
    )
    print(
        f"first reply after each of {len(starts)} starts on the stored fleet (median above):"
        f" {', '.join(f'{x:.2f}' for x in starts)} s"
    )
    print(
        f"the floor server: first reply {first['floor']:.2f}s after its start,"
        f" peak RSS {rss['floor']:.0f} MB; chatops on an empty database, its first poll"
        f" included: first reply {first['empty']:.2f}s"
    )
    print(f"== {load()} at end")


if __name__ == "__main__":
    raise SystemExit(main())
