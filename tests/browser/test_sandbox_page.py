"""The sandbox page in Chromium: what a person sees and clicks, all the way to the fake fleet.

Every click here goes page -> sandbox API -> signed request -> the real Bolt app -> the fake
LivePerson, and the answer comes back through the fake Slack to the page's live updates.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Locator, Page, Request, expect
from slack_sdk import WebClient

from chatops.alerts import render as alerts
from chatops.alerts.maintenance_views import WindowView
from chatops.alerts.mute_views import ExceptionView, MuteResult, MuteView, UnmuteResult
from chatops.alerts.render import DigestItem
from chatops.alerts.render import maintenance_replies as windows
from chatops.blockkit import controls
from chatops.demo import DemoThread
from chatops.domain import Environment, Health
from chatops.slack import blocks
from chatops.slack.restart import RestartPlan
from chatops.slack.results import ActionResult, ConnectorOutcome, ConnectorWatch, Outcome
from chatops.store.acks import Owner
from chatops.store.bots import count_by_health, list_bots
from chatops.store.cards import BotCard, cards
from chatops.store.connectors import all_connectors
from chatops.store.models import Bot, Connector, TransitionRecord
from chatops.store.tables import AGENT_METRICS
from tests import fleet
from tests.waiting import wait_until

pytestmark = pytest.mark.browser

GENERAL, SURVEYS, ALERTS = "C0GENERAL", "C0SURVEYS", "C0ALERTS"


# ---------------------------------------------------------------------- helpers


def act_as(page: Page, persona: str) -> None:
    page.select_option("#persona", persona)


def open_channel(page: Page, channel_id: str) -> None:
    page.click(f'.nav-item[data-view="{channel_id}"]')
    expect(page.locator("#messages")).to_have_attribute("data-view", channel_id)


def type_command(page: Page, text: str) -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")
    expect(page.locator("#composer-input")).to_have_value("")


def latest_message(page: Page, words: str, *, surface: str | None = None) -> Locator:
    selector = ".message" if surface is None else f'.message[data-surface="{surface}"]'
    found = page.locator(selector).filter(has_text=words).last
    expect(found).to_be_visible()
    return found


def same_message(page: Page, message: Locator) -> Locator:
    """The message with this ts, wherever re-rendering puts it."""
    return page.locator(f'.message[data-ts="{message.get_attribute("data-ts")}"]')


def bot_button(message: Locator, action_id: str) -> Locator:
    """The button ``action_id`` of a message (a bot's Stop among its connectors' Stops)."""
    return message.locator(f'button[data-action-id="{action_id}"]')


def web_client(demo: DemoThread) -> WebClient:
    fake = demo.demo.fake_slack
    return WebClient(token=fake.bot_token, base_url=fake.base_url)


def stop_count(demo: DemoThread, name: str) -> int:
    fake = demo.demo.fake_lp
    return fake.stop_count(next(e["botId"] for e in fake.bots() if e.get("botName") == name))


# ---------------------------------------------------------------------- acting as people


def test_alice_stops_a_bot_through_the_confirm_dialog_and_the_reply_says_she_did(
    page: Page, demo: DemoThread
) -> None:
    act_as(page, "alice")
    type_command(page, "/botstatus billing-bot-2")
    reply = same_message(page, latest_message(page, "billing-bot-2", surface="ephemeral"))
    expect(reply).to_contain_text("Only visible to you")

    reply.get_by_role("button", name="Stop").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Stop billing-bot-2?")
    expect(dialog).to_contain_text("The connector billing_bot_2 of billing-bot-2 stops")
    dialog.get_by_role("button", name="Stop").click()

    expect(reply).to_contain_text("@alice stopped billing-bot-2")
    expect(reply.locator(".edited")).to_have_text("(edited)")
    expect(dialog).to_be_hidden()
    assert stop_count(demo, "billing-bot-2") == 1


def test_cancel_in_the_confirm_dialog_sends_nothing(page: Page, demo: DemoThread) -> None:
    act_as(page, "alice")
    type_command(page, "/botstatus booking-bot-4")
    reply = same_message(page, latest_message(page, "booking-bot-4", surface="ephemeral"))

    stop = bot_button(reply, "bot_stop")
    expect(stop).to_have_text("Stop")
    stop.click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()

    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(stop).to_be_enabled()
    assert stop_count(demo, "booking-bot-4") == 0


def test_bob_stopping_a_bot_from_a_shared_message_is_refused_and_nothing_stops(
    page: Page, demo: DemoThread
) -> None:
    open_channel(page, SURVEYS)
    act_as(page, "alice")
    type_command(page, "/botstatus booking-bot-2")
    latest_message(page, "booking-bot-2", surface="ephemeral").get_by_role(
        "button", name="Share in channel"
    ).click()
    shared = same_message(page, latest_message(page, "booking-bot-2", surface="channel"))

    act_as(page, "bob")
    expect(page.locator('.message[data-surface="ephemeral"]')).to_have_count(0)
    bot_button(shared, "bot_stop").click()
    page.get_by_role("dialog").get_by_role("button", name="Stop").click()

    refusal = latest_message(page, "You need the stop permission", surface="ephemeral")
    expect(refusal).to_contain_text("Only visible to you")
    expect(shared.locator(".edited")).to_have_count(0)
    assert stop_count(demo, "booking-bot-2") == 0


def test_charlie_is_told_he_may_not_see_bots(page: Page) -> None:
    act_as(page, "charlie")

    type_command(page, "/botstatus")

    expect(latest_message(page, "You need the view permission")).to_contain_text(
        "Ask alice in #general to grant it."
    )


def test_the_sidebar_shows_the_heartbeat_pings_the_app_sends(page: Page) -> None:
    heartbeat = page.locator("#heartbeat")

    expect(heartbeat).to_be_visible()
    expect(heartbeat.locator("[data-ping=success]")).to_contain_text("chatops is polling")
    expect(heartbeat).to_contain_text(re.compile(r"[1-9]\d* pings?, 0 failure pings"))


def test_a_double_click_on_share_posts_in_the_channel_once(page: Page, demo: DemoThread) -> None:
    open_channel(page, GENERAL)
    act_as(page, "alice")
    type_command(page, "/botstatus problems")
    before = len(demo.demo.fake_slack.messages(GENERAL))

    share = latest_message(page, "Problem bots", surface="ephemeral").get_by_role(
        "button", name="Share in channel"
    )
    clicks: list[Request] = []
    page.on(
        "request", lambda request: clicks.append(request) if "api/click" in request.url else None
    )
    share.dblclick()

    shared = page.locator('.message[data-surface="channel"]').filter(has_text="Problem bots")
    expect(shared).to_have_count(1)
    # The page is done with the click (the button works again): it sent one request.
    expect(share).to_be_enabled()
    assert len(clicks) == 1
    assert len(demo.demo.fake_slack.messages(GENERAL)) == before + 1


def test_something_other_than_botstatus_gets_a_hint_not_an_error_page(page: Page) -> None:
    page.fill("#composer-input", "hello, is anyone there?")
    page.press("#composer-input", "Enter")

    expect(page.locator("#notice")).to_contain_text("Only /botstatus works here")


def test_app_home_shows_the_dashboard_and_its_environment_menu_switches_it(page: Page) -> None:
    act_as(page, "bob")

    page.click("#nav-home")
    home = page.locator("#messages .home")
    expect(home).to_contain_text("Production:")
    home.locator("select.bk-select").select_option("demo")

    expect(home).to_contain_text("Demo:")
    expect(page.locator("#composer")).to_be_hidden()


def test_a_scenario_button_changes_the_fleet_and_the_log_says_what_happened(
    page: Page, demo: DemoThread
) -> None:
    button = page.locator('.scenario-button[data-event="server_drop"]')

    button.click()

    expect(page.locator("#scenario-log")).to_contain_text("Bot Server connection dropped")
    expect(button).to_be_disabled()
    expect(page.locator("#scenario-log")).to_contain_text("connection is back")
    expect(button).to_be_enabled()


def stored_count(demo: DemoThread, user: str) -> int | None:
    """The open conversations the app stored for the connector of bot user ``user``."""

    async def read() -> int | None:
        async with demo.demo.runtime.sessions() as session:
            connection = await session.connection()
            found = await connection.execute(
                sa.select(AGENT_METRICS.c.open_conversations).where(
                    AGENT_METRICS.c.bot_user == user
                )
            )
            return found.scalars().first()

    return demo.run(read())


def test_a_busy_connector_shows_in_its_bots_details_near_the_limit(
    page: Page, demo: DemoThread
) -> None:
    scenario = demo.demo.scenario
    entries = len(scenario.log())
    page.click('.scenario-button[data-event="busy_connector"]')
    expect(page.locator("#scenario-log")).to_contain_text("near LivePerson's limit of 999")
    bot, rest = scenario.log()[entries]["text"].split(": connector ", 1)
    user = rest.split(" ", 1)[0]
    # The app reads the pinned count at its next poll (every second in the demo under test).
    wait_until(lambda: stored_count(demo, user) == 962, what=f"{user}'s 962 conversations stored")
    act_as(page, "alice")

    type_command(page, f"/botstatus {bot}")

    message = latest_message(page, "962 open conversations", surface="ephemeral")
    expect(message).to_contain_text(f"{user} has 962 open conversations, near LivePerson's")
    expect(page.locator(".unsupported")).to_have_count(0)


def test_an_alert_arrives_in_its_channel_and_is_edited_when_the_bot_recovers(
    page: Page, demo: DemoThread
) -> None:
    open_channel(page, ALERTS)
    scenario = demo.demo.scenario
    entries = len(scenario.log())

    page.click('.scenario-button[data-event="server_drop"]')
    expect(page.locator('.scenario-button[data-event="server_drop"]')).to_be_disabled()
    bot = scenario.log()[entries]["text"].split(":")[0]

    alert = same_message(page, latest_message(page, f"{bot} is Down", surface="channel"))
    # One connector: its statuses as fields; several: a line per connector. Either way the
    # Bot Server status is shown, and it is the only status not connected.
    expect(alert).to_contain_text("Bot Server")
    expect(alert).to_contain_text("Not Connected")
    expect(alert.get_by_role("button", name="Stop")).to_be_visible()
    expect(alert.locator(".edited")).to_have_text("(edited)")
    expect(alert).to_contain_text(f"{bot} was Down")
    expect(alert).to_contain_text("recovered")
    expect(alert).not_to_contain_text("Not Connected")
    expect(page.locator(".unsupported")).to_have_count(0)


def test_alice_acknowledges_an_alert_and_sees_it_edited(page: Page, demo: DemoThread) -> None:
    fake = demo.demo.fake_lp
    # A bot the scenario has not changed yet: one that changed health often lately would be
    # flapping, and alert no recovery for a while.
    log = " ".join(str(entry["text"]) for entry in demo.demo.scenario.log())
    entry = [e for e in fleet.healthy_bots(fake) if str(e["botName"]) not in log][-1]
    bot, bot_id = str(entry["botName"]), str(entry["botId"])
    open_channel(page, ALERTS)
    act_as(page, "alice")

    fake.set_fields(bot_id, cbSocketStatus="NOT_CONNECTED")
    try:
        alert = same_message(page, latest_message(page, f"{bot} is Down", surface="channel"))
        acknowledge = alert.get_by_role("button", name="Acknowledge")
        acknowledge.click()

        expect(alert).to_contain_text("Acknowledged by @alice since")
        expect(alert.locator(".edited")).to_have_text("(edited)")
        expect(acknowledge).to_have_count(0)
        expect(alert.get_by_role("button", name="Stop")).to_be_visible()
        alert.get_by_role("button", name="1 reply").click()
        expect(alert.locator(".thread")).to_contain_text("@alice acknowledged this alert")
    finally:
        fake.set_fields(bot_id, cbSocketStatus="CONNECTED")

    expect(alert).to_contain_text(f"{bot} was Down")
    expect(alert).to_contain_text("Acknowledged by @alice at")
    expect(page.locator(".unsupported")).to_have_count(0)


# ---------------------------------------------------------------------- rendering


def test_messages_arrive_live_with_threads_and_edits(page: Page, demo: DemoThread) -> None:
    open_channel(page, SURVEYS)
    slack = web_client(demo)

    parent = slack.chat_postMessage(channel=SURVEYS, text=":red_circle: *survey-nps-9* is Down")
    message = same_message(page, latest_message(page, "survey-nps-9 is Down"))
    expect(message.locator("strong")).to_have_text("survey-nps-9")
    slack.chat_postMessage(channel=SURVEYS, thread_ts=parent["ts"], text="Still down at 10:05")
    slack.chat_update(channel=SURVEYS, ts=parent["ts"], text=":large_green_circle: recovered")

    expect(message).to_contain_text("🟢 recovered")
    expect(message.locator(".edited")).to_have_text("(edited)")
    toggle = message.get_by_role("button", name="1 reply")
    toggle.click()
    expect(message.locator(".thread")).to_contain_text("Still down at 10:05")


def test_mrkdwn_renders_as_slack_shows_it(page: Page, demo: DemoThread) -> None:
    open_channel(page, SURVEYS)
    text = (
        "*bold* _italic_ ~gone~ `a <b> c` <@U0ALICE> <!date^1700000000^{date}|Nov 14 2023> "
        "<https://example.com/x|the docs> :warning: a &lt;tag&gt; &amp; more\n```raw *text*```"
    )

    web_client(demo).chat_postMessage(channel=SURVEYS, text="mrkdwn", blocks=[section(text)])

    message = latest_message(page, "the docs")
    expect(message.locator("strong")).to_have_text("bold")
    expect(message.locator("em")).to_have_text("italic")
    expect(message.locator("s")).to_have_text("gone")
    expect(message.locator("code")).to_have_text("a <b> c")
    expect(message.locator(".mention")).to_have_text("@alice")
    expect(message.locator(".date")).to_have_text("Nov 14 2023")
    expect(message.locator("a")).to_have_attribute("href", "https://example.com/x")
    expect(message.locator("pre")).to_have_text("raw *text*")
    expect(message).to_contain_text("⚠️ a <tag> & more")


def test_a_block_the_page_cannot_show_is_flagged_as_unsupported(
    page: Page, demo: DemoThread
) -> None:
    open_channel(page, SURVEYS)
    rich_text = {
        "type": "rich_text",
        "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": "x"}]}],
    }

    web_client(demo).chat_postMessage(channel=SURVEYS, text="rich", blocks=[rich_text])

    expect(page.locator(".unsupported")).to_have_text(["unsupported block: rich_text"])


# Every public function of chatops.slack.blocks, chatops.blockkit.controls and
# chatops.alerts.render that returns Block Kit. Messages and views are posted and published
# below; the three buttons are inside bot_details' (and the alerts') output.
ELEMENT_BUILDERS = {
    "blocks.start_button",
    "blocks.stop_button",
    "blocks.restart_button",
    "blocks.ack_button",
    "render.ownership",
    # The pieces every alert is made of (chatops.alerts.render.pieces), inside every alert.
    "render.alert_message",
    "render.md_section",
    "render.md_context",
}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


async def renderer_outputs(demo: DemoThread) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every renderer's messages (with the variations its branches have) and Home views."""
    now = datetime.now(UTC)
    async with demo.demo.runtime.sessions() as session:
        bots = await list_bots(session)
        counts = await count_by_health(session)
        listed = await all_connectors(session)
    fleet = cards(bots, listed)
    by_name = {card.name: card for card in fleet}
    online = by_name["faq-bot-9"]
    stopped = next(card for card in fleet if card.health == "stopped")
    survey = by_name["survey-nps-1"]
    several = max(fleet, key=lambda card: len(card.connectors))
    # An undocumented status spelling, on a bot the source no longer lists.
    odd_connector = Connector.model_validate(
        {**online.connectors[0].model_dump(), "raw_cloud": "HALF_OPEN", "cloud": "Unknown"}
    )
    odd = BotCard(
        Bot.model_validate({**online.bot.model_dump(), "removed_at": now - timedelta(hours=1)}),
        (odd_connector,),
    )
    problems = [bot for bot in bots if blocks.bot_health(bot).is_problem]
    agents = blocks.fleet_agent_counts(
        bots, {card.id: blocks.agent_counts(card.connectors) for card in fleet}
    )
    transitions = [
        TransitionRecord(
            bot_id=online.id,
            bot_user=online.connectors[0].bot_user,
            at=now - timedelta(hours=hours),
            dimension=dimension,
            old=old,
            new=new,
            old_raw=old.upper(),
            new_raw=new.upper(),
            old_health=old_health,
            new_health=new_health,
            manual=manual,
            performed_by="Jane Ops" if manual else None,
        )
        for hours, dimension, old, new, old_health, new_health, manual in (
            (30, "connector", "Online", "Stopped", "ok", "stopped", True),
            (29, "connector", "Stopped", "Online", "stopped", "ok", True),
            (3, "server", "Connected", "Not Connected", "ok", "down", False),
            (2, "server", "Not Connected", "Connected", "down", "ok", False),
            (1, "cloud", "Connected", "Unknown", "ok", "unknown", False),
        )
    ]
    durations = {Health.OK: timedelta(hours=20), Health.DEGRADED: timedelta(hours=1)}

    def everyone(_: BotCard) -> bool:
        return True

    def outcomes(card: BotCard) -> tuple[ConnectorOutcome, ...]:
        kinds = (Outcome.OK, Outcome.DUPLICATE, Outcome.FAILED)
        return tuple(
            ConnectorOutcome(c.bot_user, kinds[n % 3], "HTTP 503" if n % 3 == 2 else "")
            for n, c in enumerate(card.connectors)
        )

    plan = RestartPlan("*-bot-*", tuple(fleet[:12]), pcs_count=5)
    watches = [
        ConnectorWatch(card.id, card.name, c.bot_user, c, c, timedelta(seconds=n * 20) or None)
        for card in (online, several)
        for n, c in enumerate(card.connectors)
    ]
    age = timedelta(seconds=2)
    muted = MuteView(
        1,
        "survey-*",
        "upgrade",
        "U0ALICE",
        now,
        now + timedelta(hours=4),
        ("survey-*",),
        (ExceptionView("survey-nps-1", "U0BOB"),),
    )
    wide = MuteView(2, "*", None, "U0ALICE", now, now + timedelta(days=1))
    window = WindowView(
        7,
        "faq-*",
        "weekly deploy",
        "U0ALICE",
        now - timedelta(minutes=30),
        now + timedelta(hours=2),
        "Europe/London",
        False,
        ("faq-*",),
        ("faq-*",),
    )
    recurring = WindowView(
        8,
        "billing-*",
        None,
        "config",
        now + timedelta(days=2),
        now + timedelta(days=2, hours=2),
        "UTC",
        True,
        None,
        ("billing-*",),
    )
    messages = [
        blocks.summary(counts, problems, age, now, total=len(bots), agents=agents),
        blocks.summary({Health.OK: 3}, [], timedelta(hours=2), now, total=3, stale_after=age),
        blocks.summary({}, [], None, now, total=0),
        blocks.bot_details(
            [online, stopped, survey, odd, several],
            now,
            query="*",
            can_start=everyone,
            can_stop=everyone,
            pcs_count=5,
        ),
        blocks.bot_details(
            fleet, now, query="*", can_start=everyone, can_stop=everyone, pcs_count=5
        ),
        blocks.bot_details(
            [],
            now,
            query="fqa-bot",
            can_start=everyone,
            can_stop=everyone,
            pcs_count=5,
            suggestion="faq-bot",
        ),
        blocks.problems(bots, now, 1, data_age=age),
        blocks.problems([online.bot], now),
        blocks.all_bots(bots, 2, now, data_age=age),
        blocks.history(online.bot, transitions, durations, durations, now),
        blocks.history(stopped.bot, [], {}, {}, now, shareable=False),
        blocks.help_text(),
        blocks.help_text("problems", "I do not know `porblems`."),
        blocks.refusal("You need the *stop* permission for this bot."),
        *(
            blocks.action_result(
                card,
                action,
                "U0ALICE",
                now,
                outcome,
                detail="HTTP 503",
                pcs_count=5,
                connectors=outcomes(card),
            )
            for card in (online, survey, several)
            for action in ("start", "stop", "restart")
            for outcome in ("ok", "failed", "duplicate")
        ),
        blocks.restart_request(plan),
        blocks.restart_refused("*", fleet[:7], others=True),
        blocks.restart_too_many(plan, 10),
        blocks.restart_changed(plan),
        blocks.restart_result(
            "U0ALICE",
            now,
            "*-bot-*",
            [
                (card, ActionResult(Outcome.OK, "", card.bot, 1, outcomes(card)))
                for card in plan.acted
            ]
            + [(stopped, ActionResult(Outcome.REFUSED, "You need the *stop* permission."))],
        ),
        blocks.followup(watches, "restart", timedelta(minutes=10)),
        blocks.followup(watches[:1], "start", timedelta(minutes=10)),
    ]
    since = now - timedelta(minutes=12)
    digest = alerts.digest(
        [
            DigestItem(f"survey-nps-{n}", group, health)
            for n, (group, health) in enumerate(
                [
                    ("problem", Health.DOWN),
                    ("problem", Health.AWAY),
                    ("recovered", Health.OK),
                    ("flapping", Health.DOWN),
                    ("stopped_by_hand", Health.STOPPED),
                    ("started_by_hand", Health.READY),
                    ("settled", Health.OK),
                ]
            )
        ],
        now,
    )
    acknowledgeable = alerts.digest(
        [DigestItem(f"faq-bot-{n}", "problem", Health.DOWN) for n in range(7)],
        now,
        acknowledge=True,
    )
    owner = Owner("U0ALICE", since)
    messages += [
        acknowledgeable,
        alerts.problem(online, Health.DOWN, since, was=Health.OK),
        alerts.problem(several, Health.DEGRADED, since, was=Health.OK),
        alerts.problem(survey, Health.DOWN, since, pcs_count=5, note="Five bots share it."),
        alerts.changed_reply(online, Health.AWAY, Health.DOWN, since),
        alerts.recovered_reply(online, Health.DOWN, since, now),
        alerts.resolved(online, Health.DOWN, since, now, "recovered"),
        alerts.reminder(online, Health.DOWN, since, now),
        alerts.notice(stopped, "stop", "Jane Ops", now),
        alerts.notice(online, "start", None, now),
        alerts.flapping(online, Health.DOWN, since, 4, timedelta(minutes=15)),
        alerts.flapping_over(online, Health.OK, since, now, "settled"),
        digest,
        alerts.digest_resolved(digest, 7, now),
        alerts.digest_reminder({Health.DOWN: 3, Health.AWAY: 1}, since, now),
        alerts.mute_created(
            "survey-*", "U0ALICE", now + timedelta(hours=4), timedelta(hours=4), "upgrade", 5
        ),
        alerts.mute_ended("survey-*", "U0ALICE", now, [("survey-nps-1", Health.DOWN)]),
        alerts.mute_ended("faq-*", None, now, []),
        alerts.mute_excepted("billing-bot-1", "U0BOB", "*", "U0ALICE", 1),
        alerts.mute_reply(MuteResult(muted, 5)),
        alerts.unmute_reply(UnmuteResult("survey-*", (muted,), (wide,), ("survey-*",))),
        alerts.unmute_reply(UnmuteResult("nothing-*", ())),
        alerts.mutes_reply([muted, wide], now),
        alerts.mutes_reply([], now),
        alerts.reply("Still down", "*faq-bot-9* is still :red_circle: Down."),
        alerts.source_unreachable(3, "connection refused", since, now),
        alerts.source_unreachable(3, None, None, now),
        alerts.source_recovered_reply(since, now),
        alerts.source_recovered_update(since, now, "connection refused"),
        alerts.source_reminder(since, now),
        alerts.problem(online, Health.DOWN, since, owner=owner),
        alerts.changed_reply(several, Health.DOWN, Health.DEGRADED, since, owner),
        alerts.recovered_reply(online, Health.DOWN, since, now, owner),
        alerts.resolved(online, Health.DOWN, since, now, "recovered", owner),
        alerts.owned(acknowledgeable, owner),
        alerts.digest_resolved(acknowledgeable, 7, now, owner),
        alerts.acknowledged_reply(owner),
        alerts.acknowledged_reply(owner, alerts.bot_subject(online)),
        alerts.released_reply("U0BOB", owner, None, now),
        alerts.released_reply("U0ALICE", owner, alerts.bot_subject(online), now),
        windows.window_started(window, 5),
        windows.window_ended(
            window,
            now,
            None,
            [("faq-bot-9", Health.DOWN, True), ("faq-bot-2", Health.AWAY, False)],
            [],
        ),
        windows.window_ended(window, now, "U0ALICE", [], ["faq-bot-3", "faq-bot-4"]),
        windows.window_ended(recurring, now, None, [], []),
        windows.created_reply(window, now),
        windows.created_reply(recurring, now - timedelta(days=1)),
        windows.list_reply([window, recurring], now),
        windows.list_reply([], now),
        windows.cancelled_reply(window, now),
        windows.cancelled_reply(recurring, now - timedelta(days=1)),
    ]
    views = [
        blocks.home_view(bots, counts, Environment.PRODUCTION, age, now, agents=agents),
        blocks.home_view([], {}, Environment.DEMO, None, now),
        blocks.home_refusal("You need the *view* permission (Bot Status Access) to see bots."),
    ]
    return messages, views


