"""The read side of the Slack surface: a parsed command and a user's access in, a message out.

Answers come from stored state only (never the live source), so a reply is ready in
milliseconds whatever the source is doing. Bots the user may not view are filtered out
before anything is counted or rendered: a refusal or an empty list never reveals them.

The stored fleet is held in memory as of the last successful poll
(``chatops.slack.cached_fleet.Fleet``), with what every reply needs (counts, the problem
list, the name order) computed once per poll: a reply is a lookup and a render, without a
query. ``Views.refresh`` catches up with the
database after each tick of this process (leader or not), and in the background at most
once a second while replies are asked for (another replica's poll). Until the first load
is done (a fresh process), the summary is counted by SQL from the bot table instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.domain import Environment, Health
from chatops.domain.conversations import ConversationLimits
from chatops.jsontypes import JSONDict
from chatops.permissions import Access
from chatops.slack import blocks, grammar, restart
from chatops.slack.cached_fleet import (
    BotFilter,
    DataAge,
    Fleet,
    only_visible,
    stored_order,
    view_filter,
)
from chatops.slack.time_in_health import time_in_health
from chatops.store.agent_metrics import conversations_for
from chatops.store.bots import count_by_health, list_bots, match_bots
from chatops.store.cards import cards
from chatops.store.connectors import connectors_ever, transitions_for
from chatops.store.engine import SessionFactory
from chatops.store.fleet_rows import BotRecord, FleetRows
from chatops.store.polls import LastPoll, last_success

log = logging.getLogger(__name__)

# How long a reply waits for the catch-up after a poll's commit before answering from the
# fleet it has, which comes with its own poll's time. Short: under load a catch-up takes
# 60-600 ms (tens of ms when quiet), and replies held that long made the polling p99.
CATCH_UP_WAIT = 0.05
# Rendered summaries kept (one per view scope asked for within the second).
RENDERED_SCOPES = 64


class MaintenanceNotes(Protocol):
    """What the maintenance windows in force say of bots (the alerts' MaintenanceService)."""

    async def notes(self, bots: Sequence[BotRecord], access: Access) -> dict[str, str]:
        """A line per bot id in a window, for its details, as ``access`` may see it."""
        ...

    async def lines(self, bots: Sequence[BotRecord], access: Access) -> list[str]:
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
                    bots: list[BotRecord] = sorted(loaded.bots.values(), key=stored_order)
                    fleet = Fleet(bots, dict(loaded.connectors))
                    await fleet.prepare()
                    self._fleet = fleet
                self._poll = loaded.poll
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
            bots = only_visible(fleet.problems(), visible)
            return blocks.problems(bots, now, command.page, data_age=age.age, ordered=True)
        if isinstance(command, grammar.All):
            bots = only_visible(fleet.by_name(), visible)
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
            poll = await last_success(session)
            counts = await count_by_health(session)
            problem_bots = await list_bots(
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
        problem_bots: Sequence[BotRecord],
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
        names = [bot.name for bot in only_visible(fleet.bots, view_filter(access))]
        return grammar.suggest(name, names)

    async def _query(
        self,
        fleet: Fleet,
        query: str,
        access: Access,
        visible: BotFilter | None,
        now: datetime,
    ) -> JSONDict:
        bots = only_visible(match_bots(fleet.index(), query), visible)
        suggestion = None
        if not bots:
            names = [bot.name for bot in only_visible(fleet.bots, visible)]
            suggestion = grammar.suggest(query, names)
        # The conversations move at every poll without touching the fleet's rows: read
        # for the bots that can be shown only, the most urgent (a few rows, by key).
        shown = blocks.problem_first(bots)[: blocks.MAX_DETAILED_BOTS]
        async with self.sessions() as session:
            conversations = await conversations_for(
                session, [bot.id for bot in shown], self.conversations
            )
        notes = await self.maintenance.notes(bots, access) if self.maintenance and bots else {}
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
        bots = only_visible(match_bots(fleet.index(), name), visible)
        if not bots:
            names = [bot.name for bot in only_visible(fleet.bots, visible)]
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
        week = await transitions_for(session, bot.id, now - timedelta(days=7))
        connectors = await connectors_ever(session, bot.id)
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
        bots = only_visible(
            [bot for bot in fleet.bots if bot.environment == environment.value], visible
        )
        counts = dict.fromkeys(Health, 0) | dict(blocks.health_counts(bots))
        agents = fleet.agents(environment=environment) if visible is None else fleet.agents(bots)
        maintenance = await self.maintenance.lines(bots, access) if self.maintenance else []
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
