"""``chatops demo``: the command, the sandbox page's API and the scenario, without a browser.

The page's API is exercised over HTTP against the demo served in a thread (the real app,
both fakes, signed requests); the command itself runs as a subprocess, stopped with SIGINT
as a person's Ctrl-C would.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from chatops.demo import DemoOptions, DemoThread, ScenarioTiming
from chatops.demo.scenario import EVENT_NAMES, NoBotForEvent, Scenario
from chatops.sandbox.liveperson import FakeLivePerson
from chatops.sandbox.slack import FakeSlack
from chatops.sandbox.ui import SandboxPage
from chatops.store.connectors import transitions_for
from tests.waiting import PATIENCE, await_until, wait_until

ROOT = Path(__file__).resolve().parent.parent
GENERAL = "C0GENERAL"
ALICE, BOB, CHARLIE = "U0ALICE", "U0BOB", "U0CHARLIE"


# ---------------------------------------------------------------------- the page's API


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoThread]:
    options = DemoOptions(
        autoplay=False,
        poll_interval=timedelta(seconds=1),
        start_delay=0.2,
        timing=ScenarioTiming(recover_after=30, away_for=30, flap_for=30),
        slack_deadline=PATIENCE,
    )
    with DemoThread(options) as running:
        yield running


@pytest.fixture
def page(demo: DemoThread) -> Iterator[httpx.Client]:
    # The page waits for the app as long as the fake Slack's deadline.
    with httpx.Client(base_url=demo.page_url, timeout=2 * PATIENCE) as client:
        yield client


def bot_id(demo: DemoThread, name: str) -> str:
    return str(next(e["botId"] for e in demo.demo.fake_lp.bots() if e.get("botName") == name))


def latest_ephemeral(demo: DemoThread, user_id: str) -> dict[str, Any]:
    return demo.demo.fake_slack.ephemerals(user_id)[-1]


def action_ids(message: dict[str, Any]) -> list[str]:
    return [
        element["action_id"]
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def run_command(page: httpx.Client, persona: str, text: str) -> None:
    response = page.post("api/command", json={"persona": persona, "text": text, "channel": GENERAL})
    assert response.json() == {"ok": True}


def click(
    page: httpx.Client,
    persona: str,
    message: dict[str, Any],
    action_id: str,
    surface: str,
    value: str | None = None,
) -> httpx.Response:
    body = {
        "persona": persona,
        "surface": surface,
        "channel": message["channel"],
        "ts": message["ts"],
        "action_id": action_id,
    }
    if value is not None:
        body["value"] = value
    return page.post("api/click", json=body)


def test_a_command_typed_on_the_page_reaches_the_app_signed_and_shows_only_to_its_author(
    demo: DemoThread, page: httpx.Client
) -> None:
    run_command(page, "alice", "/botstatus faq-bot-2")

    reply = latest_ephemeral(demo, ALICE)
    assert reply["channel"] == GENERAL
    assert "faq-bot-2" in reply["text"]
    assert [
        e["action_id"] for b in reply["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert demo.demo.fake_slack.messages(GENERAL) == []
    state = page.get("api/state").json()
    assert reply["ts"] in [m["ts"] for m in state["ephemerals"]["alice"]]
    assert reply["ts"] not in [m["ts"] for m in state["ephemerals"]["bob"]]


def test_alice_stops_a_bot_from_the_page_and_the_reply_says_who_did_it(
    demo: DemoThread, page: httpx.Client
) -> None:
    run_command(page, "alice", "/botstatus faq-bot-3")
    reply = latest_ephemeral(demo, ALICE)

    assert click(page, "alice", reply, "bot_stop", "ephemeral").json() == {"ok": True}

    fake = demo.demo.fake_slack
    fake.wait_for(lambda: "stopped" in latest_ephemeral(demo, ALICE)["text"])
    replaced = latest_ephemeral(demo, ALICE)
    assert replaced["ts"] == reply["ts"] and replaced["edited"]
    assert "<@U0ALICE> stopped" in replaced["blocks"][0]["text"]["text"]
    # The bot's Stop reaches each of its connectors once.
    fake_lp = demo.demo.fake_lp
    stopped = bot_id(demo, "faq-bot-3")
    users = [c["lpAccountUser"] for c in fake_lp.connectors(stopped)]
    assert [fake_lp.stop_count(stopped, user) for user in users] == [1] * len(users)


def test_a_click_on_one_of_several_buttons_with_one_action_id_acts_on_that_one(
    demo: DemoThread, page: httpx.Client
) -> None:
    run_command(page, "alice", "/botstatus returns-bot-*")
    reply = latest_ephemeral(demo, ALICE)
    values = [
        element["value"]
        for block in reply["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == "bot_stop"
    ]
    assert sorted(values) == sorted(bot_id(demo, f"returns-bot-{n}") for n in (1, 2))
    # The second button: without its value the page would click the first one.
    first, chosen = values

    assert click(page, "alice", reply, "bot_stop", "ephemeral", chosen).json() == {"ok": True}

    fake_lp = demo.demo.fake_lp
    demo.demo.fake_slack.wait_for(lambda: fake_lp.stop_count(chosen) > 0, timeout=5)
    assert fake_lp.stop_count(first) == 0


def test_a_second_click_on_a_button_that_is_gone_is_refused_and_stops_nothing_twice(
    demo: DemoThread, page: httpx.Client
) -> None:
    run_command(page, "alice", "/botstatus faq-bot-4")
    reply = latest_ephemeral(demo, ALICE)
    click(page, "alice", reply, "bot_stop", "ephemeral")
    demo.demo.fake_slack.wait_for(lambda: latest_ephemeral(demo, ALICE)["edited"])

    again = click(page, "alice", reply, "bot_stop", "ephemeral")

    assert again.status_code == 404
    assert "no button 'bot_stop'" in again.json()["error"]
    assert demo.demo.fake_lp.stop_count(bot_id(demo, "faq-bot-4")) == 1


def test_bob_clicking_stop_on_a_shared_message_is_refused_and_nothing_stops(
    demo: DemoThread, page: httpx.Client
) -> None:
    fake = demo.demo.fake_slack
    run_command(page, "alice", "/botstatus faq-bot-5")
    click(page, "alice", latest_ephemeral(demo, ALICE), "share", "ephemeral")
    fake.wait_for(lambda: len(fake.messages(GENERAL)) == 1)
    shared = fake.messages(GENERAL)[0]
    before = len(fake.ephemerals(BOB))

    assert click(page, "bob", shared, "bot_stop", "channel").json() == {"ok": True}

    fake.wait_for(lambda: len(fake.ephemerals(BOB)) > before)
    assert "You need the *stop* permission" in latest_ephemeral(demo, BOB)["text"]
    assert not fake.messages(GENERAL)[0]["edited"]
    assert demo.demo.fake_lp.stop_count(bot_id(demo, "faq-bot-5")) == 0


def test_charlie_is_told_he_cannot_see_bots(demo: DemoThread, page: httpx.Client) -> None:
    run_command(page, "charlie", "/botstatus")

    assert "You need the *view* permission" in latest_ephemeral(demo, CHARLIE)["text"]


def test_the_app_pings_the_sandbox_heartbeat_receiver_and_the_page_shows_it(
    demo: DemoThread, page: httpx.Client
) -> None:
    receiver = demo.demo.heartbeat
    demo.demo.fake_slack.wait_for(lambda: receiver.pings() != [])

    [first, *_] = httpx.get(f"{demo.url}/fake/heartbeat/_sandbox/pings", timeout=PATIENCE).json()
    summary = page.get("api/heartbeat").json()

    assert (first["check"], first["ping"]) == ("chatops-demo", "success")
    assert summary["success"] >= 1 and summary["fail"] == 0
    assert summary["last"]["ping"] == "success"


def test_choosing_an_environment_in_app_home_publishes_that_environment(
    demo: DemoThread, page: httpx.Client
) -> None:
    fake = demo.demo.fake_slack

    def summary_line() -> str:
        home = fake.home(BOB)
        return str(home["blocks"][1]["text"]["text"]) if home else ""

    assert page.post("api/home", json={"persona": "bob"}).json() == {"ok": True}
    fake.wait_for(lambda: "*Production*" in summary_line())

    chosen = page.post(
        "api/select",
        json={
            "persona": "bob",
            "surface": "home",
            "action_id": "home_environment",
            "value": "demo",
        },
    )

    assert chosen.json() == {"ok": True}
    fake.wait_for(lambda: "*Demo*" in summary_line())


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"persona": "mallory", "text": "/botstatus", "channel": GENERAL}, 400, "alice, bob"),
        ({"persona": "alice", "text": "/botstatus", "channel": "C0NOPE"}, 400, "C0GENERAL"),
        ({"persona": "alice", "text": "hello there", "channel": GENERAL}, 400, "/botstatus"),
        ({"persona": "alice", "text": "/botstatus " + "x" * 2001, "channel": GENERAL}, 400, "2000"),
    ],
)
def test_the_command_endpoint_refuses_bad_input_with_words_a_person_can_act_on(
    page: httpx.Client, body: dict[str, str], status: int, words: str
) -> None:
    response = page.post("api/command", json=body)

    assert response.status_code == status
    assert words in response.json()["error"]


def test_a_click_on_a_message_that_does_not_exist_is_a_404(page: httpx.Client) -> None:
    response = page.post(
        "api/click",
        json={
            "persona": "alice",
            "surface": "channel",
            "channel": GENERAL,
            "ts": "1.000001",
            "action_id": "bot_stop",
        },
    )

    assert response.status_code == 404
    assert "gone" in response.json()["error"]


@pytest.fixture
async def quiet_page() -> AsyncIterator[tuple[SandboxPage, httpx.AsyncClient]]:
    """A page over a fake Slack with no app and no scenario: nothing changes unless we do."""
    fake = FakeSlack(channels=(GENERAL,))
    fake.set_public_url("http://sandbox.test/slack")
    # Neither a long poll's own wait nor the state's re-read ends within a test's patience:
    # a long poll that answers was woken by a change.
    sandbox = SandboxPage(
        fake, "http://127.0.0.1:9/slack/events", channels=(GENERAL,), max_wait=3600, recheck=3600
    )
    app = Starlette(
        routes=[Mount("/sandbox", sandbox.app), Mount("/slack", sandbox.watch(fake.app))]
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as client:
        yield sandbox, client


async def test_a_page_without_a_heartbeat_receiver_answers_404_for_it(
    quiet_page: tuple[SandboxPage, httpx.AsyncClient],
) -> None:
    _, client = quiet_page

    response = await client.get("/sandbox/api/heartbeat")

    assert response.status_code == 404
    assert "no heartbeat receiver" in response.text


async def test_the_state_long_poll_answers_as_soon_as_the_fake_slack_changes(
    quiet_page: tuple[SandboxPage, httpx.AsyncClient],
) -> None:
    sandbox, client = quiet_page
    version = (await client.get("/sandbox/api/state")).json()["version"]
    waiting = asyncio.create_task(
        client.get("/sandbox/api/state", params={"since": version, "wait": 3600})
    )
    await await_until(lambda: sandbox.waiting() == 1)
    assert not waiting.done()

    posted = await client.post(
        "/slack/api/chat.postMessage",
        data={"channel": GENERAL, "text": "hello"},
        headers={"Authorization": f"Bearer {sandbox.fake.bot_token}"},
    )
    # Woken by the request itself: neither the wait nor the re-read would end this soon.
    answered = (await asyncio.wait_for(waiting, PATIENCE)).json()

    assert posted.json()["ok"]
    assert answered["version"] != version
    assert [m["text"] for m in answered["channels"][0]["messages"]] == ["hello"]


async def test_the_state_long_poll_gives_up_after_its_wait_when_nothing_changed(
    quiet_page: tuple[SandboxPage, httpx.AsyncClient],
) -> None:
    _, client = quiet_page
    version = (await client.get("/sandbox/api/state")).json()["version"]
    started = time.monotonic()

    answered = await client.get("/sandbox/api/state", params={"since": version, "wait": 0.4})

    assert answered.json()["version"] == version
    assert time.monotonic() - started >= 0.4


async def test_closing_the_page_answers_every_waiting_long_poll_at_once(
    quiet_page: tuple[SandboxPage, httpx.AsyncClient],
) -> None:
    sandbox, client = quiet_page
    version = (await client.get("/sandbox/api/state")).json()["version"]
    waiting = [
        asyncio.create_task(
            client.get("/sandbox/api/state", params={"since": version, "wait": 3600})
        )
        for _ in range(3)
    ]
    await await_until(lambda: sandbox.waiting() == 3)

    sandbox.close()
    answers = await asyncio.wait_for(asyncio.gather(*waiting), PATIENCE)

    assert [answer.status_code for answer in answers] == [200, 200, 200]


def test_a_scenario_event_runs_from_the_page_once_even_when_clicked_twice(
    demo: DemoThread, page: httpx.Client
) -> None:
    first = page.post("api/scenario/chat_away")
    second = page.post("api/scenario/chat_away")

    assert first.status_code == 200 and "went Away" in first.json()["text"]
    assert second.status_code == 409 and "already under way" in second.json()["error"]
    name = first.json()["text"].split(":")[0]
    entry = next(e for e in demo.demo.fake_lp.bots() if e.get("botName") == name)
    assert entry["lpSocketStatus"] == "AWAY"
    assert page.post("api/scenario/meteor").status_code == 404


# ---------------------------------------------------------------------- the scenario alone

FAST = ScenarioTiming(
    every=0.01,
    first_after=0,
    recover_after=0.05,
    flap_for=0.05,
    storm_for=0.05,
    restart_after=0.05,
    away_for=0.05,
    degraded_for=0.05,
)


def entry_of(fake: FakeLivePerson, name: str) -> dict[str, Any]:
    return next(e for e in fake.bots() if e.get("botName") == name)


async def settle(scenario: Scenario) -> None:
    await await_until(
        lambda: not any(event["running"] for event in scenario.events()),
        what="the scenario's recoveries finishing",
    )


async def test_a_bot_server_drop_recovers_to_exactly_what_the_source_said_before() -> None:
    fake = FakeLivePerson(bots=40, seed=1)
    scenario = Scenario(fake, FAST)
    before = {(e["botId"], e.get("lpAccountUser")): e for e in fake.bots()}

    text = await scenario.trigger("server_drop")
    name = text.split(":")[0]
    bot_id = entry_of(fake, name)["botId"]
    dropped = [e for e in fake.bots() if e["botId"] == bot_id]
    assert {e["cbSocketStatus"] for e in dropped} == {"NOT_CONNECTED"}
    await settle(scenario)

    for after in (e for e in fake.bots() if e["botId"] == bot_id):
        key = (after["botId"], after.get("lpAccountUser"))
        assert after["cbSocketStatus"] == before[key]["cbSocketStatus"]
    assert "back" in scenario.log()[-1]["text"]


async def test_a_busy_connector_holds_conversations_near_the_limit_then_eases() -> None:
    fake = FakeLivePerson(bots=40, seed=1)
    scenario = Scenario(fake, FAST)

    text = await scenario.trigger("busy_connector")
    _, rest = text.split(": connector ", 1)
    user = rest.split(" ", 1)[0]
    counts = {r["agentLoginName"]: r["openAssignedConversations"] for r in fake.agent_records()}
    assert counts[user] == 962
    await settle(scenario)

    counts = {r["agentLoginName"]: r["openAssignedConversations"] for r in fake.agent_records()}
    assert counts[user] != 962
    assert "eased" in scenario.log()[-1]["text"]


def test_the_page_shows_a_busy_connectors_conversations_and_the_flag(
    demo: DemoThread, page: httpx.Client
) -> None:
    text = demo.run(demo.demo.scenario.trigger("busy_connector"))
    name, rest = text.split(": connector ", 1)
    user = rest.split(" ", 1)[0]

    def flagged() -> bool:
        run_command(page, "alice", f"/botstatus {name}")
        shown = json.dumps(latest_ephemeral(demo, ALICE))
        return f"`{user}` has 962 open conversations, near LivePerson's limit" in shown

    wait_until(flagged, what=f"{name}'s details flag {user} near the limit")
    reply = json.dumps(latest_ephemeral(demo, ALICE))
    assert "962 open conversations" in reply
    assert ":speech_balloon:" in reply


async def test_a_recovery_leaves_alone_a_bot_someone_acted_on_meanwhile() -> None:
    fake = FakeLivePerson(bots=40, seed=1)
    scenario = Scenario(fake, ScenarioTiming(recover_after=0.1))
    name = (await scenario.trigger("server_drop")).split(":")[0]
    bot = entry_of(fake, name)["botId"]

    fake.set_fields(bot, nodeStatus="STOPPED", lastManualOperation="STOP", manualOperationTs=1)
    await settle(scenario)

    assert entry_of(fake, name)["cbSocketStatus"] == "NOT_CONNECTED"
    assert entry_of(fake, name)["nodeStatus"] == "STOPPED"


async def test_a_survey_storm_takes_every_survey_bot_down_together_then_back() -> None:
    fake = FakeLivePerson(bots=40, seed=1)
    scenario = Scenario(fake, FAST)
    surveys = [e for e in fake.bots() if "bcSocketStatus" in e]

    text = await scenario.trigger("survey_storm")

    assert f"{len(surveys)} survey bots" in text
    assert {entry_of(fake, e["botName"])["nodeStatus"] for e in surveys} == {"NOT_CONNECTED"}
    await settle(scenario)
    assert [entry_of(fake, e["botName"])["nodeStatus"] for e in surveys] == [
        e["nodeStatus"] for e in surveys
    ]


async def test_a_stop_by_hand_names_the_person_and_they_start_it_again_later() -> None:
    fake = FakeLivePerson(bots=40, seed=1)
    scenario = Scenario(fake, FAST)

    name = (await scenario.trigger("manual_stop")).split(":")[0]
    stopped = entry_of(fake, name)
    assert (stopped["nodeStatus"], stopped["lastManualOperation"]) == ("STOPPED", "STOP")
    assert stopped["manualOperationPerformedByName"] == "Jane Ops"
    await settle(scenario)

    started = entry_of(fake, name)
    assert started["lastManualOperation"] == "START"
    assert started["nodeStatus"].lower() == "online"


async def test_one_connector_drop_degrades_a_bot_and_the_last_one_takes_it_down() -> None:
    fake = FakeLivePerson(bots=40, seed=1)
    scenario = Scenario(fake, FAST)
    with pytest.raises(NoBotForEvent, match="no bot is degraded"):
        await scenario.trigger("last_connector_drop")

    text = await scenario.trigger("connector_drop")
    name = text.split(":")[0]
    bot_id = entry_of(fake, name)["botId"]
    statuses = {e["lpAccountUser"]: e["nodeStatus"] for e in fake.bots() if e["botId"] == bot_id}
    assert len(statuses) >= 2
    assert sorted(statuses.values()).count("NOT_CONNECTED") == 1
    assert "still serve" in text

    last = await scenario.trigger("last_connector_drop")
    assert last.startswith(f"{name}: its last serving")
    assert {e["nodeStatus"] for e in fake.bots() if e["botId"] == bot_id} == {"NOT_CONNECTED"}
    await settle(scenario)

    assert {e["nodeStatus"] for e in fake.bots() if e["botId"] == bot_id} == {"ONLINE"}
    assert "Online again" in scenario.log()[-1]["text"]


async def test_the_same_event_picks_another_bot_next_time() -> None:
    fake = FakeLivePerson(bots=40, seed=1)
    scenario = Scenario(fake, FAST)

    first = (await scenario.trigger("server_drop")).split(":")[0]
    await settle(scenario)
    second = (await scenario.trigger("server_drop")).split(":")[0]
    await settle(scenario)

    assert first != second


async def test_an_event_with_no_bot_to_act_on_says_so() -> None:
    scenario = Scenario(FakeLivePerson(bots=0), FAST)

    with pytest.raises(NoBotForEvent, match="no healthy bot"):
        await scenario.trigger("chat_away")


async def test_autoplay_plays_every_event_in_turn_and_stops_without_leftovers() -> None:
    fake = FakeLivePerson(bots=40, seed=1)
    scenario = Scenario(fake, FAST)

    every_event = ("Bot Server", "still serve", "the bot is down", "flapping", "survey", "Away")
    every_event += ("by hand",)

    def played() -> list[str]:
        texts = " ".join(entry["text"] for entry in scenario.log())
        return [words for words in every_event if words not in texts]

    scenario.start(autoplay=True)
    await await_until(lambda: not played(), what="every event played")
    await scenario.stop()

    assert played() == []
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("scenario-")] == []


def test_autoplay_waits_its_turn_when_every_event_is_already_running() -> None:
    slow = ScenarioTiming(
        every=0.01,
        first_after=0,
        recover_after=60,
        flap_for=60,
        storm_for=60,
        restart_after=60,
        away_for=60,
        degraded_for=60,
    )
    scenario = Scenario(FakeLivePerson(bots=40, seed=1), slow)
    heartbeats = 0

    async def main() -> None:
        nonlocal heartbeats
        for name in EVENT_NAMES:
            await scenario.trigger(name)
        scenario.start(autoplay=True)
        for _ in range(30):
            heartbeats += 1
            await asyncio.sleep(0.01)
        await scenario.stop()

    # Its own loop in its own thread: an autoplay that spins fails this test, not the suite.
    runner = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    runner.start()
    runner.join(timeout=PATIENCE)

    assert not runner.is_alive(), "autoplay kept the event loop busy"
    assert heartbeats == 30


def test_a_flapping_bot_changes_back_and_forth_in_what_the_app_stores(demo: DemoThread) -> None:
    scenario = demo.demo.scenario
    name = demo.run(scenario.trigger("flapping")).split(":")[0]
    bot = bot_id(demo, name)

    async def cloud_values() -> list[str]:
        """The values the bot's first connector took (every connector of it flaps alike)."""
        async with demo.demo.runtime.sessions() as session:
            since = demo.demo.runtime.clock() - timedelta(minutes=1)
            found = await transitions_for(session, bot, since)
        first = min((t.bot_user for t in found), default="")
        return [t.new for t in found if t.bot_user == first]

    def flapped() -> bool:
        values = demo.run(cloud_values())
        return "Not Connected" in values and "Connected" in values

    wait_until(flapped, what=f"{name} stored as Not Connected and then Connected")
    assert demo.run(cloud_values())[:2] == ["Not Connected", "Connected"]


