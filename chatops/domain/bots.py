"""A bot as the sum of its agent connectors: the roll-up of health, counts and attributes.

LivePerson's Bot Status lists agent connectors, and a bot has one or more (two at least in
production, for failover). A bot's health is a function of its connectors' healths alone
(ARCHITECTURE.md section 1):

- ``ok`` when every connector is ok;
- ``degraded`` when at least one is ok and at least one is not (failover or capacity lost:
  "1 of 2 connectors down");
- otherwise the worst of its connectors' healths (``down`` when no connector serves).

Attributes the connectors should agree on (name, kind, channel, environment) are taken from
the majority, ties going to the first connector in bot user order; :attr:`BotState.disagreement`
says when they did not agree, so the caller can log it. Nothing is lost: each connector keeps
its own values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from chatops.domain.policy import manual_outcome
from chatops.domain.snapshot import ConnectorKey, FleetDiff, ManualOperation, Snapshot, Transition
from chatops.domain.status import BotKind, Channel, Environment, Health

# Manual operations of one kind on a bot's connectors this close together are one action.
MANUAL_TOGETHER = timedelta(minutes=15)


def bot_health(healths: Iterable[Health]) -> Health:
    """Roll connector healths up into a bot's health (``unknown`` for no connector at all)."""
    values = list(healths)
    if not values:
        return Health.UNKNOWN
    ok = sum(1 for value in values if value is Health.OK)
    if ok == len(values):
        return Health.OK
    if ok:
        return Health.DEGRADED
    return min(values, key=lambda value: value.severity)


@dataclass(frozen=True, slots=True)
class BotState:
    """One bot as its connectors show it at one poll. ``connectors`` are in bot user order."""

    bot_id: str
    name: str
    kind: BotKind
    channel: Channel
    environment: Environment
    connectors: tuple[Snapshot, ...]
    health: Health
    disagreement: str | None = None

    @property
    def total(self) -> int:
        return len(self.connectors)

    @property
    def ok_count(self) -> int:
        return sum(1 for connector in self.connectors if connector.health is Health.OK)

    @property
    def problem_connectors(self) -> tuple[Snapshot, ...]:
        return tuple(c for c in self.connectors if c.health is not Health.OK)

    @property
    def manual(self) -> ManualOperation | None:
        """The latest manual operation any of its connectors reports."""
        latest: ManualOperation | None = None
        for connector in self.connectors:
            manual = connector.manual
            if manual is None or not manual.operation:
                continue
            if latest is None or _later(manual, latest):
                latest = manual
        return latest

    def manual_target(self) -> Health | None:
        """The health the latest manual operation leads the bot to (None: there is none).

        Every connector whose last manual operation is the same one, done within
        ``MANUAL_TOGETHER`` of the latest (a Stop of the whole bot reaches each of its
        connectors), is counted at the health that operation leads to; the others at theirs.
        A Stop of one of two OK connectors thus leads to ``degraded``, of both to ``stopped``.
        """
        latest = self.manual
        if latest is None:
            return None
        outcome = manual_outcome(latest.operation)
        together = {
            connector.key
            for connector in self.connectors
            if connector.manual is not None
            and connector.manual.operation == latest.operation
            and (
                latest.at is None
                or connector.manual.at is None
                or latest.at - connector.manual.at <= MANUAL_TOGETHER
            )
        }
        return bot_health(
            outcome if connector.key in together else connector.health
            for connector in self.connectors
        )

    def summary(self) -> str:
        """``1 of 2 connectors down``-style words for the bot's health."""
        total = self.total
        if self.health is Health.DEGRADED:
            problems = total - self.ok_count
            return f"{problems} of {total} connectors not OK"
        noun = "connector" if total == 1 else "connectors"
        if self.health is Health.OK:
            return f"{total} {noun} OK" if total > 1 else "1 connector OK"
        return f"{total} {noun}, none OK" if total > 1 else f"1 connector {self.health.label}"


