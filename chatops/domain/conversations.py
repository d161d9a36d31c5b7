"""The conversations at stake: LivePerson's Agent Metrics for the connectors' bot users.

Each connector is a LivePerson agent (its bot user). The Agent Metrics API lists, for the
agents that are logged in, how many conversations each holds open
(``openAssignedConversations``), its ``load`` and its agent status. This module is the pure
part: one poll's reading, what is stored of it per connector, the flags (a connector near
LivePerson's limit of 999 concurrent conversations; a degraded bot whose remaining
connectors carry more than a configured load) and the words for them.

A count is never made up: a connector whose agent the API did not list, or a poll where the
API failed or was refused, has an *unknown* count, never zero. What a connector was
handling before it dropped is its last count read while it was OK.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from chatops.domain.snapshot import ConnectorKey
from chatops.domain.status import Health

# LivePerson: a connector handles at most 999 concurrent conversations.
CONVERSATION_LIMIT = 999
DEFAULT_NEAR_LIMIT = 900
# LivePerson's guidance: about 50 concurrent conversations per connector.
DEFAULT_DEGRADED_LOAD = 50


class MetricsOutcome(StrEnum):
    """How one poll's read of the Agent Metrics API went."""

    OK = "ok"  # answered (agents it did not list have unknown counts)
    REFUSED = "refused"  # 401/403: the LivePerson user may not read Agent Metrics
    FAILED = "failed"  # 429 past the poll's budget, 5xx, a timeout, an answer not understood


class ConnectorMetricsState(StrEnum):
    """One connector's count at the last poll that read the API."""

    LISTED = "listed"  # its agent was in the answer: the count is current
    NOT_LISTED = "not_listed"  # its agent was asked for and not listed (not logged in)
    NO_AGENT = "no_agent"  # the status list gave no agent id (lpUserId) to ask for


@dataclass(frozen=True, slots=True)
class AgentMetrics:
    """One agent's record in the Agent Metrics answer (fields the API may leave out: None)."""

    agent_id: str
    login_name: str | None = None
    open_conversations: int | None = None
    load: int | None = None  # percent of the agent's capacity
    status: str | None = None  # currentStatus: ONLINE, AWAY, BACK_SOON, OFFLINE
    connection: str | None = None  # currentConnectionState: CONNECTED, DISCONNECTED


@dataclass(frozen=True, slots=True)
class MetricsReading:
    """One poll's read: the agents found, by connector, and which connectors were asked for.

    ``outcome`` OK with ``agents`` lacking an asked connector: that agent is not logged in
    (LivePerson lists only logged-in agents). Otherwise ``error`` says what went wrong.
    """

    outcome: MetricsOutcome
    error: str | None = None
    agents: Mapping[ConnectorKey, AgentMetrics] = field(default_factory=dict)
    asked: frozenset[ConnectorKey] = frozenset()

    def state_of(self, key: ConnectorKey) -> ConnectorMetricsState:
        """The connector's state in an OK reading."""
        if key in self.agents:
            return ConnectorMetricsState.LISTED
        if key in self.asked:
            return ConnectorMetricsState.NOT_LISTED
        return ConnectorMetricsState.NO_AGENT


@dataclass(frozen=True, slots=True)
class ConversationLimits:
    """When counts are flagged (config ``conversations``)."""

    near_limit: int = DEFAULT_NEAR_LIMIT
    degraded_load: int = DEFAULT_DEGRADED_LOAD


@dataclass(frozen=True, slots=True)
class ConnectorConversations:
    """What is stored of one connector's agent: the last count read, and how current it is.

    ``open`` is the count at the last read (None: unknown); ``last_open`` the last count
    ever read; ``before_drop`` the last count read while the connector was OK.
    """

    state: ConnectorMetricsState
    last_open: int | None = None
    load: int | None = None
    agent_status: str | None = None
    before_drop: int | None = None

    @property
    def open(self) -> int | None:
        return self.last_open if self.state is ConnectorMetricsState.LISTED else None


