"""Agent connectors in Slack, end to end: details list every connector with its own buttons,
bot-level actions reach every connector once, Restart stops then starts, and
``/botstatus restart <bot|glob>`` asks first and re-checks on click.

Signed requests go through the real ASGI app and Bolt to the real store; the fake LivePerson
serves bots of one, two and four connectors and a PCS bot, and records every Start and Stop
with its body, so a test sees which connector each one named, in order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from chatops.blockkit.limits import violations
from chatops.sandbox.liveperson import RunningServer as LPServer
from chatops.sandbox.slack import RunningServer as SlackServer
from chatops.slack import blocks
from chatops.store.models import Bot, Connector
from tests.fixtures.app import AppUnderTest, app_settings, start_app
from tests.test_slack_app import _audit, _settled


@pytest.fixture
def app(fake_lp: LPServer, fake_slack: SlackServer, sqlite_url: str) -> Iterator[AppUnderTest]:
    yield from start_app(app_settings(fake_lp, fake_slack, sqlite_url), fake_lp, fake_slack)


@pytest.fixture
def both_backends_app(
    fake_lp: LPServer, fake_slack: SlackServer, database_url: str
) -> Iterator[AppUnderTest]:
    yield from start_app(app_settings(fake_lp, fake_slack, database_url), fake_lp, fake_slack)


def sent(app: AppUnderTest, bot_id: str | None = None) -> list[tuple[str, str]]:
    """(operation, bot user) of each Start and Stop the fake LivePerson received, oldest
    first, read from the bodies it recorded (``lpAccountUser`` names the connector)."""
    return [
        (str(r["path"]).rsplit("/", 2)[-2], r["body"]["lpAccountUser"])
        for r in app.lp.fake.requests()
        if r["method"] == "PUT" and (bot_id is None or str(r["path"]).endswith(f"/{bot_id}"))
    ]


# -- reading the app's state ----------------------------------------------------------------


def stored(app: AppUnderTest) -> tuple[list[Bot], dict[str, list[Connector]]]:
    async def load() -> tuple[list[Bot], dict[str, list[Connector]]]:
        async with app.runtime.sessions() as session:
            bots = list((await session.exec(select(Bot))).all())
            connectors: dict[str, list[Connector]] = {}
            for connector in (await session.exec(select(Connector))).all():
                connectors.setdefault(connector.bot_id, []).append(connector)
        return bots, connectors

    return app.run(load())


def healthy_bot(app: AppUnderTest, connectors: int, prefix: str = "") -> Bot:
    """A custom Production bot whose ``connectors`` connectors are all OK."""
    bots, _ = stored(app)
    return next(
        bot
        for bot in sorted(bots, key=lambda b: b.name)
        if bot.kind == "custom"
        and bot.environment == "production"
        and bot.health == "ok"
        and bot.connectors == connectors
        and bot.name.startswith(prefix)
    )


def users_of(app: AppUnderTest, bot: Bot) -> list[str]:
    return sorted(c.bot_user for c in stored(app)[1][bot.id])


def text_of(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


def shown(app: AppUnderTest, user: str, text: str) -> dict[str, Any]:
    """``/botstatus text`` as ``user``: the ephemeral message Slack showed them."""
    response = app.users[user].command(text)
    assert response.status_code == 200, response.text
    message = app.fake_slack.ephemerals(app.users[user].user_id)[-1]
    assert violations(message, surface="message") == []
    return message


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def connector_button(message: dict[str, Any], action_id: str, bot_user: str) -> str:
    """The value of ``action_id``'s button of the connector ``bot_user``."""
    for element in buttons(message):
        named = blocks.parse_connector_value(element.get("value", ""))
        if element["action_id"] == action_id and named is not None and named[1] == bot_user:
            return str(element["value"])
    raise LookupError(f"no {action_id} button for {bot_user}")


def click(
    app: AppUnderTest, user: str, message: dict[str, Any], action_id: str, value: str | None = None
) -> None:
    assert app.users[user].click(message, action_id, value=value).status_code == 200


