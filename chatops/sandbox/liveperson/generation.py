"""Generating the fake fleet from a seed: bots, their agent connectors, a few problems.

Same arguments, same fleet. A fleet is asked for by bots (``bots=40``) or by status-list
entries (``connectors=10_000``, about 4,000 bots: what the benchmarks use).

- About one bot in eight is a PCS (post-conversation survey) bot. As on LivePerson, all PCS
  bots share one connector, the "Survey Connector": the PCS status list has one entry per
  PCS bot, each with its own ``botId``/``appName`` and the one connector's user, statuses
  and manual operation. Starting or stopping any PCS bot acts on that connector.
- Custom bots have 1 to 4 connectors (mostly 2 to 4, LivePerson's advice for production).
  Each is an entry of its own: same ``botId``, its own ``lpAccountUser`` (``billing_bot_3``
  for a bot with one, ``care_chat_1a``, ``care_chat_1b``... for several), ``lpUserId``,
  ``appName``, statuses and manual-operation fields.
- The rest is healthy but for a few custom bots with a problem: stopped by hand or never
  started (every connector), a lost connection (sometimes on every connector, sometimes on
  the last one only: the bot is degraded). A few bots' entries leave ``botName`` out.
- Opt-in variety of real accounts: ``messy`` leaves ``botName``, ``type`` or
  ``lpAccountUser`` out of some entries; ``duplicates`` lists some entries twice.

Bot ids, names, channels and groups come from one random stream and connectors from
another, so a bot keeps its identity whatever is asked of the connectors.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import NamedTuple

from chatops.sandbox.jsontypes import JSONDict
from chatops.sandbox.liveperson.model import (
    PCS_USER,
    STYLES,
    UNASSIGNED_GROUP,
    Bot,
    Connector,
    Listing,
)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

# Name families: (name prefix, bot group). Bot names look like "billing-bot-3".
_MESSAGING_FAMILIES = (
    ("billing-bot", "Billing"),
    ("support-bot", "Support"),
    ("orders-bot", "Orders"),
    ("returns-bot", "Orders"),
    ("faq-bot", "Support"),
    ("booking-bot", "Travel"),
)
_CHAT_FAMILIES = (
    ("sales-chat", "Sales"),
    ("help-chat", "Support"),
    ("care-chat", "Support"),
)
_PCS_FAMILIES = (
    ("survey-nps", "Surveys"),
    ("survey-csat", "Surveys"),
    ("survey-ces", "Surveys"),
)
_PEOPLE = ("Jane Ops", "Ravi Kumar", "Ana Souza", "Tom Becker", "Mei Lin")
# Problems a few custom bots start with; the rest of the fleet is healthy.
_PROBLEMS = ("stopped", "not_connected", "cloud_down", "ready", "server_down", "away")
# Connectors per custom bot and how often each count occurs: 2.7 on average, so with one
# PCS bot in eight a fleet has about 2.5 entries per bot.
_CONNECTOR_COUNTS = (1, 2, 3, 4)
_CONNECTOR_WEIGHTS = (15, 30, 25, 30)
# Messy fleets: one entry in N leaves the field out (at least one entry each).
_MESSY_SHARES = (("botName", 15), ("type", 15), ("lpAccountUser", 25))
# Fleets with duplicates: one entry in N is listed twice (at least one).
_DUPLICATE_SHARE = 40


@dataclass
class GeneratedFleet:
    bots: list[Bot]
    groups: dict[str, str]
    organization_id: str


class _Plan(NamedTuple):
    pcs: bool
    prefix: str
    group: str
    channel: str
    environment: str
    connectors: int


class _Draws(NamedTuple):
    """A connector's random values: creation, last start, bot user, server, activity."""

    created_ms: int
    started_ms: int
    user_id: str
    server: str
    updated_ms: int
    performer_id: str
    performer: str
    last_message_ms: int


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate_fleet(
    *,
    bots: int | None,
    connectors: int | None,
    seed: int,
    account_id: str,
    now_ms: int,
    messy: bool = False,
    duplicates: bool = False,
) -> GeneratedFleet:
    """``bots`` bots, or as many as make ``connectors`` status-list entries (exactly)."""
    if (bots is None) == (connectors is None):
        raise ValueError("give the fleet's size as bots or as connectors, not both")
    if (bots or 0) < 0 or (connectors or 0) < 0:
        raise ValueError("bots and connectors must be 0 or more")
    rng = random.Random(seed)
    connector_rng = random.Random(f"connectors:{seed}")
    organization_id = _uuid(rng)
    group_names = sorted(
        {group for _, group in _MESSAGING_FAMILIES + _CHAT_FAMILIES + _PCS_FAMILIES}
    )
    groups = {_uuid(rng): name for name in group_names}
    group_ids = {name: group_id for group_id, name in groups.items()}

    plans = _plans(rng, connector_rng, bots, connectors)
    count = len(plans)
    custom_indexes = [index for index, plan in enumerate(plans) if not plan.pcs]
    healthy_pool = custom_indexes[4:] if len(custom_indexes) > 8 else custom_indexes
    problem_count = min(len(healthy_pool), max(4, count // 12)) if count >= 8 else 0
    problems = dict(
        zip(
            rng.sample(healthy_pool, problem_count),
            range(problem_count),
            strict=True,
        )
    )
    nameless_pool = [i for i in healthy_pool if i not in problems]
    nameless = set(rng.sample(nameless_pool, min(len(nameless_pool), max(2, count // 40))))

    pcs_styles = (rng.choice(STYLES), rng.choice(STYLES))
    survey: Connector | None = None
    counters: dict[str, int] = {}
    fleet: list[Bot] = []
    for index, plan in enumerate(plans):
        counters[plan.prefix] = counters.get(plan.prefix, 0) + 1
        name = f"{plan.prefix}-{counters[plan.prefix]}"
        bot_id = _uuid(rng)
        # PCS bots share one connector, so they share its spelling too.
        node_style, socket_style = (
            pcs_styles if plan.pcs else (rng.choice(STYLES), rng.choice(STYLES))
        )
        created_ms = now_ms - rng.randint(30, 400) * DAY_MS
        started_ms = created_ms + rng.randint(1, 20) * HOUR_MS
        bot_fields: JSONDict = {
            "botVersion": str(rng.randint(1, 40)),
            "organizationId": organization_id,
            "orgName": "Sandbox Org",
        }
        first_draws = _draw(rng, created_ms, started_ms, now_ms)
        users = _users(name, plan)
        connectors_of_bot = [
            _connector(users[0], plan, account_id, first_draws, node_style, socket_style, now_ms)
        ]
        for user in users[1:]:
            extra_created = created_ms + connector_rng.randint(0, 29) * DAY_MS
            extra_started = extra_created + connector_rng.randint(1, 20) * HOUR_MS
            connectors_of_bot.append(
                _connector(
                    user,
                    plan,
                    account_id,
                    _draw(connector_rng, extra_created, extra_started, now_ms),
                    connector_rng.choice(STYLES),
                    connector_rng.choice(STYLES),
                    now_ms,
                )
            )
        if plan.pcs:
            bot_fields.update(
                {
                    "statusCode": 200,
                    "success": True,
                    "authType": "USER_PASS",
                    "organizationName": "Sandbox Org",
                    "changed": False,
                    "configurations": {"lpUserRole": "AGENT"},
                }
            )
            # The first PCS bot's connector is the Survey Connector of every PCS bot.
            survey = survey or connectors_of_bot[0]
            connectors_of_bot = [survey]
        problem = problems.get(index)
        if problem is not None:
            kind = _PROBLEMS[problem % len(_PROBLEMS)]
            for connector in _problem_targets(connectors_of_bot, kind, problem):
                _apply_problem(connector, kind, now_ms)
        # A tenth of the custom bots are in no bot group, as on a real account.
        group_id = (
            UNASSIGNED_GROUP if not plan.pcs and rng.random() < 0.1 else group_ids[plan.group]
        )
        hidden = {"botName"} if index in nameless else set()
        fleet.append(
            Bot(
                bot_id=bot_id,
                name=name,
                pcs=plan.pcs,
                group_id=group_id,
                chat=plan.channel == "chat",
                fields=bot_fields,
                listings=[Listing(connector, set(hidden)) for connector in connectors_of_bot],
            )
        )
    listings = [listing for bot in fleet for listing in bot.listings]
    if messy:
        messy_rng = random.Random(f"messy:{seed}")
        for field_name, share in _MESSY_SHARES:
            for listing in _some(messy_rng, listings, share):
                listing.hidden.add(field_name)
    if duplicates:
        for listing in _some(random.Random(f"duplicates:{seed}"), listings, _DUPLICATE_SHARE):
            listing.repeated = True
    return GeneratedFleet(fleet, groups, organization_id)


def _plans(
    rng: random.Random, connector_rng: random.Random, bots: int | None, connectors: int | None
) -> list[_Plan]:
    """Each bot's kind, family, channel, environment and number of connectors."""
    plans: list[_Plan] = []
    listed = 0
    while (bots is not None and len(plans) < bots) or (
        connectors is not None and listed < connectors
    ):
        index = len(plans)
        if index % 8 == 7:
            prefix, group = rng.choice(_PCS_FAMILIES)
            plan = _Plan(True, prefix, group, "messaging", "PRODUCTION", 1)
        else:
            # The first four bots cover every channel and environment, whatever the seed.
            if index < 4:
                chat, staging = index % 2 == 1, index >= 2
            else:
                chat, staging = rng.random() < 0.3, rng.random() < 0.25
            prefix, group = rng.choice(_CHAT_FAMILIES if chat else _MESSAGING_FAMILIES)
            count = connector_rng.choices(_CONNECTOR_COUNTS, _CONNECTOR_WEIGHTS)[0]
            if connectors is not None:
                count = min(count, connectors - listed)
            plan = _Plan(
                False,
                prefix,
                group,
                "chat" if chat else "messaging",
                "STAGING" if staging else "PRODUCTION",
                count,
            )
        plans.append(plan)
        listed += plan.connectors
    return plans


def _users(name: str, plan: _Plan) -> list[str]:
    if plan.pcs:
        return [PCS_USER]
    base = name.replace("-", "_")
    if plan.connectors == 1:
        return [base]
    return [f"{base}{letter}" for letter in "abcdefghijklmnopqrstuvwxyz"[: plan.connectors]]


def _draw(rng: random.Random, created_ms: int, started_ms: int, now_ms: int) -> _Draws:
    return _Draws(
        created_ms=created_ms,
        started_ms=started_ms,
        user_id=str(rng.randint(1_000_000_000, 4_999_999_999)),
        server=f"nodejs-{rng.randint(1, 12):02d}",
        updated_ms=now_ms - rng.randint(1, 3600) * 1000,
        performer_id=str(rng.randint(1_000_000, 9_999_999)),
        performer=rng.choice(_PEOPLE),
        last_message_ms=now_ms - rng.randint(1, 600) * 60_000,
    )


def _connector(
    user: str,
    plan: _Plan,
    account_id: str,
    draws: _Draws,
    node_style: str,
    socket_style: str,
    now_ms: int,
) -> Connector:
    connector = Connector(
        user=user,
        fields={},
        node_style=node_style,
        socket_style=socket_style,
        pcs=plan.pcs,
        chat=plan.channel == "chat",
    )
    connector.fields = {
        "nodeStatus": connector.word("nodeStatus", "online"),
        "lpSocketStatus": connector.word(
            "lpSocketStatus", "online" if connector.chat else "connected"
        ),
        connector.server_field: connector.word(connector.server_field, "connected"),
        "deployed": True,
        "environment": plan.environment,
        "haType": "ACTIVE",
        "type": plan.channel,
        "lpAccountId": account_id,
        "lpAccountUser": user,
        "lpUserId": draws.user_id,
        "serverName": draws.server,
        "createTime": draws.created_ms,
        "updateTime": draws.updated_ms,
        "manualOperationTs": draws.started_ms,
        "lastManualOperation": "START",
        "manualOperationPerformedById": draws.performer_id,
        "manualOperationPerformedByName": draws.performer,
        "lastMessageTime": draws.last_message_ms,
        "pipelineConfig": {},
    }
    return connector


def _problem_targets(connectors: list[Connector], kind: str, number: int) -> list[Connector]:
    """The connectors a problem hits: every one, or (for some lost connections) the last."""
    if kind in ("stopped", "ready") or len(connectors) == 1:
        return connectors
    last_only = (number // len(_PROBLEMS)) % 2 != number % 2
    return connectors[-1:] if last_only else connectors


def _apply_problem(connector: Connector, kind: str, now_ms: int) -> None:
    fields, server = connector.fields, connector.server_field
    if kind == "stopped":
        fields.update(
            {
                "nodeStatus": connector.word("nodeStatus", "stopped"),
                "lpSocketStatus": connector.word("lpSocketStatus", "not_connected"),
                server: connector.word(server, "not_connected"),
                "lastManualOperation": "STOP",
                "manualOperationTs": now_ms - 2 * HOUR_MS,
            }
        )
    elif kind == "not_connected":
        fields.update(
            {
                "nodeStatus": connector.word("nodeStatus", "not_connected"),
                "lpSocketStatus": connector.word("lpSocketStatus", "not_connected"),
            }
        )
    elif kind == "cloud_down" or (kind == "away" and not connector.chat):
        fields["lpSocketStatus"] = connector.word("lpSocketStatus", "not_connected")
    elif kind == "away":
        fields["lpSocketStatus"] = connector.word("lpSocketStatus", "away")
    elif kind == "server_down":
        fields[server] = connector.word(server, "not_connected")
    elif kind == "ready":
        # Deployed, never started: no manual operation yet.
        fields.update(
            {
                "nodeStatus": connector.word("nodeStatus", "ready"),
                "lpSocketStatus": connector.word("lpSocketStatus", "not_connected"),
                server: connector.word(server, "not_connected"),
                "manualOperationTs": 0,
            }
        )
        for key in (
            "lastManualOperation",
            "manualOperationPerformedById",
            "manualOperationPerformedByName",
        ):
            fields.pop(key, None)


def _some(rng: random.Random, listings: list[Listing], share: int) -> list[Listing]:
    """One listing in ``share`` (at least one), chosen by ``rng``."""
    return rng.sample(listings, min(len(listings), max(1, len(listings) // share)))
