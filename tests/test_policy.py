"""The alert policy (chatops/domain/policy.py): one table test per rule, then properties."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatops.domain import (
    BotAlertState,
    Decision,
    DecisionKind,
    Health,
    ManualOperation,
    PolicyConfig,
    initial_state,
    manual_outcome,
    needs_evaluation,
    observe,
    reminder_due,
)

OK, AWAY, DOWN, STOPPED, READY, UNKNOWN = (
    Health.OK,
    Health.AWAY,
    Health.DOWN,
    Health.STOPPED,
    Health.READY,
    Health.UNKNOWN,
)
PROBLEMS = [AWAY, DOWN, STOPPED, READY, UNKNOWN]
T0 = datetime(2025, 5, 20, 12, 0, tzinfo=UTC)
POLL = timedelta(seconds=5)
CONFIG = PolicyConfig(confirm_polls=2, flapping_changes=4, flapping_window=timedelta(minutes=15))


def stop_by(who: str = "Jane Ops", at: datetime | None = None) -> ManualOperation:
    return ManualOperation("stop", who, at)


def start_by(who: str = "Jane Ops", at: datetime | None = None) -> ManualOperation:
    return ManualOperation("start", who, at)


class Bot:
    """One bot under the policy, polled every ``every``; the caller's side of the contract."""

    def __init__(
        self, health: Health = OK, *, config: PolicyConfig = CONFIG, every: timedelta = POLL
    ) -> None:
        self.config = config
        self.every = every
        self.now = T0
        self.state = initial_state(health, T0)

    def poll(
        self,
        health: Health,
        *,
        after: timedelta | None = None,
        manual: ManualOperation | None = None,
    ) -> list[Decision]:
        self.now += self.every if after is None else after
        self.state, decisions = observe(self.state, health, self.now, self.config, manual=manual)
        return decisions

    def polls(self, *healths: Health) -> list[Decision]:
        return [d for health in healths for d in self.poll(health)]

    def hold(self, health: Health, duration: timedelta) -> list[Decision]:
        """Poll the same health until ``duration`` has passed."""
        end = self.now + duration
        decisions = []
        while self.now < end:
            decisions += self.poll(health)
        return decisions

    def restart(self) -> None:
        """What a restart does: the state goes to the database as JSON and comes back."""
        self.state = BotAlertState.from_dict(json.loads(json.dumps(self.state.to_dict())))


def kinds(decisions: Sequence[Decision]) -> list[DecisionKind]:
    return [d.kind for d in decisions]


# Confirmation


def test_a_drop_for_one_poll_alerts_nothing() -> None:
    assert Bot().polls(DOWN, OK, OK, OK) == []


def test_a_drop_for_two_polls_alerts_exactly_once() -> None:
    bot = Bot()
    assert bot.poll(DOWN) == []
    first_seen = bot.now
    [decision] = bot.poll(DOWN)
    assert decision == Decision(DecisionKind.PROBLEM, OK, DOWN, bot.now, first_seen)
    assert bot.polls(DOWN, DOWN, DOWN) == []


def test_recovery_is_confirmed_the_same_way() -> None:
    bot = Bot()
    bot.polls(DOWN, DOWN)
    assert bot.poll(OK) == []
    back_since = bot.now
    [decision] = bot.poll(OK)
    assert (decision.kind, decision.old, decision.new) == (DecisionKind.RECOVERED, DOWN, OK)
    assert decision.since == back_since


def test_a_recovery_that_does_not_hold_is_not_announced() -> None:
    bot = Bot()
    assert kinds(bot.polls(DOWN, DOWN, OK, DOWN, DOWN)) == [DecisionKind.PROBLEM]
    assert bot.state.announced is DOWN


@pytest.mark.parametrize("confirm_polls", [1, 2, 3, 5])
def test_a_change_is_announced_at_the_poll_that_confirms_it(confirm_polls: int) -> None:
    bot = Bot(config=replace(CONFIG, confirm_polls=confirm_polls))
    decisions = [bot.poll(DOWN) for _ in range(confirm_polls + 3)]
    assert [len(d) for d in decisions] == [0] * (confirm_polls - 1) + [1] + [0] * 3