def ephemeral_with(app: AppUnderTest, user: str, words: str) -> dict[str, Any]:
    fake = app.fake_slack
    user_id = app.users[user].user_id

    def found() -> dict[str, Any] | None:
        return next((m for m in fake.ephemerals(user_id) if words in text_of(m)), None)

    fake.wait_for(lambda: found() is not None, timeout=20, what=f"a message saying {words!r}")
    message = found()
    assert message is not None
    return message


# -- details --------------------------------------------------------------------------------


def test_details_list_every_connector_of_bots_of_one_two_and_four_connectors(
    app: AppUnderTest,
) -> None:
    for count in (1, 2, 4):
        bot = healthy_bot(app, count)
        message = shown(app, "alice", bot.name)
        text = text_of(message)

        for user in users_of(app, bot):
            assert f"`{user}`" in text
        ids = [b["action_id"] for b in buttons(message) if b["action_id"] != "share"]
        assert ids[:2] == ["bot_stop", "bot_restart"]
        assert ids.count("connector_stop") == (count if count > 1 else 0)
        assert ids.count("connector_restart") == (count if count > 1 else 0)
        assert "connector_start" not in ids  # every connector is Online
        assert [b["text"]["text"] for b in buttons(message)][:2] == ["Stop", "Restart"]


def test_a_pcs_bot_shows_the_shared_survey_connector_and_how_many_bots_share_it(
    app: AppUnderTest,
) -> None:
    bots, _ = stored(app)
    survey = next(bot for bot in bots if bot.kind == "pcs")
    pcs_count = sum(1 for bot in bots if bot.kind == "pcs")

    message = shown(app, "alice", survey.name)
    stop = next(b for b in buttons(message) if b["action_id"] == "bot_stop")

    assert "`Survey Connector`" in text_of(message)
    assert not any(b["action_id"].startswith("connector_") for b in buttons(message))
    assert f"all {pcs_count} survey bots will stop" in stop["confirm"]["text"]["text"]


def test_a_query_naming_a_bot_user_shows_its_bot_with_that_connector_first(
    app: AppUnderTest,
) -> None:
    bot = healthy_bot(app, 4)
    last = users_of(app, bot)[-1]

    message = shown(app, "alice", last)
    text = text_of(message)

    assert bot.name in text
    assert text.index(f"`{last}` *OK*") < min(
        text.index(f"`{user}` *OK*") for user in users_of(app, bot)[:-1]
    )


def test_bob_sees_only_the_buttons_he_may_use(app: AppUnderTest) -> None:
    faq = healthy_bot(app, 4, "faq")
    billing = healthy_bot(app, 2, "billing")

    on_faq = [b["action_id"] for b in buttons(shown(app, "bob", faq.name))]
    on_billing = [b["action_id"] for b in buttons(shown(app, "bob", billing.name))]

    assert "bot_restart" in on_faq and "connector_stop" in on_faq
    assert on_billing == ["share"]


# -- one connector, every connector ---------------------------------------------------------


def test_a_connector_stop_by_alice_sends_exactly_that_connectors_bot_user(
    app: AppUnderTest,
) -> None:
    bot = healthy_bot(app, 4)
    third = users_of(app, bot)[2]
    message = shown(app, "alice", bot.name)

    click(
        app, "alice", message, "connector_stop", connector_button(message, "connector_stop", third)
    )
    (entry,) = _settled(app, 1)

    (request,) = [r for r in app.lp.fake.requests() if r["method"] == "PUT"]
    assert str(request["path"]).endswith(f"/stop/{bot.id}")
    assert request["body"] == {"lpAccountId": app.lp.fake.account_id, "lpAccountUser": third}
    assert (entry.action, entry.target, entry.bot_user, entry.outcome) == (
        "stop",
        bot.id,
        third,
        "ok",
    )
    result = ephemeral_with(app, "alice", "stopped the connector")
    assert f"`{third}`" in text_of(result)


