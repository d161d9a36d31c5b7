"""LivePerson's Agent Metrics API: the open conversations of the connectors' bot users.

``POST https://{msgHist}/messaging_history/api/account/{id}/agent-view/status`` (CSDS
service ``msgHist``; under ``LP_API_URL``, ``U/messaging_history/...``) with
``{"agentIds": [...]}`` and the login bearer. Each connector's agent is its bot user,
whose ``agentId`` is the ``lpUserId`` of its status entry. The answer lists only agents
that are logged in, in pages (``limit``/``offset``, ``_metadata.next``); agents are asked
for in batches of ``AGENT_BATCH``.

It runs after the status lists, in what is left of ``poll.timeout``, with the same retry
policy (a 429 waits for ``Retry-After`` when that fits). A 401 logs in again once. Nothing
here fails a poll: a refusal (no permission) or a failure becomes a reading that says so,
and the counts are then unknown. After a refusal the API is asked again only every
``REFUSED_RETRY`` seconds, so that a user without the permission does not log in again at
every poll.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from chatops.domain import ConnectorKey, Snapshot
from chatops.domain.conversations import AgentMetrics as AgentRecord
from chatops.domain.conversations import MetricsOutcome, MetricsReading
from chatops.pacing import Pacer
from chatops.sources.base import SourceError
from chatops.sources.liveperson.auth import Auth, CBSession
from chatops.sources.liveperson.parse import text
from chatops.sources.liveperson.transport import (
    Call,
    Deadline,
    Session,
    Transport,
    server_message,
    try_json,
)

logger = logging.getLogger(__name__)

AGENT_VIEW_PATH = "/messaging_history/api/account/{account}/agent-view/status"
# Agents asked for per request, and records asked for per page (LivePerson pages by 50
# unless asked for more; a server that pages by fewer is followed through its next links).
AGENT_BATCH = 200
PAGE_LIMIT = 100
# Batches asked for at once: a few, not a burst (at 10,000 connectors, about 50 batches of
# two pages each; one at a time they took 2.2-3.0 s against the fake).
IN_FLIGHT = 4
# A server whose pages never end stops here.
MAX_PAGES = 200
# A count above this is no agent's (LivePerson allows 999 conversations per agent): unknown.
MAX_COUNT = 1_000_000
# Less time than this left of poll.timeout after the status lists: the API is not asked.
MIN_BUDGET = 0.5
# After a refusal (401/403), ask again this much later.
REFUSED_RETRY = 600.0
WHAT = "the Agent Metrics read (agent-view/status)"


class _Refused(SourceError):
    """The Agent Metrics API refused this user (its own message), not a passing failure."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


@dataclass(frozen=True, slots=True)
class _BearerSession:
    """The login bearer, as the messaging history services take it."""

    session: CBSession

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.session.bearer}"}


class _BearerSessions:
    """The transport's sessions for a bearer call: a 401 logs in again once."""

    def __init__(self, auth: Auth) -> None:
        self._auth = auth

    async def current(self, deadline: Deadline) -> Session:
        return _BearerSession(await self._auth.current(deadline))

    async def renew(self, stale: Session, deadline: Deadline) -> None:
        assert isinstance(stale, _BearerSession)
        await self._auth.renew(stale.session, deadline)