def test_a_third_health_restarts_the_confirmation() -> None:
    bot = Bot(config=replace(CONFIG, confirm_polls=3))
    assert bot.polls(DOWN, DOWN, STOPPED, STOPPED) == []
    [decision] = bot.poll(STOPPED)
    assert (decision.kind, decision.old, decision.new) == (DecisionKind.PROBLEM, OK, STOPPED)


def test_a_change_between_two_problems_is_a_problem_changed() -> None:
    bot = Bot()
    decisions = bot.polls(DOWN, DOWN, STOPPED, STOPPED)
    assert kinds(decisions) == [DecisionKind.PROBLEM, DecisionKind.PROBLEM_CHANGED]
    assert (decisions[1].old, decisions[1].new) == (DOWN, STOPPED)


@pytest.mark.parametrize("problem", PROBLEMS)
def test_every_problem_health_goes_through_confirmation(problem: Health) -> None:
    bot = Bot()
    assert bot.poll(problem) == []
    assert kinds(bot.poll(problem)) == [DecisionKind.PROBLEM]


@pytest.mark.parametrize("problem", [STOPPED, READY])
def test_a_stopped_or_ready_bot_nobody_touched_is_a_problem(problem: Health) -> None:
    [decision] = Bot().polls(problem, problem)
    assert decision.kind is DecisionKind.PROBLEM
    assert decision.performed_by is None
    assert decision.manual_operation is None


def test_a_steady_health_decides_nothing_after_its_confirmation() -> None:
    bot = Bot()
    assert len(bot.polls(DOWN, DOWN)) == 1
    assert bot.hold(DOWN, timedelta(hours=6)) == []


# Baseline and restarts


def test_the_first_sight_of_a_bot_is_a_baseline_without_an_alert() -> None:
    bot = Bot(DOWN)
    assert bot.hold(DOWN, timedelta(minutes=30)) == []
    assert not needs_evaluation(bot.state)


def test_a_return_to_ok_from_a_baseline_problem_is_silent() -> None:
    bot = Bot(DOWN)
    assert bot.polls(OK, OK, OK) == []
    assert bot.state.announced is OK


def test_a_new_problem_after_a_baseline_problem_opens_an_incident() -> None:
    bot = Bot(DOWN)
    [decision] = bot.polls(STOPPED, STOPPED)
    assert (decision.kind, decision.old, decision.new) == (DecisionKind.PROBLEM, DOWN, STOPPED)


def test_a_restart_does_not_announce_an_announced_problem_again() -> None:
    bot = Bot()
    bot.polls(DOWN, DOWN)
    bot.restart()
    assert bot.hold(DOWN, timedelta(minutes=5)) == []
    assert kinds(bot.polls(OK, OK)) == [DecisionKind.RECOVERED]


def test_a_change_while_the_app_was_down_alerts_once_after_the_restart() -> None:
    bot = Bot()
    bot.polls(OK, OK)
    bot.restart()
    assert bot.poll(DOWN, after=timedelta(hours=2)) == []
    assert kinds(bot.polls(DOWN, DOWN, DOWN)) == [DecisionKind.PROBLEM]


def test_a_change_awaiting_confirmation_survives_a_restart() -> None:
    bot = Bot()
    bot.poll(DOWN)
    bot.restart()
    assert kinds(bot.poll(DOWN)) == [DecisionKind.PROBLEM]


# Manual Start and Stop


def test_a_manual_stop_is_a_notice_at_once() -> None:
    bot = Bot()
    stopped_at = T0 + timedelta(seconds=2)
    [notice] = bot.poll(STOPPED, manual=stop_by("Jane Ops", stopped_at))
    assert notice == Decision(
        DecisionKind.NOTICE,
        OK,
        STOPPED,
        bot.now,
        stopped_at,
        performed_by="Jane Ops",
        manual_operation="stop",
    )
    assert bot.hold(STOPPED, timedelta(hours=1)) == []
    assert not needs_evaluation(bot.state)


