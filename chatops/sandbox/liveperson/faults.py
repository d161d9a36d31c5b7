"""Faults and the request log: ASGI middleware in front of the fake's LivePerson APIs.

A queued fault hits the next matching API request (by a substring of its path and query):
latency, an HTTP status (with Retry-After), malformed JSON, an nginx HTML page, a field
missing from the answer, an Agent Metrics answer gone wrong (``AGENT_RECORD_FAULTS``), or a
connection dropped mid-response. Every API request is
recorded with its answer's status (0: none); the control API (``/_sandbox``) is neither
faulted nor recorded.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatops.sandbox.jsontypes import JSONDict
from chatops.sandbox.liveperson.model import CONTROL

FAULT_KINDS = ("latency", "status", "malformed", "html", "missing_field", "reset", "agent_records")
# What an ``agent_records`` fault does to an Agent Metrics answer (its ``field``): list an
# agent nobody asked for under a listed agent's login name, list every record twice (the
# second with other counts), send counts no agent can have, point ``next`` at the page
# itself, or point it past the last page, again and again.
AGENT_RECORD_FAULTS = ("foreign", "duplicate", "counts", "next_self", "next_forever")
# The counts of a ``counts`` fault, in turn: negative, past any integer column, not finite.
HOSTILE_COUNTS: tuple[object, ...] = (-5, 10**20, 1e300, "99999999999999999999", float("inf"))

REASONS = {
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

_HTML_ERROR_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass
class Fault:
    kind: str
    seconds: float = 0.0
    status: int | None = None
    retry_after: int | None = None
    times: int = 1
    path: str | None = None
    field: str = "nodeStatus"

    def as_json(self) -> JSONDict:
        return asdict(self)


@dataclass
class RequestRecord:
    method: str
    path: str
    query: str
    status: int
    time: float
    # The JSON body of a PUT (start and stop name their connector there); None otherwise.
    body: Any = None
    # Requests to the same path being answered when this one arrived, this one included.
    in_flight: int = 1

    def as_json(self) -> JSONDict:
        return asdict(self)


class Faults:
    """The queue of faults and the log of requests; thread-safe."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._requests: deque[RequestRecord] = deque(maxlen=10_000)
        self._in_flight: dict[str, int] = {}

    def add(self, fault: Fault) -> None:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; kinds: {', '.join(FAULT_KINDS)}")
        if fault.kind == "agent_records" and fault.field not in AGENT_RECORD_FAULTS:
            raise ValueError(
                f"unknown agent_records fault {fault.field!r}; "
                f"fields: {', '.join(AGENT_RECORD_FAULTS)}"
            )
        if fault.times == 0 or fault.times < -1:
            raise ValueError("times must be a positive count, or -1 for until cleared")
        if fault.status is not None and not 100 <= fault.status <= 599:
            raise ValueError(f"not an HTTP status: {fault.status}")
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def queued(self) -> list[JSONDict]:
        with self._lock:
            return [fault.as_json() for fault in self._faults]

    def take(self, target: str) -> Fault | None:
        """The first fault matching ``target`` (path?query), counted down."""
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

    def record(
        self,
        method: str,
        path: str,
        query: str,
        status: int,
        body: Any = None,
        in_flight: int = 1,
    ) -> None:
        with self._lock:
            self._requests.append(
                RequestRecord(method, path, query, status, self.clock(), body, in_flight)
            )

    def arrived(self, path: str) -> int:
        """Count a request to ``path`` in; how many to it are in flight now, this one too."""
        with self._lock:
            count = self._in_flight.get(path, 0) + 1
            self._in_flight[path] = count
            return count

    def answered(self, path: str) -> None:
        with self._lock:
            self._in_flight[path] -= 1

    def requests(self) -> list[JSONDict]:
        with self._lock:
            return [record.as_json() for record in self._requests]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()


