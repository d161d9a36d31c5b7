"""The demo's story: things go wrong in the fake LivePerson fleet, on their own or on a click.

Eight events, each a change to the fake's status list followed (for most) by a recovery:

- ``server_drop``: a bot's Bot Server connection drops, and comes back ``recover_after`` later.
- ``connector_drop``: one of a bot's agent connectors drops while the others serve: the bot is
  degraded; every connector is back ``degraded_for`` later.
- ``last_connector_drop``: the connectors a ``connector_drop`` left serving drop too: the
  degraded bot is down (the same alert escalates); the ``connector_drop`` brings them back.
- ``flapping``: a bot's Conversational Cloud connection goes up and down for ``flap_for``.
- ``survey_storm``: every survey (PCS) bot's shared connector is Not Connected at once, then
  back: many alerts in one poll, which the alert policy turns into one digest.
- ``chat_away``: a chat bot's agents go Away, and come back.
- ``manual_stop``: a person stops a connector by hand in LivePerson (``lastManualOperation``
  STOP with their name): a notice, never an outage; they start it again later.
- ``busy_connector``: a connector's open conversations (LivePerson's Agent Metrics) climb
  near LivePerson's limit of 999 per connector; ``/botstatus`` and alerts flag it until they
  ease ``recover_after`` later. No alert of its own: conversations never page anyone.

The scenario only drives the fake through its Python API, as a person would through its
control API; the app sees the changes at its next poll, like any real change. A recovery
puts back only what the event changed, and only if nobody touched the bot in the meantime
(a Stop from the sandbox page wins over the scenario's recovery).

One module on purpose: it is one story. The events share the picking of bots, the record
of what each changed and the careful undo; split per event, each file would be a dozen
lines leaning on the others' private helpers.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chatops.domain import Health, normalise_key
from chatops.jsontypes import JSONDict
from chatops.sandbox.liveperson import FakeLivePerson
from chatops.sandbox.ui import ScenarioError
from chatops.sources.liveperson.parse import entry_health, is_pcs_entry, server_field

log = logging.getLogger(__name__)

# The person who stops and starts connectors by hand in the story.
OPERATOR_NAME = "Jane Ops"
LOG_LENGTH = 50
# What the busy connector of the story holds: near LivePerson's limit of 999.
BUSY_CONVERSATIONS = 962


@dataclass(frozen=True)
class ScenarioTiming:
    """Seconds. The defaults suit a person watching; tests pass short ones."""

    every: float = 20.0
    first_after: float = 8.0
    recover_after: float = 15.0
    flap_for: float = 60.0
    storm_for: float = 20.0
    restart_after: float = 30.0
    away_for: float = 20.0
    degraded_for: float = 60.0


@dataclass(frozen=True)
class ScenarioEvent:
    name: str
    label: str
    description: str


EVENTS: tuple[ScenarioEvent, ...] = (
    ScenarioEvent(
        "server_drop",
        "Bot Server drops",
        "A bot loses its Bot Server connection, then gets it back.",
    ),
    ScenarioEvent(
        "connector_drop",
        "One connector drops",
        "One of a bot's agent connectors goes Not Connected while the others serve: degraded.",
    ),
    ScenarioEvent(
        "last_connector_drop",
        "Last connector drops",
        "The connectors that kept a degraded bot serving drop too: the bot is down.",
    ),
    ScenarioEvent(
        "flapping",
        "Flapping bot",
        "A bot's Conversational Cloud connection goes up and down for a while.",
    ),
    ScenarioEvent(
        "survey_storm",
        "Survey storm",
        "Every survey bot's shared connector is Not Connected at once, then back.",
    ),
    ScenarioEvent(
        "chat_away",
        "Chat bot Away",
        "A chat bot's agents go Away, then come back Online.",
    ),
    ScenarioEvent(
        "manual_stop",
        "Stopped by hand",
        f"{OPERATOR_NAME} stops a connector in LivePerson, and starts it again later.",
    ),
    ScenarioEvent(
        "busy_connector",
        "Busy connector",
        "A connector's open conversations climb near LivePerson's limit of 999, then ease.",
    ),
)
EVENT_NAMES = tuple(event.name for event in EVENTS)


class UnknownEvent(ScenarioError):
    status = 404


class EventUnderWay(ScenarioError):
    status = 409


class NoBotForEvent(ScenarioError):
    status = 409


def _is_healthy(entry: JSONDict) -> bool:
    return entry_health(entry) is Health.OK


def _is_production(entry: Mapping[str, Any]) -> bool:
    return normalise_key(str(entry.get("environment") or "")) == "production"


def _is_chat(entry: Mapping[str, Any]) -> bool:
    return normalise_key(str(entry.get("type") or "")) == "chat"


@dataclass
class _Change:
    """What an event set on one bot, and what was there before, for a careful recovery.

    ``before`` holds each connector's own values (by its lpAccountUser, "" for an entry
    without one): connectors of one bot may spell their statuses differently.
    """

    bot_id: str
    name: str
    before: dict[str, dict[str, Any]]
    after: dict[str, Any]
    manual_ts: Any


Recovery = Callable[[], Awaitable[None]]


class Scenario:
    """Runs the events on ``fake``; ``on_change`` is called whenever the log grows."""

    def __init__(
        self,
        fake: FakeLivePerson,
        timing: ScenarioTiming | None = None,
        *,
        on_change: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.fake = fake
        self.timing = timing or ScenarioTiming()
        self.on_change = on_change
        self.clock = clock
        self._log: deque[JSONDict] = deque(maxlen=LOG_LENGTH)
        self._running: set[str] = set()
        # Bots an event changed and has not recovered yet: no other event picks them.
        self._busy: set[str] = set()
        self._turns: dict[str, int] = dict.fromkeys(EVENT_NAMES, 0)
        self._tasks: set[asyncio.Task[None]] = set()
        self._autoplay: asyncio.Task[None] | None = None
        # The bot a running connector_drop degraded: (bot id, name, the users still serving).
        self._degraded: tuple[str, str, list[str]] | None = None
        self._starters: dict[str, Callable[[], tuple[str, Recovery | None]]] = {
            "server_drop": self._server_drop,
            "connector_drop": self._connector_drop,
            "last_connector_drop": self._last_connector_drop,
            "flapping": self._flapping,
            "survey_storm": self._survey_storm,
            "chat_away": self._chat_away,
            "manual_stop": self._manual_stop,
            "busy_connector": self._busy_connector,
        }

    # ------------------------------------------------------------------ the page's view

    def events(self) -> list[JSONDict]:
        return [
            {
                "name": event.name,
                "label": event.label,
                "description": event.description,
                "running": event.name in self._running,
            }
            for event in EVENTS
        ]

    def log(self) -> list[JSONDict]:
        return list(self._log)

    # ------------------------------------------------------------------ running events

    async def trigger(self, name: str) -> str:
        """Start event ``name`` now; returns what happened. Its recovery runs in the background.

        Raises UnknownEvent, EventUnderWay (the same event is still running: a double click
        starts it once) or NoBotForEvent (no bot is in a state the event can change).
        """
        starter = self._starters.get(name)
        if starter is None:
            raise UnknownEvent(f"no scenario event {name!r}; events: {', '.join(EVENT_NAMES)}")
        if name in self._running:
            raise EventUnderWay(f"{self._label(name)} is already under way.")
        text, recovery = starter()
        self._turns[name] += 1
        self._note(text)
        if recovery is not None:
            self._running.add(name)
            task = asyncio.get_running_loop().create_task(
                self._recover(name, recovery), name=f"scenario-{name}"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self.on_change()
        return text

    def start(self, *, autoplay: bool) -> None:
        """Inside the running loop: with ``autoplay`` one event every ``timing.every`` seconds."""
        if autoplay and self._autoplay is None:
            self._autoplay = asyncio.get_running_loop().create_task(
                self._play(), name="scenario-autoplay"
            )

    async def stop(self) -> None:
        """Cancel autoplay and pending recoveries (the fake stays as it is)."""
        tasks = list(self._tasks)
        if self._autoplay is not None:
            tasks.append(self._autoplay)
            self._autoplay = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _play(self) -> None:
        await asyncio.sleep(self.timing.first_after)
        turns = itertools.cycle(EVENT_NAMES)
        while True:
            # The next event that can run now plays; one still running, or without a bot to
            # act on, passes its turn. Then wait, even when none could run: never spin.
            for name in itertools.islice(turns, len(EVENT_NAMES)):
                try:
                    await self.trigger(name)
                    break
                except ScenarioError as skipped:
                    log.debug("scenario: skipped %s: %s", name, skipped)
            await asyncio.sleep(self.timing.every)

    async def _recover(self, name: str, recovery: Recovery) -> None:
        try:
            await recovery()
        finally:
            self._running.discard(name)
            self.on_change()

    def _note(self, text: str) -> None:
        self._log.append({"at": self.clock(), "text": text})
        log.info("scenario: %s", text)

    def _label(self, name: str) -> str:
        return next(event.label for event in EVENTS if event.name == name)

    # ------------------------------------------------------------------ choosing bots

    def _pick(self, name: str, eligible: Callable[[Mapping[str, Any]], bool]) -> JSONDict:
        """The next eligible bot for event ``name``, in name order, turn by turn.

        A bot is eligible when every connector of it is (one entry stands for the bot).
        """
        by_bot: dict[str, list[JSONDict]] = {}
        for entry in self.fake.bots():
            by_bot.setdefault(str(entry["botId"]), []).append(entry)
        candidates = sorted(
            (
                entries[0]
                for bot_id, entries in by_bot.items()
                if bot_id not in self._busy
                and all(
                    entry.get("botName")
                    and _is_production(entry)
                    and _is_healthy(entry)
                    and eligible(entry)
                    for entry in entries
                )
            ),
            key=lambda entry: str(entry["botName"]),
        )
        if not candidates:
            raise NoBotForEvent(f"{self._label(name)}: no healthy bot to act on right now.")
        return candidates[self._turns[name] % len(candidates)]

    def _change(self, entry: Mapping[str, Any], **fields: Any) -> _Change:
        bot_id = str(entry["botId"])
        before = {
            str(connector.get("lpAccountUser") or ""): {f: connector.get(f) for f in fields}
            for connector in self._connectors(bot_id)
        }
        self.fake.set_fields(bot_id, **fields)
        self._busy.add(bot_id)
        return _Change(
            bot_id, str(entry.get("botName")), before, dict(fields), entry.get("manualOperationTs")
        )

    def _current(self, bot_id: str) -> JSONDict | None:
        return next((entry for entry in self.fake.bots() if entry["botId"] == bot_id), None)

    def _undo(self, change: _Change, *, check: Iterable[str] | None = None) -> bool:
        """Put back what ``change`` set, unless someone acted on the bot since."""
        self._busy.discard(change.bot_id)
        entry = self._current(change.bot_id)
        if entry is None:
            return False
        checked = change.after if check is None else {f: change.after[f] for f in check}
        untouched = entry.get("manualOperationTs") == change.manual_ts and all(
            entry.get(field) == value for field, value in checked.items()
        )
        if untouched:
            self._restore(change.bot_id, change.before)
        return untouched

    def _restore(self, bot_id: str, before: Mapping[str, Mapping[str, Any]]) -> None:
        """Put each connector's own values back (one without a user: the bot's, at once)."""
        for user, values in before.items():
            self.fake.set_fields(bot_id, user or None, **values)

    # ------------------------------------------------------------------ the events

    def _server_drop(self) -> tuple[str, Recovery]:
        entry = self._pick("server_drop", lambda e: not is_pcs_entry(e))
        change = self._change(entry, cbSocketStatus="NOT_CONNECTED")
        delay = self.timing.recover_after

        async def recover() -> None:
            await asyncio.sleep(delay)
            if self._undo(change):
                self._note(f"{change.name}: the Bot Server connection is back.")

        return (
            f"{change.name}: the Bot Server connection dropped (back in about {delay:.0f} s).",
            recover,
        )

    def _connectors(self, bot_id: str) -> list[JSONDict]:
        return [entry for entry in self.fake.bots() if entry["botId"] == bot_id]

    def _connector_drop(self) -> tuple[str, Recovery]:
        def several(entry: Mapping[str, Any]) -> bool:
            entries = self._connectors(str(entry["botId"]))
            return (
                not is_pcs_entry(entry)
                and len({e.get("lpAccountUser") for e in entries}) >= 2
                and all(_is_healthy(e) and e.get("lpAccountUser") for e in entries)
            )

        entry = self._pick("connector_drop", several)
        bot_id, name = str(entry["botId"]), str(entry["botName"])
        users = sorted({str(e["lpAccountUser"]) for e in self._connectors(bot_id)})
        dropped, serving = users[-1], users[:-1]
        self.fake.set_fields(bot_id, dropped, nodeStatus="NOT_CONNECTED")
        self._busy.add(bot_id)
        self._degraded = (bot_id, name, serving)
        duration = self.timing.degraded_for

        async def recover() -> None:
            try:
                await asyncio.sleep(duration)
            finally:
                self._degraded = None
                self._busy.discard(bot_id)
            for user in users:
                self.fake.set_fields(bot_id, user, nodeStatus="ONLINE")
            self._note(f"{name}: all {len(users)} connectors are Online again.")

        return (
            f"{name}: connector {dropped} dropped, {len(serving)} of {len(users)} still serve"
            f" (all back in about {duration:.0f} s).",
            recover,
        )

    def _last_connector_drop(self) -> tuple[str, None]:
        if self._degraded is None:
            raise NoBotForEvent(
                "Last connector drops: no bot is degraded right now (run One connector drops)."
            )
        bot_id, name, serving = self._degraded
        if not serving:
            raise NoBotForEvent(f"Last connector drops: every connector of {name} is down already.")
        for user in serving:
            self.fake.set_fields(bot_id, user, nodeStatus="NOT_CONNECTED")
        self._degraded = (bot_id, name, [])
        count = f"{len(serving)} connectors" if len(serving) > 1 else "connector"
        return f"{name}: its last serving {count} dropped: the bot is down.", None

    def _flapping(self) -> tuple[str, Recovery]:
        entry = self._pick("flapping", lambda e: not is_pcs_entry(e) and not _is_chat(e))
        bot_id, name = str(entry["botId"]), str(entry["botName"])
        original = entry.get("lpSocketStatus")
        manual_ts = entry.get("manualOperationTs")
        # Each value holds two polls, so each change is confirmed (alerts.confirm_polls: 2)
        # and the alert policy sees a bot that keeps changing: flapping.
        self.fake.flap(
            bot_id, "lpSocketStatus", ["NOT_CONNECTED", "NOT_CONNECTED", "CONNECTED", "CONNECTED"]
        )
        self._busy.add(bot_id)
        duration = self.timing.flap_for

        async def recover() -> None:
            try:
                await asyncio.sleep(duration)
            finally:
                self.fake.clear_flaps()
                self._busy.discard(bot_id)
            current = self._current(bot_id)
            if current is not None and current.get("manualOperationTs") == manual_ts:
                self.fake.set_fields(bot_id, lpSocketStatus=original)
                self._note(f"{name}: the Conversational Cloud connection is steady again.")

        return (
            f"{name}: the Conversational Cloud connection is flapping "
            f"(for about {duration:.0f} s).",
            recover,
        )

    def _survey_storm(self) -> tuple[str, Recovery]:
        surveys = [
            entry
            for entry in self.fake.bots()
            if is_pcs_entry(entry)
            and entry["botId"] not in self._busy
            and _is_healthy(entry)
            and _is_production(entry)
        ]
        if len(surveys) < 2:
            raise NoBotForEvent("Survey storm: fewer than two survey bots are Online right now.")
        changes = [self._change(entry, nodeStatus="NOT_CONNECTED") for entry in surveys]
        duration = self.timing.storm_for

        async def recover() -> None:
            await asyncio.sleep(duration)
            back = [change.name for change in changes if self._undo(change)]
            if back:
                self._note(f"The survey connector is back: {len(back)} survey bots Online.")

        return (
            f"The survey connector dropped: {len(changes)} survey bots are Not Connected "
            f"(back in about {duration:.0f} s).",
            recover,
        )

    def _chat_away(self) -> tuple[str, Recovery]:
        entry = self._pick("chat_away", _is_chat)
        change = self._change(entry, lpSocketStatus="AWAY")
        duration = self.timing.away_for

        async def recover() -> None:
            await asyncio.sleep(duration)
            if self._undo(change):
                self._note(f"{change.name}: agents are back, the chat is Online.")

        return f"{change.name}: every agent went Away (back in about {duration:.0f} s).", recover

    def _busy_connector(self) -> tuple[str, Recovery]:
        entry = self._pick("busy_connector", lambda e: not is_pcs_entry(e))
        bot_id, name, user = str(entry["botId"]), str(entry["botName"]), entry["lpAccountUser"]
        self.fake.pin_conversations(str(user), BUSY_CONVERSATIONS)
        self._busy.add(bot_id)
        delay = self.timing.recover_after

        async def recover() -> None:
            try:
                await asyncio.sleep(delay)
            finally:
                self._busy.discard(bot_id)
            self.fake.pin_conversations(str(user), None)
            self._note(f"{name}: connector {user}'s conversations eased.")

        return (
            f"{name}: connector {user} holds {BUSY_CONVERSATIONS} open conversations, near"
            f" LivePerson's limit of 999 (easing in about {delay:.0f} s).",
            recover,
        )

    def _manual_stop(self) -> tuple[str, Recovery]:
        entry = self._pick("manual_stop", lambda e: not is_pcs_entry(e))
        bot_id = str(entry["botId"])
        server = server_field(entry)
        stopped_ms = int(self.clock() * 1000)
        change = self._change(
            entry,
            nodeStatus="STOPPED",
            lpSocketStatus="NOT_CONNECTED",
            **{server: "NOT_CONNECTED"},
            lastManualOperation="STOP",
            manualOperationPerformedByName=OPERATOR_NAME,
            manualOperationTs=stopped_ms,
        )
        delay = self.timing.restart_after

        async def restart() -> None:
            await asyncio.sleep(delay)
            self._busy.discard(bot_id)
            current = self._current(bot_id)
            # Restart only if it is still our Stop (nobody started or stopped it since).
            if current is None or current.get("manualOperationTs") != stopped_ms:
                return
            self._restore(
                bot_id,
                {
                    user: {
                        "nodeStatus": values["nodeStatus"],
                        "lpSocketStatus": values["lpSocketStatus"],
                        server: values[server],
                    }
                    for user, values in change.before.items()
                },
            )
            self.fake.set_fields(
                bot_id,
                lastManualOperation="START",
                manualOperationPerformedByName=OPERATOR_NAME,
                manualOperationTs=int(self.clock() * 1000),
            )
            self._note(f"{change.name}: {OPERATOR_NAME} started the connector again.")

        return (
            f"{change.name}: {OPERATOR_NAME} stopped the connector by hand "
            f"(starts it again in about {delay:.0f} s).",
            restart,
        )


__all__ = [
    "EVENTS",
    "EVENT_NAMES",
    "OPERATOR_NAME",
    "EventUnderWay",
    "NoBotForEvent",
    "Scenario",
    "ScenarioEvent",
    "ScenarioTiming",
    "UnknownEvent",
]
