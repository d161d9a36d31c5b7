"""Several replicas on PostgreSQL (ARCHITECTURE.md section 5).

In-process first: the poller lease itself (PostgresLeaseGate), a tick at a time. Then the
acceptance tests: three ``python -m chatops serve`` processes on one PostgreSQL database,
against the fake LivePerson and the fake Slack served by this process. One replica polls
and relays at a time; when it is killed with SIGKILL another takes over (how soon is
tests/bench/bench_replicas.py's figure), and every alert of a storm across the takeover
reaches Slack once (at most the one in flight at the kill twice). Every replica answers commands,
and a double click spread over two replicas stops the bot once.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from chatops.config import EnvSettings
from chatops.domain import Environment
from chatops.monitor.poll import Poller
from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import PERSONAS
from chatops.sandbox.slack import RunningServer as SlackServer
from chatops.sandbox.slack_client import SlackUser
from chatops.sources.liveperson import LivePersonSource
from chatops.store.engine import SessionFactory, make_engine, make_session_factory
from chatops.store.leases import PostgresLeaseGate, lease_period
from chatops.store.models import utcnow
from tests.alerts_runner import ALERTS, BILLING
from tests.replica_runner import (
    Replica,
    ReplicaCluster,
    lease_holder_pid,
    poll_rows,
    query,
)
from tests.test_alerts_storm import healthy_bots
from tests.waiting import PATIENCE, await_until, wait_until

pytestmark = pytest.mark.postgres

INTERVAL = timedelta(seconds=1)
LEASE = lease_period(INTERVAL)
FAQ = "C0GENERAL"
STATUS_LIST = "nodejs/instance"


# -- The lease, in process -------------------------------------------------------------------


@pytest.fixture
async def pg_sessions(postgres_url: str) -> AsyncIterator[SessionFactory]:
    engine = make_engine(postgres_url)
    yield make_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def make_poller(
    lp_secrets: EnvSettings, pg_sessions: SessionFactory
) -> AsyncIterator[Callable[[str, timedelta], Poller]]:
    sources: list[LivePersonSource] = []

    def make(holder: str, lease: timedelta) -> Poller:
        source = LivePersonSource(
            lp_secrets, [Environment.PRODUCTION], timeout=PATIENCE, retry_waits=()
        )
        sources.append(source)
        return Poller(source, pg_sessions, leader=PostgresLeaseGate(holder, lease))

    yield make
    for source in sources:
        await source.aclose()


async def ticks_until_it_leads(poller: Poller) -> int:
    """Tick ``poller`` until a tick polls; how many ticks did not."""
    refused = 0
    deadline = time.monotonic() + PATIENCE
    while await poller.tick() is None:
        assert time.monotonic() < deadline, "the lease never became free"
        refused += 1
        await asyncio.sleep(0.05)
    return refused


async def test_the_lease_holder_keeps_polling_and_another_takes_over_only_once_it_lapses(
    make_poller: Callable[[str, timedelta], Poller],
) -> None:
    # Long enough that alpha's ticks renew it before it runs out, however busy the machine.
    lease = timedelta(seconds=5)
    alpha, beta = make_poller("alpha", lease), make_poller("beta", lease)

    assert await alpha.tick() is not None
    assert await beta.tick() is None
    assert await alpha.tick() is not None  # renewed: still alpha's
    assert await beta.tick() is None
    assert alpha.leads() and not beta.leads()

    # alpha stops ticking: beta's ticks are refused until the lease lapses, then one polls.
    assert await ticks_until_it_leads(beta) > 0
    assert not alpha.leads()
    assert await alpha.tick() is None
    assert beta.leads() and not alpha.leads()


async def test_a_released_lease_is_taken_at_the_next_tick_of_another_replica(
    make_poller: Callable[[str, timedelta], Poller],
) -> None:
    alpha, beta = make_poller("alpha", timedelta(hours=1)), make_poller("beta", timedelta(hours=1))
    assert await alpha.tick() is not None
    assert await beta.tick() is None

    await alpha.release_leadership()

    assert not alpha.leads()
    assert await beta.tick() is not None
    assert await alpha.tick() is None


async def test_a_tick_outlasting_its_lease_still_keeps_every_other_replica_out(
    make_poller: Callable[[str, timedelta], Poller], fake_lp: LPServer, pg_sessions: SessionFactory
) -> None:
    lease = timedelta(seconds=1)
    alpha, beta = make_poller("alpha", lease), make_poller("beta", lease)
    assert await alpha.tick() is not None
    fake_lp.fake.add_fault("latency", seconds=8, path=STATUS_LIST)

    slow = asyncio.create_task(alpha.tick())
    # alpha's tick waits for the status list, holding the lock, while the stored lease runs out.
    await await_until(
        lambda: not fake_lp.fake.faults(), what="alpha's tick asking for the status list"
    )

    async def lease_ran_out() -> bool:
        async with pg_sessions() as session:
            result = await session.exec(sa.text("SELECT expires_at <= now() FROM lease"))  # type: ignore[call-overload]
            return bool(result.scalar_one())

    await await_until(lease_ran_out, what="the stored lease running out")
    assert await beta.tick() is None
    assert not slow.done()
    assert await slow is not None
    # alpha renewed the lease as its tick committed: it is alpha's for another lease.
    assert await beta.tick() is None
    assert alpha.leads()


# -- Three replicas as processes -------------------------------------------------------------


def replica_environment(database_url: str, lp: LPServer, slack: SlackServer) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": slack.fake.bot_token,
        "SLACK_SIGNING_SECRET": slack.fake.signing_secret,
        "SLACK_API_URL": slack.fake.base_url,
        "CHATOPS_DATABASE_URL": database_url,
        "LP_ACCOUNT_ID": lp.fake.account_id,
        "LP_USERNAME": lp.fake.username,
        "LP_PASSWORD": lp.fake.password,
        "LP_API_URL": lp.url,
    }


REPLICA_CONFIG: dict[str, Any] = {
    "poll": {"interval": f"{INTERVAL.total_seconds():g}s", "timeout": "5s"},
    "alerts": {
        "channel": ALERTS,
        "confirm_polls": 1,
        # One message per bot, so that each can be counted.
        "digest_after": 100,
        "routes": [
            {"bots": ["billing-*"], "channel": BILLING},
            {"bots": ["faq-*"], "channel": FAQ},
        ],
    },
    "permissions": [{"users": ["U0ALICE"], "allow": ["view", "start", "stop", "mute"]}],
    "permissions_contact": "#bot-ops",
}


@pytest.fixture
def cluster(
    tmp_path: Path, fresh_postgres_url: str, fake_lp: LPServer, fake_slack: SlackServer
) -> Iterator[ReplicaCluster]:
    cluster = ReplicaCluster(
        tmp_path, replica_environment(fresh_postgres_url, fake_lp, fake_slack), REPLICA_CONFIG
    )
    try:
        yield cluster
    finally:
        cluster.stop()


def migrate_and_start(cluster: ReplicaCluster, database_url: str) -> None:
    upgraded = cluster.chatops("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded from an empty database" in upgraded.stdout
    cluster.start()
    wait_until(lambda: len(poll_rows(database_url)) >= 2, what="the first polls")


def leader_of(cluster: ReplicaCluster, database_url: str) -> Replica:
    pid = lease_holder_pid(database_url)
    assert pid is not None
    return cluster.by_pid(pid)


def alerted_names(slack: SlackServer, *channels: str) -> Counter[str]:
    """How many top-level alert messages each bot got, by the text they were posted with."""
    names: Counter[str] = Counter()
    for channel in channels:
        for message in slack.fake.messages(channel):
            first = message["history"][0]["text"] if message["history"] else message["text"]
            names[first.split(" is ")[0]] += 1
    return names


def alert_messages(
    slack: SlackServer, channels: tuple[str, ...], name: str
) -> list[dict[str, Any]]:
    """The top-level alert messages about the bot ``name``, by the text they were posted with."""
    return [
        message
        for channel in channels
        for message in slack.fake.messages(channel)
        if (message["history"][0]["text"] if message["history"] else message["text"]).startswith(
            f"{name} is "
        )
    ]


def unfinished_alerts(database_url: str) -> int:
    rows = query(
        database_url,
        "SELECT count(*) FROM alert_outbox WHERE status IN ('pending', 'sending')",
    )
    return int(rows[0][0])


def test_one_replica_polls_and_a_killed_leader_is_replaced_losing_and_repeating_nothing(
    cluster: ReplicaCluster,
    fresh_postgres_url: str,
    fake_lp: LPServer,
    fake_slack: SlackServer,
) -> None:
    url = fresh_postgres_url
    migrate_and_start(cluster, url)
    wait_until(lambda: len(poll_rows(url)) >= 4, what="a few intervals of steady state")

    # Only the lease holder polls, and it is the one replica that says it leads.
    leader = leader_of(cluster, url)
    scrapes = {replica.index: replica.scrape() for replica in cluster.replicas}
    assert [i for i, s in scrapes.items() if s.value("chatops_leader") == 1] == [leader.index]
    assert {i: s.total("chatops_polls_total") > 0 for i, s in scrapes.items()} == {
        replica.index: replica is leader for replica in cluster.replicas
    }
    # `chatops serve` starts with the garbage collector off; each service turns it on and
    # runs a full collection after each of its ticks (chatops.cli, chatops.collector).
    for scrape in scrapes.values():
        assert (scrape.value("chatops_gc_pause_seconds_count", generation="0") or 0) > 0
        assert (scrape.value("chatops_gc_pause_seconds_count", generation="2") or 0) >= 1

    # A storm: a bot drops every 0.4 s; the leader is killed in the middle of it.
    victims = healthy_bots(fake_lp.fake)[:12]
    kill_at = 5
    in_flight: list[tuple[Any, ...]] = []
    killed_at = utcnow()
    for number, victim in enumerate(victims):
        if number == kill_at:
            leader = leader_of(cluster, url)
            leader.kill()
            killed_at = utcnow()
            # What the dead leader was sending: the only rows that may reach Slack twice.
            in_flight = query(
                url, "SELECT id, bot_id, lease_until FROM alert_outbox WHERE status = 'sending'"
            )
        fake_lp.fake.set_fields(victim["botId"], cbSocketStatus="NOT_CONNECTED")
        time.sleep(0.4)  # the storm's pace, not a wait for anything

    # Another replica takes over within one lease period plus one poll interval.
    wait_until(
        lambda: any(row.started_at > killed_at for row in poll_rows(url)), what="a new poller"
    )
    takeover = min(row.started_at for row in poll_rows(url) if row.started_at > killed_at)
    delay = (takeover - killed_at).total_seconds()
    # How soon (within a lease plus an interval on an idle machine) is measured by
    # tests/bench/bench_replicas.py; here only that someone took over, after the kill.
    print(f"takeover {delay:.2f}s after SIGKILL (lease {LEASE.total_seconds():g}s)")
    assert delay > 0
    new_leader = leader_of(cluster, url)
    assert new_leader is not leader and new_leader.alive()

    # Bots that dropped before the kill recover: the new leader edits the old one's messages.
    # (Not a bot whose alert was in flight: Slack may show that one twice, and only the
    # copy the database knows of is edited.)
    in_flight_bots = {row[1] for row in in_flight}
    recovered = [victim for victim in victims[:4] if victim["botId"] not in in_flight_bots][:3]
    for victim in recovered:
        fake_lp.fake.set_fields(victim["botId"], cbSocketStatus="CONNECTED")

    names = {victim["botName"] for victim in victims}
    channels = (ALERTS, BILLING, FAQ)

    def all_delivered() -> bool:
        return (
            set(alerted_names(fake_slack, *channels)) == names
            and all(
                message["text"].startswith("Resolved")
                for victim in recovered
                for message in alert_messages(fake_slack, channels, victim["botName"])
            )
            and unfinished_alerts(url) == 0
        )

    # A row left 'sending' by the dead leader goes out again only once its lease has passed.
    wait_for = PATIENCE
    if in_flight:
        wait_for += max((row[2] - utcnow()).total_seconds() for row in in_flight) + 10
    # Delivered, and the outbox empty: anything sent twice is in Slack by now.
    wait_until(all_delivered, timeout=wait_for, what="every alert delivered")

    counts = alerted_names(fake_slack, *channels)
    assert set(counts) == names
    repeated = {name for name, count in counts.items() if count > 1}
    victim_ids = {victim["botName"]: victim["botId"] for victim in victims}
    # At most the rows in flight at the kill (one per Slack lane at most), each twice at most.
    assert all(victim_ids[name] in in_flight_bots for name in repeated)
    assert max(counts.values()) <= 2
    for victim in recovered:
        (message,) = alert_messages(fake_slack, channels, victim["botName"])
        assert message["edited"] and message["text"].startswith("Resolved")
        replies = fake_slack.fake.thread(message["channel"], message["ts"])[1:]
        assert len(replies) == 1
        assert "OK again" in replies[0]["text"]
    assert query(url, "SELECT count(*) FROM alert_outbox WHERE status = 'dead'") == [(0,)]

    # One poller at a time all along: no two polls overlap, whoever made them.
    rows = poll_rows(url)
    for before, after in pairwise(rows):
        assert before.finished_at is not None and before.finished_at <= after.started_at
    assert all(row.ok for row in rows)

    # Among the survivors, the lease holder polls and relays; the other one did neither.
    survivors = cluster.alive()
    assert len(survivors) == 2
    follower = next(replica for replica in survivors if replica is not new_leader)
    leader_metrics, follower_metrics = new_leader.scrape(), follower.scrape()
    assert leader_metrics.value("chatops_leader") == 1
    assert follower_metrics.value("chatops_leader") == 0
    assert leader_metrics.value("chatops_relay_up") == 1
    assert follower_metrics.value("chatops_relay_up") == 0
    assert leader_metrics.total("chatops_polls_total") > 0
    assert leader_metrics.total("chatops_alerts_total") > 0
    assert follower_metrics.total("chatops_polls_total") == 0
    assert follower_metrics.total("chatops_alerts_total") == 0
    # ...and both report the same stored fleet.
    assert follower_metrics.labels("chatops_bots", "health") == leader_metrics.labels(
        "chatops_bots", "health"
    )
    for replica in survivors:
        assert replica.get("/readyz").status_code == 200
    assert follower.get("/readyz").json()["checks"]["relay"]["detail"] == (
        "idle: another replica leads"
    )

    # JSON logs with poll ids, and no secret in any of them.
    secrets = [
        fake_slack.fake.bot_token,
        fake_slack.fake.signing_secret,
        fake_lp.fake.password,
        *fake_lp.fake.issued_tokens(),
    ]
    for replica in cluster.replicas:
        text = replica.log_path.read_text()
        assert not [secret for secret in secrets if secret in text]
        lines = replica.log_lines()
        assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    leader_lines = new_leader.log_lines()
    assert any("now holds the poller lease" in line["message"] for line in leader_lines)
    assert all(
        "poll_id" in line for line in leader_lines if line["logger"] == "chatops.monitor.poll"
    )


def test_every_replica_answers_and_a_double_click_over_two_replicas_stops_the_bot_once(
    cluster: ReplicaCluster,
    fresh_postgres_url: str,
    fake_lp: LPServer,
    fake_slack: SlackServer,
) -> None:
    migrate_and_start(cluster, fresh_postgres_url)
    alice = [
        SlackUser(fake_slack.fake, PERSONAS["alice"], f"{replica.url}/slack/events")
        for replica in cluster.replicas
    ]
    for user in alice:
        reply = user.command("")
        assert reply.status_code == 200
        assert reply.json()["blocks"][0]["text"]["text"] == "Bots Status"

    # A bot of one connector: a bot's Stop reaches each of its connectors (one audit row each).
    entries = fake_lp.fake.bots()
    victim = next(
        bot
        for bot in healthy_bots(fake_lp.fake)
        if sum(1 for entry in entries if entry["botId"] == bot["botId"]) == 1
    )
    assert alice[0].command(victim["botId"]).status_code == 200
    detail = fake_slack.fake.ephemerals("U0ALICE")[-1]
    answers: list[httpx.Response] = []
    clicks = [
        threading.Thread(target=lambda user=user: answers.append(user.click(detail, "bot_stop")))
        for user in alice[1:]
    ]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join(timeout=PATIENCE)

    assert [answer.status_code for answer in answers] == [200, 200]
    wait_until(
        lambda: (
            query(fresh_postgres_url, "SELECT count(*) FROM audit WHERE outcome <> 'pending'")[0][0]
            == 2
        ),
        what="both clicks audited and done",
    )
    outcomes = query(fresh_postgres_url, "SELECT outcome FROM audit ORDER BY outcome")
    assert [row[0] for row in outcomes] == ["duplicate", "ok"]
    assert fake_lp.fake.stop_count(victim["botId"]) == 1


def test_a_leader_stopped_cleanly_hands_the_lease_over_at_once(
    cluster: ReplicaCluster, fresh_postgres_url: str
) -> None:
    url = fresh_postgres_url
    migrate_and_start(cluster, url)
    leader = leader_of(cluster, url)

    leader.process.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then dies of the signal it caught, as it should.
    assert leader.process.wait(timeout=PATIENCE) == -signal.SIGTERM
    stopped = utcnow()
    messages = [line["message"] for line in leader.log_lines()]
    assert "gave up the poller lease" in messages
    assert "Application shutdown complete." in messages

    # Given up, not left to run out: another replica may take it at its next tick.
    ((holder, expired),) = query(url, "SELECT holder, expires_at <= now() FROM lease")
    assert expired or int(holder.split(":")[1]) != leader.pid
    wait_until(
        lambda: any(row.started_at > stopped for row in poll_rows(url)), what="another poller"
    )
    successor = leader_of(cluster, url)
    assert successor is not leader and successor.alive()
    assert successor.scrape().value("chatops_leader") == 1


def test_replicas_started_on_an_unmigrated_database_refuse_and_say_how_to_fix_it(
    cluster: ReplicaCluster, fresh_postgres_url: str
) -> None:
    # The server trusts local connections, so a password in the URL is accepted and unused:
    # it must not appear in what the replicas print.
    with_password = fresh_postgres_url.replace("postgres@", "postgres:hunter2-pw@", 1)
    cluster.environment = {**cluster.environment, "CHATOPS_DATABASE_URL": with_password}
    first, second = cluster.spawn(), cluster.spawn()
    for replica in (first, second):
        assert replica.process.wait(timeout=PATIENCE) == 1
        output = replica.log_path.read_text()
        assert "has no schema at all (an empty database)" in output
        assert "run `chatops db upgrade`" in output
        assert "hunter2-pw" not in output
        assert "Traceback" not in output
    assert query(fresh_postgres_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[
        0
    ] == (0,)


def test_a_replica_given_a_wrong_database_url_says_so_without_the_password(
    cluster: ReplicaCluster,
) -> None:
    wrong = "postgresql+asyncpg://postgres:hunter2-pw@127.0.0.1:1/chatops"
    cluster.environment = {**cluster.environment, "CHATOPS_DATABASE_URL": wrong}

    replica = cluster.spawn()

    assert replica.process.wait(timeout=PATIENCE) == 1
    output = replica.log_path.read_text()
    assert "chatops serve: cannot reach the database postgresql+asyncpg://postgres:***@" in output
    assert "hunter2-pw" not in output
    assert "Traceback" not in output
