"""A fake LivePerson that speaks the real HTTP APIs behind Bots Status, on loopback.

Every service is served under one base URL with its real path (ARCHITECTURE.md section 4):
CSDS (``/api/account/{id}/service/...``), the Login Service (``/api/account/{id}/login``),
Conversation Builder's SSO exchange (``/le-auth/sso/authenticate``), the bots status
service (``/service-monitoring-0.1/sysadmin/nodejs/instance/...``) and the bot platform
(``/bot-platform-manager-0.1/...``). Envelopes, field names and epoch-millisecond times
follow reference/liveperson-api.md.

The fleet is deterministic from a seed. On purpose it spells statuses in several ways
(``ONLINE``, ``online``, ``NOT_CONNECTED``, ``not-connected``, ``Connected``...) and leaves
``botName`` out of a few entries, as the real service may, so clients must normalise and
fall back to the bot platform.

``/_sandbox/...`` is the control API for tests, the demo and people: change a bot, inject
faults (latency, 5xx, 429, malformed JSON, an HTML page, a missing field, a dropped
connection), make a status flap, expire every token, rebuild the fleet, read the requests
seen. It needs no authentication and is never called by chatops's production code.

Nothing here imports from the rest of chatops: the sandbox stands in for the outside world.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import math
import random
import secrets
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

JSONDict = dict[str, Any]

MONITORING = "/service-monitoring-0.1/sysadmin/nodejs/instance"
PLATFORM = "/bot-platform-manager-0.1"
CONTROL = "/_sandbox"
PCS_USER = "Survey Connector"
UNASSIGNED_GROUP = "un_assigned"
# The bot platform pages at most this many items, whatever ``size`` asks for.
MAX_PAGE_SIZE = 100
SESSION_TTL_MS = 8 * 3600 * 1000

FAULT_KINDS = ("latency", "status", "malformed", "html", "missing_field", "reset")
PATCHABLE_FIELDS = (
    "nodeStatus",
    "lpSocketStatus",
    "cbSocketStatus",
    "bcSocketStatus",
    "botName",
    "lastManualOperation",
    "manualOperationPerformedByName",
    "manualOperationTs",
    "type",
    "environment",
)

# Status words in the spellings the fake uses. Each bot gets one spelling per status field,
# chosen from the seed, so one status list mixes them like a real one can.
_SPELLINGS: dict[str, dict[str, str]] = {
    "upper": {
        "online": "ONLINE",
        "offline": "OFFLINE",
        "away": "AWAY",
        "connected": "CONNECTED",
        "not_connected": "NOT_CONNECTED",
        "stopped": "STOPPED",
        "ready": "READY_TO_START",
    },
    "lower": {
        "online": "online",
        "offline": "offline",
        "away": "away",
        "connected": "connected",
        "not_connected": "not-connected",
        "stopped": "stopped",
        "ready": "ready-to-start",
    },
    "title": {
        "online": "Online",
        "offline": "Offline",
        "away": "Away",
        "connected": "Connected",
        "not_connected": "Not Connected",
        "stopped": "Stopped",
        "ready": "Ready to Start",
    },
}
_STYLES = tuple(_SPELLINGS)

# Name families: (name prefix, bot group). Bot names look like "billing-bot-3".
_MESSAGING_FAMILIES = (
    ("billing-bot", "Billing"),
    ("support-bot", "Support"),
    ("orders-bot", "Orders"),
    ("returns-bot", "Orders"),
    ("faq-bot", "Support"),
    ("booking-bot", "Travel"),
)
_CHAT_FAMILIES = (
    ("sales-chat", "Sales"),
    ("help-chat", "Support"),
    ("care-chat", "Support"),
)
_PCS_FAMILIES = (
    ("survey-nps", "Surveys"),
    ("survey-csat", "Surveys"),
    ("survey-ces", "Surveys"),
)
_PEOPLE = ("Jane Ops", "Ravi Kumar", "Ana Souza", "Tom Becker", "Mei Lin")
# Problems a few custom bots start with; the rest of the fleet is healthy.
_PROBLEMS = ("stopped", "not_connected", "cloud_down", "ready", "server_down", "away")

_CSDS_SERVICES = {
    "agentVep": "{region}.agentvep.liveperson.net",
    "leDataReporting": "{region}.data.liveperson.net",
    "accountConfigReadOnly": "{region}.ac.liveperson.net",
    "msgHist": "{region}.msghist.liveperson.net",
    "asyncMessagingEnt": "{region}.msg.liveperson.net",
    "sentinel": "{region}.sentinel.liveperson.net",
    "botConnectorsDomain": "bot-platform-api.fs.liveperson.com",
}

_HTML_ERROR_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class _Bot:
    """One bot connector. ``entry`` is its status-list entry without ``botName``."""

    bot_id: str
    name: str
    pcs: bool
    group_id: str
    entry: JSONDict
    node_style: str
    socket_style: str
    # The bot's channel as the bot platform knows it; the status entry's "type" may differ
    # or be missing (tests remove it).
    chat: bool = False
    # False for the few bots whose status entry leaves botName out.
    name_listed: bool = True
    # When a Start is in progress: the clock time at which the connector is Online.
    online_at: float | None = None
    starts: int = 0
    stops: int = 0

    @property
    def server_field(self) -> str:
        return "bcSocketStatus" if self.pcs else "cbSocketStatus"

    @property
    def is_chat(self) -> bool:
        return self.chat


@dataclass
class _Fault:
    kind: str
    seconds: float = 0.0
    status: int | None = None
    retry_after: int | None = None
    times: int = 1
    path: str | None = None
    field: str = "nodeStatus"

    def as_json(self) -> JSONDict:
        return {
            "kind": self.kind,
            "seconds": self.seconds,
            "status": self.status,
            "retry_after": self.retry_after,
            "times": self.times,
            "path": self.path,
            "field": self.field,
        }


@dataclass
class _Flap:
    bot_id: str
    field: str
    values: list[str]
    next_index: int = 0


@dataclass
class _LoginSession:
    username: str
    user_id: str
    csrf: str
    session_id: str
    expires_at: float


@dataclass
class _CBSession:
    username: str
    user_id: str
    expires_at: float


@dataclass
class _RequestRecord:
    method: str
    path: str
    query: str
    status: int
    time: float

    def as_json(self) -> JSONDict:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "time": self.time,
        }


@dataclass
class _StatusListCache:
    version: int
    check_bucket: int
    body: bytes = field(repr=False)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _route_path(scope: Scope) -> str:
    """The path inside this app, also when it is mounted under a prefix (the demo)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


