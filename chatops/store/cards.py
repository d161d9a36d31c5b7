"""A bot row with its listed connector rows: what renderers show of one bot.

Alerts and ``/botstatus`` details speak of a bot and name its connectors; a :class:`BotCard`
carries both, read once, so a renderer never queries. Its attributes that a bot row has
(``id``, ``name``, ``kind``, ...) read through to the row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from chatops.domain import Health
from chatops.domain.conversations import BotConversations, bot_lines, connector_text
from chatops.store.fleet_rows import BotRecord, ConnectorRecord


def _health(value: str) -> Health:
    try:
        return Health(value)
    except ValueError:
        return Health.UNKNOWN


@dataclass(frozen=True, slots=True)
class BotCard:
    bot: BotRecord
    connectors: tuple[ConnectorRecord, ...]
    # Its connectors' open conversations (Agent Metrics); None: not read, nothing to show.
    conversations: BotConversations | None = None

    @property
    def id(self) -> str:
        return self.bot.id

    @property
    def name(self) -> str:
        return self.bot.name

    @property
    def kind(self) -> str:
        return self.bot.kind

    @property
    def channel(self) -> str:
        return self.bot.channel

    @property
    def environment(self) -> str:
        return self.bot.environment

    @property
    def health(self) -> str:
        return self.bot.health

    @property
    def health_since(self) -> datetime:
        return self.bot.health_since

    @property
    def manual_operation(self) -> str | None:
        return self.bot.manual_operation

    @property
    def manual_by(self) -> str | None:
        return self.bot.manual_by

    @property
    def manual_at(self) -> datetime | None:
        return self.bot.manual_at

    @property
    def problem_connectors(self) -> tuple[ConnectorRecord, ...]:
        """Its connectors that are not OK, most urgent first, then by bot user."""
        return tuple(
            sorted(
                (c for c in self.connectors if c.health != Health.OK.value),
                key=lambda c: (_health(c.health).severity, c.bot_user),
            )
        )

    @property
    def ok_count(self) -> int:
        return sum(1 for c in self.connectors if c.health == Health.OK.value)

    def connector(self, bot_user: str) -> ConnectorRecord | None:
        return next((c for c in self.connectors if c.bot_user == bot_user), None)

    def conversation_lines(self, user: Callable[[str], str]) -> list[str]:
        """What its alert or details say of its conversations (nothing when not read)."""
        if self.conversations is None:
            return []
        connectors = [(c.bot_user, _health(c.health)) for c in self.connectors]
        return bot_lines(self.conversations, connectors, _health(self.health), user)

    def conversations_of(self, bot_user: str) -> str | None:
        """One connector's conversations in a few words (None when not read)."""
        if self.conversations is None:
            return None
        return connector_text(self.conversations, bot_user)


def cards(
    bots: Iterable[BotRecord],
    connectors: Mapping[str, Sequence[ConnectorRecord]],
    conversations: Mapping[str, BotConversations] | None = None,
) -> list[BotCard]:
    """One card per bot, in the order given, with the connectors found for it."""
    found = conversations or {}
    return [BotCard(bot, tuple(connectors.get(bot.id, ())), found.get(bot.id)) for bot in bots]
