"""LivePerson's status entries to Snapshots: pure functions, no I/O, no logging.

This is the one place where a LivePerson status entry (one agent connector of the bots status
list) is read: its statuses, its names, its manual operation, its identity. Everything else
(the source, the demo's scenario, the tests) asks this module what an entry says.

:class:`FleetParser` builds one fetch's connectors from the entries of every list: every
entry is a connector of its own, keyed by (bot id, bot user) and never by its place in the
list, so the order of the lists changes nothing. Listed twice in one list, the first entry
is kept; listed in both the custom and the PCS list, the PCS entry is kept. The parser
reports both kinds of oddity (and the entries without a bot user) instead of logging them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chatops.domain import (
    BotKind,
    Channel,
    ConnectorKey,
    Environment,
    Health,
    ManualOperation,
    Snapshot,
    parse_channel,
    parse_environment,
    parse_kind,
)
from chatops.jsontypes import JSONDict
from chatops.sharing import Pool

MISSING = "(missing)"

# Every entry field that ``snapshot`` reads.
SNAPSHOT_FIELDS = (
    "botName",
    "botType",
    "type",
    "environment",
    "nodeStatus",
    "lpSocketStatus",
    "cbSocketStatus",
    "bcSocketStatus",
    "lastManualOperation",
    "manualOperationPerformedByName",
    "manualOperationTs",
    "lpAccountUser",
    "appName",
)

# Every entry field the client reads; the rest of an entry is dropped as it is decoded.
ENTRY_FIELDS = ("botId", "lpAccountId", "lpUserId", "updateTime", *SNAPSHOT_FIELDS)

_SERVER_FIELDS = ("bcSocketStatus", "cbSocketStatus")


@dataclass(frozen=True, slots=True)
class PlatformBot:
    """What the bot platform says about a bot: the fallback for a status entry's gaps."""

    name: str | None
    kind: BotKind | None
    channel: Channel | None


def used_fields(entry: Any, pool: Pool) -> Any:
    """``entry`` cut to the fields the client reads (anything else passes through), its
    values shared through ``pool`` with the equal ones of the other entries."""
    if not isinstance(entry, dict):
        return entry
    # Inline rather than a call of ``pool`` per value: 150,000 values a poll at 10,000
    # connectors. JSON's values are strings, numbers, booleans, null, lists and objects:
    # only the strings are shared (``Pool.share_string``).
    share = pool.share_string
    return {
        name: share(value, value) if type(value := entry[name]) is str else value
        for name in ENTRY_FIELDS
        if name in entry
    }


def text(value: Any) -> str | None:
    """A non-empty string from a JSON value (numbers become strings), else None."""
    if type(value) is str:  # nearly always: the fast path
        return value.strip() or None
    if value is None or isinstance(value, bool | dict | list):
        return None
    stripped = str(value).strip()
    return stripped or None


def bot_user(entry: JSONDict) -> str:
    """A connector's name within its bot: lpAccountUser, else its appName, else the bot id."""
    return (
        text(entry.get("lpAccountUser"))
        or text(entry.get("appName"))
        or str(entry.get("botId") or "")
    )


def usable(entries: Iterable[Any]) -> list[JSONDict]:
    """The entries that name a bot (a JSON object with a ``botId``); the rest say nothing."""
    return [entry for entry in entries if isinstance(entry, dict) and text(entry.get("botId"))]


def raw_status(entry: JSONDict, *keys: str) -> str:
    """The status string as sent; ``(missing)`` (which reads as Unknown) when absent."""
    for key in keys:
        value = entry.get(key)
        if value is not None:
            return value if isinstance(value, str) else json.dumps(value)
    return MISSING


def is_pcs_entry(entry: Mapping[str, Any]) -> bool:
    """A PCS bot's entry gives its Bot Server status as ``bcSocketStatus``."""
    return "bcSocketStatus" in entry


def server_field(entry: Mapping[str, Any]) -> str:
    """Where an entry gives its Bot Server status: bcSocketStatus (PCS), else cbSocketStatus."""
    return "bcSocketStatus" if is_pcs_entry(entry) else "cbSocketStatus"


