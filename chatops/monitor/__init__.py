"""The poll job: fetch, diff, one transaction (state, transitions, outbox), and its scheduler.

The leader gates that decide which replica polls are in chatops.store.leases.
"""

from __future__ import annotations

from chatops.monitor.poll import InTransaction, OnCommit, Poller, PollResult
from chatops.monitor.scheduler import build_scheduler

__all__ = ["InTransaction", "OnCommit", "PollResult", "Poller", "build_scheduler"]
