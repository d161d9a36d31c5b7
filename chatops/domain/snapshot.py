"""One agent connector's observed state at one poll, and the diff between two observations.

A connector is identified by ``(bot id, bot user)`` (:data:`ConnectorKey`): a bot has one or
more connectors, each listed by the source as an entry of its own. The order in which a
source lists them means nothing, so everything here is keyed, never positional.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from chatops.domain.status import (
    BotKind,
    Channel,
    Cloud,
    ConnectorStatus,
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


ConnectorKey = tuple[str, str]
"""A connector's identity: (bot id, bot user)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the source says about one agent connector at one moment.

    ``raw_*`` keep the strings the source sent, so a spelling we do not know is shown as
    ``Unknown (raw)`` rather than lost. ``bot_user`` is the connector's half of its identity:
    LivePerson's ``lpAccountUser`` (``account_user``), or, for an entry without one, whatever
    else names it uniquely (its ``appName``); it defaults to ``account_user``.
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
    bot_user: str = ""
    connector: ConnectorStatus = field(init=False)
    cloud: Cloud = field(init=False)
    server: Server = field(init=False)
    # The roll-up of the three, computed once: polls read it for every connector.
    health: Health = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if not self.bot_user:
            object.__setattr__(self, "bot_user", self.account_user or "")
        object.__setattr__(self, "connector", parse_connector(self.raw_connector))
        object.__setattr__(self, "cloud", parse_cloud(self.raw_cloud))
        object.__setattr__(self, "server", parse_server(self.raw_server))
        object.__setattr__(self, "health", health(self.connector, self.cloud, self.server))

    @property
    def key(self) -> ConnectorKey:
        return (self.bot_id, self.bot_user)

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
    """One dimension of one connector changed value between two polls."""

    bot_id: str
    dimension: Dimension
    old: StatusValue
    new: StatusValue
    old_raw: str
    new_raw: str
    bot_user: str = ""

    @property
    def key(self) -> ConnectorKey:
        return (self.bot_id, self.bot_user)


@dataclass(frozen=True, slots=True)
class ConnectorChange:
    """What changed for one connector: its transitions and its health before and after."""

    transitions: tuple[Transition, ...]
    old_health: Health
    new_health: Health
    snapshot: Snapshot

    @property
    def key(self) -> ConnectorKey:
        return self.snapshot.key

    @property
    def bot_id(self) -> str:
        return self.snapshot.bot_id

    @property
    def health_changed(self) -> bool:
        return self.old_health is not self.new_health


def diff(stored: Snapshot, fetched: Snapshot) -> list[Transition]:
    """Per-dimension transitions from ``stored`` to ``fetched`` (same connector).

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
            transitions.append(
                Transition(fetched.bot_id, dimension, old, new, old_raw, new_raw, fetched.bot_user)
            )
    return transitions


@dataclass(frozen=True, slots=True)
class FleetDiff:
    """The result of comparing every stored connector with every fetched one."""

    added: tuple[Snapshot, ...]
    changed: tuple[ConnectorChange, ...]
    removed: tuple[ConnectorKey, ...]
    # Connectors whose statuses are unchanged but whose other fields (name, raw spelling,
    # manual operation, ...) differ, so the stored row must be refreshed.
    refreshed: tuple[Snapshot, ...]

    @property
    def transitions(self) -> list[Transition]:
        return [t for change in self.changed for t in change.transitions]

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.changed or self.removed or self.refreshed)

    def bot_ids(self) -> set[str]:
        """Every bot one of whose connectors was added, changed, refreshed or removed."""
        ids = {snapshot.bot_id for snapshot in (*self.added, *self.refreshed)}
        ids.update(change.bot_id for change in self.changed)
        ids.update(bot_id for bot_id, _ in self.removed)
        return ids


def diff_fleet(stored: Mapping[ConnectorKey, Snapshot], fetched: Iterable[Snapshot]) -> FleetDiff:
    """Compare connectors by identity: the order of ``fetched`` changes nothing."""
    added: list[Snapshot] = []
    changed: list[ConnectorChange] = []
    refreshed: list[Snapshot] = []
    seen: set[ConnectorKey] = set()
    for snap in fetched:
        key = snap.key
        seen.add(key)
        old = stored.get(key)
        if old is None:
            added.append(snap)
            continue
        if old == snap:
            continue
        transitions = diff(old, snap)
        if transitions:
            changed.append(ConnectorChange(tuple(transitions), old.health, snap.health, snap))
        else:
            refreshed.append(snap)
    removed = tuple(sorted(key for key in stored if key not in seen))
    return FleetDiff(
        tuple(sorted(added, key=_by_key)),
        tuple(sorted(changed, key=lambda change: change.key)),
        removed,
        tuple(sorted(refreshed, key=_by_key)),
    )


def _by_key(snapshot: Snapshot) -> ConnectorKey:
    return snapshot.key
