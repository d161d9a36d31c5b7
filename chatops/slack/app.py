"""The Bolt app: made by a factory, listeners registered per kind, one error handler.

``create_app`` takes everything it needs as arguments (no module-level ``App()``, no
environment reads), so tests and the demo build as many apps as they like, each pointed at
its own fake Slack through ``client``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from chatops.metrics import Metrics
from chatops.permissions import PermissionResolver
from chatops.slack.control import ConnectorControl
from chatops.slack.guard import Guard
from chatops.slack.views import Views
from chatops.store.engine import SessionFactory
from chatops.store.models import utcnow

if TYPE_CHECKING:
    from chatops.slack.home import HomeViewers

log = logging.getLogger(__name__)

# Slack waits 3 s for an answer to a command, a click or an event; Bolt waits as long for a
# listener's ack, then answers 404 itself.
SLACK_ACK_TIMEOUT = 3


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
    middleware: Sequence[Callable[..., Awaitable[Any]]] = (),
    ack_timeout: int = SLACK_ACK_TIMEOUT,
) -> AsyncApp:
    """The token travels on ``client``; Bolt calls ``auth.test`` once, on the first request.

    ``middleware`` runs before the permission guard (chatops.slack.guard), which runs before
    every listener; the listeners are registered through the guard, each with what it needs.
    ``ack_timeout``: how long Bolt waits for a listener's ack (tests on a busy machine give
    more than Slack's 3 s).
    """
    from chatops.slack import actions, commands, home

    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        request_verification_enabled=True,
        process_before_response=False,
    )
    for function in middleware:
        app.use(function)
    guard = Guard(app, services)
    commands.register(guard, services)
    actions.register(guard, services)
    home.register(guard, services)
    # Bolt's decorators take no ack timeout; its listeners carry one each.
    for listener in app._async_listeners:
        listener.ack_timeout = ack_timeout

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        kind = body.get("type") or body.get("command") or "request"
        log.error("unhandled error while handling %s", kind, exc_info=error)

    return app
