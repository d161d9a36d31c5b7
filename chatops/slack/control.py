"""Start, Stop and Restart of agent connectors: once per click, audited, permission re-checked.

The Slack handlers call :class:`ConnectorControl` with the clicking user's access (resolved
by the guard, chatops.slack.guard, which has refused whoever may start or stop no bot at
all); it never trusts what a button carried. It looks the bot up in the store, checks the
permissions for that bot (Restart needs both ``start`` and ``stop``), and acts on one named
connector or on every connector of the bot (a PCS bot: the one survey connector all PCS bots
share). It writes an audit row for every connector acted on, and one for an attempt refused
before any: one per click, however often the click is delivered (``refusal_key``). Two
guards keep the source from being called twice for a connector:

- **One click, once.** The same interaction may reach chatops more than once (a retrying
  proxy, a redelivery, to any replica). Its audit row is written *before* the source is
  called, under a unique request key made of the interaction's ``trigger_id``, the action,
  the bot and the connector; a delivery that finds the key taken is answered with what the
  first one did (done, failed, under way) and never calls the source.
- **One double click, once.** Two clicks (two interactions) on the same connector within
  ``DEDUPE_WINDOW`` share a short-lived lock row, taken by compare-and-set, so the second
  one reaches the source only if the first one failed.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from chatops.blockkit.controls import Action
from chatops.domain import BotKind
from chatops.domain.permission import Permission
from chatops.metrics import Metrics
from chatops.permissions import Access, PermissionResolver
from chatops.slack.results import ActionResult, ConnectorOutcome, Outcome
from chatops.sources.base import SourceError, StatusSource
from chatops.store.audit import add_audit, by_request_key, settle
from chatops.store.bots import count_pcs_bots, get_bot
from chatops.store.connectors import connectors_of
from chatops.store.engine import SessionFactory
from chatops.store.leases import LeaseGate
from chatops.store.models import AuditEntry, Bot, Connector, utcnow

__all__ = [
    "Action",
    "ActionResult",
    "ConnectorControl",
    "ConnectorOutcome",
    "Outcome",
    "lock_name",
    "request_key",
]

log = logging.getLogger(__name__)

# The permissions an action needs on its bot: Restart is a Stop and then a Start.
NEEDS: dict[Action, tuple[Permission, ...]] = {
    "start": ("start",),
    "stop": ("stop",),
    "restart": ("stop", "start"),
}

# A second click on the same action for the same connector within this window is the same
# request; Slack's confirm dialog plus a slow source make real double clicks common.
DEDUPE_WINDOW = timedelta(seconds=20)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def lock_name(action: Action, bot: Bot, bot_user: str) -> str:
    """The lease of one action on one connector (``Lease.name`` holds 64 characters).

    Every PCS bot shares one survey connector, so they share one lock too. Other connectors
    are named by a digest of (bot id, bot user): cut short instead, two connectors of one
    bot whose users share a long prefix (``care_user_1a``, ``care_user_1b``) would share a
    lock, and a click on the second would be taken for a double click on the first.
    """
    if bot.kind == BotKind.PCS.value:
        return f"action:{action}:pcs"
    return f"action:{action}:{_digest(bot.id, bot_user)[:48]}"


def request_key(click_id: str, action: Action, bot_id: str, bot_user: str) -> str:
    """An audit row's unique key: one per interaction, action and connector (a digest, so
    that no two connectors of one click share it however long their names are)."""
    return f"{action}:{_digest(click_id, action, bot_id, bot_user)}"


def refusal_key(click_id: str, action: str, target: str) -> str:
    """The unique key of a click's refusal: one audit row per interaction, action and target,
    however often the click is delivered (never equal to a ``request_key``)."""
    return f"refused:{_digest(click_id, action, target)}"


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


def _targets(bot: Bot, connectors: list[Connector], bot_user: str | None) -> list[Connector]:
    """The connectors an action reaches: one named, or all of the bot's (PCS: the shared one)."""
    if bot_user is not None:
        return [c for c in connectors if c.bot_user == bot_user]
    if bot.kind == BotKind.PCS.value:
        return connectors[:1]
    return connectors


