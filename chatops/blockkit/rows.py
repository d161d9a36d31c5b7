"""How a stored bot or connector row reads in a message: its health, its three statuses
(raw values shown when they could not be read), its kind, channel and environment.

Shared by ``/botstatus`` and the alerts, so that a bot reads the same everywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from chatops.blockkit.text import code, escape_within
from chatops.domain import BotKind, Channel, Dimension, Environment, Health
from chatops.store.cards import BotCard
from chatops.store.fleet_rows import BotRecord, ConnectorRecord

# Name lengths, counted after mrkdwn escaping so that "&&&" cannot triple a line.
COMPACT_NAME: Final = 80
DETAIL_NAME: Final = 200
RAW_IN_LIST: Final = 40
RAW_IN_DETAIL: Final = 120


def bot_health(bot: BotRecord | ConnectorRecord | BotCard) -> Health:
    try:
        return Health(bot.health)
    except ValueError:
        return Health.UNKNOWN


def label(enum: type[BotKind] | type[Channel] | type[Environment], value: str) -> str:
    try:
        return enum(value).label
    except ValueError:
        return escape_within(value, 40)


def status_text(value: str, raw: str, *, raw_limit: int) -> str:
    """A status as the seed spells it, or ``Unknown (`raw`)`` when we could not read it."""
    if value == "Unknown":
        return f"Unknown ({code(raw, raw_limit)})" if raw.strip() else "Unknown (no value)"
    return escape_within(value, 40)


def dimension_statuses(
    connector: ConnectorRecord,
) -> tuple[tuple[Dimension, str, str, datetime], ...]:
    return (
        (
            Dimension.CONNECTOR,
            connector.connector,
            connector.raw_connector,
            connector.connector_since,
        ),
        (Dimension.CLOUD, connector.cloud, connector.raw_cloud, connector.cloud_since),
        (Dimension.SERVER, connector.server, connector.raw_server, connector.server_since),
    )


def connectors_text(bot: BotRecord | BotCard) -> str:
    """``2 of 3 connectors OK`` (``1 connector`` for a bot with one)."""
    if isinstance(bot, BotCard):
        total, ok = len(bot.connectors), bot.ok_count
    else:
        total, ok = bot.connectors, bot.connectors_ok
    if total == 1:
        return "1 connector"
    return f"{ok} of {total:,} connectors OK"


def is_pcs(bot: BotRecord | BotCard) -> bool:
    return bot.kind == BotKind.PCS.value