def test_a_stop_that_shows_a_few_polls_later_is_still_no_outage() -> None:
    bot = Bot()
    assert kinds(bot.poll(OK, manual=stop_by())) == [DecisionKind.NOTICE]
    assert bot.polls(OK, DOWN, DOWN, DOWN, STOPPED) == []
    assert bot.hold(STOPPED, timedelta(hours=1)) == []


def test_a_manual_start_passes_through_connecting_states_silently() -> None:
    bot = Bot()
    bot.poll(STOPPED, manual=stop_by())
    [notice] = bot.poll(STOPPED, manual=start_by())
    assert (notice.kind, notice.old, notice.new) == (DecisionKind.NOTICE, STOPPED, OK)
    assert bot.polls(READY, READY, DOWN, DOWN, DOWN, OK) == []
    assert bot.hold(OK, timedelta(hours=1)) == []


def test_a_start_that_never_comes_up_alerts_once_when_the_grace_runs_out() -> None:
    bot = Bot(STOPPED, every=timedelta(minutes=1))
    bot.poll(STOPPED, manual=start_by())
    bot.poll(DOWN)
    down_since = bot.now
    assert bot.hold(DOWN, CONFIG.manual_grace - timedelta(minutes=2)) == []
    decisions = bot.hold(DOWN, timedelta(hours=1))
    assert [(d.kind, d.old, d.new, d.since) for d in decisions] == [
        (DecisionKind.PROBLEM, OK, DOWN, down_since)
    ]
    assert decisions[0].at == down_since + CONFIG.manual_grace - timedelta(minutes=1)


def test_a_manual_stop_closes_an_open_incident() -> None:
    bot = Bot()
    bot.polls(DOWN, DOWN)
    [notice] = bot.poll(DOWN, manual=stop_by())
    assert (notice.old, notice.new) == (DOWN, STOPPED)
    assert not bot.state.incident
    assert bot.polls(STOPPED, STOPPED) == []


def test_after_a_manual_stop_a_return_to_ok_is_silent() -> None:
    bot = Bot()
    bot.poll(STOPPED, manual=stop_by())
    assert bot.polls(OK, OK, OK) == []
    assert bot.state.announced is OK


def test_after_a_manual_stop_going_down_opens_an_incident() -> None:
    bot = Bot()
    bot.poll(STOPPED, manual=stop_by())
    [decision] = bot.polls(DOWN, DOWN)
    assert (decision.kind, decision.old, decision.new) == (DecisionKind.PROBLEM, STOPPED, DOWN)


def test_manual_operations_never_count_as_flapping() -> None:
    bot = Bot()
    decisions = []
    for _ in range(5):
        decisions += bot.poll(STOPPED, manual=stop_by())
        decisions += bot.poll(OK, manual=start_by())
    assert kinds(decisions) == [DecisionKind.NOTICE] * 10


def test_a_manual_operation_ends_a_flapping_episode() -> None:
    bot = Bot()
    assert kinds(bot.polls(DOWN, OK, DOWN, OK)) == [DecisionKind.FLAPPING]
    assert kinds(bot.poll(STOPPED, manual=stop_by())) == [DecisionKind.NOTICE]
    assert not bot.state.flapping
    assert bot.hold(STOPPED, timedelta(hours=1)) == []


def test_a_notice_is_never_dated_after_the_poll_that_saw_it() -> None:
    bot = Bot()
    [notice] = bot.poll(STOPPED, manual=stop_by(at=T0 + timedelta(hours=1)))
    assert notice.since == notice.at == bot.now
    [notice] = bot.poll(OK, manual=start_by(at=None))
    assert notice.since == bot.now


@pytest.mark.parametrize(
    ("operation", "outcome"),
    [("stop", STOPPED), ("STOP", STOPPED), ("start", OK), ("Start", OK), ("restart", OK)],
)
def test_a_stop_leads_to_stopped_and_anything_else_to_ok(operation: str, outcome: Health) -> None:
    assert manual_outcome(operation) is outcome