def test_a_bot_level_stop_reaches_every_connector_once(app: AppUnderTest) -> None:
    bot = healthy_bot(app, 4)
    users = users_of(app, bot)
    message = shown(app, "alice", bot.name)
    stop = next(b for b in buttons(message) if b["action_id"] == "bot_stop")
    for user in users:
        assert f"`{user}`" in stop["confirm"]["text"]["text"]

    click(app, "alice", message, "bot_stop")
    entries = _settled(app, 4)

    assert sorted(sent(app, bot.id)) == [("stop", user) for user in users]
    assert sorted((e.bot_user, e.outcome) for e in entries) == [(u, "ok") for u in users]
    result = text_of(ephemeral_with(app, "alice", "(all 4 of its connectors)"))
    for user in users:
        assert f":white_check_mark: `{user}` stopped" in result


def test_restart_by_alice_stops_then_starts_each_connector_and_audits_each(
    both_backends_app: AppUnderTest,
) -> None:
    app = both_backends_app
    app.runtime.services.start_followup_every = timedelta(seconds=0.2)
    bot = healthy_bot(app, 2)
    users = users_of(app, bot)
    message = shown(app, "alice", bot.name)

    click(app, "alice", message, "bot_restart")
    entries = _settled(app, 2)

    sequence = sent(app, bot.id)
    assert sorted(sequence) == sorted([("stop", u) for u in users] + [("start", u) for u in users])
    for user in users:
        assert sequence.index(("stop", user)) < sequence.index(("start", user))
    assert sorted((e.action, e.bot_user, e.outcome) for e in entries) == [
        ("restart", user, "ok") for user in users
    ]
    # The fake brings them Online after its start delay; a poll sees it, the follow-up says so.
    app.fake_slack.wait_for(
        lambda: bool(app.poll()) and all(c.connector == "Online" for c in stored(app)[1][bot.id]),
        timeout=20,
        what="both connectors Online again in the store",
    )
    followup = text_of(ephemeral_with(app, "alice", "connectors are Online again"))
    for user in users:
        assert f"`{user}`: Online again, seen" in followup


def test_a_connector_restart_reaches_only_that_connector(app: AppUnderTest) -> None:
    bot = healthy_bot(app, 2)
    first, second = users_of(app, bot)
    message = shown(app, "alice", bot.name)

    click(
        app,
        "alice",
        message,
        "connector_restart",
        connector_button(message, "connector_restart", second),
    )
    _settled(app, 1)

    assert sent(app, bot.id) == [("stop", second), ("start", second)]
    assert first not in [user for _, user in sent(app)]


def test_a_pcs_restart_reaches_the_survey_connector_once(app: AppUnderTest) -> None:
    bots, _ = stored(app)
    survey = next(bot for bot in bots if bot.kind == "pcs")
    message = shown(app, "alice", survey.name)

    click(app, "alice", message, "bot_restart")
    (entry,) = _settled(app, 1)

    assert sent(app) == [("stop", "Survey Connector"), ("start", "Survey Connector")]
    assert entry.bot_user == "Survey Connector"
    assert "the shared survey connector" in text_of(ephemeral_with(app, "alice", "restarted"))


def test_a_double_click_on_restart_reaches_each_connector_once(app: AppUnderTest) -> None:
    bot = healthy_bot(app, 4)
    users = users_of(app, bot)
    message = shown(app, "alice", bot.name)

    click(app, "alice", message, "bot_restart")
    click(app, "alice", message, "bot_restart")
    entries = _settled(app, 8)

    assert sorted(sent(app, bot.id)) == sorted(
        [("stop", u) for u in users] + [("start", u) for u in users]
    )
    assert sorted(e.outcome for e in entries) == ["duplicate"] * 4 + ["ok"] * 4


def test_a_restart_click_delivered_twice_reaches_each_connector_once(app: AppUnderTest) -> None:
    bot = healthy_bot(app, 2)
    alice = app.users["alice"]
    delivery = alice.click_delivery(shown(app, "alice", bot.name), "bot_restart")

    assert alice.deliver(delivery).status_code == 200
    _settled(app, 2)
    assert alice.deliver(delivery).status_code == 200
    entries = _settled(app, 4)

    assert len(sent(app, bot.id)) == 4  # a stop and a start for each of two
    assert sorted(e.outcome for e in entries) == ["duplicate", "duplicate", "ok", "ok"]


