"""Start and Stop of bot connectors: once per double click, audited, permission re-checked.

The Slack handlers call :class:`ConnectorControl` with the clicking user's access (resolved
by the guard, chatops.slack.guard, which has refused whoever may start or stop no bot at
all); it never trusts what a button carried. It looks the bot up in the store, checks the
permission for that bot, and writes an audit row for every attempt, allowed or refused.
Two guards keep the source from being called twice:

- **One click, once.** The same interaction may reach chatops more than once (a retrying
  proxy, a redelivery, to any replica). Its audit row is written *before* the source is
  called, under a unique request key made of the interaction's ``trigger_id``, the action
  and the bot; a delivery that finds the key taken is answered with what the first one did
  (done, failed, under way) and never calls the source.
- **One double click, once.** Two clicks (two interactions) on the same connector within
  ``DEDUPE_WINDOW`` share a short-lived lock row, taken by compare-and-set, so the second
  one reaches the source only if the first one failed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from chatops.domain import BotKind
from chatops.metrics import Metrics
from chatops.monitor.poll import LeaseGate
from chatops.permissions import Access, PermissionResolver
from chatops.sources.base import SourceError, StatusSource
from chatops.store import repo
from chatops.store.engine import SessionFactory
from chatops.store.models import AuditEntry, Bot, utcnow

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
    # Only in the audit log: the click is with the source now (or chatops died meanwhile).
    PENDING = "pending"


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


def request_key(click_id: str, action: Action, bot_id: str) -> str:
    """The audit row's unique key: one per interaction, action and bot."""
    return f"{click_id}:{action}:{bot_id}"[:300]


def _what_happened(action: Action, outcome: str, detail: str | None) -> str:
    """The answer to a click delivered again: what its first delivery did."""
    already = "This click was already received"
    if outcome == Outcome.OK:
        return f"{already} and done: the {action} was sent to LivePerson once."
    if outcome == Outcome.FAILED:
        why = f" ({detail})" if detail else ""
        return (
            f"{already} and its {action} failed{why}. It is not sent again; "
            "click the button again to retry."
        )
    if outcome == Outcome.DUPLICATE:
        return f"{already}: the same {action} had just been requested by another click."
    return (
        f"{already} and its {action} was handed to LivePerson (no answer recorded yet); "
        "it is not sent again."
    )


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
        access: Access,
        user_name: str | None,
        click_id: str,
    ) -> ActionResult:
        """Do ``action`` on ``bot_id`` if ``access`` allows it; always leaves an audit row.

        ``click_id`` identifies the interaction (Slack's ``trigger_id``): a second delivery
        of it is answered with what the first one did, and the source is not called again.
        """
        user_id = access.user_id
        click_id = click_id or f"anonymous-{uuid.uuid4()}"
        checked = await self._check(action, bot_id, access)
        if isinstance(checked, ActionResult):
            result = checked
            await self._audit(action, bot_id, user_id, user_name, result)
        else:
            bot, affected = checked
            key = request_key(click_id, action, bot.id)
            first = await self._claim(key, action, bot.id, user_id, user_name)
            if first is None:
                result = await self._execute(action, bot, affected, click_id)
                await self._settle(key, result)
            else:
                message = _what_happened(action, first.outcome, first.detail)
                result = ActionResult(Outcome.DUPLICATE, message, bot, affected=affected)
                await self._audit(action, bot_id, user_id, user_name, result)
        self.metrics.actions.labels(action, result.outcome.value).inc()
        log.info("action %s on bot %s by %s: %s", action, bot_id, user_id, result.outcome.value)
        return result

    async def _check(
        self, action: Action, bot_id: str, access: Access
    ) -> ActionResult | tuple[Bot, int]:
        """The refusal, or the bot and how many bots the action affects."""
        async with self.sessions() as session:
            bot = await session.get(Bot, bot_id)
            pcs_count = 0
            if bot is not None and bot.kind == BotKind.PCS.value:
                pcs_count = await repo.count_pcs_bots(session)
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
        affected = pcs_count if bot.kind == BotKind.PCS.value else 1
        return bot, max(affected, 1)

    async def _execute(
        self, action: Action, bot: Bot, affected: int, click_id: str
    ) -> ActionResult:
        if not await self._lock(lock_name(action, bot), click_id):
            return ActionResult(
                Outcome.DUPLICATE,
                f"A {action} of this connector was just requested; it was sent once.",
                bot,
                affected=affected,
            )
        try:
            if action == "start":
                await self.source.start(bot.id)
            else:
                await self.source.stop(bot.id)
        except SourceError as exc:
            await self._unlock(lock_name(action, bot), click_id)
            return ActionResult(
                Outcome.FAILED, f"LivePerson refused or failed: {exc}", bot, affected=affected
            )
        return ActionResult(Outcome.OK, f"{action} requested", bot, affected=affected)

    async def _claim(
        self, key: str, action: Action, bot_id: str, user_id: str, user_name: str | None
    ) -> AuditEntry | None:
        """Write the click's audit row, pending; None if this delivery is the first.

        Otherwise the row the first delivery wrote (its outcome so far). The unique key makes
        this a compare-and-set across processes: of two deliveries at once, one inserts and
        the other gets the integrity error.
        """
        pending = ActionResult(Outcome.PENDING, "")
        try:
            await self._audit(action, bot_id, user_id, user_name, pending, request_key=key)
        except IntegrityError:
            async with self.sessions() as session:
                found = await session.exec(
                    select(AuditEntry).where(col(AuditEntry.request_key) == key)
                )
                first = found.first()
            if first is None:  # the first delivery's row vanished: nothing to compare with
                raise
            return first
        return None

    async def _settle(self, key: str, result: ActionResult) -> None:
        async with self.sessions() as session, session.begin():
            found = await session.exec(select(AuditEntry).where(col(AuditEntry.request_key) == key))
            entry = found.one()
            entry.outcome = result.outcome.value
            entry.detail = result.message[:2000]
            session.add(entry)

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
        self,
        action: Action,
        bot_id: str,
        user_id: str,
        user_name: str | None,
        result: ActionResult,
        *,
        request_key: str | None = None,
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
                detail=result.message or None,
                request_key=request_key,
            )
