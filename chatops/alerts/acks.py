"""Acknowledge: someone owns an open incident, from the alert's button or from
``/botstatus ack <bot>``, and ``/botstatus unack <bot>`` releases it.

An acknowledgement is taken by compare-and-set on the incident row (chatops.store.acks), in
the same transaction as its audit row and the outbox row that edits the alert (who owns
it, since when) and replies in its thread; so a double click, a payload delivered again or
two replicas at once acknowledge once, with one audit row and one reply, and the relay
posts them in order with the incident's other messages. The audit row of a click carries
its ``trigger_id``: a delivery of the same click after the acknowledgement was released
does not take it again.

What an acknowledgement changes elsewhere: no reminders while it holds
(chatops.alerts.upkeep), escalation keeps the owner and mentions them in the thread, and
the message of a resolved incident still says who had acknowledged it
(chatops.alerts.planner). A digest's button acknowledges every open bot of the digest that
nobody owns yet; ``/botstatus ack <bot>`` of a bot announced in a digest acknowledges that
bot, with a reply in the digest's thread (the digest itself is not edited). The status
source's outage has the button too; it ends when polls succeed again (no unack).

The permission (``ack``) is checked here, for the stored bot of the incident (for a
digest, every open bot of it; for the status source, every bot: ``ack`` without globs); the
button's value is never trusted.

One module, over 500 lines, because it is one thing: ``AckService``, whose every path (a
button, ``ack``, ``unack``) ends in the same bookkeeping (``_done``: audit row, counter,
answer) and whose writes share one transaction shape (compare-and-set, audit, outbox row
through ``_write``). The words of the alert's thread replies are
``chatops.alerts.render.acknowledgements``; the SQL is ``chatops.store.acks``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.alerts import render
from chatops.alerts.mutes import active_mutes
from chatops.alerts.outbox_rows import new_row, payload
from chatops.alerts.routing import facts, is_muted
from chatops.blockkit.text import code, date_token, escape_within, mention, plural
from chatops.domain import BotKind
from chatops.domain.conversations import ConversationLimits
from chatops.jsontypes import JSONDict
from chatops.metrics import Metrics
from chatops.permissions import Access, PermissionResolver
from chatops.store import acks as store
from chatops.store.acks import Owner, owner_of
from chatops.store.alert_models import AlertIncident
from chatops.store.audit import add_audit
from chatops.store.bots import cards_by_id, count_pcs_bots
from chatops.store.engine import SessionFactory
from chatops.store.incidents import get_incident
from chatops.store.models import AuditEntry, Bot, utcnow
from chatops.store.outbox import add_row

log = logging.getLogger(__name__)


ACK: Final = "ack"
UNACK: Final = "unack"


@dataclass(frozen=True, slots=True)
class AckResult:
    """What one ack or unack did (``outcome``, as audited) and what the person is told.

    Outcomes: ``ok``; ``refused`` (no ``ack`` on that bot); ``unknown_bot`` (none the
    person can see by that name); ``ambiguous`` (several); ``no_incident``; ``already``
    (someone owns it: nothing changed); ``not_acked`` (unack of what nobody owns);
    ``duplicate`` (this click was handled before).
    """

    outcome: str
    reply: JSONDict


async def _audit(
    session: AsyncSession,
    at: datetime,
    access: Access,
    user_name: str | None,
    action: str,
    target: str,
    outcome: str,
    *,
    detail: str | None = None,
    click_id: str = "",
) -> AuditEntry:
    """The audit row of an ack or unack; one per click (``click_id``, Slack's trigger id):
    a click delivered again raises IntegrityError on flush."""
    key = f"ack:{hashlib.sha256(click_id.encode()).hexdigest()}" if click_id else None
    return await add_audit(
        session,
        at=at,
        user_id=access.user_id[:64],
        user_name=user_name,
        action=action,
        target=target,
        outcome=outcome,
        detail=detail,
        request_key=key,
    )


def _answer(outcome: str, fallback: str, text: str) -> AckResult:
    return AckResult(outcome, render.reply(fallback, text))


def _name(bot: Bot) -> str:
    return f"*{escape_within(bot.name, 150)}*"


class AckService:
    """``ack`` and ``unack`` for the Slack surface (``SlackServices.acks``)."""

    def __init__(
        self,
        sessions: SessionFactory,
        permissions: PermissionResolver,
        metrics: Metrics,
        *,
        clock: Callable[[], datetime] = utcnow,
        wake: Callable[[], None] | None = None,
        limits: ConversationLimits | None = None,
    ) -> None:
        """``limits``: the conversation flags an outage's message shows (as the planner's)."""
        self.sessions = sessions
        self.limits = limits or ConversationLimits()
        self.permissions = permissions
        self.metrics = metrics
        self.clock = clock
        self.wake = wake

    # -- entry points ------------------------------------------------------------------------

    async def ack_message(
        self, channel: str, message_ts: str, access: Access, user_name: str | None, click_id: str
    ) -> AckResult:
        """The Acknowledge button of the alert ``(channel, message_ts)``."""
        async with self.sessions() as session:
            incident = await store.incident_of_message(session, channel, message_ts)
            bots: dict[str, Bot] = {}
            children: list[AlertIncident] = []
            if incident is not None and incident.id is not None and incident.kind == "digest":
                children = await store.open_children(session, incident.id)
                bots = await store.bots_by_ids(session, [c.bot_id for c in children if c.bot_id])
            elif incident is not None and incident.bot_id is not None:
                bots = await store.bots_by_ids(session, [incident.bot_id])
        if incident is None or incident.closed_at is not None:
            return await self._done(
                ACK,
                "no_incident",
                message_ts,
                access,
                user_name,
                "Nothing to acknowledge",
                ":information_source: This alert is over (or not one of ours), so there is "
                "nothing to acknowledge.",
            )
        if incident.kind in ("digest", "source"):
            return await self._ack_whole(incident, children, bots, access, user_name, click_id)
        bot = bots.get(incident.bot_id or "")
        refused = await self._refused(ACK, bot, incident.bot_id or "", access, user_name)
        if refused is not None:
            return refused
        assert bot is not None
        return await self._ack(incident, bot, access, user_name, click_id)

    async def ack_bot(
        self, name: str, access: Access, user_name: str | None, click_id: str
    ) -> AckResult:
        """``/botstatus ack <bot>``: the bot's open outage."""
        found = await self._bot_and_outage(ACK, name, access, user_name)
        if isinstance(found, AckResult):
            return found
        bot, incident = found
        return await self._ack(incident, bot, access, user_name, click_id)

    async def unack_bot(self, name: str, access: Access, user_name: str | None) -> AckResult:
        """``/botstatus unack <bot>``: release the acknowledgement of the bot's open outage."""
        found = await self._bot_and_outage(UNACK, name, access, user_name)
        if isinstance(found, AckResult):
            return found
        bot, incident = found
        owner = owner_of(incident)
        assert incident.id is not None
        released = False
        if owner is not None:
            now = self.clock()
            async with self.sessions() as session, session.begin():
                released = await store.release(session, incident.id, owner.user_id)
                if released:
                    entry = await _audit(
                        session,
                        now,
                        access,
                        user_name,
                        UNACK,
                        bot.id,
                        "ok",
                        detail=f"released the acknowledgement by {owner.user_id}",
                    )
                    reply = render.released_reply(
                        access.user_id,
                        owner,
                        None if incident.parent_id is None else render.bot_subject(bot),
                        now,
                    )
                    update = await self._outage_message(session, incident, bot, None)
                    self._write(session, incident, bot, reply, update, f"unack:{entry.id}", now)
        if owner is None or not released:
            # Nobody owned it (audited), or it was released or resolved meanwhile (not).
            why = (
                "is not acknowledged, so there is nothing to release"
                if owner is None
                else "was released or resolved meanwhile; nothing changed"
            )
            return await self._done(
                UNACK,
                "not_acked",
                bot.id,
                access,
                user_name,
                "Not acknowledged",
                f":information_source: The alert about {_name(bot)} {why}.",
                audited=owner is None,
            )
        return self._succeeded(
            UNACK,
            "Acknowledgement released",
            f":raised_hand: You released the acknowledgement of {_name(bot)} (by "
            f"{mention(owner.user_id)} since {date_token(owner.since)}): reminders resume.",
        )

    # -- acknowledging -----------------------------------------------------------------------

    async def _ack(
        self,
        incident: AlertIncident,
        bot: Bot,
        access: Access,
        user_name: str | None,
        click_id: str,
    ) -> AckResult:
        assert incident.id is not None
        incident_id = incident.id

        async def write(session: AsyncSession, owner: Owner) -> None:
            now = owner.since
            entry = await _audit(
                session, now, access, user_name, ACK, bot.id, "ok", click_id=click_id
            )
            current = await get_incident(session, incident_id, fresh=True)
            assert current is not None
            in_digest = current.parent_id is not None
            reply = render.acknowledged_reply(owner, render.bot_subject(bot) if in_digest else None)
            update = await self._outage_message(session, current, bot, owner)
            self._write(session, current, bot, reply, update, f"ack:{entry.id}", now)

        return await self._take(
            incident_id,
            access,
            _name(bot),
            write,
            f":eyes: You acknowledged the alert about {_name(bot)}: its message says so and "
            f"no reminders go out while it is yours. `/botstatus unack "
            f"{escape_within(bot.name, 150)}` releases it.",
        )

    async def _ack_whole(
        self,
        incident: AlertIncident,
        children: list[AlertIncident],
        bots: dict[str, Bot],
        access: Access,
        user_name: str | None,
        click_id: str,
    ) -> AckResult:
        """The button of a digest (with every open bot of it nobody owns yet) or of the status
        source's outage (which concerns every bot): the message kept, with who owns it."""
        assert incident.id is not None
        digest = incident.kind == "digest"
        target = f"digest:{incident.id}" if digest else "status source"
        listed = [bots[c.bot_id] for c in children if c.bot_id in bots]
        if digest and (not access.can(ACK) or any(not access.can(ACK, b.name) for b in listed)):
            why = (
                self.permissions.refusal(ACK)
                + " This digest includes bots you may not acknowledge: use `/botstatus ack "
                "<bot>` for yours."
            )
            return await self._refusal(ACK, target, access, user_name, why)
        if not digest and (not access.can(ACK) or access.scope(ACK) is not None):
            why = (
                self.permissions.refusal(ACK)
                + " The status source's alert concerns every bot: it needs `ack` on all of them."
            )
            return await self._refusal(ACK, target, access, user_name, why)
        if digest and not children:
            return await self._done(
                ACK,
                "no_incident",
                target,
                access,
                user_name,
                "Nothing to acknowledge",
                ":information_source: Every bot of this digest is resolved; nothing to "
                "acknowledge.",
            )
        incident_id = incident.id

        async def write(session: AsyncSession, owner: Owner) -> None:
            now = owner.since
            subject, detail = None, None
            if digest:
                ids = await store.take_children(session, incident_id, access.user_id, now)
                count = plural(len(ids), "open bot")
                subject, detail = f"the {count} of this digest", f"{count} of the digest"
            entry = await _audit(
                session,
                now,
                access,
                user_name,
                ACK,
                target,
                "ok",
                detail=detail,
                click_id=click_id,
            )
            original = await store.opening_post(session, incident)
            update = render.owned(original, owner) if original is not None else None
            reply = render.acknowledged_reply(owner, subject)
            self._write(session, incident, None, reply, update, f"ack:{entry.id}", now)

        what = "this digest" if digest else "the status source"
        return await self._take(
            incident_id,
            access,
            what,
            write,
            f":eyes: You acknowledged {what}: no reminders go out for it while it is yours.",
        )

    async def _take(
        self,
        incident_id: int,
        access: Access,
        subject: str,
        write: Callable[[AsyncSession, Owner], Awaitable[None]],
        acknowledged: str,
    ) -> AckResult:
        """Take the incident for ``access`` by compare-and-set and ``write`` its audit and
        outbox rows in that transaction. Answered ``acknowledged`` when taken, else why not:
        someone owns it, it ended (``_not_taken``), or this click was handled before."""
        owner = Owner(access.user_id, self.clock())
        try:
            async with self.sessions() as session, session.begin():
                taken = await store.take(session, incident_id, access.user_id, owner.since)
                if taken:
                    await write(session, owner)
        except IntegrityError:
            return self._duplicate()
        if not taken:
            return await self._not_taken(incident_id, subject, access)
        return self._succeeded(ACK, "Acknowledged", acknowledged)

    async def _outage_message(
        self,
        session: AsyncSession,
        incident: AlertIncident,
        bot: Bot,
        owner: Owner | None,
    ) -> JSONDict | None:
        """The outage's message as it is now, owned by ``owner`` (None for a bot announced in
        a digest: it has no message of its own)."""
        if incident.parent_id is not None:
            return None
        cards = await cards_by_id(session, [bot.id], self.limits)
        card = cards.get(bot.id)
        if card is None:
            return None
        pcs = await count_pcs_bots(session) if bot.kind == BotKind.PCS.value else 1
        health = render.health_of(incident.health)
        return render.problem(card, health, incident.since, pcs_count=pcs, owner=owner)

    def _write(
        self,
        session: AsyncSession,
        incident: AlertIncident,
        bot: Bot | None,
        reply: JSONDict,
        update: JSONDict | None,
        key: str,
        now: datetime,
    ) -> None:
        """The outbox row: the alert's message edited and a reply in its thread (a bot of a
        digest: the reply in the digest's thread; a digest or the status source: no bot)."""
        add_row(
            session,
            new_row(
                kind=ACK,
                channel=incident.channel,
                dedupe_key=key,
                body=payload(post=reply, in_thread=True, update=update),
                now=now,
                incident_id=incident.parent_id or incident.id,
                bot_id=bot.id if bot is not None else None,
            ),
        )

    async def _not_taken(self, incident_id: int, subject: str, access: Access) -> AckResult:
        """Someone owns it already (perhaps this very person), or it ended meanwhile."""
        async with self.sessions() as session:
            current = await get_incident(session, incident_id)
        owner = owner_of(current) if current is not None else None
        if current is None or current.closed_at is not None or owner is None:
            self._count(ACK, "no_incident")
            return _answer(
                "no_incident",
                "Nothing to acknowledge",
                f":information_source: The alert about {subject} is over; nothing to acknowledge.",
            )
        who = "you" if owner.user_id == access.user_id else mention(owner.user_id)
        self._count(ACK, "already")
        return _answer(
            "already",
            "Already acknowledged",
            f":eyes: The alert about {subject} is already acknowledged by {who} since "
            f"{date_token(owner.since)}; nothing changed.",
        )

    def _duplicate(self) -> AckResult:
        self._count(ACK, "duplicate")
        return _answer(
            "duplicate",
            "Already received",
            ":information_source: This click was already received and handled; nothing changed.",
        )

    # -- finding the bot ---------------------------------------------------------------------

    async def _bot_and_outage(
        self, action: str, name: str, access: Access, user_name: str | None
    ) -> tuple[Bot, AlertIncident] | AckResult:
        async with self.sessions() as session:
            bots = [
                bot for bot in await store.bots_named(session, name) if access.visible(bot.name)
            ]
            incident = await store.open_outage(session, bots[0].id) if len(bots) == 1 else None
            # Whether a mute or a window holds its alerts back: said only of a bot in trouble.
            silenced = (
                len(bots) == 1
                and incident is None
                and render.health_of(bots[0].health).is_problem
                and is_muted(facts(bots[0]), await active_mutes(session, self.clock()))
            )
        shown = code(name, 150)
        if not bots:
            return await self._done(
                action,
                "unknown_bot",
                name,
                access,
                user_name,
                "No such bot",
                f":mag: No bot named {shown} among the bots you can see. Give its exact "
                "name or id.",
            )
        if len(bots) > 1:
            return await self._done(
                action,
                "ambiguous",
                name,
                access,
                user_name,
                "Several bots",
                f":mag: {len(bots)} bots are named {shown}; give the id of the one you mean.",
            )
        bot = bots[0]
        refused = await self._refused(action, bot, bot.id, access, user_name)
        if refused is not None:
            return refused
        if incident is None:
            what = "acknowledge" if action == ACK else "release"
            health = render.health_of(bot.health)
            why = f"it is {health.label}"
            if silenced and health.is_problem:
                # Down without an alert: a mute or a window holds it back (said, not hidden).
                why += (
                    ", and a mute or maintenance window silences its alerts: "
                    "`/botstatus mutes`, `/botstatus maintenance`"
                )
            return await self._done(
                action,
                "no_incident",
                bot.id,
                access,
                user_name,
                "No open alert",
                f":information_source: {_name(bot)} has no open alert ({why}), so there is "
                f"nothing to {what}.",
            )
        return bot, incident

    async def _refused(
        self, action: str, bot: Bot | None, target: str, access: Access, user_name: str | None
    ) -> AckResult | None:
        """The refusal for a bot the person may not see or acknowledge (None: they may)."""
        if bot is None or bot.removed_at is not None or not access.visible(bot.name):
            if not access.can("view"):
                why = self.permissions.refusal("view")
                return await self._refusal(action, target, access, user_name, why)
            return await self._done(
                action,
                "unknown_bot",
                target,
                access,
                user_name,
                "No such bot",
                ":mag: That bot is not among the bots you can see (it may have been removed). "
                "Nothing was done.",
            )
        if not access.can(ACK, bot.name):
            why = self.permissions.refusal(ACK)
            return await self._refusal(action, target, access, user_name, why)
        return None

    async def _refusal(
        self, action: str, target: str, access: Access, user_name: str | None, why: str
    ) -> AckResult:
        """Refused, in the words and shape of every refusal (``blocks.refusal``)."""
        return await self._done(
            action, "refused", target, access, user_name, why, f":no_entry: {why}"
        )

    # -- bookkeeping -------------------------------------------------------------------------

    async def _done(
        self,
        action: str,
        outcome: str,
        target: str,
        access: Access,
        user_name: str | None,
        fallback: str,
        text: str,
        *,
        audited: bool = True,
    ) -> AckResult:
        """An attempt that changed nothing: audited with its outcome, answered."""
        if audited:
            async with self.sessions() as session, session.begin():
                await _audit(
                    session, self.clock(), access, user_name, action, target, outcome, detail=text
                )
        self._count(action, outcome)
        return _answer(outcome, fallback, text)

    def _succeeded(self, action: str, fallback: str, text: str) -> AckResult:
        """An ack or unack that took effect: counted, the relay woken, answered."""
        self._count(action, "ok")
        self._wake()
        return _answer("ok", fallback, text)

    def _count(self, action: str, outcome: str) -> None:
        self.metrics.actions.labels(action, outcome).inc()

    def _wake(self) -> None:
        if self.wake is not None:
            self.wake()
