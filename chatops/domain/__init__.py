"""Pure domain model: statuses, snapshots, health, diff and the alert policy. No I/O."""

from __future__ import annotations

from chatops.domain.snapshot import (
    BotChange,
    FleetDiff,
    ManualOperation,
    Snapshot,
    Transition,
    diff,
    diff_fleet,
)
from chatops.domain.status import (
    BotKind,
    Channel,
    Cloud,
    Connector,
    Dimension,
    Environment,
    Health,
    Server,
    StatusValue,
    health,
    normalise_key,
    parse_channel,
    parse_cloud,
    parse_connector,
    parse_environment,
    parse_kind,
    parse_server,
)

__all__ = [
    "BotChange",
    "BotKind",
    "Channel",
    "Cloud",
    "Connector",
    "Dimension",
    "Environment",
    "FleetDiff",
    "Health",
    "ManualOperation",
    "Server",
    "Snapshot",
    "StatusValue",
    "Transition",
    "diff",
    "diff_fleet",
    "health",
    "normalise_key",
    "parse_channel",
    "parse_cloud",
    "parse_connector",
    "parse_environment",
    "parse_kind",
    "parse_server",
]