# Flapping


def test_a_bot_flipping_every_poll_for_ten_polls_gives_one_flapping_alert() -> None:
    bot = Bot()
    first_flip = T0 + POLL
    decisions = bot.polls(*[DOWN, OK] * 5)
    assert [(d.kind, d.since) for d in decisions] == [(DecisionKind.FLAPPING, first_flip)]
    assert decisions[0].at == T0 + 4 * POLL


def test_flapping_settles_with_one_alert_after_a_quiet_window() -> None:
    bot = Bot()
    bot.polls(*[DOWN, OK] * 5)
    last_flip = bot.now
    assert bot.hold(OK, CONFIG.flapping_window - POLL) == []
    [settled] = bot.poll(OK)
    assert (settled.kind, settled.old, settled.new) == (DecisionKind.SETTLED, OK, OK)
    assert settled.at == last_flip + CONFIG.flapping_window
    assert settled.since == last_flip
    assert bot.hold(OK, timedelta(hours=1)) == []
    assert not needs_evaluation(bot.state)


def test_flapping_that_settles_in_a_problem_opens_an_incident() -> None:
    bot = Bot()
    bot.polls(*[DOWN, OK] * 3, DOWN)
    decisions = bot.hold(DOWN, CONFIG.flapping_window + POLL)
    assert [(d.kind, d.new) for d in decisions] == [(DecisionKind.SETTLED, DOWN)]
    assert kinds(bot.polls(OK, OK)) == [DecisionKind.RECOVERED]


def test_nothing_but_settling_is_announced_while_flapping() -> None:
    bot = Bot()
    bot.polls(DOWN, OK, DOWN, OK)
    assert bot.hold(DOWN, CONFIG.flapping_window - POLL) == []
    assert bot.state.announced is OK


def test_a_flip_during_the_quiet_window_starts_it_again() -> None:
    bot = Bot()
    bot.polls(DOWN, OK, DOWN, OK)
    assert bot.hold(OK, timedelta(minutes=10)) == []
    assert bot.polls(DOWN, DOWN) == []
    assert bot.hold(DOWN, timedelta(minutes=14)) == []
    assert kinds(bot.hold(DOWN, timedelta(minutes=2))) == [DecisionKind.SETTLED]


def test_changes_among_problem_healths_count_as_flapping() -> None:
    assert kinds(Bot(DOWN).polls(UNKNOWN, DOWN, UNKNOWN, DOWN)) == [DecisionKind.FLAPPING]


def test_changes_spread_wider_than_the_window_are_not_flapping() -> None:
    bot = Bot(config=replace(CONFIG, confirm_polls=1), every=timedelta(minutes=6))
    decisions = bot.polls(*[DOWN, OK] * 5)
    assert kinds(decisions) == [DecisionKind.PROBLEM, DecisionKind.RECOVERED] * 5


def test_with_immediate_confirmation_the_fourth_change_is_the_flapping_alert() -> None:
    bot = Bot(config=replace(CONFIG, confirm_polls=1))
    assert kinds(bot.polls(*[DOWN, OK] * 5)) == [
        DecisionKind.PROBLEM,
        DecisionKind.RECOVERED,
        DecisionKind.PROBLEM,
        DecisionKind.FLAPPING,
    ]


def test_a_second_episode_gets_its_own_flapping_alert() -> None:
    bot = Bot()
    bot.polls(DOWN, OK, DOWN, OK)
    assert kinds(bot.hold(OK, timedelta(minutes=16))) == [DecisionKind.SETTLED]
    assert kinds(bot.polls(DOWN, OK, DOWN, OK)) == [DecisionKind.FLAPPING]


# Time, evaluation, reminders, configuration


def test_time_going_backwards_is_read_as_the_same_instant() -> None:
    bot = Bot()
    bot.poll(DOWN, after=timedelta(minutes=1))
    latest = bot.now
    [decision] = bot.poll(DOWN, after=timedelta(minutes=-30))
    assert decision.at == latest
    assert bot.state.last_observed_at == latest


