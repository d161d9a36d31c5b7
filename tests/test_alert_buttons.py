"""An outage alert's Restart button, end to end: the real poller and relay post the alert in
the fake Slack, a signed ``block_actions`` click on it goes through the real ASGI app and
Bolt to the bot's Restart (the one of ``/botstatus <bot>``), and the fake LivePerson records
every Start and Stop it received."""

from __future__ import annotations

from typing import Any

from chatops.blockkit.limits import violations
from chatops.config import PermissionRule
from chatops.sandbox.slack import block_errors
from chatops.store.models import Bot
from tests.fixtures.app import TEST_PERMISSIONS, AppUnderTest, MakeApp
from tests.test_acks import ALERTS, alert_about, alerting, ephemeral_saying, fail, text_of
from tests.test_slack_app import _settled
from tests.test_slack_connectors import buttons, healthy_bot, sent, users_of

RESTART = "bot_restart"


def down_alert(app: AppUnderTest) -> tuple[Bot, dict[str, Any]]:
    """A billing bot of two connectors that has just gone down, and its alert."""
    bot = healthy_bot(app, 2, "billing")
    fail(app, bot.id)
    return bot, alert_about(app, bot.name)


def restart_button(alert: dict[str, Any]) -> dict[str, Any]:
    (button,) = [b for b in buttons(alert) if b["action_id"] == RESTART]
    return button


def click(app: AppUnderTest, user: str, alert: dict[str, Any]) -> None:
    assert app.users[user].click(alert, RESTART, channel=ALERTS).status_code == 200


def test_an_outage_alert_has_restart_behind_a_confirm_within_slack_limits(
    make_app: MakeApp, sqlite_url: str
) -> None:
    app = make_app(sqlite_url, alerts=alerting())
    bot, alert = down_alert(app)

    assert [b["action_id"] for b in buttons(alert)] == ["bot_stop", RESTART]
    restart = restart_button(alert)
    assert restart["text"]["text"] == "Restart" and restart["value"] == bot.id
    dialog = restart["confirm"]
    assert dialog["title"]["text"] == f"Restart {bot.name}?"
    assert dialog["confirm"]["text"] == "Restart 2 connectors"
    assert "Restarts (stops, then starts) all 2 connectors" in dialog["text"]["text"]
    for user in users_of(app, bot):
        assert user in dialog["text"]["text"]
    assert violations(alert, surface="message") == []
    assert block_errors(alert["blocks"]) == []


def test_alice_restarts_every_connector_of_the_bot_once_even_on_a_double_click(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, alerts=alerting())
    bot, alert = down_alert(app)
    users = users_of(app, bot)

    click(app, "alice", alert)
    click(app, "alice", alert)
    entries = _settled(app, 2 * len(users))

    sequence = sent(app, bot.id)
    assert sorted(sequence) == sorted([("stop", u) for u in users] + [("start", u) for u in users])
    for user in users:
        assert sequence.index(("stop", user)) < sequence.index(("start", user))
    assert sorted((e.action, e.outcome) for e in entries) == sorted(
        [("restart", "ok")] * len(users) + [("restart", "duplicate")] * len(users)
    )
    assert {e.user_id for e in entries} == {"U0ALICE"}
    # What was done goes into the alert's thread, for the whole channel.
    fake = app.fake_slack
    fake.wait_for(
        lambda: any(
            "restarted" in text_of(reply)
            for m in fake.messages(ALERTS)
            if m["ts"] == alert["ts"]
            for reply in m["replies"]
        ),
        what="the restart told in the alert's thread",
    )


def test_bob_a_viewer_and_charlie_are_refused_and_nothing_reaches_liveperson(
    make_app: MakeApp, sqlite_url: str
) -> None:
    app = make_app(sqlite_url, alerts=alerting())
    bot, alert = down_alert(app)

    click(app, "bob", alert)
    click(app, "charlie", alert)
    entries = _settled(app, 2)

    assert sorted((e.user_id, e.action, e.target, e.outcome) for e in entries) == [
        ("U0BOB", "restart", bot.id, "refused"),
        ("U0CHARLIE", "restart", bot.id, "refused"),
    ]
    assert "permission" in text_of(ephemeral_saying(app, "bob", "permission"))
    assert "permission" in text_of(ephemeral_saying(app, "charlie", "permission"))
    assert sent(app) == []
    (now,) = [m for m in app.fake_slack.messages(ALERTS) if m["ts"] == alert["ts"]]
    assert now["replies"] == []


def test_someone_who_may_start_but_not_stop_the_bot_is_refused_a_restart(
    make_app: MakeApp, sqlite_url: str
) -> None:
    # bob may start billing bots, and not stop them: a Restart stops, so it is refused.
    rules = (
        *TEST_PERMISSIONS,
        PermissionRule(users=("U0BOB",), allow=("start",), bots=("billing*",)),
    )
    app = make_app(sqlite_url, alerts=alerting(), permissions=rules)
    bot, alert = down_alert(app)

    click(app, "bob", alert)
    (entry,) = _settled(app, 1)

    assert (entry.user_id, entry.action, entry.target, entry.outcome) == (
        "U0BOB",
        "restart",
        bot.id,
        "refused",
    )
    assert "*stop* permission" in text_of(ephemeral_saying(app, "bob", "permission"))
    assert sent(app) == []
