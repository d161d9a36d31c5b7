"""What a Start, Stop or Restart did: per connector, and for the person who clicked.

Made by :class:`chatops.slack.control.ConnectorControl`, read by the listeners and the
renderers (``chatops.slack.blocks``), which is why they live in a module of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from chatops.store.fleet_rows import BotRecord, ConnectorRecord


class Outcome(StrEnum):
    OK = "ok"
    REFUSED = "refused"
    UNKNOWN_BOT = "unknown_bot"
    DUPLICATE = "duplicate"
    FAILED = "failed"
    LOOKUP_FAILED = "lookup_failed"
    # Only in the audit log: the click is with the source now (or chatops died meanwhile).
    PENDING = "pending"


@dataclass(frozen=True)
class ConnectorOutcome:
    """What one action did to one connector: ``ok``, ``duplicate`` or ``failed``.

    ``before`` is the connector's row as stored when the action began: a follow-up tells
    that the connector is Online *again* by comparing the row it reads later with it.
    """

    bot_user: str
    outcome: Outcome
    message: str = ""
    before: ConnectorRecord | None = None


@dataclass(frozen=True)
class ActionResult:
    outcome: Outcome
    message: str
    bot: BotRecord | None = None
    # PCS bots share one connector: how many bots the action affected.
    affected: int = 1
    # One entry per connector acted on (a bot-level action names all of the bot's).
    connectors: tuple[ConnectorOutcome, ...] = ()


@dataclass(frozen=True)
class ConnectorWatch:
    """A connector a Start or Restart reached, watched until it is Online again.

    ``before`` is its row when the action began; ``current`` the row last read;
    ``online_after`` how long after the action it was first seen Online again (None: not
    yet).
    """

    bot_id: str
    bot_name: str
    bot_user: str
    before: ConnectorRecord | None
    current: ConnectorRecord | None = None
    online_after: timedelta | None = None
