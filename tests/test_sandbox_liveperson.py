"""The fake LivePerson itself: its fleet, its protocol and its control API, over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from chatops.domain import Health, normalise_key
from chatops.sandbox.liveperson import FakeLivePerson, RunningServer
from chatops.sources.liveperson.parse import entry_health
from tests.clock import ManualClock
from tests.fixtures.liveperson import MakeFakeLP
from tests.waiting import PATIENCE, wait_until

MONITORING = "/service-monitoring-0.1/sysadmin/nodejs/instance"
PLATFORM = "/bot-platform-manager-0.1"
LOGIN = "/api/account/12345678/login?v=1.3"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
REPOSITORY = Path(__file__).resolve().parent.parent


def login(client: httpx.Client, **body: str) -> dict[str, Any]:
    response = client.post(LOGIN, json=body or {"username": "chatops", "password": "sandbox"})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def cb_headers(client: httpx.Client) -> dict[str, str]:
    """Log in and exchange the bearer for Conversation Builder's headers."""
    bearer = login(client)["bearer"]
    response = client.get(
        "/le-auth/sso/authenticate", headers={"Authorization": f"Bearer {bearer}"}
    )
    assert response.status_code == 200, response.text
    result = response.json()["successResult"]
    return {
        "Authorization": result["apiAccessToken"],
        "OrganizationId": result["sessionOrganizationId"],
    }


def status_list(
    client: httpx.Client, headers: dict[str, str], environment: str = "PRODUCTION"
) -> httpx.Response:
    return client.get(f"{MONITORING}/status", params={"environment": environment}, headers=headers)


def normalised(entry: dict[str, Any], field: str) -> str:
    return normalise_key(str(entry.get(field, "")))


