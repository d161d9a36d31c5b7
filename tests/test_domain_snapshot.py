"""Snapshots and the diff between what is stored and what a poll fetched."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from chatops.domain import (
    BotKind,
    Channel,
    Cloud,
    ConnectorKey,
    ConnectorStatus,
    Dimension,
    Environment,
    Health,
    ManualOperation,
    Server,
    Snapshot,
    diff,
    diff_fleet,
    normalise_key,
)

T0 = datetime(2025, 5, 20, 12, 0, tzinfo=UTC)

RAW_CONNECTOR = ["ONLINE", "online", "Not Connected", "NOT_CONNECTED", "STOPPED", "READY_TO_START"]
RAW_CLOUD = ["connected", "CONNECTED", "not-connected", "AWAY", "Online", "OFFLINE", "N/A"]
RAW_SERVER = ["connected", "Connected", "NOT_CONNECTED", "n/a"]
# Spellings nobody documented; two of them are one value spelled twice.
RAW_UNKNOWN = ["HIBERNATING", "hibernating", "SOME_STATE", "some-state", "", "???"]


def raw_values(known: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(known + RAW_UNKNOWN)


def make_snapshot(
    bot_id: str = "b1",
    *,
    connector: str = "ONLINE",
    cloud: str = "connected",
    server: str = "connected",
    name: str = "Billing Bot",
    updated_at: datetime | None = None,
    manual: ManualOperation | None = None,
    bot_user: str = "",
) -> Snapshot:
    return Snapshot(
        bot_id=bot_id,
        bot_user=bot_user,
        name=name,
        kind=BotKind.CUSTOM,
        channel=Channel.MESSAGING,
        environment=Environment.PRODUCTION,
        raw_connector=connector,
        raw_cloud=cloud,
        raw_server=server,
        manual=manual,
        updated_at=updated_at,
    )


@st.composite
def snapshots(
    draw: st.DrawFn,
    bot_id: str | st.SearchStrategy[str] = "b1",
    bot_user: str | st.SearchStrategy[str] = "",
) -> Snapshot:
    return make_snapshot(
        bot_id if isinstance(bot_id, str) else draw(bot_id),
        bot_user=bot_user if isinstance(bot_user, str) else draw(bot_user),
        connector=draw(raw_values(RAW_CONNECTOR)),
        cloud=draw(raw_values(RAW_CLOUD)),
        server=draw(raw_values(RAW_SERVER)),
        name=draw(st.sampled_from(["Billing Bot", "Billing bot (v2)"])),
        updated_at=draw(st.none() | st.just(T0) | st.just(T0 + timedelta(minutes=1))),
        manual=draw(st.none() | st.just(ManualOperation("stop", "Jane Ops", T0))),
    )


def values(snapshot: Snapshot) -> list[object]:
    return [snapshot.value(d) for d in Dimension]


@given(snapshots())
def test_a_snapshot_has_no_transition_with_itself(snapshot: Snapshot) -> None:
    assert diff(snapshot, snapshot) == []


@given(snapshots(), snapshots())
def test_diff_gives_at_most_one_transition_per_dimension(
    stored: Snapshot, fetched: Snapshot
) -> None:
    dimensions = [t.dimension for t in diff(stored, fetched)]
    assert len(dimensions) == len(set(dimensions))


@given(snapshots(), snapshots())
def test_applying_the_transitions_to_stored_reproduces_fetched(
    stored: Snapshot, fetched: Snapshot
) -> None:
    raws = {d: stored.raw(d) for d in Dimension}
    for transition in diff(stored, fetched):
        assert transition.old is stored.value(transition.dimension)
        assert transition.old_raw == stored.raw(transition.dimension)
        raws[transition.dimension] = transition.new_raw
    applied = make_snapshot(
        connector=raws[Dimension.CONNECTOR],
        cloud=raws[Dimension.CLOUD],
        server=raws[Dimension.SERVER],
    )
    assert values(applied) == values(fetched)
    assert applied.health is fetched.health


@given(snapshots(), snapshots())
def test_a_transition_is_a_change_of_value_or_of_unknown_meaning(
    stored: Snapshot, fetched: Snapshot
) -> None:
    for transition in diff(stored, fetched):
        if transition.old is transition.new:
            assert transition.new.value == "Unknown"
            assert normalise_key(transition.old_raw) != normalise_key(transition.new_raw)


def test_respelling_a_known_value_is_not_a_transition() -> None:
    stored = make_snapshot(connector="ONLINE", cloud="connected", server="NOT_CONNECTED")
    fetched = make_snapshot(connector="online", cloud="CONNECTED", server="not-connected")
    assert diff(stored, fetched) == []


def test_a_change_of_value_is_one_transition_that_keeps_both_spellings() -> None:
    stored = make_snapshot(server="CONNECTED")
    fetched = make_snapshot(server="NOT_CONNECTED")
    [transition] = diff(stored, fetched)
    assert transition.bot_id == "b1"
    assert transition.dimension is Dimension.SERVER
    assert (transition.old, transition.new) == (Server.CONNECTED, Server.NOT_CONNECTED)
    assert (transition.old_raw, transition.new_raw) == ("CONNECTED", "NOT_CONNECTED")


def test_unknown_to_another_unknown_is_a_transition() -> None:
    stored = make_snapshot(cloud="HIBERNATING")
    fetched = make_snapshot(cloud="MIGRATING")
    [transition] = diff(stored, fetched)
    assert (transition.old, transition.new) == (Cloud.UNKNOWN, Cloud.UNKNOWN)
    assert (transition.old_raw, transition.new_raw) == ("HIBERNATING", "MIGRATING")


def test_respelling_an_unknown_value_is_not_a_transition() -> None:
    assert diff(make_snapshot(cloud="SOME_STATE"), make_snapshot(cloud="some-state")) == []


def test_a_known_value_turning_unknown_is_a_transition() -> None:
    [transition] = diff(make_snapshot(connector="ONLINE"), make_snapshot(connector="RESTARTING"))
    assert (transition.old, transition.new) == (ConnectorStatus.ONLINE, ConnectorStatus.UNKNOWN)


def test_the_source_timestamp_alone_does_not_make_snapshots_differ() -> None:
    assert make_snapshot(updated_at=T0) == make_snapshot(updated_at=T0 + timedelta(minutes=5))


BOT_IDS = st.sampled_from(["b1", "b2", "b3"])
BOT_USERS = st.sampled_from(["", "b_user_a", "b_user_b"])


def fleets() -> st.SearchStrategy[dict[ConnectorKey, Snapshot]]:
    return st.lists(snapshots(bot_id=BOT_IDS, bot_user=BOT_USERS), max_size=6).map(
        lambda s: {x.key: x for x in s}
    )


@given(fleets(), fleets())
def test_the_fleet_diff_partitions_the_fetched_connectors(
    stored: dict[ConnectorKey, Snapshot], fetched: dict[ConnectorKey, Snapshot]
) -> None:
    result = diff_fleet(stored, fetched.values())
    added = {s.key for s in result.added}
    changed = {c.key for c in result.changed}
    refreshed = {s.key for s in result.refreshed}
    unchanged = {key for key, snap in fetched.items() if stored.get(key) == snap}
    groups = [added, changed, refreshed, unchanged]
    assert sum(len(g) for g in groups) == len(fetched)
    assert set().union(*groups) == set(fetched)
    assert added == set(fetched) - set(stored)
    assert list(result.removed) == sorted(set(stored) - set(fetched))


@given(fleets(), fleets())
def test_changed_connectors_carry_their_transitions_and_healths(
    stored: dict[ConnectorKey, Snapshot], fetched: dict[ConnectorKey, Snapshot]
) -> None:
    result = diff_fleet(stored, fetched.values())
    for change in result.changed:
        old, new = stored[change.key], fetched[change.key]
        assert list(change.transitions) == diff(old, new) != []
        assert (change.old_health, change.new_health) == (old.health, new.health)
        assert change.snapshot is new
        assert change.health_changed == (old.health is not new.health)
    for snapshot in result.refreshed:
        assert diff(stored[snapshot.key], snapshot) == []
        assert stored[snapshot.key] != snapshot
    assert result.transitions == [t for c in result.changed for t in c.transitions]


@given(fleets(), st.sampled_from([None, T0, T0 + timedelta(hours=1)]))
def test_a_new_source_timestamp_alone_never_makes_a_bot_changed(
    stored: dict[ConnectorKey, Snapshot], updated_at: datetime | None
) -> None:
    fetched = [dataclasses.replace(s, updated_at=updated_at) for s in stored.values()]
    result = diff_fleet(stored, fetched)
    assert result.is_empty
    assert result.transitions == []


def test_a_new_name_refreshes_the_bot_without_a_transition() -> None:
    result = diff_fleet({("b1", ""): make_snapshot()}, [make_snapshot(name="Billing Bot v2")])
    assert [s.name for s in result.refreshed] == ["Billing Bot v2"]
    assert result.changed == ()
    assert not result.is_empty


def test_a_new_manual_operation_refreshes_the_bot() -> None:
    stop = ManualOperation("stop", "Jane Ops", T0)
    result = diff_fleet({("b1", ""): make_snapshot()}, [make_snapshot(manual=stop)])
    assert [s.manual for s in result.refreshed] == [stop]


def test_a_bot_going_down_is_a_changed_bot_with_its_health() -> None:
    stored = {("b1", ""): make_snapshot(), ("b2", ""): make_snapshot("b2")}
    fetched = [make_snapshot(server="NOT_CONNECTED"), make_snapshot("b2"), make_snapshot("b3")]
    result = diff_fleet(stored, fetched)
    [change] = result.changed
    assert (change.bot_id, change.old_health, change.new_health) == ("b1", Health.OK, Health.DOWN)
    assert [s.bot_id for s in result.added] == ["b3"]
    assert result.removed == ()


def test_a_bot_the_source_no_longer_lists_is_removed() -> None:
    result = diff_fleet(
        {("b1", ""): make_snapshot(), ("b2", ""): make_snapshot("b2")}, [make_snapshot()]
    )
    assert result.removed == (("b2", ""),)
    assert result.added == result.changed == result.refreshed == ()


def test_an_identical_fleet_is_an_empty_diff() -> None:
    stored = {
        ("b1", ""): make_snapshot(),
        ("b2", ""): make_snapshot("b2", connector="STOPPED"),
    }
    assert diff_fleet(stored, list(stored.values())).is_empty