class AgentMetrics:
    """Reads the Agent Metrics of the agents of the last fetch's connectors.

    ``agent_ids`` is set by the source after each fetch: each connector's ``lpUserId``.
    """

    def __init__(
        self,
        transport: Transport,
        auth: Auth,
        *,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._auth = auth
        self._timeout = timeout
        self._clock = clock
        self._sessions = _BearerSessions(auth)
        self.agent_ids: Mapping[ConnectorKey, str] = {}
        self._refused: tuple[float, str] | None = None
        self._last: MetricsOutcome | None = None

    @property
    def where(self) -> str | None:
        """The messaging history base URL, once resolved."""
        endpoints = self._auth.endpoints
        return endpoints.msghist if endpoints else None

    async def read(self, connectors: Sequence[Snapshot], started: float) -> MetricsReading:
        """The connectors' agents' metrics, within ``poll.timeout`` counted from ``started``
        (``time.monotonic()``). Never raises."""
        reading = await self._read([snapshot.key for snapshot in connectors], started)
        self._report(reading)
        return reading

    async def check(self) -> MetricsReading:
        """Every agent of the last fetch, with a full ``poll.timeout`` (``check-config``):
        the refusal back-off does not apply."""
        self._refused = None
        return await self._read(list(self.agent_ids), self._clock())

    async def _read(self, keys: Iterable[ConnectorKey], started: float) -> MetricsReading:
        now = self._clock()
        if self._refused is not None:
            until, message = self._refused
            if now < until:
                return MetricsReading(MetricsOutcome.REFUSED, message)
            self._refused = None
        asked: dict[str, list[ConnectorKey]] = {}
        # 10,000 connectors and their records: the replies get a turn of the loop every ms.
        pacer = Pacer()
        for key in keys:
            await pacer.pace()
            agent_id = self.agent_ids.get(key)
            if agent_id:
                asked.setdefault(agent_id, []).append(key)
        if not asked:
            return MetricsReading(MetricsOutcome.OK)
        remaining = self._timeout - (now - started)
        if remaining < MIN_BUDGET:
            return MetricsReading(
                MetricsOutcome.FAILED,
                f"no time was left of the {self._timeout:g} s poll.timeout after the status"
                " lists to read the Agent Metrics",
            )
        deadline = Deadline(remaining)
        try:
            async with asyncio.timeout(remaining):
                records = await self._records(sorted(asked), deadline)
        except TimeoutError:
            return MetricsReading(
                MetricsOutcome.FAILED,
                f"LivePerson did not finish {deadline.doing} within the {remaining:.3g} s left"
                f" of the {self._timeout:g} s poll.timeout",
            )
        except _Refused as exc:
            return self._refusal(exc.message)
        except SourceError as exc:
            if exc.permanent:
                # The one refusal the call's own does not see: a 401 after logging in again.
                return self._refusal(
                    f"LivePerson rejected the session for {WHAT} (HTTP 401) even after logging"
                    f" in again: the user {self._auth.username} may not read Agent Metrics"
                )
            return MetricsReading(MetricsOutcome.FAILED, exc.message)
        agents: dict[ConnectorKey, AgentRecord] = {}
        by_login: dict[str, list[ConnectorKey]] = {}
        for key_list in asked.values():
            await pacer.pace()
            for key in key_list:
                by_login.setdefault(key[1], []).append(key)
        # An agent listed twice counts once, with its first record; a record of an agent
        # not asked for is matched by login name (a re-created user) only to a connector
        # whose own agent is not listed.
        for record in records:
            await pacer.pace()
            for key in asked.get(record.agent_id, ()):
                agents.setdefault(key, record)
        for record in records:
            await pacer.pace()
            if record.agent_id not in asked and record.login_name:
                for key in by_login.get(record.login_name, ()):
                    agents.setdefault(key, record)
        every = frozenset(key for key_list in asked.values() for key in key_list)
        return MetricsReading(MetricsOutcome.OK, None, agents, every)

    def _refusal(self, message: str) -> MetricsReading:
        text = (
            f"{message}; asked again every {REFUSED_RETRY / 60:g} minutes"
            " (conversations.metrics: false stops asking)"
        )
        self._refused = (self._clock() + REFUSED_RETRY, text)
        return MetricsReading(MetricsOutcome.REFUSED, text)

    def _report(self, reading: MetricsReading) -> None:
        """Log when the API starts or stops working, not at every poll."""
        if reading.outcome is self._last:
            return
        if reading.outcome is MetricsOutcome.OK:
            if self._last is not None:
                logger.info("LivePerson's Agent Metrics API answers again")
        else:
            logger.warning(
                "LivePerson's Agent Metrics API %s: %s; polling and alerts go on without"
                " conversation counts",
                reading.outcome.value,
                reading.error,
            )
        self._last = reading.outcome

    async def _records(self, agent_ids: list[str], deadline: Deadline) -> list[AgentRecord]:
        endpoints = await self._auth.resolve(deadline)
        if endpoints.msghist is None:
            raise self._transport.fail(
                f"LivePerson's domain service (CSDS) lists no messaging history host (msgHist)"
                f" for account {self._auth.account}",
                permanent=False,
            )
        account = quote(self._auth.account, safe="")
        url = f"{endpoints.msghist}{AGENT_VIEW_PATH.format(account=account)}"
        batches = [
            agent_ids[start : start + AGENT_BATCH]
            for start in range(0, len(agent_ids), AGENT_BATCH)
        ]
        answers: list[list[AgentRecord]] = [[] for _ in batches]
        following = iter(range(len(batches)))

        async def reader() -> None:
            for index in following:
                answers[index] = await self._batch(url, batches[index], deadline)

        # A failure of one reader cancels the others and raises from the group.
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(IN_FLIGHT, len(batches))):
                    group.create_task(reader())
        except ExceptionGroup as group_error:
            raise group_error.exceptions[0] from None
        return [record for answer in answers for record in answer]

    async def _batch(self, url: str, batch: list[str], deadline: Deadline) -> list[AgentRecord]:
        """Every page of one batch's answer."""
        records: list[AgentRecord] = []
        offset = 0
        for _ in range(MAX_PAGES):
            call = Call(
                WHAT,
                "POST",
                url,
                params={"limit": str(PAGE_LIMIT), "offset": str(offset)},
                body={"agentIds": batch},
                refusal=self._refused_call,
            )
            response = await self._transport.send(call, deadline, sessions=self._sessions)
            data = self._transport.json(call, response)
            page, following = self._page(call, response, data)
            records += page
            # No next page, a next that does not move forward, or an empty page: the end.
            if following is None or following <= offset or not page:
                return records
            offset = following
        logger.warning("LivePerson's Agent Metrics answer had more than %d pages", MAX_PAGES)
        return records

    def _page(
        self, call: Call, response: httpx.Response, data: Any
    ) -> tuple[list[AgentRecord], int | None]:
        """One page's records, and the offset of the next page (None: the last one)."""
        metadata = data.get("_metadata") if isinstance(data, dict) else None
        items = data.get("agentStatusRecords") if isinstance(data, dict) else None
        if items is None and isinstance(metadata, dict) and metadata.get("count") == 0:
            items = []
        if not isinstance(items, list):
            raise self._transport.fail(
                f"LivePerson's answer to {WHAT} has no agentStatusRecords list"
                f" (HTTP {response.status_code}); the response is not the expected shape",
                permanent=False,
            )
        records = [record for item in items if (record := _record(item)) is not None]
        if len(records) < len(items):
            logger.warning(
                "LivePerson's Agent Metrics answer had %d records without an agentId; skipped",
                len(items) - len(records),
            )
        following = None
        link = metadata.get("next") if isinstance(metadata, dict) else None
        href = link.get("href") if isinstance(link, dict) else None
        if isinstance(href, str):
            offsets = parse_qs(urlsplit(href).query).get("offset")
            if offsets and offsets[0].isdigit():
                following = int(offsets[0])
        return records, following

    def _refused_call(self, response: httpx.Response) -> SourceError:
        status = response.status_code
        if status in (401, 403):
            return _Refused(
                f"LivePerson refused {WHAT} (HTTP {status}): the user {self._auth.username}"
                " may not read Agent Metrics"
            )
        detail = server_message(try_json(response))
        suffix = f": {detail}" if detail else ""
        return _Refused(f"LivePerson refused {WHAT} (HTTP {status}{suffix})")


def _count(value: Any) -> int | None:
    """A count LivePerson may send as a number or as digits; None when it is neither, or
    negative, or more than any agent can have (``MAX_COUNT``)."""
    count: int | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        count = value
    elif isinstance(value, float) and math.isfinite(value):
        count = round(value)
    elif isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 20:
        count = int(value.strip())
    return count if count is not None and 0 <= count <= MAX_COUNT else None


def _record(item: Any) -> AgentRecord | None:
    if not isinstance(item, dict):
        return None
    agent_id = text(item.get("agentId"))
    if not agent_id:
        return None
    return AgentRecord(
        agent_id=agent_id,
        login_name=text(item.get("agentLoginName")),
        open_conversations=_count(item.get("openAssignedConversations")),
        load=_count(item.get("load")),
        status=text(item.get("currentStatus")),
        connection=text(item.get("currentConnectionState")),
    )
