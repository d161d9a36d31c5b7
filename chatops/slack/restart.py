"""``/botstatus restart <bot|glob>``: which bots and connectors a request names. Pure.

A target names bots as a mute's target does: a bot id, a bot name (case ignored) or a glob
over names (``chatops.domain.globs``). The person asking sees how many
bots and connectors that is before anything happens, and the button they confirm with
carries a digest of exactly those bots: if the target names other bots by the time of the
click, nothing is restarted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from chatops.domain import BotKind
from chatops.domain.globs import glob_matches
from chatops.domain.permission import Permission
from chatops.permissions import Access
from chatops.store.cards import BotCard
from chatops.store.fleet_rows import BotRecord, ConnectorRecord

# A restart reaches LivePerson twice per connector, one connector after another; past this
# many bots a request is refused (narrow the glob) rather than run for many minutes.
MAX_BOTS: Final = 100
# What restarting a bot needs, on every bot of the request.
NEEDS: Final[tuple[Permission, ...]] = ("view", "start", "stop")


def digest_of(bot_ids: Iterable[str]) -> str:
    return hashlib.sha256("\x1f".join(sorted(bot_ids)).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class RestartPlan:
    """The listed bots ``target`` names, by name, with their connectors."""

    target: str
    bots: tuple[BotCard, ...]
    # How many survey bots share the account's survey connector.
    pcs_count: int

    @property
    def acted(self) -> tuple[BotCard, ...]:
        """The bots to act on: PCS bots share one connector, so the first stands for all."""
        acted: list[BotCard] = []
        pcs_seen = False
        for card in self.bots:
            if card.kind == BotKind.PCS.value:
                if pcs_seen:
                    continue
                pcs_seen = True
            acted.append(card)
        return tuple(acted)

    @property
    def pcs_bots(self) -> int:
        return sum(1 for card in self.bots if card.kind == BotKind.PCS.value)

    @property
    def connector_count(self) -> int:
        """How many connectors the restart reaches (the survey connector once)."""
        return sum(len(card.connectors) for card in self.acted)

    @property
    def digest(self) -> str:
        return digest_of(card.id for card in self.bots)

    @property
    def too_many(self) -> bool:
        return len(self.bots) > MAX_BOTS

    def outside(self, access: Access) -> list[BotCard]:
        """The bots of the request this user may not restart (any, and the whole is refused)."""
        return [
            card
            for card in self.bots
            if not all(access.can(permission, card.name) for permission in NEEDS)
        ]


def plan(
    bots: Iterable[BotRecord],
    connectors: Mapping[str, Sequence[ConnectorRecord]],
    target: str,
    *,
    pcs_count: int,
) -> RestartPlan:
    """The plan for ``target`` over the listed ``bots`` (removed bots are never named)."""
    target = target.strip()
    named = [
        bot
        for bot in bots
        if bot.removed_at is None
        and target
        and (bot.id == target or glob_matches(target, bot.name))
    ]
    named.sort(key=lambda bot: (bot.name.casefold(), bot.id))
    cards = tuple(BotCard(bot, tuple(connectors.get(bot.id, ()))) for bot in named)
    return RestartPlan(target, cards, pcs_count)
