"""The fleet at a glance: bots in urgency or name order, one bot on one line, counts per
health and LivePerson's agent counts, and the age of the data. Used by the summary, the
lists and the App Home.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, TypeVar

from chatops.blockkit.controls import NOT_RUNNING
from chatops.blockkit.rows import COMPACT_NAME, bot_health, connectors_text, is_pcs, label
from chatops.blockkit.text import age, escape_within
from chatops.domain import BotKind, ConnectorStatus, Environment, Health
from chatops.domain.durations import format_duration
from chatops.store.cards import BotCard
from chatops.store.fleet_rows import BotRecord, ConnectorRecord

AnyBot = TypeVar("AnyBot", BotRecord, BotCard)


def problem_first(bots: Iterable[AnyBot]) -> list[AnyBot]:
    """Most urgent health first; within one health the newest change first, then by name."""
    return sorted(
        bots,
        key=lambda bot: (
            bot_health(bot).severity,
            -bot.health_since.timestamp(),
            bot.name.casefold(),
        ),
    )


def by_name(bots: Iterable[AnyBot]) -> list[AnyBot]:
    return sorted(bots, key=lambda bot: (bot.name.casefold(), bot.id))


def compact_line(bot: BotRecord, now: datetime) -> str:
    """One bot on one line: health, name, how long, its connectors, kind, environment."""
    health = bot_health(bot)
    statuses = connectors_text(bot)
    extras = []
    if is_pcs(bot):
        extras.append(BotKind.PCS.label)
    if bot.environment != Environment.PRODUCTION.value:
        extras.append(label(Environment, bot.environment))
    tail = "".join(f" · {extra}" for extra in extras)
    return (
        f"{health.emoji} *{escape_within(bot.name, COMPACT_NAME)}* {health.label} for "
        f"{age(now, bot.health_since)} · {statuses}{tail}"
    )


def counts_line(counts: Mapping[Health, int]) -> str:
    parts = [
        f"{health.emoji} *{counts[health]:,}* {health.label}"
        for health in sorted(Health, key=lambda h: h.severity)
        if counts.get(health)
    ]
    return "   ".join(parts) if parts else "No bots yet."


@dataclass(frozen=True, slots=True)
class AgentCounts:
    """The counts of LivePerson's Bot Status dashboard, over agent connectors.

    ``active``: the Bot Agent Connector is Online. ``no_cloud`` / ``no_server``: a connector
    that is meant to run (neither Stopped nor Ready to Start) whose Conversational Cloud
    connection is Not Connected or Offline / whose Bot Server connection is Not Connected.
    ``stopped``: the connector is Stopped. A connector may count in several (Online and
    not connected to Bot Server); ``total`` counts each once.
    """

    total: int = 0
    active: int = 0
    no_cloud: int = 0
    no_server: int = 0
    stopped: int = 0

    def __add__(self, other: AgentCounts) -> AgentCounts:
        return AgentCounts(
            self.total + other.total,
            self.active + other.active,
            self.no_cloud + other.no_cloud,
            self.no_server + other.no_server,
            self.stopped + other.stopped,
        )


_NO_CLOUD: Final = frozenset({"Not Connected", "Offline"})


def agent_counts(connectors: Iterable[ConnectorRecord]) -> AgentCounts:
    total = active = no_cloud = no_server = stopped = 0
    for connector in connectors:
        total += 1
        status = connector.connector
        if status == ConnectorStatus.ONLINE.value:
            active += 1
        elif status == ConnectorStatus.STOPPED.value:
            stopped += 1
        if status not in NOT_RUNNING:
            no_cloud += connector.cloud in _NO_CLOUD
            no_server += connector.server == "Not Connected"
    return AgentCounts(total, active, no_cloud, no_server, stopped)


def fleet_agent_counts(bots: Iterable[BotRecord], counts: Mapping[str, AgentCounts]) -> AgentCounts:
    """The sum of ``counts`` (per bot id) over ``bots``: the survey connector every PCS bot
    lists is one agent, so only the first PCS bot's is counted."""
    total = AgentCounts()
    pcs_seen = False
    for bot in bots:
        if bot.kind == BotKind.PCS.value:
            if pcs_seen:
                continue
            pcs_seen = True
        found = counts.get(bot.id)
        if found is not None:
            total += found
    return total


def agents_line(counts: AgentCounts) -> str:
    """LivePerson's dashboard counts, in its words."""
    return (
        f"*{counts.total:,}* agent{'' if counts.total == 1 else 's'}: "
        f"*{counts.active:,}* Active · "
        f"*{counts.no_cloud:,}* not connected to Conversational Cloud · "
        f"*{counts.no_server:,}* not connected to Bot Server · "
        f"*{counts.stopped:,}* Stopped"
    )


def data_age_line(data_age: timedelta | None, stale_after: timedelta | None) -> str:
    if data_age is None:
        return ":grey_question: No successful poll yet: every status is unknown."
    line = f"Statuses as of {format_duration(max(data_age, timedelta(0)))} ago."
    if stale_after is not None and data_age > stale_after:
        line = (
            f":warning: {line} The status source has not answered since; they may be out of date."
        )
    return line


def health_counts(bots: Iterable[BotRecord]) -> Counter[Health]:
    """Counts per health, for callers that hold the rows rather than a GROUP BY result."""
    return Counter(bot_health(bot) for bot in bots)
