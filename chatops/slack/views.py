"""The read side of the Slack surface: a parsed command and a user's access in, a message out.

Answers come from stored state only (never the live source), so a reply is ready in
milliseconds whatever the source is doing. Bots the user may not view are filtered out
before anything is counted or rendered: a refusal or an empty list never reveals them.
"""

from __future__ import annotations

import asyncio
import gc
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.domain import BotKind, Environment, Health
from chatops.permissions import Access
from chatops.slack import blocks, grammar
from chatops.store import repo
from chatops.store.cards import cards
from chatops.store.engine import SessionFactory
from chatops.store.models import Bot, Connector, TransitionRecord

JSONDict = dict[str, object]
BotFilter = Callable[[Bot], bool]


def view_filter(access: Access) -> BotFilter | None:
    """None when the user may view every bot (so SQL can count), else a per-bot predicate."""
    if any("view" in rule.allow and not rule.bots for rule in access.rules):
        return None
    return lambda bot: access.can("view", bot.name)


@dataclass(frozen=True)
class DataAge:
    age: timedelta | None
    stale_after: timedelta


@dataclass
class Fleet:
    """Every stored bot as of one successful poll, problems first then by name.

    Bot rows change only in a successful poll's transaction, so the id of the last
    successful poll identifies the whole table's contents: replies reuse one load of the
    fleet until the next poll instead of scanning 10,000 rows per command.
    """

    poll_id: int | None
    bots: list[Bot]
    connectors: dict[str, list[Connector]] = field(default_factory=dict)
    _counts: dict[Health, int] | None = None
    _by_name: list[Bot] | None = None
    _problems: list[Bot] | None = None
    _pcs: int | None = None
    _index: repo.BotIndex | None = None

    def index(self) -> repo.BotIndex:
        if self._index is None:
            users = {
                bot_id: [c.bot_user for c in connectors]
                for bot_id, connectors in self.connectors.items()
            }
            self._index = repo.BotIndex(self.bots, users)
        return self._index

    def counts(self) -> dict[Health, int]:
        if self._counts is None:
            self._counts = dict.fromkeys(Health, 0) | dict(blocks.health_counts(self.bots))
        return self._counts

    def by_name(self) -> list[Bot]:
        if self._by_name is None:
            self._by_name = blocks.by_name(self.bots)
        return self._by_name

    def problems(self) -> list[Bot]:
        """The problem bots in ``blocks.problem_first`` order."""
        if self._problems is None:
            self._problems = blocks.problem_first(
                bot for bot in self.bots if blocks.bot_health(bot).is_problem
            )
        return self._problems

    def pcs_count(self) -> int:
        if self._pcs is None:
            self._pcs = sum(1 for bot in self.bots if bot.kind == BotKind.PCS.value)
        return self._pcs


def _only(bots: list[Bot], visible: BotFilter | None) -> list[Bot]:
    return bots if visible is None else [bot for bot in bots if visible(bot)]


