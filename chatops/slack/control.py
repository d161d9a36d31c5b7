"""Start and Stop of bot connectors: once per double click, audited, permission re-checked.

The Slack handlers call :class:`ConnectorControl`; it never trusts what a button carried. It
looks the bot up in the store, asks the permission resolver again, takes a short-lived lock
row so that a double click (even one spread over two replicas) reaches the source once, and
writes an audit row for every attempt, allowed or refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from chatops.domain import BotKind
from chatops.metrics import Metrics
from chatops.monitor.poll import LeaseGate
from chatops.permissions import AccessLookupError, PermissionResolver
from chatops.sources.base import SourceError, StatusSource
from chatops.store import repo
from chatops.store.engine import SessionFactory
from chatops.store.models import Bot, utcnow

log = logging.getLogger(__name__)

Action = Literal["start", "stop"]

# A second click on the same action for the same connector within this window is the same
# request; Slack's confirm dialog plus a slow source make real double clicks common.
DEDUPE_WINDOW = timedelta(seconds=20)


class Outcome(StrEnum):
    OK = "ok"
    REFUSED = "refused"
    UNKNOWN_BOT = "unknown_bot"
    DUPLICATE = "duplicate"
    FAILED = "failed"
    LOOKUP_FAILED = "lookup_failed"


@dataclass(frozen=True)
class ActionResult:
    outcome: Outcome
    message: str
    bot: Bot | None = None
    # PCS bots share one connector: how many bots the action affected.
    affected: int = 1


def lock_name(action: Action, bot: Bot) -> str:
    # Every PCS bot shares one survey connector, so they share one lock too.
    target = "pcs" if bot.kind == BotKind.PCS.value else bot.id
    return f"action:{action}:{target}"


class ConnectorControl:
    def __init__(
        self,
        source: StatusSource,
        sessions: SessionFactory,
        permissions: PermissionResolver,
        metrics: Metrics,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.source = source
        self.sessions = sessions
        self.permissions = permissions
        self.metrics = metrics
        self.clock = clock

    async def run(
        self, action: Action, bot_id: str, *, user_id: str, user_name: str | None, click_id: str
    ) -> ActionResult:
        """Do ``action`` on ``bot_id`` for ``user_id`` if allowed; always leaves an audit row."""
        result = await self._run(action, bot_id, user_id=user_id, click_id=click_id)
        await self._audit(action, bot_id, user_id, user_name, result)
        self.metrics.actions.labels(action, result.outcome.value).inc()
        log.info("action %s on bot %s by %s: %s", action, bot_id, user_id, result.outcome.value)
        return result

    async def _run(
        self, action: Action, bot_id: str, *, user_id: str, click_id: str
    ) -> ActionResult:
        async with self.sessions() as session:
            bot = await session.get(Bot, bot_id)
            pcs_count = 0
            if bot is not None and bot.kind == BotKind.PCS.value:
                pcs_count = await repo.count_pcs_bots(session)
        try:
            access = await self.permissions.access(user_id)
        except AccessLookupError as exc:
            return ActionResult(Outcome.LOOKUP_FAILED, f"Nothing was done: {exc}")
        # The same answer for "no such bot" and "a bot you may not see": never reveal which
        # bots exist to someone without view on them.
        if bot is None or bot.removed_at is not None or not access.can("view", bot.name):
            if not access.can("view"):
                return ActionResult(Outcome.REFUSED, self.permissions.refusal("view"))
            return ActionResult(
                Outcome.UNKNOWN_BOT,
                "That bot is not among the bots you can see (it may have been removed). "
                "Nothing was done.",
            )
        if not access.can(action, bot.name):
            return ActionResult(Outcome.REFUSED, self.permissions.refusal(action), bot)
        if not await self._lock(lock_name(action, bot), click_id):
            return ActionResult(
                Outcome.DUPLICATE,
                f"A {action} of this connector was just requested; it was sent once.",
                bot,
            )
        try:
            if action == "start":
                await self.source.start(bot.id)
            else:
                await self.source.stop(bot.id)
        except SourceError as exc:
            await self._unlock(lock_name(action, bot), click_id)
            return ActionResult(Outcome.FAILED, f"LivePerson refused or failed: {exc}", bot)
        affected = pcs_count if bot.kind == BotKind.PCS.value else 1
        return ActionResult(Outcome.OK, f"{action} requested", bot, affected=max(affected, 1))

    async def _lock(self, name: str, holder: str) -> bool:
        """Take a short lease on the connector's action; true for the first click only.

        The same compare-and-set lease as the poller's leadership, so it holds across
        replicas: a double click spread over two of them still reaches the source once.
        """
        gate = LeaseGate(holder, DEDUPE_WINDOW, name=name, clock=self.clock)
        async with self.sessions() as session:
            return await gate.acquire(session)

    async def _unlock(self, name: str, holder: str) -> None:
        """A failed call frees the lock so that the user can try again at once."""
        gate = LeaseGate(holder, DEDUPE_WINDOW, name=name, clock=self.clock)
        async with self.sessions() as session:
            await gate.release(session)

    async def _audit(
        self, action: Action, bot_id: str, user_id: str, user_name: str | None, result: ActionResult
    ) -> None:
        async with self.sessions() as session, session.begin():
            await repo.add_audit(
                session,
                at=self.clock(),
                user_id=user_id,
                user_name=user_name,
                action=action,
                target=bot_id,
                outcome=result.outcome.value,
                detail=result.message,
            )
