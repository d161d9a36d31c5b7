"""LivePerson's Bots Status as a ``StatusSource``: fetch, start, stop, check.

The bots status service lists every connector per environment, and the PCS connector's bots
separately; it also starts and stops connectors. The bot platform supplies names, kinds and
channels that a status entry lacks. Every public call runs within ``timeout`` (poll.timeout),
retries included; LivePerson's longer tier (5/10/15 s, then minutes) is the poll schedule
itself: a failed fetch is retried at the next poll, and after ``poll.unreachable_after``
failures the "status source unreachable" alert goes out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from chatops.config import ConfigError, EnvSettings, Settings
from chatops.domain import ConnectorKey, Environment, Snapshot
from chatops.jsontypes import JSONDict
from chatops.pacing import Pacer
from chatops.sharing import Pool
from chatops.sources.base import SourceError, UnknownBotError, UnknownConnectorError
from chatops.sources.json_stream import decode_object
from chatops.sources.liveperson.agent_metrics import AgentMetrics
from chatops.sources.liveperson.auth import Auth
from chatops.sources.liveperson.parse import (
    Built,
    FleetParser,
    PlatformBot,
    account_of,
    nameless_bots,
    platform_bots,
    text,
    usable,
    used_fields,
)
from chatops.sources.liveperson.transport import (
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_RETRY_WAITS,
    Call,
    Deadline,
    Sleep,
    Transport,
    server_message,
)

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 20.0
# Names from the bot platform are only a fallback; refresh them now and then for renames.
PLATFORM_CACHE_SECONDS = 15 * 60.0
PLATFORM_PAGE_SIZE = 100
# A runaway paging loop (a server that ignores ``page``) stops here.
PLATFORM_MAX_PAGES = 1000

MONITORING_PATH = "/service-monitoring-0.1/sysadmin/nodejs/instance"
PLATFORM_PATH = "/bot-platform-manager-0.1"
UNASSIGNED_GROUP = "un_assigned"

T = TypeVar("T")


class LivePersonSource:
    """LivePerson's Bots Status as a ``StatusSource`` (see the package docstring)."""

    def __init__(
        self,
        env: EnvSettings,
        environments: Sequence[Environment],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_waits: Sequence[float] = DEFAULT_RETRY_WAITS,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = Transport(
            username=env.lp_username or "",
            retry_waits=retry_waits,
            request_timeout=request_timeout,
            transport=transport,
            sleep=sleep,
        )
        self._auth = Auth(env, self._transport)
        self._account = self._auth.account
        if not environments:
            raise ConfigError("poll.environments is empty: list at least one (production, demo)")
        self._environments = tuple(dict.fromkeys(environments))
        self._timeout = timeout
        # Reads the conversations at stake for the poller (Agent Metrics API).
        # ``monotonic``: the Agent Metrics reader's clock (its refusal back-off, and the poll
        # budget counted from the poller's ``time.monotonic()``); tests move it.
        self._agent_metrics = AgentMetrics(
            self._transport, self._auth, timeout=timeout, clock=monotonic
        )
        # From the last successful fetch: what start and stop must send for each connector.
        self._accounts: dict[ConnectorKey, tuple[str, str]] = {}
        self._platform: dict[str, PlatformBot] = {}
        self._platform_loaded_at = float("-inf")
        # The last snapshot built for each status entry (see FleetParser).
        self._built: Built = {}
        # Duplicate and user-less entries of the last fetch, logged when they change.
        self._oddities: tuple[frozenset[ConnectorKey], frozenset[ConnectorKey]] = (
            frozenset(),
            frozenset(),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> LivePersonSource:
        poll = settings.app.poll
        return cls(
            settings.env,
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
        endpoints = self._auth.endpoints
        where = endpoints.monitoring if endpoints else "?"
        method = "an app key" if self._auth.uses_app_key else "a password"
        environments = ", ".join(env.label for env in self._environments)
        return (
            f"logged in to LivePerson account {self._account} as {self._auth.username} with "
            f"{method}; Bots Status at {where} lists {len({s.bot_id for s in snapshots})} bots"
            f" with {len(snapshots)} connectors ({environments})"
        )

    @property
    def agent_metrics(self) -> AgentMetrics:
        """The reader of the connectors' agents' open conversations (the poller's hook)."""
        return self._agent_metrics

    async def aclose(self) -> None:
        await self._transport.aclose()

    # ---------------------------------------------------------------- fetching

    async def _within_deadline(self, work: Callable[[Deadline], Awaitable[T]]) -> T:
        deadline = Deadline(self._timeout)
        try:
            async with asyncio.timeout(self._timeout):
                return await work(deadline)
        except TimeoutError:
            raise self._transport.fail(
                f"LivePerson did not finish {deadline.doing} within the {self._timeout:g} s"
                " timeout (poll.timeout); the next poll will try again",
                permanent=False,
            ) from None

    async def _fetch(self, deadline: Deadline) -> list[Snapshot]:
        endpoints = await self._auth.resolve(deadline)
        listed: list[tuple[JSONDict, Environment | None, bool]] = []
        # The entries of one fetch share their equal values (chatops.sharing).
        pool = Pool()
        for environment in self._environments:
            call = Call(
                f"the bots status list ({environment.label})",
                "GET",
                f"{endpoints.monitoring}{MONITORING_PATH}/status",
                params={"environment": environment.source_name},
            )
            entries = await self._status_entries(call, deadline, pool)
            listed.extend((entry, environment, False) for entry in entries)
        pcs_call = Call(
            "the PCS bots status list",
            "GET",
            f"{endpoints.monitoring}{MONITORING_PATH}/pcs/status",
            params={"showBotsData": "true"},
            # An account without post-conversation surveys may have no PCS list at all.
            refusal=lambda response: _NoPCSList() if response.status_code == 404 else None,
        )
        try:
            pcs_entries = await self._status_entries(pcs_call, deadline, pool)
        except _NoPCSList:
            logger.debug("LivePerson has no PCS status list for this account")
            pcs_entries = []
        listed.extend((entry, None, True) for entry in pcs_entries)

        await self._refresh_platform(nameless_bots(entry for entry, _, _ in listed), deadline)

        parser = FleetParser(self._environments, self._account, self._platform, self._built)
        pacer = Pacer()
        for entry, listed_in, pcs in listed:
            await pacer.pace()
            parser.add(entry, listed_in, pcs)
        fleet = parser.fleet
        self._report_oddities(fleet.duplicates, fleet.userless)
        self._accounts = fleet.accounts
        self._agent_metrics.agent_ids = fleet.agent_ids
        self._built = fleet.built
        logger.debug("LivePerson listed %d connectors", len(fleet.snapshots))
        return list(fleet.snapshots.values())

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

    async def _status_entries(self, call: Call, deadline: Deadline, pool: Pool) -> list[JSONDict]:
        response = await self._auth.send(call, deadline)
        self._transport.not_html(call, response)
        try:
            # Entry by entry, pacing the event loop, each cut to the fields used at once.
            data = await decode_object(
                response.content, "statusList", lambda entry: used_fields(entry, pool)
            )
        except ValueError:
            raise self._transport.malformed(call, response) from None
        entries = data.get("statusList") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise self._transport.fail(
                f"LivePerson's {call.what.removeprefix('the ')} has no statusList"
                f" (HTTP {response.status_code}); the response is not the expected shape",
                permanent=False,
            )
        kept = usable(entries)
        skipped = len(entries) - len(kept)
        if skipped:
            logger.warning(
                "LivePerson's %s had %d %s without a botId; skipped",
                call.what.removeprefix("the "),
                skipped,
                "entry" if skipped == 1 else "entries",
            )
        return kept

    async def _refresh_platform(self, nameless: set[str], deadline: Deadline) -> None:
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

    async def _load_platform(self, deadline: Deadline) -> dict[str, PlatformBot]:
        endpoints = await self._auth.resolve(deadline)
        base = f"{endpoints.platform}{PLATFORM_PATH}"
        groups = await self._paged(
            Call("the bot platform's bot groups", "GET", f"{base}/bot-groups"), deadline
        )
        group_ids = [text(group.get("botGroupId")) for group in groups]
        bots: dict[str, PlatformBot] = {}
        for group_id in [*(g for g in group_ids if g), UNASSIGNED_GROUP]:
            call = Call(
                "the bot platform's bot list",
                "GET",
                f"{base}/bot-groups/bots",
                params={"sort-by": "botName:asc", "bot-group-id": group_id},
            )
            bots.update(platform_bots(await self._paged(call, deadline)))
        return bots

    async def _paged(self, call: Call, deadline: Deadline) -> list[JSONDict]:
        """Every item of a bot platform list: ``successResult.pageContext`` + ``data``."""
        items: list[JSONDict] = []
        base_params = dict(call.params or {})
        for page in range(1, PLATFORM_MAX_PAGES + 1):
            call.params = {**base_params, "page": str(page), "size": str(PLATFORM_PAGE_SIZE)}
            response = await self._auth.send(call, deadline)
            result = self._transport.envelope(call, response)
            data = result.get("data") if isinstance(result, dict) else None
            context = result.get("pageContext") if isinstance(result, dict) else None
            if not isinstance(data, list):
                raise self._transport.fail(
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
        self, bot_id: str, bot_user: str, operation: str, deadline: Deadline
    ) -> None:
        if not bot_id:
            raise UnknownBotError(bot_id)
        endpoints = await self._auth.resolve(deadline)
        account = self._accounts.get((bot_id, bot_user)) or await self._lookup_account(
            bot_id, bot_user, deadline
        )
        account_id, account_user = account
        call = Call(
            f"the {operation} of connector {account_user} of bot {bot_id}",
            "PUT",
            f"{endpoints.monitoring}{MONITORING_PATH}/{operation}/{quote(bot_id, safe='')}",
            body={"lpAccountId": account_id, "lpAccountUser": account_user},
            idempotent=False,
            refusal=lambda response: (
                UnknownBotError(bot_id) if response.status_code == 404 else None
            ),
        )
        response = await self._auth.send(call, deadline)
        data = self._transport.json(call, response) if response.content else {}
        if isinstance(data, dict) and data.get("success") is False:
            raise self._transport.fail(
                f"LivePerson did not accept {call.what}:"
                f" {server_message(data) or 'no reason given'}",
                permanent=False,
            )
        logger.info("asked LivePerson to %s bot %s (bot user %s)", operation, bot_id, account_user)

    async def _lookup_account(
        self, bot_id: str, bot_user: str, deadline: Deadline
    ) -> tuple[str, str]:
        """The account a start or stop must name, for a connector no fetch has listed yet."""
        endpoints = await self._auth.resolve(deadline)
        call = Call(
            f"the status of bot {bot_id}",
            "GET",
            f"{endpoints.monitoring}{MONITORING_PATH}/status-v2/{quote(bot_id, safe='')}",
            refusal=lambda response: (
                UnknownBotError(bot_id) if response.status_code == 404 else None
            ),
        )
        response = await self._auth.send(call, deadline)
        data = self._transport.json(call, response)
        if isinstance(data, dict) and isinstance(data.get("successResult"), dict):
            data = data["successResult"]
        entries: list[Any] = [data]
        if isinstance(data, dict) and isinstance(data.get("statusList"), list):
            entries = data["statusList"]
        elif isinstance(data, list):
            entries = data
        account = account_of(entries, bot_user, self._account)
        if account is None:
            raise UnknownConnectorError(bot_id, bot_user)
        if not account[1]:
            raise self._transport.fail(
                f"LivePerson lists connector {bot_user} of bot {bot_id} without its bot user"
                " (lpAccountUser), so it cannot be started or stopped from here",
                permanent=True,
            )
        return account


class _NoPCSList(SourceError):
    """The account has no PCS status list (404); it simply has no PCS bots."""

    def __init__(self) -> None:
        super().__init__("no PCS status list", permanent=True)


def _some(keys: set[ConnectorKey], count: int = 3) -> str:
    return ", ".join(f"{bot_id}/{user}" for bot_id, user in sorted(keys)[:count])
