"""The demo's parts on one port: the real app, both fakes, the sandbox page and the scenario.

One ASGI app, one URL::

    /sandbox/            the sandbox page (chatops.sandbox.ui)
    /slack/events, /healthz, /readyz, /metrics    the real app (chatops.runtime)
    /fake/slack/         the fake Slack Web API and response URLs (SLACK_API_URL points here)
    /fake/liveperson/    the fake LivePerson APIs and its control API (LP_API_URL points here)
    /fake/heartbeat/     a fake push monitor that records the app's heartbeat pings

The app talks to the fakes over HTTP on loopback and the page sends it signed requests, so
everything between them is what runs in production; only the outside world is fake.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from chatops import config
from chatops.config import (
    AlertsConfig,
    AppConfig,
    EnvSettings,
    HeartbeatConfig,
    PermissionRule,
    PollConfig,
    Settings,
)
from chatops.demo.scenario import Scenario, ScenarioTiming
from chatops.runtime import Runtime, build_runtime
from chatops.sandbox.heartbeat import HeartbeatReceiver
from chatops.sandbox.liveperson import FakeLivePerson
from chatops.sandbox.slack import SLACK_DEADLINE_SECONDS, FakeSlack
from chatops.sandbox.ui import SandboxPage

PAGE_PATH = "/sandbox"
FAKE_SLACK_PATH = "/fake/slack"
FAKE_LIVEPERSON_PATH = "/fake/liveperson"
FAKE_HEARTBEAT_PATH = "/fake/heartbeat"
HEARTBEAT_CHECK = "chatops-demo"

ALERTS_CHANNEL = "C0ALERTS"
SURVEYS_CHANNEL = "C0SURVEYS"
GENERAL_CHANNEL = "C0GENERAL"
CHANNELS = (ALERTS_CHANNEL, SURVEYS_CHANNEL, GENERAL_CHANNEL)

# The three personas of the fake workspace (chatops.sandbox.slack.PERSONAS) and what the
# demo's permission mapping lets each do.
ROLES = {"alice": "operator", "bob": "viewer", "charlie": "nobody"}
PERMISSIONS = (
    PermissionRule(
        users=("U0ALICE", "alice@example.com"),
        usergroups=("bot-ops",),
        allow=("view", "start", "stop", "mute", "ack"),
    ),
    PermissionRule(usergroups=("support-leads",), allow=("view",)),
)


@dataclass(frozen=True)
class DemoOptions:
    """What a demo run can vary; the defaults are what ``chatops demo`` uses."""

    poll_interval: timedelta = timedelta(seconds=3)
    bots: int = 40
    seed: int = 1
    # Seconds a Start takes in the fake before the connector is Online.
    start_delay: float = 2.0
    # Events on their own every ``timing.every`` seconds; the page's buttons work either way.
    autoplay: bool = True
    timing: ScenarioTiming = field(default_factory=ScenarioTiming)
    # The app pings the sandbox's heartbeat receiver at most this often.
    heartbeat_every: timedelta = timedelta(seconds=10)
    # How long the fake Slack waits for the app's answers (Slack's own deadline by default).
    slack_deadline: float = SLACK_DEADLINE_SECONDS


def demo_config(options: DemoOptions, base_url: str) -> AppConfig:
    return AppConfig(
        poll=PollConfig(
            interval=options.poll_interval,
            timeout=timedelta(seconds=5),
            unreachable_after=3,
        ),
        alerts=AlertsConfig(
            channel=ALERTS_CHANNEL,
            routes=(config.Route(channel=SURVEYS_CHANNEL, bots=("survey-*",)),),
            confirm_polls=2,
            # The survey storm takes every survey bot down in one poll: a digest, not five.
            digest_after=3,
        ),
        permissions=PERMISSIONS,
        permissions_contact="alice in #general",
        heartbeat=HeartbeatConfig(
            url=f"{base_url}{FAKE_HEARTBEAT_PATH}/{HEARTBEAT_CHECK}", every=options.heartbeat_every
        ),
    )


def demo_settings(
    base_url: str,
    database_url: str,
    fake_slack: FakeSlack,
    fake_lp: FakeLivePerson,
    options: DemoOptions,
) -> Settings:
    """Settings pointing at the fakes; nothing is read from the environment or a file."""
    env = EnvSettings(
        slack_bot_token=SecretStr(fake_slack.bot_token),
        slack_signing_secret=SecretStr(fake_slack.signing_secret),
        slack_api_url=fake_slack.base_url,
        database_url=database_url,
        lp_account_id=fake_lp.account_id,
        lp_username=fake_lp.username,
        lp_password=SecretStr(fake_lp.password),
        lp_api_url=base_url + FAKE_LIVEPERSON_PATH,
    )
    return Settings(env=env, app=demo_config(options, base_url))


@dataclass
class Demo:
    """Everything one demo run is made of; ``app`` is the ASGI app to serve at ``base_url``."""

    base_url: str
    fake_slack: FakeSlack
    fake_lp: FakeLivePerson
    heartbeat: HeartbeatReceiver
    runtime: Runtime
    page: SandboxPage
    scenario: Scenario
    app: Starlette

    @property
    def page_url(self) -> str:
        return f"{self.base_url}{PAGE_PATH}/"


def build_demo(base_url: str, database_url: str, options: DemoOptions | None = None) -> Demo:
    """Build (not start) a demo that will be served at ``base_url`` (``http://host:port``)."""
    options = options or DemoOptions()
    base_url = base_url.rstrip("/")
    fake_slack = FakeSlack(channels=CHANNELS, deadline=options.slack_deadline)
    fake_slack.set_public_url(base_url + FAKE_SLACK_PATH)
    fake_lp = FakeLivePerson(bots=options.bots, seed=options.seed, start_delay=options.start_delay)
    heartbeat = HeartbeatReceiver()
    runtime = build_runtime(demo_settings(base_url, database_url, fake_slack, fake_lp, options))
    # Bolt waits for a listener's ack as long as this Slack waits for the answer.
    runtime.slack_ack_timeout = math.ceil(options.slack_deadline)
    scenario = Scenario(fake_lp, options.timing)
    page = SandboxPage(
        fake_slack,
        base_url + "/slack/events",
        channels=CHANNELS,
        roles=ROLES,
        scenario=scenario,
        heartbeat=heartbeat,
    )
    # The page shows the scenario's log: a new entry wakes the page like a Slack message does.
    scenario.on_change = page.changed
    app_web = runtime.web_app()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # The app's own lifespan (migrations, scheduler, clients), then the scenario on top.
        async with app_web.router.lifespan_context(app_web):
            scenario.start(autoplay=options.autoplay)
            try:
                yield
            finally:
                page.close()
                await scenario.stop()

    async def to_page(_: Request) -> Response:
        return RedirectResponse(PAGE_PATH + "/")

    app = Starlette(
        routes=[
            Route("/", to_page),
            Route(PAGE_PATH, to_page),
            Mount(PAGE_PATH, page.app),
            Mount(FAKE_SLACK_PATH, page.watch(fake_slack.app)),
            Mount(FAKE_LIVEPERSON_PATH, fake_lp.app),
            Mount(FAKE_HEARTBEAT_PATH, heartbeat.app),
            Mount("", app_web),
        ],
        lifespan=lifespan,
    )
    return Demo(base_url, fake_slack, fake_lp, heartbeat, runtime, page, scenario, app)
