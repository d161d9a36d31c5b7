"""The fake's Agent Metrics API: ``POST /messaging_history/api/account/{id}/agent-view/status``.

As LivePerson documents it (Agent Metrics API, "Agent Status"): the login bearer in
``Authorization: Bearer ...``; a JSON body filtering by ``agentIds``, ``status`` and
``connectionStates``; ``limit`` (default 50, at most 100) and ``offset`` in the query; an
answer of ``_metadata`` (``count``, ``self``, ``next`` and ``prev`` links) and
``agentStatusRecords``. Only logged-in agents are listed: a connector that is not Online,
or whose Conversational Cloud connection is down, has no record.

Open conversations move over time and are the same for the same seed and clock: each agent
has a base count and a swing drawn from the seed, and the count follows a slow wave in
one-minute steps. A test or the demo can pin one connector's count
(:meth:`AgentMetricsModel.pin`). Faults (401, 429, 500, malformed JSON...) come through the
fake's faults mechanism, with ``path: "agent-view"``.
"""

from __future__ import annotations

import math
import random
import threading
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatops.sandbox.jsontypes import JSONDict
from chatops.sandbox.liveperson.accounts import Sessions
from chatops.sandbox.liveperson.api import json_body
from chatops.sandbox.liveperson.fleet import Fleet
from chatops.sandbox.liveperson.model import CONTROL

AGENT_VIEW = "/messaging_history/api/account/{account}/agent-view/status"
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
# What LivePerson's bot connectors are configured with: its limit of concurrent conversations.
MAX_SLOTS = 999
# One step of the moving counts, and the period of their wave.
STEP_SECONDS = 60
PERIOD_SECONDS = 20 * 60


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "responseStatus": status}}, status)


class AgentMetricsModel:
    """Open conversations per agent: seeded, moving with the clock, pinnable."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._lock = threading.Lock()
        self._pinned: dict[str, int] = {}
        # Each agent's wave (base, swing, phase), drawn from the seed once.
        self._waves: dict[tuple[int, str], tuple[int, int, float]] = {}

    def pin(self, user: str, count: int | None) -> None:
        """Fix the count of the connector with bot user ``user`` (None: let it move again)."""
        if count is not None and not 0 <= count <= MAX_SLOTS:
            raise ValueError(f"open conversations must be 0 to {MAX_SLOTS}, not {count}")
        with self._lock:
            if count is None:
                self._pinned.pop(user, None)
            else:
                self._pinned[user] = count

    def open_conversations(self, agent_id: str, user: str, now: float) -> int:
        with self._lock:
            pinned = self._pinned.get(user)
            wave = self._waves.get((self.fleet.seed, agent_id))
        if pinned is not None:
            return pinned
        if wave is None:
            draws = random.Random(f"conversations:{self.fleet.seed}:{agent_id}")
            base = draws.randint(3, 45)
            wave = (base, draws.randint(0, max(1, base // 2)), draws.random() * 2 * math.pi)
            with self._lock:
                self._waves[(self.fleet.seed, agent_id)] = wave
        base, swing, phase = wave
        step = math.floor(now / STEP_SECONDS) * STEP_SECONDS
        return max(0, round(base + swing * math.sin(2 * math.pi * step / PERIOD_SECONDS + phase)))

    def agents(self) -> list[tuple[str, str, str]]:
        """``(agentId, bot user, status)`` of every logged-in agent, in agent id order."""
        return self.fleet.logged_in_agents()

    def record(self, agent: tuple[str, str, str], now: float) -> JSONDict:
        """The agent's record as the API lists it."""
        agent_id, user, status = agent
        now_ms = int(now * 1000)
        count = self.open_conversations(agent_id, user, now)
        return {
            "agentId": agent_id,
            "lastUpdatedTimeL": now_ms,
            "currentStatusStartTimeL": now_ms - 3_600_000,
            "agentName": user,
            "agentNickname": user,
            "agentLoginName": user,
            "agentSkills": [],
            "agentGroupId": -1,
            "agentGroupName": "Main Group",
            "currentStatus": status,
            "load": round(100 * count / MAX_SLOTS),
            "ringingSlots": 0,
            "configuredMaxSlots": MAX_SLOTS,
            "busySlots": count,
            "openAssignedConversations": count,
            "intenseConversations": 0,
            "agentPresence": "true",
            "currentConnectionState": "CONNECTED",
        }

    def records(self, now: float) -> list[JSONDict]:
        """One record per logged-in agent, in agent id order."""
        return [self.record(agent, now) for agent in self.agents()]


class AgentMetricsApi:
    """The route, answering from the model, for callers with a live login bearer."""

    def __init__(self, model: AgentMetricsModel, sessions: Sessions) -> None:
        self.model = model
        self.sessions = sessions

    def routes(self) -> list[Route]:
        return [
            Route(AGENT_VIEW, self._status, methods=["POST"]),
            Route(f"{CONTROL}/conversations", self._pin, methods=["POST"]),
        ]

    async def _pin(self, request: Request) -> Response:
        """``{lpAccountUser, count}``: pin a connector's open conversations (null: unpin)."""
        body = await json_body(request)
        user = body.get("lpAccountUser") if body else None
        count = body.get("count") if body else None
        if not isinstance(user, str) or not (count is None or isinstance(count, int)):
            return JSONResponse({"error": "send {lpAccountUser: str, count: int | null}"}, 400)
        try:
            self.model.pin(user, count)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({"lpAccountUser": user, "count": count})

    async def _status(self, request: Request) -> Response:
        account = request.path_params["account"]
        if account != self.sessions.credentials.account_id:
            return _error(400, f"Account {account} not found")
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or self.sessions.bearer_login(bearer) is None:
            return _error(401, "Authentication failed")
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(400, "The body must be a JSON object (send {} for no filter)")
        try:
            limit = min(MAX_LIMIT, max(1, int(request.query_params.get("limit", DEFAULT_LIMIT))))
            offset = max(0, int(request.query_params.get("offset", "0")))
        except ValueError:
            return _error(400, "limit and offset must be numbers")
        agents = self.model.agents()
        wanted = body.get("agentIds")
        if isinstance(wanted, list) and wanted:
            ids = {str(agent_id) for agent_id in wanted}
            agents = [agent for agent in agents if agent[0] in ids]
        statuses = body.get("status")
        if isinstance(statuses, list) and statuses:
            agents = [agent for agent in agents if agent[2] in {str(s) for s in statuses}]
        states = body.get("connectionStates")
        if isinstance(states, list) and states and "CONNECTED" not in states:
            agents = []  # every agent listed is connected
        now = self.sessions.clock()
        page = [self.model.record(agent, now) for agent in agents[offset : offset + limit]]
        base = str(request.url.replace(query=""))

        def link(rel: str, at: int) -> JSONDict:
            return {"rel": rel, "href": f"{base}?{urlencode({'limit': limit, 'offset': at})}"}

        metadata: JSONDict = {
            "count": len(agents),
            "self": link("self", offset),
            "shardsStatusResult": {"partialResult": False},
        }
        if offset + limit < len(agents):
            metadata["next"] = link("next", offset + limit)
        if offset > 0:
            metadata["prev"] = link("prev", max(0, offset - limit))
        return JSONResponse(
            {"_metadata": metadata, "accountID": account, "agentStatusRecords": page}
        )
