"""Prometheus metrics, one registry per running app (tests run several apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


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
        self.polls = Counter(
            "chatops_polls_total",
            "Polls of the status source, by outcome.",
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
            "Slack Web API calls, by method and outcome.",
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
            "Start/Stop/mute attempts, by action and outcome.",
            ["action", "outcome"],
            registry=r,
        )
        self.leader = Gauge(
            "chatops_leader", "1 while this replica holds the poller lease, else 0.", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
