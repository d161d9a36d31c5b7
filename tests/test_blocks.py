"""Block Kit renderers: Slack's limits at 0, 1, 50 and 10,000 bots, escaping, wording, paging."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chatops.blockkit.limits import LimitsExceeded, Surface, assert_within_limits, violations
from chatops.domain import BotKind, Cloud, ConnectorStatus, Environment, Health, Server, health
from chatops.domain import bot_health as domain_bot_health
from chatops.sandbox.slack import block_errors
from chatops.slack import blocks, grammar
from chatops.slack.restart import RestartPlan
from chatops.slack.results import ActionResult, ConnectorOutcome, ConnectorWatch, Outcome
from chatops.store.cards import BotCard
from chatops.store.models import Bot, Connector, TransitionRecord

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SIZES = [0, 1, 50, 10_000]

# Statuses that give each connector health, so that rows are as the poller would store them.
STATUSES_FOR = {
    Health.OK: (ConnectorStatus.ONLINE, Cloud.CONNECTED, Server.CONNECTED),
    Health.DOWN: (ConnectorStatus.ONLINE, Cloud.NOT_CONNECTED, Server.CONNECTED),
    Health.AWAY: (ConnectorStatus.ONLINE, Cloud.AWAY, Server.CONNECTED),
    Health.STOPPED: (ConnectorStatus.STOPPED, Cloud.NOT_CONNECTED, Server.NOT_CONNECTED),
    Health.READY: (ConnectorStatus.READY_TO_START, Cloud.NOT_CONNECTED, Server.NOT_CONNECTED),
    Health.UNKNOWN: (ConnectorStatus.UNKNOWN, Cloud.CONNECTED, Server.CONNECTED),
}
HEALTH_CYCLE = [Health.OK] * 5 + [
    Health.DEGRADED,
    Health.DOWN,
    Health.AWAY,
    Health.STOPPED,
    Health.UNKNOWN,
]


def make_connector(
    bot_id: str,
    bot_user: str,
    state: Health = Health.OK,
    *,
    since: datetime = NOW - timedelta(hours=3, minutes=5),
    raw_connector: str | None = None,
    name: str = "bot",
) -> Connector:
    connector, cloud, server = STATUSES_FOR[state]
    assert health(connector, cloud, server) is state
    return Connector(
        bot_id=bot_id,
        bot_user=bot_user,
        name=name,
        kind="custom",
        channel="messaging",
        environment="production",
        connector=connector.value,
        cloud=cloud.value,
        server=server.value,
        raw_connector=raw_connector or connector.value.upper().replace(" ", "_"),
        raw_cloud=cloud.value.upper().replace(" ", "_"),
        raw_server=server.value.upper().replace(" ", "_"),
        health=state.value,
        health_since=since,
        connector_since=since,
        cloud_since=since - timedelta(days=1),
        server_since=since - timedelta(days=2),
        account_user=bot_user,
        first_seen=since - timedelta(days=30),
    )


def make_bot(
    number: int = 0,
    *,
    name: str | None = None,
    state: Health = Health.OK,
    kind: BotKind = BotKind.CUSTOM,
    environment: Environment = Environment.PRODUCTION,
    since: datetime = NOW - timedelta(hours=3, minutes=5),
    raw_connector: str | None = None,
    connectors: int = 1,
    states: list[Health] | None = None,
) -> BotCard:
    """A bot with its connectors; ``states`` are theirs, else each is ``state`` (Degraded:
    the first OK, the second Down, the others OK)."""
    bot_id = f"lp-{number:06d}"
    name = name if name is not None else f"bot-{number:05d}"
    if states is None:
        if state is Health.DEGRADED:
            connectors = max(connectors, 2)
            states = [Health.OK, Health.DOWN] + [Health.OK] * (connectors - 2)
        else:
            states = [state] * connectors
    if kind is BotKind.PCS:
        users = ["Survey Connector"]
        states = states[:1]
    elif len(states) == 1:
        users = [name.replace("-", "_")[:200]]
    else:
        users = [f"{name.replace('-', '_')[:190]}_{index}" for index in range(len(states))]
    rows = tuple(
        make_connector(bot_id, user, connector_state, since=since, raw_connector=raw_connector)
        for user, connector_state in zip(users, states, strict=True)
    )
    bot = Bot(
        id=bot_id,
        name=name,
        kind=kind.value,
        channel="messaging",
        environment=environment.value,
        health=domain_bot_health(states).value,
        health_since=since,
        connectors=len(rows),
        connectors_ok=sum(1 for s in states if s is Health.OK),
        first_seen=since - timedelta(days=30),
    )
    return BotCard(bot, rows)


def fleet(size: int) -> list[BotCard]:
    # Built once per size: 10,000 bots of 1 to 4 connectors take a while, and renderers
    # only read them.
    return list(_fleet(size))


@functools.cache
def _fleet(size: int) -> tuple[BotCard, ...]:
    return tuple(
        make_bot(
            number,
            state=HEALTH_CYCLE[number % len(HEALTH_CYCLE)],
            kind=BotKind.PCS if number % 3 == 0 else BotKind.CUSTOM,
            environment=Environment.DEMO if number % 7 == 0 else Environment.PRODUCTION,
            since=NOW - timedelta(minutes=number % 1000),
            connectors=number % 4 + 1,
        )
        for number in range(size)
    )


def rows(cards: list[BotCard]) -> list[Bot]:
    return [card.bot for card in cards]


def transitions(size: int) -> list[TransitionRecord]:
    return list(_transitions(size))


@functools.cache
def _transitions(size: int) -> tuple[TransitionRecord, ...]:
    return tuple(
        TransitionRecord(
            bot_id="lp-000000",
            bot_user=f"bot_00000_{number % 3}",
            at=NOW - timedelta(minutes=10 * number),
            dimension="cloud",
            old="Connected" if number % 2 else "Not Connected",
            new="Not Connected" if number % 2 else "Connected",
            old_raw="CONNECTED",
            new_raw="NOT_CONNECTED",
            old_health="ok",
            new_health="down" if number % 2 else "ok",
            manual=number % 5 == 0,
            performed_by="Jane <Ops>" if number % 5 == 0 else None,
        )
        for number in range(size)
    )


def outcomes(card: BotCard, outcome: Outcome = Outcome.OK) -> tuple[ConnectorOutcome, ...]:
    return tuple(
        ConnectorOutcome(c.bot_user, outcome, "LivePerson <said> no" * 20, c)
        for c in card.connectors
    )


def plan_of(cards: list[BotCard], target: str = "bot-*") -> RestartPlan:
    return RestartPlan(target, tuple(cards), pcs_count=sum(1 for c in cards if c.kind == "pcs"))


def everyone(bot: BotCard) -> bool:
    return True


def nobody(bot: BotCard) -> bool:
    return False


def within_limits(payload: dict[str, Any], surface: Surface) -> None:
    """Our validator and the fake Slack's (written separately) must both accept it."""
    assert violations(payload, surface=surface) == []
    limit = 50 if surface == "message" else 100
    assert block_errors(payload["blocks"], limit=limit) == []


