"""The Agent Metrics reader of the LivePerson client, against the fake over real HTTP:
batches, pages, what is listed, and every way the API can refuse or fail."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from chatops.config import EnvSettings
from chatops.domain import Environment, Snapshot
from chatops.domain.conversations import ConnectorMetricsState, MetricsOutcome, MetricsReading
from chatops.sandbox.liveperson import RunningServer
from chatops.sources.liveperson import LivePersonSource
from chatops.sources.liveperson.agent_metrics import (
    AGENT_BATCH,
    IN_FLIGHT,
    PAGE_LIMIT,
    REFUSED_RETRY,
)
from tests.fixtures.liveperson import MakeFakeLP, secrets_for
from tests.test_liveperson_client import (  # noqa: F401 (make_source: a fixture)
    LoopbackDNS,
    MakeSource,
    RecordedSleeps,
    make_source,
)


class MonotonicClock:
    """A ``time.monotonic`` that moves when the test says; it starts at the real one so that
    the poll budget counted from it is the real time left."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


AGENT_VIEW = "/messaging_history/api/account/12345678/agent-view/status"
ALL = (Environment.PRODUCTION, Environment.DEMO)


@pytest.fixture
def source_for(make_source: MakeSource) -> MakeSource:  # noqa: F811
    """``make_source`` of both environments, whose retries record their waits."""

    def make(env: EnvSettings, **kwargs: Any) -> LivePersonSource:
        kwargs.setdefault("sleep", RecordedSleeps())
        return make_source(env, ALL, **kwargs)

    return make


async def read(source: LivePersonSource) -> tuple[list[Snapshot], MetricsReading]:
    started = time.monotonic()
    snapshots = await source.fetch()
    return snapshots, await source.agent_metrics.read(snapshots, started)


def agent_requests(server: RunningServer) -> list[dict[str, Any]]:
    return [r for r in server.fake.requests() if r["path"] == AGENT_VIEW]


def listed_counts(server: RunningServer) -> dict[str, int]:
    return {
        r["agentLoginName"]: r["openAssignedConversations"] for r in server.fake.agent_records()
    }


async def test_it_reads_each_logged_in_connectors_open_conversations(
    fake_lp: RunningServer, source_for: MakeSource
) -> None:
    snapshots, reading = await read(source_for(secrets_for(fake_lp)))

    assert reading.outcome is MetricsOutcome.OK
    assert reading.error is None
    counts = listed_counts(fake_lp)
    listed = {key for key in reading.agents}
    assert {key[1] for key in listed} == set(counts)
    for key, agent in reading.agents.items():
        assert agent.open_conversations == counts[key[1]]
        assert agent.status in ("ONLINE", "AWAY")
        assert agent.connection == "CONNECTED"
    # Every connector was asked for; those whose agent is not logged in are not listed.
    assert reading.asked == {snapshot.key for snapshot in snapshots}
    not_listed = [s for s in snapshots if s.key not in listed]
    assert not_listed, "the default fleet has connectors that are down"
    for snapshot in not_listed:
        assert reading.state_of(snapshot.key) is ConnectorMetricsState.NOT_LISTED
    # All PCS bots share the survey connector: one agent, the same count for each.
    survey = {
        agent.agent_id for key, agent in reading.agents.items() if key[1] == "Survey Connector"
    }
    assert len(survey) == 1


async def test_it_asks_in_batches_of_agents_and_follows_the_pages(
    make_fake_lp: MakeFakeLP, source_for: MakeSource
) -> None:
    server = make_fake_lp(bots=220)
    source = source_for(secrets_for(server))
    server.fake.clear_requests()

    _, reading = await read(source)

    agent_ids = sorted({e["lpUserId"] for e in server.fake.bots()})
    assert len(agent_ids) > 2 * AGENT_BATCH
    logged_in = {r["agentId"] for r in server.fake.agent_records()}
    expected: list[int] = []
    for start in range(0, len(agent_ids), AGENT_BATCH):
        batch = agent_ids[start : start + AGENT_BATCH]
        listed = sum(1 for agent_id in batch if agent_id in logged_in)
        pages = max(1, math.ceil(listed / PAGE_LIMIT))
        expected += [offset * PAGE_LIMIT for offset in range(pages)]
    requests = agent_requests(server)
    assert [r["method"] for r in requests] == ["POST"] * len(expected)
    offsets = [int(dict(p.split("=") for p in r["query"].split("&"))["offset"]) for r in requests]
    # Several batches are in flight at once: their pages interleave.
    assert sorted(offsets) == sorted(expected)
    assert PAGE_LIMIT in offsets, "some batch had a second page"
    assert {agent.agent_id for agent in reading.agents.values()} == logged_in


