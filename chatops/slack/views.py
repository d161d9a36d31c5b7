"""The read side of the Slack surface: a parsed command and a user's access in, a message out.

Answers come from stored state only (never the live source), so a reply is ready in
milliseconds whatever the source is doing. Bots the user may not view are filtered out
before anything is counted or rendered: a refusal or an empty list never reveals them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.domain import BotKind, Environment, Health
from chatops.permissions import Access
from chatops.slack import blocks, grammar
from chatops.store import repo
from chatops.store.engine import SessionFactory
from chatops.store.models import Bot, TransitionRecord

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


async def data_age(session: AsyncSession, now: datetime, stale_after: timedelta) -> DataAge:
    last = await repo.last_successful_poll(session)
    if last is None:
        return DataAge(None, stale_after)
    finished = last.finished_at or last.started_at
    return DataAge(max(now - finished, timedelta(0)), stale_after)


async def _visible_bots(
    session: AsyncSession,
    visible: BotFilter | None,
    *,
    environment: Environment | None = None,
    problems_only: bool = False,
) -> list[Bot]:
    bots = await repo.list_bots(session, environment=environment, problems_only=problems_only)
    return bots if visible is None else [bot for bot in bots if visible(bot)]


async def pcs_count(session: AsyncSession) -> int:
    result = await session.exec(
        select(func.count())
        .select_from(Bot)
        .where(col(Bot.kind) == BotKind.PCS.value, col(Bot.removed_at).is_(None))
    )
    return int(result.one())


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

    async def reply(self, command: grammar.Command, access: Access) -> JSONDict:
        """The message for a read-only command (summary, query, problems, all, history)."""
        now = self.clock()
        visible = view_filter(access)
        async with self.sessions() as session:
            age = await data_age(session, now, self.stale_after)
            if isinstance(command, grammar.Summary):
                return await self._summary(session, visible, now, age)
            if isinstance(command, grammar.Problems):
                bots = await _visible_bots(session, visible, problems_only=True)
                return blocks.problems(bots, now, command.page, data_age=age.age)
            if isinstance(command, grammar.All):
                bots = await _visible_bots(session, visible)
                return blocks.all_bots(bots, command.page, now, data_age=age.age)
            if isinstance(command, grammar.Query):
                return await self._query(session, command.query, access, visible, now)
            if isinstance(command, grammar.History):
                return await self._history(session, command.bot, visible, now)
        raise TypeError(f"not a read-only command: {command!r}")

    async def _summary(
        self, session: AsyncSession, visible: BotFilter | None, now: datetime, age: DataAge
    ) -> JSONDict:
        if visible is None:
            counts = await repo.count_by_health(session)
            problem_bots = await repo.list_bots(
                session, problems_only=True, limit=blocks.SUMMARY_PROBLEM_BOTS
            )
        else:
            bots = await _visible_bots(session, visible)
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

    async def _query(
        self,
        session: AsyncSession,
        query: str,
        access: Access,
        visible: BotFilter | None,
        now: datetime,
    ) -> JSONDict:
        bots = await repo.find_bots(session, query)
        if visible is not None:
            bots = [bot for bot in bots if visible(bot)]
        suggestion = None
        if not bots:
            names = [bot.name for bot in await _visible_bots(session, visible)]
            suggestion = grammar.suggest(query, names)
        return blocks.bot_details(
            bots,
            now,
            query=query,
            can_start=lambda bot: access.can("start", bot.name),
            can_stop=lambda bot: access.can("stop", bot.name),
            pcs_count=await pcs_count(session),
            suggestion=suggestion,
        )

    async def _history(
        self, session: AsyncSession, name: str, visible: BotFilter | None, now: datetime
    ) -> JSONDict:
        bots = await repo.find_bots(session, name)
        if visible is not None:
            bots = [bot for bot in bots if visible(bot)]
        if not bots:
            names = [bot.name for bot in await _visible_bots(session, visible)]
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
            age = await data_age(session, now, self.stale_after)
            if visible is None:
                counts = await repo.count_by_health(session, environment)
                bots = await repo.list_bots(
                    session, environment=environment, limit=blocks.HOME_MAX_BOTS
                )
            else:
                bots = await _visible_bots(session, visible, environment=environment)
                counts = dict(blocks.health_counts(bots))
        return blocks.home_view(
            bots, counts, environment, age.age, now, stale_after=age.stale_after
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


__all__ = ["DataAge", "Views", "data_age", "pcs_count", "time_in_health", "view_filter"]
