"""Time in each health for ``/botstatus history``: the bot's rolled-up health, rebuilt from
its connectors' transitions (each carries that connector's health before and after)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chatops.domain import Health
from chatops.slack.time_in_health import time_in_health
from chatops.store.models import Bot, Connector, TransitionRecord

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DAY_AGO = NOW - timedelta(days=1)
LONG_AGO = NOW - timedelta(days=30)


def bot(health: Health, first_seen: datetime = LONG_AGO) -> Bot:
    return Bot(
        id="b1",
        name="care-bot-1",
        kind="custom",
        channel="messaging",
        environment="production",
        health=health.value,
        health_since=LONG_AGO,
        first_seen=first_seen,
    )


def connector(
    user: str,
    health: Health,
    *,
    first_seen: datetime = LONG_AGO,
    removed_at: datetime | None = None,
) -> Connector:
    return Connector(
        bot_id="b1",
        bot_user=user,
        name="care-bot-1",
        kind="custom",
        channel="messaging",
        environment="production",
        connector="Online",
        cloud="Connected",
        server="Connected",
        raw_connector="ONLINE",
        raw_cloud="CONNECTED",
        raw_server="CONNECTED",
        health=health.value,
        health_since=LONG_AGO,
        connector_since=LONG_AGO,
        cloud_since=LONG_AGO,
        server_since=LONG_AGO,
        first_seen=first_seen,
        removed_at=removed_at,
    )


def change(
    user: str, hours_ago: float, old: Health, new: Health, dimension: str = "server"
) -> TransitionRecord:
    return TransitionRecord(
        bot_id="b1",
        bot_user=user,
        at=NOW - timedelta(hours=hours_ago),
        dimension=dimension,
        old="Connected",
        new="Not Connected",
        old_raw="CONNECTED",
        new_raw="NOT_CONNECTED",
        old_health=old.value,
        new_health=new.value,
    )


def hours(spent: dict[Health, timedelta]) -> dict[Health, float]:
    return {health: duration / timedelta(hours=1) for health, duration in spent.items()}


def test_one_connector_of_two_down_for_an_hour_is_an_hour_degraded() -> None:
    connectors = [connector("a", Health.OK), connector("b", Health.OK)]
    transitions = [change("a", 2, Health.OK, Health.DOWN), change("a", 1, Health.DOWN, Health.OK)]

    spent = time_in_health(bot(Health.OK), connectors, transitions, DAY_AGO, NOW)

    assert hours(spent) == {Health.OK: 23, Health.DEGRADED: 1}


def test_both_connectors_down_at_once_is_down_and_one_of_them_degraded() -> None:
    connectors = [connector("a", Health.OK), connector("b", Health.DOWN)]
    transitions = [
        change("a", 3, Health.OK, Health.DOWN),
        change("b", 2.5, Health.OK, Health.DOWN),
        change("a", 2, Health.DOWN, Health.OK),
    ]

    spent = time_in_health(bot(Health.DEGRADED), connectors, transitions, DAY_AGO, NOW)

    assert hours(spent) == {Health.OK: 21, Health.DEGRADED: 2.5, Health.DOWN: 0.5}


def test_rows_of_one_poll_count_once() -> None:
    connectors = [connector("a", Health.STOPPED), connector("b", Health.OK)]
    transitions = [
        change("a", 1, Health.OK, Health.STOPPED, dimension)
        for dimension in ("connector", "cloud", "server")
    ]

    spent = time_in_health(bot(Health.DEGRADED), connectors, transitions, DAY_AGO, NOW)

    assert hours(spent) == {Health.OK: 23, Health.DEGRADED: 1}


def test_a_connector_counts_only_while_the_bot_has_it() -> None:
    added = connector("b", Health.DOWN, first_seen=NOW - timedelta(hours=4))
    removed = connector("c", Health.DOWN, removed_at=NOW - timedelta(hours=20))
    connectors = [connector("a", Health.OK), added, removed]

    spent = time_in_health(bot(Health.DEGRADED), connectors, [], DAY_AGO, NOW)

    # c (down) until 20 h ago, nothing else wrong until b (down) arrived 4 h ago.
    assert hours(spent) == {Health.DEGRADED: 8, Health.OK: 16}


def test_time_before_the_bot_was_first_seen_is_not_counted() -> None:
    connectors = [connector("a", Health.OK, first_seen=NOW - timedelta(hours=5))]

    spent = time_in_health(
        bot(Health.OK, first_seen=NOW - timedelta(hours=5)), connectors, [], DAY_AGO, NOW
    )

    assert hours(spent) == {Health.OK: 5}


def test_a_connector_known_only_from_its_transitions_still_counts() -> None:
    transitions = [change("gone", 6, Health.OK, Health.DOWN)]

    spent = time_in_health(bot(Health.DOWN), [], transitions, DAY_AGO, NOW)

    assert hours(spent) == {Health.OK: 18, Health.DOWN: 6}
