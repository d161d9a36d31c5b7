"""The alert plan of one poll, pure: what the policy decides and which alerts that makes.

Two steps, both without I/O (chatops.alerts.planner reads their inputs and writes their
results, in the poll's transaction):

1. ``observations`` and ``observe_bots``: each bot that changed, or whose policy state has
   something pending, is passed to the policy (chatops.domain.policy) with the health the
   policy sees (``judged``) and its new manual operation, if any. Out come the bots' new
   state rows and the policy's decisions.
2. ``plan_alerts``: each decision becomes an *item* for a channel: a new message (an outage,
   a flapping bot, a manual notice) or a follow-up in an existing message's thread
   (changed, recovered, closed by hand), which also edits that message. Muted bots produce
   no item, except that a recovery or a manual operation still closes an open incident and
   edits its message. An outage while one is still open continues it. An acknowledged
   incident (chatops.alerts.acks) keeps its owner through an escalation, whose reply
   mentions them, and its resolved message still names them.
   The incidents it opens are new ``AlertIncident`` objects without ids;
   those it closes or changes are the given ones, changed in memory.

The order in which the bots come in changes nothing: bots are observed and planned in the
order of their ids.

One cohesive thing, hence its length: the two steps share the state rows and decisions
they pass along, and every rule of what a decision becomes is here, next to the others.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial

from chatops.alerts import render
from chatops.alerts.routing import BotFacts, alerts_degraded, facts, route_for
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
from chatops.jsontypes import JSONDict
from chatops.store.acks import owner_of
from chatops.store.alert_models import AlertIncident
from chatops.store.alert_state import StateRow, StoredBot
from chatops.store.cards import BotCard

log = logging.getLogger(__name__)

# Messages are rendered only when written: in a digest, 2,000 bots' own messages never are.
Render = Callable[[], JSONDict]
# Who started or stopped a connector from Slack lately, by (operation, bot id or "pcs").
Actors = Mapping[tuple[str, str], str]


def policy_config(alerts: AlertsConfig) -> PolicyConfig:
    return PolicyConfig(
        confirm_polls=alerts.confirm_polls,
        flapping_changes=alerts.flapping.changes,
        flapping_window=alerts.flapping.window,
        remind_every=alerts.remind_every,
    )


def manual_key(manual: ManualOperation | None) -> str | None:
    """Identifies one manual operation, so that each is passed to the policy once."""
    if manual is None or not manual.operation:
        return None
    at = manual.at.astimezone(UTC).isoformat() if manual.at is not None else ""
    return f"{manual.operation}@{at}"[:64]


def judged(bot: BotFacts, health: Health, alerts: AlertsConfig) -> Health:
    """The health the policy sees: a degraded bot is OK to it where degraded is not
    alerted, so that only its fall to down (or back) is news."""
    if health is Health.DEGRADED and not alerts_degraded(bot, alerts):
        return Health.OK
    return health


# -- observing ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Observed:
    """One bot as the policy sees it at this poll.

    ``target``: the health its manual operation leads it to (that connector, and any other
    the operation reached at the same time, got there). ``previous``: its health before
    this poll, when it changed.
    """

    health: Health
    manual: ManualOperation | None
    target: Health | None = None
    previous: Health | None = None


def observations(
    changes: Iterable[BotChange], alerts: AlertsConfig
) -> tuple[dict[str, Observed], set[str]]:
    """The changed bots as the policy sees them, and the ids of the bots that went away.

    A bot's health is its connectors' roll-up (``degraded`` when some serve and some do not).
    """
    observed: dict[str, Observed] = {}
    removed: set[str] = set()
    for change in changes:
        new = change.new
        if new is None:
            removed.add(change.bot_id)
            continue
        bot = BotFacts(new.bot_id, new.name, new.kind.value, new.environment.value)
        target = new.manual_target()
        old = change.old
        observed[change.bot_id] = Observed(
            judged(bot, new.health, alerts),
            new.manual,
            judged(bot, target, alerts) if target is not None else None,
            judged(bot, old.health, alerts) if old is not None else None,
        )
    return observed, removed


def stored_observation(bot: StoredBot, alerts: AlertsConfig) -> Observed:
    """An unchanged bot (its state has something pending) as the policy sees it."""
    facts_ = BotFacts(bot.bot_id, bot.name, bot.kind, bot.environment)
    return Observed(judged(facts_, render.health_of(bot.health), alerts), bot.manual)


Decided = tuple[str, StateRow, Decision]


def observe_bots(
    observed: Mapping[str, Observed],
    stored: Mapping[str, StateRow],
    policy: PolicyConfig,
    now: datetime,
) -> tuple[list[StateRow], list[Decided]]:
    """Pass each observed bot to the policy; return its state rows and the decisions.

    ``stored`` holds the bots' state rows (changed in place; a bot without one gets a new
    row). Rows are returned in bot id order, new ones with ``new``, changed ones ``dirty``.
    """
    rows: list[StateRow] = []
    decided: list[Decided] = []
    for bot_id in sorted(observed):
        seen = observed[bot_id]
        health = seen.health
        key = manual_key(seen.manual)
        row = stored.get(bot_id)
        manual: ManualOperation | None = None
        if row is None:
            # First sight is a baseline; a bot stored before alerts existed starts from
            # the health it had, and its manual operation then is old news.
            start = seen.previous if seen.previous is not None else health
            state = initial_state(start, now)
            row = StateRow(bot_id, "", False, key, None, None, new=True)
            rows.append(row)
            if start is health:
                store_state(row, state)
                continue
        else:
            state = load_state(row, health, now)
            if key is not None and key != row.manual_key:
                manual = seen.manual
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
            policy,
            manual=manual,
            manual_target=seen.target if manual is not None else None,
        )
        store_state(row, state)
        decided.extend((bot_id, row, decision) for decision in decisions)
    return rows, decided


def load_state(row: StateRow, health: Health, now: datetime) -> BotAlertState:
    try:
        return BotAlertState.from_dict(json.loads(row.state))
    except (ValueError, TypeError) as exc:
        # A state we cannot read starts again from a baseline rather than stop alerts.
        log.error("alert state of bot %s is unreadable (%s); starting it afresh", row.bot_id, exc)
        return initial_state(health, now)


def store_state(row: StateRow, state: BotAlertState) -> None:
    text = json.dumps(state.to_dict(), separators=(",", ":"))
    if text != row.state:
        row.state = text
        row.pending = needs_evaluation(state)
        row.dirty = True


# -- planning ----------------------------------------------------------------------------


@dataclass
class Item:
    """One alert for one channel, before digest grouping decides how it is sent."""

    bot: BotCard
    row: StateRow
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
class Plan:
    """Everything one poll writes besides policy states."""

    items: list[Item] = field(default_factory=list)
    # Edits of messages that are not alerts of their own (a flapping episode ending).
    edits: list[tuple[AlertIncident, JSONDict, str]] = field(default_factory=list)
    touched_digests: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Facts:
    """What planning needs to know besides the decisions, read by the planner.

    ``incidents``: the bots' incidents by id (open or not); ``muted``: the ids of the bots
    a mute silences now; ``actors``: who clicked Start or Stop in Slack lately;
    ``pcs_count``: how many survey bots share the survey connector.
    """

    incidents: Mapping[int, AlertIncident] = field(default_factory=dict)
    muted: frozenset[str] = frozenset()
    actors: Actors = field(default_factory=dict)
    pcs_count: int = 0


def credited(decision: Decision, bot: BotCard, actors: Actors) -> Decision:
    """A manual notice names the person who clicked in Slack, when someone did.

    LivePerson reports our own Start/Stop as done by the account chatops logs in with; the
    audit log knows the person who clicked.
    """
    if decision.kind is not DecisionKind.NOTICE or not decision.manual_operation:
        return decision
    target = "pcs" if bot.kind == BotKind.PCS.value else bot.id
    who = actors.get((decision.manual_operation, target))
    return replace(decision, performed_by=who) if who else decision


def plan_alerts(
    decided: Sequence[tuple[BotCard, StateRow, Decision]],
    known: Facts,
    alerts: AlertsConfig,
    now: datetime,
) -> Plan:
    """The alerts the decisions make, in the order given (``observe_bots``: by bot id)."""
    return _Planning(alerts, known, now).plan(decided)


class _Planning:
    def __init__(self, alerts: AlertsConfig, known: Facts, now: datetime) -> None:
        self.alerts = alerts
        self.policy = policy_config(alerts)
        self.known = known
        self.now = now
        self.result = Plan()

    def plan(self, decided: Sequence[tuple[BotCard, StateRow, Decision]]) -> Plan:
        incidents = self.known.incidents
        for bot, row, decision in decided:
            incident = incidents.get(row.incident_id) if row.incident_id else None
            if incident is not None and incident.closed_at is not None:
                incident = None
            flap = incidents.get(row.flapping_id) if row.flapping_id else None
            if flap is not None and flap.closed_at is not None:
                flap = None
            decision = credited(decision, bot, self.known.actors)
            self._decide(bot, row, decision, incident, flap, bot.id in self.known.muted)
        return self.result

    def _decide(
        self,
        bot: BotCard,
        row: StateRow,
        decision: Decision,
        incident: AlertIncident | None,
        flap: AlertIncident | None,
        muted: bool,
    ) -> None:
        kind = decision.kind
        if kind in (DecisionKind.PROBLEM, DecisionKind.PROBLEM_CHANGED):
            # An outage while one is still open (the policy lost track of it: a state
            # started afresh) continues that incident, as a change does: its message is
            # edited and its owner kept, rather than left red beside a second alert.
            if incident is None:
                if not muted:  # a new outage, or one muted when it began that is news now
                    self._open(bot, row, decision)
            elif muted:
                incident.health = decision.new.value
            else:
                self._changed(bot, row, decision, incident)
        elif kind is DecisionKind.RECOVERED:
            if incident is not None:  # even muted: the open alert must not stay red
                self._recovered(bot, row, decision, incident)
        elif kind is DecisionKind.NOTICE:
            self._notice(bot, row, decision, incident, flap, muted)
        elif kind is DecisionKind.FLAPPING:
            if not muted:
                self._flapping(bot, row, decision)
        elif kind is DecisionKind.SETTLED:
            if flap is not None:
                over = render.flapping_over(bot, decision.new, flap.since, self.now, "settled")
                self._close(row, flap, "settled")
                self.result.edits.append((flap, over, "flapping_over"))
            if decision.new.is_problem:
                if incident is None:
                    if not muted:
                        self._open(bot, row, decision, note="It settled after flapping.")
                elif incident.health != decision.new.value and not muted:
                    self._changed(bot, row, decision, incident)
            elif incident is not None:
                self._recovered(bot, row, decision, incident)

    def _channel(self, bot: BotCard, health: Health | None = None) -> str | None:
        channel = route_for(facts(bot), self.alerts, health)
        if channel is None:
            log.warning(
                "no channel for an alert about bot %s: set alerts.channel or a route for it",
                bot.id,
            )
        return channel

    def _new_incident(
        self, kind: str, bot: BotCard, channel: str, health: Health, since: datetime
    ) -> AlertIncident:
        return AlertIncident(
            kind=kind,
            bot_id=bot.id,
            channel=channel,
            health=health.value,
            since=since,
            opened_at=self.now,
        )

    def _open(
        self, bot: BotCard, row: StateRow, decision: Decision, note: str | None = None
    ) -> None:
        channel = self._channel(bot, decision.new)
        if channel is None:
            return
        incident = self._new_incident("bot", bot, channel, decision.new, decision.since)
        message = partial(
            render.problem,
            bot,
            decision.new,
            decision.since,
            was=decision.old,
            pcs_count=self.known.pcs_count,
            note=note,
        )
        self.result.items.append(
            Item(
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
        self, bot: BotCard, row: StateRow, decision: Decision, incident: AlertIncident
    ) -> None:
        was = render.health_of(incident.health)
        incident.health = decision.new.value
        pcs = self.known.pcs_count
        owner = owner_of(incident)
        update = partial(
            render.problem, bot, decision.new, decision.since, was=was, pcs_count=pcs, owner=owner
        )
        reply = partial(render.changed_reply, bot, decision.new, was, decision.since, owner)
        self.result.items.append(
            Item(
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
        self, bot: BotCard, row: StateRow, decision: Decision, incident: AlertIncident
    ) -> None:
        now = self.now
        was = render.health_of(incident.health)
        owner = owner_of(incident)
        update = partial(render.resolved, bot, was, incident.since, now, "recovered", owner)
        reply = partial(render.recovered_reply, bot, was, incident.since, now, owner)
        self._close(row, incident, "recovered")
        self.result.items.append(
            Item(
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
        bot: BotCard,
        row: StateRow,
        decision: Decision,
        incident: AlertIncident | None,
        flap: AlertIncident | None,
        muted: bool,
    ) -> None:
        now = self.now
        how = render.manual_resolution(decision.manual_operation, decision.performed_by)
        group = "stopped_by_hand" if decision.new is Health.STOPPED else "started_by_hand"
        if flap is not None:
            over = render.flapping_over(bot, render.health_of(bot.health), flap.since, now, how)
            self._close(row, flap, "manual")
            self.result.edits.append((flap, over, "flapping_over"))
        message = partial(
            render.notice, bot, decision.manual_operation, decision.performed_by, decision.since
        )
        if incident is not None:
            was = render.health_of(incident.health)
            update = partial(
                render.resolved, bot, was, incident.since, now, how, owner_of(incident)
            )
            self._close(row, incident, "manual")
            item = Item(
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
            self.result.items.append(item)
            return
        if muted:
            return
        channel = self._channel(bot)
        if channel is not None:
            self.result.items.append(
                Item(bot, row, decision, channel, group, decision.new, message=message)
            )

    def _flapping(self, bot: BotCard, row: StateRow, decision: Decision) -> None:
        channel = self._channel(bot)
        if channel is None:
            return
        episode = self._new_incident("flapping", bot, channel, decision.new, decision.since)
        message = partial(
            render.flapping,
            bot,
            decision.new,
            decision.since,
            self.policy.flapping_changes,
            self.policy.flapping_window,
        )
        self.result.items.append(
            Item(
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

    def _close(self, row: StateRow, incident: AlertIncident, resolution: str) -> None:
        incident.closed_at = self.now
        incident.resolution = resolution
        if incident.parent_id is not None:
            self.result.touched_digests.add(incident.parent_id)
        if row.incident_id == incident.id:
            row.incident_id = None
            row.dirty = True
        if row.flapping_id == incident.id:
            row.flapping_id = None
            row.dirty = True
