"""LivePerson as a status source: the Bots Status data behind Conversation Builder.

The chain (reference/liveperson-api.md):

1. CSDS finds the account's hosts (skipped when ``LP_API_URL`` names one base for all).
2. The Login Service trades a user name and password, or an app key set, for a bearer.
3. Conversation Builder's SSO exchange trades the bearer for an ``apiAccessToken``.
4. The bots status service lists every connector per environment, and the PCS connector's
   bots separately; it also starts and stops connectors.
5. The bot platform supplies names, kinds and channels that a status entry lacks.

Retries follow LivePerson's retry policy within one call of ``fetch``/``start``/``stop``:
no retry on a 4xx, at least 1 s (or ``Retry-After``) after a 429, ``retry_waits`` between
attempts after a 5xx, a timeout or a broken connection; all inside the ``timeout``
deadline. LivePerson's longer tier (5/10/15 s, then minutes) is the poll schedule itself: a
failed fetch is retried at the next poll, and after ``poll.unreachable_after`` failures the
"status source unreachable" alert goes out. A 401 on a Conversation Builder call logs in
again once and repeats the call once.

Every failure leaves this module as one ``SourceError``: a message a person can act on,
``permanent`` when retrying cannot help. Credentials and tokens never reach a log line or
an error message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from chatops import __version__
from chatops.config import ConfigError, Secrets, Settings
from chatops.domain import (
    BotKind,
    Channel,
    ConnectorKey,
    Environment,
    ManualOperation,
    Snapshot,
    parse_channel,
    parse_environment,
    parse_kind,
)
from chatops.pacing import Pacer
from chatops.sources.base import SourceError, UnknownBotError, UnknownConnectorError
from chatops.sources.json_stream import decode_object

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 20.0
DEFAULT_RETRY_WAITS = (1.0, 2.0, 4.0)
# One request may take this long before it is abandoned and, if there is time, retried.
DEFAULT_REQUEST_TIMEOUT = 10.0
# LivePerson: "429: wait at least 1 s, no bursts".
MIN_RATE_LIMIT_WAIT = 1.0
# CSDS results change rarely; LivePerson's own reference service caches them for 3 hours.
CSDS_CACHE_SECONDS = 3 * 3600.0
# Names from the bot platform are only a fallback; refresh them now and then for renames.
PLATFORM_CACHE_SECONDS = 15 * 60.0
PLATFORM_PAGE_SIZE = 100
# A runaway paging loop (a server that ignores ``page``) stops here.
PLATFORM_MAX_PAGES = 1000
MISSING = "(missing)"

LOGIN_PATH = "/api/account/{account}/login"
SSO_PATH = "/le-auth/sso/authenticate"
MONITORING_PATH = "/service-monitoring-0.1/sysadmin/nodejs/instance"
PLATFORM_PATH = "/bot-platform-manager-0.1"
CSDS_PATH = "/api/account/{account}/service/baseURI.json"
UNASSIGNED_GROUP = "un_assigned"

JSONDict = dict[str, Any]
Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Endpoints:
    """Base URLs (scheme and host, maybe a path prefix) of the four services we call."""

    login: str
    sso: str
    monitoring: str
    platform: str
    resolved_at: float


@dataclass(frozen=True, slots=True)
class _Session:
    bearer: str
    csrf: str
    api_token: str
    perm_token: str
    organization_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class _PlatformBot:
    name: str | None
    kind: BotKind | None
    channel: Channel | None


@dataclass(slots=True)
class _Call:
    """One HTTP call and how to describe it to a person."""

    what: str
    method: str
    url: str
    auth: Literal["none", "bearer", "cb"] = "cb"
    params: dict[str, str] | None = None
    body: JSONDict | None = None
    # A start or stop that timed out may have happened: do not send it twice.
    idempotent: bool = True
    # Maps a final 4xx response to the error to raise (None: the generic message).
    refusal: Callable[[httpx.Response], SourceError | None] | None = None


@dataclass(slots=True)
class _Deadline:
    """The time left for one public call (``fetch``, ``start``...); retries fit inside."""

    seconds: float
    end: float = 0.0
    doing: str = "the request"

    def __post_init__(self) -> None:
        self.end = time.monotonic() + self.seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()


@dataclass(slots=True)
class _Failure:
    """What went wrong with one attempt, and whether another may help."""

    error: SourceError
    retryable: bool
    rate_limited: bool = False
    wait: float | None = None  # Retry-After, when the server gave one
    session_expired: bool = False


class LivePersonSource:
    """LivePerson's Bots Status as a ``StatusSource`` (see the module docstring)."""

    def __init__(
        self,
        secrets: Secrets,
        environments: Sequence[Environment],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_waits: Sequence[float] = DEFAULT_RETRY_WAITS,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._account = _require_account(secrets)
        self._credentials = _credentials(secrets)
        self._uses_app_key = "appKey" in self._credentials
        self._username = secrets.lp_username or ""
        if not environments:
            raise ConfigError("poll.environments is empty: list at least one (production, demo)")
        self._environments = tuple(dict.fromkeys(environments))
        self._api_url = _base_url(secrets.lp_api_url, "LP_API_URL") if secrets.lp_api_url else None
        self._csds_url = _base_url(secrets.lp_csds_url, "LP_CSDS_URL")
        self._timeout = timeout
        self._retry_waits = tuple(retry_waits)
        self._request_timeout = request_timeout
        self._sleep = sleep
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(request_timeout),
            headers={"User-Agent": f"chatops/{__version__}", "Accept": "application/json"},
            follow_redirects=False,
        )
        self._endpoints: _Endpoints | None = None
        self._session: _Session | None = None
        self._login_lock = asyncio.Lock()
        # From the last successful fetch: what start and stop must send for each connector.
        self._accounts: dict[ConnectorKey, tuple[str, str]] = {}
        self._platform: dict[str, _PlatformBot] = {}
        self._platform_loaded_at = float("-inf")
        # The last snapshot built for each status entry, by the entry fields it was built
        # from: a poll where nothing changed rebuilds nothing (most of a steady poll's cost).
        self._built: dict[tuple[str, str, bool], tuple[tuple[Any, ...], Snapshot]] = {}
        # Duplicate and user-less entries of the last fetch, logged when they change.
        self._oddities: tuple[frozenset[ConnectorKey], frozenset[ConnectorKey]] = (
            frozenset(),
            frozenset(),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> LivePersonSource:
        poll = settings.app.poll
        return cls(
            settings.secrets,
            poll.environments,
            timeout=poll.timeout.total_seconds(),
        )

    # ----------------------------------------------------------------- public

    async def fetch(self) -> list[Snapshot]:
        """Every connector's snapshot in the configured environments, or one SourceError."""
        return await self._within_deadline(self._fetch)

    async def start(self, bot_id: str, bot_user: str) -> None:
        """Start one connector of the bot; for a PCS bot, the one all PCS bots share."""
        await self._within_deadline(
            lambda deadline: self._operate(bot_id, bot_user, "start", deadline)
        )

    async def stop(self, bot_id: str, bot_user: str) -> None:
        """Stop one connector of the bot; for a PCS bot, the one all PCS bots share."""
        await self._within_deadline(
            lambda deadline: self._operate(bot_id, bot_user, "stop", deadline)
        )

    async def check(self) -> str:
        """Log in, read the status lists, and say what was reached (``check-config``)."""
        snapshots = await self.fetch()
        endpoints = self._endpoints
        where = endpoints.monitoring if endpoints else "?"
        method = "an app key" if self._uses_app_key else "a password"
        environments = ", ".join(env.label for env in self._environments)
        return (
            f"logged in to LivePerson account {self._account} as {self._username} with "
            f"{method}; Bots Status at {where} lists {len({s.bot_id for s in snapshots})} bots"
            f" with {len(snapshots)} connectors ({environments})"
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    # ---------------------------------------------------------------- fetching

    async def _within_deadline(self, work: Callable[[_Deadline], Awaitable[T]]) -> T:
        deadline = _Deadline(self._timeout)
        try:
            async with asyncio.timeout(self._timeout):
                return await work(deadline)
        except TimeoutError:
            raise self._fail(
                f"LivePerson did not finish {deadline.doing} within the {self._timeout:g} s"
                " timeout (poll.timeout); the next poll will try again",
                permanent=False,
            ) from None

    async def _fetch(self, deadline: _Deadline) -> list[Snapshot]:
        endpoints = await self._resolve(deadline)
        listed: list[tuple[JSONDict, Environment | None, bool]] = []
        for environment in self._environments:
            call = _Call(
                f"the bots status list ({environment.label})",
                "GET",
                f"{endpoints.monitoring}{MONITORING_PATH}/status",
                params={"environment": environment.source_name},
            )
            entries = await self._status_entries(call, deadline)
            listed.extend((entry, environment, False) for entry in entries)
        pcs_call = _Call(
            "the PCS bots status list",
            "GET",
            f"{endpoints.monitoring}{MONITORING_PATH}/pcs/status",
            params={"showBotsData": "true"},
            # An account without post-conversation surveys may have no PCS list at all.
            refusal=lambda response: _NoPCSList() if response.status_code == 404 else None,
        )
        try:
            pcs_entries = await self._status_entries(pcs_call, deadline)
        except _NoPCSList:
            logger.debug("LivePerson has no PCS status list for this account")
            pcs_entries = []
        listed.extend((entry, None, True) for entry in pcs_entries)

        nameless = {
            str(entry["botId"])
            for entry, _, _ in listed
            if not _text(entry.get("botName")) or not _text(entry.get("type"))
        }
        await self._refresh_platform(nameless, deadline)

        # Every entry is a connector of its own, never merged with another: a bot has one
        # per bot user (lpAccountUser), and the list's order means nothing.
        snapshots: dict[ConnectorKey, Snapshot] = {}
        from_pcs: set[ConnectorKey] = set()
        accounts: dict[ConnectorKey, tuple[str, str]] = {}
        built: dict[tuple[str, str, bool], tuple[tuple[Any, ...], Snapshot]] = {}
        duplicates: set[ConnectorKey] = set()
        userless: set[ConnectorKey] = set()
        pacer = Pacer()
        for entry, listed_in, pcs in listed:
            await pacer.pace()
            snapshot = self._cached_snapshot(entry, listed_in, pcs, built)
            if snapshot.environment not in self._environments:
                continue
            key = snapshot.key
            if key in snapshots:
                # A connector listed in both the custom and the PCS list is taken from the
                # PCS list; listed twice in one list, the first entry is kept.
                if not pcs or key in from_pcs:
                    duplicates.add(key)
                    continue
            snapshots[key] = snapshot
            if pcs:
                from_pcs.add(key)
            user = _text(entry.get("lpAccountUser"))
            if user:
                accounts[key] = (_text(entry.get("lpAccountId")) or self._account, user)
            else:
                userless.add(key)
        self._report_oddities(duplicates, userless)
        self._accounts = accounts
        self._built = built
        logger.debug("LivePerson listed %d connectors", len(snapshots))
        return list(snapshots.values())

    def _report_oddities(self, duplicates: set[ConnectorKey], userless: set[ConnectorKey]) -> None:
        """Log, once each until they change, entries listed twice and entries without a user."""
        oddities = (frozenset(duplicates), frozenset(userless))
        if oddities == self._oddities:
            return
        self._oddities = oddities
        if duplicates:
            logger.warning(
                "LivePerson listed %d connectors twice (same botId and lpAccountUser), e.g. %s;"
                " kept the first entry of each",
                len(duplicates),
                _some(duplicates),
            )
        if userless:
            logger.warning(
                "LivePerson listed %d connectors without a bot user (lpAccountUser), e.g. %s;"
                " each is a connector of its own, named by its appName, and cannot be started"
                " or stopped from here",
                len(userless),
                _some(userless),
            )

    async def _status_entries(self, call: _Call, deadline: _Deadline) -> list[JSONDict]:
        response = await self._send(call, deadline)
        self._not_html(call, response)
        try:
            # Entry by entry, pacing the event loop, each cut to the fields used at once.
            data = await decode_object(response.content, "statusList", _used_fields)
        except ValueError:
            raise self._malformed(call, response) from None
        entries = data.get("statusList") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise self._fail(
                f"LivePerson's {call.what.removeprefix('the ')} has no statusList"
                f" (HTTP {response.status_code}); the response is not the expected shape",
                permanent=False,
            )
        usable = [e for e in entries if isinstance(e, dict) and _text(e.get("botId"))]
        skipped = len(entries) - len(usable)
        if skipped:
            logger.warning(
                "LivePerson's %s had %d %s without a botId; skipped",
                call.what.removeprefix("the "),
                skipped,
                "entry" if skipped == 1 else "entries",
            )
        return usable

    def _cached_snapshot(
        self,
        entry: JSONDict,
        environment: Environment | None,
        pcs: bool,
        built: dict[tuple[str, str, bool], tuple[tuple[Any, ...], Snapshot]],
    ) -> Snapshot:
        """``_snapshot``, reused from the last fetch when its source fields are the same.

        ``updateTime`` is not part of the key: it moves at every poll and a snapshot's
        ``updated_at`` is informational (never compared), so it keeps the first value seen
        until something else about the bot changes.
        """
        bot_id = str(entry["botId"])
        entry_key = (bot_id, _bot_user(entry), pcs)
        key = (environment, self._platform.get(bot_id), *map(entry.get, SNAPSHOT_FIELDS))
        previous = self._built.get(entry_key)
        if previous is not None and previous[0] == key:
            built[entry_key] = previous
            return previous[1]
        snapshot = self._snapshot(entry, environment, pcs)
        built[entry_key] = (key, snapshot)
        return snapshot

    def _snapshot(self, entry: JSONDict, environment: Environment | None, pcs: bool) -> Snapshot:
        bot_id = str(entry["botId"])
        platform = self._platform.get(bot_id)
        name = (
            _text(entry.get("botName"))
            or (platform.name if platform else None)
            or _text(entry.get("lpAccountUser"))
            or bot_id
        )
        if pcs:
            kind = BotKind.PCS
        elif _text(entry.get("botType")):
            kind = parse_kind(_text(entry.get("botType")))
        else:
            kind = platform.kind if platform and platform.kind else BotKind.CUSTOM
        if _text(entry.get("type")):
            channel = parse_channel(_text(entry.get("type")))
        else:
            channel = platform.channel if platform and platform.channel else Channel.MESSAGING
        raw_environment = _text(entry.get("environment"))
        bot_environment = (
            parse_environment(raw_environment)
            if raw_environment
            else environment or Environment.PRODUCTION
        )
        server_fields = ("bcSocketStatus", "cbSocketStatus")
        return Snapshot(
            bot_id=bot_id,
            name=name,
            kind=kind,
            channel=channel,
            environment=bot_environment,
            raw_connector=_raw(entry, "nodeStatus"),
            raw_cloud=_raw(entry, "lpSocketStatus"),
            raw_server=_raw(entry, *(server_fields if pcs else reversed(server_fields))),
            manual=_manual(entry),
            updated_at=_epoch_ms(entry.get("updateTime")),
            account_user=_text(entry.get("lpAccountUser")),
            bot_user=_bot_user(entry),
        )

    async def _refresh_platform(self, nameless: set[str], deadline: _Deadline) -> None:
        """Load names, kinds and channels from the bot platform when entries lack them."""
        if not nameless:
            return
        fresh = time.monotonic() - self._platform_loaded_at < PLATFORM_CACHE_SECONDS
        if fresh and nameless <= self._platform.keys():
            return
        try:
            self._platform = await self._load_platform(deadline)
            self._platform_loaded_at = time.monotonic()
        except SourceError as exc:
            # Names are secondary: the statuses are what matter, so keep polling with the
            # names we have (or the bot user) rather than fail the whole fetch.
            logger.warning(
                "cannot read bot names from LivePerson's bot platform (%s); %d bots keep"
                " their last known name or their bot user name",
                exc,
                len(nameless),
            )

    async def _load_platform(self, deadline: _Deadline) -> dict[str, _PlatformBot]:
        endpoints = await self._resolve(deadline)
        base = f"{endpoints.platform}{PLATFORM_PATH}"
        groups = await self._paged(
            _Call("the bot platform's bot groups", "GET", f"{base}/bot-groups"), deadline
        )
        group_ids = [_text(group.get("botGroupId")) for group in groups]
        bots: dict[str, _PlatformBot] = {}
        for group_id in [*(g for g in group_ids if g), UNASSIGNED_GROUP]:
            call = _Call(
                "the bot platform's bot list",
                "GET",
                f"{base}/bot-groups/bots",
                params={"sort-by": "botName:asc", "bot-group-id": group_id},
            )
            for record in await self._paged(call, deadline):
                bot_id = _text(record.get("botId"))
                if not bot_id:
                    continue
                bot_type = _text(record.get("botType"))
                channel = _text(record.get("channel"))
                bots[bot_id] = _PlatformBot(
                    name=_text(record.get("botName")),
                    kind=parse_kind(bot_type) if bot_type else None,
                    channel=parse_channel(channel) if channel else None,
                )
        return bots

    async def _paged(self, call: _Call, deadline: _Deadline) -> list[JSONDict]:
        """Every item of a bot platform list: ``successResult.pageContext`` + ``data``."""
        items: list[JSONDict] = []
        base_params = dict(call.params or {})
        for page in range(1, PLATFORM_MAX_PAGES + 1):
            call.params = {**base_params, "page": str(page), "size": str(PLATFORM_PAGE_SIZE)}
            response = await self._send(call, deadline)
            result = self._envelope(call, response)
            data = result.get("data") if isinstance(result, dict) else None
            context = result.get("pageContext") if isinstance(result, dict) else None
            if not isinstance(data, list):
                raise self._fail(
                    f"LivePerson's {call.what.removeprefix('the ')} has no data list"
                    f" (HTTP {response.status_code})",
                    permanent=False,
                )
            items.extend(item for item in data if isinstance(item, dict))
            total = context.get("totalSize") if isinstance(context, dict) else None
            if not data or not isinstance(total, int) or len(items) >= total:
                return items
        return items

    # ----------------------------------------------------------- start / stop

    async def _operate(
        self, bot_id: str, bot_user: str, operation: str, deadline: _Deadline
    ) -> None:
        if not bot_id:
            raise UnknownBotError(bot_id)
        endpoints = await self._resolve(deadline)
        account = self._accounts.get((bot_id, bot_user)) or await self._lookup_account(
            bot_id, bot_user, deadline
        )
        account_id, account_user = account
        call = _Call(
            f"the {operation} of connector {account_user} of bot {bot_id}",
            "PUT",
            f"{endpoints.monitoring}{MONITORING_PATH}/{operation}/{quote(bot_id, safe='')}",
            body={"lpAccountId": account_id, "lpAccountUser": account_user},
            idempotent=False,
            refusal=lambda response: (
                UnknownBotError(bot_id) if response.status_code == 404 else None
            ),
        )
        response = await self._send(call, deadline)
        data = self._json(call, response) if response.content else {}
        if isinstance(data, dict) and data.get("success") is False:
            raise self._fail(
                f"LivePerson did not accept {call.what}:"
                f" {_server_message(data) or 'no reason given'}",
                permanent=False,
            )
        logger.info("asked LivePerson to %s bot %s (bot user %s)", operation, bot_id, account_user)

    async def _lookup_account(
        self, bot_id: str, bot_user: str, deadline: _Deadline
    ) -> tuple[str, str]:
        """The account a start or stop must name, for a connector no fetch has listed yet."""
        endpoints = await self._resolve(deadline)
        call = _Call(
            f"the status of bot {bot_id}",
            "GET",
            f"{endpoints.monitoring}{MONITORING_PATH}/status-v2/{quote(bot_id, safe='')}",
            refusal=lambda response: (
                UnknownBotError(bot_id) if response.status_code == 404 else None
            ),
        )
        response = await self._send(call, deadline)
        data = self._json(call, response)
        if isinstance(data, dict) and isinstance(data.get("successResult"), dict):
            data = data["successResult"]
        entries: list[Any] = [data]
        if isinstance(data, dict) and isinstance(data.get("statusList"), list):
            entries = data["statusList"]
        elif isinstance(data, list):
            entries = data
        for entry in entries:
            if isinstance(entry, dict) and _bot_user(entry) == bot_user:
                user = _text(entry.get("lpAccountUser"))
                if not user:
                    break
                return _text(entry.get("lpAccountId")) or self._account, user
        else:
            raise UnknownConnectorError(bot_id, bot_user)
        raise self._fail(
            f"LivePerson lists connector {bot_user} of bot {bot_id} without its bot user"
            " (lpAccountUser), so it cannot be started or stopped from here",
            permanent=True,
        )

    # ------------------------------------------------------ domains and login

    async def _resolve(self, deadline: _Deadline) -> _Endpoints:
        endpoints = self._endpoints
        if endpoints and time.monotonic() - endpoints.resolved_at < CSDS_CACHE_SECONDS:
            return endpoints
        if self._api_url:
            url = self._api_url
            endpoints = _Endpoints(url, url, url, url, resolved_at=float("inf"))
        else:
            endpoints = await self._lookup_domains(deadline)
        self._endpoints = endpoints
        return endpoints

    async def _lookup_domains(self, deadline: _Deadline) -> _Endpoints:
        """CSDS: the Login Service host and the region of the Conversation Builder hosts."""
        account = self._account

        def refusal(response: httpx.Response) -> SourceError | None:
            if response.status_code in (400, 401, 404):
                return self._fail(
                    f"LivePerson's domain service (CSDS) at {self._csds_url} does not know"
                    f" account {account} (HTTP {response.status_code}): check LP_ACCOUNT_ID",
                    permanent=True,
                )
            return None

        call = _Call(
            "the domain lookup (CSDS)",
            "GET",
            f"{self._csds_url}{CSDS_PATH.format(account=quote(account, safe=''))}",
            auth="none",
            params={"version": "1.0"},
            refusal=refusal,
        )
        response = await self._send(call, deadline)
        data = self._json(call, response)
        uris = data.get("baseURIs") if isinstance(data, dict) else None
        services = {
            str(item.get("service")): str(item.get("baseURI"))
            for item in (uris if isinstance(uris, list) else [])
            if isinstance(item, dict) and item.get("service") and item.get("baseURI")
        }
        login_host = services.get("agentVep")
        if not login_host:
            raise self._fail(
                f"LivePerson's domain service (CSDS) lists no login host (agentVep) for"
                f" account {account}",
                permanent=True,
            )
        # Conversation Builder's hosts are not in CSDS; tools derive them from the region,
        # the first two letters of the leDataReporting host (va, lo, sy).
        region_host = services.get("leDataReporting") or login_host
        region = region_host[:2].lower()
        if not region.isalpha():
            raise self._fail(
                f"cannot tell account {account}'s LivePerson region from its CSDS hosts;"
                " set LP_API_URL to reach LivePerson through one base URL",
                permanent=True,
            )
        logger.info("LivePerson account %s: login host %s, region %s", account, login_host, region)
        return _Endpoints(
            login=f"https://{login_host}",
            sso=f"https://{region}.bc-sso.liveperson.net",
            monitoring=f"https://{region}.bc-mgmt.liveperson.net",
            platform=f"https://{region}.bc-platform.liveperson.net",
            resolved_at=time.monotonic(),
        )

    async def _current_session(self, deadline: _Deadline) -> _Session:
        session = self._session
        if session is not None:
            return session
        async with self._login_lock:
            if self._session is None:
                self._session = await self._login(deadline)
            return self._session

    async def _login_again(self, stale: _Session, deadline: _Deadline) -> None:
        async with self._login_lock:
            # Calls that failed together with the same session share one new login.
            if self._session is stale:
                logger.info("LivePerson session expired (HTTP 401); logging in again")
                self._session = None
                self._session = await self._login(deadline)

    async def _login(self, deadline: _Deadline) -> _Session:
        endpoints = await self._resolve(deadline)
        account = self._account
        wrong = "user name, app key or secret" if self._uses_app_key else "user name or password"

        def refusal(response: httpx.Response) -> SourceError:
            status = response.status_code
            if status == 401:
                reason = f"wrong {wrong}"
            elif status == 403:
                reason = "the user may not log in (disabled, or not allowed from this address)"
            else:
                reason = _server_message(_try_json(response)) or "the request was refused"
            return self._fail(
                f"LivePerson login failed for account {account}: {reason} (HTTP {status})",
                permanent=True,
            )

        login = _Call(
            f"the login to account {account}",
            "POST",
            f"{endpoints.login}{LOGIN_PATH.format(account=quote(account, safe=''))}",
            auth="none",
            params={"v": "1.3"},
            body=self._credentials,
            refusal=refusal,
        )
        response = await self._send(login, deadline)
        data = self._json(login, response)
        bearer = _text(data.get("bearer")) if isinstance(data, dict) else None
        if not isinstance(data, dict) or not bearer:
            raise self._fail(
                f"LivePerson's login for account {account} answered without a bearer token"
                f" (HTTP {response.status_code})",
                permanent=False,
            )
        csrf = _text(data.get("csrf")) or ""
        config = data.get("config")
        user_id = _text(config.get("userId")) if isinstance(config, dict) else None

        sso = _Call(
            "the Conversation Builder sign-on",
            "GET",
            f"{endpoints.sso}{SSO_PATH}",
            auth="bearer",
            refusal=lambda response: self._fail(
                "LivePerson's login worked but Conversation Builder refused it"
                f" (HTTP {response.status_code}): the user needs access to Conversation"
                " Builder and its 'Bot Status Access' permission",
                permanent=True,
            ),
        )
        response = await self._send(sso, deadline, bearer=bearer)
        result = self._envelope(sso, response)
        api_token = _text(result.get("apiAccessToken"))
        organization_id = _text(result.get("sessionOrganizationId"))
        if not api_token or not organization_id:
            raise self._fail(
                "Conversation Builder's sign-on answered without an access token or"
                f" organization (HTTP {response.status_code})",
                permanent=False,
            )
        logger.info("logged in to LivePerson account %s as %s", account, self._username)
        return _Session(
            bearer=bearer,
            csrf=csrf,
            api_token=api_token,
            perm_token=_text(result.get("apiAccessPermToken")) or "",
            organization_id=organization_id,
            user_id=_text(result.get("leUserId")) or user_id or "",
        )

    # ------------------------------------------------------------- transport

    async def _send(
        self, call: _Call, deadline: _Deadline, *, bearer: str | None = None
    ) -> httpx.Response:
        """Send ``call`` with LivePerson's retry policy; return a 2xx response or raise."""
        logged_in_again = False
        attempt = 0
        while True:
            attempt += 1
            session = await self._current_session(deadline) if call.auth == "cb" else None
            deadline.doing = call.what
            outcome = await self._attempt(call, deadline, session, bearer)
            if isinstance(outcome, httpx.Response):
                return outcome
            if outcome.session_expired and session is not None and not logged_in_again:
                # Log in again once and repeat the call once; that repeat is not a retry.
                logged_in_again = True
                await self._login_again(session, deadline)
                attempt -= 1
                continue
            if not outcome.retryable or attempt > len(self._retry_waits):
                raise _with_attempts(outcome.error, attempt)
            wait = self._retry_waits[attempt - 1]
            if outcome.rate_limited:
                wait = max(MIN_RATE_LIMIT_WAIT, wait if outcome.wait is None else outcome.wait)
            if wait >= deadline.remaining():
                raise _with_attempts(outcome.error, attempt, "no time left to retry")
            logger.warning("%s; retrying in %g s (attempt %d)", outcome.error, wait, attempt + 1)
            await self._sleep(wait)

    async def _attempt(
        self,
        call: _Call,
        deadline: _Deadline,
        session: _Session | None,
        bearer: str | None,
    ) -> httpx.Response | _Failure:
        """One try: a 2xx response, or what went wrong and whether a retry may help."""
        headers: dict[str, str] = {}
        if session is not None:
            # Conversation Builder wants the bare token, without "Bearer".
            headers = {
                "Authorization": session.api_token,
                "OrganizationId": session.organization_id,
            }
        elif bearer is not None:
            headers = {"Authorization": f"Bearer {bearer}"}
        request_timeout = min(self._request_timeout, max(deadline.remaining(), 0.001))
        started = time.monotonic()
        try:
            response = await self._client.request(
                call.method,
                call.url,
                params=call.params,
                json=call.body,
                headers=headers,
                timeout=request_timeout,
            )
        except httpx.TimeoutException as exc:
            never_sent = isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            message = f"LivePerson did not answer {call.what} within {request_timeout:.3g} s"
            return _Failure(
                self._fail(message, permanent=False),
                retryable=call.idempotent or never_sent,
            )
        except httpx.TransportError as exc:
            return _Failure(
                self._fail(_connection_message(call, exc), permanent=False),
                retryable=call.idempotent or isinstance(exc, httpx.ConnectError),
            )
        status = response.status_code
        logger.debug(
            "%s %s -> %d (%.0f ms)",
            call.method,
            _without_query(call.url),
            status,
            (time.monotonic() - started) * 1000,
        )
        if 200 <= status < 300:
            return response
        if status == 401 and session is not None:
            return _Failure(self._refused(call, response), retryable=False, session_expired=True)
        if status == 429:
            message = f"LivePerson is limiting the rate of {call.what} (HTTP 429)"
            return _Failure(
                self._fail(message, permanent=False),
                retryable=True,
                rate_limited=True,
                wait=_retry_after(response),
            )
        if status >= 500:
            return _Failure(self._fail(self._server_error(call, response), permanent=False), True)
        error = call.refusal(response) if call.refusal else None
        return _Failure(error or self._refused(call, response), retryable=False)

    # --------------------------------------------------------------- errors

    def _server_error(self, call: _Call, response: httpx.Response) -> str:
        status = response.status_code
        if _is_html(response):
            return (
                f"LivePerson returned an HTML page instead of JSON from {call.what} (HTTP {status})"
            )
        detail = _server_message(_try_json(response))
        suffix = f": {detail}" if detail else ""
        return f"LivePerson failed to serve {call.what} (HTTP {status}{suffix})"

    def _refused(self, call: _Call, response: httpx.Response) -> SourceError:
        status = response.status_code
        if status == 401:
            message = (
                f"LivePerson rejected the session for {call.what} (HTTP 401) even after"
                " logging in again; check that the user is enabled and may use Bots Status"
            )
        elif status == 403:
            message = (
                f"LivePerson refused {call.what} (HTTP 403): the user {self._username} needs"
                " the Conversation Builder permission 'Bot Status Access'"
            )
        elif status == 404:
            message = (
                f"LivePerson has no {call.what.removeprefix('the ')} at"
                f" {_without_query(call.url)} (HTTP 404); check LP_API_URL"
            )
        elif 300 <= status < 400:
            location = response.headers.get("location", "?")
            message = (
                f"LivePerson redirected {call.what} to {_without_query(location)}"
                f" (HTTP {status}); check LP_API_URL"
            )
        elif _is_html(response):
            message = (
                f"LivePerson returned an HTML page instead of JSON from {call.what} (HTTP {status})"
            )
        else:
            detail = _server_message(_try_json(response))
            message = (
                f"LivePerson refused {call.what} (HTTP {status}{': ' + detail if detail else ''})"
            )
        return self._fail(message, permanent=True)

    def _json(self, call: _Call, response: httpx.Response) -> Any:
        self._not_html(call, response)
        try:
            return json.loads(response.content)
        except ValueError:
            raise self._malformed(call, response) from None

    def _not_html(self, call: _Call, response: httpx.Response) -> None:
        if _is_html(response):
            raise self._fail(
                f"LivePerson returned an HTML page instead of JSON from {call.what}"
                f" (HTTP {response.status_code})",
                permanent=False,
            )

    def _malformed(self, call: _Call, response: httpx.Response) -> SourceError:
        return self._fail(
            f"LivePerson returned malformed JSON from {call.what} (HTTP {response.status_code})",
            permanent=False,
        )

    def _envelope(self, call: _Call, response: httpx.Response) -> JSONDict:
        """``successResult`` of a Conversation Builder envelope, checking ``success``."""
        data = self._json(call, response)
        if not isinstance(data, dict):
            raise self._fail(
                f"LivePerson's answer to {call.what} is not a JSON object"
                f" (HTTP {response.status_code})",
                permanent=False,
            )
        if data.get("success") is False:
            raise self._fail(
                f"LivePerson reported a failure for {call.what}:"
                f" {_server_message(data) or 'no reason given'}",
                permanent=False,
            )
        result = data.get("successResult")
        if not isinstance(result, dict):
            raise self._fail(
                f"LivePerson's answer to {call.what} has no successResult"
                f" (HTTP {response.status_code})",
                permanent=False,
            )
        return result

    def _fail(self, message: str, *, permanent: bool) -> SourceError:
        return SourceError(self._redact(message), permanent=permanent)

    def _redact(self, text: str) -> str:
        """Belt and braces: no credential or token survives into a message."""
        secrets = [value for key, value in self._credentials.items() if key != "username"]
        session = self._session
        if session is not None:
            secrets += [session.bearer, session.csrf, session.api_token, session.perm_token]
        for secret in secrets:
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text


class _NoPCSList(SourceError):
    """The account has no PCS status list (404); it simply has no PCS bots."""

    def __init__(self) -> None:
        super().__init__("no PCS status list", permanent=True)


# ------------------------------------------------------------------ helpers


def _require_account(secrets: Secrets) -> str:
    account = (secrets.lp_account_id or "").strip()
    if not account:
        raise ConfigError("LP_ACCOUNT_ID is not set: the LivePerson account (site) id is needed")
    if not all(c.isalnum() or c in "-_" for c in account):
        raise ConfigError(f"LP_ACCOUNT_ID={account!r} is not a LivePerson account id")
    return account


def _credentials(secrets: Secrets) -> dict[str, str]:
    if not secrets.lp_username:
        raise ConfigError("LP_USERNAME is not set: the LivePerson user to log in as")
    if secrets.lp_password is not None and secrets.lp_password.get_secret_value():
        return {
            "username": secrets.lp_username,
            "password": secrets.lp_password.get_secret_value(),
        }
    app_key_set = {
        "appKey": secrets.lp_app_key,
        "secret": secrets.lp_secret,
        "accessToken": secrets.lp_access_token,
        "accessTokenSecret": secrets.lp_access_token_secret,
    }
    missing = [name for name, value in app_key_set.items() if value is None]
    if missing and len(missing) < len(app_key_set):
        env = {
            "appKey": "LP_APP_KEY",
            "secret": "LP_SECRET",
            "accessToken": "LP_ACCESS_TOKEN",
            "accessTokenSecret": "LP_ACCESS_TOKEN_SECRET",
        }
        raise ConfigError(
            "the LivePerson app key set is incomplete: also set "
            + ", ".join(env[name] for name in missing)
        )
    if missing:
        raise ConfigError(
            "no LivePerson credentials: set LP_PASSWORD, or LP_APP_KEY, LP_SECRET,"
            " LP_ACCESS_TOKEN and LP_ACCESS_TOKEN_SECRET"
        )
    credentials = {"username": secrets.lp_username}
    for name, value in app_key_set.items():
        assert value is not None
        credentials[name] = value.get_secret_value()
    return credentials


def _base_url(url: str, variable: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{variable}={url!r} is not an http(s) URL")
    return url.strip().rstrip("/")


# Every entry field that _snapshot reads.
SNAPSHOT_FIELDS = (
    "botName",
    "botType",
    "type",
    "environment",
    "nodeStatus",
    "lpSocketStatus",
    "cbSocketStatus",
    "bcSocketStatus",
    "lastManualOperation",
    "manualOperationPerformedByName",
    "manualOperationTs",
    "lpAccountUser",
    "appName",
)


# Every entry field the client reads; the rest of an entry is dropped as it is decoded.
ENTRY_FIELDS = ("botId", "lpAccountId", "updateTime", *SNAPSHOT_FIELDS)


def _used_fields(entry: Any) -> Any:
    if not isinstance(entry, dict):
        return entry
    return {name: entry[name] for name in ENTRY_FIELDS if name in entry}


def _bot_user(entry: JSONDict) -> str:
    """A connector's name within its bot: lpAccountUser, else its appName, else the bot id."""
    return (
        _text(entry.get("lpAccountUser"))
        or _text(entry.get("appName"))
        or str(entry.get("botId") or "")
    )


def _some(keys: set[ConnectorKey], count: int = 3) -> str:
    return ", ".join(f"{bot_id}/{user}" for bot_id, user in sorted(keys)[:count])


def _text(value: Any) -> str | None:
    """A non-empty string from a JSON value (numbers become strings), else None."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text or None


def _raw(entry: JSONDict, *keys: str) -> str:
    """The status string as sent; ``(missing)`` (which reads as Unknown) when absent."""
    for key in keys:
        value = entry.get(key)
        if value is not None:
            return value if isinstance(value, str) else json.dumps(value)
    return MISSING


def _epoch_ms(value: Any) -> datetime | None:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _manual(entry: JSONDict) -> ManualOperation | None:
    operation = _text(entry.get("lastManualOperation"))
    if not operation:
        return None
    return ManualOperation(
        operation=operation.lower(),
        performed_by=_text(entry.get("manualOperationPerformedByName")),
        at=_epoch_ms(entry.get("manualOperationTs")),
    )


def _try_json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _server_message(data: Any) -> str | None:
    """LivePerson's own short reason, from either of its error shapes."""
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    message = message or data.get("message") or (error if isinstance(error, str) else None)
    text = _text(message)
    return text[:200] if text else None


def _is_html(response: httpx.Response) -> bool:
    content_type = response.headers.get("content-type", "").lower()
    if "html" in content_type:
        return True
    return response.content.lstrip()[:1] == b"<"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _with_attempts(error: SourceError, attempts: int, note: str | None = None) -> SourceError:
    details = [f"{attempts} attempts"] if attempts > 1 else []
    if note:
        details.append(note)
    if details:
        error.message += f" ({'; '.join(details)})"
    return error


def _without_query(url: str) -> str:
    return url.split("?", 1)[0]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _causes(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _connection_message(call: _Call, exc: httpx.TransportError) -> str:
    where = _origin(call.url)
    for cause in _causes(exc):
        if isinstance(cause, ConnectionRefusedError):
            return f"cannot reach LivePerson at {where}: connection refused"
        if isinstance(cause, socket.gaierror):
            return f"cannot reach LivePerson at {where}: host name not found"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"cannot reach LivePerson at {where}: TLS certificate not trusted"
        if isinstance(cause, ssl.SSLError):
            return f"cannot reach LivePerson at {where}: TLS handshake failed"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot reach LivePerson at {where}: {exc or 'connection failed'}"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return (
            f"the connection to LivePerson at {where} broke during {call.what}"
            " (closed before the response was complete)"
        )
    return f"cannot talk to LivePerson at {where} for {call.what}: {type(exc).__name__}"
