"""A bot's observed state at one poll, and the diff between two observations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from chatops.domain.status import (
    BotKind,
    Channel,
    Cloud,
    Connector,
    Dimension,
    Environment,
    Health,
    Server,
    StatusValue,
    health,
    normalise_key,
    parse_cloud,
    parse_connector,
    parse_server,
)


@dataclass(frozen=True, slots=True)
class ManualOperation:
    """A Start or Stop done by a person, as the source reports it (``lastManualOperation``)."""

    operation: str  # "start" or "stop", lower case
    performed_by: str | None
    at: datetime | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the source says about one bot connector at one moment.

    ``raw_*`` keep the strings the source sent, so a spelling we do not know is shown as
    ``Unknown (raw)`` rather than lost.
    """

    bot_id: str
    name: str
    kind: BotKind
    channel: Channel
    environment: Environment
    raw_connector: str
    raw_cloud: str
    raw_server: str
    manual: ManualOperation | None = None
    # The source's own timestamp moves on every poll; it is kept but never compared, so an
    # unchanged bot costs no database write.
    updated_at: datetime | None = field(default=None, compare=False)
    account_user: str | None = None
    connector: Connector = field(init=False)
    cloud: Cloud = field(init=False)
    server: Server = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "connector", parse_connector(self.raw_connector))
        object.__setattr__(self, "cloud", parse_cloud(self.raw_cloud))
        object.__setattr__(self, "server", parse_server(self.raw_server))

    @property
    def health(self) -> Health:
        return health(self.connector, self.cloud, self.server)

    def value(self, dimension: Dimension) -> StatusValue:
        if dimension is Dimension.CONNECTOR:
            return self.connector
        if dimension is Dimension.CLOUD:
            return self.cloud
        return self.server

    def raw(self, dimension: Dimension) -> str:
        if dimension is Dimension.CONNECTOR:
            return self.raw_connector
        if dimension is Dimension.CLOUD:
            return self.raw_cloud
        return self.raw_server


@dataclass(frozen=True, slots=True)
class Transition:
    """One dimension of one bot changed value between two polls."""

    bot_id: str
    dimension: Dimension
    old: StatusValue
    new: StatusValue
    old_raw: str
    new_raw: str


@dataclass(frozen=True, slots=True)
class BotChange:
    """What changed for one bot: its transitions and its health before and after."""

    bot_id: str
    transitions: tuple[Transition, ...]
    old_health: Health
    new_health: Health
    snapshot: Snapshot

    @property
    def health_changed(self) -> bool:
        return self.old_health is not self.new_health


def diff(stored: Snapshot, fetched: Snapshot) -> list[Transition]:
    """Per-dimension transitions from ``stored`` to ``fetched`` (same bot).

    A dimension changes when its normalised value changes, or when it stays ``Unknown`` but
    the raw string means something else (an unknown state turned into another unknown
    state). A mere respelling (``connected`` to ``CONNECTED``, ``SOME_STATE`` to
    ``some-state``) is no transition, known value or not.
    """
    transitions = []
    for dimension in Dimension:
        old, new = stored.value(dimension), fetched.value(dimension)
        old_raw, new_raw = stored.raw(dimension), fetched.raw(dimension)
        # Unknown raws are compared as normalised too: a source alternating spellings of one
        # undocumented state must not write a transition row at every poll.
        unknown_moved = (
            old == new
            and new.value == "Unknown"
            and normalise_key(old_raw) != normalise_key(new_raw)
        )
        if old != new or unknown_moved:
            transitions.append(Transition(fetched.bot_id, dimension, old, new, old_raw, new_raw))
    return transitions


@dataclass(frozen=True, slots=True)
class FleetDiff:
    """The result of comparing every stored bot with every fetched one."""

    added: tuple[Snapshot, ...]
    changed: tuple[BotChange, ...]
    removed: tuple[str, ...]
    # Bots whose statuses are unchanged but whose other fields (name, raw spelling,
    # manual operation, ...) differ, so the stored row must be refreshed.
    refreshed: tuple[Snapshot, ...]

    @property
    def transitions(self) -> list[Transition]:
        return [t for change in self.changed for t in change.transitions]

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.changed or self.removed or self.refreshed)


def diff_fleet(stored: Mapping[str, Snapshot], fetched: Iterable[Snapshot]) -> FleetDiff:
    added: list[Snapshot] = []
    changed: list[BotChange] = []
    refreshed: list[Snapshot] = []
    seen: set[str] = set()
    for snap in fetched:
        seen.add(snap.bot_id)
        old = stored.get(snap.bot_id)
        if old is None:
            added.append(snap)
            continue
        if old == snap:
            continue
        transitions = diff(old, snap)
        if transitions:
            changed.append(
                BotChange(snap.bot_id, tuple(transitions), old.health, snap.health, snap)
            )
        else:
            refreshed.append(snap)
    removed = tuple(sorted(bot_id for bot_id in stored if bot_id not in seen))
    return FleetDiff(tuple(added), tuple(changed), removed, tuple(refreshed))