def mrkdwn_texts(payload: Any) -> str:
    """Every string Slack reads as mrkdwn (where <!channel> would ping), the fallback included."""
    found = []
    if isinstance(payload, dict):
        if payload.get("type") == "mrkdwn" or isinstance(payload.get("blocks"), list):
            if isinstance(payload.get("text"), str):
                found.append(payload["text"])
        for value in payload.values():
            found.append(mrkdwn_texts(value))
    elif isinstance(payload, list):
        found += [mrkdwn_texts(item) for item in payload]
    return "\n".join(text for text in found if text)


def all_text(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


def buttons(payload: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for block in payload["blocks"]:
        if block["type"] == "actions":
            found += block["elements"]
    return found


def button(payload: dict[str, Any], action_id: str) -> dict[str, Any] | None:
    return next((b for b in buttons(payload) if b["action_id"] == action_id), None)


def action_ids(payload: dict[str, Any]) -> list[str]:
    return [b["action_id"] for b in buttons(payload) if b["action_id"] != "share"]


def section_texts(payload: dict[str, Any]) -> str:
    texts = []
    for block in payload["blocks"]:
        if "text" in block and isinstance(block["text"], dict):
            texts.append(block["text"]["text"])
        texts += [field["text"] for field in block.get("fields", [])]
        texts += [
            e.get("text", "") for e in block.get("elements", []) if block["type"] == "context"
        ]
    return "\n".join(texts)


def value_of(payload: dict[str, Any], action_id: str) -> str:
    found = button(payload, action_id)
    assert found is not None, f"no {action_id} button"
    return str(found["value"])


def details(
    cards: list[BotCard],
    *,
    query: str = "bot",
    can_start: Callable[[BotCard], bool] = everyone,
    can_stop: Callable[[BotCard], bool] = everyone,
    pcs_count: int = 0,
) -> dict[str, Any]:
    return blocks.bot_details(
        cards, NOW, query=query, can_start=can_start, can_stop=can_stop, pcs_count=pcs_count
    )


def agents(cards: list[BotCard]) -> blocks.AgentCounts:
    return blocks.fleet_agent_counts(
        rows(cards), {card.id: blocks.agent_counts(card.connectors) for card in cards}
    )


def watches(cards: list[BotCard]) -> list[ConnectorWatch]:
    return [
        ConnectorWatch(
            card.id,
            card.name,
            c.bot_user,
            c,
            c,
            timedelta(seconds=40) if index % 2 else None,
        )
        for card in cards
        for index, c in enumerate(card.connectors)
    ]


RENDERERS: dict[str, tuple[Surface, Callable[[list[BotCard]], dict[str, Any]]]] = {
    "summary": (
        "message",
        lambda cards: blocks.summary(
            blocks.health_counts(rows(cards)),
            [bot for bot in rows(cards) if blocks.bot_health(bot).is_problem],
            timedelta(seconds=45),
            NOW,
            total=len(cards),
            agents=agents(cards),
        ),
    ),
    "bot_details": ("message", lambda cards: details(cards, pcs_count=len(cards))),
    "problems first page": ("message", lambda cards: blocks.problems(rows(cards), NOW, 1)),
    "problems last page": ("message", lambda cards: blocks.problems(rows(cards), NOW, 10**6)),
    "all first page": ("message", lambda cards: blocks.all_bots(rows(cards), 1, NOW)),
    "all middle page": ("message", lambda cards: blocks.all_bots(rows(cards), 3, NOW)),
    "history": (
        "message",
        lambda cards: blocks.history(
            make_bot().bot,
            transitions(len(cards)),
            {Health.OK: timedelta(hours=20), Health.DOWN: timedelta(hours=4)},
            {health: timedelta(hours=len(cards) % 24 + 1) for health in Health},
            NOW,
        ),
    ),
    "home": (
        "home",
        lambda cards: blocks.home_view(
            rows(cards),
            blocks.health_counts(rows(cards)),
            Environment.PRODUCTION,
            timedelta(minutes=2),
            NOW,
            agents=agents(cards),
        ),
    ),
    "action result": (
        "message",
        lambda cards: blocks.action_result(
            (cards or [make_bot()])[0],
            "stop",
            "U0ALICE",
            NOW,
            "ok",
            pcs_count=len(cards),
            connectors=outcomes((cards or [make_bot()])[0]),
        ),
    ),
    "restart request": ("message", lambda cards: blocks.restart_request(plan_of(cards))),
    "restart refused": (
        "message",
        lambda cards: blocks.restart_refused("bot-*", cards, others=True),
    ),
    "restart result": (
        "message",
        lambda cards: blocks.restart_result(
            "U0ALICE",
            NOW,
            "bot-*",
            [(card, ActionResult(Outcome.OK, "", card.bot, 1, outcomes(card))) for card in cards],
        ),
    ),
    "follow-up": (
        "message",
        lambda cards: blocks.followup(watches(cards), "restart", timedelta(minutes=10)),
    ),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("renderer", list(RENDERERS))
def test_every_renderer_stays_within_slacks_limits(renderer: str, size: int) -> None:
    surface, render = RENDERERS[renderer]

    within_limits(render(fleet(size)), surface)


@pytest.mark.parametrize("connectors", [1, 2, 4, 10, 60])
@pytest.mark.parametrize("renderer", list(RENDERERS))
def test_one_bot_of_many_connectors_stays_within_limits(renderer: str, connectors: int) -> None:
    surface, render = RENDERERS[renderer]
    states = [Health.DOWN, *[Health.OK] * (connectors - 1)]

    within_limits(render([make_bot(state=Health.DOWN, states=states)]), surface)


@pytest.mark.parametrize("renderer", list(RENDERERS))
def test_ten_bots_of_ten_connectors_stay_within_limits(renderer: str) -> None:
    surface, render = RENDERERS[renderer]
    cards = [make_bot(n, state=Health.DEGRADED, connectors=10) for n in range(10)]

    within_limits(render(cards), surface)


@pytest.mark.parametrize("renderer", list(RENDERERS))
def test_a_300_character_name_of_markup_stays_within_limits(renderer: str) -> None:
    surface, render = RENDERERS[renderer]
    # Every character escapes to five ("&amp;"), the worst case for length.
    cards = [
        make_bot(1, name="&" * 300, state=Health.DOWN, kind=BotKind.PCS),
        make_bot(2, name="<" * 300, state=Health.DEGRADED, connectors=10),
    ]

    within_limits(render(cards), surface)


def test_a_long_name_is_cut_with_an_ellipsis() -> None:
    card = make_bot(name="n" * 300)

    payload = details([card], query="n")
    header = blocks.history(card.bot, [], {}, {}, NOW)["blocks"][0]["text"]["text"]

    assert "n" * (blocks.DETAIL_NAME - 1) + "…*" in section_texts(payload)
    assert "n" * 300 not in all_text(payload)
    assert header.endswith("…") and len(header) == 150


@pytest.mark.parametrize("size", [1, 10_000])
def test_a_bot_named_like_a_mention_pings_nobody(size: int) -> None:
    hostile = make_bot(
        name="<!channel> & <@U0ALICE> <https://evil|click>", state=Health.DEGRADED, connectors=3
    )
    cards = [hostile, *fleet(size)[1:]]

    for renderer, (_, render) in RENDERERS.items():
        payload = render(cards)
        if renderer == "history":
            payload = blocks.history(hostile.bot, [], {}, {}, NOW)
        mrkdwn = mrkdwn_texts(payload)
        assert "<!channel>" not in mrkdwn, renderer
        assert "<@U0ALICE>" not in mrkdwn or renderer in ("action result", "restart result")
        assert "<https://evil" not in mrkdwn, renderer


def test_escaping_shows_the_name_as_written() -> None:
    hostile = make_bot(name="<!channel> & co", state=Health.DOWN)

    payload = details([hostile], query="co", can_start=nobody, can_stop=nobody)

    assert "*&lt;!channel&gt; &amp; co*" in section_texts(payload)
    assert payload["text"] == "&lt;!channel&gt; &amp; co: Down"


def test_an_unknown_status_shows_the_raw_value() -> None:
    one = make_bot(state=Health.UNKNOWN, raw_connector="REBOOTING`<x>")
    two = make_bot(1, states=[Health.OK, Health.UNKNOWN], raw_connector="REBOOTING`<x>")

    for card in (one, two):
        text = section_texts(details([card], can_start=nobody, can_stop=nobody))
        assert "*Bot Agent Connector*\nUnknown (`REBOOTING'&lt;x&gt;`)" in text


def test_details_show_each_status_since_when_kind_channel_environment_and_manual_operation() -> (
    None
):
    card = make_bot(state=Health.STOPPED, kind=BotKind.PCS, environment=Environment.DEMO)
    card.bot.manual_operation, card.bot.manual_by, card.bot.manual_at = "stop", "Jane Doe", NOW
    connector = card.connectors[0]
    epoch = int(connector.connector_since.timestamp())

    text = section_texts(details([card], query="x", can_start=nobody, can_stop=nobody, pcs_count=4))

    assert (
        f"*Bot Agent Connector*\nStopped\nsince <!date^{epoch}^{{date_short_pretty}} {{time}}"
        "|2026-03-02 08:55 UTC> (3h 5m)"
    ) in text
    assert "*Conversational Cloud*\nNot Connected\nsince" in text
    assert "(1d 3h)" in text and "(2d 3h)" in text
    assert "*Bot user*\n`Survey Connector`" in text
    assert "*Kind*\nPCS (shares the survey connector with 4 survey bots)" in text
    assert "*Channel*\nMessaging" in text
    assert "*Environment*\nDemo" in text
    assert "*Last manual operation*\nStop by Jane Doe\n<!date^" in text
    assert ":black_circle: *bot-00000*\n*Stopped* since" in text


def test_details_list_every_connector_with_its_statuses_and_last_manual_operation() -> None:
    card = make_bot(states=[Health.OK, Health.DOWN, Health.STOPPED, Health.OK])
    stopped = card.connectors[2]
    stopped.manual_operation, stopped.manual_by, stopped.manual_at = "stop", "Jane Doe", NOW

    text = section_texts(details([card]))

    assert ":large_orange_circle: *bot-00000*\n*Degraded* since" in text
    assert "2 of 4 connectors OK" in text
    for connector in card.connectors:
        assert f"`{connector.bot_user}` *{blocks.bot_health(connector).label}* for" in text
    assert text.count("*Bot Agent Connector*") == 4
    assert text.count("*Bot Server*") == 4
    assert "*Last manual operation*\nStop by Jane Doe\n<!date^" in text
    assert text.count("*Last manual operation*\nNone recorded") == 4  # three and the bot's


def test_connectors_are_shown_most_urgent_first_and_the_queried_one_before_all() -> None:
    card = make_bot(states=[Health.OK, Health.DOWN, Health.OK])

    def order(query: str) -> list[str]:
        text = section_texts(details([card], query=query))
        return sorted((c.bot_user for c in card.connectors), key=lambda u: text.index(f"`{u}` *"))

    assert order("bot") == ["bot_00000_1", "bot_00000_0", "bot_00000_2"]
    assert order("bot_00000_2") == ["bot_00000_2", "bot_00000_1", "bot_00000_0"]


def test_each_connector_has_its_own_buttons_naming_it_in_their_value() -> None:
    card = make_bot(states=[Health.OK, Health.STOPPED])
    online, stopped = card.connectors

    payload = details([card])
    connector_buttons = [b for b in buttons(payload) if b["action_id"].startswith("connector_")]

    assert [
        (b["action_id"], blocks.parse_connector_value(b["value"])) for b in connector_buttons
    ] == [
        ("connector_start", (card.id, stopped.bot_user)),
        ("connector_stop", (card.id, online.bot_user)),
        ("connector_restart", (card.id, online.bot_user)),
    ]
    assert [b["text"]["text"] for b in connector_buttons] == ["Start", "Stop", "Restart"]


def test_connector_values_name_any_bot_user_robustly() -> None:
    for bot_id, user in [("lp-1", 'a"b\\c'), ("x" * 200, "é" * 300), ("lp-2", "")]:
        value = blocks.connector_value(bot_id, user)
        assert len(value) <= 2000
        assert blocks.parse_connector_value(value) == (bot_id, user)
    for junk in [
        "",
        "lp-1",
        "[]",
        '{"bot": 1, "user": "a"}',
        '{"bot": "b"}',
        '{"bot":"","user":"a"}',
    ]:
        assert blocks.parse_connector_value(junk) is None


def test_stop_and_restart_always_ask_first_and_start_only_for_several_or_pcs() -> None:
    single = make_bot(state=Health.DOWN)
    several = make_bot(1, state=Health.DEGRADED, connectors=3)
    # A stopped connector: the only kind that offers connector_start.
    stopped = make_bot(2, states=[Health.OK, Health.STOPPED])

    for card in (single, several, stopped):
        payload = details([card])
        for action_id in ("bot_stop", "bot_restart"):
            assert "confirm" in (button(payload, action_id) or {}), (card.name, action_id)
        for b in buttons(payload):
            if b["action_id"] in ("connector_stop", "connector_restart"):
                assert "confirm" in b
            if b["action_id"] == "connector_start":
                assert "confirm" not in b
    assert "confirm" not in blocks.start_button(single, pcs_count=0)
    assert "confirm" in blocks.start_button(several, pcs_count=0)


def test_a_single_connector_bot_dialog_names_its_connector() -> None:
    card = make_bot(state=Health.DOWN)

    stop = blocks.stop_button(card, pcs_count=0)

    assert stop["text"]["text"] == "Stop" and stop["style"] == "danger"
    assert stop["value"] == card.id and stop["action_id"] == "bot_stop"
    assert stop["confirm"]["title"]["text"] == "Stop bot-00000?"
    assert stop["confirm"]["text"]["text"] == (
        "The connector `bot_00000` of *bot-00000* stops: the bot answers no conversation "
        "until someone starts it again."
    )
    assert stop["confirm"]["confirm"]["text"] == "Stop"


def test_one_dialog_for_a_whole_bot_names_all_of_its_connectors() -> None:
    card = make_bot(name="care-bot-1", state=Health.DEGRADED, connectors=4)

    restart = blocks.restart_button(card, pcs_count=0)["confirm"]
    stop = blocks.stop_button(card, pcs_count=0)["confirm"]

    assert restart["title"]["text"] == "Restart care-bot-1?"
    assert restart["text"]["text"] == (
        "Restarts (stops, then starts) all 4 connectors of *care-bot-1*: `care_bot_1_0`, "
        "`care_bot_1_1`, `care_bot_1_2` and `care_bot_1_3`, one after another. Each answers "
        "no conversation until it is Online again."
    )
    assert restart["confirm"]["text"] == "Restart 4 connectors"
    assert stop["text"]["text"].startswith("Stops all 4 connectors of *care-bot-1*: `care_bot_1_0`")


def test_a_dialog_names_as_many_connectors_as_fit_and_counts_the_rest() -> None:
    card = make_bot(name="n" * 80, state=Health.DEGRADED, connectors=40)

    text = blocks.stop_button(card, pcs_count=0)["confirm"]["text"]["text"]

    assert len(text) <= 300
    assert "`nnnn" in text and " more." in text and "Stops all 40 connectors" in text


def test_a_connector_dialog_says_whether_others_keep_serving() -> None:
    card = make_bot(states=[Health.OK, Health.OK, Health.DOWN])
    last_ok = make_bot(1, states=[Health.OK, Health.DOWN])

    stops = [
        b["confirm"]["text"]["text"]
        for payload in (details([card]), details([last_ok]))
        for b in buttons(payload)
        if b["action_id"] == "connector_stop"
    ]

    # Problems first: the Down connector, then the OK ones; then the other bot's likewise.
    assert "Its 2 other OK connectors keep serving." in stops[0]
    assert "Its other OK connector keeps serving." in stops[1]
    assert "Its other OK connector keeps serving." in stops[3]
    assert "No other connector of this bot is OK." in stops[4]


def test_pcs_dialogs_say_the_survey_connector_is_shared_and_name_the_count() -> None:
    survey = make_bot(name="survey-nps", kind=BotKind.PCS, state=Health.DOWN)

    stop = blocks.stop_button(survey, pcs_count=12)["confirm"]
    start = blocks.start_button(survey, pcs_count=12)["confirm"]
    restart = blocks.restart_button(survey, pcs_count=12)["confirm"]

    assert stop["text"]["text"] == (
        "*survey-nps* is a PCS bot. The survey connector is shared: all 12 survey bots will "
        "stop, not only this one."
    )
    assert "all 12 survey bots will start" in start["text"]["text"]
    assert "all 12 survey bots will restart" in restart["text"]["text"]
    assert stop["confirm"]["text"] == "Stop all survey bots"
    assert restart["confirm"]["text"] == "Restart all survey bots"


def test_a_pcs_bot_shows_its_shared_connector_and_only_bot_level_buttons() -> None:
    survey = make_bot(name="survey-nps", kind=BotKind.PCS, state=Health.OK)

    payload = details([survey], pcs_count=12)

    assert action_ids(payload) == ["bot_stop", "bot_restart"]
    assert "`Survey Connector`" in section_texts(payload)


def test_buttons_follow_permissions_and_the_connectors_state() -> None:
    down, stopped, ready = (
        make_bot(1, state=Health.DOWN),
        make_bot(2, state=Health.STOPPED),
        make_bot(3, state=Health.READY),
    )

    def ids(card: BotCard, can_start: bool, can_stop: bool) -> list[str]:
        return action_ids(
            details([card], can_start=lambda _: can_start, can_stop=lambda _: can_stop)
        )

    # Down while Online: a Start means nothing; Not Connected would offer all three.
    assert ids(down, True, True) == ["bot_stop", "bot_restart"]
    assert ids(stopped, True, True) == ["bot_start"]
    assert ids(ready, True, True) == ["bot_start"]
    assert ids(stopped, False, True) == []
    assert ids(down, True, False) == []
    assert ids(down, False, True) == ["bot_stop"]


def test_restart_needs_both_permissions_on_connectors_too() -> None:
    card = make_bot(states=[Health.OK, Health.DOWN])

    stop_only = details([card], can_start=nobody)

    assert action_ids(stop_only) == ["bot_stop", "connector_stop", "connector_stop"]


def test_details_ask_the_permission_per_bot() -> None:
    billing, survey = (
        make_bot(1, name="billing", state=Health.DOWN),
        make_bot(2, name="survey", state=Health.DOWN),
    )

    payload = details(
        [billing, survey], query="x", can_start=nobody, can_stop=lambda b: b.name == "survey"
    )

    assert [b["value"] for b in buttons(payload) if b["action_id"] == "bot_stop"] == [survey.id]


def test_many_matches_show_the_most_urgent_and_say_how_many_match() -> None:
    payload = details(fleet(10_000), pcs_count=3334)
    text = section_texts(payload)

    shown = int(text.split("; the ")[1].split(" most urgent")[0])
    assert f"10,000 bots match `bot`; the {shown} most urgent are shown" in text
    assert 1 <= shown <= blocks.MAX_DETAILED_BOTS
    assert text.count(" since <!date^") >= shown
    assert ":red_circle:" in text.split("*Kind*")[0]


def test_as_many_bots_as_fit_are_detailed_and_the_rest_counted() -> None:
    cards = [make_bot(n, state=Health.DEGRADED, connectors=10) for n in range(10)]

    payload = details(cards)
    text = section_texts(payload)

    assert len(payload["blocks"]) <= 50
    assert "10 bots match `bot`; the 2 most urgent are shown" in text
    assert text.count("*Degraded* since") == 2


def test_a_bot_with_more_connectors_than_fit_lists_the_rest_one_line_each() -> None:
    card = make_bot(state=Health.DEGRADED, connectors=60)

    payload = details([card], query="bot_00000_59")
    text = section_texts(payload)

    assert len(payload["blocks"]) <= 50
    assert text.index("`bot_00000_59` *OK*") < text.index("`bot_00000_1` *Down*")
    values = {b["value"] for b in buttons(payload) if b["action_id"] == "connector_stop"}
    assert blocks.connector_value(card.id, "bot_00000_59") in values
    assert "connectors listed one line each have no buttons here" in text
    assert "`/botstatus <bot user>` shows that connector first, with its buttons." in text
    # 21 with their buttons, 36 one line each, and the last 3 counted.
    listed = sum(1 for c in card.connectors if f"`{c.bot_user}` " in text)
    assert listed == 57
    assert "The 36 connectors listed one line each" in text
    assert "and 3 more are not listed" in text


def test_no_match_offers_the_closest_name() -> None:
    payload = blocks.bot_details(
        [],
        NOW,
        query="biling",
        can_start=everyone,
        can_stop=everyone,
        pcs_count=0,
        suggestion="billing",
    )

    assert "No bot matches `biling`." in section_texts(payload)
    assert "Did you mean `/botstatus billing`?" in section_texts(payload)


def test_all_pages_twenty_bots_a_page_with_previous_and_next() -> None:
    bots = rows(fleet(10_000))

    page = blocks.all_bots(bots, 3, NOW)

    assert "10,000 bots · page 3 of 500" in section_texts(page)
    assert section_texts(page).count("*bot-") == blocks.BOTS_PER_PAGE
    assert grammar.parse(value_of(page, "page_previous")) == grammar.All(2)
    assert grammar.parse(value_of(page, "page_next")) == grammar.All(4)
    assert grammar.parse(value_of(page, "share")) == grammar.All(3)
    assert "bot-00040" in section_texts(page) and "bot-00060" not in section_texts(page)


def test_a_compact_line_counts_the_connectors_that_are_ok() -> None:
    degraded = make_bot(state=Health.DEGRADED, connectors=3)

    line = blocks.compact_line(degraded.bot, NOW)

    assert line.startswith(":large_orange_circle: *bot-00000* Degraded for 3h 5m")
    assert "2 of 3 connectors OK" in line


def test_the_first_page_has_no_previous_and_the_last_no_next() -> None:
    bots = rows(fleet(50))

    first, last, beyond = (blocks.all_bots(bots, p, NOW) for p in (1, 3, 99))

    assert button(first, "page_previous") is None and button(first, "page_next")
    assert button(last, "page_next") is None and button(last, "page_previous")
    assert beyond == last


def test_every_bot_appears_on_exactly_one_page() -> None:
    bots = rows(fleet(95))
    seen = []

    for page in range(1, blocks.page_count(len(bots)) + 1):
        text = section_texts(blocks.all_bots(bots, page, NOW))
        seen += [bot.name for bot in bots if f"*{bot.name}*" in text]

    assert sorted(seen) == sorted(bot.name for bot in bots)


def test_problems_lists_only_problem_bots_most_urgent_first() -> None:
    bots = rows(
        [
            make_bot(1, state=Health.AWAY),
            make_bot(2, state=Health.OK),
            make_bot(3, state=Health.DOWN),
            make_bot(4, state=Health.DEGRADED),
        ]
    )

    text = section_texts(blocks.problems(bots, NOW))

    assert "bot-00002" not in text
    assert text.index("bot-00003") < text.index("bot-00004") < text.index("bot-00001")
    assert "3 problem bots · page 1 of 1" in text


def test_problems_with_none_says_every_bot_is_ok() -> None:
    payload = blocks.problems([make_bot(state=Health.OK).bot], NOW)

    assert "No problem bots: every bot is OK." in section_texts(payload)
    assert button(payload, "page_next") is None


def test_the_summary_counts_bots_by_health_degraded_included_and_lists_problems_first() -> None:
    cards = fleet(50)
    bots = rows(cards)
    counts = blocks.health_counts(bots)

    payload = blocks.summary(
        counts,
        [bot for bot in bots if blocks.bot_health(bot).is_problem],
        timedelta(seconds=45),
        NOW,
        total=50,
        agents=agents(cards),
    )
    text = section_texts(payload)

    assert f":red_circle: *{counts[Health.DOWN]}* Down" in text
    assert f":large_orange_circle: *{counts[Health.DEGRADED]}* Degraded" in text
    assert f":large_green_circle: *{counts[Health.OK]}* OK" in text
    problems = sum(n for h, n in counts.items() if h.is_problem)
    assert counts[Health.DEGRADED] > 0
    assert f"*Problem bots* ({problems})" in text
    assert f"and {problems - 10} more: `/botstatus problems` lists them all." in text
    assert "Statuses as of 45s ago." in text
    assert payload["text"].startswith(
        f"Bots Status: 50 bots (5 Down, {counts[Health.DEGRADED]} Degraded, 5 Unknown"
    )
    assert grammar.parse(value_of(payload, "share")) == grammar.Summary()


def test_agent_counts_follow_livepersons_dashboard() -> None:
    cards = [
        make_bot(1, states=[Health.OK, Health.DOWN, Health.STOPPED, Health.READY]),
        make_bot(2, states=[Health.UNKNOWN]),
        make_bot(3, kind=BotKind.PCS, state=Health.OK),
        make_bot(4, kind=BotKind.PCS, state=Health.OK),
    ]
    server_down = cards[1].connectors[0]
    server_down.server = "Not Connected"

    counts = agents(cards)

    # The survey connector every PCS bot lists is one agent.
    assert counts == blocks.AgentCounts(total=6, active=3, no_cloud=1, no_server=1, stopped=1)
    assert blocks.agents_line(counts) == (
        "*6* agents: *3* Active · *1* not connected to Conversational Cloud · "
        "*1* not connected to Bot Server · *1* Stopped"
    )


def test_the_summary_shows_the_agent_counts() -> None:
    cards = [make_bot(1, states=[Health.OK, Health.STOPPED])]

    payload = blocks.summary(
        blocks.health_counts(rows(cards)), [], None, NOW, total=1, agents=agents(cards)
    )

    assert "*2* agents: *1* Active · *0* not connected to Conversational Cloud" in (
        section_texts(payload)
    )


def test_the_summary_warns_when_data_is_stale_or_missing() -> None:
    stale = blocks.summary(
        {}, [], timedelta(minutes=10), NOW, total=0, stale_after=timedelta(minutes=3)
    )
    never = blocks.summary({}, [], None, NOW, total=0)

    assert ":warning: Statuses as of 10m ago." in section_texts(stale)
    assert "No successful poll yet" in section_texts(never)


def test_a_shared_copy_has_no_share_button() -> None:
    bots = rows(fleet(50))

    assert button(blocks.all_bots(bots, 1, NOW, shareable=False), "share") is None
    assert button(blocks.summary({}, [], None, NOW, total=0, shareable=False), "share") is None


def test_history_shows_transitions_newest_first_with_their_connector_and_time_in_health() -> None:
    card = make_bot(state=Health.DOWN)
    records = transitions(30)

    payload = blocks.history(
        card.bot,
        records,
        {Health.OK: timedelta(hours=18), Health.DEGRADED: timedelta(hours=6)},
        {Health.OK: timedelta(days=7)},
        NOW,
    )
    text = section_texts(payload)

    assert (
        "*Last 24 hours*\n:large_orange_circle: Degraded 6h (25%)\n"
        ":large_green_circle: OK 18h (75%)"
    ) in text
    assert "*Last 7 days*\n:large_green_circle: OK 7d (100%)" in text
    assert "The 25 most recent of 30 transitions." in text
    first, second = records[0], records[1]
    assert text.index(blocks.date_token(first.at)) < text.index(blocks.date_token(second.at))
    assert (
        f"{blocks.date_token(first.at)} · `bot_00000_0` · Conversational Cloud: Not Connected"
        " → Connected · :large_green_circle: OK · manual"
    ) in text
    assert "`bot_00000_1` · Conversational Cloud" in text
    assert "manual by Jane &lt;Ops&gt;" in text
    assert "rolled up from its connectors" in text
    assert grammar.parse(value_of(payload, "share")) == grammar.History("bot-00000")


def test_help_offers_the_suggestion_and_lists_the_grammar() -> None:
    payload = blocks.help_text("problems", "`x` is not a duration")
    text = section_texts(payload)

    assert "Did you mean `/botstatus problems`?" in text
    assert ":warning: `x` is not a duration" in text
    for form in grammar.USAGE.values():
        assert f"`{blocks.escape(('/botstatus ' + form).strip())}`" in text
    within_limits(payload, "message")


def test_a_refusal_is_the_message_it_is_given() -> None:
    payload = blocks.refusal("You need the *stop* permission for this bot.")

    assert payload["text"] == "You need the *stop* permission for this bot."
    within_limits(payload, "message")


def test_an_action_result_says_who_did_what_and_when() -> None:
    card = make_bot(name="billing", state=Health.DOWN)

    done = blocks.action_result(card, "stop", "U0ALICE", NOW, "ok", connectors=outcomes(card))
    failed = blocks.action_result(card, "start", "U0BOB", NOW, "failed", detail="LivePerson <500>")

    assert section_texts(done).startswith(
        f":black_circle: <@U0ALICE> stopped *billing* at {blocks.date_token(NOW)}."
    )
    assert ":white_check_mark: `billing` stopped" in section_texts(done)
    assert done["text"] == "<@U0ALICE> stopped billing"
    assert "<@U0BOB> tried to start *billing*" in section_texts(failed)
    assert "LivePerson &lt;500&gt;" in section_texts(failed)


def test_an_action_result_names_each_connector_and_its_outcome() -> None:
    card = make_bot(name="care-bot-1", state=Health.DEGRADED, connectors=3)
    a, b, c = card.connectors
    reached = (
        ConnectorOutcome(a.bot_user, Outcome.OK),
        ConnectorOutcome(b.bot_user, Outcome.DUPLICATE),
        ConnectorOutcome(c.bot_user, Outcome.FAILED, "LivePerson refused or failed: HTTP 503"),
    )

    payload = blocks.action_result(card, "restart", "U0ALICE", NOW, "ok", connectors=reached)
    one = blocks.action_result(
        card, "stop", "U0ALICE", NOW, "ok", connectors=reached[:1], bot_user=a.bot_user
    )
    text = section_texts(payload)

    assert text.startswith(":warning: <@U0ALICE> restarted 1 of the 3 connectors of *care-bot-1*")
    assert ":white_check_mark: `care_bot_1_0` restarted" in text
    assert ":repeat: `care_bot_1_1` already restarting (an earlier click); sent once" in text
    assert ":x: `care_bot_1_2` could not restart: LivePerson refused or failed: HTTP 503" in text
    assert "You will hear when each connector is Online again." in text
    assert section_texts(one).startswith(
        ":black_circle: <@U0ALICE> stopped the connector `care_bot_1_0` of *care-bot-1* at"
    )


def test_an_action_result_on_a_pcs_bot_names_the_shared_connector() -> None:
    survey = make_bot(name="survey-nps", kind=BotKind.PCS)

    payload = blocks.action_result(survey, "stop", "U0ALICE", NOW, "ok", pcs_count=12)

    assert "stopped the shared survey connector (*survey-nps* and all 12 survey bots)" in (
        section_texts(payload)
    )


def test_an_action_result_never_turns_a_forged_user_id_into_markup() -> None:
    payload = blocks.action_result(make_bot(), "stop", "<!channel>", NOW, "duplicate")

    assert "<!channel>" not in all_text(payload)


def test_a_restart_request_names_how_many_bots_and_connectors_and_asks_first() -> None:
    cards = [
        make_bot(1, name="care-bot-1", state=Health.DEGRADED, connectors=2),
        make_bot(2, name="care-bot-2", state=Health.OK, connectors=4),
        make_bot(3, name="care-survey-1", kind=BotKind.PCS),
        make_bot(4, name="care-survey-2", kind=BotKind.PCS),
    ]
    plan = RestartPlan("care-*", tuple(cards), pcs_count=7)

    payload = blocks.restart_request(plan)
    text = section_texts(payload)
    restart = button(payload, "restart_bots")

    assert payload["blocks"][0]["text"]["text"] == "Restart 4 bots?"
    assert "`/botstatus restart care-*` names *4 bots* with *7 connectors*." in text
    assert "2 PCS bots share the account's one survey connector: it restarts once" in text
    assert "(7 in all)" in text
    assert "`care_bot_1_0` and `care_bot_1_1`" in text
    assert restart is not None and restart["text"]["text"] == "Restart"
    assert restart["confirm"]["title"]["text"] == "Restart 7 connectors?"
    assert blocks.parse_restart_value(restart["value"]) == ("care-*", plan.digest)


def test_a_restart_value_survives_any_target() -> None:
    for target in ['"quoted" bot', "é" * 300, "a*b?"]:
        assert blocks.parse_restart_value(blocks.restart_value(target, "d1")) == (target, "d1")
    for junk in ["", "x", "[]", '{"target": " ", "digest": "d"}', '{"target": "x"}']:
        assert blocks.parse_restart_value(junk) is None


def test_a_refused_restart_names_only_bots_the_user_can_see() -> None:
    seen = [make_bot(n, name=f"billing-{n}") for n in range(7)]

    payload = blocks.restart_refused("*", seen, others=True)
    hidden_only = blocks.restart_refused("*", [], others=True)

    assert "billing-0, billing-1, billing-2, billing-3, billing-4 and 2 more and others" in (
        section_texts(payload)
    )
    assert "needs the *start* and *stop* permissions on every bot" in section_texts(payload)
    assert "Nothing was restarted." in section_texts(hidden_only)
    assert "billing" not in section_texts(hidden_only)


def test_a_restart_result_lists_each_bot_and_connector() -> None:
    care = make_bot(1, name="care-bot-1", state=Health.DEGRADED, connectors=2)
    gone = make_bot(2, name="gone-bot")
    results = [
        (care, ActionResult(Outcome.OK, "", care.bot, 1, outcomes(care))),
        (gone, ActionResult(Outcome.UNKNOWN_BOT, "That bot is not among the bots you can see.")),
    ]

    text = section_texts(blocks.restart_result("U0ALICE", NOW, "care-*", results))

    assert text.startswith(":warning: <@U0ALICE> restarted 2 connectors of 1 bot at")
    assert ", not all it named (see below)" in text
    assert "*care-bot-1*: :white_check_mark: `care_bot_1_0` restarted · :white_check_mark:" in text
    assert ":no_entry: *gone-bot*: That bot is not among the bots you can see." in text


def test_a_restart_delivered_again_says_nothing_was_sent_again() -> None:
    care = make_bot(1, name="care-bot-1", state=Health.OK, connectors=2)
    first = "This click was already received and done: the restart was sent to LivePerson once."
    again = tuple(ConnectorOutcome(c.bot_user, Outcome.DUPLICATE, first) for c in care.connectors)
    results = [(care, ActionResult(Outcome.DUPLICATE, first, care.bot, 1, again))]

    text = section_texts(blocks.restart_result("U0ALICE", NOW, "care-*", results))

    assert text.startswith(":repeat: <@U0ALICE> asked again at")
    assert "nothing was sent again" in text
    assert f":repeat: `care_bot_1_0` {first}" in text


def test_a_follow_up_says_when_each_connector_is_online_again_or_that_it_is_not() -> None:
    care = make_bot(1, name="care-bot-1", state=Health.DEGRADED, connectors=2)
    first, second = watches([care])
    online = [
        replace(first, online_after=timedelta(seconds=70)),
        replace(second, online_after=None),
    ]
    every = [online[0], replace(second, online_after=timedelta(seconds=5))]

    late = section_texts(blocks.followup(online, "restart", timedelta(minutes=10)))
    done = section_texts(blocks.followup(every, "restart", timedelta(minutes=10)))
    single = section_texts(blocks.followup(every[:1], "start", timedelta(minutes=10)))

    assert late.startswith(":warning: 1 connector did not come Online within 10m of the Restart.")
    assert "*care-bot-1* `care_bot_1_0`: Online again, seen 1m after the Restart" in late
    assert "*care-bot-1* `care_bot_1_1`: not Online; Bot Agent Connector now Online" in late
    assert "`/botstatus care-bot-1` shows the statuses now." in late
    assert done.startswith(":large_green_circle: All 2 connectors are Online again.")
    assert single.startswith(":large_green_circle: *care-bot-1* is Online again.")


def test_home_lists_problem_bots_first() -> None:
    bots = rows(fleet(50))

    view = blocks.home_view(bots, blocks.health_counts(bots), Environment.PRODUCTION, None, NOW)
    problems, ok = section_texts(view).split("*Problem bots*")[1].split("*OK*")
    healthy = sum(1 for bot in bots if bot.health == "ok")

    assert problems.strip().count("\n") + 1 == 50 - healthy
    assert ":large_green_circle:" not in problems
    assert ok.count(":large_green_circle:") == healthy


def test_home_shows_degraded_bots_and_the_agent_counts() -> None:
    cards = [make_bot(1, state=Health.DEGRADED, connectors=2), make_bot(2)]

    view = blocks.home_view(
        rows(cards),
        blocks.health_counts(rows(cards)),
        Environment.PRODUCTION,
        None,
        NOW,
        agents=agents(cards),
    )
    text = section_texts(view)

    assert ":large_orange_circle: *1* Degraded" in text
    assert "*3* agents: *3* Active" in text
    assert "*bot-00001* Degraded for 3h 5m · 1 of 2 connectors OK" in text


def test_home_with_ten_thousand_bots_says_how_many_more_and_where_to_see_them() -> None:
    bots = rows(fleet(10_000))

    view = blocks.home_view(
        bots, blocks.health_counts(bots), Environment.PRODUCTION, timedelta(seconds=30), NOW
    )
    text = section_texts(view)

    assert text.count("\n:") >= blocks.HOME_MAX_BOTS - 1
    assert f"and {10_000 - blocks.HOME_MAX_BOTS:,} more bots" in text
    assert "`/botstatus all` pages through every bot" in text
    select = view["blocks"][1]["accessory"]
    assert select["action_id"] == "home_environment"
    assert select["initial_option"]["value"] == "production"


def test_home_with_a_few_bots_lists_them_all() -> None:
    bots = rows(fleet(12))

    view = blocks.home_view(bots, blocks.health_counts(bots), Environment.DEMO, None, NOW)
    text = section_texts(view)

    assert all(f"*{bot.name}*" in text for bot in bots)
    assert "more bot" not in text
    assert view["blocks"][1]["accessory"]["initial_option"]["value"] == "demo"


def test_home_refusal_explains_plainly() -> None:
    view = blocks.home_refusal("You need the *view* permission. Ask @bot-admins to grant it.")

    assert "Ask @bot-admins to grant it." in section_texts(view)
    within_limits(view, "home")


# -- the validator itself: each limit, broken once, is reported once -----------------------


def valid_message() -> dict[str, Any]:
    return {
        "text": "fallback",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Title"}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "body"},
                "fields": [{"type": "mrkdwn", "text": "field"}],
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "note"}]},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "bot_stop",
                        "text": {"type": "plain_text", "text": "Stop"},
                        "value": "lp-1",
                        "style": "danger",
                        "confirm": {
                            "title": {"type": "plain_text", "text": "Stop?"},
                            "text": {"type": "mrkdwn", "text": "Really?"},
                            "confirm": {"type": "plain_text", "text": "Stop"},
                            "deny": {"type": "plain_text", "text": "Cancel"},
                        },
                    }
                ],
            },
        ],
    }


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(message: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = message
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return change


BUTTON = "blocks.3.elements.0"
BREAKAGES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "51 blocks": (_set("blocks", [{"type": "divider"}] * 51), "blocks: 51 blocks > 50"),
    "top-level text": (_set("text", "x" * 4001), "text: 4001 chars > 4000"),
    "section text": (_set("blocks.1.text.text", "x" * 3001), "blocks[1].text.text: 3001 chars"),
    "11 fields": (
        _set("blocks.1.fields", [{"type": "mrkdwn", "text": "f"}] * 11),
        "blocks[1].fields: 11 fields > 10",
    ),
    "field text": (_set("blocks.1.fields.0.text", "x" * 2001), "fields[0].text: 2001 chars"),
    "header text": (_set("blocks.0.text.text", "x" * 151), "blocks[0].text.text: 151 chars"),
    "mrkdwn header": (_set("blocks.0.text.type", "mrkdwn"), "must be plain_text"),
    "unknown text type": (_set("blocks.2.elements.0.type", "markdown"), "expected plain_text"),
    "empty section": (_set("blocks.1.text.text", ""), "blocks[1].text.text: must not be empty"),
    "26 actions": (
        _set(
            "blocks.3.elements",
            [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "b"},
                    "action_id": f"a{i}",
                }
                for i in range(26)
            ],
        ),
        "blocks[3].elements: 26 > 25",
    ),
    "button text": (_set(f"{BUTTON}.text.text", "x" * 76), "text.text: 76 chars > 75"),
    "button value": (_set(f"{BUTTON}.value", "x" * 2001), "value: 2001 chars > 2000"),
    "button style": (_set(f"{BUTTON}.style", "red"), "style: expected primary or danger"),
    "confirm title": (_set(f"{BUTTON}.confirm.title.text", "x" * 101), "confirm.title.text: 101"),
    "confirm text": (_set(f"{BUTTON}.confirm.text.text", "x" * 301), "confirm.text.text: 301"),
    "confirm button": (
        _set(f"{BUTTON}.confirm.confirm.text", "x" * 31),
        "confirm.confirm.text: 31",
    ),
    "deny button": (_set(f"{BUTTON}.confirm.deny.text", "x" * 31), "confirm.deny.text: 31"),
    "duplicate action_id": (
        _set("blocks.3.elements", [copy.deepcopy(valid_message()["blocks"][3]["elements"][0])] * 2),
        "duplicate 'bot_stop'",
    ),
    "unknown block": (_set("blocks.2.type", "table"), "unsupported block type 'table'"),
}


def test_a_valid_message_has_no_violations() -> None:
    assert violations(valid_message()) == []


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_the_validator_reports_each_broken_limit(breakage: str) -> None:
    change, expected = BREAKAGES[breakage]
    message = valid_message()
    change(message)

    problems = violations(message)

    assert len(problems) == 1, problems
    assert expected in problems[0]


def test_a_home_view_may_hold_100_blocks_but_not_101() -> None:
    def home(count: int) -> dict[str, Any]:
        return {"type": "home", "blocks": [{"type": "divider"}] * count}

    assert violations(home(100), surface="home") == []
    assert violations(home(101), surface="home") == ["blocks: 101 blocks > 100"]
    assert violations({"type": "modal", "blocks": []}, surface="home") == [
        "type: expected 'home', got 'modal'"
    ]


def test_a_modal_title_is_plain_text_of_24_characters() -> None:
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "x" * 25}, "blocks": []}

    assert violations(modal, surface="modal") == ["title.text: 25 chars > 24"]


def test_assert_within_limits_raises_with_every_violation() -> None:
    message = valid_message()
    message["text"] = "x" * 4001

    with pytest.raises(LimitsExceeded, match="text: 4001 chars > 4000"):
        assert_within_limits(message)
