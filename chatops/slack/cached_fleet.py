"""The stored fleet held in memory for replies: every listed bot as of the last successful
poll (``Fleet``), with what replies derive from it (counts, the problem list, the name order,
the agent counts, a scope's share) computed once per poll that changed a row.

``chatops.slack.views`` keeps one and catches it up after each poll; a reply is then a
lookup and a render, without a query. ``view_filter`` narrows it to the bots a person may
view, before anything is counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from chatops.domain import BotKind, Environment, Health
from chatops.pacing import Pacer
from chatops.permissions import Access
from chatops.slack import blocks
from chatops.store.bots import BotIndex
from chatops.store.fleet_rows import BotRecord, ConnectorRecord

BotFilter = Callable[[BotRecord], bool]


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

    bots: list[BotRecord]
    connectors: Mapping[str, Sequence[ConnectorRecord]] = field(default_factory=dict)
    _counts: dict[Health, int] | None = None
    _by_name: list[BotRecord] | None = None
    _problems: list[BotRecord] | None = None
    _summary_problems: list[BotRecord] | None = None
    _pcs: int | None = None
    _index: BotIndex[BotRecord] | None = None
    _agents_by_bot: dict[str, blocks.AgentCounts] | None = None
    _agents: dict[str | None, blocks.AgentCounts] = field(default_factory=dict)
    # Per view scope (``Access.scope("view")``): the bots in it, their counts, the problems.
    _scoped: dict[tuple[str, ...], Scoped] = field(default_factory=dict)

    def index(self) -> BotIndex[BotRecord]:
        if self._index is None:
            users = {
                bot_id: [c.bot_user for c in connectors]
                for bot_id, connectors in self.connectors.items()
            }
            self._index = BotIndex(self.bots, users)
        return self._index

    def counts(self) -> dict[Health, int]:
        if self._counts is None:
            self._counts = dict.fromkeys(Health, 0) | dict(blocks.health_counts(self.bots))
        return self._counts

    def by_name(self) -> list[BotRecord]:
        if self._by_name is None:
            self._by_name = blocks.by_name(self.bots)
        return self._by_name

    def problems(self) -> list[BotRecord]:
        """The problem bots in ``blocks.problem_first`` order."""
        if self._problems is None:
            self._problems = blocks.problem_first(
                bot for bot in self.bots if blocks.bot_health(bot).is_problem
            )
        return self._problems

    def agents_by_bot(self) -> dict[str, blocks.AgentCounts]:
        """LivePerson's agent counts of each bot's connectors (computed by ``prepare``)."""
        if self._agents_by_bot is None:
            raise RuntimeError("Fleet.prepare() computes the agent counts: await it first")
        return self._agents_by_bot

    async def prepare(self) -> None:
        """Compute what every summary reads, giving the loop back every ms: done by the
        catch-up after a poll, so that the first reply after it is a lookup too (at 10,000
        connectors, computing these on first use held that reply for tens of ms)."""
        pacer = Pacer()
        agents: dict[str, blocks.AgentCounts] = {}
        for bot_id, connectors in self.connectors.items():
            await pacer.pace()
            agents[bot_id] = blocks.agent_counts(connectors)
        self._agents_by_bot = agents
        await pacer.pace()
        self.agents()
        for step in (self.counts, self.problems, self.summary_problems, self.pcs_count):
            await pacer.pace()
            step()

    def agents(
        self, bots: Iterable[BotRecord] | None = None, environment: Environment | None = None
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

    def summary_problems(self) -> list[BotRecord]:
        """The problem bots among the first ``SUMMARY_PROBLEM_BOTS`` in stored order."""
        if self._summary_problems is None:
            first = self.bots[: blocks.SUMMARY_PROBLEM_BOTS]
            self._summary_problems = [bot for bot in first if blocks.bot_health(bot).is_problem]
        return self._summary_problems

    def scoped(self, globs: tuple[str, ...], visible: BotFilter) -> Scoped:
        """The bots a scope of bot globs covers, counted once per poll per scope."""
        found = self._scoped.get(globs)
        if found is None:
            bots = only_visible(self.bots, visible)
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
    bots: list[BotRecord]
    counts: dict[Health, int]
    problems: list[BotRecord]
    agents: blocks.AgentCounts


def stored_order(bot: BotRecord) -> tuple[int, str, str]:
    """The order of ``store.bots.list_bots``: the most severe health first, then name, then id."""
    try:
        severity = Health(bot.health).severity
    except ValueError:
        severity = len(Health)
    return severity, bot.name, bot.id


def only_visible(bots: list[BotRecord], visible: BotFilter | None) -> list[BotRecord]:
    return bots if visible is None else [bot for bot in bots if visible(bot)]