async def test_a_few_batches_are_asked_for_at_once_never_more(
    make_fake_lp: MakeFakeLP, source_for: MakeSource
) -> None:
    server = make_fake_lp(bots=500)
    source = source_for(secrets_for(server))
    snapshots = await source.fetch()
    server.fake.clear_requests()
    # Every answer waits, so that the requests sent together meet in the fake.
    server.fake.add_fault("latency", seconds=0.3, times=-1, path="agent-view")

    reading = await source.agent_metrics.read(snapshots, time.monotonic())

    assert reading.outcome is MetricsOutcome.OK
    agent_ids = {e["lpUserId"] for e in server.fake.bots()}
    assert math.ceil(len(agent_ids) / AGENT_BATCH) > IN_FLIGHT
    in_flight = [r["in_flight"] for r in agent_requests(server)]
    assert max(in_flight) == IN_FLIGHT
    logged_in = {r["agentId"] for r in server.fake.agent_records()}
    assert {agent.agent_id for agent in reading.agents.values()} == logged_in


async def test_an_agent_missing_from_the_answer_is_not_listed_never_zero(
    fake_lp: RunningServer, source_for: MakeSource
) -> None:
    source = source_for(secrets_for(fake_lp))
    _, before = await read(source)
    key, agent = next((k, a) for k, a in before.agents.items() if k[1] != "Survey Connector")
    fake_lp.fake.set_fields(key[0], key[1], lpSocketStatus="NOT_CONNECTED")

    _, after = await read(source)

    assert after.outcome is MetricsOutcome.OK
    assert key not in after.agents
    assert after.state_of(key) is ConnectorMetricsState.NOT_LISTED
    assert agent.open_conversations is not None


async def test_it_goes_through_csds_to_the_msghist_host(
    fake_lp: RunningServer, source_for: MakeSource
) -> None:
    dns = LoopbackDNS(fake_lp.url)
    source = source_for(
        secrets_for(fake_lp, lp_api_url=None, lp_csds_url=fake_lp.url), transport=dns
    )

    _, reading = await read(source)

    assert reading.outcome is MetricsOutcome.OK
    asked = {path: (scheme, host) for scheme, host, path in dns.asked}
    assert asked[AGENT_VIEW] == ("https", "va.msghist.liveperson.net")
    assert source.agent_metrics.where == "https://va.msghist.liveperson.net"


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refusal_is_said_and_not_asked_again_at_every_poll(
    fake_lp: RunningServer, source_for: MakeSource, status: int
) -> None:
    source = source_for(secrets_for(fake_lp))
    await source.fetch()
    fake_lp.fake.add_fault("status", status=status, times=-1, path="agent-view")
    fake_lp.fake.clear_requests()

    snapshots, reading = await read(source)

    assert reading.outcome is MetricsOutcome.REFUSED
    assert reading.error is not None
    assert f"(HTTP {status})" in reading.error
    assert "may not read Agent Metrics" in reading.error
    assert "conversations.metrics: false" in reading.error
    assert not reading.agents
    # A 401 logs in again once and repeats the call once; a 403 does not.
    assert len(agent_requests(fake_lp)) == (2 if status == 401 else 1)
    assert snapshots, "the statuses are read as ever"

    fake_lp.fake.clear_requests()
    _, again = await read(source)
    assert again.outcome is MetricsOutcome.REFUSED
    assert agent_requests(fake_lp) == []
    # check-config asks at once, whatever the back-off.
    assert (await source.agent_metrics.check()).outcome is MetricsOutcome.REFUSED
    assert len(agent_requests(fake_lp)) >= 1


