"""From a poll to outbox rows: the alert policy, applied inside the poll's transaction.

``PollPlanner`` runs as the poller's ``in_transaction`` hook, after the bot rows are written
and before the commit, so a bot's policy state, its incidents and the outbox rows that
announce them are stored together or not at all (the transactional outbox). It observes
every bot whose health changed, whose manual operation is new, or whose state has
something pending (``needs_evaluation``); a steady poll of a steady fleet reads one index.

Each decision of the policy (chatops.domain.policy) becomes an *item* for a channel: a new
message (an outage, a flapping bot, a manual notice) or a follow-up in an existing
message's thread (changed, recovered, closed by hand), which also edits that message.
More than ``alerts.digest_after`` items for one channel in one poll become one digest;
edits of the original messages still happen, since they add nothing to the channel.
Muted bots produce no item, except that a recovery or a manual operation still closes an
open incident and edits its message.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.alerts import render
from chatops.alerts.mutes import active_mutes
from chatops.alerts.routing import BotFacts, alerts_degraded, facts, is_muted, route_for
from chatops.config import AlertsConfig
from chatops.domain import (
    BotAlertState,
    BotChange,
    BotKind,
    Decision,
    DecisionKind,
    Health,
    ManualOperation,
    PolicyConfig,
    initial_state,
    needs_evaluation,
    observe,
)
from chatops.store.alert_models import AlertIncident, BotAlert
from chatops.store.cards import BotCard
from chatops.store.models import AuditEntry, Bot, OutboxMessage, PollRun
from chatops.store.repo import connectors_of, count_pcs_bots

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]
# Messages are rendered only when written: in a digest, 2,000 bots' own messages never are.
Render = Callable[[], JSONDict]
_CHUNK = 500
STATE = BotAlert.__table__  # type: ignore[attr-defined]
BOT = Bot.__table__  # type: ignore[attr-defined]


def policy_config(alerts: AlertsConfig) -> PolicyConfig:
    return PolicyConfig(
        confirm_polls=alerts.confirm_polls,
        flapping_changes=alerts.flapping.changes,
        flapping_window=alerts.flapping.window,
        remind_every=alerts.remind_every,
    )


def chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def payload(
    *, post: JSONDict | None = None, in_thread: bool = False, update: JSONDict | None = None
) -> str:
    """The outbox row's instructions for the relay: edit a message, then post one."""
    return json.dumps({"post": post, "in_thread": in_thread, "update": update})


def new_row(
    *,
    kind: str,
    channel: str,
    dedupe_key: str,
    body: str,
    now: datetime,
    incident_id: int | None = None,
    bot_id: str | None = None,
    poll_id: int | None = None,
) -> OutboxMessage:
    """An outbox row due at once; ``body`` comes from ``payload()``."""
    return OutboxMessage(
        dedupe_key=dedupe_key[:300],
        created_at=now,
        kind=kind,
        channel=channel,
        bot_id=bot_id,
        incident_id=incident_id,
        poll_id=poll_id,
        payload=body,
        next_attempt_at=now,
    )


def manual_key(manual: ManualOperation | None) -> str | None:
    """Identifies one manual operation, so that each is passed to the policy once."""
    if manual is None or not manual.operation:
        return None
    at = manual.at.astimezone(UTC).isoformat() if manual.at is not None else ""
    return f"{manual.operation}@{at}"[:64]


# How far back a Start or Stop clicked in Slack explains a manual operation the source reports.
ACTOR_WINDOW = timedelta(minutes=15)


async def recent_actors(session: AsyncSession, now: datetime) -> dict[tuple[str, str], str]:
    """Who started or stopped a connector from Slack lately, by (operation, bot id or "pcs").

    LivePerson reports our own Start/Stop as done by the account chatops logs in with; the
    audit log knows the person who clicked.
    """
    audit, bot = AuditEntry.__table__, Bot.__table__  # type: ignore[attr-defined]
    connection = await session.connection()
    result = await connection.execute(
        sa.select(audit.c.action, audit.c.target, audit.c.user_id, audit.c.user_name, bot.c.kind)
        .select_from(audit.outerjoin(bot, bot.c.id == audit.c.target))
        .where(
            audit.c.outcome == "ok",
            audit.c.action.in_(("start", "stop")),
            audit.c.at >= now - ACTOR_WINDOW,
        )
        .order_by(audit.c.at)
    )
    actors: dict[tuple[str, str], str] = {}
    for action, target, user_id, user_name, kind in result.all():
        who = f"{user_name or user_id} (in Slack)"
        actors[(action, "pcs" if kind == BotKind.PCS.value else target)] = who
    return actors


