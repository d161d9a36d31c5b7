"""The fake LivePerson itself: its fleet, its protocol and its control API, over HTTP."""

from __future__ import annotations

import contextlib
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

from chatops.domain import normalise_key
from chatops.sandbox.liveperson import FakeLivePerson, RunningServer
from tests.fixtures.liveperson import MakeFakeLP
from tests.waiting import PATIENCE, wait_until

MONITORING = "/service-monitoring-0.1/sysadmin/nodejs/instance"
PLATFORM = "/bot-platform-manager-0.1"
LOGIN = "/api/account/12345678/login?v=1.3"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
REPOSITORY = Path(__file__).resolve().parent.parent


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


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


@pytest.fixture
def client(fake_lp: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake_lp.url) as client:
        yield client


# --------------------------------------------------------------------------- fleet


def test_the_default_fleet_has_forty_bots_of_every_kind_channel_and_environment() -> None:
    bots = FakeLivePerson().bots()

    assert len(bots) == 40
    kinds = Counter("pcs" if "bcSocketStatus" in bot else "custom" for bot in bots)
    assert kinds == {"custom": 35, "pcs": 5}
    assert {bot["type"] for bot in bots} == {"messaging", "chat"}
    assert {bot["environment"] for bot in bots} == {"PRODUCTION", "STAGING"}


def test_most_bots_are_healthy_and_a_few_have_problems() -> None:
    bots = FakeLivePerson().bots()

    def healthy(bot: dict[str, Any]) -> bool:
        server = "bcSocketStatus" if "bcSocketStatus" in bot else "cbSocketStatus"
        return (
            normalised(bot, "nodeStatus") == "online"
            and normalised(bot, "lpSocketStatus") in {"connected", "online"}
            and normalised(bot, server) == "connected"
        )

    problems = [bot for bot in bots if not healthy(bot)]
    assert 3 <= len(problems) <= 6
    assert {"stopped", "ready to start"} <= {normalised(bot, "nodeStatus") for bot in problems}
    stopped = next(bot for bot in problems if normalised(bot, "nodeStatus") == "stopped")
    assert stopped["lastManualOperation"] == "STOP"
    assert stopped["manualOperationPerformedByName"]


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
    clock = Clock()

    first = FakeLivePerson(seed=7, clock=clock).bots()
    again = FakeLivePerson(seed=7, clock=clock).bots()
    other = FakeLivePerson(seed=8, clock=clock).bots()

    assert first == again
    assert {bot["botId"] for bot in first}.isdisjoint(bot["botId"] for bot in other)


def test_bot_ids_look_like_uuids_and_names_are_unique() -> None:
    fake = FakeLivePerson(bots=500)

    ids = [bot["botId"] for bot in fake.bots()]
    names = [bot["botName"] for bot in fake.platform_bots()]

    assert all(UUID.match(bot_id) for bot_id in ids)
    assert len(set(ids)) == len(ids) == 500
    assert len(set(names)) == 500
    assert all(re.match(r"^[a-z]+-[a-z]+-\d+$", name) for name in names)


def test_a_few_custom_entries_leave_out_the_bot_name_that_the_bot_platform_has() -> None:
    fake = FakeLivePerson()

    nameless = [bot for bot in fake.bots() if "botName" not in bot]
    platform = {bot["botId"]: bot["botName"] for bot in fake.platform_bots()}

    assert 1 <= len(nameless) <= 4
    assert all("cbSocketStatus" in bot for bot in nameless)
    assert all(platform[bot["botId"]] for bot in nameless)


def test_pcs_entries_share_the_survey_connector_and_carry_the_pcs_fields() -> None:
    pcs = [bot for bot in FakeLivePerson().bots() if "bcSocketStatus" in bot]

    assert pcs
    for bot in pcs:
        assert bot["lpAccountUser"] == "Survey Connector"
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
    clock = Clock()
    server = make_fake_lp(clock=clock, token_ttl=60.0)
    with httpx.Client(base_url=server.url) as client:
        headers = cb_headers(client)
        fresh = status_list(client, headers)
        clock.now += 61
        expired = status_list(client, headers)

    assert fresh.status_code == 200
    assert expired.status_code == 401


