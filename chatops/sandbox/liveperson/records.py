"""The fake's fleet as LivePerson renders it: status list entries, the bot platform's bot
and agent records. Pure functions of the fleet's state (``chatops.sandbox.liveperson.fleet``
holds that state and its lock)."""

from __future__ import annotations

import math

from chatops.sandbox.jsontypes import JSONDict
from chatops.sandbox.liveperson.model import Bot, Connector, Listing


def check_bucket(now: float) -> int:
    """The connector checks in with Conversational Cloud every 5 minutes."""
    return math.floor(now / 300)


def status_entry(
    bot: Bot, listing: Listing, account_id: str, now: float, *, hide: bool = True
) -> JSONDict:
    """One entry of the status lists: the bot's and the connector's fields as listed."""
    connector = listing.connector
    entry: JSONDict = {
        "botId": bot.bot_id,
        "botName": listing.name or bot.name,
        "appName": f"{bot.bot_id}:::{account_id}:::{connector.user}",
    }
    # Values are strings, numbers and one-level objects: copying those is a deep copy.
    for source in (bot.fields, connector.fields):
        entry.update({k: dict(v) if isinstance(v, dict) else v for k, v in source.items()})
    entry["ccLastCheck"] = check_bucket(now) * 300_000
    if connector.pcs:
        running = connector.is_online()
        entry["pm2Info"] = {"status": "online" if running else "stopped", "restarts": 0}
    if hide:
        for name in listing.hidden:
            entry.pop(name, None)
    return entry


def platform_record(bot: Bot, organization_id: str) -> JSONDict:
    """The bot platform's record of a bot."""
    connectors = bot.connectors
    active = sum(1 for connector in connectors if connector.is_online())
    return {
        "botId": bot.bot_id,
        "botName": bot.name,
        "botType": "POST_SURVEY_BOT" if bot.pcs else "CUSTOMER_FACING_BOT",
        "channel": "CHAT" if bot.chat else "MESSAGING",
        "botVersion": bot.fields.get("botVersion"),
        "organizationId": organization_id,
        "botGroupId": bot.group_id,
        "numberOfActiveAgents": active,
        "numberOfInactiveAgents": len(connectors) - active,
        "createdAt": min(c.fields.get("createTime", 0) for c in connectors),
        "updatedAt": max(c.fields.get("updateTime", 0) for c in connectors),
    }


def agent_record(bot: Bot, connector: Connector, account_id: str) -> JSONDict:
    """The bot platform's record of one of a bot's agents (a connector)."""
    fields = connector.fields
    return {
        "lpAccountId": account_id,
        "lpAccountUser": connector.user,
        "lpUserId": fields.get("lpUserId"),
        "type": fields.get("type"),
        "botId": bot.bot_id,
        "serverName": fields.get("serverName"),
        "deploymentEnvironment": fields.get("environment"),
        "configurations": {"lpUserRole": "AGENT"},
        "lastManualOperation": fields.get("lastManualOperation"),
        "manualOperationTs": fields.get("manualOperationTs"),
        "manualOperationPerformedByName": fields.get("manualOperationPerformedByName"),
        "createTime": fields.get("createTime"),
        "updateTime": fields.get("updateTime"),
    }
