"""What a maintenance window is, as the rest of the app sees it: its view (``WindowView``),
read from a ``maintenance_window`` row, and the listed bots it silences (``reached``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final, TypeVar

from chatops.alerts.mute_views import Scope, scope_of
from chatops.alerts.mutes import window_mutes
from chatops.alerts.routing import facts
from chatops.alerts.visibility import Visibility
from chatops.blockkit.text import mention
from chatops.store.fleet_rows import BotRecord
from chatops.store.maintenance_models import MaintenanceWindow

B = TypeVar("B", bound=BotRecord)

# The author of the windows the config file's ``maintenance:`` entries schedule.
CONFIG_AUTHOR: Final = "config"


@dataclass(frozen=True, slots=True)
class WindowView:
    id: int
    target: str
    reason: str | None
    created_by: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    recurring: bool
    scope: Scope = None
    # The bots or globs it names (``target`` is how they read together).
    targets: tuple[str, ...] = ()

    @classmethod
    def of(cls, row: MaintenanceWindow) -> WindowView:
        assert row.id is not None
        return cls(
            row.id,
            row.target,
            row.reason,
            row.created_by,
            row.starts_at,
            row.ends_at,
            row.timezone,
            row.schedule_key is not None,
            scope_of(row.scope),
            tuple(str(target) for target in json.loads(row.bots)),
        )

    def seen(self, seen: Visibility) -> WindowView | None:
        """What of this window one person may see (chatops.alerts.visibility); None: nothing."""
        named = self.targets or (self.target,)
        targets = seen.targets(named, self.scope, self.created_by)
        if not targets:
            return None
        return replace(
            self,
            target=self.target if len(targets) == len(named) else ", ".join(targets),
            targets=targets,
            reason=seen.text(self.reason),
            scope=seen.scope(self.scope, self.created_by),
        )

    def in_force(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    @property
    def author(self) -> str:
        return "the config file" if self.created_by == CONFIG_AUTHOR else mention(self.created_by)


def reached(window: MaintenanceWindow, bots: Sequence[B]) -> list[B]:
    """The listed bots the window silences (its targets, within its author's scope)."""
    silencers = window_mutes(window)
    return [bot for bot in bots if any(m.silences(facts(bot)) for m in silencers)]
