"""A maintenance window with two replicas of ``chatops serve`` on one PostgreSQL database:
set on one replica, cancelled on the other; its start and end are announced once, and the
bot that went down during it is alerted once, whichever replica leads.

The window is ended by its cancel, not by waiting for it to run out.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import PERSONAS
from chatops.sandbox.slack import RunningServer as SlackServer
from chatops.sandbox.slack_client import SlackUser
from tests.alerts_runner import BILLING
from tests.replica_runner import ReplicaCluster, query
from tests.test_alerts_storm import healthy_bots
from tests.test_replicas import REPLICA_CONFIG, migrate_and_start, replica_environment
from tests.waiting import wait_until

pytestmark = pytest.mark.postgres


@pytest.fixture
def two_replicas(
    tmp_path: Path, fresh_postgres_url: str, fake_lp: LPServer, fake_slack: SlackServer
) -> Iterator[ReplicaCluster]:
    cluster = ReplicaCluster(
        tmp_path,
        replica_environment(fresh_postgres_url, fake_lp, fake_slack),
        REPLICA_CONFIG,
        count=2,
    )
    try:
        yield cluster
    finally:
        cluster.stop()


def texts(slack: SlackServer) -> list[str]:
    return [message["text"] for message in slack.fake.messages(BILLING)]


def test_two_replicas_announce_a_window_once_and_alert_what_it_hid_once(
    two_replicas: ReplicaCluster,
    fresh_postgres_url: str,
    fake_lp: LPServer,
    fake_slack: SlackServer,
) -> None:
    url = fresh_postgres_url
    migrate_and_start(two_replicas, url)
    first, second = (
        SlackUser(fake_slack.fake, PERSONAS["alice"], f"{replica.url}/slack/events")
        for replica in two_replicas.replicas
    )
    bot = next(b for b in healthy_bots(fake_lp.fake) if b["botName"].startswith("billing"))
    name = bot["botName"]

    set_reply = first.command(f"maintenance {name} now 1h replica test")
    assert set_reply.status_code == 200 and "Maintenance window" in set_reply.text
    wait_until(lambda: f"Maintenance of {name} began" in texts(fake_slack), what="the start")

    fake_lp.fake.set_fields(bot["botId"], cbSocketStatus="NOT_CONNECTED")
    # The leader's policy confirms the outage (confirm_polls: 1) while the window hides it.
    wait_until(
        lambda: (
            query(
                url,
                "SELECT count(*) FROM alert_bot_state WHERE bot_id = :bot AND state LIKE :down",
                bot=bot["botId"],
                down='%"announced":"down"%',
            )[0][0]
            == 1
        ),
        what="the outage confirmed during the window",
    )
    cancel_reply = second.command("maintenance cancel 1")
    assert cancel_reply.status_code == 200 and "ended now" in cancel_reply.text
    wait_until(lambda: f"{name} is Down" in texts(fake_slack), what="the alert at the end")
    wait_until(
        lambda: (
            query(url, "SELECT count(*) FROM alert_outbox WHERE status IN ('pending', 'sending')")[
                0
            ][0]
            == 0
        ),
        what="the outbox empty",
    )
    assert texts(fake_slack) == [
        f"Maintenance of {name} began",
        f"Maintenance of {name} ended",
        f"{name} is Down",
    ]
    ended = fake_slack.fake.messages(BILLING)[1]["blocks"][0]["text"]["text"]
    assert f"{name}: Down (alerted now)" in ended
