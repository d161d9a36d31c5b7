"""Benchmark: one poll of a 10,000-connector fleet, against the floor of merely downloading it.

    python tests/bench/bench_poll.py [--connectors 10000] [--runs 7]

The fake LivePerson runs in a process of its own (``chatops sandbox liveperson``), so its
work never shares a core or the GIL with the poller. Each scenario runs in a fresh worker
process, whose peak RSS is therefore that scenario's alone:

* ``baseline``: the first poll ever, inserting every bot (reported, no target).
* ``steady``: nothing changed since the last poll.
* ``changed``: 1% of the connectors changed (their Bot Server connection toggled) before each
  poll.

The poller reads LivePerson's Agent Metrics after the status lists, as ``chatops serve``
does by default (``conversations.metrics``). A worker first runs one untimed tick (a fresh
process reads the stored fleet once), then, ``--runs`` times: the floor (GET the same status
lists with an httpx client set up like the LivePerson client's, ``json.loads`` them, then
POST the same Agent Metrics batches and pages, as many in flight as the client sends, and
``json.loads`` those), one poll tick, and the same poll again timed in three parts (the
LivePerson client's fetch, its Agent Metrics read, then a tick given both). Before both,
the fake has already rendered the current lists (an untimed GET), so neither pays for the
fake's own serialisation. Reported: medians, the poll/floor ratio measured in the same
run, beside the targets (steady at most 2x the floor, 1% changed at most 2.5x), and peak
RSS: of the worker, which also holds the floor's own downloads (``json.loads`` of the whole
lists); the first-poll worker polls alone. A replica's peak RSS, with its target, is
``bench_floor.py``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

STEADY_TARGET = 2.0
CHANGED_TARGET = 2.5
CHANGED_SHARE = 0.01
MONITORING = "/service-monitoring-0.1/sysadmin/nodejs/instance"
LOAD_AT_START = os.getloadavg()[0]


# -- The fake, in its own process ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def fake_arguments(port: int, connectors: int) -> list[str]:
    return ["--port", str(port), "--connectors", str(connectors)]


def start_fake(connectors: int) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "chatops", "sandbox", "liveperson"),
            *fake_arguments(port, connectors),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    match = re.search(r"on (http://\S+)", first)
    if not match:
        process.kill()
        raise SystemExit(f"the fake LivePerson did not start: {first!r}")
    return process, match.group(1)


def credentials(url: str) -> dict[str, str]:
    data: dict[str, str] = httpx.get(f"{url}/_sandbox/credentials").json()
    return data


def connectors_to_change(url: str, count: int) -> list[tuple[str, str]]:
    """Production custom connectors (bot, bot user) whose Bot Server field is toggled."""
    entries = httpx.get(f"{url}/_sandbox/bots", timeout=60).json()
    chosen = [
        (entry["botId"], entry["lpAccountUser"])
        for entry in entries
        if entry.get("environment") == "PRODUCTION" and "cbSocketStatus" in entry
    ][:count]
    if len(chosen) < count:
        raise SystemExit(f"only {len(chosen)} production connectors to change, {count} wanted")
    return chosen


def set_server(url: str, connectors: list[tuple[str, str]], value: str) -> None:
    with httpx.Client(base_url=url) as client:
        for bot_id, user in connectors:
            response = client.patch(
                f"/_sandbox/bots/{bot_id}/connectors/{user}", json={"cbSocketStatus": value}
            )
            response.raise_for_status()


# -- One scenario, in a worker process ------------------------------------------------------


# Both environments, so that the poll covers the whole fleet; the floor reads the same.
ENVIRONMENTS = ("production", "demo")
STATUS_LISTS = (
    (f"{MONITORING}/status", {"environment": "PRODUCTION"}),
    (f"{MONITORING}/status", {"environment": "STAGING"}),
    (f"{MONITORING}/pcs/status", {"showBotsData": "true"}),
)


class Floor:
    """The least a poll must do: download and decode the status lists, then the Agent
    Metrics of their agents (batches of the client's size, as many in flight)."""

    def __init__(self, client: httpx.AsyncClient, creds: dict[str, str]) -> None:
        self.client = client
        self.creds = creds
        self.headers: dict[str, str] = {}
        self.bearer = ""

    async def login(self) -> None:
        """Log in as the LivePerson client does: Login Service bearer, then CB sign-on."""
        creds = self.creds
        login = await self.client.post(
            f"/api/account/{creds['accountId']}/login",
            params={"v": "1.3"},
            json={"username": creds["username"], "password": creds["password"]},
        )
        self.bearer = login.json()["bearer"]
        sso = await self.client.get(
            "/le-auth/sso/authenticate", headers={"Authorization": f"Bearer {self.bearer}"}
        )
        result = sso.json()["successResult"]
        self.headers = {
            "Authorization": result["apiAccessToken"],
            "OrganizationId": result["sessionOrganizationId"],
        }

    async def status_lists(self) -> list[Any]:
        entries: list[Any] = []
        for path, params in STATUS_LISTS:
            response = await self.client.get(path, params=params, headers=self.headers)
            entries += json.loads(response.content)["statusList"]
        return entries

    async def agent_metrics(self, agent_ids: list[str]) -> int:
        from chatops.sources.liveperson.agent_metrics import AGENT_BATCH, IN_FLIGHT, PAGE_LIMIT

        path = f"/messaging_history/api/account/{self.creds['accountId']}/agent-view/status"
        headers = {"Authorization": f"Bearer {self.bearer}"}
        batches = iter(
            agent_ids[start : start + AGENT_BATCH]
            for start in range(0, len(agent_ids), AGENT_BATCH)
        )
        records = 0

        async def reader() -> None:
            nonlocal records
            for batch in batches:
                offset: int | None = 0
                while offset is not None:
                    response = await self.client.post(
                        path,
                        params={"limit": str(PAGE_LIMIT), "offset": str(offset)},
                        json={"agentIds": batch},
                        headers=headers,
                    )
                    data = json.loads(response.content)
                    records += len(data["agentStatusRecords"])
                    following = data["_metadata"].get("next")
                    offset = offset + PAGE_LIMIT if following else None

        async with asyncio.TaskGroup() as group:
            for _ in range(IN_FLIGHT):
                group.create_task(reader())
        return records

    async def download_and_parse(self) -> tuple[int, float]:
        """The status lists' entries, and the seconds the Agent Metrics part took."""
        entries = await self.status_lists()
        started = time.perf_counter()
        agent_ids = sorted({entry["lpUserId"] for entry in entries if entry.get("lpUserId")})
        await self.agent_metrics(agent_ids)
        return len(entries), time.perf_counter() - started


async def run_scenario(
    scenario: str, url: str, database_url: str, runs: int, change: int, metrics: bool
) -> dict[str, Any]:
    from chatops.collector import Collector
    from chatops.config import EnvSettings
    from chatops.domain import Environment
    from chatops.malloc import keep_large_blocks_mapped
    from chatops.monitor.poll import Poller, PollResult
    from chatops.sources.liveperson import DEFAULT_REQUEST_TIMEOUT, LivePersonSource
    from chatops.store.engine import make_engine, make_session_factory

    creds = credentials(url)
    env = EnvSettings(
        lp_api_url=url,
        lp_account_id=creds["accountId"],
        lp_username=creds["username"],
        lp_password=creds["password"],
    )
    source = LivePersonSource(env, [Environment(e) for e in ENVIRONMENTS], timeout=120)
    engine = make_engine(database_url)
    split = SplitSource(source)
    split_metrics = SplitMetrics(source.agent_metrics)
    poller = Poller(
        split, make_session_factory(engine), agent_metrics=split_metrics if metrics else None
    )
    # The floor's client is set up like the LivePerson client's own.
    floor_client = httpx.AsyncClient(
        base_url=url,
        timeout=httpx.Timeout(DEFAULT_REQUEST_TIMEOUT),
        headers={"Accept": "application/json"},
        follow_redirects=False,
    )
    floor_reader = Floor(floor_client, creds)
    await floor_reader.login()
    # As in ``chatops serve``: glibc's threshold (chatops.malloc) and the garbage collector
    # run after each tick (chatops.collector), its pass timed as part of the tick.
    keep_large_blocks_mapped()
    collector = Collector()
    collector.install()

    async def tick() -> PollResult | None:
        result = await poller.tick()
        collector.after_tick()
        return result

    changing = connectors_to_change(url, change) if scenario == "changed" else []
    polls: list[float] = []
    floors: list[float] = []
    fetches: list[float] = []
    rests: list[float] = []
    metrics_reads: list[float] = []
    poll_cpus: list[float] = []
    floor_cpus: list[float] = []
    floor_metrics: list[float] = []
    changes: list[int] = []
    bots = 0
    try:
        started = time.perf_counter()
        first = await tick()
        first_seconds = time.perf_counter() - started
        assert first is not None and first.ok, first
        if scenario == "baseline":
            return {
                "scenario": scenario,
                "poll": first_seconds,
                "bots": first.bots,
                "added": first.added,
                "peak_rss_mb": peak_rss_mb(),
            }
        connected = True  # where main() left the connectors that change
        for _ in range(runs):
            if changing:
                connected = not connected
                set_server(url, changing, "CONNECTED" if connected else "NOT_CONNECTED")
            await floor_reader.download_and_parse()  # the fake renders, untimed
            started = time.perf_counter()
            cpu = time.process_time()
            if metrics:
                bots, metrics_part = await floor_reader.download_and_parse()
                floor_metrics.append(metrics_part)
            else:
                bots = len(await floor_reader.status_lists())
            floors.append(time.perf_counter() - started)
            floor_cpus.append(time.process_time() - cpu)
            started = time.perf_counter()
            cpu = time.process_time()
            result = await tick()
            polls.append(time.perf_counter() - started)
            poll_cpus.append(time.process_time() - cpu)
            assert result is not None and result.ok, result
            changes.append(len(result.changes))
            # The same again, timed in parts: the LivePerson client's fetch, its Agent
            # Metrics read, then a tick over what they read (diff and transaction:
            # chatops's own share).
            if changing:
                connected = not connected
                set_server(url, changing, "CONNECTED" if connected else "NOT_CONNECTED")
            await floor_reader.download_and_parse()
            started = time.perf_counter()
            split.prefetched = await source.fetch()
            fetches.append(time.perf_counter() - started)
            if metrics:
                started = time.perf_counter()
                split_metrics.prefetched = await source.agent_metrics.read(
                    split.prefetched, time.monotonic()
                )
                metrics_reads.append(time.perf_counter() - started)
            started = time.perf_counter()
            rest = await tick()
            rests.append(time.perf_counter() - started)
            assert rest is not None and rest.ok and len(rest.changes) == len(result.changes)
    finally:
        collector.uninstall()
        await floor_client.aclose()
        await source.aclose()
        await engine.dispose()
    poll, floor = statistics.median(polls), statistics.median(floors)
    return {
        "scenario": scenario,
        "poll": poll,
        "floor": floor,
        "fetch": statistics.median(fetches),
        "rest": statistics.median(rests),
        "metrics": statistics.median(metrics_reads) if metrics else 0.0,
        "floor_metrics": statistics.median(floor_metrics) if metrics else 0.0,
        "ratio": statistics.median(p / f for p, f in zip(polls, floors, strict=True)),
        "cpu": statistics.median(poll_cpus),
        "floor_cpu": statistics.median(floor_cpus),
        "bots": bots,
        "changed": changes,
        "first_tick": first_seconds,
        "peak_rss_mb": peak_rss_mb(),
    }


class SplitMetrics:
    """The Agent Metrics reader, or once, the reading it already made (to time the rest)."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.prefetched: Any = None

    async def read(self, connectors: Any, started: float) -> Any:
        if self.prefetched is not None:
            reading, self.prefetched = self.prefetched, None
            return reading
        return await self.reader.read(connectors, started)


class SplitSource:
    """The LivePerson client, or once, the snapshots it already fetched (to time the rest)."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.prefetched: list[Any] | None = None

    async def fetch(self) -> list[Any]:
        if self.prefetched is not None:
            snapshots, self.prefetched = self.prefetched, None
            return snapshots
        result: list[Any] = await self.source.fetch()
        return result

    async def start(self, bot_id: str, bot_user: str) -> None:
        await self.source.start(bot_id, bot_user)

    async def stop(self, bot_id: str, bot_user: str) -> None:
        await self.source.stop(bot_id, bot_user)

    async def check(self) -> str:
        result: str = await self.source.check()
        return result

    async def aclose(self) -> None:
        await self.source.aclose()


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(
    scenario: str, url: str, database_url: str, runs: int, change: int, metrics: bool
) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    completed = subprocess.run(
        [
            *(sys.executable, __file__, "--worker", scenario, "--url", url),
            *("--database-url", database_url, "--runs", str(runs), "--change", str(change)),
            *(() if metrics else ("--without-metrics",)),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"the {scenario} worker failed:\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


# -- Main -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connectors", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--without-metrics",
        action="store_true",
        help="poll without reading LivePerson's Agent Metrics (conversations.metrics: false)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--change", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        result = asyncio.run(
            run_scenario(
                args.worker,
                args.url,
                args.database_url,
                args.runs,
                args.change,
                not args.without_metrics,
            )
        )
        print(json.dumps(result))
        return 0

    from chatops.store.migrate import upgrade

    fake, url = start_fake(args.connectors)
    try:
        with tempfile.TemporaryDirectory() as directory:
            database_url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
            asyncio.run(upgrade(database_url))
            change = round(args.connectors * CHANGED_SHARE)
            metrics = not args.without_metrics
            # Make the toggled connectors' starting point known: connected.
            set_server(url, connectors_to_change(url, change), "CONNECTED")
            baseline = worker("baseline", url, database_url, args.runs, change, metrics)
            steady = worker("steady", url, database_url, args.runs, change, metrics)
            changed = worker("changed", url, database_url, args.runs, change, metrics)
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    return report(args.connectors, baseline, steady, changed)


def report(
    connectors: int, baseline: dict[str, Any], steady: dict[str, Any], changed: dict[str, Any]
) -> int:
    print(
        f"Poll of {connectors} connectors in the fake ({steady['bots']} entries in the polled"
        " lists), SQLite,"
    )
    print(
        f"median of {len(changed['changed'])} runs; {os.cpu_count()} CPUs seen; Agent Metrics"
        f" {'read' if steady['floor_metrics'] or steady['metrics'] else 'not read'};"
        f" load average {LOAD_AT_START:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    print()
    header = (
        f"{'scenario':<22}{'poll':>9}{'floor':>9}{'ratio':>8}{'target':>8}{'peak RSS':>10}"
        f"{'fetch':>9}{'metrics':>9}{'rest':>8}{'floor AM':>10}{'CPU':>8}{'floor CPU':>11}"
    )
    print(header)
    print("-" * len(header))
    ok = True
    for name, row, target in (
        ("steady (no change)", steady, STEADY_TARGET),
        (f"1% changed ({max(row_changed(changed))} bots)", changed, CHANGED_TARGET),
    ):
        met = row["ratio"] <= target
        ok = ok and met
        print(
            f"{name:<22}{ms(row['poll']):>9}{ms(row['floor']):>9}"
            f"{row['ratio']:>7.2f}x{target:>7g}x{row['peak_rss_mb']:>7.0f} MB"
            f"{ms(row['fetch']):>9}{ms(row['metrics']):>9}{ms(row['rest']):>8}"
            f"{ms(row['floor_metrics']):>10}{ms(row['cpu']):>8}{ms(row['floor_cpu']):>11}"
            f"  {'ok' if met else 'MISSED'}"
        )
    print(
        f"{'first poll (inserts)':<22}{ms(baseline['poll']):>9}{'':>9}{'':>8}{'':>8}"
        f"{baseline['peak_rss_mb']:>7.0f} MB  (no target)"
    )
    print()
    print(f"Targets: steady <= {STEADY_TARGET:g}x floor, 1% changed <= {CHANGED_TARGET:g}x floor;")
    print("peak RSS: the worker's, the floor's downloads included (the first poll's: the")
    print("      poller alone); a replica's is measured by bench_floor.py.")
    print("fetch: the LivePerson client's fetch alone (HTTP, JSON, building snapshots);")
    print("metrics: the client's Agent Metrics read alone (batches and pages, JSON, records);")
    print("rest: a tick given that fetch's snapshots and reading (diff against the stored")
    print("      fleet, the transaction): what chatops adds to the source client's work.")
    print("floor AM: the floor's Agent Metrics part; CPU, floor CPU: this process's CPU time")
    print("      for the poll and for the floor (less dependent on the load than wall time).")
    print(
        f"A fresh process's first tick reads the stored fleet: "
        f"{steady['first_tick'] * 1000:.0f} ms (steady worker)."
    )
    return 0 if ok else 1


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms"


def row_changed(row: dict[str, Any]) -> list[int]:
    changed: list[int] = row["changed"]
    return changed


if __name__ == "__main__":
    raise SystemExit(main())
