"""Prometheus metrics, one registry per running app (tests run several apps in one process).

Slack Web API calls are counted where they leave the process: the relay counts its own (it
has its own client and handles 429s itself); every other call (Bolt's ``client``: views,
users.info, usergroups, chat.postMessage from a button, auth.test) goes through
:class:`SlackCallCounter`, a slack_sdk retry handler that sees every HTTP attempt, retries
and 429s included; ``respond()`` through a response_url is counted by :class:`CountingRespond`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook.webhook_response import WebhookResponse

__all__ = [
    "CONTENT_TYPE_LATEST",
    "SLACK_AUTH_ERRORS",
    "CountingRespond",
    "Metrics",
    "SlackCallCounter",
    "slack_error_outcome",
]

# The method label of calls to an interaction's or a command's response_url.
RESPONSE_URL = "response_url"
# Slack's answers that mean the bot token itself is refused (counted as outcome auth_error).
SLACK_AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.poll_duration = Histogram(
            "chatops_poll_duration_seconds",
            "Wall time of one poll of the status source, by outcome.",
            ["outcome"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60),
            registry=r,
        )
        self.gc_pauses = Histogram(
            "chatops_gc_pause_seconds",
            "Pauses of the cyclic garbage collector by generation (2: the collection after"
            " each tick, and an hourly one of everything; chatops.collector). The event"
            " loop waits for each.",
            ["generation"],
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1),
            registry=r,
        )
        self.loop_lag = Histogram(
            "chatops_event_loop_lag_seconds",
            "How much later than asked a timer set every 0.1 s fires: how long a request"
            " arriving then waits for the event loop before its own work (chatops.loopwatch).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.polls = Counter(
            "chatops_polls_total",
            "Polls by outcome: ok and failed (polls of the lease holder; failed ones are"
            " recorded), db_unavailable (a tick that could not reach the database: nothing"
            " stored).",
            ["outcome"],
            registry=r,
        )
        self.last_successful_poll = Gauge(
            "chatops_last_successful_poll_timestamp_seconds",
            "Unix time of the last successful poll.",
            registry=r,
        )
        self.bots = Gauge("chatops_bots", "Bots by derived health.", ["health"], registry=r)
        self.transitions = Counter(
            "chatops_transitions_total",
            "Status transitions detected, by dimension.",
            ["dimension"],
            registry=r,
        )
        self.alerts = Counter(
            "chatops_alerts_total",
            "Alert messages handled by the relay, by outcome (sent, retried, dead).",
            ["outcome"],
            registry=r,
        )
        self.outbox_pending = Gauge(
            "chatops_alert_outbox_pending", "Alert rows not yet delivered.", registry=r
        )
        self.slack_calls = Counter(
            "chatops_slack_api_calls_total",
            "Slack Web API calls, by method and outcome (ok, error, auth_error: the token is"
            " refused, ratelimited, server_error, network_error).",
            ["method", "outcome"],
            registry=r,
        )
        self.slack_rate_limited = Counter(
            "chatops_slack_rate_limited_total",
            "Slack Web API answers of HTTP 429, by method.",
            ["method"],
            registry=r,
        )
        self.command_latency = Histogram(
            "chatops_command_latency_seconds",
            "Time to answer a /botstatus command, by sub-command.",
            ["command"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.actions = Counter(
            "chatops_actions_total",
            "Start/Stop/Restart, mute and ack attempts, by action and outcome.",
            ["action", "outcome"],
            registry=r,
        )
        self.leader = Gauge(
            "chatops_leader", "1 while this replica holds the poller lease, else 0.", registry=r
        )
        self.relay_up = Gauge(
            "chatops_relay_up",
            "1 while the alert relay runs on this replica and it leads, else 0 (a follower,"
            " or a relay down and being restarted).",
            registry=r,
        )
        self.poll_interval = Gauge(
            "chatops_poll_interval_seconds", "The configured poll.interval.", registry=r
        )
        self.ready = Gauge(
            "chatops_ready",
            "1 when /readyz would answer 200 (evaluated at each scrape and each /readyz).",
            registry=r,
        )
        self.readiness_check = Gauge(
            "chatops_readiness_check",
            "1 when this readiness check of /readyz passes, by check.",
            ["check"],
            registry=r,
        )
        self.heartbeat = Counter(
            "chatops_heartbeat_total",
            "Heartbeat pings, by ping (success, fail) and outcome (delivered, rejected: a"
            " non-2xx answer, unreachable: no answer in time or no connection).",
            ["ping", "outcome"],
            registry=r,
        )
        # Series that alert rules compute increase() or rate() over exist from the start, so
        # that their first increment is seen as one (a series born at 1 shows no increase).
        for outcome in ("ok", "failed", "db_unavailable"):
            self.polls.labels(outcome)
        for outcome in ("sent", "retried", "dead"):
            self.alerts.labels(outcome)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def count_slack_call(
        self, method: str, status: int | None, ok: bool | None, error: str | None = None
    ) -> None:
        """One HTTP attempt at Slack: ``status`` None when no answer came (network error);
        ``error`` is Slack's error code, when it gave one."""
        if status is None:
            outcome = "network_error"
        elif status == 429:
            outcome = "ratelimited"
            self.slack_rate_limited.labels(method).inc()
        elif status >= 500:
            outcome = "server_error"
        elif status >= 400 or ok is False:
            outcome = slack_error_outcome(error)
        else:
            outcome = "ok"
        self.slack_calls.labels(method, outcome).inc()


def slack_error_outcome(error: str | None) -> str:
    """The outcome label of a call Slack refused: ``auth_error`` when the token is at fault."""
    return "auth_error" if error in SLACK_AUTH_ERRORS else "error"


class SlackCallCounter(AsyncRetryHandler):
    """Counts every HTTP attempt of an ``AsyncWebClient``; never asks for a retry itself.

    slack_sdk shows each answer (and each network error) to the client's retry handlers in
    order until one retries, so this one, placed first, sees the 429 that the rate-limit
    handler after it then waits out and retries.
    """

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(max_retry_count=0)
        self.metrics = metrics

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        method = urlsplit(request.url).path.rsplit("/", 1)[-1] or "unknown"
        if response is None:
            self.metrics.count_slack_call(method, None, None)
        else:
            body: Any = response.body
            ok, error = (
                (body.get("ok"), body.get("error")) if isinstance(body, dict) else (None, None)
            )
            self.metrics.count_slack_call(method, response.status_code, ok, error)
        return False


class CountingRespond(AsyncRespond):
    """Bolt's ``respond()``, counted as Slack calls of method ``response_url``."""

    def __init__(self, metrics: Metrics, respond: AsyncRespond) -> None:
        super().__init__(response_url=respond.response_url, proxy=respond.proxy, ssl=respond.ssl)
        self.metrics = metrics

    async def __call__(self, *args: Any, **kwargs: Any) -> WebhookResponse:
        try:
            response = await super().__call__(*args, **kwargs)
        except (aiohttp.ClientError, OSError, TimeoutError):
            self.metrics.count_slack_call(RESPONSE_URL, None, None)
            raise
        self.metrics.count_slack_call(RESPONSE_URL, response.status_code, None)
        return response
