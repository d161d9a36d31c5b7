"""What the Slack listeners share: ``SlackServices``, built once per process by
``chatops.runtime``, and ``HomeViewers``, who has the App Home tab open.

A module of its own so that the app factory (``chatops.slack.app``) and the listeners it
registers (``commands``, ``actions``, ``home``, through ``guard``) all import it, and none of
them imports another to reach it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chatops.alerts.acks import AckService
from chatops.alerts.maintenance import MaintenanceService
from chatops.alerts.mutes import MuteService
from chatops.domain import Environment
from chatops.metrics import Metrics
from chatops.permissions import PermissionResolver
from chatops.slack.control import ConnectorControl
from chatops.slack.timezones import UserTimeZones
from chatops.slack.views import Views
from chatops.store.engine import SessionFactory
from chatops.store.models import utcnow

log = logging.getLogger(__name__)

# Users who opened the tab within this long get it refreshed after polls that changed
# something; past it, the next open refreshes it anyway.
OPEN_VIEW_TTL = timedelta(hours=12)


@dataclass
class _OpenView:
    environment: Environment
    opened_at: datetime


class HomeViewers:
    """Who has the Home tab open (recently), and with which environment filter."""

    def __init__(self) -> None:
        self._views: dict[str, _OpenView] = {}

    def opened(self, user_id: str, environment: Environment, now: datetime) -> None:
        self._views[user_id] = _OpenView(environment, now)

    def environment(self, user_id: str) -> Environment:
        view = self._views.get(user_id)
        return view.environment if view else Environment.PRODUCTION

    def recent(self, now: datetime) -> list[tuple[str, Environment]]:
        for user_id in [u for u, v in self._views.items() if now - v.opened_at > OPEN_VIEW_TTL]:
            del self._views[user_id]
        return [(user_id, view.environment) for user_id, view in self._views.items()]


@dataclass
class SlackServices:
    """What the listeners need; built once per process by chatops.runtime."""

    sessions: SessionFactory
    permissions: PermissionResolver
    control: ConnectorControl
    views: Views
    metrics: Metrics
    # /botstatus mute, unmute and mutes; None when alerts are not wired (they answer so).
    mutes: MuteService | None = None
    # /botstatus maintenance ...; None when alerts are not wired (they answer so).
    maintenance: MaintenanceService | None = None
    # Each person's time zone (users.info), for the times they type.
    time_zones: UserTimeZones = field(default_factory=UserTimeZones)
    # /botstatus ack and unack, and the alerts' Acknowledge button; None likewise.
    acks: AckService | None = None
    home_viewers: HomeViewers = field(default_factory=HomeViewers)
    clock: Callable[[], datetime] = utcnow
    # How long a Start or Restart is watched for its connectors to come Online before saying
    # which did not.
    start_followup_timeout: timedelta = timedelta(minutes=10)
    start_followup_every: timedelta = timedelta(seconds=5)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, coroutine: Coroutine[object, object, None], name: str) -> None:
        """Run follow-up work in the background, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
