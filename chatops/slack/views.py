"""The read side of the Slack surface: a parsed command and a user's access in, a message out.

Answers come from stored state only (never the live source), so a reply is ready in
milliseconds whatever the source is doing. Bots the user may not view are filtered out
before anything is counted or rendered: a refusal or an empty list never reveals them.

The stored fleet is held in memory as of the last successful poll (:class:`Fleet`), with
what every reply needs (counts, the problem list, the name order) computed once per poll:
a reply is a lookup and a render, without a query. ``Views.refresh`` catches up with the
database after each tick of this process (leader or not), and in the background at most
once a second while replies are asked for (another replica's poll). Until the first load
is done (a fresh process), the summary is counted by SQL from the bot table instead.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import gc
import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.domain import BotKind, Environment, Health, bot_health
from chatops.domain.conversations import ConversationLimits
from chatops.jsontypes import JSONDict
from chatops.permissions import Access
from chatops.slack import blocks, grammar, restart
from chatops.store import repo
from chatops.store.agent_metrics import conversations_for
from chatops.store.cards import cards
from chatops.store.engine import SessionFactory
from chatops.store.fleet_rows import FleetRows, LastPoll, last_successful_poll
from chatops.store.models import Bot, Connector, TransitionRecord

log = logging.getLogger(__name__)

# How long a reply waits for the catch-up after a poll's commit before using what it has.
CATCH_UP_WAIT = 1.0
# Rendered summaries kept (one per view scope asked for within the second).
RENDERED_SCOPES = 64

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
    """Every listed bot as of one successful poll, problems first then by name.

    Made once per poll that changed a row; what replies derive from it is computed on
    first use and kept until the next such poll.
    """

    bots: list[Bot]
    connectors: dict[str, list[Connector]] = field(default_factory=dict)
    _counts: dict[Health, int] | None = None
    _by_name: list[Bot] | None = None
    _problems: list[Bot] | None = None
    _summary_problems: list[Bot] | None = None
    _pcs: int | None = None
    _index: repo.BotIndex | None = None
    _agents_by_bot: dict[str, blocks.AgentCounts] | None = None
    _agents: dict[str | None, blocks.AgentCounts] = field(default_factory=dict)
    # Per view scope (``Access.scope("view")``): the bots in it, their counts, the problems.
    _scoped: dict[tuple[str, ...], Scoped] = field(default_factory=dict)

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

    def agents_by_bot(self) -> dict[str, blocks.AgentCounts]:
        """LivePerson's agent counts of each bot's connectors."""
        if self._agents_by_bot is None:
            self._agents_by_bot = {
                bot_id: blocks.agent_counts(connectors)
                for bot_id, connectors in self.connectors.items()
            }
        return self._agents_by_bot

    def agents(
        self, bots: Iterable[Bot] | None = None, environment: Environment | None = None
    ) -> blocks.AgentCounts:
        """The agent counts over ``bots`` (None: every bot of ``environment``, or of the
        fleet), computed once per poll for the unscoped cases."""
        if bots is not None:
            return blocks.fleet_agent_counts(bots, self.agents_by_bot())
        key = environment.value if environment is not None else None
        if key not in self._agents:
            every = (bot for bot in self.bots if key is None or bot.environment == key)
            self._agents[key] = blocks.fleet_agent_counts(every, self.agents_by_bot())
        return self._agents[key]

    def summary_problems(self) -> list[Bot]:
        """The problem bots among the first ``SUMMARY_PROBLEM_BOTS`` in stored order."""
        if self._summary_problems is None:
            first = self.bots[: blocks.SUMMARY_PROBLEM_BOTS]
            self._summary_problems = [bot for bot in first if blocks.bot_health(bot).is_problem]
        return self._summary_problems

    def scoped(self, globs: tuple[str, ...], visible: BotFilter) -> Scoped:
        """The bots a scope of bot globs covers, counted once per poll per scope."""
        found = self._scoped.get(globs)
        if found is None:
            bots = _only(self.bots, visible)
            problems = [bot for bot in bots if blocks.bot_health(bot).is_problem]
            counts = dict(blocks.health_counts(bots))
            found = Scoped(bots, counts, problems, self.agents(bots))
            self._scoped[globs] = found
        return found

    def pcs_count(self) -> int:
        if self._pcs is None:
            self._pcs = sum(1 for bot in self.bots if bot.kind == BotKind.PCS.value)
        return self._pcs


@dataclass(frozen=True)
class Scoped:
    bots: list[Bot]
    counts: dict[Health, int]
    problems: list[Bot]
    agents: blocks.AgentCounts


def stored_order(bot: Bot) -> tuple[int, str, str]:
    """The order of ``repo.list_bots``: the most severe health first, then name, then id."""
    try:
        severity = Health(bot.health).severity
    except ValueError:
        severity = len(Health)
    return severity, bot.name, bot.id


def _only(bots: list[Bot], visible: BotFilter | None) -> list[Bot]:
    return bots if visible is None else [bot for bot in bots if visible(bot)]


class MaintenanceNotes(Protocol):
    """What the maintenance windows in force say of bots (the alerts' MaintenanceService)."""

    async def notes(self, bots: Sequence[Bot]) -> dict[str, str]:
        """A line per bot id in a window, for its details."""
        ...

    async def lines(self, bots: Sequence[Bot]) -> list[str]:
        """A line per window in force that covers some of ``bots``, for the Home tab."""
        ...


class Views:
    """Builds every ``/botstatus`` reply and the App Home view from the store."""

    def __init__(
        self,
        sessions: SessionFactory,
        *,
        stale_after: timedelta,
        clock: Callable[[], datetime],
        recheck: timedelta = timedelta(seconds=1),
        conversations: ConversationLimits | None = None,
    ) -> None:
        self.sessions = sessions
        self.conversations = conversations or ConversationLimits()
        self.stale_after = stale_after
        self.clock = clock
        self.recheck = recheck.total_seconds()
        self._rows = FleetRows()
        self._fleet: Fleet | None = None
        self._poll: LastPoll | None = None
        self._refreshing = asyncio.Lock()
        self._checked = float("-inf")  # time.monotonic() of the last catch-up's start
        self._background: asyncio.Task[None] | None = None
        self._rendered: dict[
            tuple[str, ...] | None, tuple[Fleet, LastPoll | None, int, JSONDict]
        ] = {}
        # Clear from the transaction of a poll of this process that changed bots until the
        # catch-up after its commit: a reply asked for meanwhile waits, so that a reply
        # after a commit never shows the fleet from before it.
        self._caught_up = asyncio.Event()
        self._caught_up.set()
        # Set by the runtime when alerts are wired: details and Home name windows in force.
        self.maintenance: MaintenanceNotes | None = None

    async def poll_landing(
        self, session: AsyncSession, changes: Sequence[object], poll: object, now: datetime
    ) -> None:
        """The poller's in-transaction hook: this poll changed bots, replies wait for it."""
        if changes and self._fleet is not None:
            self._caught_up.clear()

    async def refresh(self, *, after_poll: bool = False) -> Fleet:
        """Catch up with the stored fleet: the rows whose version moved, and the last poll.

        ``after_poll``: this process's tick has ended (committed or not), so replies held
        since its transaction go ahead once this catch-up is done.
        """
        try:
            async with self._refreshing:
                self._checked = time.monotonic()
                async with self.sessions() as session:
                    loaded = await self._rows.catch_up(session)
                if self._fleet is None or loaded.changed:
                    bots = sorted(loaded.bots.values(), key=stored_order)
                    self._fleet = Fleet(bots, dict(loaded.connectors))
                self._poll = loaded.poll
                if loaded.full:
                    # Tens of thousands of long-lived rows would be walked by every full
                    # collection (stalls of a few hundred ms): keep them out of the cyclic
                    # GC. They hold no reference cycles, so reference counting still frees
                    # each one a later catch-up replaces.
                    gc.freeze()
                return self._fleet
        finally:
            if after_poll:
                self._caught_up.set()

    def refresh_soon(self) -> None:
        """Catch up in the background, unless that is under way or was done just now."""
        if self._background is not None or time.monotonic() - self._checked < self.recheck:
            return
        self._background = asyncio.get_running_loop().create_task(
            self._refresh_in_background(), name="views-refresh"
        )

    async def _refresh_in_background(self) -> None:
        try:
            await self.refresh()
        except Exception:
            log.exception("could not read the stored fleet; replies use the previous one")
        finally:
            self._background = None

    async def aclose(self) -> None:
        task = self._background
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _age(self, now: datetime) -> DataAge:
        if self._poll is None:
            return DataAge(None, self.stale_after)
        return DataAge(max(now - self._poll.finished_at, timedelta(0)), self.stale_after)

    async def _current(self) -> tuple[Fleet, DataAge]:
        if not self._caught_up.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._caught_up.wait(), CATCH_UP_WAIT)
        fleet = self._fleet
        if fleet is None:
            fleet = await self.refresh()
        else:
            self.refresh_soon()
        return fleet, self._age(self.clock())

    async def reply(self, command: grammar.Command, access: Access) -> JSONDict:
        """The message for a read-only command (summary, query, problems, all, history)."""
        visible = view_filter(access)
        if self._fleet is None and visible is None and isinstance(command, grammar.Summary):
            self.refresh_soon()
            return await self._counted_summary()
        fleet, age = await self._current()
        now = self.clock()
        if isinstance(command, grammar.Summary):
            return self._summary(fleet, visible, access.scope("view"), now, age)
        if isinstance(command, grammar.Problems):
            bots = _only(fleet.problems(), visible)
            return blocks.problems(bots, now, command.page, data_age=age.age, ordered=True)
        if isinstance(command, grammar.All):
            bots = _only(fleet.by_name(), visible)
            return blocks.all_bots(bots, command.page, now, data_age=age.age, ordered=True)
        if isinstance(command, grammar.Query):
            return await self._query(fleet, command.query, access, visible, now)
        if isinstance(command, grammar.History):
            async with self.sessions() as session:
                return await self._history(session, fleet, command.bot, visible, now)
        raise TypeError(f"not a read-only command: {command!r}")

    async def _counted_summary(self) -> JSONDict:
        """The summary by SQL (counts per health, the first problem bots), while the fleet
        is not in memory yet: a fresh process answers at once."""
        async with self.sessions() as session:
            poll = await last_successful_poll(session)
            counts = await repo.count_by_health(session)
            problem_bots = await repo.list_bots(
                session, problems_only=True, limit=blocks.SUMMARY_PROBLEM_BOTS
            )
        now = self.clock()
        age = DataAge(
            None if poll is None else max(now - poll.finished_at, timedelta(0)),
            self.stale_after,
        )
        # The agent counts come from the connectors, in memory once the fleet is loaded.
        return self._render_summary(counts, problem_bots, now, age, None)

    def _summary(
        self,
        fleet: Fleet,
        visible: BotFilter | None,
        scope: tuple[str, ...] | None,
        now: datetime,
        age: DataAge,
    ) -> JSONDict:
        # Rendered at most once a second per view scope (its times are to the second).
        second = int(now.timestamp())
        cached = self._rendered.get(scope)
        if cached is not None and cached[0] is fleet and cached[1:3] == (self._poll, second):
            return dict(cached[3])
        if visible is None or scope is None:
            counts = fleet.counts()
            problem_bots = fleet.summary_problems()
            agents = fleet.agents()
        else:
            scoped = fleet.scoped(scope, visible)
            counts, problem_bots, agents = scoped.counts, scoped.problems, scoped.agents
        message = self._render_summary(counts, problem_bots, now, age, agents)
        if len(self._rendered) >= RENDERED_SCOPES:
            self._rendered.clear()
        self._rendered[scope] = (fleet, self._poll, second, message)
        return dict(message)

    def _render_summary(
        self,
        counts: dict[Health, int],
        problem_bots: list[Bot],
        now: datetime,
        age: DataAge,
        agents: blocks.AgentCounts | None,
    ) -> JSONDict:
        return blocks.summary(
            counts,
            problem_bots,
            age.age,
            now,
            total=sum(counts.values()),
            agents=agents,
            stale_after=age.stale_after,
        )

    async def restart_plan(self, target: str) -> restart.RestartPlan:
        """The listed bots ``target`` names now, with their connectors (every bot, whoever
        asks: ``RestartPlan.outside`` says which the asker may not restart)."""
        fleet, _ = await self._current()
        return restart.plan(fleet.bots, fleet.connectors, target, pcs_count=fleet.pcs_count())

    async def suggestion(self, name: str, access: Access) -> str | None:
        """The name of a bot the user can see closest to ``name`` (a typo), if any."""
        fleet, _ = await self._current()
        names = [bot.name for bot in _only(fleet.bots, view_filter(access))]
        return grammar.suggest(name, names)

    async def _query(
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
        # The conversations move at every poll without touching the fleet's rows: read
        # for the bots shown only (a few rows, by primary key).
        async with self.sessions() as session:
            conversations = await conversations_for(
                session, [bot.id for bot in bots[: blocks.MAX_DETAILED_BOTS]], self.conversations
            )
        notes = await self.maintenance.notes(bots) if self.maintenance and bots else {}
        return blocks.bot_details(
            cards(bots, fleet.connectors, conversations),
            now,
            query=query,
            can_start=lambda bot: access.can("start", bot.name),
            can_stop=lambda bot: access.can("stop", bot.name),
            pcs_count=fleet.pcs_count(),
            suggestion=suggestion,
            notes=notes,
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
        connectors = await repo.connectors_ever(session, bot.id)
        return blocks.history(
            bot,
            week[-blocks.HISTORY_TRANSITIONS :],
            time_in_health(bot, connectors, week, now - timedelta(hours=24), now),
            time_in_health(bot, connectors, week, now - timedelta(days=7), now),
            now,
        )

    async def home(self, access: Access, environment: Environment) -> JSONDict:
        visible = view_filter(access)
        fleet, age = await self._current()
        now = self.clock()
        bots = _only([bot for bot in fleet.bots if bot.environment == environment.value], visible)
        counts = dict.fromkeys(Health, 0) | dict(blocks.health_counts(bots))
        agents = fleet.agents(environment=environment) if visible is None else fleet.agents(bots)
        maintenance = await self.maintenance.lines(bots) if self.maintenance else []
        return blocks.home_view(
            bots[: blocks.HOME_MAX_BOTS],
            counts,
            environment,
            age.age,
            now,
            agents=agents,
            stale_after=age.stale_after,
            maintenance=maintenance,
        )


def time_in_health(
    bot: Bot,
    connectors: Sequence[Connector],
    transitions: Sequence[TransitionRecord],
    start: datetime,
    end: datetime,
) -> dict[Health, timedelta]:
    """How long the bot spent in each of its healths between ``start`` and ``end``.

    The bot's health is rolled up from its connectors' (``chatops.domain.bot_health``, so
    Degraded counts), and each connector's is rebuilt from its transition rows, whose
    ``old_health``/``new_health`` are the connector's: before its first change in the rows
    it had that change's old health, and with no change its current one throughout. A
    connector counts from when it was first seen until it was removed (``connectors`` has
    the removed ones too); time with no connector (before the bot was first seen) is not
    counted.
    """
    start = max(start, bot.first_seen)
    if end <= start:
        return {}
    rows = {connector.bot_user: connector for connector in connectors}
    changes: dict[str, list[tuple[datetime, str, str]]] = defaultdict(list)
    for t in sorted(transitions, key=lambda t: (t.at, t.id or 0)):
        if t.old_health != t.new_health:
            changes[t.bot_user].append((t.at, t.old_health, t.new_health))
    timelines = [
        _Timeline(rows.get(user), changes.get(user, []), start, end)
        for user in sorted(set(rows) | set(changes))
    ]
    cuts = {start, end}
    for timeline in timelines:
        cuts.update(timeline.cuts(start, end))
    ordered = sorted(cuts)
    spent: dict[Health, timedelta] = defaultdict(timedelta)
    for begin, finish in itertools.pairwise(ordered):
        healths = [h for timeline in timelines if (h := timeline.at(begin)) is not None]
        if healths:
            spent[bot_health(healths)] += finish - begin
    return {health: spent[health] for health in Health if spent[health] > timedelta(0)}


class _Timeline:
    """One connector's health over a window: when it was there, and its changes."""

    def __init__(
        self,
        row: Connector | None,
        changes: list[tuple[datetime, str, str]],
        start: datetime,
        end: datetime,
    ) -> None:
        self.begin = max(row.first_seen, start) if row is not None else start
        self.finish = min(row.removed_at or end, end) if row is not None else end
        self.times = [at for at, _, _ in changes]
        self.changes = changes
        self.current = _health(row.health) if row is not None else None

    def cuts(self, start: datetime, end: datetime) -> list[datetime]:
        inside = [at for at in self.times if start < at < end]
        return [self.begin, self.finish, *inside]

    def at(self, moment: datetime) -> Health | None:
        """Its health from ``moment`` on (None: not there then)."""
        if not self.begin <= moment < self.finish:
            return None
        index = bisect.bisect_right(self.times, moment)
        if index:
            return _health(self.changes[index - 1][2])
        if self.changes:
            return _health(self.changes[0][1])
        return self.current


def _health(value: str) -> Health:
    try:
        return Health(value)
    except ValueError:
        return Health.UNKNOWN


__all__ = ["DataAge", "Fleet", "Views", "time_in_health", "view_filter"]
