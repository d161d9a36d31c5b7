"""The fake's fleet as state: status entries, start and stop, flapping statuses.

Everything LivePerson says about bots comes from here, rendered on each call: the status
lists (one entry per agent connector, in a different order on every call: a seeded shuffle
per request, because the order of LivePerson's lists means nothing), one bot's connectors
(``status-v2``), the bot platform's records and agents. Start and stop act on the connector
their body names; for a PCS bot that is the Survey Connector, so every PCS bot changes.

Thread-safe: the HTTP handlers run in uvicorn's thread while tests change the fleet from
theirs. Status lists are serialised once per change of the fleet (and once per 5-minute
``ccLastCheck`` bucket), so a list of 10,000 entries is served from memory.

How an entry or record looks is ``chatops.sandbox.liveperson.records``. The rest stays one
module, a little over 500 lines, because it is one thing: the fleet's state behind one
lock; reading, changing and settling it (starts that finish, flaps that advance) all take
that lock and share the version that invalidates the serialised lists.
"""

from __future__ import annotations

import copy
import json
import random
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from chatops.sandbox.jsontypes import JSONDict
from chatops.sandbox.liveperson.generation import generate_fleet
from chatops.sandbox.liveperson.model import (
    PATCHABLE_FIELDS,
    SERVER_FIELDS,
    UNASSIGNED_GROUP,
    Bot,
    Connector,
    Listing,
    Refused,
)
from chatops.sandbox.liveperson.records import (
    agent_record,
    check_bucket,
    platform_record,
    status_entry,
)

Select = Callable[[Bot, Listing], bool]


@dataclass
class _Flap:
    bot_id: str
    user: str | None
    field: str
    values: list[str]
    next_index: int = 0


@dataclass
class _Cached:
    version: int
    check_bucket: int
    entries: list[bytes] = field(repr=False)


def _unique(connectors: Iterable[Connector]) -> list[Connector]:
    """Each connector once (PCS listings share one), in order."""
    seen: dict[int, Connector] = {}
    for connector in connectors:
        seen.setdefault(id(connector), connector)
    return list(seen.values())