def test_every_renderer_has_a_case_below() -> None:
    # chatops.slack.blocks and chatops.alerts.render are packages of one module per kind of
    # message, and the bot buttons are in chatops.blockkit.controls; each is named here as its
    # callers name it, blocks.<function> or render.<function>.
    modules = [
        (prefix, importlib.import_module(f"{package.__name__}.{info.name}"))
        for prefix, package in (("blocks", blocks), ("render", alerts))
        for info in pkgutil.iter_modules(package.__path__)
    ]
    modules.append(("blocks", controls))
    builders = {
        f"{prefix}.{name}"
        for prefix, module in modules
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if function.__module__ == module.__name__
        and not name.startswith("_")
        and inspect.signature(function).return_annotation == "JSONDict"
    }
    source = (
        inspect.getsource(renderer_outputs)
        .replace("alerts.", "render.")
        .replace("windows.", "render.")
    )
    called = set(re.findall(r"\b((?:blocks|render)\.\w+)\(", source))

    assert builders - ELEMENT_BUILDERS - called == set(), "render these in renderer_outputs too"


def test_the_page_shows_every_renderer_output_with_no_unsupported_block(
    page: Page, demo: DemoThread
) -> None:
    messages, views = demo.run(renderer_outputs(demo))
    slack = web_client(demo)
    open_channel(page, GENERAL)
    for message in messages:
        slack.chat_postMessage(channel=GENERAL, **message)
    shown = page.locator('.message[data-surface="channel"] .bk-block')

    expect(page.locator('.message[data-surface="channel"]')).to_have_count(
        len(demo.demo.fake_slack.messages(GENERAL))
    )
    assert shown.count() >= sum(len(m["blocks"]) for m in messages)
    expect(page.locator(".unsupported")).to_have_count(0)
    expect(page.get_by_role("button", name="Start").first).to_be_visible()
    expect(page.get_by_role("button", name="Previous").first).to_be_visible()

    act_as(page, "charlie")
    page.click("#nav-home")
    # Opening the tab makes the app publish charlie's own Home first; ours come after it.
    expect(page.locator("#messages .home")).to_contain_text("You need the view permission")
    for view in views:
        published = slack.views_publish(user_id="U0CHARLIE", view=view)
        expect(page.locator("#messages .home .bk-block")).to_have_count(len(view["blocks"]))
        expect(page.locator(".unsupported")).to_have_count(0)
        assert published["ok"]
