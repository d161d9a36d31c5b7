"""The Bots Status model: three status dimensions per connector, bot attributes, health.

Display strings are the seed's (LivePerson's Bots Status page) to the letter. Raw strings
from a source are normalised case-insensitively with spaces, underscores and hyphens treated
alike; a spelling we do not know becomes ``Unknown`` and the raw value is kept beside it.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache


class Dimension(StrEnum):
    CONNECTOR = "connector"
    CLOUD = "cloud"
    SERVER = "server"

    @property
    def label(self) -> str:
        return _DIMENSION_LABELS[self]


_DIMENSION_LABELS = {
    Dimension.CONNECTOR: "Bot Agent Connector",
    Dimension.CLOUD: "Conversational Cloud",
    Dimension.SERVER: "Bot Server",
}


class ConnectorStatus(StrEnum):
    """Bot Agent Connector status."""

    NOT_CONNECTED = "Not Connected"
    READY_TO_START = "Ready to Start"
    ONLINE = "Online"
    STOPPED = "Stopped"
    UNKNOWN = "Unknown"


class Cloud(StrEnum):
    """Conversational Cloud connection status (messaging or chat)."""

    NOT_CONNECTED = "Not Connected"
    CONNECTED = "Connected"
    ONLINE = "Online"
    OFFLINE = "Offline"
    AWAY = "Away"
    NOT_APPLICABLE = "N/A"
    UNKNOWN = "Unknown"


class Server(StrEnum):
    """Bot Server connection status."""

    NOT_CONNECTED = "Not Connected"
    CONNECTED = "Connected"
    NOT_APPLICABLE = "N/A"
    UNKNOWN = "Unknown"


StatusValue = ConnectorStatus | Cloud | Server


class BotKind(StrEnum):
    CUSTOM = "custom"
    PCS = "pcs"

    @property
    def label(self) -> str:
        return "Custom" if self is BotKind.CUSTOM else "PCS"


class Channel(StrEnum):
    MESSAGING = "messaging"
    CHAT = "chat"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Environment(StrEnum):
    PRODUCTION = "production"
    DEMO = "demo"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @property
    def source_name(self) -> str:
        """The name LivePerson's services use: PRODUCTION, and STAGING for the UI's Demo."""
        return "PRODUCTION" if self is Environment.PRODUCTION else "STAGING"


class Health(StrEnum):
    """A connector's health, or a bot's rolled up from its connectors (``DEGRADED``: bots only)."""

    OK = "ok"
    DEGRADED = "degraded"
    AWAY = "away"
    DOWN = "down"
    STOPPED = "stopped"
    READY = "ready"
    UNKNOWN = "unknown"

    @property
    def emoji(self) -> str:
        return _HEALTH_EMOJI[self]

    @property
    def label(self) -> str:
        return _HEALTH_LABELS[self]

    @property
    def severity(self) -> int:
        """Sort key: the most urgent health first (lower is more urgent)."""
        return _HEALTH_ORDER.index(self)

    @property
    def is_problem(self) -> bool:
        return self is not Health.OK


_HEALTH_ORDER = [
    Health.DOWN,
    Health.DEGRADED,
    Health.UNKNOWN,
    Health.STOPPED,
    Health.READY,
    Health.AWAY,
    Health.OK,
]
_HEALTH_EMOJI = {
    Health.OK: ":large_green_circle:",
    Health.DEGRADED: ":large_orange_circle:",
    Health.AWAY: ":large_yellow_circle:",
    Health.DOWN: ":red_circle:",
    Health.STOPPED: ":black_circle:",
    Health.READY: ":white_circle:",
    Health.UNKNOWN: ":grey_question:",
}
_HEALTH_LABELS = {
    Health.OK: "OK",
    Health.DEGRADED: "Degraded",
    Health.AWAY: "Away",
    Health.DOWN: "Down",
    Health.STOPPED: "Stopped",
    Health.READY: "Ready to Start",
    Health.UNKNOWN: "Unknown",
}

_SEPARATORS = re.compile(r"[\s_\-]+")


def normalise_key(raw: str) -> str:
    """``NOT_CONNECTED``, ``not-connected`` and ``Not  Connected`` all give ``not connected``."""
    return _SEPARATORS.sub(" ", raw).strip().lower()


def _table(values: list[StatusValue]) -> dict[str, StatusValue]:
    table: dict[str, StatusValue] = {}
    for value in values:
        if value.value == "Unknown":
            continue
        table[normalise_key(value.value)] = value
    return table


_CONNECTOR_TABLE = _table(list(ConnectorStatus))
_CLOUD_TABLE = _table(list(Cloud))
_SERVER_TABLE = _table(list(Server))
for _table_ in (_CLOUD_TABLE, _SERVER_TABLE):
    # "N/A" has no separators to vary, but sources also write "NA" or "n a".
    _table_["na"] = _table_["n/a"]
    _table_["n a"] = _table_["n/a"]


# Sources send a handful of spellings 10,000 times a poll: the parsers are cached.
@lru_cache(maxsize=4096)
def parse_connector(raw: str | None) -> ConnectorStatus:
    value = _CONNECTOR_TABLE.get(normalise_key(raw or ""))
    return value if isinstance(value, ConnectorStatus) else ConnectorStatus.UNKNOWN


@lru_cache(maxsize=4096)
def parse_cloud(raw: str | None) -> Cloud:
    value = _CLOUD_TABLE.get(normalise_key(raw or ""))
    return value if isinstance(value, Cloud) else Cloud.UNKNOWN


@lru_cache(maxsize=4096)
def parse_server(raw: str | None) -> Server:
    value = _SERVER_TABLE.get(normalise_key(raw or ""))
    return value if isinstance(value, Server) else Server.UNKNOWN


@lru_cache(maxsize=4096)
def parse_kind(raw: str | None) -> BotKind:
    """``POST_SURVEY_BOT``, ``pcs`` and ``post-conversation survey`` are PCS; the rest custom."""
    key = normalise_key(raw or "")
    if key in {"pcs", "post survey bot", "post conversation survey", "survey"}:
        return BotKind.PCS
    return BotKind.CUSTOM


@lru_cache(maxsize=4096)
def parse_channel(raw: str | None) -> Channel:
    return Channel.CHAT if normalise_key(raw or "") == "chat" else Channel.MESSAGING


@lru_cache(maxsize=4096)
def parse_environment(raw: str | None) -> Environment:
    """LivePerson says PRODUCTION, and DEMO or STAGING for the UI's Demo."""
    key = normalise_key(raw or "")
    return Environment.DEMO if key in {"demo", "staging"} else Environment.PRODUCTION


def health(connector: ConnectorStatus, cloud: Cloud, server: Server) -> Health:
    """Derive a connector's health from its three statuses (ARCHITECTURE.md section 1)."""
    if connector is ConnectorStatus.STOPPED:
        return Health.STOPPED
    if connector is ConnectorStatus.READY_TO_START:
        return Health.READY
    if connector is ConnectorStatus.NOT_CONNECTED:
        return Health.DOWN
    if connector is ConnectorStatus.UNKNOWN:
        return Health.UNKNOWN
    # The connector is Online: its two connections decide.
    if cloud in (Cloud.NOT_CONNECTED, Cloud.OFFLINE) or server is Server.NOT_CONNECTED:
        return Health.DOWN
    if cloud is Cloud.UNKNOWN or server is Server.UNKNOWN:
        return Health.UNKNOWN
    if cloud is Cloud.AWAY:
        return Health.AWAY
    return Health.OK