@dataclass(frozen=True)
class _Checked:
    bot: Bot
    targets: list[Connector]
    affected: int


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
        bot_user: str | None = None,
    ) -> ActionResult:
        """Do ``action`` on one connector of ``bot_id`` (``bot_user``) or on all of them.

        ``click_id`` identifies the interaction (Slack's ``trigger_id``): a second delivery
        of it is answered with what the first one did, and the source is not called again.
        """
        user_id = access.user_id
        click_id = click_id or f"anonymous-{uuid.uuid4()}"
        checked = await self._check(action, bot_id, bot_user, access)
        if isinstance(checked, ActionResult):
            outcome, message = checked.outcome.value, checked.message
            await self.refused(
                action,
                bot_id,
                user_id=user_id,
                user_name=user_name,
                outcome=outcome,
                message=message,
                click_id=click_id,
            )
            return checked
        outcomes = [
            await self._one(action, checked.bot, target, click_id, user_id, user_name)
            for target in checked.targets
        ]
        result = _combine(action, checked.bot, outcomes, checked.affected)
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

    async def refused(
        self,
        action: str,
        target: str,
        *,
        user_id: str,
        user_name: str | None,
        outcome: str,
        message: str,
        click_id: str | None = None,
    ) -> None:
        """Audit a request refused before any bot was acted on: a button that names nothing
        we made, a restart naming bots outside the user's permissions or other bots than
        were confirmed, a request the guard refused. ``outcome`` says which (refused,
        invalid, changed, ...). With ``click_id`` (Slack's ``trigger_id``), once per click."""
        key = None if not click_id else refusal_key(click_id, action, target)
        try:
            async with self.sessions() as session, session.begin():
                await add_audit(
                    session,
                    at=self.clock(),
                    user_id=user_id[:64],
                    user_name=user_name,
                    action=action,
                    target=target,
                    outcome=outcome,
                    detail=message or None,
                    request_key=key,
                )
        except IntegrityError:
            if key is None:
                raise
            log.info(
                "action %s on %r by %s: %s again, the same click",
                action,
                target[:100],
                user_id,
                outcome,
            )
            return
        self.metrics.actions.labels(action, outcome).inc()
        log.info("action %s on %r by %s: %s", action, target[:100], user_id, outcome)

    async def _check(
        self, action: Action, bot_id: str, bot_user: str | None, access: Access
    ) -> ActionResult | _Checked:
        """The refusal, or the bot, the connectors to act on and how many bots that affects."""
        async with self.sessions() as session:
            bot = await get_bot(session, bot_id)
            pcs_count = 0
            connectors: list[Connector] = []
            if bot is not None:
                connectors = (await connectors_of(session, [bot_id])).get(bot_id, [])
                if bot.kind == BotKind.PCS.value:
                    pcs_count = await count_pcs_bots(session)
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
        affected = pcs_count if bot.kind == BotKind.PCS.value else 1
        return _Checked(bot, targets, max(affected, 1))

    async def _one(
        self,
        action: Action,
        bot: Bot,
        connector: Connector,
        click_id: str,
        user_id: str,
        user_name: str | None,
    ) -> ConnectorOutcome:
        """The action on one connector: claimed, locked, sent once, settled in the audit log."""
        key = request_key(click_id, action, bot.id, connector.bot_user)
        first = await self._claim(key, action, bot.id, connector.bot_user, user_id, user_name)
        if first is not None:
            message = _what_happened(action, first.outcome, first.detail)
            outcome = ConnectorOutcome(
                connector.bot_user, Outcome.DUPLICATE, message, before=connector
            )
            await self._audit(
                action,
                bot.id,
                connector.bot_user,
                user_id,
                user_name,
                ActionResult(Outcome.DUPLICATE, message, bot),
            )
            return outcome
        outcome = await self._execute(action, bot, connector, click_id)
        await self._settle(key, outcome)
        return outcome

    async def _execute(
        self, action: Action, bot: Bot, connector: Connector, click_id: str
    ) -> ConnectorOutcome:
        name = lock_name(action, bot, connector.bot_user)
        if not await self._lock(name, click_id):
            return ConnectorOutcome(
                connector.bot_user,
                Outcome.DUPLICATE,
                f"A {action} of this connector was just requested; it was sent once.",
                before=connector,
            )
        try:
            if action in ("stop", "restart"):
                await self.source.stop(bot.id, connector.bot_user)
            if action in ("start", "restart"):
                await self.source.start(bot.id, connector.bot_user)
        except SourceError as exc:
            await self._unlock(name, click_id)
            return ConnectorOutcome(
                connector.bot_user,
                Outcome.FAILED,
                f"LivePerson refused or failed: {exc}",
                before=connector,
            )
        return ConnectorOutcome(
            connector.bot_user, Outcome.OK, f"{action} requested", before=connector
        )

    async def _claim(
        self,
        key: str,
        action: Action,
        bot_id: str,
        bot_user: str,
        user_id: str,
        user_name: str | None,
    ) -> AuditEntry | None:
        """Write the click's audit row for one connector, pending; None if this delivery is
        the first.

        Otherwise the row the first delivery wrote (its outcome so far). The unique key makes
        this a compare-and-set across processes: of two deliveries at once, one inserts and
        the other gets the integrity error.
        """
        pending = ActionResult(Outcome.PENDING, "")
        try:
            await self._audit(
                action, bot_id, bot_user, user_id, user_name, pending, request_key=key
            )
        except IntegrityError:
            async with self.sessions() as session:
                first = await by_request_key(session, key)
            if first is None:  # the first delivery's row vanished: nothing to compare with
                raise
            return first
        return None

    async def _settle(self, key: str, outcome: ConnectorOutcome) -> None:
        async with self.sessions() as session, session.begin():
            await settle(session, key, outcome.outcome.value, outcome.message[:2000] or None)

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
        bot_user: str | None,
        user_id: str,
        user_name: str | None,
        result: ActionResult,
        *,
        request_key: str | None = None,
    ) -> None:
        async with self.sessions() as session, session.begin():
            await add_audit(
                session,
                at=self.clock(),
                user_id=user_id,
                user_name=user_name,
                action=action,
                target=bot_id,
                bot_user=bot_user,
                outcome=result.outcome.value,
                detail=result.message or None,
                request_key=request_key,
            )


def _combine(
    action: Action, bot: Bot, outcomes: list[ConnectorOutcome], affected: int
) -> ActionResult:
    """One result for the person who clicked: ok if any connector was acted on."""
    done = [o for o in outcomes if o.outcome is Outcome.OK]
    failed = [o for o in outcomes if o.outcome is Outcome.FAILED]
    if not done and not failed:
        message = outcomes[0].message if outcomes else "Nothing was done."
        return ActionResult(Outcome.DUPLICATE, message, bot, affected, tuple(outcomes))
    if failed and not done:
        return ActionResult(Outcome.FAILED, failed[0].message, bot, affected, tuple(outcomes))
    message = f"{action} requested for {len(done)} connector{'' if len(done) == 1 else 's'}"
    if failed:
        names = ", ".join(o.bot_user for o in failed)
        message += f"; failed for {names}: {failed[0].message}"
    return ActionResult(Outcome.OK, message, bot, affected, tuple(outcomes))
