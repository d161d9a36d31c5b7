"""Alerts: the policy applied to each poll, the outbox relay to Slack, mutes, reminders.

``AlertService`` is the entry point the runtime wires; ``mutes`` holds what the Slack
surface calls for ``/botstatus mute|unmute|mutes``.
"""

from __future__ import annotations

from chatops.alerts.mute_views import MuteResult, MuteView, UnmuteResult
from chatops.alerts.mutes import MuteError, MuteService, list_mutes, mute, unmute
from chatops.alerts.render.mute_replies import mute_reply, mutes_reply, unmute_reply
from chatops.alerts.service import AlertService, outbox_summary
from chatops.store.outbox import DeadAlert, OutboxSummary

__all__ = [
    "AlertService",
    "DeadAlert",
    "MuteError",
    "MuteResult",
    "MuteService",
    "MuteView",
    "OutboxSummary",
    "UnmuteResult",
    "list_mutes",
    "mute",
    "mute_reply",
    "mutes_reply",
    "outbox_summary",
    "unmute",
    "unmute_reply",
]
