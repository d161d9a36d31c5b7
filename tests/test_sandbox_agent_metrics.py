"""The fake LivePerson's Agent Metrics API, over HTTP: shape, pagination, counts, faults."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chatops.sandbox.liveperson import RunningServer
from tests.clock import ManualClock
from tests.fixtures.liveperson import MakeFakeLP

AGENT_VIEW = "/messaging_history/api/account/12345678/agent-view/status"
LOGIN = "/api/account/12345678/login?v=1.3"


def bearer(client: httpx.Client) -> dict[str, str]:
    response = client.post(LOGIN, json={"username": "chatops", "password": "sandbox"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['bearer']}"}


def agent_view(
    client: httpx.Client, headers: dict[str, str], body: Any = None, **params: int
) -> httpx.Response:
    return client.post(
        AGENT_VIEW, json={} if body is None else body, headers=headers, params=params
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


@pytest.fixture
def server(make_fake_lp: MakeFakeLP, clock: ManualClock) -> RunningServer:
    return make_fake_lp(clock=clock.time, bots=60)


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url) as client:
        yield client


def logged_in_users(server: RunningServer) -> set[str]:
    """Bot users of the connectors that are Online with their cloud connection up."""
    users = set()
    for entry in server.fake.bots():
        cloud = str(entry.get("lpSocketStatus", "")).lower().replace("-", "_").replace(" ", "_")
        if str(entry.get("nodeStatus", "")).lower() == "online" and cloud in (
            "connected",
            "online",
            "away",
        ):
            users.add(entry["lpAccountUser"])
    return users


def test_it_lists_logged_in_agents_with_the_documented_fields(
    server: RunningServer, client: httpx.Client
) -> None:
    response = agent_view(client, bearer(client), limit=100)
    assert response.status_code == 200, response.text
    data = response.json()
    records = data["agentStatusRecords"]
    assert data["accountID"] == "12345678"
    assert data["_metadata"]["count"] == len(server.fake.agent_records())
    assert "/agent-view/status?limit=100&offset=0" in data["_metadata"]["self"]["href"]
    record = records[0]
    for field in (
        "agentId",
        "agentLoginName",
        "currentStatus",
        "currentConnectionState",
        "openAssignedConversations",
        "load",
        "lastUpdatedTimeL",
    ):
        assert field in record
    assert record["currentConnectionState"] == "CONNECTED"
    assert record["currentStatus"] in ("ONLINE", "AWAY")
    assert isinstance(record["openAssignedConversations"], int)


def test_agents_of_connectors_that_are_not_online_are_not_listed(
    server: RunningServer, client: httpx.Client
) -> None:
    listed = {record["agentLoginName"] for record in server.fake.agent_records()}
    assert listed == logged_in_users(server)
    # The default fleet has bots with a problem: some of their agents are not listed.
    every = {entry["lpAccountUser"] for entry in server.fake.bots()}
    assert listed < every
    entry = next(e for e in server.fake.bots() if e["lpAccountUser"] in listed)
    server.fake.set_fields(entry["botId"], entry["lpAccountUser"], nodeStatus="NOT_CONNECTED")
    assert entry["lpAccountUser"] not in {r["agentLoginName"] for r in server.fake.agent_records()}


def test_pagination_follows_limit_and_offset_with_next_links(
    server: RunningServer, client: httpx.Client
) -> None:
    headers = bearer(client)
    total = len(server.fake.agent_records())
    assert total > 25
    seen: list[str] = []
    offset = 0
    pages = 0
    while True:
        data = agent_view(client, headers, limit=10, offset=offset).json()
        seen += [record["agentId"] for record in data["agentStatusRecords"]]
        pages += 1
        assert data["_metadata"]["count"] == total
        if "next" not in data["_metadata"]:
            break
        assert f"offset={offset + 10}" in data["_metadata"]["next"]["href"]
        offset += 10
    assert pages == -(-total // 10)
    assert len(seen) == len(set(seen)) == total
    # At most 100 a page, whatever is asked.
    assert len(agent_view(client, headers, limit=500).json()["agentStatusRecords"]) <= 100


def test_agent_ids_filter_the_answer(server: RunningServer, client: httpx.Client) -> None:
    records = server.fake.agent_records()
    wanted = [records[0]["agentId"], records[3]["agentId"], "999"]
    data = agent_view(client, bearer(client), {"agentIds": wanted}).json()
    assert sorted(r["agentId"] for r in data["agentStatusRecords"]) == sorted(wanted[:2])
    assert data["_metadata"]["count"] == 2


def test_counts_move_over_time_and_repeat_for_the_same_seed_and_clock(
    make_fake_lp: MakeFakeLP, server: RunningServer, clock: ManualClock
) -> None:
    first = {r["agentId"]: r["openAssignedConversations"] for r in server.fake.agent_records()}
    twin = make_fake_lp(clock=clock.time, bots=60)
    again = {r["agentId"]: r["openAssignedConversations"] for r in twin.fake.agent_records()}
    assert again == first
    clock.advance(5 * 60)
    later = {r["agentId"]: r["openAssignedConversations"] for r in server.fake.agent_records()}
    assert later.keys() == first.keys()
    assert later != first
    assert all(0 <= count <= 999 for count in later.values())


def test_a_pinned_count_is_served_until_unpinned(
    server: RunningServer, client: httpx.Client, clock: ManualClock
) -> None:
    record = server.fake.agent_records()[0]
    user = record["agentLoginName"]
    response = client.post("/_sandbox/conversations", json={"lpAccountUser": user, "count": 962})
    assert response.status_code == 200
    clock.advance(600)
    pinned = next(r for r in server.fake.agent_records() if r["agentLoginName"] == user)
    assert pinned["openAssignedConversations"] == 962
    assert pinned["load"] == 96
    bad = client.post("/_sandbox/conversations", json={"lpAccountUser": user, "count": 1000})
    assert bad.status_code == 400
    server.fake.pin_conversations(user, None)
    moving = next(r for r in server.fake.agent_records() if r["agentLoginName"] == user)
    assert moving["openAssignedConversations"] != 962


def test_it_needs_a_live_login_bearer(client: httpx.Client) -> None:
    assert agent_view(client, {}).status_code == 401
    assert agent_view(client, {"Authorization": "Bearer nope"}).status_code == 401
    assert agent_view(client, bearer(client)).status_code == 200


def test_a_body_that_is_not_a_json_object_is_a_400(client: httpx.Client) -> None:
    headers = {**bearer(client), "Content-Type": "application/json"}
    response = client.post(AGENT_VIEW, content=b"[1, 2", headers=headers)
    assert response.status_code == 400
    assert agent_view(client, bearer(client), limit=0).status_code == 200


@pytest.mark.parametrize(
    ("kind", "status"), [("status", 401), ("status", 403), ("status", 429), ("status", 500)]
)
def test_faults_reach_the_agent_view(
    server: RunningServer, client: httpx.Client, kind: str, status: int
) -> None:
    headers = bearer(client)
    server.fake.add_fault(kind, status=status, retry_after=2, path="agent-view")
    response = agent_view(client, headers)
    assert response.status_code == status
    if status == 429:
        assert response.headers["retry-after"] == "2"
    assert agent_view(client, headers).status_code == 200


def test_a_malformed_answer_is_not_json(server: RunningServer, client: httpx.Client) -> None:
    headers = bearer(client)
    server.fake.add_fault("malformed", path="agent-view")
    response = agent_view(client, headers)
    with pytest.raises(ValueError):
        response.json()


def test_the_clock_of_a_record_is_the_fakes(server: RunningServer, clock: ManualClock) -> None:
    record = server.fake.agent_records()[0]
    assert record["lastUpdatedTimeL"] == int(clock.time() * 1000)
    assert record["lastUpdatedTimeL"] != int(time.time() * 1000)