# ---------------------------------------------------------------------- the command


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class DemoProcess:
    process: subprocess.Popen[str]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    def ctrl_c(self) -> None:
        """Send SIGINT as a terminal's Ctrl-C does, and wait for the exit."""
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=PATIENCE)


@contextmanager
def demo_process(port: int) -> Iterator[DemoProcess]:
    """``python -m chatops demo --port PORT``, once it has printed its URL."""
    with subprocess.Popen(
        [sys.executable, "-m", "chatops", "demo", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as process:
        running = DemoProcess(process)
        stdout, stderr = process.stdout, process.stderr
        assert stdout is not None and stderr is not None
        readers = [
            threading.Thread(target=lambda: running.stdout.extend(stdout)),
            threading.Thread(target=lambda: running.stderr.extend(stderr)),
        ]
        for reader in readers:
            reader.start()
        try:

            def started() -> bool:
                assert process.poll() is None, f"the demo exited: {running.stderr}"
                return any("Open http" in line for line in running.stdout)

            wait_until(started, what="the demo printing its URL")
            yield running
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            for reader in readers:
                reader.join(timeout=PATIENCE)


def test_chatops_demo_prints_one_url_serves_the_page_and_stops_on_ctrl_c_with_exit_0() -> None:
    port = free_port()
    with demo_process(port) as demo:
        urls = re.findall(r"https?://\S+", "".join(demo.stdout))
        assert urls == [f"http://127.0.0.1:{port}/sandbox/"]
        page = httpx.get(urls[0], timeout=PATIENCE)
        assert page.status_code == 200 and "<title>chatops sandbox</title>" in page.text
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=PATIENCE).text == "ok"

        demo.ctrl_c()

    assert demo.process.returncode == 0, demo.stderr
    assert not psutil.pid_exists(demo.process.pid)
    assert port_is_free(port)
    stderr = "".join(demo.stderr)
    assert "Traceback" not in stderr, stderr


def test_ctrl_c_while_a_stop_waits_on_a_slow_source_still_exits_cleanly_and_promptly() -> None:
    port = free_port()
    with demo_process(port) as demo:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=PATIENCE) as client:
            # Longer than the test waits for the exit: an exit that waited for it fails.
            fault = {"kind": "latency", "seconds": 3600, "path": "/stop/", "times": 1}
            client.post("/fake/liveperson/_sandbox/faults", json=fault).raise_for_status()
            command = {"persona": "alice", "text": "/botstatus faq-bot-6", "channel": GENERAL}
            assert client.post("/sandbox/api/command", json=command).json()["ok"]
            reply = client.get("/sandbox/api/state").json()["ephemerals"]["alice"][-1]
            click = {
                "persona": "alice",
                "surface": "ephemeral",
                "channel": GENERAL,
                "ts": reply["ts"],
                "action_id": "bot_stop",
            }
            assert client.post("/sandbox/api/click", json=click).json() == {"ok": True}
            # The app acked; wait until its call to LivePerson sleeps in the latency fault.
            wait_until(
                lambda: not client.get("/fake/liveperson/_sandbox/faults").json()["faults"],
                what="the stop reaching the fake LivePerson",
            )

        demo.ctrl_c()

    assert demo.process.returncode == 0, demo.stderr
    assert port_is_free(port)


def test_a_port_in_use_gets_a_clear_message_naming_the_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = subprocess.run(
            [sys.executable, "-m", "chatops", "demo", "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        )

    assert result.returncode == 1
    assert f"port {port} is already in use" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_demo_in_a_thread_leaves_no_thread_behind() -> None:
    before = set(threading.enumerate())

    with DemoThread(DemoOptions(autoplay=True, timing=FAST)) as running:
        assert httpx.get(running.page_url, timeout=PATIENCE).status_code == 200

    wait_until(lambda: not set(threading.enumerate()) - before, what="the demo's threads ending")
