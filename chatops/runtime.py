"""Wires one replica together: store, source, Slack app, poller, alerts, scheduler, web app.

``Runtime`` is what ``chatops serve`` and ``chatops demo`` run; tests build it too, pointed
at the sandbox fakes, so the code under test is the code in production.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from chatops.alerts.service import AlertService
from chatops.config import Settings
from chatops.logs import log_context, new_id
from chatops.metrics import Metrics
from chatops.monitor.poll import Poller, PollResult, leader_gate_for
from chatops.monitor.scheduler import build_scheduler
from chatops.permissions import PermissionResolver
from chatops.slack.app import SlackServices, create_app
from chatops.slack.control import ConnectorControl
from chatops.slack.home import refresh_open_views
from chatops.slack.views import Views
from chatops.sources.base import StatusSource
from chatops.store import repo
from chatops.store.engine import SessionFactory, make_engine, make_session_factory
from chatops.store.migrate import prepare_database
from chatops.store.models import utcnow
from chatops.web.app import WebParts, create_web_app

log = logging.getLogger(__name__)


def slack_client(token: str, base_url: str) -> AsyncWebClient:
    """The Web API client with Slack's 429 (Retry-After), 5xx and connection retries on."""
    return AsyncWebClient(
        token=token,
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        timeout=15,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    metrics: Metrics
    source: StatusSource
    client: AsyncWebClient
    services: SlackServices
    poller: Poller
    clock: Callable[[], datetime] = utcnow
    alerts: AlertService | None = None
    scheduler: AsyncIOScheduler | None = None
    _bolt: AsyncApp | None = None
    _background: list[asyncio.Task[None]] = field(default_factory=list)

    async def poll(self) -> PollResult | None:
        with log_context(poll_id=new_id()):
            return await self._poll()

    async def _poll(self) -> PollResult | None:
        result = await self.poller.tick()
        if result is None:
            self.metrics.leader.set(0)
            return None
        self.metrics.leader.set(1)
        outcome = "ok" if result.ok else "failed"
        self.metrics.polls.labels(outcome).inc()
        self.metrics.poll_duration.labels(outcome).observe(result.duration)
        if result.ok:
            self.metrics.last_successful_poll.set(self.clock().timestamp())
            for change in result.changes:
                for transition in change.transitions:
                    self.metrics.transitions.labels(transition.dimension.value).inc()
            async with self.sessions() as session:
                for health, count in (await repo.count_by_health(session)).items():
                    self.metrics.bots.labels(health.value).set(count)
            if result.changes or result.added or result.removed:
                await refresh_open_views(self.services, self.client)
        return result

    async def start(self) -> None:
        await prepare_database(self.settings.secrets.database_url)
        self.scheduler = build_scheduler([("poll", self.poll, self.settings.app.poll.interval)])
        self.scheduler.start()
        if self.alerts is not None:
            relay = asyncio.get_running_loop().create_task(
                self.alerts.run_relay_forever(), name="alert-relay"
            )
            self._background.append(relay)

    async def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.alerts is not None:
            await self.alerts.aclose()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background.clear()
        await self.services.aclose()
        await self.source.aclose()
        await self.engine.dispose()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        await self.start()
        socket_mode = None
        try:
            if self.settings.secrets.slack_app_token is not None:
                socket_mode = await self._connect_socket_mode()
            yield
        finally:
            if socket_mode is not None:
                await socket_mode.close_async()  # type: ignore[no-untyped-call]
            await self.stop()

    async def _connect_socket_mode(self) -> AsyncSocketModeHandler:
        """Socket Mode: Slack's requests arrive over a WebSocket instead of /slack/events.

        The HTTP server still runs, for /healthz, /readyz and /metrics (and SIGTERM).
        """
        token = self.settings.secrets.slack_app_token
        assert token is not None
        handler = AsyncSocketModeHandler(self.bolt, token.get_secret_value())
        await handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("connected to Slack in Socket Mode")
        return handler

    async def readiness_database(self) -> tuple[bool, str]:
        async with self.sessions() as session:
            last = await repo.last_successful_poll(session)
        return True, "reachable" if last else "reachable (no successful poll yet)"

    async def readiness_polls(self) -> tuple[bool, str]:
        interval = self.settings.app.poll.interval
        async with self.sessions() as session:
            last = await repo.last_successful_poll(session)
        if last is None:
            return False, "no successful poll yet"
        age = self.clock() - (last.finished_at or last.started_at)
        if age > 3 * interval:
            return False, f"last successful poll {int(age.total_seconds())}s ago"
        return True, f"last successful poll {int(age.total_seconds())}s ago"

    @property
    def bolt(self) -> AsyncApp:
        if self._bolt is None:
            secrets = self.settings.secrets
            # Socket Mode requests carry no signature (Slack authenticates the WebSocket);
            # Bolt skips verification for them, so the secret is needed in HTTP mode only.
            signing_secret = (
                secrets.slack_signing_secret.get_secret_value()
                if secrets.slack_signing_secret is not None
                else ""
            )
            self._bolt = create_app(
                self.services, client=self.client, signing_secret=signing_secret
            )
        return self._bolt

    def web_app(self) -> Starlette:
        parts = WebParts(
            bolt=self.bolt,
            metrics=self.metrics,
            readiness=[
                ("database", self.readiness_database),
                ("polls", self.readiness_polls),
            ],
            lifespan=self.running,
        )
        return create_web_app(parts)


def _secret(value: object) -> str:
    from pydantic import SecretStr

    if isinstance(value, SecretStr):
        return value.get_secret_value()
    raise ValueError("missing secret")


def build_runtime(
    settings: Settings,
    *,
    source: StatusSource | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Runtime:
    secrets = settings.secrets
    if source is None:
        from chatops.sources.liveperson import LivePersonSource

        source = LivePersonSource.from_settings(settings)
    engine = make_engine(secrets.database_url)
    sessions = make_session_factory(engine)
    metrics = Metrics()
    client = slack_client(_secret(secrets.slack_bot_token), secrets.slack_api_url)
    permissions = PermissionResolver(
        settings.app.permissions, client, contact=settings.app.permissions_contact
    )
    views = Views(sessions, stale_after=3 * settings.app.poll.interval, clock=clock)
    control = ConnectorControl(source, sessions, permissions, metrics, clock=clock)
    services = SlackServices(
        sessions=sessions,
        permissions=permissions,
        control=control,
        views=views,
        metrics=metrics,
        clock=clock,
    )
    alerts = AlertService(
        sessions,
        metrics,
        alerts=settings.app.alerts,
        poll=settings.app.poll,
        # The relay's own client has no retry handlers on purpose: it schedules retries
        # itself (Retry-After, backoff) instead of sleeping while it holds a claimed row.
        slack_token=_secret(secrets.slack_bot_token),
        slack_api_url=secrets.slack_api_url,
        clock=clock,
    )
    services.mutes = alerts.mute_service()
    poller = Poller(
        source,
        sessions,
        clock=clock,
        in_transaction=[alerts.in_transaction_hook],
        on_commit=[alerts.on_commit],
        leader=leader_gate_for(engine.dialect.name, interval=settings.app.poll.interval),
    )
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        metrics=metrics,
        source=source,
        client=client,
        services=services,
        poller=poller,
        clock=clock,
        alerts=alerts,
    )