def test_a_clock_stepping_back_does_not_end_a_manual_grace() -> None:
    bot = Bot()
    bot.poll(OK, manual=stop_by())
    assert bot.poll(DOWN, after=-timedelta(hours=1)) == []
    assert bot.state.manual_target is STOPPED


def test_a_steady_bot_needs_no_evaluation() -> None:
    bot = Bot()
    assert not needs_evaluation(bot.state)
    bot.poll(DOWN)
    assert needs_evaluation(bot.state)
    bot.poll(DOWN)
    assert not needs_evaluation(bot.state)


def test_a_flapping_bot_needs_evaluation_until_it_settles() -> None:
    bot = Bot()
    bot.polls(DOWN, OK, DOWN, OK)
    assert needs_evaluation(bot.state)
    bot.hold(OK, CONFIG.flapping_window)
    assert not needs_evaluation(bot.state)


def test_a_manual_operation_on_its_way_needs_evaluation() -> None:
    bot = Bot()
    bot.poll(OK, manual=stop_by())
    assert needs_evaluation(bot.state)
    bot.poll(STOPPED)
    assert not needs_evaluation(bot.state)


H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("last_reminder", "now", "due"),
    [
        (None, T0 + 4 * H - timedelta(seconds=1), False),
        (None, T0 + 4 * H, True),
        (T0 + 4 * H, T0 + 7 * H, False),
        (T0 + 4 * H, T0 + 8 * H, True),
        (None, T0 - H, False),
        (T0 - H, T0 + 3 * H, False),
    ],
)
def test_a_reminder_is_due_every_remind_every_after_the_incident_opened(
    last_reminder: datetime | None, now: datetime, due: bool
) -> None:
    assert reminder_due(T0, last_reminder, now, 4 * H) is due


def test_a_zero_remind_every_turns_reminders_off() -> None:
    assert not reminder_due(T0, None, T0 + 1000 * H, timedelta(0))


@pytest.mark.parametrize(
    "changes",
    [
        {"confirm_polls": 0},
        {"flapping_changes": 1},
        {"flapping_window": timedelta(0)},
        {"manual_grace": timedelta(seconds=-1)},
    ],
)
def test_it_refuses_a_configuration_that_cannot_work(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PolicyConfig(**changes)


# Stored state


def test_a_state_with_everything_set_round_trips_through_json() -> None:
    bot = Bot()
    bot.polls(DOWN, OK, DOWN)
    bot.poll(OK, manual=stop_by())
    state = replace(bot.state, health_changes=(T0, T0 + POLL), flapping=True)
    assert BotAlertState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("format", 99, "unsupported format 99"),
        ("announced", "sideways", "announced is not a health"),
        ("observed_since", "yesterday", "observed_since is not an ISO 8601 time"),
        ("announced_at", "2025-05-20T12:00:00", "announced_at has no time zone"),
        ("observed_polls", True, "observed_polls has the wrong type"),
        ("observed_polls", 0, "observed_polls must be at least 1"),
        ("health_changes", [1], "health_changes must be a list of times"),
        ("incident", "no", "incident has the wrong type"),
    ],
)
def test_a_damaged_stored_state_is_refused_with_the_key_named(
    key: str, value: object, message: str
) -> None:
    data = initial_state(OK, T0).to_dict()
    data[key] = value
    with pytest.raises(ValueError, match=message):
        BotAlertState.from_dict(data)


def test_a_stored_state_missing_a_key_is_refused() -> None:
    data = initial_state(OK, T0).to_dict()
    del data["flapping"]
    with pytest.raises(ValueError, match="flapping is missing"):
        BotAlertState.from_dict(data)


# Properties over arbitrary poll sequences


@dataclass(frozen=True)
class Step:
    health: Health
    after: timedelta
    manual: ManualOperation | None = None


healths = st.sampled_from(list(Health))
gaps = st.one_of(st.integers(1, 10), st.integers(10, 120), st.sampled_from([300, 900, 1800])).map(
    lambda s: timedelta(seconds=s)
)
manual_operations = st.sampled_from([stop_by(), start_by(), ManualOperation("start", None, T0)])