class FakeLivePerson:
    """The fake's state and its Starlette ``app``. Thread-safe: tests poke it directly."""

    def __init__(
        self,
        *,
        bots: int = 40,
        seed: int = 1,
        account_id: str = "12345678",
        username: str = "chatops",
        password: str = "sandbox",
        app_key: str = "sandbox-app-key",
        secret: str = "sandbox-secret",
        access_token: str = "sandbox-access-token",
        access_token_secret: str = "sandbox-access-token-secret",
        start_delay: float = 2.0,
        token_ttl: float = 3600.0,
        region: str = "va",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if bots < 0:
            raise ValueError("bots must be 0 or more")
        self.account_id = account_id
        self.username = username
        self.password = password
        self.app_key = app_key
        self.secret = secret
        self.access_token = access_token
        self.access_token_secret = access_token_secret
        self.start_delay = start_delay
        self.token_ttl = token_ttl
        self.region = region
        self.clock = clock
        self.user_id = "4210587012"
        self._lock = threading.RLock()
        self._bots: dict[str, _Bot] = {}
        self._seed = seed
        self._organization_id = ""
        self._groups: dict[str, str] = {}
        self._starting: set[str] = set()
        self._version = 0
        self._cache: dict[str, _StatusListCache] = {}
        self._faults: list[_Fault] = []
        self._flaps: list[_Flap] = []
        self._logins: dict[str, _LoginSession] = {}
        self._cb_tokens: dict[str, _CBSession] = {}
        self._issued: list[str] = []
        self._requests: deque[_RequestRecord] = deque(maxlen=10_000)
        self.rebuild(bots=bots, seed=seed)
        self.app = self._build_app()

    # ------------------------------------------------------------------ fleet

    def rebuild(self, *, bots: int, seed: int) -> None:
        """Replace the fleet with ``bots`` bots generated from ``seed``."""
        if bots < 0:
            raise ValueError("bots must be 0 or more")
        fleet, groups, organization_id = _generate_fleet(
            bots, seed, self.account_id, int(self.clock() * 1000)
        )
        with self._lock:
            self._seed = seed
            self._bots = {bot.bot_id: bot for bot in fleet}
            self._groups = groups
            self._organization_id = organization_id
            self._starting.clear()
            self._flaps.clear()
            self._changed()

    @property
    def organization_id(self) -> str:
        return self._organization_id

    def bots(self) -> list[JSONDict]:
        """The fleet as status-list entries (copies): custom bots, then PCS bots."""
        with self._lock:
            now = self.clock()
            self._settle(now)
            ordered = sorted(self._bots.values(), key=lambda bot: bot.pcs)
            return [self._render(bot, now) for bot in ordered]

    def platform_bots(self) -> list[JSONDict]:
        """The fleet as the bot platform lists it (every bot has its name there)."""
        with self._lock:
            return [self._platform_record(bot) for bot in self._bots.values()]

    def set_fields(self, bot_id: str, **fields: Any) -> None:
        """Change a bot's status-list fields (``None`` removes one); PATCH /_sandbox/bots/{id}."""
        unknown = sorted(set(fields) - set(PATCHABLE_FIELDS))
        if unknown:
            raise ValueError(
                f"cannot set {', '.join(unknown)}; settable fields: {', '.join(PATCHABLE_FIELDS)}"
            )
        with self._lock:
            bot = self._get(bot_id)
            for name, value in fields.items():
                if name == "botName":
                    bot.name_listed = value is not None
                    if value is not None:
                        bot.name = str(value)
                    continue
                if name in ("cbSocketStatus", "bcSocketStatus"):
                    # PCS entries carry the server status as bcSocketStatus, custom ones as
                    # cbSocketStatus; either name sets the one the bot has.
                    name = bot.server_field
                if value is None:
                    bot.entry.pop(name, None)
                else:
                    bot.entry[name] = value
            bot.entry["updateTime"] = self._now_ms()
            self._changed()

    def add_bot(self, name: str, *, like: str) -> str:
        """A new bot named ``name``, in the state of bot ``like`` (kind, channel, statuses),
        with its own id; returns the id."""
        with self._lock:
            model = self._get(like)
            bot_id = str(uuid.uuid4())
            user = PCS_USER if model.pcs else name.replace("-", "_")
            entry = copy.deepcopy(model.entry)
            entry.update(
                appName=f"{bot_id}:::{self.account_id}:::{user}",
                lpAccountUser=user,
                updateTime=self._now_ms(),
            )
            self._bots[bot_id] = replace(
                model,
                bot_id=bot_id,
                name=name,
                entry=entry,
                name_listed=True,
                online_at=None,
                starts=0,
                stops=0,
            )
            self._changed()
            return bot_id

    def start_count(self, bot_id: str) -> int:
        with self._lock:
            return self._get(bot_id).starts

    def stop_count(self, bot_id: str) -> int:
        with self._lock:
            return self._get(bot_id).stops

    # ------------------------------------------------------------ control API

    def add_fault(
        self,
        kind: str,
        *,
        seconds: float = 0.0,
        status: int | None = None,
        retry_after: int | None = None,
        times: int = 1,
        path: str | None = None,
        field: str = "nodeStatus",
    ) -> None:
        """Queue a fault for the next matching API request (``times=-1``: until cleared)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; kinds: {', '.join(FAULT_KINDS)}")
        if times == 0 or times < -1:
            raise ValueError("times must be a positive count, or -1 for until cleared")
        if status is not None and not 100 <= status <= 599:
            raise ValueError(f"not an HTTP status: {status}")
        with self._lock:
            self._faults.append(_Fault(kind, seconds, status, retry_after, times, path, field))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[JSONDict]:
        with self._lock:
            return [fault.as_json() for fault in self._faults]

    def flap(self, bot_id: str, field: str, values: list[str]) -> None:
        """Each status-list fetch that lists the bot sets ``field`` to the next value."""
        if not values:
            raise ValueError("flap needs at least one value")
        if field not in PATCHABLE_FIELDS or field == "botName":
            raise ValueError(f"cannot flap {field!r}")
        with self._lock:
            self._get(bot_id)
            self._flaps = [f for f in self._flaps if (f.bot_id, f.field) != (bot_id, field)]
            self._flaps.append(_Flap(bot_id, field, list(values)))

    def clear_flaps(self) -> None:
        with self._lock:
            self._flaps.clear()

    def expire_tokens(self) -> None:
        """Every login bearer and Conversation Builder token issued so far stops working."""
        with self._lock:
            self._logins.clear()
            self._cb_tokens.clear()

    def issued_tokens(self) -> list[str]:
        """Every bearer, csrf and CB token handed out (tests check none leaks into logs)."""
        with self._lock:
            return list(self._issued)

    def requests(self) -> list[JSONDict]:
        """API requests seen (control API calls are not recorded), oldest first."""
        with self._lock:
            return [record.as_json() for record in self._requests]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # --------------------------------------------------------------- internals

    def _get(self, bot_id: str) -> _Bot:
        bot = self._bots.get(bot_id)
        if bot is None:
            raise KeyError(bot_id)
        return bot

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _changed(self) -> None:
        self._version += 1

    def _settle(self, now: float) -> None:
        """Bring started connectors Online once their start delay has passed (lazily)."""
        done = [
            bot
            for bot in (self._bots[bot_id] for bot_id in self._starting)
            if bot.online_at is not None and bot.online_at <= now
        ]
        for bot in done:
            online_at = bot.online_at or now
            self._starting.discard(bot.bot_id)
            bot.online_at = None
            bot.entry["nodeStatus"] = _SPELLINGS[bot.node_style]["online"]
            cloud = "online" if bot.is_chat else "connected"
            bot.entry["lpSocketStatus"] = _SPELLINGS[bot.socket_style][cloud]
            bot.entry[bot.server_field] = _SPELLINGS[bot.socket_style]["connected"]
            bot.entry["updateTime"] = int(online_at * 1000)
        if done:
            self._changed()

    def _render(self, bot: _Bot, now: float) -> JSONDict:
        entry: JSONDict = {"botId": bot.bot_id}
        if bot.name_listed:
            entry["botName"] = bot.name
        # Values are strings, numbers and one-level objects: copying those is a deep copy.
        entry.update({k: dict(v) if isinstance(v, dict) else v for k, v in bot.entry.items()})
        # The connector checks in with Conversational Cloud every 5 minutes.
        entry["ccLastCheck"] = _check_bucket(now) * 300_000
        if bot.pcs:
            running = str(entry.get("nodeStatus", "")).lower() == "online"
            entry["pm2Info"] = {"status": "online" if running else "stopped", "restarts": 0}
        return entry

    def _platform_record(self, bot: _Bot) -> JSONDict:
        online = str(bot.entry.get("nodeStatus", "")).lower() == "online"
        return {
            "botId": bot.bot_id,
            "botName": bot.name,
            "botType": "POST_SURVEY_BOT" if bot.pcs else "CUSTOMER_FACING_BOT",
            "channel": "CHAT" if bot.is_chat else "MESSAGING",
            "botVersion": bot.entry.get("botVersion"),
            "organizationId": self._organization_id,
            "botGroupId": bot.group_id,
            "numberOfActiveAgents": 1 if online else 0,
            "numberOfInactiveAgents": 0 if online else 1,
            "createdAt": bot.entry.get("createTime"),
            "updatedAt": bot.entry.get("updateTime"),
        }

    def _status_list_body(self, key: str, select: Callable[[_Bot], bool]) -> bytes:
        now = self.clock()
        with self._lock:
            self._settle(now)
            listed = [bot for bot in self._bots.values() if select(bot)]
            if self._flaps:
                self._advance_flaps({bot.bot_id for bot in listed})
            bucket = _check_bucket(now)
            cached = self._cache.get(key)
            if cached and cached.version == self._version and cached.check_bucket == bucket:
                return cached.body
            # Serialised once per fleet version: a 10,000-bot list is served from memory.
            body = json.dumps(
                {"statusList": [self._render(bot, now) for bot in listed]},
                separators=(",", ":"),
            ).encode()
            self._cache[key] = _StatusListCache(self._version, bucket, body)
            return body

    def _advance_flaps(self, listed: set[str]) -> None:
        for flap in self._flaps:
            bot = self._bots.get(flap.bot_id)
            if bot is None or flap.bot_id not in listed:
                continue
            name = (
                bot.server_field
                if flap.field in ("cbSocketStatus", "bcSocketStatus")
                else flap.field
            )
            bot.entry[name] = flap.values[flap.next_index % len(flap.values)]
            bot.entry["updateTime"] = self._now_ms()
            flap.next_index += 1
            self._changed()

    def _take_fault(self, target: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path and fault.path not in target:
                    continue
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                return fault
        return None

    def _record(self, method: str, path: str, query: str, status: int) -> None:
        with self._lock:
            self._requests.append(_RequestRecord(method, path, query, status, self.clock()))

    def _issue(self, prefix: str) -> str:
        token = f"{prefix}{secrets.token_urlsafe(24)}"
        self._issued.append(token)
        return token

    # -------------------------------------------------------------- handlers

    def _build_app(self) -> Starlette:
        routes = [
            Route("/api/account/{account}/service/baseURI.json", self._csds_all),
            Route("/api/account/{account}/service/{service}/baseURI.json", self._csds_one),
            Route("/api/account/{account}/login", self._login, methods=["POST"]),
            Route("/api/account/{account}/refresh", self._refresh, methods=["POST"]),
            Route("/le-auth/sso/authenticate", self._sso, methods=["GET", "POST"]),
            Route(f"{MONITORING}/status", self._status_list),
            Route(f"{MONITORING}/status-v2/{{bot_id}}", self._status_one),
            Route(f"{MONITORING}/pcs/status", self._pcs_status_list),
            Route(f"{MONITORING}/start/{{bot_id}}", self._start, methods=["PUT"]),
            Route(f"{MONITORING}/stop/{{bot_id}}", self._stop, methods=["PUT"]),
            Route(f"{PLATFORM}/bot-groups", self._bot_groups),
            Route(f"{PLATFORM}/bot-groups/bots", self._group_bots),
            Route(f"{PLATFORM}/auth/liveperson/app", self._bot_agents),
            Route(f"{CONTROL}/bots", self._control_bots, methods=["GET"]),
            Route(f"{CONTROL}/bots/{{bot_id}}", self._control_patch_bot, methods=["PATCH"]),
            Route(f"{CONTROL}/faults", self._control_faults, methods=["GET", "POST", "DELETE"]),
            Route(f"{CONTROL}/flap", self._control_flap, methods=["POST", "DELETE"]),
            Route(f"{CONTROL}/expire-tokens", self._control_expire, methods=["POST"]),
            Route(f"{CONTROL}/fleet", self._control_fleet, methods=["POST"]),
            Route(f"{CONTROL}/requests", self._control_requests, methods=["GET", "DELETE"]),
            Route(f"{CONTROL}/credentials", self._control_credentials, methods=["GET"]),
        ]
        return Starlette(
            routes=routes,
            middleware=[Middleware(_FaultsAndLog, fake=self)],
            exception_handlers={HTTPException: _http_exception},
        )

    # CSDS -------------------------------------------------------------------

    def _base_uris(self, only: str | None) -> list[JSONDict]:
        return [
            {
                "service": name,
                "account": self.account_id,
                "baseURI": host.format(region=self.region),
            }
            for name, host in _CSDS_SERVICES.items()
            if only is None or name == only
        ]

    async def _csds_all(self, request: Request) -> Response:
        if request.path_params["account"] != self.account_id:
            return _csds_unknown_account(request.path_params["account"])
        return JSONResponse({"baseURIs": self._base_uris(None)})

    async def _csds_one(self, request: Request) -> Response:
        if request.path_params["account"] != self.account_id:
            return _csds_unknown_account(request.path_params["account"])
        return JSONResponse({"baseURIs": self._base_uris(request.path_params["service"])})

    # Login Service ----------------------------------------------------------

    async def _login(self, request: Request) -> Response:
        if request.path_params["account"] != self.account_id:
            return _login_error(400, "Account not found", internal_code=5)
        body = await _json_body(request)
        if body is None:
            return _login_error(400, "Request body is not valid JSON", internal_code=2)
        by_password = body.get("username") == self.username and body.get("password") == (
            self.password
        )
        by_app_key = (
            body.get("username") == self.username
            and body.get("appKey") == self.app_key
            and body.get("secret") == self.secret
            and body.get("accessToken") == self.access_token
            and body.get("accessTokenSecret") == self.access_token_secret
        )
        if not (by_password or by_app_key):
            return _login_error(401, "Invalid username or password", internal_code=1)
        now = self.clock()
        with self._lock:
            bearer = self._issue("lpb-")
            csrf = self._issue("csrf-")
            session_id = self._issue("sid-")
            self._logins = {b: s for b, s in self._logins.items() if s.expires_at > now}
            self._logins[bearer] = _LoginSession(
                self.username, self.user_id, csrf, session_id, now + self.token_ttl
            )
        payload = {
            "csrf": csrf,
            "wsuk": secrets.token_hex(8),
            "config": {
                "userId": self.user_id,
                "loginName": self.username,
                "userTypeId": 2 if by_app_key else 1,
                "userPrivileges": [1, 2, 14, 25, 1531],
                "serverCurrentTime": int(now * 1000),
                "timeDiff": 0,
                "isLPA": False,
            },
            "csdsCollectionResponse": {"baseURIs": self._base_uris(None)},
            "accountData": {"agentGroupsData": {"items": [], "revision": 1}},
            "sessionTTl": str(SESSION_TTL_MS),
            "bearer": bearer,
        }
        response = JSONResponse(payload)
        response.set_cookie("Session_id", session_id, httponly=True, secure=False)
        return response

    async def _refresh(self, request: Request) -> Response:
        body = await _json_body(request) or {}
        cookie = request.cookies.get("Session_id")
        now = self.clock()
        with self._lock:
            for session in self._logins.values():
                if session.csrf == body.get("csrf") and session.session_id == cookie:
                    if session.expires_at <= now:
                        break
                    session.expires_at = now + self.token_ttl
                    return JSONResponse({"csrf": session.csrf, "sessionTTl": str(SESSION_TTL_MS)})
        return _login_error(401, "Invalid csrf or session", internal_code=10)

    # Conversation Builder SSO ----------------------------------------------------

    async def _sso(self, request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        scheme, _, bearer = authorization.partition(" ")
        now = self.clock()
        with self._lock:
            session = self._logins.get(bearer) if scheme.lower() == "bearer" else None
            if session is None or session.expires_at <= now:
                return _envelope_error(401, "Invalid or expired LivePerson bearer", "0001")
            api_token = self._issue("cbt-")
            perm_token = self._issue("cbp-")
            self._cb_tokens = {t: s for t, s in self._cb_tokens.items() if s.expires_at > now}
            self._cb_tokens[api_token] = _CBSession(
                session.username, session.user_id, now + self.token_ttl
            )
        return JSONResponse(
            {
                "success": True,
                "message": "Authentication successful",
                "successResult": {
                    "apiAccessToken": api_token,
                    "apiAccessPermToken": perm_token,
                    "sessionOrganizationId": self._organization_id,
                    "leAccountId": self.account_id,
                    "leUserId": session.user_id,
                    "cbRegion": self.region,
                    "privileges": ["BOT_STATUS_ACCESS", "CONVERSATION_BUILDER"],
                    "chatBotPlatformUser": {
                        "userId": session.user_id,
                        "name": session.username,
                        "email": f"{session.username}@sandbox.invalid",
                        "organizationId": self._organization_id,
                    },
                },
            }
        )

    def _cb_session(self, request: Request) -> _CBSession | None:
        """The caller's CB session: ``Authorization: <apiAccessToken>`` (no Bearer)."""
        token = request.headers.get("authorization", "")
        with self._lock:
            session = self._cb_tokens.get(token)
            if session is None or session.expires_at <= self.clock():
                return None
        if request.headers.get("organizationid") != self._organization_id:
            return None
        return session

    # Bots status ---------------------------------------------------------------

    async def _status_list(self, request: Request) -> Response:
        if self._cb_session(request) is None:
            return _envelope_error(401, "Unauthorized", "401")
        environment = request.query_params.get("environment", "PRODUCTION").upper()
        body = self._status_list_body(
            f"status:{environment}",
            lambda bot: not bot.pcs and bot.entry.get("environment") == environment,
        )
        return Response(body, media_type="application/json")

    async def _pcs_status_list(self, request: Request) -> Response:
        if self._cb_session(request) is None:
            return _envelope_error(401, "Unauthorized", "401")
        body = self._status_list_body("pcs", lambda bot: bot.pcs)
        return Response(body, media_type="application/json")

    async def _status_one(self, request: Request) -> Response:
        if self._cb_session(request) is None:
            return _envelope_error(401, "Unauthorized", "401")
        bot_id = request.path_params["bot_id"]
        with self._lock:
            now = self.clock()
            self._settle(now)
            bot = self._bots.get(bot_id)
            if bot is None:
                return _envelope_error(404, f"No bot agent found for botId {bot_id}", "404")
            return JSONResponse(self._render(bot, now))

    async def _start(self, request: Request) -> Response:
        return await self._operate(request, "START")

    async def _stop(self, request: Request) -> Response:
        return await self._operate(request, "STOP")

    async def _operate(self, request: Request, operation: str) -> Response:
        session = self._cb_session(request)
        if session is None:
            return _envelope_error(401, "Unauthorized", "401")
        bot_id = request.path_params["bot_id"]
        body = await _json_body(request)
        with self._lock:
            now = self.clock()
            self._settle(now)
            bot = self._bots.get(bot_id)
            if bot is None:
                return _envelope_error(404, f"No bot agent found for botId {bot_id}", "404")
            if body is None or body.get("lpAccountId") != self.account_id:
                return _envelope_error(400, "lpAccountId is missing or wrong", "400")
            if body.get("lpAccountUser") != bot.entry.get("lpAccountUser"):
                return _envelope_error(400, "lpAccountUser does not match the bot", "400")
            if operation == "START":
                bot.starts += 1
            else:
                bot.stops += 1
            # All PCS bots of an account share one connector: acting on one acts on all.
            targets = [b for b in self._bots.values() if b.pcs] if bot.pcs else [bot]
            for target in targets:
                self._apply(target, operation, session, now)
            self._changed()
        return JSONResponse(
            {
                "success": True,
                "message": f"{operation} accepted",
                "successResult": {"botId": bot_id, "operation": operation},
            }
        )

    def _apply(self, bot: _Bot, operation: str, session: _CBSession, now: float) -> None:
        node, sockets = _SPELLINGS[bot.node_style], _SPELLINGS[bot.socket_style]
        now_ms = int(now * 1000)
        bot.entry.update(
            {
                "lastManualOperation": operation,
                "manualOperationTs": now_ms,
                "manualOperationPerformedById": session.user_id,
                "manualOperationPerformedByName": session.username,
                "updateTime": now_ms,
                "lpSocketStatus": sockets["not_connected"],
                bot.server_field: sockets["not_connected"],
            }
        )
        if operation == "STOP":
            bot.entry["nodeStatus"] = node["stopped"]
            bot.online_at = None
            self._starting.discard(bot.bot_id)
        else:
            # A start deploys the connector first; it logs in and is Online after the delay.
            bot.entry["nodeStatus"] = node["ready"]
            bot.online_at = now + self.start_delay
            self._starting.add(bot.bot_id)

    # Bot platform ---------------------------------------------------------------

    async def _bot_groups(self, request: Request) -> Response:
        if self._cb_session(request) is None:
            return _envelope_error(401, "Unauthorized", "401")
        with self._lock:
            groups = [
                {
                    "botGroupId": group_id,
                    "botGroupName": name,
                    "organizationId": self._organization_id,
                }
                for group_id, name in self._groups.items()
            ]
        return _page(request, groups)

    async def _group_bots(self, request: Request) -> Response:
        if self._cb_session(request) is None:
            return _envelope_error(401, "Unauthorized", "401")
        group_id = request.query_params.get("bot-group-id")
        with self._lock:
            if group_id and group_id != UNASSIGNED_GROUP and group_id not in self._groups:
                return _envelope_error(404, f"Bot group {group_id} not found", "404")
            bots = [
                self._platform_record(bot)
                for bot in self._bots.values()
                if group_id is None or bot.group_id == group_id
            ]
        bots.sort(key=lambda record: (str(record["botName"]).lower(), record["botId"]))
        return _page(request, bots)

    async def _bot_agents(self, request: Request) -> Response:
        if self._cb_session(request) is None:
            return _envelope_error(401, "Unauthorized", "401")
        bot_id = request.query_params.get("chatBotId", "")
        with self._lock:
            bot = self._bots.get(bot_id)
            if bot is None:
                return _envelope_error(404, f"No connector for chatBotId {bot_id}", "404")
            entry = bot.entry
            agent = {
                "lpAccountId": self.account_id,
                "lpAccountUser": entry.get("lpAccountUser"),
                "lpUserId": entry.get("lpUserId"),
                "type": entry.get("type"),
                "botId": bot.bot_id,
                "serverName": entry.get("serverName"),
                "deploymentEnvironment": entry.get("environment"),
                "configurations": {"lpUserRole": "AGENT"},
                "lastManualOperation": entry.get("lastManualOperation"),
                "manualOperationTs": entry.get("manualOperationTs"),
                "manualOperationPerformedByName": entry.get("manualOperationPerformedByName"),
                "createTime": entry.get("createTime"),
                "updateTime": entry.get("updateTime"),
            }
        return JSONResponse(
            {
                "success": True,
                "successResult": {"chatBotId": bot_id, "status": "ACTIVE", "agents": [agent]},
            }
        )

    # Control API ----------------------------------------------------------------

    async def _control_bots(self, request: Request) -> Response:
        return JSONResponse(self.bots())

    async def _control_patch_bot(self, request: Request) -> Response:
        body = await _json_body(request)
        if body is None:
            return JSONResponse({"error": "the body must be a JSON object"}, 400)
        bot_id = request.path_params["bot_id"]
        try:
            self.set_fields(bot_id, **body)
        except KeyError:
            return JSONResponse({"error": f"no bot with botId {bot_id}"}, 404)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        with self._lock:
            return JSONResponse(self._render(self._bots[bot_id], self.clock()))

    async def _control_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.clear_faults()
            return JSONResponse({"faults": []})
        if request.method == "POST":
            body = await _json_body(request)
            if body is None:
                return JSONResponse({"error": "the body must be a JSON object"}, 400)
            try:
                self.add_fault(
                    str(body.get("kind")),
                    seconds=float(body.get("seconds", 0.0)),
                    status=None if body.get("status") is None else int(body["status"]),
                    retry_after=(
                        None if body.get("retry_after") is None else int(body["retry_after"])
                    ),
                    times=int(body.get("times", 1)),
                    path=body.get("path") or None,
                    field=str(body.get("field", "nodeStatus")),
                )
            except (TypeError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({"faults": self.faults()})

    async def _control_flap(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.clear_flaps()
            return JSONResponse({"flaps": []})
        body = await _json_body(request)
        if body is None:
            return JSONResponse({"error": "the body must be a JSON object"}, 400)
        values = body.get("values")
        if not isinstance(values, list):
            return JSONResponse({"error": "values must be a list of strings"}, 400)
        try:
            self.flap(
                str(body.get("botId")),
                str(body.get("field", "cbSocketStatus")),
                [str(v) for v in values],
            )
        except KeyError:
            return JSONResponse({"error": f"no bot with botId {body.get('botId')}"}, 404)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({"flapping": body.get("botId")})

    async def _control_expire(self, request: Request) -> Response:
        self.expire_tokens()
        return JSONResponse({"expired": True})

    async def _control_fleet(self, request: Request) -> Response:
        body = await _json_body(request) or {}
        try:
            bots = int(body.get("bots", len(self._bots)))
            seed = int(body.get("seed", self._seed))
            self.rebuild(bots=bots, seed=seed)
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({"bots": bots, "seed": seed})

    async def _control_requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.clear_requests()
            return JSONResponse([])
        return JSONResponse(self.requests())

    async def _control_credentials(self, request: Request) -> Response:
        return JSONResponse(
            {
                "accountId": self.account_id,
                "username": self.username,
                "password": self.password,
                "appKey": self.app_key,
                "secret": self.secret,
                "accessToken": self.access_token,
                "accessTokenSecret": self.access_token_secret,
            }
        )


class _FaultsAndLog:
    """ASGI middleware: records API requests and injects the queued faults into them."""

    def __init__(self, app: ASGIApp, fake: FakeLivePerson) -> None:
        self.app = app
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = _route_path(scope)
        if path.startswith(CONTROL):
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        recorded = False

        async def recording_send(message: Message) -> None:
            nonlocal recorded
            # Record before the answer leaves, so a client that has its answer always
            # finds its request in /_sandbox/requests.
            if message["type"] == "http.response.start" and not recorded:
                recorded = True
                self.fake._record(scope["method"], path, query, int(message["status"]))
            await send(message)

        fault = self.fake._take_fault(f"{path}?{query}" if query else path)
        try:
            if fault is None:
                await self.app(scope, receive, recording_send)
            else:
                await self._inject(fault, scope, receive, recording_send)
        finally:
            if not recorded:  # no answer at all (status 0)
                self.fake._record(scope["method"], path, query, 0)

    async def _inject(self, fault: _Fault, scope: Scope, receive: Receive, send: Send) -> None:
        if fault.kind == "latency":
            # The request has arrived; only the answer is slow. So read it all first: a
            # client that gives up meanwhile does not undo it (a slow Start still starts).
            received: list[Message] = []
            while not received or received[-1].get("more_body", False):
                message = await receive()
                received.append(message)
                if message["type"] != "http.request":
                    break
            await asyncio.sleep(fault.seconds)
            replay = iter(received)

            async def replaying_receive() -> Message:
                return next(replay, None) or await receive()

            await self.app(scope, replaying_receive, send)
        elif fault.kind == "status":
            status = fault.status or 500
            headers = (
                {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            )
            reason = _REASONS.get(status, "Error")
            response = JSONResponse(
                {"success": False, "message": reason, "errorCode": str(status)}, status, headers
            )
            await response(scope, receive, send)
        elif fault.kind == "html":
            status = fault.status or 502
            page = _HTML_ERROR_PAGE.format(status=status, reason=_REASONS.get(status, "Error"))
            await Response(page, status, media_type="text/html")(scope, receive, send)
        elif fault.kind == "malformed":
            # Cut off mid-way, as a proxy that dropped the end of the body would.
            body = b'{"statusList":[{"botId":"9cef0c4e-1f0d-4a8e-b2a1-'
            await Response(body, fault.status or 200, media_type="application/json")(
                scope, receive, send
            )
        elif fault.kind == "missing_field":
            await self._without_field(fault.field, scope, receive, send)
        elif fault.kind == "reset":
            # Promise a body, send a little of it, and return: uvicorn closes the socket and
            # the client sees the connection drop mid-response.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"4096"),
                    ],
                }
            )
            await send(
                {"type": "http.response.body", "body": b'{"statusList":[', "more_body": True}
            )

    async def _without_field(self, name: str, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the real response with ``name`` removed from the first status-list entry
        (or from the top level when the response has no such entry or ``name`` is statusList)."""
        start: Message = {}
        chunks: list[bytes] = []

        async def buffer(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, buffer)
        body = b"".join(chunks)
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            entries = data.get("statusList")
            if name != "statusList" and isinstance(entries, list) and entries:
                if isinstance(entries[0], dict):
                    entries[0].pop(name, None)
            else:
                data.pop(name, None)
            body = json.dumps(data, separators=(",", ":")).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send(
            {"type": "http.response.start", "status": start.get("status", 200), "headers": headers}
        )
        await send({"type": "http.response.body", "body": body})


def _check_bucket(now: float) -> int:
    return math.floor(now / 300)


async def _json_body(request: Request) -> JSONDict | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _envelope_error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse({"success": False, "message": message, "errorCode": code}, status)


def _login_error(status: int, message: str, *, internal_code: int) -> JSONResponse:
    responses = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 500: "INTERNAL_SERVER_ERROR"}
    return JSONResponse(
        {
            "error": {
                "time": int(time.time() * 1000),
                "message": message,
                "internalCode": internal_code,
                "responseStatus": responses.get(status, "ERROR"),
            }
        },
        status,
    )


def _csds_unknown_account(account: str) -> JSONResponse:
    return JSONResponse(
        {"message": f"Account {account} not found", "code": 400, "status": "Bad Request"}, 400
    )


def _page(request: Request, items: list[JSONDict]) -> JSONResponse:
    """The bot platform's paged envelope: ``successResult.pageContext`` + ``data``."""
    try:
        page = max(1, int(request.query_params.get("page", "1")))
        size = min(MAX_PAGE_SIZE, max(1, int(request.query_params.get("size", "50"))))
    except ValueError:
        return _envelope_error(400, "page and size must be numbers", "400")
    data = items[(page - 1) * size : page * size]
    return JSONResponse(
        {
            "success": True,
            "successResult": {
                "pageContext": {"page": page, "size": size, "totalSize": len(items)},
                "data": data,
            },
        }
    )


async def _http_exception(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return _envelope_error(status, _REASONS.get(status, "Error"), str(status))


# ------------------------------------------------------------------- fleet


def _generate_fleet(
    count: int, seed: int, account_id: str, now_ms: int
) -> tuple[list[_Bot], dict[str, str], str]:
    """``count`` bots from ``seed``: about one in eight PCS, the rest custom; a few
    problems and a few entries without botName. Same seed, same fleet."""
    rng = random.Random(seed)
    organization_id = _uuid(rng)
    group_names = sorted(
        {group for _, group in _MESSAGING_FAMILIES + _CHAT_FAMILIES + _PCS_FAMILIES}
    )
    groups = {_uuid(rng): name for name in group_names}
    group_ids = {name: group_id for group_id, name in groups.items()}
    counters: dict[str, int] = {}
    custom_indexes: list[int] = []
    plans: list[tuple[bool, str, str, str, str]] = []
    for index in range(count):
        pcs = index % 8 == 7
        if pcs:
            prefix, group = rng.choice(_PCS_FAMILIES)
            channel, environment = "messaging", "PRODUCTION"
        else:
            custom_indexes.append(index)
            # The first four bots cover every channel and environment, whatever the seed.
            if index < 4:
                chat, staging = index % 2 == 1, index >= 2
            else:
                chat, staging = rng.random() < 0.3, rng.random() < 0.25
            prefix, group = rng.choice(_CHAT_FAMILIES if chat else _MESSAGING_FAMILIES)
            channel = "chat" if chat else "messaging"
            environment = "STAGING" if staging else "PRODUCTION"
        plans.append((pcs, prefix, group, channel, environment))

    healthy_pool = custom_indexes[4:] if len(custom_indexes) > 8 else custom_indexes
    problem_count = min(len(healthy_pool), max(4, count // 12)) if count >= 8 else 0
    problems = dict(
        zip(
            rng.sample(healthy_pool, problem_count),
            (_PROBLEMS[i % len(_PROBLEMS)] for i in range(problem_count)),
            strict=True,
        )
    )
    nameless_pool = [i for i in healthy_pool if i not in problems]
    nameless = set(rng.sample(nameless_pool, min(len(nameless_pool), max(2, count // 40))))

    pcs_styles = (rng.choice(_STYLES), rng.choice(_STYLES))
    fleet: list[_Bot] = []
    for index, (pcs, prefix, group, channel, environment) in enumerate(plans):
        counters[prefix] = counters.get(prefix, 0) + 1
        name = f"{prefix}-{counters[prefix]}"
        bot_id = _uuid(rng)
        # PCS bots share one connector, so they share its spelling too.
        node_style, socket_style = pcs_styles if pcs else (rng.choice(_STYLES), rng.choice(_STYLES))
        node, sockets = _SPELLINGS[node_style], _SPELLINGS[socket_style]
        create_ms = now_ms - rng.randint(30, 400) * 86_400_000
        started_ms = create_ms + rng.randint(1, 20) * 3_600_000
        user = PCS_USER if pcs else name.replace("-", "_")
        entry: JSONDict = {
            "appName": f"{bot_id}:::{account_id}:::{user}",
            "botVersion": str(rng.randint(1, 40)),
            "nodeStatus": node["online"],
            "lpSocketStatus": sockets["online" if channel == "chat" else "connected"],
            ("bcSocketStatus" if pcs else "cbSocketStatus"): sockets["connected"],
            "deployed": True,
            "environment": environment,
            "haType": "ACTIVE",
            "type": channel,
            "lpAccountId": account_id,
            "lpAccountUser": user,
            "lpUserId": str(rng.randint(1_000_000_000, 4_999_999_999)),
            "organizationId": organization_id,
            "orgName": "Sandbox Org",
            "serverName": f"nodejs-{rng.randint(1, 12):02d}",
            "createTime": create_ms,
            "updateTime": now_ms - rng.randint(1, 3600) * 1000,
            "manualOperationTs": started_ms,
            "lastManualOperation": "START",
            "manualOperationPerformedById": str(rng.randint(1_000_000, 9_999_999)),
            "manualOperationPerformedByName": rng.choice(_PEOPLE),
            "lastMessageTime": now_ms - rng.randint(1, 600) * 60_000,
            "pipelineConfig": {},
        }
        if pcs:
            entry.update(
                {
                    "statusCode": 200,
                    "success": True,
                    "authType": "USER_PASS",
                    "organizationName": "Sandbox Org",
                    "changed": False,
                    "configurations": {"lpUserRole": "AGENT"},
                }
            )
        _apply_problem(entry, problems.get(index), node, sockets, pcs, now_ms)
        # A tenth of the custom bots are in no bot group, as on a real account.
        group_id = UNASSIGNED_GROUP if not pcs and rng.random() < 0.1 else group_ids[group]
        fleet.append(
            _Bot(
                bot_id=bot_id,
                name=name,
                pcs=pcs,
                group_id=group_id,
                entry=entry,
                node_style=node_style,
                socket_style=socket_style,
                chat=channel == "chat",
                name_listed=index not in nameless,
            )
        )
    return fleet, groups, organization_id


def _apply_problem(
    entry: JSONDict,
    problem: str | None,
    node: dict[str, str],
    sockets: dict[str, str],
    pcs: bool,
    now_ms: int,
) -> None:
    server = "bcSocketStatus" if pcs else "cbSocketStatus"
    if problem == "stopped":
        entry.update(
            {
                "nodeStatus": node["stopped"],
                "lpSocketStatus": sockets["not_connected"],
                server: sockets["not_connected"],
                "lastManualOperation": "STOP",
                "manualOperationTs": now_ms - 2 * 3_600_000,
            }
        )
    elif problem == "not_connected":
        entry.update(
            {"nodeStatus": node["not_connected"], "lpSocketStatus": sockets["not_connected"]}
        )
    elif problem == "cloud_down" or (problem == "away" and entry["type"] != "chat"):
        entry["lpSocketStatus"] = sockets["not_connected"]
    elif problem == "away":
        entry["lpSocketStatus"] = sockets["away"]
    elif problem == "server_down":
        entry[server] = sockets["not_connected"]
    elif problem == "ready":
        # Deployed, never started: no manual operation yet.
        entry.update(
            {
                "nodeStatus": node["ready"],
                "lpSocketStatus": sockets["not_connected"],
                server: sockets["not_connected"],
                "manualOperationTs": 0,
            }
        )
        for key in (
            "lastManualOperation",
            "manualOperationPerformedById",
            "manualOperationPerformedByName",
        ):
            entry.pop(key, None)


# ------------------------------------------------------------------ serving


class _ThreadServer(uvicorn.Server):
    """A uvicorn server that says when it is listening and stops at once when asked."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit: asyncio.Event | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._exit = asyncio.Event()
        await super().startup(sockets=sockets)
        self.listening.set()

    async def main_loop(self) -> None:
        # uvicorn's own loop polls should_exit every 0.1 s; an event makes stop() instant.
        await self.on_tick(0)
        if self._exit is not None and not self.should_exit:
            await self._exit.wait()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn's shutdown gives in-flight responses 0.1 s and waits for connections to
        # close; a fake being thrown away (once per test) need not: close and go.
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        await asyncio.sleep(0)

    def request_exit(self) -> None:
        self.should_exit = True
        # Do not wait for requests still in flight (a latency fault may be sleeping).
        self.force_exit = True
        if self._loop is not None and self._exit is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                self._loop.call_soon_threadsafe(self._exit.set)


class RunningServer:
    """A fake served by uvicorn in a daemon thread; ``stop()`` (or ``with``) ends it."""

    def __init__(
        self, fake: FakeLivePerson, server: _ThreadServer, thread: threading.Thread, url: str
    ) -> None:
        self.fake = fake
        self.url = url
        self._server = server
        self._thread = thread

    def stop(self) -> None:
        self._server.request_exit()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only turns Nagle off (TCP_NODELAY) on sockets whose
    # proto says TCP, and with Nagle on every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _config(fake: FakeLivePerson) -> uvicorn.Config:
    # log_config=None: uvicorn must not reconfigure the host process's logging. Access logs
    # stay on: turning them off would silence "uvicorn.access" for the whole process.
    return uvicorn.Config(fake.app, log_config=None, lifespan="off")


def run_in_thread(fake: FakeLivePerson, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``fake`` on ``host:port`` (0: any free port) until ``stop()``."""
    sock = _listen(host, port)
    server = _ThreadServer(_config(fake))

    def serve() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        finally:
            sock.close()
            server.listening.set()

    thread = threading.Thread(target=serve, name=f"fake-liveperson-{_url(sock)}", daemon=True)
    url = _url(sock)
    thread.start()
    if not server.listening.wait(timeout=10) or not server.started:
        server.request_exit()
        raise RuntimeError(f"the fake LivePerson did not start on {url}")
    return RunningServer(fake, server, thread, url)


def serve_forever(*, host: str, port: int, bots: int, seed: int) -> int:
    """``chatops sandbox liveperson``: serve a fake fleet until Ctrl-C (exit 0)."""
    if bots < 0:
        print("chatops sandbox liveperson: --bots must be 0 or more", file=sys.stderr)
        return 2
    try:
        sock = _listen(host, port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(
            f"chatops sandbox liveperson: cannot listen on {host}:{port}: {reason}"
            f" (is something else using port {port}? choose another with --port)",
            file=sys.stderr,
        )
        return 1
    fake = FakeLivePerson(bots=bots, seed=seed)
    url = _url(sock)
    print(f"Fake LivePerson: {bots} bots (seed {seed}) on {url}")
    print("Point chatops at it with:")
    print(f"  export LP_API_URL={url}")
    print(f"  export LP_ACCOUNT_ID={fake.account_id}")
    print(f"  export LP_USERNAME={fake.username}")
    print(f"  export LP_PASSWORD={fake.password}")
    print(f"Control API: {url}{CONTROL}/bots, {CONTROL}/faults, {CONTROL}/requests. Ctrl-C stops.")
    sys.stdout.flush()
    server = uvicorn.Server(_config(fake))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0