# -- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize("action_id", ["bot_restart", "bot_stop", "connector_restart"])
def test_bob_cannot_restart_or_stop_a_bot_outside_his_globs_and_nothing_is_sent(
    app: AppUnderTest, action_id: str
) -> None:
    bot = healthy_bot(app, 2, "billing")
    # bob has no such buttons; he replays alice's.
    message = shown(app, "alice", bot.name)
    value = (
        connector_button(message, action_id, users_of(app, bot)[0])
        if action_id.startswith("connector_")
        else None
    )

    click(app, "bob", message, action_id, value)
    (entry,) = _settled(app, 1)

    assert (entry.user_id, entry.outcome) == ("U0BOB", "refused")
    assert sent(app) == []
    assert "*stop* permission" in text_of(ephemeral_with(app, "bob", "permission"))


def test_charlie_is_refused_everything_and_nothing_is_sent(app: AppUnderTest) -> None:
    bot = healthy_bot(app, 2)
    message = shown(app, "alice", bot.name)
    value = connector_button(message, "connector_restart", users_of(app, bot)[0])

    click(app, "charlie", message, "connector_restart", value)
    click(app, "charlie", message, "bot_restart")
    reply = app.users["charlie"].command(f"restart {bot.name}")

    entries = _settled(app, 3)
    assert [e.outcome for e in entries] == ["refused"] * 3
    assert "*start* permission" in text_of(reply.json())
    assert bot.name not in text_of(reply.json())
    assert sent(app) == []


def test_a_connector_button_whose_value_names_no_connector_does_nothing(app: AppUnderTest) -> None:
    bot = healthy_bot(app, 4)
    other = healthy_bot(app, 2)
    message = shown(app, "alice", bot.name)

    # A plain bot id must never become "every connector of the bot".
    click(app, "alice", message, "connector_stop", bot.id)
    # A connector of another bot is not one of this bot's.
    forged = blocks.connector_value(bot.id, users_of(app, other)[0])
    click(app, "alice", message, "connector_stop", forged)

    entries = _settled(app, 2)
    assert sorted(e.outcome for e in entries) == ["invalid", "unknown_bot"]
    assert sent(app) == []


# -- /botstatus restart <bot|glob> ----------------------------------------------------------


def planned(app: AppUnderTest, prefix: str) -> tuple[list[Bot], list[str]]:
    bots, connectors = stored(app)
    named = [b for b in bots if b.name.startswith(prefix) and b.removed_at is None]
    return named, [c.bot_user for b in named for c in connectors[b.id]]


def test_restart_of_a_glob_asks_first_then_restarts_exactly_those_connectors(
    app: AppUnderTest,
) -> None:
    app.runtime.services.start_followup_every = timedelta(seconds=0.2)
    bots, users = planned(app, "returns-")
    assert len(bots) >= 2 and len(users) > len(bots)

    request = shown(app, "alice", "restart returns-*")
    text = text_of(request)
    assert f"names *{len(bots)} bots* with *{len(users)} connectors*" in text
    assert sent(app) == []
    restart = next(b for b in buttons(request) if b["action_id"] == "restart_bots")
    assert restart["text"]["text"] == "Restart" and "confirm" in restart

    click(app, "alice", request, "restart_bots")
    entries = _settled(app, len(users))

    sequence = sent(app)
    assert sorted(u for op, u in sequence if op == "stop") == sorted(users)
    assert sorted(u for op, u in sequence if op == "start") == sorted(users)
    for user in users:
        assert sequence.index(("stop", user)) < sequence.index(("start", user))
    assert {e.target for e in entries} == {b.id for b in bots}
    assert all(e.action == "restart" and e.outcome == "ok" for e in entries)
    result = text_of(ephemeral_with(app, "alice", "restarted"))
    assert f"restarted {len(users)} connectors of {len(bots)} bots" in result

    app.fake_slack.wait_for(
        lambda: (
            bool(app.poll())
            and all(c.connector == "Online" for b in bots for c in stored(app)[1][b.id])
        ),
        timeout=20,
        what="every restarted connector Online in the store",
    )
    assert f"All {len(users)} connectors are Online again." in text_of(
        ephemeral_with(app, "alice", "connectors are Online again")
    )