def steps(manual: bool = True) -> st.SearchStrategy[Step]:
    operations = st.none() | manual_operations if manual else st.none()
    return st.builds(
        Step,
        health=healths,
        after=gaps,
        manual=st.one_of(st.none(), st.none(), st.none(), operations),
    )


# Flapping-prone sequences: two healths alternating quickly, with pauses.
flappy_steps = st.builds(
    Step,
    health=st.sampled_from([OK, DOWN]),
    after=st.sampled_from([5, 5, 5, 60, 600]).map(lambda s: timedelta(seconds=s)),
)

configs = st.builds(
    PolicyConfig,
    confirm_polls=st.integers(1, 4),
    flapping_changes=st.integers(2, 6),
    flapping_window=st.integers(1, 20).map(lambda m: timedelta(minutes=m)),
    manual_grace=st.integers(0, 10).map(lambda m: timedelta(minutes=m)),
)


@dataclass
class Trace:
    """Each observation: the state before, the step, the state after, the decisions."""

    before: BotAlertState
    step: Step
    now: datetime
    after: BotAlertState
    decisions: list[Decision]


def run(
    start: Health, sequence: Sequence[Step], config: PolicyConfig, now: datetime = T0
) -> list[Trace]:
    state = initial_state(start, now)
    traces = []
    for step in sequence:
        now += step.after
        next_state, decisions = observe(state, step.health, now, config, manual=step.manual)
        traces.append(Trace(state, step, now, next_state, decisions))
        state = next_state
    return traces


sequences = st.lists(steps() | flappy_steps, max_size=60)


@given(healths, sequences, configs)
def test_one_observation_gives_at_most_one_decision(
    start: Health, sequence: list[Step], config: PolicyConfig
) -> None:
    assert all(len(t.decisions) <= 1 for t in run(start, sequence, config))


@given(healths, sequences, configs)
def test_every_decision_starts_from_what_was_announced(
    start: Health, sequence: list[Step], config: PolicyConfig
) -> None:
    for t in run(start, sequence, config):
        for decision in t.decisions:
            assert decision.old is t.before.announced
            assert decision.at == t.now
            assert decision.since <= decision.at
            if decision.kind is not DecisionKind.FLAPPING:
                assert t.after.announced is decision.new
        if not t.decisions and t.after.announced is not t.before.announced:
            # The only silent change of the announced health: back to ok, no incident open.
            assert t.after.announced is OK
            assert not t.before.incident


@given(healths, sequences, configs)
def test_no_change_is_announced_before_it_held_for_confirm_polls(
    start: Health, sequence: list[Step], config: PolicyConfig
) -> None:
    traces = run(start, sequence, config)
    confirmed = {DecisionKind.PROBLEM, DecisionKind.PROBLEM_CHANGED, DecisionKind.RECOVERED}
    for i, t in enumerate(traces):
        for decision in t.decisions:
            if decision.kind in confirmed:
                held = [x.step.health for x in traces[: i + 1]][-config.confirm_polls :]
                assert len(held) == config.confirm_polls
                assert set(held) == {decision.new}


@given(healths, sequences, configs)
def test_manual_operations_give_notices_and_nothing_else_does(
    start: Health, sequence: list[Step], config: PolicyConfig
) -> None:
    for t in run(start, sequence, config):
        if t.step.manual is not None:
            assert kinds(t.decisions) == [DecisionKind.NOTICE]
            assert t.decisions[0].performed_by == t.step.manual.performed_by
        else:
            assert DecisionKind.NOTICE not in kinds(t.decisions)


@given(healths, sequences, configs)
def test_a_flapping_episode_has_one_flapping_alert_and_nothing_else_but_its_end(
    start: Health, sequence: list[Step], config: PolicyConfig
) -> None:
    episode_alerts = 0
    for t in run(start, sequence, config):
        if t.before.flapping:
            assert set(kinds(t.decisions)) <= {DecisionKind.SETTLED, DecisionKind.NOTICE}
        for decision in t.decisions:
            if decision.kind is DecisionKind.FLAPPING:
                episode_alerts += 1
                assert episode_alerts == 1
            elif decision.kind in (DecisionKind.SETTLED, DecisionKind.NOTICE):
                episode_alerts = 0
        assert t.after.flapping == (episode_alerts == 1)