def route_path(scope: Scope) -> str:
    """The path inside this app, also when it is mounted under a prefix (the demo)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


class FaultsAndLog:
    """ASGI middleware: records API requests and injects the queued faults into them."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        if path.startswith(CONTROL):
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        recorded = False
        # PUT bodies (start, stop) are kept with the request: they name the connector.
        chunks: list[bytes] = []

        async def reading_receive() -> Message:
            message = await receive()
            if scope["method"] == "PUT" and message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        def body() -> Any:
            try:
                return json.loads(b"".join(chunks)) if chunks else None
            except ValueError:
                return None

        async def recording_send(message: Message) -> None:
            nonlocal recorded
            # Record before the answer leaves, so a client that has its answer always
            # finds its request in /_sandbox/requests.
            if message["type"] == "http.response.start" and not recorded:
                recorded = True
                self.faults.record(
                    scope["method"], path, query, int(message["status"]), body(), in_flight
                )
            await send(message)

        in_flight = self.faults.arrived(path)
        fault = self.faults.take(f"{path}?{query}" if query else path)
        try:
            if fault is None:
                await self.app(scope, reading_receive, recording_send)
            else:
                await self._inject(fault, scope, reading_receive, recording_send)
        finally:
            self.faults.answered(path)
            if not recorded:  # no answer at all (status 0)
                self.faults.record(scope["method"], path, query, 0, body(), in_flight)

    async def _inject(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
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
            reason = REASONS.get(status, "Error")
            response = JSONResponse(
                {"success": False, "message": reason, "errorCode": str(status)}, status, headers
            )
            await response(scope, receive, send)
        elif fault.kind == "html":
            status = fault.status or 502
            page = _HTML_ERROR_PAGE.format(status=status, reason=REASONS.get(status, "Error"))
            await Response(page, status, media_type="text/html")(scope, receive, send)
        elif fault.kind == "malformed":
            # Cut off mid-way, as a proxy that dropped the end of the body would.
            body = b'{"statusList":[{"botId":"9cef0c4e-1f0d-4a8e-b2a1-'
            await Response(body, fault.status or 200, media_type="application/json")(
                scope, receive, send
            )
        elif fault.kind == "missing_field":
            await self._rewritten(partial(_without_field, fault.field), scope, receive, send)
        elif fault.kind == "agent_records":
            await self._rewritten(partial(_agent_records, fault.field), scope, receive, send)
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

    async def _rewritten(
        self, change: Callable[[Any], None], scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Serve the real response as ``change`` alters its JSON in place."""
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
            change(data)
            body = json.dumps(data, separators=(",", ":")).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send(
            {"type": "http.response.start", "status": start.get("status", 200), "headers": headers}
        )
        await send({"type": "http.response.body", "body": body})


def _without_field(name: str, data: JSONDict) -> None:
    """``name`` removed from the first status-list entry (or from the top level when the
    response has no such entry or ``name`` is statusList)."""
    entries = data.get("statusList")
    if name != "statusList" and isinstance(entries, list) and entries:
        if isinstance(entries[0], dict):
            entries[0].pop(name, None)
    else:
        data.pop(name, None)


def _agent_records(how: str, data: JSONDict) -> None:
    """An Agent Metrics answer gone wrong (``AGENT_RECORD_FAULTS``)."""
    records = data.get("agentStatusRecords")
    metadata = data.get("_metadata")
    if not isinstance(records, list) or not isinstance(metadata, dict):
        return
    if how == "foreign":
        records[:] = [
            record
            for listed in records
            for record in (listed, {**listed, "agentId": f"foreign-{listed['agentId']}"})
        ]
        for record in records[1::2]:
            record["openAssignedConversations"] = 998
    elif how == "duplicate":
        records[:] = [
            *records,
            *({**record, "openAssignedConversations": 997} for record in records),
        ]
    elif how == "counts":
        for n, record in enumerate(records):
            count = HOSTILE_COUNTS[n % len(HOSTILE_COUNTS)]
            record["openAssignedConversations"] = count
            record["load"] = count
    elif how == "next_self":
        metadata["next"] = {**metadata["self"], "rel": "next"}
    elif how == "next_forever":
        href = str(metadata["self"]["href"])
        query = parse_qs(urlsplit(href).query)
        at = int(query["offset"][0]) + int(query["limit"][0])
        following = (
            f"{href.partition('?')[0]}?{urlencode({'limit': query['limit'][0], 'offset': at})}"
        )
        metadata["next"] = {"rel": "next", "href": following}
