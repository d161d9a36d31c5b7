"""The LivePerson APIs behind Bots Status, as HTTP routes over the fake's fleet and account.

Each service keeps its real path under one base URL (ARCHITECTURE.md section 4): CSDS
(``/api/account/{id}/service/...``), the Login Service (``/api/account/{id}/login``),
Conversation Builder's SSO exchange (``/le-auth/sso/authenticate``), the bots status
service (``/service-monitoring-0.1/sysadmin/nodejs/instance/...``) and the bot platform
(``/bot-platform-manager-0.1/...``). Envelopes, field names and epoch-millisecond times
follow reference/liveperson-api.md.

Start and stop (``PUT .../start|stop/{botId}``) act on the connector their body names:
``{"lpAccountId": ..., "lpAccountUser": ...}``. An unknown bot is a 404; a missing or
non-JSON body, a wrong account, or a bot user that is not one of the bot's connectors is a
400 with the envelope ``{"success": false, "message": ..., "errorCode": "400"}``: the bot
exists, the request is wrong (as LivePerson answers a bad request). ``status-v2/{botId}``
answers ``{"statusList": [...]}`` with every connector of the bot.
"""

from __future__ import annotations

import secrets
import time

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatops.sandbox.jsontypes import JSONDict
from chatops.sandbox.liveperson.accounts import CBSession, Sessions
from chatops.sandbox.liveperson.faults import REASONS
from chatops.sandbox.liveperson.fleet import Fleet
from chatops.sandbox.liveperson.model import (
    MAX_PAGE_SIZE,
    MONITORING,
    PLATFORM,
    SESSION_TTL_MS,
    Bot,
    Listing,
    Refused,
)

_CSDS_SERVICES = {
    "agentVep": "{region}.agentvep.liveperson.net",
    "leDataReporting": "{region}.data.liveperson.net",
    "accountConfigReadOnly": "{region}.ac.liveperson.net",
    "msgHist": "{region}.msghist.liveperson.net",
    "asyncMessagingEnt": "{region}.msg.liveperson.net",
    "sentinel": "{region}.sentinel.liveperson.net",
    "botConnectorsDomain": "bot-platform-api.fs.liveperson.com",
}


async def json_body(request: Request) -> JSONDict | None:
    """The request's JSON object, or None when the body is not one."""
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def envelope_error(status: int, message: str, code: str | None = None) -> JSONResponse:
    """Conversation Builder's error envelope."""
    return JSONResponse(
        {"success": False, "message": message, "errorCode": code or str(status)}, status
    )