def observed_changes_in_window(
    traces: list[Trace], i: int, start: Health, window: timedelta
) -> int:
    healths = [start] + [t.step.health for t in traces]
    now = traces[i].now
    return sum(
        1 for j in range(i + 1) if healths[j + 1] is not healths[j] and now - traces[j].now < window
    )


@given(healths, st.lists(steps(manual=False) | flappy_steps, max_size=60), configs)
def test_flapping_is_declared_exactly_when_enough_changes_fall_in_the_window(
    start: Health, sequence: list[Step], config: PolicyConfig
) -> None:
    traces = run(start, sequence, config)
    for i, t in enumerate(traces):
        if t.before.flapping:
            continue
        is_change = t.step.health is not t.before.observed
        enough = observed_changes_in_window(traces, i, start, config.flapping_window)
        expected = is_change and enough >= config.flapping_changes
        assert (DecisionKind.FLAPPING in kinds(t.decisions)) == expected


@settings(deadline=None)
@given(
    healths,
    sequences,
    healths,
    st.sampled_from([5, 60, 300]).map(lambda s: timedelta(seconds=s)),
    configs,
)
def test_a_constant_health_ends_announced_and_quiet(
    start: Health,
    sequence: list[Step],
    settled: Health,
    every: timedelta,
    config: PolicyConfig,
) -> None:
    prefix = run(start, sequence, config)
    state = prefix[-1].after if prefix else initial_state(start, T0)
    now = state.last_observed_at
    # Long enough for the grace, a flapping window and the confirmation to pass.
    span = config.manual_grace + config.flapping_window + every * (config.confirm_polls + 1)
    tail = run_from(state, [Step(settled, every)] * math.ceil(span / every), config, now)
    decisions = [d for t in tail for d in t.decisions]
    # At most a flapping alert, then one decision that announces the constant health.
    if decisions and decisions[0].kind is DecisionKind.FLAPPING:
        decisions = decisions[1:]
    assert len(decisions) <= 1
    assert all(d.new is settled for d in decisions)
    assert tail[-1].after.announced is settled
    assert not needs_evaluation(tail[-1].after)


def run_from(
    state: BotAlertState, sequence: Sequence[Step], config: PolicyConfig, now: datetime
) -> list[Trace]:
    traces = []
    for step in sequence:
        now += step.after
        next_state, decisions = observe(state, step.health, now, config, manual=step.manual)
        traces.append(Trace(state, step, now, next_state, decisions))
        state = next_state
    return traces


@given(healths, sequences, configs)
def test_skipping_steady_bots_that_need_no_evaluation_changes_no_decision(
    start: Health, sequence: list[Step], config: PolicyConfig
) -> None:
    every_poll = [t.decisions for t in run(start, sequence, config)]
    state, now, skipping = initial_state(start, T0), T0, []
    for step in sequence:
        now += step.after
        if step.manual is None and step.health is state.observed and not needs_evaluation(state):
            skipping.append([])
            continue
        state, decisions = observe(state, step.health, now, config, manual=step.manual)
        skipping.append(decisions)
    assert skipping == every_poll


@given(healths, sequences, configs)
def test_every_state_round_trips_through_json(
    start: Health, sequence: list[Step], config: PolicyConfig
) -> None:
    for t in run(start, sequence, config):
        stored = json.loads(json.dumps(t.after.to_dict()))
        assert BotAlertState.from_dict(stored) == t.after


@given(healths, sequences, configs)
def test_the_stored_flapping_history_stays_bounded(
    start: Health, sequence: list[Step], config: PolicyConfig
) -> None:
    for t in run(start, sequence, config):
        assert len(t.after.health_changes) <= config.flapping_changes
        assert list(t.after.health_changes) == sorted(t.after.health_changes)