def _credit(decision: Decision, bot: BotCard, actors: dict[tuple[str, str], str]) -> Decision:
    if decision.kind is not DecisionKind.NOTICE or not decision.manual_operation:
        return decision
    target = "pcs" if bot.kind == BotKind.PCS.value else bot.id
    who = actors.get((decision.manual_operation, target))
    return replace(decision, performed_by=who) if who else decision


async def bots_by_id(session: AsyncSession, ids: Iterable[str]) -> dict[str, BotCard]:
    """The bots with these ids, each with its listed connectors."""
    wanted = sorted(set(ids))
    found: dict[str, Bot] = {}
    for part in chunks(wanted):
        result = await session.exec(select(Bot).where(col(Bot.id).in_(part)))
        found.update((bot.id, bot) for bot in result.all())
    connectors = await connectors_of(session, found)
    return {
        bot_id: BotCard(bot, tuple(connectors.get(bot_id, ()))) for bot_id, bot in found.items()
    }


@dataclass(slots=True)
class _StateRow:
    """A bot's ``alert_bot_state`` row, read and written in bulk (ORM objects cost too much
    at 10,000 bots)."""

    bot_id: str
    state: str
    pending: bool
    manual_key: str | None
    incident_id: int | None
    flapping_id: int | None
    new: bool = False
    dirty: bool = False


@dataclass
class _Item:
    """One alert for one channel, before digest grouping decides how it is sent."""

    bot: BotCard
    row: _StateRow
    decision: Decision
    channel: str
    group: str  # DigestItem.group
    health: Health
    # A new message: the incident it opens (None for a notice).
    opens: AlertIncident | None = None
    message: Render | None = None
    # A follow-up: the incident whose message is edited / replied to.
    follows: AlertIncident | None = None
    reply: Render | None = None
    update: Render | None = None


@dataclass
class _Plan:
    """Everything one poll writes besides policy states."""

    items: list[_Item] = field(default_factory=list)
    # Edits of messages that are not alerts of their own (a flapping episode ending).
    edits: list[tuple[AlertIncident, JSONDict, str]] = field(default_factory=list)
    touched_digests: set[int] = field(default_factory=set)


