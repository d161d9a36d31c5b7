"""The fake LivePerson's vocabulary: paths, status spellings, and the fleet's parts.

A fleet is bots; a bot has one or more agent connectors (one per bot user); each connector is
one entry in LivePerson's status list (a *listing*). All PCS bots share one connector, the
Survey Connector: each PCS bot has a listing of its own that points at that one connector.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chatops.sandbox.jsontypes import JSONDict

MONITORING = "/service-monitoring-0.1/sysadmin/nodejs/instance"
PLATFORM = "/bot-platform-manager-0.1"
CONTROL = "/_sandbox"
PCS_USER = "Survey Connector"
UNASSIGNED_GROUP = "un_assigned"
# The bot platform pages at most this many items, whatever ``size`` asks for.
MAX_PAGE_SIZE = 100
SESSION_TTL_MS = 8 * 3600 * 1000

# Fields of a status-list entry that tests and the demo may change. ``botName`` belongs to
# the bot (or to one entry when a connector is named); the others to a connector.
PATCHABLE_FIELDS = (
    "nodeStatus",
    "lpSocketStatus",
    "cbSocketStatus",
    "bcSocketStatus",
    "botName",
    "lastManualOperation",
    "manualOperationPerformedByName",
    "manualOperationTs",
    "type",
    "environment",
)
SERVER_FIELDS = ("cbSocketStatus", "bcSocketStatus")

# Status words in the spellings the fake uses. Each connector gets one spelling per status
# field, chosen from the seed, so one status list mixes them like a real one can.
SPELLINGS: dict[str, dict[str, str]] = {
    "upper": {
        "online": "ONLINE",
        "offline": "OFFLINE",
        "away": "AWAY",
        "connected": "CONNECTED",
        "not_connected": "NOT_CONNECTED",
        "stopped": "STOPPED",
        "ready": "READY_TO_START",
    },
    "lower": {
        "online": "online",
        "offline": "offline",
        "away": "away",
        "connected": "connected",
        "not_connected": "not-connected",
        "stopped": "stopped",
        "ready": "ready-to-start",
    },
    "title": {
        "online": "Online",
        "offline": "Offline",
        "away": "Away",
        "connected": "Connected",
        "not_connected": "Not Connected",
        "stopped": "Stopped",
        "ready": "Ready to Start",
    },
}
STYLES = tuple(SPELLINGS)


class Refused(Exception):
    """A request LivePerson would refuse: HTTP ``status`` and the envelope's ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(eq=False)
class Connector:
    """One agent connector (one bot user) and its state.

    ``fields`` is its part of a status entry: the three statuses, the manual operation, the
    bot user (``lpAccountUser``, ``lpUserId``), ``type``, ``environment``, times...
    """

    user: str
    fields: JSONDict
    node_style: str
    socket_style: str
    pcs: bool
    chat: bool
    # When a Start is in progress: the clock time at which the connector is Online.
    online_at: float | None = None
    starts: int = 0
    stops: int = 0

    @property
    def server_field(self) -> str:
        """Where the Bot Server status is: bcSocketStatus (PCS) or cbSocketStatus (custom)."""
        return "bcSocketStatus" if self.pcs else "cbSocketStatus"

    def word(self, field_name: str, status: str) -> str:
        """``status`` (a key of SPELLINGS) spelled as this connector spells ``field_name``."""
        style = self.node_style if field_name == "nodeStatus" else self.socket_style
        return SPELLINGS[style][status]

    def is_online(self) -> bool:
        return str(self.fields.get("nodeStatus", "")).lower() == "online"


@dataclass(eq=False)
class Listing:
    """One entry of a status list: a bot and one of its connectors."""

    connector: Connector
    # Fields this entry leaves out (a nameless bot, a messy fleet, a test's ``None``).
    hidden: set[str] = field(default_factory=set)
    # A botName for this entry only (a bot whose connectors disagree on its name).
    name: str | None = None
    # Listed twice in the status lists (a fleet with duplicates).
    repeated: bool = False


@dataclass(eq=False)
class Bot:
    """A bot: its own fields, its bot group, and one listing per connector."""

    bot_id: str
    name: str
    pcs: bool
    group_id: str
    # The bot's channel as the bot platform knows it; a status entry's "type" may differ
    # or be missing.
    chat: bool
    # botVersion, organizationId, orgName, and the PCS variant's extra fields.
    fields: JSONDict
    listings: list[Listing]

    def listing(self, user: str) -> Listing | None:
        return next((item for item in self.listings if item.connector.user == user), None)

    @property
    def connectors(self) -> list[Connector]:
        return [item.connector for item in self.listings]
