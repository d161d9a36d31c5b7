"""Which channel a bot's alerts go to, and which mutes silence it. Pure.

Routes are tried in order; the first whose every given criterion matches wins (bot name
glob, kind, environment); otherwise the default ``alerts.channel``. A degraded bot (some of
its connectors OK, some not) is alerted like any problem unless ``alerts.degraded`` or its
route's ``degraded`` is false; its route may name a channel of its own for it. Globs use ``*`` and
``?`` and ignore case, as ``/botstatus`` queries do.

A mute silences the bots its target matches *within its author's scope* (the globs their
mute permission covered when they set it), minus its exceptions (unmutes by someone whose
scope covered only part of it). So a mute never silences a bot outside its author's scope,
whenever that bot appears.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chatops.config import AlertsConfig, Route
from chatops.domain import Health
from chatops.domain.globs import glob_matches
from chatops.permissions import in_scope
from chatops.store.cards import BotCard
from chatops.store.fleet_rows import BotRecord


@dataclass(frozen=True, slots=True)
class BotFacts:
    """What routing and muting look at: a bot's id, name, kind and environment values."""

    bot_id: str
    name: str
    kind: str
    environment: str


def facts(bot: BotRecord | BotCard) -> BotFacts:
    return BotFacts(bot.id, bot.name, bot.kind, bot.environment)


def _route_matches(route: Route, bot: BotFacts) -> bool:
    if route.bots and not any(
        glob_matches(pattern, bot.name) or glob_matches(pattern, bot.bot_id)
        for pattern in route.bots
    ):
        return False
    if route.kind is not None and route.kind != bot.kind:
        return False
    return route.environment is None or route.environment.value == bot.environment


def _route(bot: BotFacts, config: AlertsConfig) -> Route | None:
    return next((route for route in config.routes if _route_matches(route, bot)), None)


def route_for(bot: BotFacts, config: AlertsConfig, health: Health | None = None) -> str | None:
    """The channel for ``bot``'s alerts; None when nothing matches and there is no default.

    An alert about a degraded bot goes to its route's ``degraded`` channel when it has one.
    """
    route = _route(bot, config)
    if route is None:
        return config.channel
    if health is Health.DEGRADED and isinstance(route.degraded, str):
        return route.degraded
    return route.channel


def alerts_degraded(bot: BotFacts, config: AlertsConfig) -> bool:
    """Whether a degraded ``bot`` is alerted (``alerts.degraded``, its route's ``degraded``)."""
    route = _route(bot, config)
    if route is not None and route.degraded is not None and not isinstance(route.degraded, str):
        return route.degraded
    return config.degraded


def matches_target(target: str, bot: BotFacts) -> bool:
    """A mute's target: a bot id, a name (case ignored) or a glob over names."""
    return bot.bot_id == target or glob_matches(target, bot.name)


@dataclass(frozen=True, slots=True)
class Reach:
    """The bots a mute (or an exception to one) reaches: its target, within ``scope``.

    ``scope`` holds the permission globs of its author (``Access.scope("mute")``); None
    stands for every bot.
    """

    target: str
    scope: tuple[str, ...] | None = None

    def reaches(self, bot: BotFacts) -> bool:
        return matches_target(self.target, bot) and in_scope(self.scope, bot.name)


@dataclass(frozen=True, slots=True)
class ActiveMute:
    reach: Reach
    exceptions: tuple[Reach, ...] = ()

    def silences(self, bot: BotFacts) -> bool:
        return self.reach.reaches(bot) and not any(e.reaches(bot) for e in self.exceptions)


def is_muted(bot: BotFacts, mutes: Iterable[ActiveMute]) -> bool:
    return any(mute.silences(bot) for mute in mutes)


def channels_for(bots: Sequence[BotFacts], config: AlertsConfig) -> list[str]:
    """Every channel some of ``bots`` route to, in route order; the default if none."""
    channels: list[str] = []
    for bot in bots:
        channel = route_for(bot, config)
        if channel is not None and channel not in channels:
            channels.append(channel)
    if not channels and config.channel is not None:
        channels.append(config.channel)
    return channels
