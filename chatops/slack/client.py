"""The Slack Web API client every part of a replica uses (listeners, permission lookups,
App Home), with Slack's 429 (Retry-After), 5xx and connection retries on.

The alert relay has a client of its own without retry handlers (``chatops.alerts.relay``):
it schedules its retries itself instead of sleeping while it holds a claimed row.
"""

from __future__ import annotations

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from chatops.metrics import Metrics, SlackCallCounter


def slack_client(token: str, base_url: str, metrics: Metrics | None = None) -> AsyncWebClient:
    """The Web API client with Slack's 429 (Retry-After), 5xx and connection retries on.

    With ``metrics``, every HTTP attempt is counted first (retries and 429s included).
    """
    handlers: list[AsyncRetryHandler] = [] if metrics is None else [SlackCallCounter(metrics)]
    handlers += [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        AsyncServerErrorRetryHandler(max_retry_count=2),
    ]
    return AsyncWebClient(
        token=token,
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        timeout=15,
        retry_handlers=handlers,
    )
