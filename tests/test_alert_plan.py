"""The alert plan (chatops/alerts/plan.py), pure: no database, no Slack.

Table tests for what the policy's decisions become (an item opening an incident, a follow-up,
nothing), then properties: the order in which bots and their connectors come in changes
neither the decisions nor the plan.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatops.alerts.plan import (
    Facts,
    Observed,
    Plan,
    observations,
    observe_bots,
    plan_alerts,
    policy_config,
)
from chatops.config import AlertsConfig, Route
from chatops.domain import (
    BotChange,
    BotKind,
    BotState,
    Channel,
    Decision,
    DecisionKind,
    Environment,
    Health,
    ManualOperation,
    Snapshot,
    bot_state,
    initial_state,
)
from chatops.store.alert_models import AlertIncident
from chatops.store.alert_state import StateRow
from chatops.store.cards import BotCard
from chatops.store.models import Bot, Connector

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ALERTS = AlertsConfig(channel="C0ALERTS", confirm_polls=1)
POLICY = policy_config(ALERTS)

# Raw statuses of one connector for each health it can have.
RAW = {
    Health.OK: ("ONLINE", "CONNECTED", "CONNECTED"),
    Health.DOWN: ("ONLINE", "CONNECTED", "NOT_CONNECTED"),
    Health.STOPPED: ("STOPPED", "CONNECTED", "CONNECTED"),
}


def snapshot(
    bot_id: str, bot_user: str, health: Health, manual: ManualOperation | None = None
) -> Snapshot:
    connector, cloud, server = RAW[health]
    return Snapshot(
        bot_id=bot_id,
        name=f"{bot_id}-name",
        kind=BotKind.CUSTOM,
        channel=Channel.MESSAGING,
        environment=Environment.PRODUCTION,
        raw_connector=connector,
        raw_cloud=cloud,
        raw_server=server,
        manual=manual,
        account_user=bot_user,
    )


def state(bot_id: str, *healths: Health, manual: ManualOperation | None = None) -> BotState:
    return bot_state(
        snapshot(bot_id, f"{bot_id}_{n}", health, manual) for n, health in enumerate(healths)
    )


def change(bot_id: str, old: BotState | None, new: BotState | None) -> BotChange:
    return BotChange(bot_id, old, new, ())


def stored_row(bot_id: str, health: Health, **fields: object) -> StateRow:
    text = json.dumps(initial_state(health, T0 - timedelta(hours=1)).to_dict())
    row = StateRow(bot_id, text, False, None, None, None)
    for name, value in fields.items():
        setattr(row, name, value)
    return row


def card(bot_id: str, health: Health = Health.DOWN, kind: str = "custom") -> BotCard:
    bot = Bot(
        id=bot_id,
        name=f"{bot_id}-name",
        kind=kind,
        channel="messaging",
        environment="production",
        health=health.value,
        health_since=T0,
        connectors=1,
        connectors_ok=int(health is Health.OK),
        first_seen=T0,
    )
    connector_raw, cloud_raw, server_raw = RAW.get(health, RAW[Health.DOWN])
    connector = Connector(
        bot_id=bot_id,
        bot_user=f"{bot_id}_0",
        name=bot.name,
        kind=kind,
        channel="messaging",
        environment="production",
        connector="Online",
        cloud="Connected",
        server="Connected" if health is Health.OK else "Not Connected",
        raw_connector=connector_raw,
        raw_cloud=cloud_raw,
        raw_server=server_raw,
        health=health.value,
        health_since=T0,
        connector_since=T0,
        cloud_since=T0,
        server_since=T0,
        first_seen=T0,
    )
    return BotCard(bot, (connector,))


def incident(incident_id: int, kind: str = "bot", health: Health = Health.DOWN) -> AlertIncident:
    return AlertIncident(
        id=incident_id,
        kind=kind,
        bot_id="b1",
        channel="C0ALERTS",
        health=health.value,
        since=T0 - timedelta(minutes=30),
        opened_at=T0 - timedelta(minutes=30),
        outbox_id=100 + incident_id,
    )


def decision(
    kind: DecisionKind,
    new: Health,
    old: Health = Health.OK,
    manual_operation: str | None = None,
) -> Decision:
    return Decision(kind, old, new, T0, T0 - timedelta(minutes=1), None, manual_operation)


# -- observing ---------------------------------------------------------------------------


def test_a_bot_seen_for_the_first_time_is_a_baseline_without_decisions() -> None:
    observed, removed = observations([change("b1", None, state("b1", Health.DOWN))], ALERTS)

    rows, decided = observe_bots(observed, {}, POLICY, T0)

    assert removed == set()
    assert decided == []
    assert [(row.bot_id, row.new, row.pending) for row in rows] == [("b1", True, False)]
    assert json.loads(rows[0].state)["observed"] == "down"


def test_a_bot_stored_before_alerts_existed_starts_from_its_old_health() -> None:
    old, new = state("b1", Health.OK), state("b1", Health.DOWN)
    observed, _ = observations([change("b1", old, new)], ALERTS)

    rows, decided = observe_bots(observed, {}, POLICY, T0)

    assert [(d.kind, d.old, d.new) for _, _, d in decided] == [
        (DecisionKind.PROBLEM, Health.OK, Health.DOWN)
    ]
    assert rows[0].new


def test_a_bot_that_went_away_is_not_observed() -> None:
    observed, removed = observations([change("b1", state("b1", Health.OK), None)], ALERTS)

    assert observed == {}
    assert removed == {"b1"}


@pytest.mark.parametrize(
    ("degraded", "expected"), [(True, Health.DEGRADED), (False, Health.OK)], ids=["on", "off"]
)
def test_a_degraded_bot_is_ok_to_the_policy_where_degraded_is_not_alerted(
    degraded: bool, expected: Health
) -> None:
    alerts = AlertsConfig(channel="C0ALERTS", degraded=degraded)
    new = state("b1", Health.OK, Health.DOWN)

    observed, _ = observations([change("b1", None, new)], alerts)

    assert new.health is Health.DEGRADED
    assert observed["b1"].health is expected


def test_a_route_decides_for_its_bots_whether_degraded_alerts() -> None:
    alerts = AlertsConfig(
        channel="C0ALERTS", routes=(Route(bots=("b2*",), channel="C0B2", degraded=False),)
    )
    changes = [change(b, None, state(b, Health.OK, Health.DOWN)) for b in ("b1", "b2")]

    observed, _ = observations(changes, alerts)

    assert {b: o.health for b, o in observed.items()} == {
        "b1": Health.DEGRADED,
        "b2": Health.OK,
    }


@dataclass(frozen=True)
class ObserveCase:
    name: str
    stored: Health
    now: Health
    manual: ManualOperation | None
    stored_key: str | None
    decisions: list[DecisionKind]
    dirty: bool


STOP = ManualOperation("stop", "Jane Ops", T0 - timedelta(minutes=2))
STOP_KEY = f"stop@{STOP.at.isoformat() if STOP.at else ''}"

OBSERVE_CASES = [
    ObserveCase("steady and OK", Health.OK, Health.OK, None, None, [], False),
    ObserveCase("goes down", Health.OK, Health.DOWN, None, None, [DecisionKind.PROBLEM], True),
    ObserveCase("a new stop", Health.OK, Health.STOPPED, STOP, None, [DecisionKind.NOTICE], True),
    ObserveCase("the same stop again", Health.STOPPED, Health.STOPPED, STOP, STOP_KEY, [], False),
]


@pytest.mark.parametrize("case", OBSERVE_CASES, ids=[case.name for case in OBSERVE_CASES])
def test_observing_a_stored_bot(case: ObserveCase) -> None:
    row = stored_row("b1", case.stored, manual_key=case.stored_key)
    observed = {"b1": Observed(case.now, case.manual, target=case.now if case.manual else None)}

    rows, decided = observe_bots(observed, {"b1": row}, POLICY, T0)

    assert rows == [row]
    assert [d.kind for _, _, d in decided] == case.decisions
    assert row.dirty is case.dirty
    if case.manual is not None:
        assert row.manual_key == STOP_KEY


def test_an_unreadable_stored_state_starts_afresh_rather_than_stop_alerts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    row = StateRow("b1", "{not json", False, None, None, None)

    _, decided = observe_bots({"b1": Observed(Health.DOWN, None)}, {"b1": row}, POLICY, T0)

    assert decided == []
    assert "unreadable" in caplog.text


# -- planning ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanCase:
    name: str
    decision: Decision
    muted: bool
    open_incident: bool
    # (group, opens kind or None, follows the open incident) per item
    items: list[tuple[str, str | None, bool]]
    # the open incident's resolution afterwards (None: still open or there is none)
    resolution: str | None = None


PLAN_CASES = [
    PlanCase(
        "an outage opens an incident",
        decision(DecisionKind.PROBLEM, Health.DOWN),
        False,
        False,
        [("problem", "bot", False)],
    ),
    PlanCase(
        "a muted outage says nothing",
        decision(DecisionKind.PROBLEM, Health.DOWN),
        True,
        False,
        [],
    ),
    PlanCase(
        "a new outage while one is still open continues it",
        decision(DecisionKind.PROBLEM, Health.DOWN),
        False,
        True,
        [("problem", None, True)],
    ),
    PlanCase(
        "a new muted outage while one is still open leaves it open, silently",
        decision(DecisionKind.PROBLEM, Health.DOWN),
        True,
        True,
        [],
    ),
    PlanCase(
        "a change of an announced outage follows it up",
        decision(DecisionKind.PROBLEM_CHANGED, Health.STOPPED, Health.DOWN),
        False,
        True,
        [("problem", None, True)],
    ),
    PlanCase(
        "a change of a muted outage says nothing",
        decision(DecisionKind.PROBLEM_CHANGED, Health.STOPPED, Health.DOWN),
        True,
        True,
        [],
    ),
    PlanCase(
        "a recovery closes the incident",
        decision(DecisionKind.RECOVERED, Health.OK, Health.DOWN),
        False,
        True,
        [("recovered", None, True)],
        "recovered",
    ),
    PlanCase(
        "a recovery closes the incident even while muted",
        decision(DecisionKind.RECOVERED, Health.OK, Health.DOWN),
        True,
        True,
        [("recovered", None, True)],
        "recovered",
    ),
    PlanCase(
        "a recovery without an incident says nothing",
        decision(DecisionKind.RECOVERED, Health.OK, Health.DOWN),
        False,
        False,
        [],
    ),
    PlanCase(
        "a stop by hand is a notice",
        decision(DecisionKind.NOTICE, Health.STOPPED, manual_operation="stop"),
        False,
        False,
        [("stopped_by_hand", None, False)],
    ),
    PlanCase(
        "a stop by hand closes an open outage",
        decision(DecisionKind.NOTICE, Health.STOPPED, Health.DOWN, manual_operation="stop"),
        True,
        True,
        [("stopped_by_hand", None, True)],
        "manual",
    ),
    PlanCase(
        "a flapping bot opens an episode",
        decision(DecisionKind.FLAPPING, Health.DOWN),
        False,
        False,
        [("flapping", "flapping", False)],
    ),
]


@pytest.mark.parametrize("case", PLAN_CASES, ids=[case.name for case in PLAN_CASES])
def test_planning_one_decision(case: PlanCase) -> None:
    row = stored_row("b1", Health.DOWN, incident_id=1 if case.open_incident else None)
    known = Facts(
        incidents={1: incident(1)},
        muted=frozenset({"b1"}) if case.muted else frozenset(),
    )

    plan = plan_alerts([(card("b1"), row, case.decision)], known, ALERTS, T0)

    summary = [
        (item.group, item.opens.kind if item.opens else None, item.follows is known.incidents[1])
        for item in plan.items
    ]
    assert summary == case.items
    assert all(item.channel == "C0ALERTS" for item in plan.items)
    assert known.incidents[1].resolution == case.resolution
    if case.resolution is not None:
        assert row.incident_id is None and row.dirty


def test_a_muted_change_still_records_the_new_health_of_the_open_outage() -> None:
    row = stored_row("b1", Health.DOWN, incident_id=1)
    outage = incident(1)
    change_ = decision(DecisionKind.PROBLEM_CHANGED, Health.STOPPED, Health.DOWN)

    plan_alerts([(card("b1"), row, change_)], Facts({1: outage}, frozenset({"b1"})), ALERTS, T0)

    assert outage.health == "stopped"


def test_a_new_outage_while_an_acknowledged_one_is_open_keeps_its_owner() -> None:
    row = stored_row("b1", Health.OK, incident_id=1)
    outage = incident(1)
    outage.acked_by, outage.acked_at = "U0ALICE", T0
    again = decision(DecisionKind.PROBLEM, Health.DOWN)

    plan = plan_alerts([(card("b1"), row, again)], Facts({1: outage}), ALERTS, T0)

    (item,) = plan.items
    assert item.follows is outage and item.opens is None
    assert outage.closed_at is None and row.incident_id == 1
    assert outage.acked_by == "U0ALICE"
    assert item.reply is not None and item.update is not None
    assert "<@U0ALICE>: you acknowledged it" in json.dumps(item.reply())
    assert "Acknowledged by <@U0ALICE>" in json.dumps(item.update())


def test_a_notice_names_the_person_who_clicked_in_slack() -> None:
    stop = decision(DecisionKind.NOTICE, Health.STOPPED, manual_operation="stop")
    known = Facts(actors={("stop", "b1"): "Alice (in Slack)"})

    plan = plan_alerts([(card("b1"), stored_row("b1", Health.OK), stop)], known, ALERTS, T0)

    assert [item.decision.performed_by for item in plan.items] == ["Alice (in Slack)"]


def test_without_a_channel_an_outage_is_not_planned(caplog: pytest.LogCaptureFixture) -> None:
    outage = decision(DecisionKind.PROBLEM, Health.DOWN)

    plan = plan_alerts(
        [(card("b1"), stored_row("b1", Health.OK), outage)], Facts(), AlertsConfig(), T0
    )

    assert plan.items == []
    assert "no channel" in caplog.text


def test_a_route_sends_the_alert_to_its_channel() -> None:
    alerts = AlertsConfig(channel="C0ALERTS", routes=(Route(bots=("b1*",), channel="C0B1"),))
    outage = decision(DecisionKind.PROBLEM, Health.DOWN)

    plan = plan_alerts([(card("b1"), stored_row("b1", Health.OK), outage)], Facts(), alerts, T0)

    assert [item.channel for item in plan.items] == ["C0B1"]


def test_a_flapping_episode_that_settles_is_edited_and_closed() -> None:
    row = stored_row("b1", Health.OK, flapping_id=2)
    episode = incident(2, kind="flapping")
    settled = decision(DecisionKind.SETTLED, Health.OK, Health.DOWN)

    plan = plan_alerts([(card("b1", Health.OK), row, settled)], Facts({2: episode}), ALERTS, T0)

    assert plan.items == []
    assert [(edited, kind) for edited, _, kind in plan.edits] == [(episode, "flapping_over")]
    assert episode.resolution == "settled" and row.flapping_id is None


# -- properties --------------------------------------------------------------------------

HEALTHS = st.sampled_from([Health.OK, Health.DOWN, Health.STOPPED])


@st.composite
def fleets(draw: st.DrawFn) -> list[tuple[str, list[Health], list[Health]]]:
    """Bots with the healths of their connectors before and after a poll."""
    count = draw(st.integers(min_value=1, max_value=8))
    fleet = []
    for n in range(count):
        size = draw(st.integers(min_value=1, max_value=4))
        before = draw(st.lists(HEALTHS, min_size=size, max_size=size))
        after = draw(st.lists(HEALTHS, min_size=size, max_size=size))
        fleet.append((f"bot-{n}", before, after))
    return fleet


def shuffled_state(bot_id: str, healths: list[Health], rng: random.Random) -> BotState:
    snapshots = [snapshot(bot_id, f"{bot_id}_{n}", h) for n, h in enumerate(healths)]
    rng.shuffle(snapshots)
    return bot_state(snapshots)


def run(
    fleet: list[tuple[str, list[Health], list[Health]]], rng: random.Random | None
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], Plan]:
    """Observe and plan a poll of ``fleet``; with ``rng``, bots and connectors come shuffled."""
    order = random.Random(0) if rng is None else rng
    changes = [
        change(
            bot_id,
            shuffled_state(bot_id, before, order) if rng else state(bot_id, *before),
            shuffled_state(bot_id, after, order) if rng else state(bot_id, *after),
        )
        for bot_id, before, after in fleet
    ]
    if rng is not None:
        rng.shuffle(changes)
    stored = {
        bot_id: stored_row(bot_id, state(bot_id, *before).health) for bot_id, before, _ in fleet
    }
    observed, _ = observations(changes, ALERTS)
    rows, decided = observe_bots(observed, stored, POLICY, T0)
    cards = {bot_id: card(bot_id, state(bot_id, *after).health) for bot_id, _, after in fleet}
    plan = plan_alerts([(cards[b], row, d) for b, row, d in decided], Facts(), ALERTS, T0)
    return (
        [(r.bot_id, r.state, r.pending, r.manual_key, r.new, r.dirty) for r in rows],
        [(bot_id, d) for bot_id, _, d in decided],
        plan,
    )


def plan_summary(plan: Plan) -> list[tuple[object, ...]]:
    return [
        (
            item.bot.id,
            item.channel,
            item.group,
            item.health,
            item.decision,
            item.opens.kind if item.opens else None,
            item.message() if item.message else None,
        )
        for item in plan.items
    ]


@settings(max_examples=60, deadline=None)
@given(fleet=fleets(), seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_the_order_of_bots_and_connectors_never_changes_the_plan(
    fleet: list[tuple[str, list[Health], list[Health]]], seed: int
) -> None:
    rows, decided, plan = run(fleet, None)

    rows_shuffled, decided_shuffled, plan_shuffled = run(fleet, random.Random(seed))

    assert rows_shuffled == rows
    assert decided_shuffled == decided
    assert plan_summary(plan_shuffled) == plan_summary(plan)


@settings(max_examples=60, deadline=None)
@given(fleet=fleets())
def test_every_decision_of_an_unmuted_bot_becomes_at_most_one_item_and_a_problem_exactly_one(
    fleet: list[tuple[str, list[Health], list[Health]]],
) -> None:
    _, decided, plan = run(fleet, None)

    per_bot: dict[str, int] = {}
    for item in plan.items:
        per_bot[item.bot.id] = per_bot.get(item.bot.id, 0) + 1
    problems = {b for b, d in decided if d.kind is DecisionKind.PROBLEM}
    assert all(per_bot.get(bot_id) == 1 for bot_id in problems)
    assert sum(per_bot.values()) <= len(decided)