class PollPlanner:
    """The ``in_transaction`` hook: policy states, incidents and outbox rows of one poll."""

    def __init__(self, alerts: AlertsConfig) -> None:
        self.alerts = alerts
        self.policy = policy_config(alerts)

    async def __call__(
        self, session: AsyncSession, changes: Sequence[BotChange], poll: PollRun, now: datetime
    ) -> int:
        """Run the policy for this poll; return how many outbox rows were written."""
        assert poll.id is not None
        rows, decided = await self._observe(session, changes, now)
        written = 0
        if decided:
            bots = await bots_by_id(session, {bot_id for bot_id, _, _ in decided})
            with_bots = [
                (bots[bot_id], row, decision) for bot_id, row, decision in decided if bot_id in bots
            ]
            plan = await self._plan(session, with_bots, now)
            written = await self._write(session, plan, poll.id, now)
        await self._save(session, rows, now)
        return written

    # -- policy ----------------------------------------------------------------------------

    async def _observe(
        self, session: AsyncSession, changes: Sequence[BotChange], now: datetime
    ) -> tuple[list[_StateRow], list[tuple[str, _StateRow, Decision]]]:
        """Observe every bot that needs it; return the state rows and the decisions.

        A bot's health is its connectors' roll-up (``degraded`` when some serve and some
        do not); a manual operation leads it to the health it has once that connector (and
        any other its operation reached at the same time) gets there.
        """
        connection = await session.connection()
        current: dict[str, tuple[Health, ManualOperation | None]] = {}
        targets: dict[str, Health | None] = {}
        old_health: dict[str, Health] = {}
        removed: set[str] = set()
        for change in changes:
            new = change.new
            if new is None:
                removed.add(change.bot_id)
                continue
            bot = BotFacts(new.bot_id, new.name, new.kind.value, new.environment.value)
            current[change.bot_id] = (self._judged(bot, new.health), new.manual)
            target = new.manual_target()
            targets[change.bot_id] = self._judged(bot, target) if target is not None else None
            if change.old is not None:
                old_health[change.bot_id] = self._judged(bot, change.old.health)
        pending = await connection.execute(
            sa.select(STATE.c.bot_id).where(STATE.c.pending.is_(True))
        )
        unchanged = set(pending.scalars()) - set(current) - removed
        for part in chunks(sorted(unchanged)):
            result = await connection.execute(
                sa.select(
                    BOT.c.id,
                    BOT.c.name,
                    BOT.c.kind,
                    BOT.c.environment,
                    BOT.c.health,
                    BOT.c.manual_operation,
                    BOT.c.manual_by,
                    BOT.c.manual_at,
                ).where(BOT.c.id.in_(part), BOT.c.removed_at.is_(None))
            )
            for bot_id, name, kind, environment, health, operation, by, at in result:
                stored_manual = ManualOperation(operation, by, at) if operation else None
                bot = BotFacts(bot_id, name, kind, environment)
                current[bot_id] = (self._judged(bot, render.health_of(health)), stored_manual)
        if not current:
            return [], []
        stored: dict[str, _StateRow] = {}
        for part in chunks(sorted(current)):
            state_rows = await connection.execute(
                sa.select(
                    STATE.c.bot_id,
                    STATE.c.state,
                    STATE.c.pending,
                    STATE.c.manual_key,
                    STATE.c.incident_id,
                    STATE.c.flapping_id,
                ).where(STATE.c.bot_id.in_(part))
            )
            for bot_id, state, pending_flag, key, incident_id, flapping_id in state_rows:
                stored[bot_id] = _StateRow(
                    bot_id, state, pending_flag, key, incident_id, flapping_id
                )
        rows: list[_StateRow] = []
        decided: list[tuple[str, _StateRow, Decision]] = []
        for bot_id in sorted(current):
            health, manual_now = current[bot_id]
            key = manual_key(manual_now)
            row = stored.get(bot_id)
            manual: ManualOperation | None = None
            if row is None:
                # First sight is a baseline; a bot stored before alerts existed starts from
                # the health it had, and its manual operation then is old news.
                start = old_health.get(bot_id, health)
                state = initial_state(start, now)
                row = _StateRow(bot_id, "", False, key, None, None, new=True)
                rows.append(row)
                if start is health:
                    self._store(row, state)
                    continue
            else:
                state = self._load(row, health, now)
                if key is not None and key != row.manual_key:
                    manual = manual_now
                if key != row.manual_key:
                    row.manual_key = key
                    row.dirty = True
                rows.append(row)
                if manual is None and health is state.observed and not needs_evaluation(state):
                    continue
            state, decisions = observe(
                state,
                health,
                now,
                self.policy,
                manual=manual,
                manual_target=targets.get(bot_id) if manual is not None else None,
            )
            self._store(row, state)
            decided.extend((bot_id, row, decision) for decision in decisions)
        return rows, decided

    def _judged(self, bot: BotFacts, health: Health) -> Health:
        """The health the policy sees: a degraded bot is OK to it where degraded is not
        alerted, so that only its fall to down (or back) is news."""
        if health is Health.DEGRADED and not alerts_degraded(bot, self.alerts):
            return Health.OK
        return health

    def _load(self, row: _StateRow, health: Health, now: datetime) -> BotAlertState:
        try:
            return BotAlertState.from_dict(json.loads(row.state))
        except (ValueError, TypeError) as exc:
            # A state we cannot read starts again from a baseline rather than stop alerts.
            log.error(
                "alert state of bot %s is unreadable (%s); starting it afresh", row.bot_id, exc
            )
            return initial_state(health, now)

    def _store(self, row: _StateRow, state: BotAlertState) -> None:
        text = json.dumps(state.to_dict(), separators=(",", ":"))
        if text != row.state:
            row.state = text
            row.pending = needs_evaluation(state)
            row.dirty = True

    async def _save(self, session: AsyncSession, rows: list[_StateRow], now: datetime) -> None:
        connection = await session.connection()
        inserts = [
            {
                "bot_id": row.bot_id,
                "state": row.state,
                "pending": row.pending,
                "manual_key": row.manual_key,
                "incident_id": row.incident_id,
                "flapping_id": row.flapping_id,
                "updated_at": now,
            }
            for row in rows
            if row.new
        ]
        updates = [
            {
                "key": row.bot_id,
                "state": row.state,
                "pending": row.pending,
                "manual_key": row.manual_key,
                "incident_id": row.incident_id,
                "flapping_id": row.flapping_id,
                "updated_at": now,
            }
            for row in rows
            if row.dirty and not row.new
        ]
        if inserts:
            await connection.execute(sa.insert(STATE), inserts)
        if updates:
            await connection.execute(
                sa.update(STATE)
                .where(STATE.c.bot_id == sa.bindparam("key"))
                .values(
                    state=sa.bindparam("state"),
                    pending=sa.bindparam("pending"),
                    manual_key=sa.bindparam("manual_key"),
                    incident_id=sa.bindparam("incident_id"),
                    flapping_id=sa.bindparam("flapping_id"),
                    updated_at=sa.bindparam("updated_at"),
                ),
                updates,
            )

    # -- decisions to items ----------------------------------------------------------------

    async def _plan(
        self,
        session: AsyncSession,
        decided: list[tuple[BotCard, _StateRow, Decision]],
        now: datetime,
    ) -> _Plan:
        incident_ids = {
            incident_id
            for _, row, _ in decided
            for incident_id in (row.incident_id, row.flapping_id)
            if incident_id is not None
        }
        incidents: dict[int, AlertIncident] = {}
        for part in chunks(sorted(incident_ids)):
            result = await session.exec(
                select(AlertIncident).where(col(AlertIncident.id).in_(part))
            )
            incidents.update((incident.id, incident) for incident in result.all() if incident.id)
        mutes = await active_mutes(session, now)
        if any(decision.kind is DecisionKind.NOTICE for _, _, decision in decided):
            actors = await recent_actors(session, now)
            decided = [(bot, row, _credit(decision, bot, actors)) for bot, row, decision in decided]
        needs_pcs = any(bot.kind == BotKind.PCS.value for bot, _, _ in decided)
        pcs = await count_pcs_bots(session) if needs_pcs else 0
        plan = _Plan()
        for bot, row, decision in decided:
            incident = incidents.get(row.incident_id) if row.incident_id else None
            if incident is not None and incident.closed_at is not None:
                incident = None
            flap = incidents.get(row.flapping_id) if row.flapping_id else None
            if flap is not None and flap.closed_at is not None:
                flap = None
            self._decide(
                plan, bot, row, decision, incident, flap, is_muted(facts(bot), mutes), pcs, now
            )
        return plan

    def _decide(
        self,
        plan: _Plan,
        bot: BotCard,
        row: _StateRow,
        decision: Decision,
        incident: AlertIncident | None,
        flap: AlertIncident | None,
        muted: bool,
        pcs: int,
        now: datetime,
    ) -> None:
        kind = decision.kind
        if kind is DecisionKind.PROBLEM:
            if incident is not None:  # left open by a muted outage: the new one replaces it
                self._close(plan, row, incident, "superseded", now)
            if not muted:
                self._open(plan, bot, row, decision, pcs, now)
        elif kind is DecisionKind.PROBLEM_CHANGED:
            if incident is None:
                if not muted:  # its outage was muted when it began: this is news now
                    self._open(plan, bot, row, decision, pcs, now)
            elif muted:
                incident.health = decision.new.value
            else:
                self._changed(plan, bot, row, decision, incident, pcs)
        elif kind is DecisionKind.RECOVERED:
            if incident is not None:  # even muted: the open alert must not stay red
                self._recovered(plan, bot, row, decision, incident, now)
        elif kind is DecisionKind.NOTICE:
            self._notice(plan, bot, row, decision, incident, flap, muted, now)
        elif kind is DecisionKind.FLAPPING:
            if not muted:
                self._flapping(plan, bot, row, decision, now)
        elif kind is DecisionKind.SETTLED:
            if flap is not None:
                over = render.flapping_over(bot, decision.new, flap.since, now, "settled")
                self._close(plan, row, flap, "settled", now)
                plan.edits.append((flap, over, "flapping_over"))
            if decision.new.is_problem:
                if incident is None:
                    if not muted:
                        self._open(
                            plan, bot, row, decision, pcs, now, note="It settled after flapping."
                        )
                elif incident.health != decision.new.value and not muted:
                    self._changed(plan, bot, row, decision, incident, pcs)
            elif incident is not None:
                self._recovered(plan, bot, row, decision, incident, now)

    def _channel(self, bot: BotCard, health: Health | None = None) -> str | None:
        channel = route_for(facts(bot), self.alerts, health)
        if channel is None:
            log.warning(
                "no channel for an alert about bot %s: set alerts.channel or a route for it",
                bot.id,
            )
        return channel

    def _new_incident(
        self, kind: str, bot: BotCard, channel: str, health: Health, since: datetime, now: datetime
    ) -> AlertIncident:
        return AlertIncident(
            kind=kind,
            bot_id=bot.id,
            channel=channel,
            health=health.value,
            since=since,
            opened_at=now,
        )

    def _open(
        self,
        plan: _Plan,
        bot: BotCard,
        row: _StateRow,
        decision: Decision,
        pcs: int,
        now: datetime,
        note: str | None = None,
    ) -> None:
        channel = self._channel(bot, decision.new)
        if channel is None:
            return
        incident = self._new_incident("bot", bot, channel, decision.new, decision.since, now)
        message = partial(
            render.problem,
            bot,
            decision.new,
            decision.since,
            was=decision.old,
            pcs_count=pcs,
            note=note,
        )
        plan.items.append(
            _Item(
                bot,
                row,
                decision,
                channel,
                "problem",
                decision.new,
                opens=incident,
                message=message,
            )
        )

    def _changed(
        self,
        plan: _Plan,
        bot: BotCard,
        row: _StateRow,
        decision: Decision,
        incident: AlertIncident,
        pcs: int,
    ) -> None:
        was = render.health_of(incident.health)
        incident.health = decision.new.value
        update = partial(render.problem, bot, decision.new, decision.since, was=was, pcs_count=pcs)
        reply = partial(render.changed_reply, bot, decision.new, was, decision.since)
        plan.items.append(
            _Item(
                bot,
                row,
                decision,
                incident.channel,
                "problem",
                decision.new,
                follows=incident,
                reply=reply,
                update=update,
            )
        )

    def _recovered(
        self,
        plan: _Plan,
        bot: BotCard,
        row: _StateRow,
        decision: Decision,
        incident: AlertIncident,
        now: datetime,
    ) -> None:
        was = render.health_of(incident.health)
        update = partial(render.resolved, bot, was, incident.since, now, "recovered")
        reply = partial(render.recovered_reply, bot, was, incident.since, now)
        self._close(plan, row, incident, "recovered", now)
        plan.items.append(
            _Item(
                bot,
                row,
                decision,
                incident.channel,
                "recovered",
                Health.OK,
                follows=incident,
                reply=reply,
                update=update,
            )
        )

    def _notice(
        self,
        plan: _Plan,
        bot: BotCard,
        row: _StateRow,
        decision: Decision,
        incident: AlertIncident | None,
        flap: AlertIncident | None,
        muted: bool,
        now: datetime,
    ) -> None:
        how = render.manual_resolution(decision.manual_operation, decision.performed_by)
        group = "stopped_by_hand" if decision.new is Health.STOPPED else "started_by_hand"
        if flap is not None:
            over = render.flapping_over(bot, render.health_of(bot.health), flap.since, now, how)
            self._close(plan, row, flap, "manual", now)
            plan.edits.append((flap, over, "flapping_over"))
        message = partial(
            render.notice, bot, decision.manual_operation, decision.performed_by, decision.since
        )
        if incident is not None:
            was = render.health_of(incident.health)
            update = partial(render.resolved, bot, was, incident.since, now, how)
            self._close(plan, row, incident, "manual", now)
            item = _Item(
                bot,
                row,
                decision,
                incident.channel,
                group,
                decision.new,
                follows=incident,
                reply=None if muted else message,
                update=update,
            )
            plan.items.append(item)
            return
        if muted:
            return
        channel = self._channel(bot)
        if channel is not None:
            plan.items.append(
                _Item(bot, row, decision, channel, group, decision.new, message=message)
            )

    def _flapping(
        self, plan: _Plan, bot: BotCard, row: _StateRow, decision: Decision, now: datetime
    ) -> None:
        channel = self._channel(bot)
        if channel is None:
            return
        episode = self._new_incident("flapping", bot, channel, decision.new, decision.since, now)
        message = partial(
            render.flapping,
            bot,
            decision.new,
            decision.since,
            self.policy.flapping_changes,
            self.policy.flapping_window,
        )
        plan.items.append(
            _Item(
                bot,
                row,
                decision,
                channel,
                "flapping",
                decision.new,
                opens=episode,
                message=message,
            )
        )

    def _close(
        self, plan: _Plan, row: _StateRow, incident: AlertIncident, resolution: str, now: datetime
    ) -> None:
        incident.closed_at = now
        incident.resolution = resolution
        if incident.parent_id is not None:
            plan.touched_digests.add(incident.parent_id)
        if row.incident_id == incident.id:
            row.incident_id = None
            row.dirty = True
        if row.flapping_id == incident.id:
            row.flapping_id = None
            row.dirty = True

    # -- items to rows ---------------------------------------------------------------------

    async def _write(self, session: AsyncSession, plan: _Plan, poll_id: int, now: datetime) -> int:
        by_channel: dict[str, list[_Item]] = defaultdict(list)
        for item in plan.items:
            by_channel[item.channel].append(item)
        # New incidents need ids before their rows can point at them.
        opened = [item.opens for item in plan.items if item.opens is not None]
        session.add_all(opened)
        await session.flush()
        writer = _RowWriter(session, poll_id, now)
        for channel, items in by_channel.items():
            if len(items) > self.alerts.digest_after:
                await self._write_digest(writer, channel, items, plan)
            else:
                for item in items:
                    self._write_single(writer, item, plan)
        for incident, update, kind in plan.edits:
            # A bot announced in a digest has no message of its own to edit.
            if incident.parent_id is None:
                writer.edit(incident, update, kind)
        await writer.flush()
        await self._close_finished_digests(session, writer, plan.touched_digests, now)
        await writer.flush()
        self._link_bots(plan)
        return writer.written

    def _write_single(self, writer: _RowWriter, item: _Item, plan: _Plan) -> None:
        bot_id = item.bot.id
        kind = item.decision.kind.value
        if item.opens is not None:
            writer.opening(item.opens, _rendered(item.message), kind, bot_id)
        elif item.follows is not None:
            follows = item.follows
            if follows.parent_id is not None:
                # Announced in a digest: reply in the digest's thread, leave the digest as is.
                plan.touched_digests.add(follows.parent_id)
                if item.reply is not None:
                    writer.reply_to(follows.parent_id, follows.channel, item.reply(), kind, bot_id)
            else:
                writer.follow_up(
                    follows, _rendered(item.reply), _rendered(item.update), kind, bot_id
                )
        elif item.message is not None:
            writer.post(item.channel, item.message(), kind, bot_id)

    async def _write_digest(
        self, writer: _RowWriter, channel: str, items: list[_Item], plan: _Plan
    ) -> None:
        digest_items = [
            render.DigestItem(
                item.bot.name,
                item.group,
                item.health,
                len(item.bot.problem_connectors),
                len(item.bot.connectors),
            )
            for item in items
        ]
        message = render.digest(digest_items, writer.now)
        for item in items:
            follows = item.follows
            if follows is None:
                continue
            if follows.parent_id is not None:
                plan.touched_digests.add(follows.parent_id)
            elif item.update is not None:
                # The outage's own message still shows its end; the digest tells the rest.
                writer.follow_up(follows, None, item.update(), "edit", item.bot.id)
        opening = [item.opens for item in items if item.opens is not None]
        roots = {item.follows.parent_id for item in items if item.follows is not None}
        if not opening and len(roots) == 1 and None not in roots:
            # Every item follows up one earlier digest: answer in its thread.
            (root,) = roots
            assert root is not None
            writer.reply_to(root, channel, message, "digest", None)
            return
        if not opening:
            writer.post(channel, message, "digest", None)
            return
        digest = AlertIncident(
            kind="digest",
            channel=channel,
            health=min((item.health for item in items), key=lambda h: h.severity).value,
            since=writer.now,
            opened_at=writer.now,
        )
        writer.session.add(digest)
        await writer.session.flush()
        for incident in opening:
            incident.parent_id = digest.id
        writer.opening(digest, message, "digest", None, children=opening)

    async def _close_finished_digests(
        self, session: AsyncSession, writer: _RowWriter, digest_ids: set[int], now: datetime
    ) -> None:
        for digest_id in sorted(digest_ids):
            digest = await session.get(AlertIncident, digest_id)
            if digest is None or digest.closed_at is not None:
                continue
            open_children = await session.exec(
                select(sa.func.count())
                .select_from(AlertIncident)
                .where(
                    col(AlertIncident.parent_id) == digest_id,
                    col(AlertIncident.closed_at).is_(None),
                )
            )
            if int(open_children.one()):
                continue
            all_children = await session.exec(
                select(sa.func.count())
                .select_from(AlertIncident)
                .where(col(AlertIncident.parent_id) == digest_id)
            )
            digest.closed_at = now
            digest.resolution = "resolved"
            original = (
                await session.get(OutboxMessage, digest.outbox_id) if digest.outbox_id else None
            )
            if original is None:
                continue
            post = json.loads(original.payload).get("post") or {}
            writer.edit(digest, render.digest_resolved(post, int(all_children.one()), now), "edit")

    def _link_bots(self, plan: _Plan) -> None:
        """The bots' state rows learn their new incident (ids exist once flushed)."""
        for item in plan.items:
            if item.opens is None:
                continue
            if item.opens.kind == "flapping":
                item.row.flapping_id = item.opens.id
            else:
                item.row.incident_id = item.opens.id
            item.row.dirty = True


