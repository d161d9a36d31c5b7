"""What of the mutes and maintenance windows one person may see: only what concerns bots
within their ``view`` permission, and never the name of a bot outside it.

One rule for every place that shows a mute or a window to a person (``/botstatus mutes``,
``/botstatus maintenance``, a bot's details, App Home):

- A mute or window is shown when one of its targets, within its author's scope, matches a
  listed bot the person may view, or when the person made it. A glob is shown as written
  when it matches such a bot, and hidden otherwise, also when it matches no bot yet; of a
  window naming several targets only those are shown.
- An exception to a mute is shown under the same condition; its author's scope globs only
  where they match a bot the person may view.
- In free text (a reason), the name of any listed bot the person may not view reads ``…``.

A person whose ``view`` covers every bot sees everything, and costs no query.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from chatops.alerts.mute_views import MuteView, Scope
from chatops.alerts.routing import BotFacts, Reach, facts
from chatops.domain.globs import glob_matches
from chatops.permissions import Access
from chatops.store.bots import listed_bots
from chatops.store.engine import SessionFactory

HIDDEN = "…"


@dataclass(frozen=True)
class Visibility:
    user_id: str
    # None: the person may view every bot; else the listed bots they may view.
    visible: tuple[BotFacts, ...] | None
    # Names and ids of the listed bots they may not view, case folded, longest first.
    hidden: tuple[str, ...] = ()

    @classmethod
    async def of(cls, sessions: SessionFactory, access: Access) -> Visibility:
        if access.scope("view") is None:
            return cls(access.user_id, None)
        async with sessions() as session:
            bots = [facts(bot) for bot in await listed_bots(session)]
        visible = tuple(bot for bot in bots if access.can("view", bot.name))
        hidden = {
            word.casefold()
            for bot in bots
            if not access.can("view", bot.name)
            for word in (bot.name, bot.bot_id)
            if word
        }
        return cls(access.user_id, visible, tuple(sorted(hidden, key=len, reverse=True)))

    def _concerns(self, reach: Reach) -> bool:
        return self.visible is None or any(reach.reaches(bot) for bot in self.visible)

    def targets(self, targets: Sequence[str], scope: Scope, created_by: str) -> tuple[str, ...]:
        """Of these targets (of one mute or window, within ``scope``), those the person may
        see: all of them when they made it, none when none concerns a bot they may view."""
        if self.visible is None or created_by == self.user_id:
            return tuple(targets)
        return tuple(target for target in targets if self._concerns(Reach(target, scope)))

    def scope(self, scope: Scope, created_by: str) -> Scope:
        """An author's scope globs, those matching a bot the person may view."""
        if scope is None or self.visible is None or created_by == self.user_id:
            return scope
        visible = self.visible
        shown = tuple(g for g in scope if any(glob_matches(g, bot.name) for bot in visible))
        return shown or scope[:0]

    def text(self, text: str | None) -> str | None:
        """``text`` with the name (or id) of every bot the person may not view hidden."""
        if not text or not self.hidden:
            return text
        # A substring test per name first: a pattern of thousands of names costs 0.3 s.
        folded = text.casefold()
        named = [word for word in self.hidden if word in folded]
        if not named:
            return text
        names = "|".join(re.escape(word) for word in named)
        return re.sub(rf"(?<![\w-])(?:{names})(?![\w-])", HIDDEN, text, flags=re.IGNORECASE)

    def mutes(self, views: Sequence[MuteView]) -> list[MuteView]:
        """The mutes the person may see, each with what of it they may see."""
        shown = []
        for view in views:
            if not self.targets([view.target], view.scope, view.created_by):
                continue
            exceptions = tuple(
                e for e in view.exceptions if self.targets([e.target], None, e.created_by)
            )
            shown.append(
                replace(
                    view,
                    reason=self.text(view.reason),
                    scope=self.scope(view.scope, view.created_by),
                    exceptions=exceptions,
                )
            )
        return shown