async def http_exception(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return envelope_error(status, REASONS.get(status, "Error"))


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
        return envelope_error(400, "page and size must be numbers")
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


class LivePersonApi:
    """The routes LivePerson serves, answering from ``fleet`` and ``sessions``."""

    def __init__(self, fleet: Fleet, sessions: Sessions, *, region: str) -> None:
        self.fleet = fleet
        self.sessions = sessions
        self.region = region

    def routes(self) -> list[Route]:
        return [
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
        ]

    @property
    def _account_id(self) -> str:
        return self.sessions.credentials.account_id

    # CSDS -------------------------------------------------------------------

    def base_uris(self, only: str | None) -> list[JSONDict]:
        return [
            {
                "service": name,
                "account": self._account_id,
                "baseURI": host.format(region=self.region),
            }
            for name, host in _CSDS_SERVICES.items()
            if only is None or name == only
        ]

    async def _csds_all(self, request: Request) -> Response:
        if request.path_params["account"] != self._account_id:
            return _csds_unknown_account(request.path_params["account"])
        return JSONResponse({"baseURIs": self.base_uris(None)})

    async def _csds_one(self, request: Request) -> Response:
        if request.path_params["account"] != self._account_id:
            return _csds_unknown_account(request.path_params["account"])
        return JSONResponse({"baseURIs": self.base_uris(request.path_params["service"])})

    # Login Service ----------------------------------------------------------

    async def _login(self, request: Request) -> Response:
        if request.path_params["account"] != self._account_id:
            return _login_error(400, "Account not found", internal_code=5)
        body = await json_body(request)
        if body is None:
            return _login_error(400, "Request body is not valid JSON", internal_code=2)
        by_password, by_app_key = self.sessions.credentials.accepts(body)
        if not (by_password or by_app_key):
            return _login_error(401, "Invalid username or password", internal_code=1)
        session = self.sessions.login()
        payload = {
            "csrf": session.csrf,
            "wsuk": secrets.token_hex(8),
            "config": {
                "userId": session.user_id,
                "loginName": session.username,
                "userTypeId": 2 if by_app_key else 1,
                "userPrivileges": [1, 2, 14, 25, 1531],
                "serverCurrentTime": int(self.sessions.clock() * 1000),
                "timeDiff": 0,
                "isLPA": False,
            },
            "csdsCollectionResponse": {"baseURIs": self.base_uris(None)},
            "accountData": {"agentGroupsData": {"items": [], "revision": 1}},
            "sessionTTl": str(SESSION_TTL_MS),
            "bearer": session.bearer,
        }
        response = JSONResponse(payload)
        response.set_cookie("Session_id", session.session_id, httponly=True, secure=False)
        return response

    async def _refresh(self, request: Request) -> Response:
        body = await json_body(request) or {}
        session = self.sessions.refresh(body.get("csrf"), request.cookies.get("Session_id"))
        if session is None:
            return _login_error(401, "Invalid csrf or session", internal_code=10)
        return JSONResponse({"csrf": session.csrf, "sessionTTl": str(SESSION_TTL_MS)})

    # Conversation Builder SSO ----------------------------------------------------

    async def _sso(self, request: Request) -> Response:
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        session = self.sessions.exchange(bearer) if scheme.lower() == "bearer" else None
        if session is None:
            return envelope_error(401, "Invalid or expired LivePerson bearer", "0001")
        organization_id = self.fleet.organization_id
        return JSONResponse(
            {
                "success": True,
                "message": "Authentication successful",
                "successResult": {
                    "apiAccessToken": session.api_token,
                    "apiAccessPermToken": session.perm_token,
                    "sessionOrganizationId": organization_id,
                    "leAccountId": self._account_id,
                    "leUserId": session.user_id,
                    "cbRegion": self.region,
                    "privileges": ["BOT_STATUS_ACCESS", "CONVERSATION_BUILDER"],
                    "chatBotPlatformUser": {
                        "userId": session.user_id,
                        "name": session.username,
                        "email": f"{session.username}@sandbox.invalid",
                        "organizationId": organization_id,
                    },
                },
            }
        )

    def _cb_session(self, request: Request) -> CBSession | None:
        """The caller's CB session: ``Authorization: <apiAccessToken>`` (no Bearer)."""
        session = self.sessions.cb_session(request.headers.get("authorization", ""))
        if session is None or request.headers.get("organizationid") != self.fleet.organization_id:
            return None
        return session

    # Bots status ---------------------------------------------------------------

    async def _status_list(self, request: Request) -> Response:
        if self._cb_session(request) is None:
            return envelope_error(401, "Unauthorized")
        environment = request.query_params.get("environment", "PRODUCTION").upper()

        def listed(bot: Bot, listing: Listing) -> bool:
            return not bot.pcs and listing.connector.fields.get("environment") == environment

        body = self.fleet.status_list(f"status:{environment}", listed)
        return Response(body, media_type="application/json")

    async def _pcs_status_list(self, request: Request) -> Response:
        if self._cb_session(request) is None:
            return envelope_error(401, "Unauthorized")
        body = self.fleet.status_list("pcs", lambda bot, _: bot.pcs)
        return Response(body, media_type="application/json")

    async def _status_one(self, request: Request) -> Response:
        if self._cb_session(request) is None:
            return envelope_error(401, "Unauthorized")
        try:
            entries = self.fleet.bot_entries(request.path_params["bot_id"])
        except Refused as refused:
            return envelope_error(refused.status, refused.message)
        return JSONResponse({"statusList": entries})

    async def _start(self, request: Request) -> Response:
        return await self._operate(request, "START")

    async def _stop(self, request: Request) -> Response:
        return await self._operate(request, "STOP")

    async def _operate(self, request: Request, operation: str) -> Response:
        session = self._cb_session(request)
        if session is None:
            return envelope_error(401, "Unauthorized")
        body = await json_body(request)
        try:
            result = self.fleet.operate(
                request.path_params["bot_id"],
                body,
                operation,
                (session.user_id, session.username),
            )
        except Refused as refused:
            return envelope_error(refused.status, refused.message)
        return JSONResponse(
            {"success": True, "message": f"{operation} accepted", "successResult": result}
        )

    # Bot platform ---------------------------------------------------------------

    async def _bot_groups(self, request: Request) -> Response:
        if self._cb_session(request) is None:
            return envelope_error(401, "Unauthorized")
        return _page(request, self.fleet.groups())

    async def _group_bots(self, request: Request) -> Response:
        if self._cb_session(request) is None:
            return envelope_error(401, "Unauthorized")
        try:
            records = self.fleet.group_bots(request.query_params.get("bot-group-id"))
        except Refused as refused:
            return envelope_error(refused.status, refused.message)
        return _page(request, records)

    async def _bot_agents(self, request: Request) -> Response:
        if self._cb_session(request) is None:
            return envelope_error(401, "Unauthorized")
        bot_id = request.query_params.get("chatBotId", "")
        try:
            agents = self.fleet.agents(bot_id)
        except Refused as refused:
            return envelope_error(refused.status, refused.message)
        return JSONResponse(
            {
                "success": True,
                "successResult": {"chatBotId": bot_id, "status": "ACTIVE", "agents": agents},
            }
        )