async def test_a_refused_api_is_asked_again_ten_minutes_later(
    fake_lp: RunningServer, source_for: MakeSource
) -> None:
    clock = MonotonicClock()
    source = source_for(secrets_for(fake_lp), monotonic=clock)
    snapshots = await source.fetch()
    fake_lp.fake.add_fault("status", status=403, times=1, path="agent-view")
    assert (await source.agent_metrics.read(snapshots, clock())).outcome is MetricsOutcome.REFUSED
    fake_lp.fake.clear_requests()

    clock.now += REFUSED_RETRY - 1
    assert (await source.agent_metrics.read(snapshots, clock())).outcome is MetricsOutcome.REFUSED
    assert agent_requests(fake_lp) == []
    clock.now += 2
    assert (await source.agent_metrics.read(snapshots, clock())).outcome is MetricsOutcome.OK
    assert len(agent_requests(fake_lp)) >= 1


async def test_an_expired_bearer_logs_in_again_and_reads(
    fake_lp: RunningServer, source_for: MakeSource
) -> None:
    source = source_for(secrets_for(fake_lp))
    await source.fetch()
    fake_lp.fake.add_fault("status", status=401, times=1, path="agent-view")

    _, reading = await read(source)

    assert reading.outcome is MetricsOutcome.OK
    assert reading.agents


async def test_a_429_waits_for_retry_after_when_the_poll_has_time(
    fake_lp: RunningServer, source_for: MakeSource
) -> None:
    sleeps = RecordedSleeps()
    source = source_for(secrets_for(fake_lp), sleep=sleeps, timeout=20.0)
    await source.fetch()
    fake_lp.fake.add_fault("status", status=429, retry_after=3, path="agent-view")

    _, reading = await read(source)

    assert reading.outcome is MetricsOutcome.OK
    assert sleeps == [3.0]


async def test_a_429_longer_than_the_poll_budget_fails_the_read_only(
    fake_lp: RunningServer, source_for: MakeSource
) -> None:
    sleeps = RecordedSleeps()
    source = source_for(secrets_for(fake_lp), sleep=sleeps, timeout=5.0)
    fake_lp.fake.add_fault("status", status=429, retry_after=60, times=-1, path="agent-view")

    snapshots, reading = await read(source)

    assert snapshots
    assert reading.outcome is MetricsOutcome.FAILED
    assert reading.error is not None
    assert "HTTP 429" in reading.error
    assert "no time left to retry" in reading.error
    assert sleeps == []


async def test_a_500_is_retried_and_a_lasting_one_fails_the_read(
    fake_lp: RunningServer, source_for: MakeSource
) -> None:
    source = source_for(secrets_for(fake_lp))
    await source.fetch()
    fake_lp.fake.add_fault("status", status=500, times=1, path="agent-view")
    assert (await read(source))[1].outcome is MetricsOutcome.OK

    fake_lp.fake.add_fault("status", status=500, times=-1, path="agent-view")
    _, reading = await read(source)
    assert reading.outcome is MetricsOutcome.FAILED
    assert reading.error is not None
    assert "HTTP 500" in reading.error
    assert "4 attempts" in reading.error


@pytest.mark.parametrize(
    ("kind", "field", "words"),
    [
        ("malformed", "nodeStatus", "malformed JSON"),
        ("html", "nodeStatus", "HTML page"),
        ("missing_field", "agentStatusRecords", "has no agentStatusRecords list"),
    ],
)
async def test_an_answer_that_is_not_understood_fails_the_read(
    fake_lp: RunningServer, source_for: MakeSource, kind: str, field: str, words: str
) -> None:
    source = source_for(secrets_for(fake_lp))
    await source.fetch()
    fake_lp.fake.add_fault(kind, field=field, times=-1, path="agent-view")

    _, reading = await read(source)

    assert reading.outcome is MetricsOutcome.FAILED
    assert reading.error is not None
    assert words in reading.error


