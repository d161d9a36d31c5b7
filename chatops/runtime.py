"""Wires one replica together: store, source, Slack app, poller, alerts, scheduler, web app.

``Runtime`` is what ``chatops serve`` and ``chatops demo`` run; tests build it too, pointed
at the sandbox fakes, so the code under test is the code in production.

Several replicas (ARCHITECTURE.md section 5): every replica serves HTTP and ticks; the one
holding the poller lease (chatops.monitor.poll) polls and relays alerts, the others answer
commands and buttons from the shared database. ``chatops_leader`` says which one leads, at
scrape time. A clean shutdown gives the lease up so that another replica takes over at its
next tick; a killed leader is replaced within one lease period plus one interval.

Readiness (``/readyz``) is ``chatops.web.readiness``. After each scheduled tick the
post-poll work (the fleet gauges, the App Home of those who have it open) runs as hooks
outside the poll job, so a slow Slack never delays the next poll.

Watching the watcher: with ``heartbeat:`` in the config the leader pings a push monitor after
each tick (chatops.monitor.heartbeat), off the tick's path; a good poll while the alert relay
is down pings as a failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from chatops.alerts.service import AlertService
from chatops.collector import Collector
from chatops.config import ConfigError, Settings
from chatops.logs import log_context, new_id
from chatops.loopwatch import watch_loop
from chatops.metrics import Metrics
from chatops.monitor.heartbeat import Heartbeat
from chatops.monitor.poll import (
    InTransaction,
    Poller,
    PollResult,
    StoreUnavailable,
)
from chatops.monitor.scheduler import build_scheduler
from chatops.permissions import PermissionResolver
from chatops.slack.app import SLACK_ACK_TIMEOUT, create_app
from chatops.slack.client import slack_client
from chatops.slack.control import ConnectorControl
from chatops.slack.home import refresh_open_views
from chatops.slack.services import SlackServices
from chatops.slack.views import Views
from chatops.sources.base import AgentMetricsReader, StatusSource
from chatops.sources.liveperson import LivePersonSource
from chatops.store.bots import count_by_health
from chatops.store.engine import (
    SessionFactory,
    describe_database_error,
    is_database_unavailable,
    make_engine,
    make_session_factory,
)
from chatops.store.leases import LeaderGate, leader_gate_for
from chatops.store.migrate import prepare_database
from chatops.store.models import utcnow
from chatops.store.polls import last_success
from chatops.web.app import WebParts, create_web_app
from chatops.web.readiness import Check, Readiness, SlackAuthCheck

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

PostPollHook = Callable[[PollResult | None], Awaitable[None]]

log = logging.getLogger(__name__)

# How long a clean shutdown waits to give the lease up (a running tick holds it).
RELEASE_TIMEOUT = 3.0


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
    heartbeat: Heartbeat | None = None
    # Seconds a listener has to ack before Bolt gives up on the request (Slack's deadline);
    # set before the app is first used.
    slack_ack_timeout: int = SLACK_ACK_TIMEOUT
    # Set by ``chatops serve``, which migrates (SQLite) or checks (PostgreSQL) the schema
    # itself before binding its port: ``start`` then does not do it a second time.
    database_prepared: bool = False

    def __post_init__(self) -> None:
        # Read at scrape time: a leader whose lease ran out (a stalled process, a database
        # gone) stops saying 1 without waiting for its next tick.
        self.metrics.leader.set_function(lambda: 1.0 if self.poller.leads() else 0.0)
        self.metrics.poll_interval.set(self.settings.app.poll.interval.total_seconds())
        self.readiness = Readiness(
            self.engine,
            self.sessions,
            self.settings.app.poll.interval,
            SlackAuthCheck(self.client),
            relay_health=self._relay_health,
            clock=self.clock,
        )
        # What follows a tick, off the poll job (``_scheduled_poll``): each hook gets the
        # tick's result (None: another replica polled). Run one after another, one tick's
        # after the previous tick's, so a slow Slack never delays the next poll.
        self.post_poll: list[PostPollHook] = [self._refresh_fleet_gauges, self._refresh_home_tabs]
        self._post_poll_lock = asyncio.Lock()
        self._post_poll_tasks: set[asyncio.Task[None]] = set()
        self.collector = Collector(self.metrics.gc_pauses)

    def _beat(self, ok: bool) -> None:
        # The heartbeat speaks for the leader only: a follower's ticks poll nothing. A good
        # poll whose alerts cannot go out is no good news.
        if self.heartbeat is not None and self.poller.leads():
            relay_up = self.alerts is not None and self.alerts.relay_up()
            self.heartbeat.after_poll(ok and relay_up)

    async def poll(self) -> PollResult | None:
        """One tick, a poll when this replica leads (None when another one does), and its
        post-poll work, awaited: for a caller that wants to see a poll's effects.

        Raises StoreUnavailable when the database cannot be reached (nothing was stored).
        """
        with log_context(poll_id=new_id()):
            result = await self._poll()
            async with self._post_poll_lock:
                for hook in self.post_poll:
                    await hook(result)
            return result

    async def _scheduled_poll(self) -> None:
        # The scheduler's job: a database outage is one clear line per tick, not a traceback;
        # the next tick tries again and sees the same changes, so nothing is lost.
        with log_context(poll_id=new_id()):
            try:
                result = await self._poll()
            except StoreUnavailable as exc:
                log.error("no poll this time: %s", exc)
                return
            task = asyncio.get_running_loop().create_task(
                self._run_post_poll(result), name="post-poll"
            )
            self._post_poll_tasks.add(task)
            task.add_done_callback(self._post_poll_tasks.discard)

    async def _run_post_poll(self, result: PollResult | None) -> None:
        async with self._post_poll_lock:
            for hook in self.post_poll:
                try:
                    await hook(result)
                except Exception:
                    log.exception("post-poll work %s failed", getattr(hook, "__name__", hook))

    async def _poll(self) -> PollResult | None:
        try:
            result = await self._tick()
        finally:
            # Every replica answers from the stored fleet: the replies' copy catches up
            # here, off the request path, and the replies held since the poll's commit go
            # ahead. What the tick left behind is then collected in one short pause, rather
            # than in full collections at random points of the next poll (chatops.collector).
            await self._refresh_views()
            self.collector.after_tick()
        return result

    async def _tick(self) -> PollResult | None:
        """One tick of the poller, counted in the metrics and the heartbeat."""
        try:
            result = await self.poller.tick()
        except StoreUnavailable:
            self.metrics.polls.labels("db_unavailable").inc()
            self._beat(ok=False)
            raise
        if result is not None:
            self._beat(result.ok)
            outcome = "ok" if result.ok else "failed"
            self.metrics.polls.labels(outcome).inc()
            self.metrics.poll_duration.labels(outcome).observe(result.duration)
            for change in result.changes:
                for transition in change.transitions:
                    self.metrics.transitions.labels(transition.dimension.value).inc()
        return result

    async def _refresh_views(self) -> None:
        try:
            await self.services.views.refresh(after_poll=True)
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            log.warning("replies keep the fleet they have: %s", describe_database_error(exc))

    async def _refresh_home_tabs(self, result: PollResult | None) -> None:
        """The App Home of those who have it open, after a poll that changed something."""
        if result is not None and result.ok and (result.changes or result.added or result.removed):
            await refresh_open_views(self.services, self.client)

    async def _refresh_fleet_gauges(self, result: PollResult | None) -> None:
        """The fleet gauges, on every replica, so that any one of them can be scraped."""
        try:
            async with self.sessions() as session:
                counts = await count_by_health(session)
                last = await last_success(session)
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            log.warning("fleet metrics not refreshed: %s", describe_database_error(exc))
            return
        for health, count in counts.items():
            self.metrics.bots.labels(health.value).set(count)
        if last is not None:
            self.metrics.last_successful_poll.set(last.finished_at.timestamp())

    async def start(self) -> None:
        if not self.database_prepared:
            await prepare_database(self.settings.env.database_url)
        self.collector.install()
        self.scheduler = build_scheduler(
            [("poll", self._scheduled_poll, self.settings.app.poll.interval)]
        )
        self.scheduler.start()
        watch = asyncio.get_running_loop().create_task(
            watch_loop(self.metrics.loop_lag), name="loop-watch"
        )
        self._background.append(watch)
        # Replies read the fleet from memory, which the first tick (at once) loads when it
        # ends, whether this replica polls or not. Until then a summary is counted by SQL
        # and any other reply loads it: a load here as well would compete with the first
        # poll and the first replies for the loop, delaying them.
        if self.alerts is not None:
            relay = asyncio.get_running_loop().create_task(
                self.alerts.run_relay_forever(), name="alert-relay"
            )
            self._background.append(relay)

    async def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for task in self._post_poll_tasks:
            task.cancel()
        await asyncio.gather(*self._post_poll_tasks, return_exceptions=True)
        if self.alerts is not None:
            await self.alerts.aclose()
        await self._release_leadership()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background.clear()
        if self.heartbeat is not None:
            await self.heartbeat.aclose()
        await self.services.aclose()
        await self.services.views.aclose()
        await self.source.aclose()
        await self.engine.dispose()
        self.collector.uninstall()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        await self.start()
        socket_mode = None
        try:
            if self.settings.env.slack_app_token is not None:
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
        # Imported here: an HTTP-mode replica never loads the Socket Mode client.
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        token = self.settings.env.slack_app_token
        assert token is not None
        handler = AsyncSocketModeHandler(self.bolt, token.get_secret_value())
        await handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("connected to Slack in Socket Mode")
        return handler

    async def _release_leadership(self) -> None:
        try:
            await asyncio.wait_for(self.poller.release_leadership(), RELEASE_TIMEOUT)
        except TimeoutError:
            log.warning("could not give the poller lease up in time; it expires by itself")
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            log.warning(
                "could not give the poller lease up (%s); it expires by itself",
                describe_database_error(exc),
            )

    def _relay_health(self) -> Check:
        if self.alerts is None:
            return True, "no alert service in this process"
        return self.alerts.relay_health()

    @property
    def bolt(self) -> AsyncApp:
        if self._bolt is None:
            env = self.settings.env
            # Socket Mode requests carry no signature (Slack authenticates the WebSocket);
            # Bolt skips verification for them, so the secret is needed in HTTP mode only.
            signing_secret = (
                env.slack_signing_secret.get_secret_value()
                if env.slack_signing_secret is not None
                else ""
            )
            self._bolt = create_app(
                self.services,
                client=self.client,
                signing_secret=signing_secret,
                ack_timeout=self.slack_ack_timeout,
            )
        return self._bolt

    def web_app(self) -> Starlette:
        socket_mode = self.settings.env.slack_app_token is not None
        parts = WebParts(
            bolt=None if socket_mode else self.bolt,
            metrics=self.metrics,
            readiness=self.readiness.checks(),
            lifespan=self.running,
        )
        return create_web_app(parts)


def _secret(value: SecretStr | None, variable: str) -> str:
    if value is None:
        raise ConfigError(f"{variable} is not set")
    return value.get_secret_value()


def alert_service(
    settings: Settings,
    sessions: SessionFactory,
    metrics: Metrics,
    *,
    slack_token: str,
    clock: Callable[[], datetime] = utcnow,
    is_leader: Callable[[], bool] | None = None,
) -> AlertService:
    """The alert service of ``settings``: the policy, the outbox and the relay to Slack."""
    return AlertService(
        sessions,
        metrics,
        alerts=settings.app.alerts,
        poll=settings.app.poll,
        # The relay's own client has no retry handlers on purpose: it schedules retries
        # itself (Retry-After, backoff) instead of sleeping while it holds a claimed row.
        slack_token=slack_token,
        slack_api_url=settings.env.slack_api_url,
        clock=clock,
        is_leader=is_leader,
        conversations=settings.app.conversations.limits(),
        maintenance=settings.app.maintenance,
    )


def alerting_poller(
    source: StatusSource,
    sessions: SessionFactory,
    alerts: AlertService,
    *,
    clock: Callable[[], datetime] = utcnow,
    leader: LeaderGate | None = None,
    in_transaction: Sequence[InTransaction] = (),
    agent_metrics: AgentMetricsReader | None = None,
) -> Poller:
    """The poller of ``chatops serve`` and ``chatops poll --once`` alike: every poll writes
    what changed, the alert policy's decisions and the outbox rows in one transaction.

    A poll that left the policy out would store transitions the policy never sees again
    (it looks at what changed since the stored state), so their alerts would be lost.
    """
    return Poller(
        source,
        sessions,
        clock=clock,
        in_transaction=[alerts.in_transaction_hook, *in_transaction],
        on_commit=[alerts.on_commit],
        leader=leader,
        agent_metrics=agent_metrics,
    )


def agent_metrics_of(source: StatusSource, settings: Settings) -> AgentMetricsReader | None:
    """The reader of the conversations at stake: LivePerson's Agent Metrics API, unless
    ``conversations.metrics`` is false (another kind of source has none)."""
    if not settings.app.conversations.metrics or not isinstance(source, LivePersonSource):
        return None
    return source.agent_metrics


def build_runtime(
    settings: Settings,
    *,
    source: StatusSource | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Runtime:
    env = settings.env
    if source is None:
        source = LivePersonSource.from_settings(settings)
    engine = make_engine(env.database_url)
    sessions = make_session_factory(engine)
    metrics = Metrics()
    client = slack_client(
        _secret(env.slack_bot_token, "SLACK_BOT_TOKEN"), env.slack_api_url, metrics
    )
    permissions = PermissionResolver(
        settings.app.permissions, client, contact=settings.app.permissions_contact
    )
    views = Views(
        sessions,
        stale_after=3 * settings.app.poll.interval,
        clock=clock,
        conversations=settings.app.conversations.limits(),
    )
    control = ConnectorControl(source, sessions, permissions, metrics, clock=clock)
    services = SlackServices(
        sessions=sessions,
        permissions=permissions,
        control=control,
        views=views,
        metrics=metrics,
        clock=clock,
    )
    interval = settings.app.poll.interval
    gate = leader_gate_for(engine.dialect.name, interval=interval)

    def leads() -> bool:
        # The relay works only on the replica that polls (the poller is made just below).
        return poller.leads()

    alerts = alert_service(
        settings,
        sessions,
        metrics,
        slack_token=_secret(env.slack_bot_token, "SLACK_BOT_TOKEN"),
        clock=clock,
        is_leader=leads,
    )
    services.mutes = alerts.mute_service()
    services.maintenance = alerts.maintenance_service()
    views.maintenance = services.maintenance
    services.acks = alerts.ack_service(permissions)
    poller = alerting_poller(
        source,
        sessions,
        alerts,
        clock=clock,
        leader=gate,
        in_transaction=[views.poll_landing],
        agent_metrics=agent_metrics_of(source, settings),
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
        heartbeat=(
            Heartbeat(settings.app.heartbeat, metrics, clock=clock)
            if settings.app.heartbeat is not None
            else None
        ),
    )