def _later(a: ManualOperation, b: ManualOperation) -> bool:
    if a.at is None:
        return False
    return b.at is None or a.at > b.at


def _majority(values: Sequence[str]) -> str:
    counts = Counter(values)
    best = max(counts.values())
    return next(value for value in values if counts[value] == best)


def bot_state(connectors: Iterable[Snapshot]) -> BotState:
    """The bot of these connectors, which must all have one bot id (at least one)."""
    ordered = tuple(sorted(connectors, key=lambda snapshot: snapshot.bot_user))
    if not ordered:
        raise ValueError("a bot has at least one connector")
    bot_id = ordered[0].bot_id
    names = [c.name for c in ordered]
    kinds = [c.kind.value for c in ordered]
    channels = [c.channel.value for c in ordered]
    environments = [c.environment.value for c in ordered]
    disagreements = [
        f"{what} ({', '.join(sorted(set(values)))})"
        for what, values in (
            ("name", names),
            ("kind", kinds),
            ("channel", channels),
            ("environment", environments),
        )
        if len(set(values)) > 1
    ]
    return BotState(
        bot_id=bot_id,
        name=_majority(names),
        kind=BotKind(_majority(kinds)),
        channel=Channel(_majority(channels)),
        environment=Environment(_majority(environments)),
        connectors=ordered,
        health=bot_health(c.health for c in ordered),
        disagreement=(
            f"the connectors of bot {bot_id} disagree on {'; '.join(disagreements)}"
            if disagreements
            else None
        ),
    )


def group_bots(snapshots: Iterable[Snapshot]) -> dict[str, BotState]:
    """Every bot of a fleet of connectors, by bot id."""
    by_bot: dict[str, list[Snapshot]] = {}
    for snapshot in snapshots:
        by_bot.setdefault(snapshot.bot_id, []).append(snapshot)
    return {bot_id: bot_state(connectors) for bot_id, connectors in by_bot.items()}


@dataclass(frozen=True, slots=True)
class BotChange:
    """A bot one of whose connectors changed at a poll: its health before and after.

    ``old`` is None for a bot seen for the first time, ``new`` None for a bot no connector
    of which is listed any more. ``transitions`` are its connectors' transitions.
    """

    bot_id: str
    old: BotState | None
    new: BotState | None
    transitions: tuple[Transition, ...]

    @property
    def old_health(self) -> Health | None:
        return self.old.health if self.old is not None else None

    @property
    def new_health(self) -> Health | None:
        return self.new.health if self.new is not None else None

    @property
    def health_changed(self) -> bool:
        return self.old_health is not self.new_health


def bot_changes(before: Mapping[str, BotState], diff: FleetDiff) -> tuple[BotChange, ...]:
    """The bots a connector diff touches whose roll-up changed, in bot id order.

    ``before`` are the bots as stored; each bot the diff touches is rebuilt from its stored
    connectors with the diff applied, so the cost grows with the changes, not the fleet.
    """
    connectors: dict[str, dict[ConnectorKey, Snapshot]] = {}
    for bot_id in diff.bot_ids():
        old = before.get(bot_id)
        connectors[bot_id] = {c.key: c for c in old.connectors} if old is not None else {}
    for snapshot in (*diff.added, *diff.refreshed, *(change.snapshot for change in diff.changed)):
        connectors[snapshot.bot_id][snapshot.key] = snapshot
    for key in diff.removed:
        connectors[key[0]].pop(key, None)
    by_bot: dict[str, list[Transition]] = {}
    for transition in diff.transitions:
        by_bot.setdefault(transition.bot_id, []).append(transition)
    changes = []
    for bot_id in sorted(connectors):
        old = before.get(bot_id)
        new = bot_state(connectors[bot_id].values()) if connectors[bot_id] else None
        if old == new:
            continue
        changes.append(BotChange(bot_id, old, new, tuple(by_bot.get(bot_id, ()))))
    return tuple(changes)