async def test_a_slow_answer_fails_the_read_within_the_poll_timeout(
    fake_lp: RunningServer, source_for: MakeSource
) -> None:
    source = source_for(secrets_for(fake_lp), timeout=3.0, request_timeout=1.0)
    await source.fetch()
    fake_lp.fake.add_fault("latency", seconds=5.0, times=-1, path="agent-view")

    started = time.monotonic()
    snapshots = await source.fetch()
    reading = await source.agent_metrics.read(snapshots, started)

    assert reading.outcome is MetricsOutcome.FAILED
    assert reading.error is not None
    assert "poll.timeout" in reading.error or "did not answer" in reading.error
    fake_lp.fake.clear_faults()


async def test_no_time_left_after_the_status_lists_asks_nothing(
    fake_lp: RunningServer, source_for: MakeSource
) -> None:
    source = source_for(secrets_for(fake_lp), timeout=5.0)
    snapshots = await source.fetch()
    fake_lp.fake.clear_requests()

    reading = await source.agent_metrics.read(snapshots, time.monotonic() - 4.9)

    assert reading.outcome is MetricsOutcome.FAILED
    assert reading.error is not None
    assert "no time was left of the 5 s poll.timeout" in reading.error
    assert agent_requests(fake_lp) == []


async def test_connectors_without_an_agent_id_are_not_asked_for(
    fake_lp: RunningServer, source_for: MakeSource
) -> None:
    source = source_for(secrets_for(fake_lp))
    snapshots = await source.fetch()
    fake_lp.fake.clear_requests()

    reading = await source.agent_metrics.read(
        [s for s in snapshots if s.key not in source.agent_metrics.agent_ids], time.monotonic()
    )

    assert reading.outcome is MetricsOutcome.OK
    assert not reading.asked
    assert agent_requests(fake_lp) == []


# -- answers gone wrong: the counts read are still those of the agents asked for ---------


@pytest.mark.parametrize(
    "fault",
    [
        # Each record is followed by one of an agent nobody asked for, same login name, 998.
        "foreign",
        # Every record again at the end of the page, with 997: the first record counts.
        "duplicate",
    ],
)
async def test_only_the_first_record_of_each_agent_asked_for_counts(
    fake_lp: RunningServer, source_for: MakeSource, fault: str
) -> None:
    source = source_for(secrets_for(fake_lp))
    await source.fetch()
    counts = listed_counts(fake_lp)
    fake_lp.fake.add_fault("agent_records", field=fault, times=-1, path="agent-view")

    _, reading = await read(source)

    assert reading.outcome is MetricsOutcome.OK
    assert {agent.agent_id for agent in reading.agents.values()} == {
        r["agentId"] for r in fake_lp.fake.agent_records()
    }
    for key, agent in reading.agents.items():
        assert agent.open_conversations == counts[key[1]]


async def test_counts_no_agent_can_have_read_unknown_and_the_read_goes_on(
    fake_lp: RunningServer, source_for: MakeSource
) -> None:
    source = source_for(secrets_for(fake_lp))
    await source.fetch()
    # Negative, 10**20, 1e300, twenty digits, Infinity, in turn.
    fake_lp.fake.add_fault("agent_records", field="counts", times=-1, path="agent-view")

    _, reading = await read(source)

    assert reading.outcome is MetricsOutcome.OK
    assert len(reading.agents) >= 5
    for agent in reading.agents.values():
        assert agent.open_conversations is None
        assert agent.load is None


@pytest.mark.parametrize(
    ("fault", "requests"),
    [
        # next points at the page itself: read once.
        ("next_self", 1),
        # next points past the last page, again and again: the first empty page ends it.
        ("next_forever", 2),
    ],
)
async def test_pages_that_would_never_end_are_read_once_each(
    fake_lp: RunningServer, source_for: MakeSource, fault: str, requests: int
) -> None:
    source = source_for(secrets_for(fake_lp))
    await source.fetch()
    fake_lp.fake.clear_requests()
    fake_lp.fake.add_fault("agent_records", field=fault, times=-1, path="agent-view")

    _, reading = await read(source)

    assert reading.outcome is MetricsOutcome.OK
    assert len(agent_requests(fake_lp)) == requests
    assert {agent.agent_id for agent in reading.agents.values()} == {
        r["agentId"] for r in fake_lp.fake.agent_records()
    }