def _rendered(make: Render | None) -> JSONDict | None:
    return None if make is None else make()


class _RowWriter:
    """Builds the outbox rows of one poll; keys are unique per poll, bot and kind."""

    def __init__(self, session: AsyncSession, poll_id: int, now: datetime) -> None:
        self.session = session
        self.poll_id = poll_id
        self.now = now
        self.written = 0
        self._rows: list[tuple[OutboxMessage, list[AlertIncident]]] = []
        self._keys: set[str] = set()

    def _key(self, kind: str, subject: str) -> str:
        base = f"poll:{self.poll_id}:{kind}:{subject}"
        key, number = base, 1
        while key in self._keys:
            number += 1
            key = f"{base}:{number}"
        self._keys.add(key)
        return key[:300]

    def _row(
        self,
        kind: str,
        channel: str,
        subject: str,
        body: str,
        *,
        bot_id: str | None,
        incident_id: int | None,
    ) -> OutboxMessage:
        row = new_row(
            kind=kind,
            channel=channel,
            dedupe_key=self._key(kind, subject),
            body=body,
            now=self.now,
            incident_id=incident_id,
            bot_id=bot_id,
            poll_id=self.poll_id,
        )
        self.written += 1
        return row

    def opening(
        self,
        incident: AlertIncident,
        message: JSONDict | None,
        kind: str,
        bot_id: str | None,
        *,
        children: Sequence[AlertIncident] = (),
    ) -> None:
        row = self._row(
            kind,
            incident.channel,
            f"incident:{incident.id}",
            payload(post=message),
            bot_id=bot_id,
            incident_id=incident.id,
        )
        self._rows.append((row, [incident, *children]))

    def follow_up(
        self,
        incident: AlertIncident,
        reply: JSONDict | None,
        update: JSONDict | None,
        kind: str,
        bot_id: str | None,
    ) -> None:
        body = payload(post=reply, in_thread=True, update=update)
        row = self._row(
            kind,
            incident.channel,
            f"incident:{incident.id}",
            body,
            bot_id=bot_id,
            incident_id=incident.id,
        )
        self._rows.append((row, []))

    def reply_to(
        self, incident_id: int, channel: str, reply: JSONDict, kind: str, bot_id: str | None
    ) -> None:
        body = payload(post=reply, in_thread=True)
        row = self._row(
            kind,
            channel,
            f"incident:{incident_id}:{bot_id or ''}",
            body,
            bot_id=bot_id,
            incident_id=incident_id,
        )
        self._rows.append((row, []))

    def edit(self, incident: AlertIncident, update: JSONDict, kind: str) -> None:
        row = self._row(
            kind,
            incident.channel,
            f"incident:{incident.id}",
            payload(update=update),
            bot_id=incident.bot_id,
            incident_id=incident.id,
        )
        self._rows.append((row, []))

    def post(self, channel: str, message: JSONDict, kind: str, bot_id: str | None) -> None:
        row = self._row(
            kind,
            channel,
            f"{channel}:{bot_id or ''}",
            payload(post=message),
            bot_id=bot_id,
            incident_id=None,
        )
        self._rows.append((row, []))

    async def flush(self) -> None:
        if not self._rows:
            return
        self.session.add_all([row for row, _ in self._rows])
        await self.session.flush()
        for row, incidents in self._rows:
            for incident in incidents:
                incident.outbox_id = row.id
        await self.session.flush()
        self._rows.clear()
