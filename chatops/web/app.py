"""The ASGI app: Slack's single request path plus the operations endpoints.

``/slack/events`` exists in HTTP mode only: in Socket Mode Slack's requests arrive over the
WebSocket, so the path is not served at all (404) rather than verified with no secret.

``/healthz``: the process answers (liveness). ``/readyz``: 200 when every readiness check
passes, else 503; the JSON body names each check with ``ok`` and a one-line ``detail``
(never a credential). ``/metrics``: Prometheus text format; each scrape runs the readiness
checks first, so ``chatops_ready`` and ``chatops_readiness_check`` are what ``/readyz``
would answer at that moment (the checks are cheap: two small queries, Slack's answer
cached).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from slack_bolt.adapter.starlette.async_handler import (
    to_async_bolt_request,
    to_starlette_response,
)
from slack_bolt.async_app import AsyncApp, AsyncBoltContext, AsyncBoltRequest
from slack_bolt.request.async_internals import build_async_context
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from chatops.logs import RequestContextMiddleware
from chatops.metrics import CONTENT_TYPE_LATEST, Metrics

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[tuple[bool, str]]]


@dataclass
class WebParts:
    """What the ASGI app serves; built by chatops.runtime."""

    # None in Socket Mode: no /slack/events.
    bolt: AsyncApp | None
    metrics: Metrics
    readiness: Sequence[tuple[str, ReadinessCheck]] = ()
    lifespan: Callable[[], AbstractAsyncContextManager[None]] | None = None
    extra_routes: list[BaseRoute] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)


FORM = "application/x-www-form-urlencoded"


def read_form(request: AsyncBoltRequest) -> AsyncBoltRequest:
    """Reads a form body (a slash command) whole when Bolt did not.

    Bolt takes any form body with ``payload`` anywhere in it for an interaction and looks for
    a ``payload`` field only: ``/botstatus payload`` (or a channel, a user name, any text with
    that word) reached the app as an empty body, and Slack showed an empty reply. A form body
    without a ``payload`` field is read as its fields, as Bolt reads one without the word.
    """
    if request.body or request.content_type != FORM:
        return request
    fields = dict(parse_qsl(request.raw_body, keep_blank_values=True))
    if fields and "payload" not in fields:
        request.body = fields
        request.context = build_async_context(AsyncBoltContext(), fields)
    return request


def create_web_app(parts: WebParts) -> Starlette:
    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def run_check(name: str, check: ReadinessCheck) -> tuple[bool, str]:
        try:
            return await check()
        except Exception as exc:  # a readiness probe must answer, whatever broke
            log.warning("readiness check %s raised: %s", name, exc)
            return False, f"check failed: {type(exc).__name__}"

    async def readiness() -> tuple[bool, dict[str, dict[str, bool | str]]]:
        # Side by side: the probe takes as long as the slowest check, not their sum.
        outcomes = await asyncio.gather(
            *(run_check(name, check) for name, check in parts.readiness)
        )
        results: dict[str, dict[str, bool | str]] = {}
        for (name, _), (ok, detail) in zip(parts.readiness, outcomes, strict=True):
            results[name] = {"ok": ok, "detail": detail}
            parts.metrics.readiness_check.labels(name).set(1 if ok else 0)
        ready = all(ok for ok, _ in outcomes)
        parts.metrics.ready.set(1 if ready else 0)
        return ready, results

    async def readyz(_: Request) -> Response:
        ready, results = await readiness()
        return JSONResponse({"ready": ready, "checks": results}, status_code=200 if ready else 503)

    async def metrics(_: Request) -> Response:
        # chatops_ready says what /readyz answers now, whether or not anything probes it.
        await readiness()
        return Response(parts.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    routes: list[BaseRoute] = []
    bolt = parts.bolt
    if bolt is not None:

        async def slack_events(request: Request) -> Response:
            # What AsyncSlackRequestHandler does for a POST, with the form read whole.
            received = to_async_bolt_request(request, await request.body())
            return to_starlette_response(await bolt.async_dispatch(read_form(received)))

        routes.append(Route("/slack/events", slack_events, methods=["POST"]))
    routes += [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *parts.extra_routes,
        *parts.mounts,
    ]

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if parts.lifespan is None:
            yield
            return
        async with parts.lifespan():
            yield

    return Starlette(
        routes=routes, lifespan=lifespan, middleware=[Middleware(RequestContextMiddleware)]
    )
