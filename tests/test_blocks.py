"""Block Kit renderers: Slack's limits at 0, 1, 50 and 10,000 bots, escaping, wording, paging."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chatops.domain import BotKind, Cloud, Connector, Environment, Health, Server, health
from chatops.sandbox.slack import block_errors
from chatops.slack import blocks, grammar
from chatops.slack.limits import LimitsExceeded, Surface, assert_within_limits, violations
from chatops.store.models import Bot, TransitionRecord

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SIZES = [0, 1, 50, 10_000]

# Statuses that give each health, so that rows are as the poller would store them.
STATUSES_FOR = {
    Health.OK: (Connector.ONLINE, Cloud.CONNECTED, Server.CONNECTED),
    Health.DOWN: (Connector.ONLINE, Cloud.NOT_CONNECTED, Server.CONNECTED),
    Health.AWAY: (Connector.ONLINE, Cloud.AWAY, Server.CONNECTED),
    Health.STOPPED: (Connector.STOPPED, Cloud.NOT_CONNECTED, Server.NOT_CONNECTED),
    Health.READY: (Connector.READY_TO_START, Cloud.NOT_CONNECTED, Server.NOT_CONNECTED),
    Health.UNKNOWN: (Connector.UNKNOWN, Cloud.CONNECTED, Server.CONNECTED),
}
HEALTH_CYCLE = [Health.OK] * 6 + [Health.DOWN, Health.AWAY, Health.STOPPED, Health.UNKNOWN]


def make_bot(
    number: int = 0,
    *,
    name: str | None = None,
    state: Health = Health.OK,
    kind: BotKind = BotKind.CUSTOM,
    environment: Environment = Environment.PRODUCTION,
    since: datetime = NOW - timedelta(hours=3, minutes=5),
    raw_connector: str | None = None,
) -> Bot:
    connector, cloud, server = STATUSES_FOR[state]
    assert health(connector, cloud, server) is state
    return Bot(
        id=f"lp-{number:06d}",
        name=name if name is not None else f"bot-{number:05d}",
        kind=kind.value,
        channel="messaging",
        environment=environment.value,
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
        first_seen=since - timedelta(days=30),
    )


def fleet(size: int) -> list[Bot]:
    # Built once per size: 10,000 SQLModel rows take a while, and renderers only read them.
    return list(_fleet(size))


@functools.cache
def _fleet(size: int) -> tuple[Bot, ...]:
    return tuple(
        make_bot(
            number,
            state=HEALTH_CYCLE[number % len(HEALTH_CYCLE)],
            kind=BotKind.PCS if number % 3 == 0 else BotKind.CUSTOM,
            environment=Environment.DEMO if number % 7 == 0 else Environment.PRODUCTION,
            since=NOW - timedelta(minutes=number % 1000),
        )
        for number in range(size)
    )


def transitions(size: int) -> list[TransitionRecord]:
    return list(_transitions(size))


@functools.cache
def _transitions(size: int) -> tuple[TransitionRecord, ...]:
    return tuple(
        TransitionRecord(
            bot_id="lp-000000",
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


def everyone(bot: Bot) -> bool:
    return True


def nobody(bot: Bot) -> bool:
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


RENDERERS: dict[str, tuple[Surface, Callable[[list[Bot]], dict[str, Any]]]] = {
    "summary": (
        "message",
        lambda bots: blocks.summary(
            blocks.health_counts(bots),
            [bot for bot in bots if blocks.bot_health(bot).is_problem],
            timedelta(seconds=45),
            NOW,
            total=len(bots),
        ),
    ),
    "bot_details": (
        "message",
        lambda bots: blocks.bot_details(
            bots, NOW, query="bot", can_start=everyone, can_stop=everyone, pcs_count=len(bots)
        ),
    ),
    "problems first page": ("message", lambda bots: blocks.problems(bots, NOW, 1)),
    "problems last page": ("message", lambda bots: blocks.problems(bots, NOW, 10**6)),
    "all first page": ("message", lambda bots: blocks.all_bots(bots, 1, NOW)),
    "all middle page": ("message", lambda bots: blocks.all_bots(bots, 3, NOW)),
    "history": (
        "message",
        lambda bots: blocks.history(
            make_bot(),
            transitions(len(bots)),
            {Health.OK: timedelta(hours=20), Health.DOWN: timedelta(hours=4)},
            {health: timedelta(hours=len(bots) % 24 + 1) for health in Health},
            NOW,
        ),
    ),
    "home": (
        "home",
        lambda bots: blocks.home_view(
            bots, blocks.health_counts(bots), Environment.PRODUCTION, timedelta(minutes=2), NOW
        ),
    ),
    "action result": (
        "message",
        lambda bots: blocks.action_result(
            bots[0] if bots else make_bot(), "stop", "U0ALICE", NOW, "ok", pcs_count=len(bots)
        ),
    ),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("renderer", list(RENDERERS))
def test_every_renderer_stays_within_slacks_limits(renderer: str, size: int) -> None:
    surface, render = RENDERERS[renderer]

    within_limits(render(fleet(size)), surface)


@pytest.mark.parametrize("renderer", list(RENDERERS))
def test_a_300_character_name_of_markup_stays_within_limits(renderer: str) -> None:
    surface, render = RENDERERS[renderer]
    # Every character escapes to five ("&amp;"), the worst case for length.
    bots = [make_bot(1, name="&" * 300, state=Health.DOWN, kind=BotKind.PCS)]

    within_limits(render(bots), surface)


def test_a_long_name_is_cut_with_an_ellipsis() -> None:
    bot = make_bot(name="n" * 300)

    details = blocks.bot_details(
        [bot], NOW, query="n", can_start=everyone, can_stop=everyone, pcs_count=0
    )
    header = blocks.history(bot, [], {}, {}, NOW)["blocks"][0]["text"]["text"]

    assert "n" * (blocks.DETAIL_NAME - 1) + "…*" in section_texts(details)
    assert "n" * 300 not in all_text(details)
    assert header.endswith("…") and len(header) == 150


@pytest.mark.parametrize("size", [1, 10_000])
def test_a_bot_named_like_a_mention_pings_nobody(size: int) -> None:
    hostile = make_bot(name="<!channel> & <@U0ALICE> <https://evil|click>", state=Health.DOWN)
    bots = [hostile, *fleet(size)[1:]]

    for renderer, (_, render) in RENDERERS.items():
        payload = render(bots)
        if renderer == "history":
            payload = blocks.history(hostile, [], {}, {}, NOW)
        mrkdwn = mrkdwn_texts(payload)
        assert "<!channel>" not in mrkdwn, renderer
        assert "<@U0ALICE>" not in mrkdwn or renderer == "action result", renderer
        assert "<https://evil" not in mrkdwn, renderer


def test_escaping_shows_the_name_as_written() -> None:
    hostile = make_bot(name="<!channel> & co", state=Health.DOWN)

    details = blocks.bot_details(
        [hostile], NOW, query="co", can_start=nobody, can_stop=nobody, pcs_count=0
    )

    assert "*&lt;!channel&gt; &amp; co*" in section_texts(details)
    assert details["text"] == "&lt;!channel&gt; &amp; co: Down"


def test_an_unknown_status_shows_the_raw_value() -> None:
    bot = make_bot(state=Health.UNKNOWN, raw_connector="REBOOTING`<x>")

    details = blocks.bot_details(
        [bot], NOW, query="bot", can_start=nobody, can_stop=nobody, pcs_count=0
    )

    assert "*Bot Agent Connector*\nUnknown (`REBOOTING'&lt;x&gt;`)" in section_texts(details)
    assert "Unknown (`REBOOTING'&lt;x&gt;`)" in blocks.compact_line(bot, NOW)


def test_details_show_each_status_since_when_kind_channel_environment_and_manual_operation() -> (
    None
):
    bot = make_bot(state=Health.STOPPED, kind=BotKind.PCS, environment=Environment.DEMO)
    bot.manual_operation, bot.manual_by, bot.manual_at = "stop", "Jane Doe", NOW
    epoch = int(bot.connector_since.timestamp())

    text = section_texts(
        blocks.bot_details([bot], NOW, query="x", can_start=nobody, can_stop=nobody, pcs_count=4)
    )

    assert (
        f"*Bot Agent Connector*\nStopped\nsince <!date^{epoch}^{{date_short_pretty}} {{time}}"
        "|2026-03-02 08:55 UTC> (3h 5m)"
    ) in text
    assert "*Conversational Cloud*\nNot Connected\nsince" in text
    assert "(1d 3h)" in text and "(2d 3h)" in text
    assert "*Kind*\nPCS (shares the survey connector with 4 survey bots)" in text
    assert "*Channel*\nMessaging" in text
    assert "*Environment*\nDemo" in text
    assert "*Last manual operation*\nStop by Jane Doe\n<!date^" in text
    assert ":black_circle: *bot-00000*\n*Stopped* since" in text


def test_stop_always_asks_first_and_start_asks_only_for_pcs() -> None:
    custom = make_bot(state=Health.DOWN)

    stop = blocks.stop_button(custom, pcs_count=0)
    start = blocks.start_button(custom, pcs_count=0)

    assert stop["text"]["text"] == "Stop" and stop["style"] == "danger"
    assert stop["value"] == custom.id and stop["action_id"] == "bot_stop"
    assert stop["confirm"]["title"]["text"] == "Stop bot-00000?"
    assert "*bot-00000* stops" in stop["confirm"]["text"]["text"]
    assert start["text"]["text"] == "Start" and start["action_id"] == "bot_start"
    assert "confirm" not in start


def test_pcs_dialogs_say_the_survey_connector_is_shared_and_name_the_count() -> None:
    survey = make_bot(name="survey-nps", kind=BotKind.PCS, state=Health.DOWN)

    stop = blocks.stop_button(survey, pcs_count=12)["confirm"]
    start = blocks.start_button(survey, pcs_count=12)["confirm"]

    assert stop["text"]["text"] == (
        "*survey-nps* is a PCS bot. The survey connector is shared: all 12 survey bots will "
        "stop, not only this one."
    )
    assert "all 12 survey bots will start" in start["text"]["text"]
    assert stop["confirm"]["text"] == "Stop all survey bots"


def test_buttons_follow_permissions_and_the_connectors_state() -> None:
    online, stopped, ready = (
        make_bot(1, state=Health.DOWN),
        make_bot(2, state=Health.STOPPED),
        make_bot(3, state=Health.READY),
    )

    def actions(bot: Bot, can_start: bool, can_stop: bool) -> list[str]:
        payload = blocks.bot_details(
            [bot],
            NOW,
            query="x",
            can_start=lambda _: can_start,
            can_stop=lambda _: can_stop,
            pcs_count=0,
        )
        return [b["action_id"] for b in buttons(payload) if b["action_id"] != "share"]

    assert actions(online, True, True) == ["bot_stop"]
    assert actions(stopped, True, True) == ["bot_start"]
    assert actions(ready, True, True) == ["bot_start"]
    assert actions(stopped, False, True) == []
    assert actions(online, True, False) == []


def test_details_ask_the_permission_per_bot() -> None:
    billing, survey = (
        make_bot(1, name="billing", state=Health.DOWN),
        make_bot(2, name="survey", state=Health.DOWN),
    )

    payload = blocks.bot_details(
        [billing, survey],
        NOW,
        query="x",
        can_start=nobody,
        can_stop=lambda bot: bot.name == "survey",
        pcs_count=0,
    )

    assert [b["value"] for b in buttons(payload) if b["action_id"] == "bot_stop"] == [survey.id]


def test_many_matches_show_the_most_urgent_and_say_how_many_match() -> None:
    payload = blocks.bot_details(
        fleet(10_000), NOW, query="bot", can_start=everyone, can_stop=everyone, pcs_count=3334
    )

    assert "10,000 bots match `bot`; the 10 most urgent are shown" in section_texts(payload)
    assert section_texts(payload).count("*Bot Agent Connector*") == blocks.MAX_DETAILED_BOTS
    assert ":red_circle:" in section_texts(payload).split("*Bot Agent Connector*")[0]


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
    bots = fleet(10_000)

    page = blocks.all_bots(bots, 3, NOW)

    assert "10,000 bots · page 3 of 500" in section_texts(page)
    assert section_texts(page).count("*bot-") == blocks.BOTS_PER_PAGE
    assert grammar.parse(value_of(page, "page_previous")) == grammar.All(2)
    assert grammar.parse(value_of(page, "page_next")) == grammar.All(4)
    assert grammar.parse(value_of(page, "share")) == grammar.All(3)
    assert "bot-00040" in section_texts(page) and "bot-00060" not in section_texts(page)


def test_the_first_page_has_no_previous_and_the_last_no_next() -> None:
    bots = fleet(50)

    first, last, beyond = (blocks.all_bots(bots, p, NOW) for p in (1, 3, 99))

    assert button(first, "page_previous") is None and button(first, "page_next")
    assert button(last, "page_next") is None and button(last, "page_previous")
    assert beyond == last


def test_every_bot_appears_on_exactly_one_page() -> None:
    bots = fleet(95)
    seen = []

    for page in range(1, blocks.page_count(len(bots)) + 1):
        text = section_texts(blocks.all_bots(bots, page, NOW))
        seen += [bot.name for bot in bots if f"*{bot.name}*" in text]

    assert sorted(seen) == sorted(bot.name for bot in bots)


def test_problems_lists_only_problem_bots_most_urgent_first() -> None:
    bots = [
        make_bot(1, state=Health.AWAY),
        make_bot(2, state=Health.OK),
        make_bot(3, state=Health.DOWN),
    ]

    text = section_texts(blocks.problems(bots, NOW))

    assert "bot-00002" not in text
    assert text.index("bot-00003") < text.index("bot-00001")
    assert "2 problem bots · page 1 of 1" in text


def test_problems_with_none_says_every_bot_is_ok() -> None:
    payload = blocks.problems([make_bot(state=Health.OK)], NOW)

    assert "No problem bots: every bot is OK." in section_texts(payload)
    assert button(payload, "page_next") is None


def test_the_summary_counts_each_health_and_lists_problems_first() -> None:
    bots = fleet(50)
    counts = blocks.health_counts(bots)

    payload = blocks.summary(
        counts,
        [bot for bot in bots if blocks.bot_health(bot).is_problem],
        timedelta(seconds=45),
        NOW,
        total=50,
    )
    text = section_texts(payload)

    assert f":red_circle: *{counts[Health.DOWN]}* Down" in text
    assert f":large_green_circle: *{counts[Health.OK]}* OK" in text
    assert "*Problem bots* (20)" in text
    assert "and 10 more: `/botstatus problems` lists them all." in text
    assert "Statuses as of 45s ago." in text
    assert payload["text"].startswith("Bots Status: 50 bots (5 Down, 5 Unknown, 5 Stopped")
    assert grammar.parse(value_of(payload, "share")) == grammar.Summary()


def test_the_summary_warns_when_data_is_stale_or_missing() -> None:
    stale = blocks.summary(
        {}, [], timedelta(minutes=10), NOW, total=0, stale_after=timedelta(minutes=3)
    )
    never = blocks.summary({}, [], None, NOW, total=0)

    assert ":warning: Statuses as of 10m ago." in section_texts(stale)
    assert "No successful poll yet" in section_texts(never)


def test_a_shared_copy_has_no_share_button() -> None:
    bots = fleet(50)

    assert button(blocks.all_bots(bots, 1, NOW, shareable=False), "share") is None
    assert button(blocks.summary({}, [], None, NOW, total=0, shareable=False), "share") is None


def test_history_shows_transitions_newest_first_and_time_in_each_health() -> None:
    bot = make_bot(state=Health.DOWN)
    records = transitions(30)

    payload = blocks.history(
        bot,
        records,
        {Health.OK: timedelta(hours=18), Health.DOWN: timedelta(hours=6)},
        {Health.OK: timedelta(days=7)},
        NOW,
    )
    text = section_texts(payload)

    assert "*Last 24 hours*\n:red_circle: Down 6h (25%)\n:large_green_circle: OK 18h (75%)" in text
    assert "*Last 7 days*\n:large_green_circle: OK 7d (100%)" in text
    assert "The 25 most recent of 30 transitions." in text
    first, second = records[0], records[1]
    assert text.index(blocks.date_token(first.at)) < text.index(blocks.date_token(second.at))
    assert (
        "Conversational Cloud: Not Connected → Connected · :large_green_circle: OK · manual" in text
    )
    assert "manual by Jane &lt;Ops&gt;" in text
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
    bot = make_bot(name="billing", state=Health.DOWN)

    done = blocks.action_result(bot, "stop", "U0ALICE", NOW, "ok")
    failed = blocks.action_result(bot, "start", "U0BOB", NOW, "failed", detail="LivePerson <500>")

    assert section_texts(done).startswith(
        f":black_circle: <@U0ALICE> stopped *billing* at {blocks.date_token(NOW)}."
    )
    assert done["text"] == "<@U0ALICE> stopped billing"
    assert "<@U0BOB> tried to start *billing*" in section_texts(failed)
    assert "LivePerson &lt;500&gt;" in section_texts(failed)


def test_an_action_result_on_a_pcs_bot_names_the_shared_connector() -> None:
    survey = make_bot(name="survey-nps", kind=BotKind.PCS)

    payload = blocks.action_result(survey, "stop", "U0ALICE", NOW, "ok", pcs_count=12)

    assert "stopped the shared survey connector (*survey-nps* and all 12 survey bots)" in (
        section_texts(payload)
    )


def test_an_action_result_never_turns_a_forged_user_id_into_markup() -> None:
    payload = blocks.action_result(make_bot(), "stop", "<!channel>", NOW, "duplicate")

    assert "<!channel>" not in all_text(payload)


def test_home_lists_problem_bots_first() -> None:
    bots = fleet(50)

    view = blocks.home_view(bots, blocks.health_counts(bots), Environment.PRODUCTION, None, NOW)
    problems, ok = section_texts(view).split("*Problem bots*")[1].split("*OK*")

    assert problems.strip().count("\n") + 1 == 20 and ":large_green_circle:" not in problems
    assert ok.count(":large_green_circle:") == 30


def test_home_with_ten_thousand_bots_says_how_many_more_and_where_to_see_them() -> None:
    bots = fleet(10_000)

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
    bots = fleet(12)

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
