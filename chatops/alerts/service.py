"""The alert service: the one object the runtime wires to the poller and the scheduler.

Wiring (chatops.runtime)::

    alerts = AlertService(sessions, metrics, alerts=settings.app.alerts,
                          poll=settings.app.poll, slack_token=token, slack_api_url=url)
    poller = Poller(source, sessions, in_transaction=[alerts.in_transaction_hook],
                    on_commit=[alerts.on_commit], leader=...)
    task = asyncio.create_task(alerts.run_relay_forever())   # relays, reminds, expires mutes
    ...
    await alerts.aclose(); await task

``in_transaction_hook`` runs the policy inside the poll's transaction and writes outbox
rows, after the maintenance windows that began or ended (chatops.alerts.maintenance);
``on_commit`` wakes the relay at once (and, after a failed poll, checks whether the
status source must be announced as unreachable). The relay pass is safe in several
replicas at once; reminders and mute and window announcements are written once whoever
runs them.

Supervision: whatever fails in the loop (the database gone, a bug), before its first pass
or later, the relay is started again with backoff (``restart_backoff`` doubling up to
``max_restart_backoff``) until it works; an outage is one log line when it starts and one
when it ends, never one per attempt. ``relay_health()`` is the ``relay`` check of
``/readyz``, and ``chatops_relay_up`` says 1 while the relay runs on the leader.
``aclose()`` lets the relay pass in flight finish, its outcomes recorded, before it closes
the connections to Slack: a clean restart sends nothing twice.

Several replicas: ``is_leader`` (the poller's ``leads``) makes the loop relay, remind and
expire mutes only while this replica holds the poller lease, so that one process paces
each Slack channel (pacing is per process) and the others stay idle. Safety does not
depend on it: claims are ``FOR UPDATE SKIP LOCKED`` / compare-and-set, so during a handover
two relays may overlap without sending a row twice. Rows a killed leader left ``sending``
are taken again once their lease has passed (at most that one message repeated).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.alerts import maintenance, maintenance_announce, mutes, upkeep
from chatops.alerts.acks import AckService
from chatops.alerts.mute_views import MuteResult, MuteView, UnmuteResult
from chatops.alerts.planner import PollPlanner
from chatops.alerts.relay import (
    DEFAULT_BACKOFF,
    DEFAULT_BURST,
    DEFAULT_EDIT_INTERVAL,
    DEFAULT_LEASE,
    DEFAULT_MAX_BACKOFF,
    DEFAULT_POST_INTERVAL,
    Relay,
)
from chatops.config import DEFAULT_SLACK_API_URL, AlertsConfig, MaintenanceConfig, PollConfig
from chatops.domain import BotChange
from chatops.domain.conversations import ConversationLimits
from chatops.metrics import Metrics
from chatops.monitor.poll import PollResult
from chatops.permissions import PermissionResolver
from chatops.store import outbox
from chatops.store.engine import SessionFactory, describe_database_error, is_database_unavailable
from chatops.store.models import PollRun, utcnow
from chatops.store.outbox import OutboxSummary

log = logging.getLogger(__name__)

DEFAULT_UPKEEP_EVERY = timedelta(seconds=30)
# A relay that failed is started again after this, doubling up to the maximum.
DEFAULT_RESTART_BACKOFF = 1.0
DEFAULT_MAX_RESTART_BACKOFF = 30.0
# The relay looks at the outbox at least this often even when nobody wakes it (a row
# written by another replica, a retry coming due).
IDLE_WAIT = 5.0
SLACK_TIMEOUT = 10
# At shutdown the relay pass in flight may finish: its Slack calls end within SLACK_TIMEOUT.
SHUTDOWN_GRACE = SLACK_TIMEOUT + 5.0


@dataclass(slots=True)
class RelayOutage:
    """The relay is not running since ``since`` (monotonic); ``error`` is the last reason."""

    since: float
    error: str
    attempts: int = 1


def _describe_failure(exc: Exception) -> str:
    if is_database_unavailable(exc):
        return f"the database is unavailable: {describe_database_error(exc)}"
    return f"{type(exc).__name__}: {exc}"


async def outbox_summary(sessions: SessionFactory, *, dead_limit: int = 20) -> OutboxSummary:
    """What ``chatops status`` shows of the outbox."""
    async with sessions() as session:
        return await outbox.summary(session, dead_limit=dead_limit)


class AlertService:
    def __init__(
        self,
        sessions: SessionFactory,
        metrics: Metrics,
        *,
        alerts: AlertsConfig,
        poll: PollConfig,
        slack_token: str,
        slack_api_url: str = DEFAULT_SLACK_API_URL,
        clock: Callable[[], datetime] = utcnow,
        post_interval: float = DEFAULT_POST_INTERVAL,
        edit_interval: float = DEFAULT_EDIT_INTERVAL,
        lease: timedelta = DEFAULT_LEASE,
        backoff: float = DEFAULT_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        burst: int = DEFAULT_BURST,
        upkeep_every: timedelta = DEFAULT_UPKEEP_EVERY,
        release_in_flight_on_start: bool | None = None,
        is_leader: Callable[[], bool] | None = None,
        restart_backoff: float = DEFAULT_RESTART_BACKOFF,
        max_restart_backoff: float = DEFAULT_MAX_RESTART_BACKOFF,
        idle_wait: float = IDLE_WAIT,
        conversations: ConversationLimits | None = None,
        maintenance: Sequence[MaintenanceConfig] = (),
    ) -> None:
        """``release_in_flight_on_start``: give back rows a killed process left ``sending``
        at once rather than when their lease expires; right only when no other process
        relays from this database. None: yes on SQLite (one replica), no elsewhere.

        ``is_leader``: the relay loop works only while it returns True (None: always)."""
        self.sessions = sessions
        self.metrics = metrics
        self.alerts = alerts
        self.poll = poll
        self.clock = clock
        self.upkeep_every = upkeep_every
        self.maintenance = tuple(maintenance)
        self.planner = PollPlanner(alerts, conversations)
        # One HTTP connection pool for every call; created in the running loop (aiohttp
        # needs one), on first use.
        self._session: aiohttp.ClientSession | None = None
        self.slack = AsyncWebClient(
            token=slack_token,
            base_url=slack_api_url,
            timeout=SLACK_TIMEOUT,
            # The relay handles 429 and 5xx itself: a retry must never sleep on a claimed row.
            retry_handlers=[],
        )
        self.relay = Relay(
            sessions,
            self.slack,
            metrics,
            clock=clock,
            post_interval=post_interval,
            edit_interval=edit_interval,
            lease=lease,
            backoff=backoff,
            max_backoff=max_backoff,
            burst=burst,
        )
        self._release_on_start = release_in_flight_on_start
        self._is_leader = is_leader
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        # Held while a relay pass delivers: aclose() lets it finish (see there).
        self._passing = asyncio.Lock()
        self._closed = False
        self.idle_wait = idle_wait
        self.restart_backoff = restart_backoff
        self.max_restart_backoff = max_restart_backoff
        self._running = False
        self._released_in_flight = False
        self.outage: RelayOutage | None = None
        metrics.relay_up.set_function(lambda: 1.0 if self.relay_up() else 0.0)

    # -- poller hooks ------------------------------------------------------------------------

    async def in_transaction_hook(
        self, session: AsyncSession, changes: Sequence[BotChange], poll: PollRun, now: datetime
    ) -> None:
        # Windows first: one that ended alerts what it hid before the policy looks again.
        await maintenance.schedule_recurring(session, self.maintenance, now)
        await maintenance_announce.announce_windows(session, self.alerts, now, poll_id=poll.id)
        await self.planner(session, changes, poll, now)
        await upkeep.source_succeeded(session, now)

    async def on_commit(self, result: PollResult) -> None:
        """Wake the relay; after a failed poll, see whether the source is now unreachable."""
        if not result.ok:
            await self.check_source()
            return
        self.wake()

    async def check_source(self) -> int:
        """Announce an unreachable status source once enough polls failed in a row.

        Runs after every failed poll the poller reports, and in the periodic upkeep (so an
        outage is announced even by a poller that reports only successful polls).
        """
        async with self.sessions() as session:
            written = await upkeep.source_failed(
                session, self.alerts, self.poll.unreachable_after, self.clock()
            )
            await session.commit()
        if written:
            self.wake()
        return written

    def wake(self) -> None:
        self._wake.set()

    # -- the relay loop ----------------------------------------------------------------------

    def _ensure_http(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=SLACK_TIMEOUT)
            )
            self.slack.session = self._session

    async def relay_once(self) -> int:
        """One relay pass (see chatops.alerts.relay); the number of rows handled."""
        self._ensure_http()
        return await self.relay.relay_once()

    async def run_relay_forever(self) -> None:
        """Relay, remind and expire mutes until ``aclose()``, started again after any failure."""
        self._running = True
        try:
            while not self._closed:
                try:
                    await self._relay_loop()
                except Exception as exc:
                    self._failed(exc)
                    assert self.outage is not None
                    doublings = min(self.outage.attempts - 1, 20)
                    backoff = self.restart_backoff * 2**doublings
                    # Interrupted by aclose() only: a poll's wake-up must not undo the backoff.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self._closing.wait(), min(backoff, self.max_restart_backoff)
                        )
        finally:
            self._running = False
            if not self._closed:
                log.error("the alert relay ended; alerts are not delivered by this process")

    def relay_up(self) -> bool:
        """The relay runs on this replica, which leads (``chatops_relay_up``)."""
        leads = self._is_leader is None or self._is_leader()
        return self._running and self.outage is None and leads

    def relay_health(self) -> tuple[bool, str]:
        """The ``relay`` check of ``/readyz``: ok while the relay runs (idle on a follower)."""
        if self.outage is not None:
            outage = self.outage
            down = int(time.monotonic() - outage.since)
            attempts = f"{outage.attempts} failed attempt{'' if outage.attempts == 1 else 's'}"
            return False, f"down for {down}s ({attempts}): {outage.error}"
        if not self._running:
            return False, "not running"
        if self._is_leader is not None and not self._is_leader():
            return True, "idle: another replica leads"
        return True, "running on this leader"

    def _failed(self, exc: Exception) -> None:
        error = _describe_failure(exc)
        if self.outage is not None:
            self.outage.attempts += 1
            self.outage.error = error
            log.debug("the alert relay failed again: %s", error)
            return
        self.outage = RelayOutage(since=time.monotonic(), error=error)
        # One line per outage; a traceback only when it is not the database going away.
        log.error(
            "the alert relay stopped: %s; it is started again with backoff until it works",
            error,
            exc_info=None if is_database_unavailable(exc) else exc,
        )

    def _worked(self) -> None:
        if self.outage is None:
            return
        outage, self.outage = self.outage, None
        log.warning(
            "the alert relay works again after %ds down (%d failed attempt%s)",
            int(time.monotonic() - outage.since),
            outage.attempts,
            "" if outage.attempts == 1 else "s",
        )

    async def _relay_loop(self) -> None:
        self._ensure_http()
        if not self._released_in_flight:
            if await self._should_release_on_start():
                await self.relay.release_in_flight()
            self._released_in_flight = True
        next_upkeep = time.monotonic()
        while not self._closed:
            self._wake.clear()
            if self._is_leader is not None and not self._is_leader():
                # A follower: the leader relays. Becoming the leader comes with a poll, whose
                # commit wakes this loop; the timeout only bounds the wait.
                self._worked()
                await self._sleep(self.idle_wait)
                continue
            if time.monotonic() >= next_upkeep:
                next_upkeep = time.monotonic() + self.upkeep_every.total_seconds()
                await self.tick_reminders_and_mutes()
            async with self._passing:
                handled = await self.relay.relay_once()
            self._worked()
            if handled or self._closed:
                continue
            due = self.relay.seconds_until_due()
            timeout = min(
                self.idle_wait if due is None else due,
                self.idle_wait,
                max(next_upkeep - time.monotonic(), 0.0),
            )
            await self._sleep(timeout)

    async def _sleep(self, seconds: float) -> None:
        """Until ``wake()`` or ``seconds`` have passed, whichever comes first."""
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _should_release_on_start(self) -> bool:
        if self._release_on_start is not None:
            return self._release_on_start
        async with self.sessions() as session:
            connection = await session.connection()
            return connection.dialect.name == "sqlite"

    # -- reminders and mutes -----------------------------------------------------------------

    async def tick_reminders_and_mutes(self) -> int:
        """Write due reminders, mute announcements and the starts of maintenance windows;
        return how many rows were written."""
        now = self.clock()
        try:
            async with self.sessions() as session:
                written = await upkeep.announce_mutes(session, self.alerts, now)
                written += await upkeep.write_reminders(session, self.alerts, now)
                await maintenance.schedule_recurring(session, self.maintenance, now)
                written += await maintenance_announce.announce_windows(session, self.alerts, now)
                await session.commit()
            written += await self.check_source()
        except IntegrityError:
            # Another replica wrote the same rows first (their keys are unique): fine.
            log.debug("reminders or mute announcements were written by another process")
            return 0
        if written:
            self.wake()
        return written

    async def announce_mutes(self) -> int:
        async with self.sessions() as session:
            written = await upkeep.announce_mutes(session, self.alerts, self.clock())
            await session.commit()
        if written:
            self.wake()
        return written

    async def announce_windows(self) -> int:
        """Announce the maintenance windows that began (their ends come with a poll)."""
        async with self.sessions() as session:
            written = await maintenance_announce.announce_windows(
                session, self.alerts, self.clock()
            )
            await session.commit()
        if written:
            self.wake()
        return written

    def maintenance_service(self) -> maintenance.MaintenanceService:
        """What the Slack surface holds as ``SlackServices.maintenance``."""
        return maintenance.MaintenanceService(
            self.mute_service(), clock=self.clock, announce=self.announce_windows
        )

    async def mute(
        self,
        target_glob: str,
        duration: timedelta,
        reason: str | None,
        user_id: str,
        now: datetime,
    ) -> MuteResult:
        """``mutes.mute``, announced in the channels at once rather than at the next tick."""
        result = await mutes.mute(self.sessions, target_glob, duration, reason, user_id, now)
        await self.announce_mutes()
        return result

    async def unmute(self, target: str, user_id: str, now: datetime) -> UnmuteResult:
        result = await mutes.unmute(self.sessions, target, user_id, now)
        await self.announce_mutes()
        return result

    def mute_service(self) -> mutes.MuteService:
        """What the Slack surface holds as ``SlackServices.mutes``: announced at once."""
        return mutes.MuteService(
            self.sessions, clock=self.clock, announce=self.announce_mutes, metrics=self.metrics
        )

    def ack_service(self, permissions: PermissionResolver) -> AckService:
        """What the Slack surface holds as ``SlackServices.acks``: edits go out at once."""
        return AckService(
            self.sessions,
            permissions,
            self.metrics,
            clock=self.clock,
            wake=self.wake,
            limits=self.planner.limits,
        )

    async def list_mutes(self, now: datetime) -> list[MuteView]:
        return await mutes.list_mutes(self.sessions, now)

    async def outbox_summary(self) -> OutboxSummary:
        return await outbox_summary(self.sessions)

    async def aclose(self) -> None:
        """Stop relaying. A pass in flight finishes first (for up to ``SHUTDOWN_GRACE``).

        Cutting its Slack calls short would leave messages that Slack may have posted
        recorded as unsent, and the next process would post them again.
        """
        self._closed = True
        self._closing.set()
        self._wake.set()
        try:
            async with asyncio.timeout(SHUTDOWN_GRACE), self._passing:
                pass
        except TimeoutError:
            log.warning(
                "the alert relay was still delivering after %gs at shutdown; the messages in "
                "flight are sent again by the next process (Slack may show them twice)",
                SHUTDOWN_GRACE,
            )
        if self._session is not None and not self._session.closed:
            await self._session.close()
