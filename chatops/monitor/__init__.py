"""The poll job: fetch, diff, one transaction (state, transitions, outbox), and its scheduler."""

from __future__ import annotations

from chatops.monitor.poll import (
    AdvisoryLockGate,
    InTransaction,
    LeaderGate,
    LeaseGate,
    OnCommit,
    Poller,
    PollResult,
    leader_gate_for,
)
from chatops.monitor.scheduler import build_scheduler

__all__ = [
    "AdvisoryLockGate",
    "InTransaction",
    "LeaderGate",
    "LeaseGate",
    "OnCommit",
    "PollResult",
    "Poller",
    "build_scheduler",
    "leader_gate_for",
]