class Views:
    """Builds every ``/botstatus`` reply and the App Home view from the store."""

    def __init__(
        self,
        sessions: SessionFactory,
        *,
        stale_after: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.stale_after = stale_after
        self.clock = clock
        self._fleet: Fleet | None = None
        self._loading = asyncio.Lock()

    async def _current(self, session: AsyncSession, now: datetime) -> tuple[Fleet, DataAge]:
        last = await repo.last_successful_poll(session)
        age = DataAge(None, self.stale_after)
        if last is not None:
            finished = last.finished_at or last.started_at
            age = DataAge(max(now - finished, timedelta(0)), self.stale_after)
        poll_id = last.id if last is not None else None
        fleet = self._fleet
        if fleet is None or fleet.poll_id != poll_id:
            async with self._loading:
                fleet = self._fleet
                if fleet is None or fleet.poll_id != poll_id:
                    fleet = Fleet(
                        poll_id,
                        await repo.list_bots(session),
                        await repo.all_connectors(session),
                    )
                    self._fleet = fleet
                    # 10,000 long-lived rows would be walked by every full collection
                    # (stalls of a few hundred ms under load): park them outside the GC
                    # until the next poll, collecting what the previous fleet left first.
                    gc.unfreeze()
                    gc.collect()
                    gc.freeze()
        return fleet, age

    async def reply(self, command: grammar.Command, access: Access) -> JSONDict:
        """The message for a read-only command (summary, query, problems, all, history)."""
        now = self.clock()
        visible = view_filter(access)
        async with self.sessions() as session:
            fleet, age = await self._current(session, now)
            if isinstance(command, grammar.Summary):
                return self._summary(fleet, visible, now, age)
            if isinstance(command, grammar.Problems):
                bots = _only(fleet.problems(), visible)
                return blocks.problems(bots, now, command.page, data_age=age.age, ordered=True)
            if isinstance(command, grammar.All):
                bots = _only(fleet.by_name(), visible)
                return blocks.all_bots(bots, command.page, now, data_age=age.age, ordered=True)
            if isinstance(command, grammar.Query):
                return self._query(fleet, command.query, access, visible, now)
            if isinstance(command, grammar.History):
                return await self._history(session, fleet, command.bot, visible, now)
        raise TypeError(f"not a read-only command: {command!r}")

    def _summary(
        self, fleet: Fleet, visible: BotFilter | None, now: datetime, age: DataAge
    ) -> JSONDict:
        if visible is None:
            counts = fleet.counts()
            problem_bots = fleet.bots[: blocks.SUMMARY_PROBLEM_BOTS]
            problem_bots = [bot for bot in problem_bots if blocks.bot_health(bot).is_problem]
        else:
            bots = _only(fleet.bots, visible)
            counts = dict(blocks.health_counts(bots))
            problem_bots = [bot for bot in bots if blocks.bot_health(bot).is_problem]
        return blocks.summary(
            counts,
            problem_bots,
            age.age,
            now,
            total=sum(counts.values()),
            stale_after=age.stale_after,
        )

    def _query(
        self,
        fleet: Fleet,
        query: str,
        access: Access,
        visible: BotFilter | None,
        now: datetime,
    ) -> JSONDict:
        bots = _only(repo.match_bots(fleet.index(), query), visible)
        suggestion = None
        if not bots:
            names = [bot.name for bot in _only(fleet.bots, visible)]
            suggestion = grammar.suggest(query, names)
        return blocks.bot_details(
            cards(bots, fleet.connectors),
            now,
            query=query,
            can_start=lambda bot: access.can("start", bot.name),
            can_stop=lambda bot: access.can("stop", bot.name),
            pcs_count=fleet.pcs_count(),
            suggestion=suggestion,
        )

    async def _history(
        self,
        session: AsyncSession,
        fleet: Fleet,
        name: str,
        visible: BotFilter | None,
        now: datetime,
    ) -> JSONDict:
        bots = _only(repo.match_bots(fleet.index(), name), visible)
        if not bots:
            names = [bot.name for bot in _only(fleet.bots, visible)]
            return blocks.bot_details(
                [],
                now,
                query=name,
                can_start=lambda _: False,
                can_stop=lambda _: False,
                pcs_count=0,
                suggestion=grammar.suggest(name, names),
            )
        if len(bots) > 1:
            return blocks.help_text(
                problem=f"{len(bots):,} bots match that name; history needs exactly one."
            )
        bot = bots[0]
        week = await repo.transitions_for(session, bot.id, now - timedelta(days=7))
        return blocks.history(
            bot,
            week[-blocks.HISTORY_TRANSITIONS :],
            time_in_health(bot, week, now - timedelta(hours=24), now),
            time_in_health(bot, week, now - timedelta(days=7), now),
            now,
        )

    async def home(self, access: Access, environment: Environment) -> JSONDict:
        now = self.clock()
        visible = view_filter(access)
        async with self.sessions() as session:
            fleet, age = await self._current(session, now)
        bots = _only([bot for bot in fleet.bots if bot.environment == environment.value], visible)
        counts = dict.fromkeys(Health, 0) | dict(blocks.health_counts(bots))
        return blocks.home_view(
            bots[: blocks.HOME_MAX_BOTS],
            counts,
            environment,
            age.age,
            now,
            stale_after=age.stale_after,
        )


def time_in_health(
    bot: Bot, transitions: Sequence[TransitionRecord], start: datetime, end: datetime
) -> dict[Health, timedelta]:
    """How long the bot spent in each health between ``start`` and ``end``.

    Rebuilt from the transition rows (per dimension; rows of one poll share a time) and the
    bot's current health. Time before the bot was first seen is not counted.
    """
    start = max(start, bot.first_seen)
    changes = sorted(
        {(t.at, t.old_health, t.new_health) for t in transitions if t.old_health != t.new_health}
    )
    spent: dict[Health, timedelta] = defaultdict(timedelta)
    # Walk the timeline forwards: before the first change the bot had that change's old health.
    current = _health(changes[0][1]) if changes else _health(bot.health)
    cursor = start
    for at, _old, new in changes:
        if at > cursor:
            spent[current] += min(at, end) - cursor
            cursor = at
        current = _health(new)
    if end > cursor:
        spent[current] += end - cursor
    return {health: spent[health] for health in Health if spent[health] > timedelta(0)}


def _health(value: str) -> Health:
    try:
        return Health(value)
    except ValueError:
        return Health.UNKNOWN


__all__ = ["DataAge", "Fleet", "Views", "time_in_health", "view_filter"]
