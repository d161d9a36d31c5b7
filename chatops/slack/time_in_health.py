"""How long a bot spent in each health over a window (``/botstatus history``), rebuilt from
its connectors' transition rows and rolled up as its health is (Degraded included).

Pure: rows in, durations out.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from chatops.domain import Health, bot_health
from chatops.store.fleet_rows import BotRecord, ConnectorRecord
from chatops.store.models import TransitionRecord


def time_in_health(
    bot: BotRecord,
    connectors: Sequence[ConnectorRecord],
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
        row: ConnectorRecord | None,
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
