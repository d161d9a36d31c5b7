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

from chatops.config import Permission
from chatops.domain import BotKind
from chatops.metrics import Metrics
from chatops.monitor.poll import LeaseGate
from chatops.permissions import AccessLookupError, PermissionResolver
from chatops.sources.base import SourceError, StatusSource
from chatops.store import repo
from chatops.store.engine import SessionFactory
from chatops.store.models import Bot, Connector, utcnow

log = logging.getLogger(__name__)

Action = Literal["start", "stop", "restart"]
# The permissions an action needs on its bot: Restart is a Stop and then a Start.
NEEDS: dict[Action, tuple[Permission, ...]] = {
    "start": ("start",),
    "stop": ("stop",),
    "restart": ("stop", "start"),
}

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
class ConnectorOutcome:
    """What one action did to one connector: ``ok``, ``duplicate`` or ``failed``."""

    bot_user: str
    outcome: Outcome
    message: str = ""


@dataclass(frozen=True)
class ActionResult:
    outcome: Outcome
    message: str
    bot: Bot | None = None
    # PCS bots share one connector: how many bots the action affected.
    affected: int = 1
    # One entry per connector acted on (a bot-level action names all of the bot's).
    connectors: tuple[ConnectorOutcome, ...] = ()


def lock_name(action: Action, bot: Bot, bot_user: str) -> str:
    # Every PCS bot shares one survey connector, so they share one lock too.
    target = "pcs" if bot.kind == BotKind.PCS.value else f"{bot.id}\x1f{bot_user}"
    return f"action:{action}:{target}"[:64]


def _targets(bot: Bot, connectors: list[Connector], bot_user: str | None) -> list[Connector]:
    """The connectors an action reaches: one named, or all of the bot's (PCS: the shared one)."""
    if bot_user is not None:
        return [c for c in connectors if c.bot_user == bot_user]
    if bot.kind == BotKind.PCS.value:
        return connectors[:1]
    return connectors


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
        self,
        action: Action,
        bot_id: str,
        *,
        user_id: str,
        user_name: str | None,
        click_id: str,
        bot_user: str | None = None,
    ) -> ActionResult:
        """Do ``action`` on one connector of ``bot_id`` (``bot_user``) or on all of them.

        Permission is checked for every permission the action needs; an audit row is left
        for every connector acted on, or one for the bot when nothing was attempted.
        """
        result = await self._run(action, bot_id, bot_user, user_id=user_id, click_id=click_id)
        await self._audit(action, bot_id, user_id, user_name, result)
        self.metrics.actions.labels(action, result.outcome.value).inc()
        log.info(
            "action %s on bot %s%s by %s: %s",
            action,
            bot_id,
            f" (connector {bot_user})" if bot_user else "",
            user_id,
            result.outcome.value,
        )
        return result

    async def _run(
        self, action: Action, bot_id: str, bot_user: str | None, *, user_id: str, click_id: str
    ) -> ActionResult:
        async with self.sessions() as session:
            bot = await session.get(Bot, bot_id)
            pcs_count = 0
            connectors: list[Connector] = []
            if bot is not None:
                connectors = (await repo.connectors_of(session, [bot_id])).get(bot_id, [])
                if bot.kind == BotKind.PCS.value:
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
        for permission in NEEDS[action]:
            if not access.can(permission, bot.name):
                return ActionResult(Outcome.REFUSED, self.permissions.refusal(permission), bot)
        targets = _targets(bot, connectors, bot_user)
        if not targets:
            return ActionResult(
                Outcome.UNKNOWN_BOT,
                f"{bot.name} has no connector {bot_user!r} listed now. Nothing was done.",
                bot,
            )
        outcomes = [await self._one(action, bot, target, click_id) for target in targets]
        affected = pcs_count if bot.kind == BotKind.PCS.value else 1
        return _combine(action, bot, outcomes, max(affected, 1))

    async def _one(
        self, action: Action, bot: Bot, connector: Connector, click_id: str
    ) -> ConnectorOutcome:
        """The action on one connector, under its lock: the source is called once per click."""
        name = lock_name(action, bot, connector.bot_user)
        if not await self._lock(name, click_id):
            return ConnectorOutcome(connector.bot_user, Outcome.DUPLICATE)
        try:
            if action in ("stop", "restart"):
                await self.source.stop(bot.id, connector.bot_user)
            if action in ("start", "restart"):
                await self.source.start(bot.id, connector.bot_user)
        except SourceError as exc:
            await self._unlock(name, click_id)
            return ConnectorOutcome(
                connector.bot_user, Outcome.FAILED, f"LivePerson refused or failed: {exc}"
            )
        return ConnectorOutcome(connector.bot_user, Outcome.OK)

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
        """One row per connector acted on; one for the bot when nothing was attempted."""
        rows = [
            (c.bot_user, c.outcome.value, c.message or result.message) for c in result.connectors
        ]
        async with self.sessions() as session, session.begin():
            nothing_done: list[tuple[str | None, str, str]] = [
                (None, result.outcome.value, result.message)
            ]
            for bot_user, outcome, detail in rows or nothing_done:
                await repo.add_audit(
                    session,
                    at=self.clock(),
                    user_id=user_id,
                    user_name=user_name,
                    action=action,
                    target=bot_id,
                    bot_user=bot_user,
                    outcome=outcome,
                    detail=detail,
                )


def _combine(
    action: Action, bot: Bot, outcomes: list[ConnectorOutcome], affected: int
) -> ActionResult:
    """One result for the person who clicked: ok if any connector was acted on."""
    done = [o for o in outcomes if o.outcome is Outcome.OK]
    failed = [o for o in outcomes if o.outcome is Outcome.FAILED]
    if not done and not failed:
        return ActionResult(
            Outcome.DUPLICATE,
            f"A {action} of this connector was just requested; it was sent once.",
            bot,
            affected,
            tuple(outcomes),
        )
    if failed and not done:
        return ActionResult(Outcome.FAILED, failed[0].message, bot, affected, tuple(outcomes))
    message = f"{action} requested for {len(done)} connector{'' if len(done) == 1 else 's'}"
    if failed:
        names = ", ".join(o.bot_user for o in failed)
        message += f"; failed for {names}: {failed[0].message}"
    return ActionResult(Outcome.OK, message, bot, affected, tuple(outcomes))
