"""A bot as the roll-up of its agent connectors: health, order independence, manual targets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from random import Random

from hypothesis import given
from hypothesis import strategies as st

from chatops.domain import (
    BotKind,
    BotState,
    Health,
    ManualOperation,
    Snapshot,
    bot_changes,
    bot_health,
    bot_state,
    diff_fleet,
    group_bots,
)
from tests.test_domain_snapshot import BOT_IDS, make_snapshot, snapshots

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
USERS = st.sampled_from(["u1", "u2", "u3", "u4"])
HEALTHS = st.sampled_from(list(Health))


def connector(bot_id: str, user: str, **statuses: str) -> Snapshot:
    return make_snapshot(bot_id, bot_user=user, **statuses)


def fleet_lists() -> st.SearchStrategy[list[Snapshot]]:
    """Status lists as a source sends them: one entry per (bot, bot user), in any order."""
    return st.lists(
        snapshots(bot_id=BOT_IDS, bot_user=USERS), max_size=10, unique_by=lambda s: s.key
    )


def test_a_bot_is_ok_only_when_every_connector_is_ok() -> None:
    assert bot_health([Health.OK]) is Health.OK
    assert bot_health([Health.OK, Health.OK, Health.OK]) is Health.OK


def test_one_ok_connector_and_one_not_make_a_degraded_bot() -> None:
    assert bot_health([Health.OK, Health.DOWN]) is Health.DEGRADED
    assert bot_health([Health.STOPPED, Health.OK, Health.OK, Health.OK]) is Health.DEGRADED


def test_a_bot_with_no_ok_connector_takes_the_worst_of_them() -> None:
    assert bot_health([Health.STOPPED, Health.DOWN]) is Health.DOWN
    assert bot_health([Health.AWAY, Health.READY]) is Health.READY
    assert bot_health([Health.UNKNOWN, Health.AWAY]) is Health.UNKNOWN


@given(st.lists(HEALTHS.filter(lambda h: h is not Health.DEGRADED), min_size=1, max_size=6))
def test_a_bots_health_is_a_function_of_its_connectors_healths_alone(
    healths: list[Health],
) -> None:
    rolled = bot_health(healths)
    assert rolled is bot_health(list(reversed(healths)))
    assert rolled is bot_health(sorted(healths))
    if all(h is Health.OK for h in healths):
        assert rolled is Health.OK
    elif Health.OK in healths:
        assert rolled is Health.DEGRADED
    else:
        assert rolled is min(healths, key=lambda h: h.severity)


def test_the_second_connector_losing_its_bot_server_degrades_the_bot() -> None:
    bot = bot_state(
        [
            connector("care-bot-1", "care_user_1b", server="NOT_CONNECTED"),
            connector("care-bot-1", "care_user_1a"),
        ]
    )
    assert bot.health is Health.DEGRADED
    assert (bot.ok_count, bot.total) == (1, 2)
    assert [c.bot_user for c in bot.connectors] == ["care_user_1a", "care_user_1b"]
    assert [c.bot_user for c in bot.problem_connectors] == ["care_user_1b"]
    assert bot.summary() == "1 of 2 connectors not OK"


@given(fleet_lists(), st.randoms(use_true_random=False))
def test_any_permutation_of_the_status_list_gives_the_same_fleet_and_no_transition(
    entries: list[Snapshot], random: Random
) -> None:
    shuffled = list(entries)
    random.shuffle(shuffled)
    stored = {s.key: s for s in entries}

    assert group_bots(shuffled) == group_bots(entries)
    result = diff_fleet(stored, shuffled)
    assert result.is_empty
    assert bot_changes(group_bots(entries), result) == ()


@given(fleet_lists(), fleet_lists())
def test_bot_changes_rebuild_exactly_the_bots_of_the_new_fleet(
    before: list[Snapshot], after: list[Snapshot]
) -> None:
    old = group_bots(before)
    new = group_bots(after)
    changes = bot_changes(old, diff_fleet({s.key: s for s in before}, after))

    for change in changes:
        assert change.old == old.get(change.bot_id)
        assert change.new == new.get(change.bot_id)
        assert change.old != change.new
    untouched = (old.keys() | new.keys()) - {c.bot_id for c in changes}
    for bot_id in untouched:
        assert old.get(bot_id) == new.get(bot_id)


def test_connectors_that_disagree_on_the_name_give_the_majority_and_say_so() -> None:
    bot = bot_state(
        [
            make_snapshot("b1", bot_user="u1", name="Care Bot"),
            make_snapshot("b1", bot_user="u2", name="Care Bot"),
            make_snapshot("b1", bot_user="u3", name="Care bot (old)"),
        ]
    )
    assert bot.name == "Care Bot"
    assert bot.disagreement is not None
    assert "name" in bot.disagreement and "Care bot (old)" in bot.disagreement
    assert bot_state([make_snapshot("b1", bot_user="u1")]).disagreement is None


def test_a_stop_of_one_of_two_connectors_leads_the_bot_to_degraded() -> None:
    stop = ManualOperation("stop", "Jane Ops", T0)
    bot = bot_state(
        [
            make_snapshot("b1", bot_user="u1", connector="STOPPED", manual=stop),
            make_snapshot("b1", bot_user="u2"),
        ]
    )
    assert bot.manual == stop
    assert bot.manual_target() is Health.DEGRADED


def test_a_stop_of_every_connector_leads_the_bot_to_stopped() -> None:
    first = ManualOperation("stop", "Jane Ops", T0)
    second = ManualOperation("stop", "Jane Ops", T0 + timedelta(seconds=2))
    bot = bot_state(
        [
            make_snapshot("b1", bot_user="u1", manual=first),
            make_snapshot("b1", bot_user="u2", manual=second),
        ]
    )
    assert bot.manual_target() is Health.STOPPED


def test_a_bot_without_manual_operations_has_no_manual_target() -> None:
    assert bot_state([make_snapshot("b1", bot_user="u1")]).manual_target() is None


def test_a_pcs_bot_keeps_its_kind_from_its_one_shared_connector() -> None:
    survey = Snapshot(
        bot_id="survey-1",
        name="Survey 1",
        kind=BotKind.PCS,
        channel=make_snapshot().channel,
        environment=make_snapshot().environment,
        raw_connector="ONLINE",
        raw_cloud="connected",
        raw_server="connected",
        account_user="Survey Connector",
    )
    bot: BotState = bot_state([survey])
    assert bot.kind is BotKind.PCS
    assert [c.bot_user for c in bot.connectors] == ["Survey Connector"]