def test_a_start_is_ready_at_once_and_online_after_the_start_delay(
    make_fake_lp: MakeFakeLP,
) -> None:
    clock = Clock()
    server = make_fake_lp(clock=clock, start_delay=5.0)
    bot = next(b for b in server.fake.bots() if normalised(b, "nodeStatus") == "stopped")
    body = {"lpAccountId": "12345678", "lpAccountUser": bot["lpAccountUser"]}
    with httpx.Client(base_url=server.url) as client:
        headers = cb_headers(client)
        started = client.put(f"{MONITORING}/start/{bot['botId']}", json=body, headers=headers)
        ready = client.get(f"{MONITORING}/status-v2/{bot['botId']}", headers=headers).json()
        clock.now += 5
        online = client.get(f"{MONITORING}/status-v2/{bot['botId']}", headers=headers).json()

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

    assert sorted(seen) == sorted(bot["botId"] for bot in fake_lp.fake.bots())
    agents = client.get(f"{PLATFORM}/auth/liveperson/app?chatBotId={seen[0]}", headers=headers)
    assert agents.json()["successResult"]["agents"][0]["botId"] == seen[0]


def test_a_ten_thousand_bot_status_list_is_served_quickly(make_fake_lp: MakeFakeLP) -> None:
    server = make_fake_lp(bots=10_000)
    with httpx.Client(base_url=server.url) as client:
        headers = cb_headers(client)
        started = time.perf_counter()
        first = status_list(client, headers).json()["statusList"]
        first_seconds = time.perf_counter() - started
        started = time.perf_counter()
        again = status_list(client, headers).json()["statusList"]
        again_seconds = time.perf_counter() - started
    print(f"10,000-bot fleet: Production list {first_seconds:.3f} s, cached {again_seconds:.3f} s")

    production = [
        b for b in server.fake.bots() if b["environment"] == "PRODUCTION" and "cbSocketStatus" in b
    ]
    assert len(first) == len(again) == len(production)


# -------------------------------------------------------------------- control API


def test_patch_changes_a_bot_and_refuses_unknown_fields_and_bots(
    fake_lp: RunningServer, client: httpx.Client
) -> None:
    bot_id = fake_lp.fake.bots()[0]["botId"]

    changed = client.patch(f"/_sandbox/bots/{bot_id}", json={"nodeStatus": "NOT_CONNECTED"})
    unknown_field = client.patch(f"/_sandbox/bots/{bot_id}", json={"colour": "red"})
    unknown_bot = client.patch("/_sandbox/bots/nope", json={"nodeStatus": "ONLINE"})

    assert changed.status_code == 200
    assert changed.json()["nodeStatus"] == "NOT_CONNECTED"
    assert fake_lp.fake.bots()[0]["nodeStatus"] == "NOT_CONNECTED"
    assert unknown_field.status_code == 400
    assert "colour" in unknown_field.json()["error"]
    assert unknown_bot.status_code == 404


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

    assert response.json() == {"bots": 12, "seed": 3}
    assert len(client.get("/_sandbox/bots").json()) == 12
    expected = [bot["botId"] for bot in FakeLivePerson(bots=12, seed=3).bots()]
    assert [bot["botId"] for bot in fake_lp.fake.bots()] == expected


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


def test_the_sandbox_liveperson_command_serves_until_ctrl_c() -> None:
    port = _free_port()
    process = _chatops("sandbox", "liveperson", "--port", str(port), "--bots", "5")
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline()]
        while "Ctrl-C" not in banner[-1] and banner[-1]:
            banner.append(process.stdout.readline())
        url = f"http://127.0.0.1:{port}"
        answers: list[list[dict[str, Any]]] = []

        def answered() -> bool:
            with contextlib.suppress(httpx.TransportError):
                answers.append(httpx.get(f"{url}/_sandbox/bots", timeout=PATIENCE).json())
            return bool(answers)

        wait_until(answered, what="the sandbox answering")
        bots = answers[0]
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=PATIENCE)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert banner[0] == f"Fake LivePerson: 5 bots (seed 1) on {url}\n"
    assert f"  export LP_API_URL={url}\n" in banner
    assert "  export LP_PASSWORD=sandbox\n" in banner
    assert len(bots) == 5
    assert process.returncode == 0, errors
    assert "Traceback" not in errors


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