def epoch_ms(value: Any) -> datetime | None:
    """A LivePerson timestamp (milliseconds since the epoch, maybe as a string), else None."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def manual_operation(entry: JSONDict) -> ManualOperation | None:
    operation = text(entry.get("lastManualOperation"))
    if not operation:
        return None
    return ManualOperation(
        operation=operation.lower(),
        performed_by=text(entry.get("manualOperationPerformedByName")),
        at=epoch_ms(entry.get("manualOperationTs")),
    )


def snapshot(
    entry: JSONDict,
    environment: Environment | None = None,
    pcs: bool | None = None,
    platform: PlatformBot | None = None,
) -> Snapshot:
    """One entry as a Snapshot.

    ``environment`` is the list the entry came from (used when the entry names none), ``pcs``
    whether it came from the PCS list (None: tell from the entry), ``platform`` what the bot
    platform says about the bot (used when the entry lacks a name, kind or channel).
    """
    if pcs is None:
        pcs = is_pcs_entry(entry)
    bot_id = str(entry["botId"])
    name = (
        text(entry.get("botName"))
        or (platform.name if platform else None)
        or text(entry.get("lpAccountUser"))
        or bot_id
    )
    if pcs:
        kind = BotKind.PCS
    elif text(entry.get("botType")):
        kind = parse_kind(text(entry.get("botType")))
    else:
        kind = platform.kind if platform and platform.kind else BotKind.CUSTOM
    if text(entry.get("type")):
        channel = parse_channel(text(entry.get("type")))
    else:
        channel = platform.channel if platform and platform.channel else Channel.MESSAGING
    raw_environment = text(entry.get("environment"))
    bot_environment = (
        parse_environment(raw_environment)
        if raw_environment
        else environment or Environment.PRODUCTION
    )
    return Snapshot(
        bot_id=bot_id,
        name=name,
        kind=kind,
        channel=channel,
        environment=bot_environment,
        raw_connector=raw_status(entry, "nodeStatus"),
        raw_cloud=raw_status(entry, "lpSocketStatus"),
        raw_server=raw_status(entry, *(_SERVER_FIELDS if pcs else reversed(_SERVER_FIELDS))),
        manual=manual_operation(entry),
        updated_at=epoch_ms(entry.get("updateTime")),
        account_user=text(entry.get("lpAccountUser")),
        bot_user=bot_user(entry),
    )


def entry_health(entry: Mapping[str, Any]) -> Health:
    """The health of the connector an entry describes (entries without a ``botId`` too)."""
    return snapshot({"botId": "?", **entry}).health


def platform_bots(records: Iterable[JSONDict]) -> dict[str, PlatformBot]:
    """The bot platform's bot records by bot id (records without a ``botId`` are skipped)."""
    bots: dict[str, PlatformBot] = {}
    for record in records:
        bot_id = text(record.get("botId"))
        if not bot_id:
            continue
        bot_type = text(record.get("botType"))
        channel = text(record.get("channel"))
        bots[bot_id] = PlatformBot(
            name=text(record.get("botName")),
            kind=parse_kind(bot_type) if bot_type else None,
            channel=parse_channel(channel) if channel else None,
        )
    return bots


def nameless_bots(entries: Iterable[JSONDict]) -> set[str]:
    """Bot ids whose entry lacks a name or a channel: the bot platform may know them."""
    return {
        str(entry["botId"])
        for entry in entries
        if not text(entry.get("botName")) or not text(entry.get("type"))
    }


# What a cached snapshot was built from, by (bot id, bot user, from the PCS list).
EntryKey = tuple[str, str, bool]
Built = dict[EntryKey, tuple[tuple[Any, ...], Snapshot]]