@dataclass(frozen=True, slots=True)
class ApiStatus:
    """The Agent Metrics API at the last poll: how it went and why (None: never read)."""

    outcome: MetricsOutcome | None
    error: str | None = None
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BotConversations:
    """A bot's connectors' conversations (by bot user), with the limits and the API status."""

    connectors: Mapping[str, ConnectorConversations]
    api: ApiStatus
    limits: ConversationLimits = ConversationLimits()

    def of(self, bot_user: str) -> ConnectorConversations | None:
        return self.connectors.get(bot_user)

    def count(self, bot_user: str) -> int | None:
        """The connector's open conversations now; None when unknown (never a made-up 0)."""
        if self.api.outcome is not MetricsOutcome.OK:
            return None
        current = self.connectors.get(bot_user)
        return current.open if current is not None else None

    def why_unknown(self, bot_user: str) -> str:
        current = self.connectors.get(bot_user)
        return unknown_reason(self.api, current.state if current is not None else None)

    def total(self, bot_users: list[str]) -> tuple[int, int]:
        """(open conversations known, connectors whose count is unknown) over ``bot_users``."""
        known = 0
        unknown = 0
        for user in bot_users:
            count = self.count(user)
            if count is None:
                unknown += 1
            else:
                known += count
        return known, unknown

    def near_limit(self, bot_users: list[str]) -> list[tuple[str, int]]:
        """The connectors at or over ``near_limit`` open conversations, with their counts."""
        found = []
        for user in bot_users:
            count = self.count(user)
            if count is not None and count >= self.limits.near_limit:
                found.append((user, count))
        return found

    def overloaded(self, healths: Mapping[str, Health], bot_health: Health) -> int | None:
        """For a degraded bot: the open conversations per remaining (OK) connector when that
        is more than ``degraded_load``, else None (also when a count is unknown)."""
        if bot_health is not Health.DEGRADED:
            return None
        remaining = [user for user, health in healths.items() if health is Health.OK]
        if not remaining:
            return None
        known, unknown = self.total(remaining)
        if unknown:
            return None
        per_connector = -(-known // len(remaining))  # rounded up
        return per_connector if per_connector > self.limits.degraded_load else None


def conversations_phrase(count: int) -> str:
    return f"{count:,} open conversation{'' if count == 1 else 's'}"


def was_handling_phrase(count: int) -> str:
    return f"was handling {count:,} conversation{'' if count == 1 else 's'}"


def unknown_reason(api: ApiStatus, state: ConnectorMetricsState | None) -> str:
    """Why a count is unknown, in a few words."""
    if api.outcome is None:
        return "not read yet"
    if api.outcome is MetricsOutcome.REFUSED:
        return "Agent Metrics API refused"
    if api.outcome is MetricsOutcome.FAILED:
        return "Agent Metrics API failed"
    if state is ConnectorMetricsState.NOT_LISTED:
        return "agent not logged in"
    if state is ConnectorMetricsState.NO_AGENT:
        return "no agent id in the status list"
    return "not read yet"


def connector_text(conversations: BotConversations, bot_user: str) -> str:
    """``37 open conversations · load 4%``, or why the count is unknown."""
    count = conversations.count(bot_user)
    if count is None:
        text = f"conversations unknown ({conversations.why_unknown(bot_user)})"
        current = conversations.of(bot_user)
        if current is not None and current.before_drop is not None:
            text += f"; {was_handling_phrase(current.before_drop)}"
        return text
    text = conversations_phrase(count)
    current = conversations.of(bot_user)
    if current is not None and current.load is not None:
        text += f" · load {current.load}%"
    return text


def bot_lines(
    conversations: BotConversations,
    connectors: Sequence[tuple[str, Health]],
    health: Health,
    user: Callable[[str], str],
) -> list[str]:
    """What a bot's alert or details say of its conversations: the total, what the
    connectors that are not OK were handling, and the flags. ``connectors`` are (bot user,
    health) in the order shown; ``user`` formats a bot user for the message."""
    users = [bot_user for bot_user, _ in connectors]
    api = conversations.api
    if api.outcome is not MetricsOutcome.OK:
        reason = f": {api.error}" if api.error else ""
        what = "refused" if api.outcome is MetricsOutcome.REFUSED else "failed"
        lines = [
            f":grey_question: Open conversations unknown: LivePerson's Agent Metrics API"
            f" {what} at the last poll{reason}"
        ]
    else:
        known, unknown = conversations.total(users)
        if not unknown:
            total = conversations_phrase(known)
            on = f" on {len(users)} connectors" if len(users) > 1 else ""
            lines = [f":speech_balloon: {total}{on}"]
        elif known:
            lines = [
                f":speech_balloon: at least {conversations_phrase(known)}; {unknown} of"
                f" {len(users)} connectors unknown"
            ]
        else:
            reasons = sorted({conversations.why_unknown(u) for u in users})
            lines = [f":speech_balloon: open conversations unknown ({', '.join(reasons)})"]
    dropped = [
        (bot_user, current.before_drop)
        for bot_user, connector_health in connectors
        if connector_health is not Health.OK
        and (current := conversations.of(bot_user)) is not None
        and current.before_drop
    ]
    if dropped and len(users) == 1:
        lines.append(f"It {was_handling_phrase(dropped[0][1])} before it dropped.")
    elif dropped:
        total_dropped = sum(count for _, count in dropped)
        named = ", ".join(f"{user(bot_user)} {count:,}" for bot_user, count in dropped[:5])
        more = f" and {len(dropped) - 5} more" if len(dropped) > 5 else ""
        lines.append(
            f"The connectors not OK were handling {total_dropped:,} conversations before they"
            f" dropped ({named}{more})."
        )
    for bot_user, count in conversations.near_limit(users)[:5]:
        lines.append(
            f":warning: {user(bot_user)} has {conversations_phrase(count)}, near LivePerson's"
            f" limit of {CONVERSATION_LIMIT:,} per connector"
        )
    per_connector = conversations.overloaded(dict(connectors), health)
    if per_connector is not None:
        lines.append(
            f":warning: The remaining OK connectors carry {per_connector:,} open conversations"
            f" each, more than {conversations.limits.degraded_load:,}"
            " (conversations.degraded_load): add capacity or bring the others back"
        )
    return lines
