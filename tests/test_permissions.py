"""The permission mapping against the fake Slack workspace (users.info, usergroups.list)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from chatops.config import AppConfig, PermissionRule
from chatops.permissions import PERMISSIONS, Access, AccessLookupError, PermissionResolver
from chatops.sandbox.slack import FakeSlack, FakeSlackHost, Persona, RunningServer
from chatops.slack import restart
from chatops.store.models import Bot
from tests.clock import ManualClock

CONTACT = "@bot-admins"

# The example mapping of ARCHITECTURE.md section 4, read the way the YAML file is read.
EXAMPLE_RULES = AppConfig.model_validate(
    {
        "permissions": [
            {
                "users": ["U0ALICE", "alice@example.com"],
                "usergroups": ["bot-ops"],
                "allow": ["view", "start", "stop", "mute"],
            },
            {"usergroups": ["support-leads"], "allow": ["view"], "bots": ["survey-*"]},
        ]
    }
).permissions

BOTS = ("billing-bot", "survey-nps", "Survey-CSAT", "billing-survey")
# (persona, permission, bot) -> allowed; everything not listed is refused.
# The example grants alice everything but ``ack``.
ALICE_GRANTED = ("view", "start", "stop", "mute")
EXAMPLE_GRANTS = {("U0ALICE", permission, bot) for permission in ALICE_GRANTED for bot in BOTS} | {
    ("U0BOB", "view", "survey-nps"),
    ("U0BOB", "view", "Survey-CSAT"),
}


@pytest.fixture
async def client(fake_slack: RunningServer) -> AsyncIterator[AsyncWebClient]:
    yield AsyncWebClient(token=fake_slack.fake.bot_token, base_url=fake_slack.fake.base_url)


def resolver(
    client: AsyncWebClient,
    rules: tuple[PermissionRule, ...] = EXAMPLE_RULES,
    clock: ManualClock | None = None,
) -> PermissionResolver:
    return PermissionResolver(
        rules, client, contact=CONTACT, cache_ttl=60.0, clock=(clock or ManualClock(1000.0)).time
    )


def rule(**fields: object) -> PermissionRule:
    return PermissionRule.model_validate(fields)


@pytest.mark.parametrize("user_id", ["U0ALICE", "U0BOB", "U0CHARLIE"])
async def test_it_grants_exactly_what_the_example_mapping_says(
    client: AsyncWebClient, user_id: str
) -> None:
    access = await resolver(client).access(user_id)

    for permission in PERMISSIONS:
        for bot in BOTS:
            expected = (user_id, permission, bot) in EXAMPLE_GRANTS
            assert access.can(permission, bot) is expected, (permission, bot)
            if permission == "view":
                assert access.visible(bot) is expected, bot


async def test_it_resolves_alice_by_id_email_and_group(client: AsyncWebClient) -> None:
    access = await resolver(client).access("U0ALICE")

    assert access.email == "alice@example.com"
    assert {"bot-ops", "s0botops"} <= access.groups
    assert len(access.rules) == 1


async def test_it_denies_charlie_everything_by_default(client: AsyncWebClient) -> None:
    access = await resolver(client).access("U0CHARLIE")

    assert access.rules == ()
    assert access.permissions == frozenset()
    assert not any(access.can(permission) for permission in PERMISSIONS)


async def test_it_says_bob_can_view_some_bot_but_start_none(client: AsyncWebClient) -> None:
    access = await resolver(client).access("U0BOB")

    assert access.can("view")
    assert not access.can("start")
    assert access.permissions == {"view"}


async def test_it_matches_emails_ignoring_case(client: AsyncWebClient) -> None:
    rules = (rule(users=["Alice@EXAMPLE.com"], allow=["view"]),)

    alice = await resolver(client, rules).access("U0ALICE")
    bob = await resolver(client, rules).access("U0BOB")

    assert alice.can("view", "any-bot")
    assert not bob.can("view", "any-bot")


@pytest.mark.parametrize("group", ["S0BOTOPS", "@bot-ops", "BOT-OPS"])
async def test_it_accepts_a_group_by_handle_or_id(client: AsyncWebClient, group: str) -> None:
    rules = (rule(usergroups=[group], allow=["stop"]),)

    alice = await resolver(client, rules).access("U0ALICE")
    bob = await resolver(client, rules).access("U0BOB")

    assert alice.can("stop", "billing-bot")
    assert not bob.can("stop", "billing-bot")


async def test_it_unites_the_grants_of_several_rules(client: AsyncWebClient) -> None:
    rules = (
        rule(users=["U0BOB"], allow=["start"], bots=["billing-*"]),
        rule(usergroups=["support-leads"], allow=["stop"], bots=["survey-*"]),
    )

    access = await resolver(client, rules).access("U0BOB")

    assert access.can("start", "billing-bot") and not access.can("start", "survey-nps")
    assert access.can("stop", "survey-nps") and not access.can("stop", "billing-bot")
    assert not access.can("view", "billing-bot")


async def test_a_restart_needs_view_start_and_stop_on_every_bot_it_names(
    client: AsyncWebClient,
) -> None:
    rules = (
        rule(users=["U0ALICE"], allow=["view", "start", "stop"]),
        rule(users=["U0BOB"], allow=["view"]),
        rule(users=["U0BOB"], allow=["start", "stop"], bots=["survey-*"]),
        rule(users=["U0CHARLIE"], allow=["start", "stop"]),
    )
    bots = [
        Bot(
            id=f"lp-{name}",
            name=name,
            kind="custom",
            channel="messaging",
            environment="production",
            health="ok",
            health_since=datetime(2026, 1, 1, tzinfo=UTC),
            first_seen=datetime(2026, 1, 1, tzinfo=UTC),
        )
        for name in BOTS
    ]

    def outside(target: str, access: Access) -> list[str]:
        planned = restart.plan(bots, {}, target, pcs_count=0)
        return [card.name for card in planned.outside(access)]

    alice, bob, charlie = [
        await resolver(client, rules).access(user) for user in ("U0ALICE", "U0BOB", "U0CHARLIE")
    ]

    assert outside("*", alice) == []
    assert outside("survey-*", bob) == []
    assert outside("*", bob) == ["billing-bot", "billing-survey"]
    # start and stop without view are not enough: charlie may not see them.
    assert outside("billing-bot", charlie) == ["billing-bot"]


def test_a_glob_matches_the_whole_name_ignoring_case() -> None:
    access = Access(
        user_id="U0BOB",
        email=None,
        groups=frozenset(),
        rules=(rule(users=["U0BOB"], allow=["view"], bots=["survey-*", "exact"]),),
    )

    assert access.visible("SURVEY-nps")
    assert access.visible("Exact")
    assert not access.visible("billing-survey-nps")
    assert not access.visible("exactly")


async def test_it_looks_nothing_up_when_rules_name_only_user_ids(
    fake_slack: RunningServer, client: AsyncWebClient
) -> None:
    rules = (rule(users=["U0ALICE"], allow=["view"]),)

    access = await resolver(client, rules).access("U0ALICE")

    assert access.can("view", "any-bot")
    assert fake_slack.fake.calls("users.info") == []
    assert fake_slack.fake.calls("usergroups.list") == []


async def test_it_skips_users_info_when_rules_name_no_email(
    fake_slack: RunningServer, client: AsyncWebClient
) -> None:
    rules = (rule(usergroups=["bot-ops"], allow=["view"]),)

    await resolver(client, rules).access("U0ALICE")

    assert fake_slack.fake.calls("users.info") == []
    assert len(fake_slack.fake.calls("usergroups.list")) == 1


async def test_it_caches_lookups_for_the_ttl_then_refreshes(
    fake_slack: RunningServer, client: AsyncWebClient
) -> None:
    clock = ManualClock(1000.0)
    permissions = resolver(client, clock=clock)

    await permissions.access("U0ALICE")
    clock.advance(59)
    await permissions.access("U0ALICE")
    await permissions.access("U0BOB")

    assert len(fake_slack.fake.calls("users.info")) == 2  # alice once, bob once
    assert len(fake_slack.fake.calls("usergroups.list")) == 1  # shared by every user

    clock.advance(2)
    await permissions.access("U0ALICE")

    assert len(fake_slack.fake.calls("users.info")) == 3
    assert len(fake_slack.fake.calls("usergroups.list")) == 2


async def test_concurrent_users_share_one_group_lookup(
    fake_slack: RunningServer, client: AsyncWebClient
) -> None:
    permissions = resolver(client)

    results = await asyncio.gather(*(permissions.access("U0BOB") for _ in range(10)))

    assert all(access.visible("survey-nps") for access in results)
    assert len(fake_slack.fake.calls("usergroups.list")) == 1


async def test_it_refuses_when_users_info_fails_with_500(
    fake_slack: RunningServer, client: AsyncWebClient
) -> None:
    fake_slack.fake.inject(method="users.info", status=500)

    with pytest.raises(AccessLookupError) as raised:
        await resolver(client).access("U0ALICE")

    assert (
        str(raised.value)
        == "could not look up your Slack profile (users.info: HTTP 500, fatal_error)"
    )
    assert fake_slack.fake.bot_token not in str(raised.value)


async def test_it_refuses_when_usergroups_stay_rate_limited_after_retries(
    fake_slack: RunningServer,
) -> None:
    client = AsyncWebClient(
        token=fake_slack.fake.bot_token,
        base_url=fake_slack.fake.base_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    fake_slack.fake.inject(method="usergroups.list", status=429, retry_after=0, times=5)

    with pytest.raises(AccessLookupError, match=r"usergroups\.list: HTTP 429, ratelimited"):
        await resolver(client).access("U0ALICE")

    assert len(fake_slack.fake.calls("usergroups.list")) == 2  # the retry, then give up


async def test_it_refuses_an_unknown_user_with_slacks_reason(
    fake_slack: RunningServer, client: AsyncWebClient
) -> None:
    with pytest.raises(AccessLookupError, match=r"users\.info: user_not_found"):
        await resolver(client).access("U0NOBODY")


async def test_a_failed_lookup_is_not_cached(
    fake_slack: RunningServer, client: AsyncWebClient
) -> None:
    permissions = resolver(client)
    fake_slack.fake.inject(method="usergroups.list", status=503)

    with pytest.raises(AccessLookupError):
        await permissions.access("U0ALICE")
    access = await permissions.access("U0ALICE")

    assert access.can("stop", "billing-bot")


async def test_it_refuses_when_slack_cannot_be_reached() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    client = AsyncWebClient(token="xoxb-test", base_url=f"http://127.0.0.1:{port}/api/")

    with pytest.raises(AccessLookupError, match=r"users\.info: ClientConnectorError"):
        await resolver(client).access("U0ALICE")


async def test_it_refuses_when_slack_hides_the_email(fake_slack_host: FakeSlackHost) -> None:
    dave = Persona("U0DAVE", "dave", "", ("bot-ops",))
    with fake_slack_host.add(FakeSlack(personas=[dave])) as server:
        client = AsyncWebClient(token=server.fake.bot_token, base_url=server.fake.base_url)

        with pytest.raises(AccessLookupError, match=r"users:read\.email"):
            await resolver(client).access("U0DAVE")


async def test_a_group_that_does_not_exist_matches_nobody_and_is_logged(
    client: AsyncWebClient, caplog: pytest.LogCaptureFixture
) -> None:
    rules = (rule(usergroups=["bot-opps"], allow=["view"]),)

    with caplog.at_level(logging.WARNING, logger="chatops.permissions.mapping"):
        access = await resolver(client, rules).access("U0ALICE")

    assert not access.can("view")
    assert "no Slack user group bot-opps" in caplog.text


async def test_forget_drops_the_cache(fake_slack: RunningServer, client: AsyncWebClient) -> None:
    permissions = resolver(client)

    await permissions.access("U0ALICE")
    permissions.forget()
    await permissions.access("U0ALICE")

    assert len(fake_slack.fake.calls("users.info")) == 2


def test_a_refusal_names_the_permission_and_the_contact_and_no_bot() -> None:
    permissions = resolver(AsyncWebClient(token="xoxb-unused"))

    assert permissions.refusal("stop") == (
        "You need the *stop* permission for this bot. Ask @bot-admins to grant it."
    )
    assert "Bot Status Access" in permissions.refusal("view")
    assert "*mute*" in permissions.refusal("mute")


def test_a_lookup_failure_tells_the_user_nothing_was_granted() -> None:
    error = AccessLookupError("could not look up your Slack profile (users.info: ratelimited)")

    message = resolver(AsyncWebClient(token="xoxb-unused")).lookup_failure(error)

    assert message.startswith("I could not look up your Slack profile (users.info: ratelimited)")
    assert "cannot check your permissions" in message
    assert CONTACT in message
