"""The Bolt app: made by a factory, listeners registered per kind, one error handler.

``create_app`` takes everything it needs as arguments (no module-level ``App()``, no
environment reads), so tests and the demo build as many apps as they like, each pointed at
its own fake Slack through ``client``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from chatops.metrics import CountingRespond, Metrics
from chatops.slack import acks, actions, commands, home
from chatops.slack.guard import Guard, UnreadablePayloads
from chatops.slack.services import SlackServices

log = logging.getLogger(__name__)

# Slack waits 3 s for an answer to a command, a click or an event; Bolt waits as long for a
# listener's ack, then answers 404 itself.
SLACK_ACK_TIMEOUT = 3


def counting_responds(metrics: Metrics) -> Callable[..., Awaitable[None]]:
    """Bolt middleware: this request's ``respond()`` counts its calls to the response_url."""

    async def count_responds(
        context: AsyncBoltContext, next_: Callable[[], Awaitable[None]]
    ) -> None:
        respond = context.respond if context.response_url else None
        if respond is not None and not isinstance(respond, CountingRespond):
            context["respond"] = CountingRespond(metrics, respond)
        await next_()

    return count_responds


def create_app(
    services: SlackServices,
    *,
    client: AsyncWebClient,
    signing_secret: str,
    ack_timeout: int = SLACK_ACK_TIMEOUT,
) -> AsyncApp:
    """The token travels on ``client``; Bolt calls ``auth.test`` once, on the first request.

    A payload Bolt cannot read is dropped first (``UnreadablePayloads``). The next
    middleware counts every ``respond()`` (``counting_responds``), the guard's
    refusals included; the permission guard (chatops.slack.guard) runs before every
    listener; the listeners are registered through the guard, each with what it needs.
    ``ack_timeout``: how long Bolt waits for a listener's ack (tests on a busy machine give
    more than Slack's 3 s).
    """
    app = AsyncApp(
        # The name of Bolt's request loggers, given so that Bolt does not derive it (its
        # caller's file name, this one's) from inspect.stack(), which resolves the path of
        # every module loaded so far: tens of ms of a fresh process's start.
        name="app.py",
        client=client,
        signing_secret=signing_secret,
        request_verification_enabled=True,
        process_before_response=False,
    )
    app.use(UnreadablePayloads())
    app.use(counting_responds(services.metrics))
    guard = Guard(app, services)
    commands.register(guard, services)
    actions.register(guard, services)
    acks.register(guard, services)
    home.register(guard, services)
    # Bolt's decorators take no ack timeout; its listeners carry one each.
    for listener in app._async_listeners:
        listener.ack_timeout = ack_timeout

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        kind = body.get("type") or body.get("command") or "request"
        log.error("unhandled error while handling %s", kind, exc_info=error)

    return app
