"""The Bolt app: made by a factory, listeners registered per kind, one error handler.

``create_app`` takes everything it needs as arguments (no module-level ``App()``, no
environment reads), so tests and the demo build as many apps as they like, each pointed at
its own fake Slack through ``client``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from chatops.metrics import Metrics
from chatops.permissions import PermissionResolver
from chatops.slack.control import ConnectorControl
from chatops.slack.views import Views
from chatops.store.engine import SessionFactory
from chatops.store.models import utcnow

if TYPE_CHECKING:
    from chatops.slack.home import HomeViewers

log = logging.getLogger(__name__)


@dataclass
class SlackServices:
    """What the listeners need; built once per process by chatops.runtime."""

    sessions: SessionFactory
    permissions: PermissionResolver
    control: ConnectorControl
    views: Views
    metrics: Metrics
    mutes: Any | None = None  # chatops.alerts.mutes.MuteService when alerts are wired
    home_viewers: HomeViewers = field(default_factory=lambda: _home_viewers())
    clock: Callable[[], datetime] = utcnow
    # How long a Start or Restart is watched for its connectors to come Online before saying
    # which did not.
    start_followup_timeout: timedelta = timedelta(minutes=10)
    start_followup_every: timedelta = timedelta(seconds=5)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
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


def _home_viewers() -> HomeViewers:
    from chatops.slack.home import HomeViewers

    return HomeViewers()


def create_app(
    services: SlackServices,
    *,
    client: AsyncWebClient,
    signing_secret: str,
) -> AsyncApp:
    """The token travels on ``client``; Bolt calls ``auth.test`` once, on the first request."""
    from chatops.slack import actions, commands, home

    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        request_verification_enabled=True,
        process_before_response=False,
    )
    commands.register(app, services)
    actions.register(app, services)
    home.register(app, services)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        kind = body.get("type") or body.get("command") or "request"
        log.error("unhandled error while handling %s", kind, exc_info=error)

    return app
