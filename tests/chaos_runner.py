"""Chaos for the alert pipeline: seeded random schedules against the real ``chatops serve``.

One *run* (one seed) starts a fresh fake LivePerson fleet, a fresh fake Slack workspace and
``python -m chatops serve`` on a fresh SQLite database, then plays a schedule drawn from the
seed. Time is counted in *ticks*: one tick is one more successful poll in the database, so
a schedule means the same whatever the machine's load.

- **Held changes**: a bot's Bot Server connection drops, or comes back, and stays so for
  4 to 6 ticks (the confirmation is 2 polls).
- **Blips**: a bot is Not Connected in exactly one status-list fetch (the fake's ``flap``),
  shorter than the confirmation.
- **Slack faults** on ``chat.postMessage`` and ``chat.update``, 1 or 2 calls each: 429 with
  ``Retry-After``, 500, answers lost before or after Slack acted (the two outcomes a
  timeout hides: the connection drops with no answer), and slow answers (2 s).
- **Kills**: SIGKILL of the service, and a new one started at once. **Restarts**: SIGTERM
  (a clean shutdown: the relay finishes what it is sending and stops), then a new one. One
  or the other every 8 ticks.
- **A mute in its author's scope**: bob's *mute* covers ``billing-*`` only; at the start he
  mutes ``bil*`` with a signed ``/botstatus`` command. Billing bots change like the others;
  a bot named ``bilingual-bot-1`` appears after the mute, outside his scope, and changes too.

Then the service polls on until every change is confirmed (faults injected late fire on
the last alerts), the outbox empties, and the run checks what Slack received against the
schedule:

- every confirmed incident of a bot that is not muted is announced once: at most one more
  copy for each message that was in flight at a kill, or whose answer was lost after Slack
  had posted it (Slack has no idempotency key; nothing else may repeat);
- every recovery edits its incident's message ("Resolved") and replies once in its thread;
- nothing is ever sent about a blip, or about a muted bot in its author's scope.

Figures: runs, held changes, blips, Slack faults that fired, kills, restarts, incidents,
lost (an incident or a recovery Slack never showed), duplicated (extra copies), and how many
of those a kill or a lost answer explains. A violation is any lost message, an unexplained
copy, or a message about a blip or a muted bot.

    .venv/bin/python -m tests.chaos_runner --seeds 1 2 3   # these runs
    .venv/bin/python -m tests.chaos_runner --soak 5        # new seeds for 5 minutes

``tests/test_chaos.py`` runs a short seed set in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from chatops.sandbox.liveperson import FakeLivePerson, run_in_thread
from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import PERSONAS, FakeSlack, FakeSlackHost
from chatops.sandbox.slack import RunningServer as SlackServer
from chatops.sandbox.slack_client import SlackUser
from tests import fleet
from tests.replica_runner import Replica, ReplicaCluster

ALERTS = "C0ALERTS"
BILLING = "C0BILLING"
FAQ = "C0FAQ"
CHANNELS = (ALERTS, BILLING, FAQ)
CONFIRM_POLLS = 2
MIN_HOLD, MAX_HOLD = 4, 6
NEWCOMER = "bilingual-bot-1"
MUTE_TARGET = "bil*"
METHODS = ("chat.postMessage", "chat.update")
FAULT_KINDS = ("429", "500", "lost-before", "lost-after", "slow")

CONFIG: dict[str, Any] = {
    "poll": {"interval": "1s", "timeout": "5s"},
    "alerts": {
        "channel": ALERTS,
        "routes": [
            {"bots": ["billing-*"], "channel": BILLING},
            {"bots": ["faq-*"], "channel": FAQ},
        ],
        "confirm_polls": CONFIRM_POLLS,
        # One message per incident, whatever happens at once, and no flapping episodes:
        # the schedule's changes are what is checked, not the flapping rule.
        "digest_after": 1000,
        "flapping": {"changes": 1000, "window": "15m"},
        "remind_every": "1d",
    },
    "permissions": [
        {"users": ["U0ALICE"], "allow": ["view", "start", "stop", "mute"]},
        {"users": ["U0BOB"], "allow": ["view", "mute"], "bots": ["billing-*"]},
    ],
    "permissions_contact": "#bot-ops",
}

# Importing chatops takes about 2 s of CPU; on two cores shared with other work a new
# process may need a minute before it answers.
STARTUP = 120.0
# A slow Slack answer, well within the relay's timeout: more messages in flight at a kill.
SLOW = 2.0
# After a blip, Connected for every later fetch of the run.
BACK = ("CONNECTED",) * 100_000
_ANNOUNCEMENT = re.compile(r"^(?:Resolved: )?(?P<name>.+?) (?:is Down|recovered)$")


class ChaosError(RuntimeError):
    """The run could not be carried out (the service did not start, a wait ran out)."""


# -- the schedule ---------------------------------------------------------------------------

EventKind = Literal["down", "up", "blip", "fault", "kill", "restart"]


@dataclass(frozen=True)
class Event:
    tick: int
    kind: EventKind
    bot: str = ""
    fault: str = ""
    method: str = ""
    times: int = 0


def plan(seed: int, held: Sequence[str], blipping: Sequence[str], ticks: int) -> list[Event]:
    """The run's events by tick: alternating held changes, blips, faults, a kill, a restart."""
    rng = random.Random(seed)
    events: list[Event] = []
    for name in held:
        tick, down = rng.randint(1, 3), True
        while tick <= ticks:
            events.append(Event(tick, "down" if down else "up", name))
            down = not down
            tick += rng.randint(MIN_HOLD, MAX_HOLD)
    for name in blipping:
        events.append(Event(rng.randint(1, ticks), "blip", name))
    for _ in range(max(3, ticks // 2)):
        events.append(
            Event(
                rng.randint(1, ticks),
                "fault",
                fault=rng.choice(FAULT_KINDS),
                method=rng.choice(METHODS),
                times=rng.randint(1, 2),
            )
        )
    # A new process costs seconds of imports on a busy machine: one kill or clean restart
    # per 8 ticks, each at a tick of its own.
    process_ticks = rng.sample(range(2, max(3, ticks)), min(max(1, ticks // 8), ticks - 2))
    for tick in process_ticks:
        events.append(Event(tick, "kill" if rng.random() < 0.6 else "restart"))
    order = {"kill": 0, "restart": 0, "fault": 1, "down": 2, "up": 2, "blip": 3}
    return sorted(events, key=lambda event: (event.tick, order[event.kind]))


# -- figures ----------------------------------------------------------------------------------


@dataclass
class Figures:
    runs: int = 0
    changes: int = 0
    blips: int = 0
    faults: int = 0
    kills: int = 0
    restarts: int = 0
    incidents: int = 0
    lost: int = 0
    duplicated: int = 0
    explained: int = 0
    violations: list[str] = field(default_factory=list)

    def add(self, other: Figures) -> None:
        for name in (
            "runs",
            "changes",
            "blips",
            "faults",
            "kills",
            "restarts",
            "incidents",
            "lost",
            "duplicated",
            "explained",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.violations.extend(other.violations)

    def summary(self) -> str:
        return (
            f"runs {self.runs}, changes {self.changes}, blips {self.blips}, "
            f"faults {self.faults}, kills {self.kills}, restarts {self.restarts}, "
            f"incidents {self.incidents}, lost {self.lost}, duplicated {self.duplicated} "
            f"({self.explained} explained by a kill or a lost answer), "
            f"violations {len(self.violations)}"
        )


# -- one run ----------------------------------------------------------------------------------


def healthy_names(lp: FakeLivePerson) -> list[str]:
    """Named production custom bots every connector of which is healthy: the ones a
    schedule changes (a change reaches all of a bot's connectors)."""
    return sorted(str(entry["botName"]) for entry in fleet.healthy_bots(lp))


def channel_of(name: str) -> str:
    if name.startswith("billing-"):
        return BILLING
    return FAQ if name.startswith("faq-") else ALERTS


def muted(name: str) -> bool:
    """Silenced by bob's ``bil*``: it matches, and it is within his scope (``billing-*``)."""
    return name.startswith("billing-")


@dataclass
class ChaosRun:
    seed: int
    workdir: Path
    slack_host: FakeSlackHost
    ticks: int = 12
    log: Callable[[str], None] = lambda line: None
    figures: Figures = field(default_factory=Figures)
    # Outbox rows 'sending' at each kill: (channel, text) of the messages that may repeat.
    in_flight: Counter[tuple[str, str]] = field(default_factory=Counter)

    def run(self) -> Figures:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.figures.runs = 1
        lp = run_in_thread(FakeLivePerson(bots=40, seed=1, start_delay=0.2))
        slack = self.slack_host.add(FakeSlack(channels=CHANNELS))
        cluster = ReplicaCluster(self.workdir, self._environment(lp, slack), CONFIG, count=1)
        try:
            self._play(lp, slack, cluster)
        finally:
            cluster.stop()
            slack.stop()
            lp.stop()
        return self.figures

    @property
    def database(self) -> Path:
        return self.workdir / "chatops.db"

    def _environment(self, lp: LPServer, slack: SlackServer) -> dict[str, str]:
        return {
            "SLACK_BOT_TOKEN": slack.fake.bot_token,
            "SLACK_SIGNING_SECRET": slack.fake.signing_secret,
            "SLACK_API_URL": slack.fake.base_url,
            "CHATOPS_DATABASE_URL": f"sqlite+aiosqlite:///{self.database}",
            "LP_API_URL": lp.url,
            "LP_ACCOUNT_ID": lp.fake.account_id,
            "LP_USERNAME": lp.fake.username,
            "LP_PASSWORD": lp.fake.password,
        }

    # -- playing the schedule ----------------------------------------------------------------

    def _play(self, lp: LPServer, slack: SlackServer, cluster: ReplicaCluster) -> None:
        rng = random.Random(self.seed)
        names = healthy_names(lp.fake)
        ids = {str(e["botName"]): str(e["botId"]) for e in lp.fake.bots() if "botName" in e}
        began = time.monotonic()
        (service,) = cluster.start(timeout=STARTUP)
        self.log(f"seed {self.seed}: started in {time.monotonic() - began:.1f}s")
        self._wait_ticks(1)
        bob = SlackUser(slack.fake, PERSONAS["bob"], f"{service.url}/slack/events")
        reply = bob.command(f"mute {MUTE_TARGET} 1h chaos")
        if reply.status_code != 200 or "Muted alerts" not in reply.text:
            raise ChaosError(f"bob's mute was not accepted: {reply.status_code} {reply.text}")
        ids[NEWCOMER] = lp.fake.add_bot(NEWCOMER, like=ids[names[0]])
        # The newcomer's first sight is a baseline (a poll running meanwhile may miss it).
        self._wait_ticks(2)

        pool = [name for name in names if not muted(name)]
        rng.shuffle(pool)
        held = [NEWCOMER, *[n for n in names if muted(n)], *pool[:5]]
        blipping = pool[5:8]
        events = plan(self.seed, held, blipping, self.ticks)
        self.log(f"seed {self.seed}: {len(events)} events over {self.ticks} ticks")
        states: dict[str, list[str]] = {name: [] for name in held}
        start = self._polls()
        self.log(f"seed {self.seed}: schedule begins at {time.monotonic() - began:.1f}s")
        for tick in range(1, self.ticks + 1):
            self._wait_polls(start + tick)
            for event in (e for e in events if e.tick == tick):
                service = self._apply(event, lp, slack, cluster, service, ids, states)
            self.log(f"seed {self.seed}: tick {tick} at {time.monotonic() - began:.1f}s")
        # Every change confirmed, then everything delivered (faults not fired yet fire now).
        self._wait_ticks(CONFIRM_POLLS + 1)
        self.log(f"seed {self.seed}: confirmed at {time.monotonic() - began:.1f}s")
        self._wait_until(self._outbox_empty, 180, "the outbox to empty")
        self.log(f"seed {self.seed}: delivered at {time.monotonic() - began:.1f}s")
        self._check(slack.fake, states, blipping)

    def _apply(
        self,
        event: Event,
        lp: LPServer,
        slack: SlackServer,
        cluster: ReplicaCluster,
        service: Replica,
        ids: dict[str, str],
        states: dict[str, list[str]],
    ) -> Replica:
        figures = self.figures
        if event.kind in ("down", "up"):
            value = "NOT_CONNECTED" if event.kind == "down" else "CONNECTED"
            lp.fake.set_fields(ids[event.bot], cbSocketStatus=value)
            states[event.bot].append(event.kind)
            figures.changes += 1
        elif event.kind == "blip":
            # Not Connected in the next fetch only: the flap sets the value fetch by fetch.
            lp.fake.flap(ids[event.bot], "cbSocketStatus", ["NOT_CONNECTED", *BACK])
            figures.blips += 1
        elif event.kind == "fault":
            inject(slack.fake, event)
        elif event.kind == "kill":
            service.kill()
            self.in_flight.update(self._sending())
            figures.kills += 1
            (service,) = self._respawn(cluster)
        else:
            service.process.send_signal(signal.SIGTERM)
            service.process.wait(timeout=30)
            figures.restarts += 1
            (service,) = self._respawn(cluster)
        return service

    def _respawn(self, cluster: ReplicaCluster) -> list[Replica]:
        cluster.count = 1
        return cluster.start(timeout=STARTUP)

    # -- the database ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.database, timeout=30)
        try:
            yield connection
        finally:
            connection.close()

    def _polls(self) -> int:
        with self._db() as db:
            return int(db.execute("SELECT count(*) FROM poll_run WHERE ok").fetchone()[0])

    def _outbox_empty(self) -> bool:
        with self._db() as db:
            row = db.execute(
                "SELECT count(*) FROM alert_outbox WHERE status IN ('pending', 'sending')"
            ).fetchone()
        return int(row[0]) == 0

    def _sending(self) -> list[tuple[str, str]]:
        """The messages of the rows a killed service was delivering."""
        with self._db() as db:
            rows = db.execute(
                "SELECT channel, payload FROM alert_outbox WHERE status = 'sending'"
            ).fetchall()
        found = []
        for channel, body in rows:
            post = json.loads(body).get("post")
            if post is not None:
                found.append((str(channel), str(post.get("text", ""))))
        return found

    def _wait_polls(self, count: int) -> None:
        self._wait_until(lambda: self._polls() >= count, STARTUP, f"{count} successful polls")

    def _wait_ticks(self, ticks: int) -> None:
        self._wait_polls(self._polls() + ticks)

    def _wait_until(self, condition: Callable[[], bool], bound: float, what: str) -> None:
        deadline = time.monotonic() + bound
        while not condition():
            if time.monotonic() > deadline:
                raise ChaosError(f"seed {self.seed}: waited {bound:g}s for {what}")
            time.sleep(0.02)

    # -- the verdict -------------------------------------------------------------------------

    def _check(
        self, fake: FakeSlack, states: dict[str, list[str]], blipping: Sequence[str]
    ) -> None:
        figures = self.figures
        figures.faults = fired_faults(fake)
        by_name: dict[str, list[dict[str, Any]]] = {}
        others: list[dict[str, Any]] = []
        for channel in CHANNELS:
            for message in fake.messages(channel):
                match = _ANNOUNCEMENT.match(str(message["text"]))
                if match:
                    by_name.setdefault(match["name"], []).append(message)
                else:
                    others.append(message)
        allowance = Counter(self.in_flight) + lost_after_posts(fake)
        copies: Counter[tuple[str, str]] = Counter()

        for name in blipping:
            if name in by_name:
                figures.violations.append(f"seed {self.seed}: {name} alerted for a blip")
        for name, changes in states.items():
            messages = by_name.get(name, [])
            if muted(name):
                if messages:
                    figures.violations.append(f"seed {self.seed}: {name} alerted while muted")
                continue
            self._check_bot(name, changes, messages, copies)
        for message in others:
            text = str(message["text"])
            if text.startswith("Alerts muted for"):
                copies[(message["channel"], text)] += 1
                continue
            figures.violations.append(f"seed {self.seed}: unexpected message {text!r}")
        expected_mute = (BILLING, f"Alerts muted for {MUTE_TARGET}")
        copies[expected_mute] -= 1
        if copies[expected_mute] < 0:
            figures.lost += 1
            figures.violations.append(f"seed {self.seed}: the mute was never announced")

        for key, extra in copies.items():
            if extra <= 0:
                continue
            figures.duplicated += extra
            explained = min(extra, allowance[key])
            figures.explained += explained
            if extra > explained:
                figures.violations.append(
                    f"seed {self.seed}: {extra - explained} unexplained copies of {key[1]!r}"
                )

    def _check_bot(
        self,
        name: str,
        changes: list[str],
        messages: list[dict[str, Any]],
        copies: Counter[tuple[str, str]],
    ) -> None:
        figures = self.figures
        channel = channel_of(name)
        incidents = changes.count("down")
        resolved = changes.count("up")  # the changes alternate, starting with "down"
        still_down = incidents - resolved
        figures.incidents += incidents
        resolved_messages = [m for m in messages if str(m["text"]).startswith("Resolved: ")]
        down_messages = [m for m in messages if str(m["text"]).endswith(" is Down")]
        missing = max(0, resolved - len(resolved_messages)) + max(
            0, still_down - len(down_messages)
        )
        if missing:
            figures.lost += missing
            figures.violations.append(
                f"seed {self.seed}: {name}: {incidents} incidents, {resolved} recovered; Slack "
                f"shows {len(resolved_messages)} resolved and {len(down_messages)} down"
            )
        copies[(channel, f"{name} is Down")] += max(0, len(down_messages) - still_down)
        copies[(channel, f"Resolved: {name} recovered")] += max(
            0, len(resolved_messages) - resolved
        )
        for message in resolved_messages:
            replies = [r for r in message.get("replies", []) if "OK again" in str(r["text"])]
            if not message.get("edited"):
                figures.violations.append(f"seed {self.seed}: {name}: resolved without an edit")
            if not replies:
                figures.lost += 1
                figures.violations.append(f"seed {self.seed}: {name}: no recovery reply")
            copies[(channel, f"{name} is OK again")] += max(0, len(replies) - 1)


def inject(fake: FakeSlack, event: Event) -> None:
    if event.fault == "slow":
        fake.inject(method=event.method, delay=SLOW, times=event.times)
    elif event.fault == "429":
        fake.inject(method=event.method, status=429, retry_after=1, times=event.times)
    elif event.fault == "500":
        fake.inject(method=event.method, status=500, times=event.times)
    else:
        lost = "before" if event.fault == "lost-before" else "after"
        fake.inject(method=event.method, answer_lost=lost, times=event.times)


def fired_faults(fake: FakeSlack) -> int:
    """Calls that failed, lost their answer or were slow."""
    failed = sum(
        1
        for method in METHODS
        for call in fake.calls(method)
        if call["_status"] != 200 or call.get("_answer_lost")
    )
    slow = [fault for fault in fake.faults() if fault["delay"]]
    return failed + sum(fault["fired"] for fault in slow)


def lost_after_posts(fake: FakeSlack) -> Counter[tuple[str, str]]:
    """Posts Slack made whose answer was lost: the relay cannot know, and posts again."""
    return Counter(
        (str(call.get("channel")), str(call.get("text")))
        for call in fake.calls("chat.postMessage")
        if call.get("_answer_lost") == "after"
    )


# -- the program ------------------------------------------------------------------------------


# Two runs side by side: a run mostly waits for polls (one a second), so two of them take
# about as long as one, even on two busy cores.
PARALLEL = 2


def run_seeds(
    seeds: Sequence[int], workdir: Path, *, ticks: int, log: Callable[[str], None]
) -> Figures:
    """One run per seed, ``PARALLEL`` at a time; the figures of them all."""
    total = Figures()
    with FakeSlackHost().start() as host, ThreadPoolExecutor(PARALLEL) as pool:
        runs = [
            ChaosRun(seed, workdir / f"seed-{seed}", host, ticks=ticks, log=log) for seed in seeds
        ]
        for run, figures in zip(runs, pool.map(ChaosRun.run, runs), strict=True):
            log(f"seed {run.seed}: {figures.summary()}")
            total.add(figures)
    return total


def soak(minutes: float, workdir: Path, *, ticks: int, log: Callable[[str], None]) -> Figures:
    """Runs with new seeds, ``PARALLEL`` at a time, until ``minutes`` have passed."""
    total = Figures()
    deadline = time.monotonic() + minutes * 60
    seed = int(time.time())
    while time.monotonic() < deadline:
        total.add(run_seeds(range(seed, seed + PARALLEL), workdir, ticks=ticks, log=log))
        seed += PARALLEL
    return total


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos_runner", description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--soak", type=float, metavar="MINUTES", help="new seeds until then")
    parser.add_argument("--ticks", type=int, default=16, help="ticks (polls) per run")
    parser.add_argument("--workdir", type=Path, help="where runs keep their files")
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(line, flush=True)

    with tempfile.TemporaryDirectory(prefix="chatops-chaos-") as scratch:
        workdir = args.workdir or Path(scratch)
        if args.soak is not None:
            figures = soak(args.soak, workdir, ticks=args.ticks, log=log)
        else:
            figures = run_seeds(args.seeds, workdir, ticks=args.ticks, log=log)
    print(f"total: {figures.summary()}")
    for violation in figures.violations:
        print(f"violation: {violation}")
    return 1 if figures.violations else 0


if __name__ == "__main__":
    sys.exit(main())
