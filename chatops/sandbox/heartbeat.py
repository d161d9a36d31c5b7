"""A fake push monitor in the manner of healthchecks.io, for the demo: it records the pings of
chatops' heartbeat.

- ``GET|POST|HEAD /{check}``: a success ping of ``check``; ``/{check}/fail``: a failure ping.
  Both answer ``200 OK`` as healthchecks.io does.
- ``GET /_sandbox/pings``: ``[{check, ping, at}]``, oldest first (the last 100).

Nothing here imports from the rest of chatops.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

KEPT = 100


class HeartbeatReceiver:
    def __init__(self) -> None:
        self._pings: deque[dict[str, Any]] = deque(maxlen=KEPT)
        self._counts = {"success": 0, "fail": 0}
        self._lock = threading.Lock()
        methods = ["GET", "POST", "HEAD"]
        self.app = Starlette(
            routes=[
                Route("/_sandbox/pings", self._list, methods=["GET"]),
                Route("/{check}/fail", self._fail, methods=methods),
                Route("/{check}", self._success, methods=methods),
            ]
        )

    def pings(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._pings)

    def summary(self) -> dict[str, Any]:
        """``{success, fail, last}``: counts of each ping and the last one (None before any)."""
        with self._lock:
            last = self._pings[-1] if self._pings else None
            return {**self._counts, "last": last}

    def _record(self, check: str, ping: str) -> Response:
        with self._lock:
            self._pings.append({"check": check, "ping": ping, "at": time.time()})
            self._counts[ping] += 1
        return PlainTextResponse("OK")

    async def _success(self, request: Request) -> Response:
        return self._record(request.path_params["check"], "success")

    async def _fail(self, request: Request) -> Response:
        return self._record(request.path_params["check"], "fail")

    async def _list(self, _: Request) -> Response:
        return JSONResponse(self.pings())