def by_bot(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Status-list entries grouped by botId: one per connector."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        grouped.setdefault(entry["botId"], []).append(entry)
    return grouped


def healthy(entry: dict[str, Any]) -> bool:
    return entry_health(entry) is Health.OK


def production_bot(fake: FakeLivePerson, connectors: int) -> list[dict[str, Any]]:
    """The entries of a healthy custom Production bot with that many connectors."""
    return next(
        entries
        for entries in by_bot(fake.bots()).values()
        if len(entries) == connectors
        and "cbSocketStatus" in entries[0]
        and entries[0]["environment"] == "PRODUCTION"
        and all(healthy(entry) for entry in entries)
    )


@pytest.fixture
def client(fake_lp: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake_lp.url) as client:
        yield client


# --------------------------------------------------------------------------- fleet


def test_the_default_fleet_has_forty_bots_of_every_kind_channel_and_environment() -> None:
    fake = FakeLivePerson()
    bots = by_bot(fake.bots())

    assert len(bots) == 40
    kinds = Counter("pcs" if "bcSocketStatus" in e[0] else "custom" for e in bots.values())
    assert kinds == {"custom": 35, "pcs": 5}
    assert {entry["type"] for entry in fake.bots()} == {"messaging", "chat"}
    assert {entry["environment"] for entry in fake.bots()} == {"PRODUCTION", "STAGING"}
    assert fake.fleet() == {
        "bots": 40,
        "connectors": len(fake.bots()) - kinds["pcs"] + 1,  # the Survey Connector once
        "entries": len(fake.bots()),
        "seed": 1,
        "messy": False,
        "duplicates": False,
    }


def test_most_bots_are_healthy_and_a_few_have_problems() -> None:
    bots = by_bot(FakeLivePerson().bots())

    problems = {bot_id: e for bot_id, e in bots.items() if not all(healthy(c) for c in e)}
    assert 3 <= len(problems) <= 6
    nodes = {normalised(entry, "nodeStatus") for e in problems.values() for entry in e}
    assert {"stopped", "ready to start"} <= nodes
    stopped = next(e for e in problems.values() if normalised(e[0], "nodeStatus") == "stopped")
    assert {entry["lastManualOperation"] for entry in stopped} == {"STOP"}
    assert all(entry["manualOperationPerformedByName"] for entry in stopped)


def test_a_lost_connection_hits_every_connector_of_some_bots_and_one_of_others() -> None:
    bots = by_bot(FakeLivePerson(bots=200).bots()).values()

    degraded = [e for e in bots if any(map(healthy, e)) and not all(map(healthy, e))]
    down = [e for e in bots if len(e) > 1 and not any(map(healthy, e))]

    assert degraded and down
    assert all(not healthy(e[-1]) and all(map(healthy, e[:-1])) for e in degraded)


def test_the_fleet_mixes_spellings_of_the_same_status() -> None:
    bots = FakeLivePerson(bots=200).bots()

    online = {bot["nodeStatus"] for bot in bots if normalised(bot, "nodeStatus") == "online"}
    not_connected = {
        bot["lpSocketStatus"]
        for bot in bots
        if normalised(bot, "lpSocketStatus") == "not connected"
    }
    assert online == {"ONLINE", "online", "Online"}
    assert {"NOT_CONNECTED", "not-connected"} <= not_connected


def test_the_same_seed_gives_the_same_fleet_and_another_seed_another() -> None:
    clock = ManualClock()

    first = FakeLivePerson(seed=7, clock=clock.time).bots()
    again = FakeLivePerson(seed=7, clock=clock.time).bots()
    other = FakeLivePerson(seed=8, clock=clock.time).bots()

    assert first == again
    assert {bot["botId"] for bot in first}.isdisjoint(bot["botId"] for bot in other)


def test_bot_ids_look_like_uuids_and_names_are_unique() -> None:
    fake = FakeLivePerson(bots=500)

    ids = [bot["botId"] for bot in fake.platform_bots()]
    names = [bot["botName"] for bot in fake.platform_bots()]

    assert all(UUID.match(bot_id) for bot_id in ids)
    assert len(set(ids)) == len(ids) == 500
    assert {entry["botId"] for entry in fake.bots()} == set(ids)
    assert len(set(names)) == 500
    assert all(re.match(r"^[a-z]+-[a-z]+-\d+$", name) for name in names)


def test_a_few_custom_bots_leave_out_the_bot_name_that_the_bot_platform_has() -> None:
    fake = FakeLivePerson()

    nameless = {entry["botId"] for entry in fake.bots() if "botName" not in entry}
    platform = {bot["botId"]: bot["botName"] for bot in fake.platform_bots()}

    assert 1 <= len(nameless) <= 4
    for bot_id, entries in by_bot(fake.bots()).items():
        if bot_id in nameless:
            assert all("botName" not in entry for entry in entries)
            assert all("cbSocketStatus" in entry for entry in entries)
            assert platform[bot_id]


def test_pcs_entries_share_the_survey_connector_and_carry_the_pcs_fields() -> None:
    pcs = [bot for bot in FakeLivePerson().bots() if "bcSocketStatus" in bot]

    assert len(pcs) == len({bot["botId"] for bot in pcs}) == 5
    shared = ("lpUserId", "nodeStatus", "lpSocketStatus", "bcSocketStatus", "updateTime")
    assert len({tuple(bot[field] for field in shared) for bot in pcs}) == 1
    for bot in pcs:
        assert bot["lpAccountUser"] == "Survey Connector"
        assert bot["appName"] == f"{bot['botId']}:::12345678:::Survey Connector"
        assert "cbSocketStatus" not in bot
        assert {"statusCode", "success", "authType", "organizationName", "changed"} <= bot.keys()
        assert {"configurations", "pm2Info"} <= bot.keys()
        assert bot["botName"].startswith("survey-")


def test_custom_entries_carry_every_field_of_bot_agent_status_with_epoch_ms_times() -> None:
    bot = next(
        bot for bot in FakeLivePerson().bots() if "cbSocketStatus" in bot and "botName" in bot
    )

    fields = (
        "appName botId botName botVersion nodeStatus lpSocketStatus cbSocketStatus deployed"
        " environment haType type lpAccountId lpAccountUser lpUserId organizationId orgName"
        " serverName createTime updateTime manualOperationTs lastManualOperation"
        " manualOperationPerformedById manualOperationPerformedByName ccLastCheck"
        " lastMessageTime pipelineConfig"
    ).split()
    assert set(fields) <= bot.keys()
    for field in ("createTime", "updateTime", "ccLastCheck", "manualOperationTs"):
        assert isinstance(bot[field], int) and bot[field] > 1_500_000_000_000
    assert bot["appName"] == f"{bot['botId']}:::12345678:::{bot['lpAccountUser']}"


# ------------------------------------------------------------------ the protocol


def test_csds_lists_every_service_with_its_host(client: httpx.Client) -> None:
    everything = client.get("/api/account/12345678/service/baseURI.json?version=1.0")
    one = client.get("/api/account/12345678/service/agentVep/baseURI.json?version=1.0")
    unknown = client.get("/api/account/99999/service/baseURI.json?version=1.0")

    services = {item["service"]: item["baseURI"] for item in everything.json()["baseURIs"]}
    assert services["agentVep"] == "va.agentvep.liveperson.net"
    assert services["leDataReporting"].startswith("va.")
    assert one.json() == {
        "baseURIs": [
            {"service": "agentVep", "account": "12345678", "baseURI": "va.agentvep.liveperson.net"}
        ]
    }
    assert unknown.status_code == 400


def test_login_returns_bearer_csrf_session_ttl_config_and_a_session_cookie(
    client: httpx.Client,
) -> None:
    response = client.post(LOGIN, json={"username": "chatops", "password": "sandbox"})

    data = response.json()
    assert response.status_code == 200
    assert data["bearer"] and data["csrf"]
    assert data["sessionTTl"] == "28800000"
    assert data["config"]["userId"] and isinstance(data["config"]["userPrivileges"], list)
    assert response.cookies["Session_id"]


def test_login_accepts_the_app_key_set(client: httpx.Client) -> None:
    data = login(
        client,
        username="chatops",
        appKey="sandbox-app-key",
        secret="sandbox-secret",
        accessToken="sandbox-access-token",
        accessTokenSecret="sandbox-access-token-secret",
    )

    assert data["bearer"]


def test_a_wrong_password_gets_401_with_liveperson_error_json(client: httpx.Client) -> None:
    response = client.post(LOGIN, json={"username": "chatops", "password": "nope"})

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["responseStatus"] == "UNAUTHORIZED"
    assert {"time", "message", "internalCode"} <= error.keys()


def test_an_unknown_account_gets_400_at_login(client: httpx.Client) -> None:
    response = client.post(
        "/api/account/99999/login?v=1.3", json={"username": "chatops", "password": "sandbox"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Account not found"


def test_refresh_needs_the_csrf_and_the_session_cookie(client: httpx.Client) -> None:
    csrf = login(client)["csrf"]

    good = client.post("/api/account/12345678/refresh", json={"csrf": csrf})
    bad = client.post("/api/account/12345678/refresh", json={"csrf": "forged"})

    assert good.status_code == 200
    assert bad.status_code == 401
    assert bad.json()["error"]["internalCode"] == 10


def test_sso_gives_the_conversation_builder_session(client: httpx.Client) -> None:
    bearer = login(client)["bearer"]

    response = client.get(
        "/le-auth/sso/authenticate", headers={"Authorization": f"Bearer {bearer}"}
    )
    refused = client.get("/le-auth/sso/authenticate", headers={"Authorization": "Bearer forged"})

    body = response.json()
    assert body["success"] is True
    assert {
        "apiAccessToken",
        "apiAccessPermToken",
        "sessionOrganizationId",
        "leAccountId",
        "leUserId",
        "cbRegion",
        "privileges",
        "chatBotPlatformUser",
    } <= body["successResult"].keys()
    assert refused.status_code == 401
    assert refused.json()["success"] is False


def test_cb_calls_need_the_bare_token_and_the_organization_id(client: httpx.Client) -> None:
    headers = cb_headers(client)

    bare = status_list(client, headers)
    with_bearer = status_list(
        client, {**headers, "Authorization": f"Bearer {headers['Authorization']}"}
    )
    without_organization = status_list(client, {"Authorization": headers["Authorization"]})

    assert bare.status_code == 200
    assert with_bearer.status_code == 401
    assert without_organization.status_code == 401


def test_status_lists_are_per_environment_and_pcs_bots_have_their_own(
    fake_lp: RunningServer, client: httpx.Client
) -> None:
    headers = cb_headers(client)

    production = status_list(client, headers, "PRODUCTION").json()["statusList"]
    staging = status_list(client, headers, "STAGING").json()["statusList"]
    pcs = client.get(f"{MONITORING}/pcs/status?showBotsData=true", headers=headers).json()[
        "statusList"
    ]

    assert {bot["environment"] for bot in production} == {"PRODUCTION"}
    assert {bot["environment"] for bot in staging} == {"STAGING"}
    assert all("bcSocketStatus" in bot for bot in pcs)
    assert not any("bcSocketStatus" in bot for bot in production + staging)
    assert len(production) + len(staging) + len(pcs) == len(fake_lp.fake.bots())


def test_tokens_expire_after_their_lifetime(make_fake_lp: MakeFakeLP) -> None:
    clock = ManualClock()
    server = make_fake_lp(clock=clock.time, token_ttl=60.0)
    with httpx.Client(base_url=server.url) as client:
        headers = cb_headers(client)
        fresh = status_list(client, headers)
        clock.advance(61)
        expired = status_list(client, headers)

    assert fresh.status_code == 200
    assert expired.status_code == 401


def test_a_start_is_ready_at_once_and_online_after_the_start_delay(
    make_fake_lp: MakeFakeLP,
) -> None:
    clock = ManualClock()
    server = make_fake_lp(clock=clock.time, start_delay=5.0)
    bot = next(b for b in server.fake.bots() if normalised(b, "nodeStatus") == "stopped")
    body = {"lpAccountId": "12345678", "lpAccountUser": bot["lpAccountUser"]}

    def status() -> dict[str, Any]:
        response = client.get(f"{MONITORING}/status-v2/{bot['botId']}", headers=headers)
        entries: list[dict[str, Any]] = response.json()["statusList"]
        return next(e for e in entries if e["lpAccountUser"] == bot["lpAccountUser"])

    with httpx.Client(base_url=server.url) as client:
        headers = cb_headers(client)
        started = client.put(f"{MONITORING}/start/{bot['botId']}", json=body, headers=headers)
        ready = status()
        clock.advance(5)
        online = status()

    assert started.status_code == 200
    assert normalised(ready, "nodeStatus") == "ready to start"
    assert normalised(online, "nodeStatus") == "online"
    assert normalised(online, "cbSocketStatus") == "connected"
    assert online["lastManualOperation"] == "START"
    assert online["manualOperationPerformedByName"] == "chatops"
    assert server.fake.start_count(bot["botId"]) == 1


def test_start_and_stop_need_the_bots_own_account_user(
    fake_lp: RunningServer, client: httpx.Client
) -> None:
    bot = fake_lp.fake.bots()[0]
    headers = cb_headers(client)

    wrong_user = client.put(
        f"{MONITORING}/stop/{bot['botId']}",
        json={"lpAccountId": "12345678", "lpAccountUser": "someone_else"},
        headers=headers,
    )
    unknown = client.put(
        f"{MONITORING}/stop/no-such-bot",
        json={"lpAccountId": "12345678", "lpAccountUser": bot["lpAccountUser"]},
        headers=headers,
    )

    assert wrong_user.status_code == 400
    assert unknown.status_code == 404
    assert unknown.json()["success"] is False
    assert fake_lp.fake.stop_count(bot["botId"]) == 0


def test_a_pcs_stop_stops_every_pcs_bot(fake_lp: RunningServer, client: httpx.Client) -> None:
    pcs = [bot for bot in fake_lp.fake.bots() if "bcSocketStatus" in bot]
    headers = cb_headers(client)

    response = client.put(
        f"{MONITORING}/stop/{pcs[0]['botId']}",
        json={"lpAccountId": "12345678", "lpAccountUser": "Survey Connector"},
        headers=headers,
    )

    assert response.status_code == 200
    after = [bot for bot in fake_lp.fake.bots() if "bcSocketStatus" in bot]
    assert {normalised(bot, "nodeStatus") for bot in after} == {"stopped"}
    assert {bot["lastManualOperation"] for bot in after} == {"STOP"}


def test_the_bot_platform_pages_every_bot_by_group(
    fake_lp: RunningServer, client: httpx.Client
) -> None:
    headers = cb_headers(client)
    groups = client.get(f"{PLATFORM}/bot-groups?page=1&size=100", headers=headers).json()
    group_ids = [g["botGroupId"] for g in groups["successResult"]["data"]] + ["un_assigned"]

    seen: list[str] = []
    for group_id in group_ids:
        page = 1
        while True:
            response = client.get(
                f"{PLATFORM}/bot-groups/bots",
                params={
                    "sort-by": "botName:asc",
                    "page": page,
                    "size": 7,
                    "bot-group-id": group_id,
                },
                headers=headers,
            ).json()
            assert response["success"] is True
            result = response["successResult"]
            assert len(result["data"]) <= 7
            seen += [bot["botId"] for bot in result["data"]]
            if page * 7 >= result["pageContext"]["totalSize"]:
                break
            page += 1

    assert sorted(seen) == sorted({bot["botId"] for bot in fake_lp.fake.bots()})
    agents = client.get(f"{PLATFORM}/auth/liveperson/app?chatBotId={seen[0]}", headers=headers)
    assert agents.json()["successResult"]["agents"][0]["botId"] == seen[0]


def test_a_ten_thousand_connector_status_list_is_served_quickly(
    make_fake_lp: MakeFakeLP,
) -> None:
    server = make_fake_lp(connectors=10_000)
    with httpx.Client(base_url=server.url) as client:
        headers = cb_headers(client)
        started = time.perf_counter()
        first = status_list(client, headers).json()["statusList"]
        first_seconds = time.perf_counter() - started
        started = time.perf_counter()
        again = status_list(client, headers).json()["statusList"]
        again_seconds = time.perf_counter() - started
    print(
        f"10,000-connector fleet: Production list {first_seconds:.3f} s,"
        f" cached {again_seconds:.3f} s"
    )

    production = [
        b for b in server.fake.bots() if b["environment"] == "PRODUCTION" and "cbSocketStatus" in b
    ]
    assert len(first) == len(again) == len(production)


# --------------------------------------------------------------- agent connectors


def operate(
    client: httpx.Client, headers: dict[str, str], operation: str, bot_id: str, user: str
) -> httpx.Response:
    body = {"lpAccountId": "12345678", "lpAccountUser": user}
    return client.put(f"{MONITORING}/{operation}/{bot_id}", json=body, headers=headers)


def without_check_time(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries without ccLastCheck, which moves on every 5 minutes of the clock."""
    return [{k: v for k, v in entry.items() if k != "ccLastCheck"} for entry in entries]


def keys(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(entry["botId"], entry["lpAccountUser"]) for entry in entries]


def test_custom_bots_have_one_to_four_connectors_each_an_entry_of_its_own() -> None:
    custom = [e for e in by_bot(FakeLivePerson().bots()).values() if "cbSocketStatus" in e[0]]

    assert {len(entries) for entries in custom} == {1, 2, 3, 4}
    assert sum(len(entries) >= 2 for entries in custom) > len(custom) / 2
    for entries in custom:
        users = [entry["lpAccountUser"] for entry in entries]
        assert len({entry["lpUserId"] for entry in entries}) == len(set(users)) == len(entries)
        for entry in entries:
            assert entry["appName"] == f"{entry['botId']}:::12345678:::{entry['lpAccountUser']}"
        if "botName" in entries[0]:
            base = entries[0]["botName"].replace("-", "_")
            letters = "abcd"[: len(entries)] if len(entries) > 1 else [""]
            assert users == [f"{base}{letter}" for letter in letters]


def test_a_fleet_sized_by_connectors_has_that_many_entries_over_about_4000_bots() -> None:
    fake = FakeLivePerson(connectors=10_000)

    fleet = fake.fleet()

    assert fleet["entries"] == len(fake.bots()) == 10_000
    assert 3_700 <= fleet["bots"] <= 4_300
    assert len(fake.platform_bots()) == fleet["bots"]
    assert FakeLivePerson(connectors=0).bots() == []
    with pytest.raises(ValueError, match="not both"):
        FakeLivePerson(bots=5, connectors=5)
    with pytest.raises(ValueError, match="0 or more"):
        FakeLivePerson(connectors=-1)


def test_status_lists_come_in_a_new_order_on_every_call_with_the_same_entries(
    client: httpx.Client,
) -> None:
    headers = cb_headers(client)

    lists = [status_list(client, headers).json()["statusList"] for _ in range(3)]
    pcs = [
        client.get(f"{MONITORING}/pcs/status", headers=headers).json()["statusList"]
        for _ in range(3)
    ]

    assert len({tuple(keys(entries)) for entries in lists}) == 3
    assert len({tuple(keys(entries)) for entries in pcs}) > 1
    for same in (lists, pcs):
        contents = [sorted(json.dumps(e, sort_keys=True) for e in entries) for entries in same]
        assert contents[0] == contents[1] == contents[2]


def test_the_order_is_a_seeded_shuffle_and_can_be_turned_off(make_fake_lp: MakeFakeLP) -> None:
    def orders(server: RunningServer) -> list[list[tuple[str, str]]]:
        with httpx.Client(base_url=server.url) as client:
            headers = cb_headers(client)
            return [keys(status_list(client, headers).json()["statusList"]) for _ in range(2)]

    first, again = orders(make_fake_lp(seed=5)), orders(make_fake_lp(seed=5))
    steady = orders(make_fake_lp(seed=5, shuffle=False))

    assert first == again
    assert first[0] != first[1]
    assert steady[0] == steady[1]
    assert sorted(steady[0]) == sorted(first[0])


def test_status_v2_answers_every_connector_of_the_bot(
    fake_lp: RunningServer, client: httpx.Client
) -> None:
    fake = fake_lp.fake
    headers = cb_headers(client)
    survey = next(entry for entry in fake.bots() if "bcSocketStatus" in entry)
    bots = [production_bot(fake, count) for count in (1, 2, 4)] + [[survey]]

    answers = [
        client.get(f"{MONITORING}/status-v2/{entries[0]['botId']}", headers=headers)
        for entries in bots
    ]
    unknown = client.get(f"{MONITORING}/status-v2/no-such-bot", headers=headers)

    for entries, answer in zip(bots, answers, strict=True):
        assert answer.status_code == 200
        assert sorted(keys(answer.json()["statusList"])) == sorted(keys(entries))
    assert keys(answers[-1].json()["statusList"]) == [(survey["botId"], "Survey Connector")]
    assert unknown.status_code == 404
    assert unknown.json()["success"] is False


def test_a_stop_stops_only_the_connector_its_body_names(
    fake_lp: RunningServer, client: httpx.Client
) -> None:
    fake = fake_lp.fake
    entries = production_bot(fake, 2)
    bot_id, (first, second) = entries[0]["botId"], [e["lpAccountUser"] for e in entries]
    headers = cb_headers(client)

    response = operate(client, headers, "stop", bot_id, second)

    after = {entry["lpAccountUser"]: entry for entry in by_bot(fake.bots())[bot_id]}
    assert response.status_code == 200
    assert response.json()["successResult"] == {
        "botId": bot_id,
        "lpAccountUser": second,
        "operation": "STOP",
    }
    assert normalised(after[second], "nodeStatus") == "stopped"
    assert after[second]["lastManualOperation"] == "STOP"
    assert after[second]["manualOperationPerformedByName"] == "chatops"
    assert without_check_time([after[first]]) == without_check_time(entries[:1])
    counts = (fake.stop_count(bot_id, second), fake.stop_count(bot_id, first))
    assert counts == (1, 0)
    assert (fake.stop_count(bot_id), fake.start_count(bot_id)) == (1, 0)
    record = next(bot for bot in fake.platform_bots() if bot["botId"] == bot_id)
    assert (record["numberOfActiveAgents"], record["numberOfInactiveAgents"]) == (1, 1)


def test_a_start_starts_only_the_connector_its_body_names(make_fake_lp: MakeFakeLP) -> None:
    clock = ManualClock()
    server = make_fake_lp(clock=clock.time, start_delay=5.0)
    entries = next(
        e
        for e in by_bot(server.fake.bots()).values()
        if len(e) == 4 and {normalised(entry, "nodeStatus") for entry in e} == {"stopped"}
    )
    bot_id, users = entries[0]["botId"], [entry["lpAccountUser"] for entry in entries]

    def nodes() -> list[str]:
        now = {e["lpAccountUser"]: e for e in by_bot(server.fake.bots())[bot_id]}
        return [normalised(now[user], "nodeStatus") for user in users]

    with httpx.Client(base_url=server.url) as client:
        started = operate(client, cb_headers(client), "start", bot_id, users[2])
    ready = nodes()
    clock.advance(5)
    online = nodes()

    assert started.status_code == 200
    assert ready == ["stopped", "stopped", "ready to start", "stopped"]
    assert online == ["stopped", "stopped", "online", "stopped"]
    assert [server.fake.start_count(bot_id, user) for user in users] == [0, 0, 1, 0]
    assert server.fake.start_count(bot_id) == 1


def test_a_pcs_start_or_stop_acts_on_the_one_survey_connector(make_fake_lp: MakeFakeLP) -> None:
    clock = ManualClock()
    server = make_fake_lp(clock=clock.time, start_delay=5.0)
    fake = server.fake
    pcs = [entry["botId"] for entry in fake.bots() if "bcSocketStatus" in entry]

    def pcs_nodes() -> set[str]:
        return {normalised(e, "nodeStatus") for e in fake.bots() if "bcSocketStatus" in e}

    with httpx.Client(base_url=server.url) as client:
        headers = cb_headers(client)
        stopped = operate(client, headers, "stop", pcs[0], "Survey Connector")
        after_stop = pcs_nodes()
        started = operate(client, headers, "start", pcs[1], "Survey Connector")
        clock.advance(5)
        after_start = pcs_nodes()
        wrong_user = operate(client, headers, "stop", pcs[2], "survey_connector_2")

    assert (stopped.status_code, started.status_code) == (200, 200)
    assert after_stop == {"stopped"}
    assert after_start == {"online"}
    # One connector: each PCS bot shows its one stop and its one start.
    assert {(fake.stop_count(bot_id), fake.start_count(bot_id)) for bot_id in pcs} == {(1, 1)}
    assert wrong_user.status_code == 400
    assert pcs_nodes() == {"online"}


def test_start_and_stop_refuse_a_connector_the_bot_does_not_have(
    fake_lp: RunningServer, client: httpx.Client
) -> None:
    fake = fake_lp.fake
    entries = production_bot(fake, 2)
    bot_id = entries[0]["botId"]
    other_user = production_bot(fake, 4)[0]["lpAccountUser"]
    headers = cb_headers(client)
    before = without_check_time(fake.bots())
    url = f"{MONITORING}/stop/{bot_id}"

    answers = {
        "other bot's user": operate(client, headers, "stop", bot_id, other_user),
        "no body": client.put(url, headers=headers),
        "not JSON": client.put(url, content=b"stop!", headers=headers),
        "a list": client.put(url, json=[entries[0]["lpAccountUser"]], headers=headers),
        "no user": client.put(url, json={"lpAccountId": "12345678"}, headers=headers),
    }

    for reason, answer in answers.items():
        assert answer.status_code == 400, reason
        assert answer.json()["success"] is False, reason
        assert answer.json()["errorCode"] == "400", reason
    assert other_user in answers["other bot's user"].json()["message"]
    assert without_check_time(fake.bots()) == before
    assert fake.stop_count(bot_id) == 0


def test_the_bot_platform_lists_one_agent_per_connector_and_counts_them(
    fake_lp: RunningServer, client: httpx.Client
) -> None:
    fake = fake_lp.fake
    headers = cb_headers(client)
    bots = by_bot(fake.bots())
    records = {record["botId"]: record for record in fake.platform_bots()}

    for bot_id, entries in bots.items():
        response = client.get(f"{PLATFORM}/auth/liveperson/app?chatBotId={bot_id}", headers=headers)
        agents = response.json()["successResult"]["agents"]
        assert sorted(agent["lpAccountUser"] for agent in agents) == sorted(
            entry["lpAccountUser"] for entry in entries
        )
        assert {agent["botId"] for agent in agents} == {bot_id}
        online = sum(normalised(entry, "nodeStatus") == "online" for entry in entries)
        record = records[bot_id]
        assert (record["numberOfActiveAgents"], record["numberOfInactiveAgents"]) == (
            online,
            len(entries) - online,
        )
    assert {(r["numberOfActiveAgents"], r["numberOfInactiveAgents"]) for r in records.values()} >= {
        (1, 0),
        (4, 0),
        (0, 4),
    }
    missing = client.get(f"{PLATFORM}/auth/liveperson/app?chatBotId=nope", headers=headers)
    assert missing.status_code == 404


# ------------------------------------------------------- variety of real accounts


def all_entries(server: RunningServer) -> list[dict[str, Any]]:
    """Every entry of every status list, over HTTP."""
    with httpx.Client(base_url=server.url) as client:
        headers = cb_headers(client)
        lists = [status_list(client, headers, env) for env in ("PRODUCTION", "STAGING")]
        lists.append(client.get(f"{MONITORING}/pcs/status", headers=headers))
    return [entry for response in lists for entry in response.json()["statusList"]]


def test_a_messy_fleet_leaves_optional_fields_out_of_some_entries(
    make_fake_lp: MakeFakeLP,
) -> None:
    server = make_fake_lp(bots=80, messy=True)
    entries = all_entries(server)
    tidy = FakeLivePerson(bots=80).bots()

    for field in ("botName", "type", "lpAccountUser"):
        missing = [entry for entry in entries if field not in entry]
        assert 1 <= len(missing) <= len(entries) // 5, field
    assert all("type" in entry and "lpAccountUser" in entry for entry in tidy)
    assert all({"botId", "appName", "nodeStatus", "lpSocketStatus"} <= e.keys() for e in entries)
    userless = next(entry for entry in entries if "lpAccountUser" not in entry)
    bot_id, user = userless["botId"], userless["appName"].split(":::")[2]
    shown = next(c for c in server.fake.connectors(bot_id) if c["lpAccountUser"] == user)
    assert "lpAccountUser" in shown["hiddenFields"]
    with httpx.Client(base_url=server.url) as client:
        stopped = operate(client, cb_headers(client), "stop", bot_id, user)
    assert stopped.status_code == 200
    assert server.fake.stop_count(bot_id, user) == 1


def test_a_fleet_with_duplicates_lists_some_connectors_twice(make_fake_lp: MakeFakeLP) -> None:
    entries = all_entries(make_fake_lp(bots=80, duplicates=True))
    tidy = all_entries(make_fake_lp(bots=80))

    counts = Counter(keys(entries))
    twice = [key for key, count in counts.items() if count == 2]
    assert twice
    assert set(counts.values()) == {1, 2}
    for key in twice:
        copies = [json.dumps(e, sort_keys=True) for e in entries if keys([e]) == [key]]
        assert copies[0] == copies[1]
    assert set(Counter(keys(tidy)).values()) == {1}
    assert len(entries) == len(tidy) + len(twice)


# -------------------------------------------------------------------- control API


def test_patch_changes_a_bot_and_refuses_unknown_fields_and_bots(
    fake_lp: RunningServer, client: httpx.Client
) -> None:
    bot_id = fake_lp.fake.bots()[0]["botId"]

    changed = client.patch(f"/_sandbox/bots/{bot_id}", json={"nodeStatus": "NOT_CONNECTED"})
    unknown_field = client.patch(f"/_sandbox/bots/{bot_id}", json={"colour": "red"})
    unknown_bot = client.patch("/_sandbox/bots/nope", json={"nodeStatus": "ONLINE"})

    assert changed.status_code == 200
    assert {c["nodeStatus"] for c in changed.json()} == {"NOT_CONNECTED"}
    entries = by_bot(fake_lp.fake.bots())[bot_id]
    assert {entry["nodeStatus"] for entry in entries} == {"NOT_CONNECTED"}
    assert unknown_field.status_code == 400
    assert "colour" in unknown_field.json()["error"]
    assert unknown_bot.status_code == 404


def test_set_fields_changes_one_connector_or_every_connector_of_the_bot() -> None:
    fake = FakeLivePerson()
    entries = production_bot(fake, 2)
    bot_id, (first, second) = entries[0]["botId"], [e["lpAccountUser"] for e in entries]

    def health() -> dict[str, bool]:
        return {e["lpAccountUser"]: healthy(e) for e in by_bot(fake.bots())[bot_id]}

    fake.set_fields(bot_id, second, cbSocketStatus="NOT_CONNECTED")
    one_dropped = health()
    fake.set_fields(bot_id, first, cbSocketStatus="NOT_CONNECTED")
    both_dropped = health()
    fake.set_fields(bot_id, cbSocketStatus="CONNECTED")
    back = health()

    assert one_dropped == {first: True, second: False}
    assert both_dropped == {first: False, second: False}
    assert back == {first: True, second: True}
    with pytest.raises(KeyError, match="nobody"):
        fake.set_fields(bot_id, "nobody", nodeStatus="ONLINE")
    with pytest.raises(KeyError, match="no bot"):
        fake.set_fields("no-such-bot", nodeStatus="ONLINE")
    with pytest.raises(ValueError, match="lpAccountUser"):
        fake.set_fields(bot_id, first, lpAccountUser="someone")


def test_setting_a_pcs_bots_status_sets_the_shared_survey_connector() -> None:
    fake = FakeLivePerson()
    pcs = [entry["botId"] for entry in fake.bots() if "bcSocketStatus" in entry]
    custom = [entry for entry in fake.bots() if "cbSocketStatus" in entry]

    fake.set_fields(pcs[2], nodeStatus="NOT_CONNECTED")

    assert {e["nodeStatus"] for e in fake.bots() if e["botId"] in pcs} == {"NOT_CONNECTED"}
    assert without_check_time([e for e in fake.bots() if "cbSocketStatus" in e]) == (
        without_check_time(custom)
    )


def test_a_bot_name_set_on_one_connector_makes_its_connectors_disagree() -> None:
    fake = FakeLivePerson()
    entries = production_bot(fake, 4)
    bot_id, users = entries[0]["botId"], [entry["lpAccountUser"] for entry in entries]

    fake.set_fields(bot_id, users[1], botName="renamed-bot")
    one = {e["lpAccountUser"]: e.get("botName") for e in by_bot(fake.bots())[bot_id]}
    platform = next(b["botName"] for b in fake.platform_bots() if b["botId"] == bot_id)
    fake.set_fields(bot_id, botName="whole-bot")
    every = {e.get("botName") for e in by_bot(fake.bots())[bot_id]}

    assert one == {
        user: "renamed-bot" if user == users[1] else entries[0]["botName"] for user in users
    }
    assert platform == entries[0]["botName"]
    assert every == {"whole-bot"}
    assert next(b["botName"] for b in fake.platform_bots() if b["botId"] == bot_id) == "whole-bot"


def test_the_control_api_lists_a_bots_connectors_and_patches_one(
    fake_lp: RunningServer, client: httpx.Client
) -> None:
    entries = production_bot(fake_lp.fake, 4)
    bot_id, users = entries[0]["botId"], [entry["lpAccountUser"] for entry in entries]

    listed = client.get(f"/_sandbox/bots/{bot_id}/connectors")
    patched = client.patch(
        f"/_sandbox/bots/{bot_id}/connectors/{users[3]}", json={"cbSocketStatus": "NOT_CONNECTED"}
    )
    unknown_user = client.patch(
        f"/_sandbox/bots/{bot_id}/connectors/nobody", json={"nodeStatus": "ONLINE"}
    )
    unknown_field = client.patch(f"/_sandbox/bots/{bot_id}/connectors/{users[0]}", json={"x": 1})
    unknown_bot = client.get("/_sandbox/bots/nope/connectors")

    assert [c["lpAccountUser"] for c in listed.json()] == users
    assert {(c["starts"], c["stops"], c["sharedByPcsBots"]) for c in listed.json()} == {
        (0, 0, False)
    }
    assert patched.status_code == 200
    assert (patched.json()["lpAccountUser"], patched.json()["cbSocketStatus"]) == (
        users[3],
        "NOT_CONNECTED",
    )
    after = {e["lpAccountUser"]: healthy(e) for e in by_bot(fake_lp.fake.bots())[bot_id]}
    assert after == {user: user != users[3] for user in users}
    assert unknown_user.status_code == 404
    assert "nobody" in unknown_user.json()["error"]
    assert unknown_field.status_code == 400
    assert unknown_bot.status_code == 404


def test_a_flap_can_hit_one_connector_of_a_bot(
    fake_lp: RunningServer, client: httpx.Client
) -> None:
    headers = cb_headers(client)
    entries = production_bot(fake_lp.fake, 2)
    bot_id, (first, second) = entries[0]["botId"], [e["lpAccountUser"] for e in entries]
    flap = {"botId": bot_id, "field": "cbSocketStatus", "values": ["NOT_CONNECTED", "CONNECTED"]}

    added = client.post("/_sandbox/flap", json={**flap, "lpAccountUser": second})
    unknown = client.post("/_sandbox/flap", json={**flap, "lpAccountUser": "nobody"})

    def servers() -> tuple[str, str]:
        listed = {
            e["lpAccountUser"]: e["cbSocketStatus"]
            for e in status_list(client, headers).json()["statusList"]
            if e["botId"] == bot_id
        }
        return listed[first], listed[second]

    seen = [servers() for _ in range(3)]

    assert added.json() == {"flapping": bot_id, "lpAccountUser": second}
    assert unknown.status_code == 404
    assert [pair[1] for pair in seen] == ["NOT_CONNECTED", "CONNECTED", "NOT_CONNECTED"]
    assert {pair[0] for pair in seen} == {entries[0]["cbSocketStatus"]}


def test_a_fault_hits_matching_requests_as_many_times_as_asked(client: httpx.Client) -> None:
    headers = cb_headers(client)
    added = client.post(
        "/_sandbox/faults",
        json={"kind": "status", "status": 503, "times": 2, "path": "environment=PRODUCTION"},
    )

    staging = status_list(client, headers, "STAGING")
    statuses = [status_list(client, headers).status_code for _ in range(3)]

    assert added.status_code == 200
    assert staging.status_code == 200
    assert statuses == [503, 503, 200]
    assert client.get("/_sandbox/faults").json() == {"faults": []}


def test_a_fault_for_minus_one_times_lasts_until_cleared(client: httpx.Client) -> None:
    headers = cb_headers(client)
    client.post(
        "/_sandbox/faults", json={"kind": "status", "status": 429, "retry_after": 7, "times": -1}
    )

    limited = [status_list(client, headers) for _ in range(3)]
    client.delete("/_sandbox/faults")
    cleared = status_list(client, headers)

    assert [r.status_code for r in limited] == [429, 429, 429]
    assert limited[0].headers["Retry-After"] == "7"
    assert cleared.status_code == 200


def test_faults_that_break_the_body(client: httpx.Client) -> None:
    headers = cb_headers(client)

    client.post("/_sandbox/faults", json={"kind": "html", "status": 502})
    html = status_list(client, headers)
    client.post("/_sandbox/faults", json={"kind": "malformed"})
    malformed = status_list(client, headers)
    client.post("/_sandbox/faults", json={"kind": "missing_field", "field": "lpSocketStatus"})
    missing = status_list(client, headers).json()["statusList"]
    client.post("/_sandbox/faults", json={"kind": "reset"})
    with pytest.raises(httpx.RemoteProtocolError):
        status_list(client, headers)

    assert html.status_code == 502
    assert html.headers["content-type"].startswith("text/html")
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        malformed.json()
    assert "lpSocketStatus" not in missing[0]
    assert all("lpSocketStatus" in bot for bot in missing[1:])


def test_a_latency_fault_delays_the_answer(client: httpx.Client) -> None:
    headers = cb_headers(client)
    client.post("/_sandbox/faults", json={"kind": "latency", "seconds": 0.3})

    started = time.perf_counter()
    response = status_list(client, headers)

    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_an_unknown_fault_kind_is_refused(client: httpx.Client) -> None:
    response = client.post("/_sandbox/faults", json={"kind": "gremlins"})

    assert response.status_code == 400
    assert "gremlins" in response.json()["error"]


def test_a_flap_sets_the_next_value_on_each_status_list_fetch(
    fake_lp: RunningServer, client: httpx.Client
) -> None:
    headers = cb_headers(client)
    bot = next(
        b for b in fake_lp.fake.bots() if b["environment"] == "PRODUCTION" and "cbSocketStatus" in b
    )
    client.post(
        "/_sandbox/flap",
        json={
            "botId": bot["botId"],
            "field": "cbSocketStatus",
            "values": ["CONNECTED", "NOT_CONNECTED"],
        },
    )

    def server_status() -> str:
        entries = status_list(client, headers).json()["statusList"]
        value: str = next(e for e in entries if e["botId"] == bot["botId"])["cbSocketStatus"]
        return value

    flapping = [server_status() for _ in range(3)]
    client.delete("/_sandbox/flap")
    stopped = [server_status() for _ in range(2)]

    assert flapping == ["CONNECTED", "NOT_CONNECTED", "CONNECTED"]
    assert stopped == ["CONNECTED", "CONNECTED"]


def test_expire_tokens_ends_every_session(client: httpx.Client) -> None:
    headers = cb_headers(client)

    client.post("/_sandbox/expire-tokens")

    assert status_list(client, headers).status_code == 401


def test_the_fleet_can_be_rebuilt_over_http(fake_lp: RunningServer, client: httpx.Client) -> None:
    response = client.post("/_sandbox/fleet", json={"bots": 12, "seed": 3})

    expected = FakeLivePerson(bots=12, seed=3)
    assert response.json() == expected.fleet()
    assert (response.json()["bots"], response.json()["seed"]) == (12, 3)
    assert len(by_bot(client.get("/_sandbox/bots").json())) == 12
    assert [bot["botId"] for bot in fake_lp.fake.bots()] == [b["botId"] for b in expected.bots()]


def test_the_fleet_can_be_rebuilt_by_connectors_over_http(client: httpx.Client) -> None:
    rebuilt = client.post(
        "/_sandbox/fleet", json={"connectors": 30, "messy": True, "duplicates": True}
    )
    described = client.get("/_sandbox/fleet").json()
    bad_flag = client.post("/_sandbox/fleet", json={"messy": "yes"})
    both_sizes = client.post("/_sandbox/fleet", json={"bots": 3, "connectors": 3})

    assert rebuilt.status_code == 200
    assert described == rebuilt.json()
    assert (described["entries"], described["messy"], described["duplicates"]) == (30, True, True)
    assert bad_flag.status_code == 400
    assert both_sizes.status_code == 400
    assert client.get("/_sandbox/fleet").json() == described


def test_api_requests_are_recorded_and_control_calls_are_not(client: httpx.Client) -> None:
    cb_headers(client)
    client.get("/_sandbox/bots")

    recorded = client.get("/_sandbox/requests").json()
    client.delete("/_sandbox/requests")

    assert [(r["method"], r["path"], r["status"]) for r in recorded] == [
        ("POST", "/api/account/12345678/login", 200),
        ("GET", "/le-auth/sso/authenticate", 200),
    ]
    assert recorded[0]["query"] == "v=1.3"
    assert client.get("/_sandbox/requests").json() == []


def test_credentials_are_served(client: httpx.Client) -> None:
    credentials = client.get("/_sandbox/credentials").json()

    assert (credentials["accountId"], credentials["username"], credentials["password"]) == (
        "12345678",
        "chatops",
        "sandbox",
    )


async def test_the_app_works_mounted_under_a_prefix() -> None:
    fake = FakeLivePerson(bots=8)
    host = Starlette(routes=[Mount("/sandbox/liveperson", app=fake.app)])
    transport = httpx.ASGITransport(app=host)
    fake.add_fault("status", status=503, path="/le-auth/")
    async with httpx.AsyncClient(
        transport=transport, base_url="http://demo/sandbox/liveperson"
    ) as client:
        response = await client.post(LOGIN, json={"username": "chatops", "password": "sandbox"})
        sso = await client.get(
            "/le-auth/sso/authenticate",
            headers={"Authorization": f"Bearer {response.json()['bearer']}"},
        )

    assert response.status_code == 200
    assert sso.status_code == 503
    assert [r["path"] for r in fake.requests()] == [
        "/api/account/12345678/login",
        "/le-auth/sso/authenticate",
    ]


# ---------------------------------------------------------------------------- CLI


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _chatops(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "chatops", *args],
        cwd=REPOSITORY,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _sandbox_until_ctrl_c(*options: str, read: str) -> tuple[list[str], str, Any, str]:
    """Run ``chatops sandbox liveperson``, GET ``read`` once it answers, then Ctrl-C it.

    Returns the banner, the URL, the answer and the command's stderr (its exit code checked).
    """
    port = _free_port()
    process = _chatops("sandbox", "liveperson", "--port", str(port), *options)
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline()]
        while "Ctrl-C" not in banner[-1] and banner[-1]:
            banner.append(process.stdout.readline())
        url = f"http://127.0.0.1:{port}"
        answers: list[Any] = []

        def answered() -> bool:
            with contextlib.suppress(httpx.TransportError):
                answers.append(httpx.get(f"{url}{read}", timeout=PATIENCE).json())
            return bool(answers)

        wait_until(answered, what="the sandbox answering")
        answer = answers[0]
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=PATIENCE)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, errors
    return banner, url, answer, errors


def test_the_sandbox_liveperson_command_serves_until_ctrl_c() -> None:
    banner, url, bots, errors = _sandbox_until_ctrl_c("--bots", "5", read="/_sandbox/bots")

    assert (
        banner[0] == f"Fake LivePerson: 5 bots, {len(bots)} connector entries (seed 1) on {url}\n"
    )
    assert f"  export LP_API_URL={url}\n" in banner
    assert "  export LP_PASSWORD=sandbox\n" in banner
    assert len(by_bot(bots)) == 5
    assert "Traceback" not in errors


def test_the_sandbox_liveperson_command_sizes_the_fleet_by_connectors() -> None:
    banner, url, fleet, errors = _sandbox_until_ctrl_c(
        "--connectors", "25", "--seed", "4", "--messy", "--duplicates", read="/_sandbox/fleet"
    )

    assert (fleet["entries"], fleet["seed"], fleet["messy"], fleet["duplicates"]) == (
        25,
        4,
        True,
        True,
    )
    assert banner[0] == (
        f"Fake LivePerson: {fleet['bots']} bots, 25 connector entries"
        f" (seed 4, messy, duplicates) on {url}\n"
    )
    assert "Traceback" not in errors


def test_the_sandbox_liveperson_command_takes_bots_or_connectors_not_both() -> None:
    both = _chatops("sandbox", "liveperson", "--bots", "5", "--connectors", "5")
    _, both_errors = both.communicate(timeout=20)
    negative = _chatops("sandbox", "liveperson", "--port", str(_free_port()), "--connectors", "-1")
    _, negative_errors = negative.communicate(timeout=20)

    assert both.returncode == 2
    assert "not allowed with argument" in both_errors
    assert negative.returncode == 2
    assert "--connectors must be 0 or more" in negative_errors
    assert "Traceback" not in both_errors + negative_errors


def test_the_sandbox_liveperson_command_names_a_port_in_use() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = _chatops("sandbox", "liveperson", "--port", str(port))
        _, errors = process.communicate(timeout=PATIENCE)

    assert process.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in errors
    assert f"is something else using port {port}?" in errors
    assert "Traceback" not in errors
