"""The LivePerson client against the fake LivePerson, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import time
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from chatops.config import AppConfig, ConfigError, EnvSettings, PollConfig, Settings
from chatops.domain import (
    BotKind,
    Channel,
    Cloud,
    ConnectorStatus,
    Environment,
    Health,
    ManualOperation,
    Server,
    Snapshot,
)
from chatops.sandbox.liveperson import RunningServer
from chatops.sources.base import SourceError, UnknownBotError
from chatops.sources.liveperson import LivePersonSource
from chatops.sources.liveperson.transport import Call, Deadline, Transport
from tests.clock import ManualClock
from tests.fixtures.liveperson import MakeFakeLP, secrets_for
from tests.waiting import PATIENCE, await_until

MONITORING = "/service-monitoring-0.1/sysadmin/nodejs/instance"
STATUS_PATH = f"{MONITORING}/status"
PCS_PATH = f"{MONITORING}/pcs/status"
LOGIN_PATH = "/api/account/12345678/login"
SSO_PATH = "/le-auth/sso/authenticate"
PRODUCTION_LIST = "/instance/status?environment=PRODUCTION"

MakeSource = Callable[..., LivePersonSource]


class RecordedSleeps(list[float]):
    """A ``sleep`` that records each wait instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


class LoopbackDNS(httpx.AsyncBaseTransport):
    """Sends every request to one loopback server, as an /etc/hosts entry would.

    The request still travels as real HTTP to the fake's real paths; only the host is
    swapped, so the CSDS-derived LivePerson hosts can be checked without reaching them.
    """

    def __init__(self, url: str) -> None:
        self._target = httpx.URL(url)
        self._inner = httpx.AsyncHTTPTransport()
        self.asked: list[tuple[str, str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.asked.append((request.url.scheme, request.url.host, request.url.path))
        request.url = request.url.copy_with(
            scheme=self._target.scheme, host=self._target.host, port=self._target.port
        )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
async def make_source() -> AsyncIterator[MakeSource]:
    sources: list[LivePersonSource] = []

    def make(
        env: EnvSettings,
        environments: Sequence[Environment] = (Environment.PRODUCTION,),
        **kwargs: Any,
    ) -> LivePersonSource:
        source = LivePersonSource(env, environments, **kwargs)
        sources.append(source)
        return source

    yield make
    for source in sources:
        await source.aclose()


def requests_to(
    server: RunningServer, path: str, method: str | None = None
) -> list[dict[str, Any]]:
    return [
        r
        for r in server.fake.requests()
        if r["path"] == path and (method is None or r["method"] == method)
    ]


def by_key(snapshots: Sequence[Snapshot]) -> dict[tuple[str, str], Snapshot]:
    return {snapshot.key: snapshot for snapshot in snapshots}


def key_of(entry: dict[str, Any]) -> tuple[str, str]:
    """The connector a status entry is: its bot and its bot user (else its appName)."""
    return (str(entry["botId"]), str(entry.get("lpAccountUser") or entry.get("appName")))


def custom_bot(server: RunningServer, **match: Any) -> dict[str, Any]:
    """The first healthy custom bot whose status entry has ``match``'s values."""
    for entry in server.fake.bots():
        if "bcSocketStatus" in entry or "botName" not in entry:
            continue
        if str(entry["nodeStatus"]).lower() != "online":
            continue
        if all(entry.get(key) == value for key, value in match.items()):
            return entry
    raise AssertionError(f"the fleet has no healthy custom bot with {match}")


def pcs_bots(server: RunningServer) -> list[dict[str, Any]]:
    return [entry for entry in server.fake.bots() if "bcSocketStatus" in entry]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ------------------------------------------------------------------ the auth chain


async def test_it_fetches_every_production_bot_through_the_whole_auth_chain(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    snapshots = await make_source(lp_secrets).fetch()

    production = [key_of(e) for e in fake_lp.fake.bots() if e["environment"] == "PRODUCTION"]
    assert {s.key for s in snapshots} == set(production)
    assert len(snapshots) == len(production)  # one snapshot per connector, none merged
    paths = [r["path"] for r in fake_lp.fake.requests()]
    assert paths[:2] == [LOGIN_PATH, SSO_PATH]
    assert STATUS_PATH in paths and PCS_PATH in paths
    assert all(r["status"] == 200 for r in fake_lp.fake.requests())


async def test_it_reads_every_field_of_a_status_entry_into_the_snapshot(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    entry = custom_bot(fake_lp, type="messaging", environment="PRODUCTION")
    fake_lp.fake.set_fields(
        entry["botId"],
        nodeStatus="ONLINE",
        lpSocketStatus="not-connected",
        cbSocketStatus="Connected",
        lastManualOperation="STOP",
        manualOperationPerformedByName="Jane Ops",
        manualOperationTs=1716200100000,
    )
    updated = next(e for e in fake_lp.fake.bots() if e["botId"] == entry["botId"])

    snapshot = by_key(await make_source(lp_secrets).fetch())[key_of(entry)]

    assert snapshot.name == entry["botName"]
    assert snapshot.kind is BotKind.CUSTOM
    assert snapshot.channel is Channel.MESSAGING
    assert snapshot.environment is Environment.PRODUCTION
    assert (snapshot.raw_connector, snapshot.raw_cloud, snapshot.raw_server) == (
        "ONLINE",
        "not-connected",
        "Connected",
    )
    assert (snapshot.connector, snapshot.cloud, snapshot.server) == (
        ConnectorStatus.ONLINE,
        Cloud.NOT_CONNECTED,
        Server.CONNECTED,
    )
    assert snapshot.health is Health.DOWN
    assert snapshot.manual == ManualOperation(
        "stop", "Jane Ops", datetime(2024, 5, 20, 10, 15, tzinfo=UTC)
    )
    assert snapshot.account_user == entry["lpAccountUser"]
    assert snapshot.updated_at == datetime.fromtimestamp(updated["updateTime"] / 1000, UTC)


async def test_it_reads_the_demo_bots_from_the_staging_list(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    source = make_source(lp_secrets, [Environment.PRODUCTION, Environment.DEMO])

    snapshots = await source.fetch()

    assert {s.bot_id for s in snapshots} == {e["botId"] for e in fake_lp.fake.bots()}
    staging = {e["botId"] for e in fake_lp.fake.bots() if e["environment"] == "STAGING"}
    assert staging
    assert {s.bot_id for s in snapshots if s.environment is Environment.DEMO} == staging
    queries = {r["query"] for r in requests_to(fake_lp, STATUS_PATH)}
    assert queries == {"environment=PRODUCTION", "environment=STAGING"}


async def test_it_marks_pcs_bots_and_reads_their_bot_server_from_bc_socket_status(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    survey = pcs_bots(fake_lp)[0]
    fake_lp.fake.set_fields(survey["botId"], bcSocketStatus="NOT_CONNECTED")

    snapshot = by_key(await make_source(lp_secrets).fetch())[key_of(survey)]

    assert snapshot.kind is BotKind.PCS
    assert snapshot.account_user == "Survey Connector"
    assert snapshot.raw_server == "NOT_CONNECTED"
    assert snapshot.server is Server.NOT_CONNECTED
    assert snapshot.health is Health.DOWN


async def test_it_logs_in_with_an_app_key_set(
    fake_lp: RunningServer, make_source: MakeSource
) -> None:
    snapshots = await make_source(secrets_for(fake_lp, app_key=True)).fetch()

    assert snapshots
    assert len(requests_to(fake_lp, LOGIN_PATH)) == 1


async def test_it_names_the_app_key_when_the_app_key_login_is_refused(
    fake_lp: RunningServer, make_source: MakeSource
) -> None:
    env = secrets_for(fake_lp, app_key=True, lp_secret=SecretStr("not-the-secret"))

    with pytest.raises(SourceError) as failure:
        await make_source(env).fetch()

    assert str(failure.value) == (
        "LivePerson login failed for account 12345678: wrong user name, app key or secret"
        " (HTTP 401)"
    )
    assert failure.value.permanent
    assert "not-the-secret" not in str(failure.value)


async def test_it_finds_the_services_through_csds_when_no_api_url_is_set(
    fake_lp: RunningServer, make_source: MakeSource
) -> None:
    dns = LoopbackDNS(fake_lp.url)
    env = secrets_for(fake_lp, lp_api_url=None, lp_csds_url=fake_lp.url)
    source = make_source(env, transport=dns)

    await source.fetch()
    await source.fetch()

    hosts = {(scheme, host) for scheme, host, _ in dns.asked}
    assert ("http", "127.0.0.1") in hosts  # CSDS itself, at LP_CSDS_URL
    asked = {path: (scheme, host) for scheme, host, path in dns.asked}
    assert asked[LOGIN_PATH] == ("https", "va.agentvep.liveperson.net")
    assert asked[SSO_PATH] == ("https", "va.bc-sso.liveperson.net")
    assert asked[STATUS_PATH] == ("https", "va.bc-mgmt.liveperson.net")
    assert asked["/bot-platform-manager-0.1/bot-groups"] == (
        "https",
        "va.bc-platform.liveperson.net",
    )
    # Looked up once; the answer is cached (3 hours).
    csds = [p for _, _, p in dns.asked if p.endswith("/service/baseURI.json")]
    assert csds == ["/api/account/12345678/service/baseURI.json"]


async def test_it_reports_an_account_that_csds_does_not_know(
    fake_lp: RunningServer, make_source: MakeSource
) -> None:
    env = secrets_for(fake_lp, lp_account_id="99999", lp_api_url=None, lp_csds_url=fake_lp.url)

    with pytest.raises(SourceError) as failure:
        await make_source(env, transport=LoopbackDNS(fake_lp.url)).fetch()

    assert str(failure.value) == (
        f"LivePerson's domain service (CSDS) at {fake_lp.url} does not know account 99999"
        " (HTTP 400): check LP_ACCOUNT_ID"
    )
    assert failure.value.permanent


# ------------------------------------------------------------- sessions and tokens


async def test_it_logs_in_again_once_when_the_tokens_expire(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    source = make_source(lp_secrets)
    first = await source.fetch()
    fake_lp.fake.expire_tokens()

    second = await source.fetch()

    assert by_key(second).keys() == by_key(first).keys()
    assert len(requests_to(fake_lp, LOGIN_PATH)) == 2
    assert [r["status"] for r in requests_to(fake_lp, STATUS_PATH)] == [200, 401, 200]


async def test_it_logs_in_again_when_the_token_lifetime_has_passed(
    make_fake_lp: MakeFakeLP, make_source: MakeSource
) -> None:
    clock = ManualClock()
    server = make_fake_lp(clock=clock.time, token_ttl=60.0)
    source = make_source(secrets_for(server))
    await source.fetch()

    clock.advance(61)
    await source.fetch()
    await source.fetch()

    assert len(requests_to(server, LOGIN_PATH)) == 2


async def test_concurrent_calls_that_meet_an_expired_session_share_one_new_login(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    source = make_source(lp_secrets)
    await source.fetch()
    fake_lp.fake.expire_tokens()

    results = await asyncio.gather(source.fetch(), source.fetch(), source.fetch())

    assert all(results)
    assert len(requests_to(fake_lp, LOGIN_PATH)) == 2


async def test_it_gives_up_when_the_session_is_refused_again_after_a_new_login(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    fake_lp.fake.add_fault("status", status=401, times=-1, path=PRODUCTION_LIST)
    sleeps = RecordedSleeps()

    with pytest.raises(SourceError) as failure:
        await make_source(lp_secrets, sleep=sleeps).fetch()

    assert failure.value.permanent
    assert "(HTTP 401) even after logging in again" in str(failure.value)
    assert len(requests_to(fake_lp, LOGIN_PATH)) == 2
    assert len(requests_to(fake_lp, STATUS_PATH)) == 2
    assert sleeps == []


# ------------------------------------------------------------- LivePerson's retry policy


@pytest.mark.parametrize(("retry_after", "expected_wait"), [(3, 3.0), (0, 1.0), (None, 1.0)])
async def test_it_waits_at_least_a_second_or_the_retry_after_after_a_429(
    fake_lp: RunningServer,
    lp_secrets: EnvSettings,
    make_source: MakeSource,
    retry_after: int | None,
    expected_wait: float,
) -> None:
    fake_lp.fake.add_fault("status", status=429, retry_after=retry_after, path=PRODUCTION_LIST)
    sleeps = RecordedSleeps()
    source = make_source(lp_secrets, retry_waits=(0.1, 0.2, 0.4), sleep=sleeps)

    snapshots = await source.fetch()

    assert snapshots
    assert sleeps == [expected_wait]
    assert [r["status"] for r in requests_to(fake_lp, STATUS_PATH)][:2] == [429, 200]


async def test_it_reports_a_rate_limit_that_outlasts_the_retries(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    fake_lp.fake.add_fault("status", status=429, retry_after=2, times=-1, path=PRODUCTION_LIST)
    sleeps = RecordedSleeps()

    with pytest.raises(SourceError) as failure:
        await make_source(lp_secrets, sleep=sleeps).fetch()

    assert str(failure.value) == (
        "LivePerson is limiting the rate of the bots status list (Production) (HTTP 429)"
        " (4 attempts)"
    )
    assert not failure.value.permanent
    assert sleeps == [2.0, 2.0, 2.0]


async def test_it_retries_a_5xx_with_the_retry_waits_and_then_succeeds(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    fake_lp.fake.add_fault("status", status=503, times=2, path=PRODUCTION_LIST)
    sleeps = RecordedSleeps()

    snapshots = await make_source(lp_secrets, sleep=sleeps).fetch()

    assert snapshots
    assert sleeps == [1.0, 2.0]
    assert [r["status"] for r in requests_to(fake_lp, STATUS_PATH)] == [503, 503, 200]


async def test_it_reports_a_5xx_as_transient_once_the_retries_run_out(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    fake_lp.fake.add_fault("status", status=503, times=-1, path=PRODUCTION_LIST)
    sleeps = RecordedSleeps()

    with pytest.raises(SourceError) as failure:
        await make_source(lp_secrets, sleep=sleeps).fetch()

    assert str(failure.value) == (
        "LivePerson failed to serve the bots status list (Production)"
        " (HTTP 503: Service Unavailable) (4 attempts)"
    )
    assert not failure.value.permanent
    assert sleeps == [1.0, 2.0, 4.0]


async def test_it_does_not_retry_other_4xx(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    fake_lp.fake.add_fault("status", status=400, times=-1, path=PRODUCTION_LIST)
    sleeps = RecordedSleeps()

    with pytest.raises(SourceError) as failure:
        await make_source(lp_secrets, sleep=sleeps).fetch()

    assert str(failure.value) == (
        "LivePerson refused the bots status list (Production) (HTTP 400: Bad Request)"
    )
    assert failure.value.permanent
    assert sleeps == []
    assert len(requests_to(fake_lp, STATUS_PATH)) == 1


async def test_it_names_the_missing_permission_on_a_403(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    fake_lp.fake.add_fault("status", status=403, times=-1, path=PRODUCTION_LIST)

    with pytest.raises(SourceError) as failure:
        await make_source(lp_secrets).fetch()

    assert str(failure.value) == (
        "LivePerson refused the bots status list (Production) (HTTP 403): the user chatops"
        " needs the Conversation Builder permission 'Bot Status Access'"
    )
    assert failure.value.permanent


async def test_it_retries_a_request_that_timed_out(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    # The first answer comes long after the client gave up; the retry is answered at once.
    fake_lp.fake.add_fault("latency", seconds=30, path=PRODUCTION_LIST)
    sleeps = RecordedSleeps()
    source = make_source(lp_secrets, request_timeout=2, sleep=sleeps)

    snapshots = await source.fetch()

    assert snapshots
    assert sleeps == [1.0]


async def test_it_reports_a_timeout_as_transient(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    fake_lp.fake.add_fault("latency", seconds=30, times=-1, path=PRODUCTION_LIST)
    source = make_source(
        lp_secrets, request_timeout=0.2, retry_waits=(0.05,), sleep=RecordedSleeps()
    )

    with pytest.raises(SourceError) as failure:
        await source.fetch()

    assert str(failure.value) == (
        "LivePerson did not answer the bots status list (Production) within 0.2 s (2 attempts)"
    )
    assert not failure.value.permanent


async def test_it_does_not_start_a_retry_that_cannot_finish_before_the_deadline(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    fake_lp.fake.add_fault("status", status=502, times=-1, path=PRODUCTION_LIST)
    sleeps = RecordedSleeps()
    source = make_source(lp_secrets, timeout=2.0, retry_waits=(5.0,), sleep=sleeps)

    with pytest.raises(SourceError) as failure:
        await source.fetch()

    assert str(failure.value).endswith("(HTTP 502: Bad Gateway) (no time left to retry)")
    assert sleeps == []


async def test_the_whole_fetch_ends_at_its_deadline_whatever_is_in_progress(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    fake_lp.fake.add_fault("status", status=503, times=-1, path=PRODUCTION_LIST)

    async def oversleeping(seconds: float) -> None:
        await asyncio.sleep(seconds + 3600)

    source = make_source(lp_secrets, timeout=0.5, retry_waits=(0.1,), sleep=oversleeping)

    # Only the deadline can end the fetch within the test's patience.
    with pytest.raises(SourceError) as failure:
        await asyncio.wait_for(source.fetch(), PATIENCE)

    assert str(failure.value) == (
        "LivePerson did not finish the bots status list (Production) within the 0.5 s"
        " timeout (poll.timeout); the next poll will try again"
    )
    assert not failure.value.permanent


# ------------------------------------------------------------------------ bad input


async def test_it_reports_malformed_json(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    fake_lp.fake.add_fault("malformed", path=PRODUCTION_LIST)

    with pytest.raises(SourceError) as failure:
        await make_source(lp_secrets).fetch()

    assert str(failure.value) == (
        "LivePerson returned malformed JSON from the bots status list (Production) (HTTP 200)"
    )
    assert not failure.value.permanent


@pytest.mark.parametrize(
    ("status", "suffix"), [(502, " (HTTP 502) (4 attempts)"), (200, " (HTTP 200)")]
)
async def test_it_reports_an_html_page_instead_of_json(
    fake_lp: RunningServer,
    lp_secrets: EnvSettings,
    make_source: MakeSource,
    status: int,
    suffix: str,
) -> None:
    fake_lp.fake.add_fault("html", status=status, times=-1, path=PRODUCTION_LIST)

    with pytest.raises(SourceError) as failure:
        await make_source(lp_secrets, sleep=RecordedSleeps()).fetch()

    assert str(failure.value) == (
        "LivePerson returned an HTML page instead of JSON from the bots status list"
        f" (Production){suffix}"
    )
    assert not failure.value.permanent


async def test_it_fails_the_whole_fetch_when_the_status_list_is_missing(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    fake_lp.fake.add_fault("missing_field", field="statusList", path=PRODUCTION_LIST)

    with pytest.raises(SourceError) as failure:
        await make_source(lp_secrets).fetch()

    assert str(failure.value) == (
        "LivePerson's bots status list (Production) has no statusList (HTTP 200);"
        " the response is not the expected shape"
    )


async def test_it_shows_a_missing_status_field_as_unknown_and_says_it_is_missing(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    fake_lp.fake.add_fault("missing_field", field="nodeStatus", path=PRODUCTION_LIST)

    snapshots = await make_source(lp_secrets).fetch()

    # The fault removes the field from the first entry of the list as served.
    (snapshot,) = [s for s in snapshots if s.raw_connector == "(missing)"]
    assert snapshot.connector is ConnectorStatus.UNKNOWN
    assert snapshot.health is Health.UNKNOWN


async def test_it_skips_entries_without_a_bot_id_and_says_how_many(
    fake_lp: RunningServer,
    lp_secrets: EnvSettings,
    make_source: MakeSource,
    caplog: pytest.LogCaptureFixture,
) -> None:
    production = [e for e in fake_lp.fake.bots() if e["environment"] == "PRODUCTION"]
    fake_lp.fake.add_fault("missing_field", field="botId", path=PRODUCTION_LIST)

    with caplog.at_level(logging.WARNING, logger="chatops.sources.liveperson"):
        snapshots = await make_source(lp_secrets).fetch()

    assert len(snapshots) == len(production) - 1
    assert "bots status list (Production) had 1 entry without a botId; skipped" in caplog.text


async def test_it_keeps_an_unknown_spelling_raw_and_shows_it_as_unknown(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    entry = custom_bot(fake_lp, environment="PRODUCTION")
    fake_lp.fake.set_fields(entry["botId"], nodeStatus="WARMING_UP", cbSocketStatus="half-open")

    snapshot = by_key(await make_source(lp_secrets).fetch())[key_of(entry)]

    assert (snapshot.raw_connector, snapshot.connector) == ("WARMING_UP", ConnectorStatus.UNKNOWN)
    assert (snapshot.raw_server, snapshot.server) == ("half-open", Server.UNKNOWN)


async def test_it_understands_every_spelling_the_fake_fleet_uses(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    snapshots = await make_source(lp_secrets, [Environment.PRODUCTION, Environment.DEMO]).fetch()

    spellings = {s.raw_connector for s in snapshots if s.connector is ConnectorStatus.ONLINE}
    assert len(spellings) >= 2
    assert all(
        ConnectorStatus.UNKNOWN not in (s.connector,)
        and s.cloud is not Cloud.UNKNOWN
        and s.server is not Server.UNKNOWN
        for s in snapshots
    )


async def test_it_refuses_a_wrong_password_permanently_without_repeating_it(
    fake_lp: RunningServer, make_source: MakeSource
) -> None:
    env = secrets_for(fake_lp, lp_password=SecretStr("hunter2-wrong"))
    sleeps = RecordedSleeps()

    with pytest.raises(SourceError) as failure:
        await make_source(env, sleep=sleeps).fetch()

    assert str(failure.value) == (
        "LivePerson login failed for account 12345678: wrong user name or password (HTTP 401)"
    )
    assert failure.value.permanent
    assert "hunter2" not in repr(failure.value.args) + str(failure.value)
    assert len(requests_to(fake_lp, LOGIN_PATH)) == 1
    assert sleeps == []


async def test_it_reports_an_unknown_account_at_login(
    fake_lp: RunningServer, make_source: MakeSource
) -> None:
    with pytest.raises(SourceError) as failure:
        await make_source(secrets_for(fake_lp, lp_account_id="99999")).fetch()

    assert str(failure.value) == (
        "LivePerson login failed for account 99999: Account not found (HTTP 400)"
    )
    assert failure.value.permanent


async def test_it_reports_an_unreachable_host_as_transient(make_source: MakeSource) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = EnvSettings(
        lp_account_id="12345678",
        lp_username="chatops",
        lp_password=SecretStr("sandbox"),
        lp_api_url=url,
    )
    sleeps = RecordedSleeps()

    with pytest.raises(SourceError) as failure:
        await make_source(env, sleep=sleeps).fetch()

    assert (
        str(failure.value) == f"cannot reach LivePerson at {url}: connection refused (4 attempts)"
    )
    assert not failure.value.permanent
    assert sleeps == [1.0, 2.0, 4.0]


async def test_it_reports_a_connection_dropped_mid_response(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    fake_lp.fake.add_fault("reset", times=-1, path=PRODUCTION_LIST)

    with pytest.raises(SourceError) as failure:
        await make_source(lp_secrets, sleep=RecordedSleeps()).fetch()

    assert str(failure.value) == (
        f"the connection to LivePerson at {fake_lp.url} broke during the bots status list"
        " (Production) (closed before the response was complete) (4 attempts)"
    )
    assert not failure.value.permanent


# ------------------------------------------------------------------- names and kinds


async def test_it_takes_names_from_the_bot_platform_when_the_status_list_lacks_them(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    source = make_source(lp_secrets, [Environment.PRODUCTION, Environment.DEMO])
    nameless = [key_of(e) for e in fake_lp.fake.bots() if "botName" not in e]
    names = {b["botId"]: b["botName"] for b in fake_lp.fake.platform_bots()}
    assert nameless

    snapshots = by_key(await source.fetch())

    assert {key: snapshots[key].name for key in nameless} == {
        key: names[key[0]] for key in nameless
    }


async def test_it_takes_the_channel_from_the_bot_platform_when_the_entry_lacks_its_type(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    chat = custom_bot(fake_lp, type="chat", environment="PRODUCTION")
    fake_lp.fake.set_fields(chat["botId"], type=None)

    snapshot = by_key(await make_source(lp_secrets).fetch())[key_of(chat)]

    assert snapshot.channel is Channel.CHAT


async def test_it_reads_the_bot_platform_again_only_for_bots_it_has_not_seen(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    source = make_source(lp_secrets, [Environment.PRODUCTION, Environment.DEMO])
    await source.fetch()
    await source.fetch()
    groups = "/bot-platform-manager-0.1/bot-groups"
    assert len(requests_to(fake_lp, groups)) == 1

    # A bot it has already seen loses its name in the status list: the cache has it.
    fake_lp.fake.set_fields(custom_bot(fake_lp)["botId"], botName=None)
    await source.fetch()
    assert len(requests_to(fake_lp, groups)) == 1

    fake_lp.fake.rebuild(bots=40, seed=2)
    await source.fetch()

    assert len(requests_to(fake_lp, groups)) == 2


async def test_it_keeps_polling_with_bot_user_names_when_the_bot_platform_fails(
    fake_lp: RunningServer,
    lp_secrets: EnvSettings,
    make_source: MakeSource,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_lp.fake.add_fault("status", status=500, times=-1, path="/bot-platform-manager-0.1/")
    source = make_source(
        lp_secrets, [Environment.PRODUCTION, Environment.DEMO], sleep=RecordedSleeps()
    )
    nameless = {key_of(e): e["lpAccountUser"] for e in fake_lp.fake.bots() if "botName" not in e}

    with caplog.at_level(logging.WARNING, logger="chatops.sources.liveperson"):
        snapshots = by_key(await source.fetch())

    assert {key: snapshots[key].name for key in nameless} == nameless
    assert "cannot read bot names from LivePerson's bot platform" in caplog.text


# ---------------------------------------------------------------------- start, stop


async def test_it_stops_a_bot_and_the_next_fetch_shows_who_stopped_it(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    source = make_source(lp_secrets)
    entry = custom_bot(fake_lp, environment="PRODUCTION")
    await source.fetch()

    await source.stop(entry["botId"], entry["lpAccountUser"])
    snapshot = by_key(await source.fetch())[(entry["botId"], entry["lpAccountUser"])]

    assert fake_lp.fake.stop_count(entry["botId"]) == 1
    assert snapshot.connector is ConnectorStatus.STOPPED
    assert snapshot.health is Health.STOPPED
    assert snapshot.manual is not None
    assert (snapshot.manual.operation, snapshot.manual.performed_by) == ("stop", "chatops")
    assert snapshot.manual.at is not None
    assert datetime.now(UTC) - snapshot.manual.at < timedelta(minutes=1)


async def test_a_started_bot_is_ready_at_once_and_online_after_the_start_delay(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    source = make_source(lp_secrets)
    entry = custom_bot(fake_lp, environment="PRODUCTION")
    await source.fetch()
    await source.stop(entry["botId"], entry["lpAccountUser"])

    await source.start(entry["botId"], entry["lpAccountUser"])
    starting = by_key(await source.fetch())[key_of(entry)]
    seen: list[Snapshot] = []

    async def online() -> bool:
        seen.append(by_key(await source.fetch())[key_of(entry)])
        return seen[-1].connector is ConnectorStatus.ONLINE

    await await_until(online, what="the started bot Online after the start delay")
    started = seen[-1]

    assert fake_lp.fake.start_count(entry["botId"]) == 1
    assert starting.connector is ConnectorStatus.READY_TO_START
    assert started.connector is ConnectorStatus.ONLINE
    assert started.health is Health.OK
    assert started.manual is not None and started.manual.operation == "start"


async def test_starting_or_stopping_one_pcs_bot_acts_on_every_pcs_bot(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    source = make_source(lp_secrets)
    surveys = [e["botId"] for e in pcs_bots(fake_lp)]
    assert len(surveys) >= 2
    await source.fetch()

    await source.stop(surveys[0], "Survey Connector")
    stopped = by_key(await source.fetch())
    await source.start(surveys[0], "Survey Connector")
    starting = by_key(await source.fetch())

    survey = "Survey Connector"
    assert {stopped[(s, survey)].connector for s in surveys} == {ConnectorStatus.STOPPED}
    assert {starting[(s, survey)].connector for s in surveys} == {ConnectorStatus.READY_TO_START}
    # One connector shared by every PCS bot: its one Stop counts for each of them.
    assert [fake_lp.fake.stop_count(s) for s in surveys] == [1] * len(surveys)
    assert len(requests_to(fake_lp, f"{MONITORING}/stop/{surveys[0]}")) == 1


async def test_it_looks_up_the_bot_user_of_a_bot_no_fetch_has_listed(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    entry = custom_bot(fake_lp)

    await make_source(lp_secrets).stop(entry["botId"], entry["lpAccountUser"])

    assert len(requests_to(fake_lp, f"{MONITORING}/status-v2/{entry['botId']}")) == 1
    assert fake_lp.fake.stop_count(entry["botId"]) == 1


@pytest.mark.parametrize("fetched_first", [False, True])
async def test_it_raises_unknown_bot_for_an_id_the_source_does_not_know(
    lp_secrets: EnvSettings, make_source: MakeSource, fetched_first: bool
) -> None:
    source = make_source(lp_secrets)
    if fetched_first:
        await source.fetch()

    with pytest.raises(UnknownBotError) as failure:
        await source.start("no-such-bot", "no_such_user")

    assert failure.value.bot_id == "no-such-bot"
    assert failure.value.permanent


async def test_it_repeats_a_stop_once_after_logging_in_again(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    source = make_source(lp_secrets)
    entry = custom_bot(fake_lp)
    await source.fetch()
    fake_lp.fake.expire_tokens()

    await source.stop(entry["botId"], entry["lpAccountUser"])

    stops = requests_to(fake_lp, f"{MONITORING}/stop/{entry['botId']}")
    assert [r["status"] for r in stops] == [401, 200]
    assert fake_lp.fake.stop_count(entry["botId"]) == 1


async def test_it_does_not_send_a_start_twice_when_the_first_timed_out(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    source = make_source(lp_secrets, request_timeout=0.2, sleep=RecordedSleeps())
    entry = custom_bot(fake_lp)
    await source.fetch()
    fake_lp.fake.add_fault("latency", seconds=5, path="/instance/start/")

    with pytest.raises(SourceError) as failure:
        await source.start(entry["botId"], entry["lpAccountUser"])

    assert str(failure.value) == (
        f"LivePerson did not answer the start of connector {entry['lpAccountUser']} of bot"
        f" {entry['botId']} within 0.2 s"
    )
    # The slow request finishes on the server after the client gave up.
    await await_until(lambda: fake_lp.fake.start_count(entry["botId"]) == 1)
    assert len(requests_to(fake_lp, f"{MONITORING}/start/{entry['botId']}")) <= 1


# ------------------------------------------------------------------------ scale


async def test_it_fetches_ten_thousand_bots(
    make_fake_lp: MakeFakeLP, make_source: MakeSource
) -> None:
    server = make_fake_lp(connectors=10_000)
    source = make_source(secrets_for(server), [Environment.PRODUCTION, Environment.DEMO])

    started = time.perf_counter()
    snapshots = await source.fetch()
    first = time.perf_counter() - started
    started = time.perf_counter()
    await source.fetch()
    again = time.perf_counter() - started
    print(
        f"10,000 connectors: first fetch {first:.2f} s (with bot platform names),"
        f" next {again:.2f} s"
    )

    entries = server.fake.bots()
    assert len(snapshots) == 10_000
    assert {s.key for s in snapshots} == {key_of(e) for e in entries}
    assert sum(s.kind is BotKind.PCS for s in snapshots) == sum(
        "bcSocketStatus" in e for e in entries
    )
    assert not [s for s in snapshots if s.connector is ConnectorStatus.UNKNOWN]
    assert all(not s.name.endswith("_user") and s.name != s.bot_id for s in snapshots)


# ------------------------------------------------------------------ secrets stay secret


async def test_no_credential_or_token_reaches_the_logs_or_the_errors(
    fake_lp: RunningServer,
    make_source: MakeSource,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = fake_lp.fake
    errors: list[str] = []
    caplog.set_level(logging.DEBUG)
    # httpcore's own DEBUG trace prints raw response headers, the login's Set-Cookie among
    # them; chatops keeps httpcore at INFO (cli.py), as this test does.
    caplog.set_level(logging.INFO, logger="httpcore")
    by_password = make_source(secrets_for(fake_lp), sleep=RecordedSleeps())
    by_app_key = make_source(secrets_for(fake_lp, app_key=True), sleep=RecordedSleeps())
    await by_password.fetch()
    await by_app_key.fetch()
    fake.expire_tokens()
    await by_password.fetch()
    stopped = custom_bot(fake_lp)
    await by_password.stop(stopped["botId"], stopped["lpAccountUser"])
    for kind, status in (("status", 401), ("status", 500), ("html", 502), ("malformed", 200)):
        fake.add_fault(kind, status=status, times=-1)
        with pytest.raises(SourceError) as failure:
            await by_password.fetch()
        errors.append(str(failure.value))
        fake.clear_faults()
    wrong = make_source(secrets_for(fake_lp, lp_password=SecretStr("s3cr3t-wrong-pass")))
    with pytest.raises(SourceError) as failure:
        await wrong.fetch()
    errors.append(str(failure.value))

    secrets = [
        fake.password,
        fake.app_key,
        fake.secret,
        fake.access_token,
        fake.access_token_secret,
        "s3cr3t-wrong-pass",
        *fake.issued_tokens(),
    ]
    assert len(fake.issued_tokens()) >= 15
    text = caplog.text + "\n".join(errors)
    assert "logged in to LivePerson account 12345678" in caplog.text
    assert [secret for secret in secrets if secret in text] == []


# ----------------------------------------------------------------- wiring and config


async def test_check_says_what_it_reached(
    fake_lp: RunningServer, lp_secrets: EnvSettings, make_source: MakeSource
) -> None:
    production = [e for e in fake_lp.fake.bots() if e["environment"] == "PRODUCTION"]

    verdict = await make_source(lp_secrets).check()

    assert verdict == (
        "logged in to LivePerson account 12345678 as chatops with a password; Bots Status"
        f" at {fake_lp.url} lists {len({e['botId'] for e in production})} bots with"
        f" {len(production)} connectors (Production)"
    )


async def test_from_settings_polls_the_configured_environments(
    fake_lp: RunningServer, lp_secrets: EnvSettings
) -> None:
    settings = Settings(
        env=lp_secrets,
        app=AppConfig(
            poll=PollConfig(environments=(Environment.DEMO,), timeout=timedelta(seconds=5))
        ),
    )
    source = LivePersonSource.from_settings(settings)
    try:
        snapshots = await source.fetch()
    finally:
        await source.aclose()

    staging = {e["botId"] for e in fake_lp.fake.bots() if e["environment"] == "STAGING"}
    assert {s.bot_id for s in snapshots} == staging


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"lp_username": "u", "lp_password": "p"}, "LP_ACCOUNT_ID is not set"),
        ({"lp_account_id": "1", "lp_password": "p"}, "LP_USERNAME is not set"),
        ({"lp_account_id": "1", "lp_username": "u"}, "no LivePerson credentials"),
        (
            {"lp_account_id": "1", "lp_username": "u", "lp_app_key": "k"},
            "also set LP_SECRET, LP_ACCESS_TOKEN, LP_ACCESS_TOKEN_SECRET",
        ),
        (
            {"lp_account_id": "1", "lp_username": "u", "lp_password": "p", "lp_api_url": "ftp://x"},
            "LP_API_URL='ftp://x' is not an http(s) URL",
        ),
    ],
)
def test_it_refuses_incomplete_settings_with_a_clear_message(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as failure:
        LivePersonSource(EnvSettings(**values), [Environment.PRODUCTION])

    assert message in str(failure.value)


def test_a_response_is_freed_without_the_cyclic_collector() -> None:
    # A read httpx response refers to itself through its stream; a status list's 5 MB body
    # must go as soon as nothing holds the response, not at the next full collection.
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"statusList": []})

    async def send() -> weakref.ref[httpx.Response]:
        transport = Transport(username="u", transport=httpx.MockTransport(answer))
        call = Call("the bots status list", "GET", "http://lp.invalid/status", auth="none")
        response = await transport.send(call, Deadline(5))
        assert response.json() == {"statusList": []}
        await transport.aclose()
        return weakref.ref(response)

    gc.disable()
    try:
        freed = asyncio.run(send())
        assert freed() is None
    finally:
        gc.enable()
