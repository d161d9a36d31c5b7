"""``/_sandbox/...``: the fake's control API for tests, the demo and people.

No authentication; chatops's production code never calls it. Errors are ``{"error": ...}``
with 400 (bad input) or 404 (no such bot or connector).

| route | does |
|---|---|
| ``GET /_sandbox/bots`` | every status-list entry, in a stable order |
| ``GET /_sandbox/bots/{botId}/connectors`` | the bot's connectors: all fields, starts, stops |
| ``PATCH /_sandbox/bots/{botId}`` | set fields on every connector of the bot |
| ``PATCH /_sandbox/bots/{botId}/connectors/{lpAccountUser}`` | set fields on one connector |
| ``POST|DELETE /_sandbox/flap`` | ``{botId, field, values, lpAccountUser?}``: a flapping status |
| ``GET|POST|DELETE /_sandbox/faults`` | queue faults (see faults.py) |
| ``POST /_sandbox/expire-tokens`` | every session ends |
| ``GET|POST /_sandbox/fleet`` | ``{bots|connectors, seed, messy, duplicates}``: rebuild |
| ``GET|DELETE /_sandbox/requests`` | the API requests seen, each with ``in_flight`` |
| ``GET /_sandbox/credentials`` | what to log in with |
| ``POST /_sandbox/conversations`` | ``{lpAccountUser, count}``: pin open conversations |
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatops.sandbox.jsontypes import JSONDict
from chatops.sandbox.liveperson.accounts import Sessions
from chatops.sandbox.liveperson.api import json_body
from chatops.sandbox.liveperson.faults import Fault, Faults
from chatops.sandbox.liveperson.fleet import Fleet
from chatops.sandbox.liveperson.model import CONTROL


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)


def _not_found(exc: KeyError) -> JSONResponse:
    return _error(404, str(exc.args[0]) if exc.args else "not found")


def _optional_int(body: JSONDict, key: str) -> int | None:
    value = body.get(key)
    return None if value is None else int(value)


def _optional_bool(body: JSONDict, key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false")
    return value


class ControlApi:
    """The control routes over the fake's fleet, faults and sessions."""

    def __init__(self, fleet: Fleet, faults: Faults, sessions: Sessions) -> None:
        self.fleet = fleet
        self.faults = faults
        self.sessions = sessions

    def routes(self) -> list[Route]:
        bot = f"{CONTROL}/bots/{{bot_id}}"
        return [
            Route(f"{CONTROL}/bots", self._bots, methods=["GET"]),
            Route(bot, self._patch_bot, methods=["PATCH"]),
            Route(f"{bot}/connectors", self._connectors, methods=["GET"]),
            Route(f"{bot}/connectors/{{user}}", self._patch_connector, methods=["PATCH"]),
            Route(f"{CONTROL}/faults", self._faults, methods=["GET", "POST", "DELETE"]),
            Route(f"{CONTROL}/flap", self._flap, methods=["POST", "DELETE"]),
            Route(f"{CONTROL}/expire-tokens", self._expire, methods=["POST"]),
            Route(f"{CONTROL}/fleet", self._fleet, methods=["GET", "POST"]),
            Route(f"{CONTROL}/requests", self._requests, methods=["GET", "DELETE"]),
            Route(f"{CONTROL}/credentials", self._credentials, methods=["GET"]),
        ]

    async def _bots(self, request: Request) -> Response:
        return JSONResponse(self.fleet.entries())

    async def _connectors(self, request: Request) -> Response:
        try:
            return JSONResponse(self.fleet.connectors(request.path_params["bot_id"]))
        except KeyError as exc:
            return _not_found(exc)

    async def _patch_bot(self, request: Request) -> Response:
        return await self._patch(request, None)

    async def _patch_connector(self, request: Request) -> Response:
        return await self._patch(request, request.path_params["user"])

    async def _patch(self, request: Request, user: str | None) -> Response:
        body = await json_body(request)
        if body is None:
            return _error(400, "the body must be a JSON object")
        bot_id = request.path_params["bot_id"]
        try:
            self.fleet.set_fields(bot_id, user, **body)
            connectors = self.fleet.connectors(bot_id)
        except KeyError as exc:
            return _not_found(exc)
        except ValueError as exc:
            return _error(400, str(exc))
        if user is None:
            return JSONResponse(connectors)
        return JSONResponse(next(c for c in connectors if c["lpAccountUser"] == user))

    async def _faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.clear()
            return JSONResponse({"faults": []})
        if request.method == "POST":
            body = await json_body(request)
            if body is None:
                return _error(400, "the body must be a JSON object")
            try:
                self.faults.add(
                    Fault(
                        str(body.get("kind")),
                        seconds=float(body.get("seconds", 0.0)),
                        status=_optional_int(body, "status"),
                        retry_after=_optional_int(body, "retry_after"),
                        times=int(body.get("times", 1)),
                        path=body.get("path") or None,
                        field=str(body.get("field", "nodeStatus")),
                    )
                )
            except (TypeError, ValueError) as exc:
                return _error(400, str(exc))
        return JSONResponse({"faults": self.faults.queued()})

    async def _flap(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.fleet.clear_flaps()
            return JSONResponse({"flaps": []})
        body = await json_body(request)
        if body is None:
            return _error(400, "the body must be a JSON object")
        values = body.get("values")
        if not isinstance(values, list):
            return _error(400, "values must be a list of strings")
        user = body.get("lpAccountUser")
        try:
            self.fleet.flap(
                str(body.get("botId")),
                str(body.get("field", "cbSocketStatus")),
                [str(v) for v in values],
                None if user is None else str(user),
            )
        except KeyError as exc:
            return _not_found(exc)
        except ValueError as exc:
            return _error(400, str(exc))
        flapping: dict[str, Any] = {"flapping": body.get("botId")}
        if user is not None:
            flapping["lpAccountUser"] = user
        return JSONResponse(flapping)

    async def _expire(self, request: Request) -> Response:
        self.sessions.expire()
        return JSONResponse({"expired": True})

    async def _fleet(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(self.fleet.describe())
        body = await json_body(request) or {}
        try:
            self.fleet.rebuild(
                bots=_optional_int(body, "bots"),
                connectors=_optional_int(body, "connectors"),
                seed=_optional_int(body, "seed"),
                messy=_optional_bool(body, "messy"),
                duplicates=_optional_bool(body, "duplicates"),
            )
        except (TypeError, ValueError) as exc:
            return _error(400, str(exc))
        return JSONResponse(self.fleet.describe())

    async def _requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.clear_requests()
            return JSONResponse([])
        return JSONResponse(self.faults.requests())

    async def _credentials(self, request: Request) -> Response:
        return JSONResponse(self.sessions.credentials.as_json())