@dataclass(slots=True)
class ParsedFleet:
    """One fetch's connectors, and what was odd about the lists."""

    snapshots: dict[ConnectorKey, Snapshot] = field(default_factory=dict)
    # What a start or stop must send for each connector: (lpAccountId, lpAccountUser).
    accounts: dict[ConnectorKey, tuple[str, str]] = field(default_factory=dict)
    # Connectors listed twice (the first entry was kept), and entries without a bot user.
    duplicates: set[ConnectorKey] = field(default_factory=set)
    userless: set[ConnectorKey] = field(default_factory=set)
    # Each connector's agent (its bot user's lpUserId): the Agent Metrics API's agentId.
    agent_ids: dict[ConnectorKey, str] = field(default_factory=dict)
    # The snapshot built for each entry, for the next fetch to reuse (``FleetParser``).
    built: Built = field(default_factory=dict)
    from_pcs: set[ConnectorKey] = field(default_factory=set)


class FleetParser:
    """Entries in, Snapshots out; one parser per fetch.

    ``previous`` is the ``built`` of the last fetch: an entry whose fields are the same as
    then gives the same Snapshot object again, so a steady poll of 10,000 connectors
    rebuilds nothing (most of its cost). ``updateTime`` is not part of that comparison: it
    moves at every poll and a snapshot's ``updated_at`` is informational (never compared), so
    it keeps the first value seen until something else about the connector changes.
    """

    def __init__(
        self,
        environments: Sequence[Environment],
        account: str,
        platform: dict[str, PlatformBot] | None = None,
        previous: Built | None = None,
    ) -> None:
        self._environments = environments
        self._account = account
        self._platform = platform or {}
        self._previous = previous or {}
        self.fleet = ParsedFleet()

    def add(self, entry: JSONDict, environment: Environment | None, pcs: bool) -> None:
        """One entry of the list of ``environment`` (None: the PCS list, ``pcs`` True)."""
        fleet = self.fleet
        built = self._cached_snapshot(entry, environment, pcs)
        if built.environment not in self._environments:
            return
        key = built.key
        # A connector listed in both the custom and the PCS list is taken from the PCS list;
        # listed twice in one list, the first entry is kept.
        if key in fleet.snapshots and (not pcs or key in fleet.from_pcs):
            fleet.duplicates.add(key)
            return
        fleet.snapshots[key] = built
        if pcs:
            fleet.from_pcs.add(key)
        agent_id = text(entry.get("lpUserId"))
        if agent_id:
            fleet.agent_ids[key] = agent_id
        user = text(entry.get("lpAccountUser"))
        if user:
            fleet.accounts[key] = (text(entry.get("lpAccountId")) or self._account, user)
        else:
            fleet.userless.add(key)

    def _cached_snapshot(
        self, entry: JSONDict, environment: Environment | None, pcs: bool
    ) -> Snapshot:
        bot_id = str(entry["botId"])
        entry_key = (bot_id, bot_user(entry), pcs)
        platform = self._platform.get(bot_id)
        source = (environment, platform, *map(entry.get, SNAPSHOT_FIELDS))
        previous = self._previous.get(entry_key)
        if previous is not None and previous[0] == source:
            self.fleet.built[entry_key] = previous
            return previous[1]
        built = snapshot(entry, environment, pcs, platform)
        self.fleet.built[entry_key] = (source, built)
        return built


def parse_fleet(
    listed: Iterable[tuple[JSONDict, Environment | None, bool]],
    environments: Sequence[Environment],
    account: str,
    platform: dict[str, PlatformBot] | None = None,
) -> ParsedFleet:
    """Every (entry, list's environment, from the PCS list) at once (see ``FleetParser``)."""
    parser = FleetParser(environments, account, platform)
    for entry, environment, pcs in listed:
        parser.add(entry, environment, pcs)
    return parser.fleet


def account_of(entries: Iterable[Any], user: str, account: str) -> tuple[str, str] | None:
    """(lpAccountId, lpAccountUser) of the connector named ``user`` among ``entries``.

    None when no entry names it; ("", "") when the entry has no lpAccountUser (it cannot be
    started or stopped).
    """
    for entry in entries:
        if isinstance(entry, dict) and bot_user(entry) == user:
            account_user = text(entry.get("lpAccountUser"))
            if not account_user:
                return ("", "")
            return text(entry.get("lpAccountId")) or account, account_user
    return None
