"""Alert messages as Block Kit payloads. Pure functions: rows and decisions in, JSON out.

Each function returns ``{"text": fallback, "blocks": [...]}`` inside Slack's limits whatever
the input (names are escaped and cut, lists are capped with an "and N more" line); that is
checked by ``chatops.blockkit.limits`` here and in tests/test_alerts_render.py. Escaping,
dates, statuses and the Start/Stop/Restart buttons come from ``chatops.blockkit``, so an
alert looks and acts like ``/botstatus``: the buttons carry action ids ``bot_start``,
``bot_stop`` and ``bot_restart`` and the Slack surface re-checks the clicking user's
permissions. Outages, digests and the
status source's outage carry an *Acknowledge* button beside their headline (``ack_button``)
until someone owns them (``Owner``); then a line under the headline says who, and since
when.

One module per kind of message: ``one_bot``, ``digests``, ``source_outage``,
``mute_notices``, ``mute_replies``, ``maintenance_replies``, ``acknowledgements``; ``pieces``
holds what they are made of. This package re-exports what its callers use, so they read
``render.problem(...)`` (``maintenance_replies`` is imported by name: it needs
``chatops.alerts.maintenance_views``, which needs this package).
"""

from __future__ import annotations

from chatops.alerts.render.acknowledgements import acknowledged_reply, bot_subject, released_reply
from chatops.alerts.render.digests import (
    DigestItem,
    digest,
    digest_reminder,
    digest_resolved,
    health_counts,
)
from chatops.alerts.render.mute_notices import mute_created, mute_ended, mute_excepted
from chatops.alerts.render.mute_replies import mute_reply, mutes_reply, unmute_reply
from chatops.alerts.render.one_bot import (
    changed_reply,
    flapping,
    flapping_over,
    manual_resolution,
    notice,
    problem,
    recovered_reply,
    reminder,
    resolved,
)
from chatops.alerts.render.pieces import (
    health_of,
    owned,
    ownership,
    reply,
)
from chatops.alerts.render.source_outage import (
    source_recovered_reply,
    source_recovered_update,
    source_reminder,
    source_unreachable,
)
from chatops.blockkit.controls import ACTION_ACK, ack_button

__all__ = [
    "ACTION_ACK",
    "DigestItem",
    "ack_button",
    "acknowledged_reply",
    "bot_subject",
    "changed_reply",
    "digest",
    "digest_reminder",
    "digest_resolved",
    "flapping",
    "flapping_over",
    "health_counts",
    "health_of",
    "manual_resolution",
    "mute_created",
    "mute_ended",
    "mute_excepted",
    "mute_reply",
    "mutes_reply",
    "notice",
    "owned",
    "ownership",
    "problem",
    "recovered_reply",
    "released_reply",
    "reminder",
    "reply",
    "resolved",
    "source_recovered_reply",
    "source_recovered_update",
    "source_reminder",
    "source_unreachable",
    "unmute_reply",
]