def test_a_scoped_user_cannot_restart_a_glob_that_includes_other_bots(app: AppUnderTest) -> None:
    reply = app.users["bob"].command("restart *")
    text = text_of(reply.json())

    assert "names bots you may not restart" in text and "billing-bot" in text
    assert "Nothing was restarted" in text
    (entry,) = _settled(app, 1)
    assert (entry.user_id, entry.action, entry.target, entry.outcome) == (
        "U0BOB",
        "restart",
        "*",
        "refused",
    )
    # Within his globs he may.
    allowed = shown(app, "bob", "restart faq-*")
    assert any(b["action_id"] == "restart_bots" for b in buttons(allowed))
    assert sent(app) == []


def test_a_restart_button_is_rechecked_for_whoever_clicks_it(app: AppUnderTest) -> None:
    request = shown(app, "alice", "restart billing-*")

    click(app, "bob", request, "restart_bots")

    (entry,) = _settled(app, 1)
    assert (entry.user_id, entry.outcome) == ("U0BOB", "refused")
    assert sent(app) == []


def test_a_restart_confirmed_after_its_bots_changed_restarts_nothing(app: AppUnderTest) -> None:
    request = shown(app, "alice", "restart returns-*")
    renamed = healthy_bot(app, 2, "billing")
    app.lp.fake.set_fields(renamed.id, botName="returns-bot-99")
    result = app.poll()
    assert result is not None and result.ok

    click(app, "alice", request, "restart_bots")

    (entry,) = _settled(app, 1)
    assert entry.outcome == "changed"
    assert "changed since you asked" in text_of(ephemeral_with(app, "alice", "changed since"))
    assert sent(app) == []


def test_restart_of_nothing_says_so_and_offers_a_name(app: AppUnderTest) -> None:
    reply = shown(app, "alice", "restart billing-bto-1")

    assert "No bot matches `billing-bto-1`" in text_of(reply)
    assert "restart billing-bot-1" in text_of(reply)
    assert _audit(app) == []


# -- summary, App Home, history -------------------------------------------------------------


def degrade(app: AppUnderTest) -> tuple[Bot, str]:
    """One connector of a two-connector bot loses its Bot Server: the bot is Degraded."""
    bot = healthy_bot(app, 2, "billing")
    user = users_of(app, bot)[1]
    app.lp.fake.set_fields(bot.id, user, cbSocketStatus="NOT_CONNECTED")
    result = app.poll()
    assert result is not None and result.ok
    return bot, user


def test_the_summary_shows_degraded_bots_and_the_agent_counts(app: AppUnderTest) -> None:
    bot, _ = degrade(app)
    _, connectors = stored(app)
    listed = [c for rows in connectors.values() for c in rows if c.removed_at is None]
    pcs = [c for c in listed if c.bot_user == "Survey Connector"]
    agents = len(listed) - len(pcs) + (1 if pcs else 0)

    text = text_of(shown(app, "alice", ""))

    assert ":large_orange_circle: *1* Degraded" in text
    assert f"*{agents}* agents" in text
    assert "not connected to Bot Server" in text
    assert bot.name in text and "1 of 2 connectors OK" in text


def test_app_home_shows_degraded_bots_and_the_agent_counts(app: AppUnderTest) -> None:
    bot, _ = degrade(app)
    fake = app.fake_slack

    assert app.users["alice"].open_home().status_code == 200
    fake.wait_for(lambda: fake.home("U0ALICE") is not None)
    home = fake.home("U0ALICE")
    assert home is not None

    assert violations(home, surface="home") == []
    assert "Degraded" in text_of(home) and "agents:" in text_of(home)
    assert f"*{bot.name}* Degraded for" in text_of(home)


def test_history_names_the_connector_of_each_transition_and_counts_degraded_time(
    app: AppUnderTest,
) -> None:
    bot, user = degrade(app)

    text = text_of(shown(app, "alice", f"history {bot.name}"))

    assert f"`{user}` · Bot Server: Connected → Not Connected · :red_circle: Down" in text
    assert ":large_orange_circle: Degraded" in text