class Fleet:
    """Bots, their connectors and what happens to them. Every method takes ``lock``."""

    def __init__(
        self,
        *,
        account_id: str,
        clock: Callable[[], float],
        start_delay: float,
        shuffle: bool = True,
    ) -> None:
        self.account_id = account_id
        self.clock = clock
        self.start_delay = start_delay
        self.shuffle = shuffle
        self.lock = threading.RLock()
        self._bots: dict[str, Bot] = {}
        self._seed = 1
        self._messy = False
        self._duplicates = False
        self._organization_id = ""
        self._groups: dict[str, str] = {}
        self._starting: set[Connector] = set()
        self._version = 0
        self._cache: dict[str, _Cached] = {}
        # The logged-in agents as of a fleet version (the Agent Metrics API's answers).
        self._agents: tuple[int, list[tuple[str, str, str]]] | None = None
        self._flaps: list[_Flap] = []
        self._order = random.Random(f"order:{self._seed}")

    # ------------------------------------------------------------------ building

    def rebuild(
        self,
        *,
        bots: int | None = None,
        connectors: int | None = None,
        seed: int | None = None,
        messy: bool | None = None,
        duplicates: bool | None = None,
    ) -> None:
        """A new fleet; what is not given stays as it was (the size: as many bots)."""
        if bots is None and connectors is None:
            bots = len(self._bots)
        seed = self._seed if seed is None else seed
        messy = self._messy if messy is None else messy
        duplicates = self._duplicates if duplicates is None else duplicates
        generated = generate_fleet(
            bots=bots,
            connectors=connectors,
            seed=seed,
            account_id=self.account_id,
            now_ms=int(self.clock() * 1000),
            messy=messy,
            duplicates=duplicates,
        )
        with self.lock:
            self._seed, self._messy, self._duplicates = seed, messy, duplicates
            self._bots = {bot.bot_id: bot for bot in generated.bots}
            self._groups = generated.groups
            self._organization_id = generated.organization_id
            self._order = random.Random(f"order:{seed}")
            self._starting.clear()
            self._flaps.clear()
            self._changed()

    def describe(self) -> JSONDict:
        """The fleet's size and how it was generated."""
        with self.lock:
            return {
                "bots": len(self._bots),
                "connectors": len(_unique(c for b in self._bots.values() for c in b.connectors)),
                "entries": sum(len(bot.listings) for bot in self._bots.values()),
                "seed": self._seed,
                "messy": self._messy,
                "duplicates": self._duplicates,
            }

    @property
    def organization_id(self) -> str:
        return self._organization_id

    @property
    def seed(self) -> int:
        return self._seed

    # ------------------------------------------------------------------ reading

    def entries(self) -> list[JSONDict]:
        """Every status-list entry (copies) in a stable order: custom bots, then PCS."""
        with self.lock:
            now = self.clock()
            self._settle(now)
            ordered = sorted(self._bots.values(), key=lambda bot: bot.pcs)
            return [
                status_entry(bot, listing, self.account_id, now)
                for bot in ordered
                for listing in bot.listings
                for _ in range(2 if listing.repeated else 1)
            ]

    def status_list(self, key: str, select: Select) -> bytes:
        """A ``{"statusList": [...]}`` body of the selected entries, freshly shuffled."""
        now = self.clock()
        with self.lock:
            self._settle(now)
            if self._flaps:
                self._advance_flaps(
                    {
                        bot.bot_id
                        for bot in self._bots.values()
                        if any(select(bot, listing) for listing in bot.listings)
                    }
                )
            bucket = check_bucket(now)
            cached = self._cache.get(key)
            if cached is None or cached.version != self._version or cached.check_bucket != bucket:
                entries: list[bytes] = []
                for bot in self._bots.values():
                    for listing in bot.listings:
                        if select(bot, listing):
                            listed = status_entry(bot, listing, self.account_id, now)
                            entry = json.dumps(listed, separators=(",", ":")).encode()
                            entries += [entry, entry] if listing.repeated else [entry]
                cached = self._cache[key] = _Cached(self._version, bucket, entries)
            ordered = self._shuffled(cached.entries)
        return b'{"statusList":[' + b",".join(ordered) + b"]}"

    def bot_entries(self, bot_id: str) -> list[JSONDict]:
        """One entry per connector of the bot (``status-v2``), freshly shuffled."""
        with self.lock:
            now = self.clock()
            self._settle(now)
            bot = self._bot_or_refuse(bot_id)
            account = self.account_id
            return self._shuffled([status_entry(bot, item, account, now) for item in bot.listings])

    def logged_in_agents(self) -> list[tuple[str, str, str]]:
        """``(lpUserId, lpAccountUser, agent status)`` of every connector logged in to
        Conversational Cloud (Online, its connection up or Away), each once; a connector
        without a ``lpUserId`` has no agent to list."""
        with self.lock:
            self._settle(self.clock())
            if self._agents is not None and self._agents[0] == self._version:
                return self._agents[1]
            agents: dict[str, tuple[str, str, str]] = {}
            for bot in self._bots.values():
                for connector in _unique(bot.connectors):
                    user_id = connector.fields.get("lpUserId")
                    cloud = str(connector.fields.get("lpSocketStatus", "")).lower()
                    cloud = cloud.replace("-", "_").replace(" ", "_")
                    if user_id is None or not connector.is_online():
                        continue
                    if cloud not in ("connected", "online", "away"):
                        continue
                    status = "AWAY" if cloud == "away" else "ONLINE"
                    agents.setdefault(str(user_id), (str(user_id), connector.user, status))
            listed = sorted(agents.values())
            self._agents = (self._version, listed)
            return listed

    def connectors(self, bot_id: str) -> list[JSONDict]:
        """The bot's connectors as the control API shows them: every field, and counts."""
        with self.lock:
            now = self.clock()
            self._settle(now)
            bot = self._bot(bot_id)
            return [
                {
                    **status_entry(bot, listing, self.account_id, now, hide=False),
                    "starts": listing.connector.starts,
                    "stops": listing.connector.stops,
                    "hiddenFields": sorted(listing.hidden),
                    "listedTwice": listing.repeated,
                    "sharedByPcsBots": bot.pcs,
                }
                for listing in bot.listings
            ]

    def platform_bots(self) -> list[JSONDict]:
        """The fleet as the bot platform lists it (every bot has its name there)."""
        with self.lock:
            self._settle(self.clock())
            return [platform_record(bot, self._organization_id) for bot in self._bots.values()]

    def groups(self) -> list[JSONDict]:
        with self.lock:
            return [
                {
                    "botGroupId": group_id,
                    "botGroupName": name,
                    "organizationId": self._organization_id,
                }
                for group_id, name in self._groups.items()
            ]

    def group_bots(self, group_id: str | None) -> list[JSONDict]:
        """The bot platform's records of one group (None: every bot), by name."""
        with self.lock:
            if group_id and group_id != UNASSIGNED_GROUP and group_id not in self._groups:
                raise Refused(404, f"Bot group {group_id} not found")
            self._settle(self.clock())
            records = [
                platform_record(bot, self._organization_id)
                for bot in self._bots.values()
                if group_id is None or bot.group_id == group_id
            ]
        records.sort(key=lambda record: (str(record["botName"]).lower(), record["botId"]))
        return records

    def agents(self, bot_id: str) -> list[JSONDict]:
        """The bot's agents as the bot platform lists them: one per connector."""
        with self.lock:
            self._settle(self.clock())
            bot = self._bots.get(bot_id)
            if bot is None:
                raise Refused(404, f"No connector for chatBotId {bot_id}")
            return self._shuffled([agent_record(bot, c, self.account_id) for c in bot.connectors])

    # ------------------------------------------------------------------ changing

    def set_fields(self, bot_id: str, user: str | None = None, **fields: Any) -> None:
        """Change status-list fields of one connector, or of every connector of the bot."""
        unknown = sorted(set(fields) - set(PATCHABLE_FIELDS))
        if unknown:
            raise ValueError(
                f"cannot set {', '.join(unknown)}; settable fields: {', '.join(PATCHABLE_FIELDS)}"
            )
        with self.lock:
            bot = self._bot(bot_id)
            listings = self._listings(bot, user)
            connectors = _unique(listing.connector for listing in listings)
            for name, value in fields.items():
                if name == "botName":
                    self._set_name(bot, listings, None if value is None else str(value), user)
                    continue
                for connector in connectors:
                    key = connector.server_field if name in SERVER_FIELDS else name
                    if value is None:
                        connector.fields.pop(key, None)
                    else:
                        connector.fields[key] = value
                    for listing in listings:
                        listing.hidden.discard(key)
            for connector in connectors:
                connector.fields["updateTime"] = self._now_ms()
            self._changed()

    def start_count(self, bot_id: str, user: str | None = None) -> int:
        with self.lock:
            listings = self._listings(self._bot(bot_id), user)
            return sum(c.starts for c in _unique(item.connector for item in listings))

    def stop_count(self, bot_id: str, user: str | None = None) -> int:
        with self.lock:
            listings = self._listings(self._bot(bot_id), user)
            return sum(c.stops for c in _unique(item.connector for item in listings))

    def operate(
        self, bot_id: str, body: JSONDict | None, operation: str, by: tuple[str, str]
    ) -> JSONDict:
        """Start or stop the connector the body names; ``by`` is (user id, name)."""
        with self.lock:
            now = self.clock()
            self._settle(now)
            bot = self._bot_or_refuse(bot_id)
            if body is None:
                raise Refused(400, "The body must be a JSON object: lpAccountId, lpAccountUser")
            if body.get("lpAccountId") != self.account_id:
                raise Refused(400, "lpAccountId is missing or wrong")
            user = body.get("lpAccountUser")
            if not isinstance(user, str) or not user:
                raise Refused(400, "lpAccountUser is missing")
            listing = bot.listing(user)
            if listing is None:
                raise Refused(400, f"Bot {bot_id} has no agent connector with lpAccountUser {user}")
            connector = listing.connector
            if operation == "START":
                connector.starts += 1
            else:
                connector.stops += 1
            # For a PCS bot this is the Survey Connector: every PCS bot's entry shows it.
            self._apply(connector, operation, by, now)
            self._changed()
        return {"botId": bot_id, "lpAccountUser": user, "operation": operation}

    def flap(
        self, bot_id: str, field_name: str, values: list[str], user: str | None = None
    ) -> None:
        """Each status-list fetch that lists the bot sets the field to the next value."""
        if not values:
            raise ValueError("flap needs at least one value")
        if field_name not in PATCHABLE_FIELDS or field_name == "botName":
            raise ValueError(f"cannot flap {field_name!r}")
        with self.lock:
            self._listings(self._bot(bot_id), user)
            key = (bot_id, user, field_name)
            self._flaps = [f for f in self._flaps if (f.bot_id, f.user, f.field) != key]
            self._flaps.append(_Flap(bot_id, user, field_name, list(values)))

    def clear_flaps(self) -> None:
        with self.lock:
            self._flaps.clear()

    def add_bot(self, name: str, *, like: str) -> str:
        """A new bot named ``name`` in the state of bot ``like`` (kind, channel, statuses,
        as many connectors), with its own id and bot users; returns the id. A PCS bot gets a
        listing of the one Survey Connector, as every PCS bot has."""
        with self.lock:
            model = self._bot(like)
            bot_id = str(uuid.uuid4())
            user_base = name.replace("-", "_")
            listings: list[Listing] = []
            for index, listing in enumerate(model.listings):
                connector = listing.connector
                if not model.pcs:
                    user = (
                        f"{user_base}{chr(ord('a') + index)}"
                        if len(model.listings) > 1
                        else user_base
                    )
                    connector = replace(
                        connector,
                        user=user,
                        fields={**copy.deepcopy(connector.fields), "lpAccountUser": user},
                        online_at=None,
                        starts=0,
                        stops=0,
                    )
                    connector.fields["updateTime"] = self._now_ms()
                listings.append(Listing(connector))
            self._bots[bot_id] = Bot(
                bot_id=bot_id,
                name=name,
                pcs=model.pcs,
                group_id=model.group_id,
                chat=model.chat,
                fields=copy.deepcopy(model.fields),
                listings=listings,
            )
            self._changed()
            return bot_id

    # ------------------------------------------------------------------ internals

    def _bot(self, bot_id: str) -> Bot:
        bot = self._bots.get(bot_id)
        if bot is None:
            raise KeyError(f"no bot with botId {bot_id}")
        return bot

    def _bot_or_refuse(self, bot_id: str) -> Bot:
        bot = self._bots.get(bot_id)
        if bot is None:
            raise Refused(404, f"No bot agent found for botId {bot_id}")
        return bot

    def _listings(self, bot: Bot, user: str | None) -> list[Listing]:
        if user is None:
            return list(bot.listings)
        listing = bot.listing(user)
        if listing is None:
            raise KeyError(f"bot {bot.bot_id} has no connector with lpAccountUser {user}")
        return [listing]

    def _set_name(
        self, bot: Bot, listings: list[Listing], name: str | None, user: str | None
    ) -> None:
        for listing in listings:
            if name is None:
                listing.hidden.add("botName")
            else:
                listing.hidden.discard("botName")
                # A named connector gets a name of its own; the whole bot is renamed.
                listing.name = name if user is not None else None
        if name is not None and user is None:
            bot.name = name

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _changed(self) -> None:
        self._version += 1

    def _shuffled(self, items: list[Any]) -> list[Any]:
        return self._order.sample(items, len(items)) if self.shuffle else list(items)

    def _settle(self, now: float) -> None:
        """Bring started connectors Online once their start delay has passed (lazily)."""
        done = [c for c in self._starting if c.online_at is not None and c.online_at <= now]
        for connector in done:
            online_at = connector.online_at or now
            self._starting.discard(connector)
            connector.online_at = None
            server = connector.server_field
            connector.fields.update(
                {
                    "nodeStatus": connector.word("nodeStatus", "online"),
                    "lpSocketStatus": connector.word(
                        "lpSocketStatus", "online" if connector.chat else "connected"
                    ),
                    server: connector.word(server, "connected"),
                    "updateTime": int(online_at * 1000),
                }
            )
        if done:
            self._changed()

    def _apply(self, connector: Connector, operation: str, by: tuple[str, str], now: float) -> None:
        now_ms = int(now * 1000)
        server = connector.server_field
        connector.fields.update(
            {
                "lastManualOperation": operation,
                "manualOperationTs": now_ms,
                "manualOperationPerformedById": by[0],
                "manualOperationPerformedByName": by[1],
                "updateTime": now_ms,
                "lpSocketStatus": connector.word("lpSocketStatus", "not_connected"),
                server: connector.word(server, "not_connected"),
            }
        )
        if operation == "STOP":
            connector.fields["nodeStatus"] = connector.word("nodeStatus", "stopped")
            connector.online_at = None
            self._starting.discard(connector)
        else:
            # A start deploys the connector first; it logs in and is Online after the delay.
            connector.fields["nodeStatus"] = connector.word("nodeStatus", "ready")
            connector.online_at = now + self.start_delay
            self._starting.add(connector)

    def _advance_flaps(self, listed: set[str]) -> None:
        for flap in self._flaps:
            bot = self._bots.get(flap.bot_id)
            if bot is None or flap.bot_id not in listed:
                continue
            value = flap.values[flap.next_index % len(flap.values)]
            for connector in _unique(item.connector for item in self._listings(bot, flap.user)):
                key = connector.server_field if flap.field in SERVER_FIELDS else flap.field
                connector.fields[key] = value
                connector.fields["updateTime"] = self._now_ms()
            flap.next_index += 1
            self._changed()
