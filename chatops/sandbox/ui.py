"""The sandbox page: a Slack-like window onto a FakeSlack workspace, served as a Starlette app.

The page (``static/index.html``, ``app.js``, ``style.css``; no build step) shows the
workspace's channels, each person's ephemeral messages and App Home, and a message box. It
acts only through this JSON API, which does what Slack would do on a person's behalf, over
real HTTP with real signatures (``SlackUser``):

- ``GET  api/state?since=V&wait=S``: channels (messages, threads, edits), ephemerals and Home
  per persona, the scenario; a long poll that answers once the state differs from version V.
- ``POST api/command`` ``{persona, text, channel}``: a slash command typed by ``persona``.
- ``POST api/click`` ``{persona, surface, channel, ts, action_id, value}``: a button click (a
  signed ``block_actions``); ``surface`` is ``channel``, ``ephemeral`` or ``home``. ``value``
  (optional) picks the button among several with one ``action_id`` (one Stop per connector).
- ``POST api/select`` ``{..., value}``: an option picked in a ``static_select``.
- ``POST api/home`` ``{persona}``: the persona opens the app's Home tab (``app_home_opened``).
- ``POST api/scenario/{event}``: run one of the scenario's events now.
- ``GET  api/heartbeat``: what the heartbeat receiver got (``{success, fail, last}``), 404
  when the page has none; the page shows it in the sidebar, re-read every few seconds.

Mount ``page.app`` at ``/sandbox`` and serve the fake through ``page.watch(fake.app)`` so that
the page hears about every change at once (it also re-reads the state every second).

Nothing here imports from the rest of chatops: the page stands in for Slack's own client.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from chatops.sandbox.heartbeat import HeartbeatReceiver
from chatops.sandbox.jsontypes import JSONDict
from chatops.sandbox.slack import (
    BOT_NAME,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_NAME,
    FakeSlack,
    Persona,
)
from chatops.sandbox.slack_client import SlackUser, find_element

STATIC_DIR = Path(__file__).parent / "static"
# A long poll answers after at most this long even when nothing changed, so that proxies and
# browsers never see a request hang for minutes.
MAX_WAIT_SECONDS = 25.0
# Changes that do not come through ``watch`` (a test poking the fake directly) are noticed
# by re-reading the state this often while a long poll waits.
RECHECK_SECONDS = 1.0
MAX_COMMAND_TEXT = 2000
NO_STORE = {"Cache-Control": "no-store"}


class ScenarioError(Exception):
    """A scenario event that cannot run now; the message is shown on the page as it is."""

    status: ClassVar[int] = 409


class ScenarioControl(Protocol):
    """What the page needs from a scenario (the demo's ``chatops.demo.scenario.Scenario``)."""

    def events(self) -> list[JSONDict]:
        """``[{name, label, description, running}]`` in the order the page shows them."""
        ...

    def log(self) -> list[JSONDict]:
        """``[{at (Unix seconds), text}]``, oldest first."""
        ...

    async def trigger(self, name: str) -> str:
        """Run event ``name`` now and say what happened; raise ScenarioError if it cannot."""
        ...


class _BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class SandboxPage:
    """The page and its API for one FakeSlack; ``app_url`` is the app's Request URL.

    ``channels`` are the channel ids the page lists, in order; ``roles`` a few words per
    persona name (``{"alice": "operator"}``) shown next to it.
    """

    def __init__(
        self,
        fake: FakeSlack,
        app_url: str,
        *,
        channels: Sequence[str],
        roles: Mapping[str, str] | None = None,
        scenario: ScenarioControl | None = None,
        heartbeat: HeartbeatReceiver | None = None,
        max_wait: float = MAX_WAIT_SECONDS,
        recheck: float = RECHECK_SECONDS,
    ) -> None:
        if not channels:
            raise ValueError("the page needs at least one channel to show")
        self.max_wait = max_wait
        self.recheck = recheck
        self.fake = fake
        self.app_url = app_url
        self.channels = tuple(channels)
        self.roles = dict(roles or {})
        self.scenario = scenario
        self.heartbeat = heartbeat
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._waiters_lock = threading.Lock()
        self._closing = False
        self.app = Starlette(
            routes=[
                Route("/", self._index, methods=["GET"]),
                Route("/api/state", self._state, methods=["GET"]),
                Route("/api/command", self._command, methods=["POST"]),
                Route("/api/click", self._click, methods=["POST"]),
                Route("/api/select", self._select, methods=["POST"]),
                Route("/api/home", self._home, methods=["POST"]),
                Route("/api/scenario/{event}", self._scenario, methods=["POST"]),
                Route("/api/heartbeat", self._heartbeat, methods=["GET"]),
                Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
            ]
        )

    # ------------------------------------------------------------------ change feed

    def watch(self, app: ASGIApp) -> ASGIApp:
        """``app`` (the fake's Web API) wrapped so that each request it answers wakes the page."""

        async def watched(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                await app(scope, receive, send)
            finally:
                if scope["type"] == "http":
                    self.changed()

        return watched

    def changed(self) -> None:
        """Something may have changed: wake every waiting long poll (from any thread)."""
        with self._waiters_lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has already closed
                loop.call_soon_threadsafe(event.set)

    def waiting(self) -> int:
        """How many long polls are waiting for a change now."""
        with self._waiters_lock:
            return len(self._waiters)

    def close(self) -> None:
        """Answer every waiting long poll now and make new ones answer at once (shutdown)."""
        self._closing = True
        self.changed()

    async def _wait_for_change(self, seconds: float) -> None:
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        with self._waiters_lock:
            self._waiters.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), seconds)
        finally:
            with self._waiters_lock:
                self._waiters.discard(waiter)

    # ------------------------------------------------------------------ state

    def state(self) -> JSONDict:
        """Everything the page shows, with a ``version`` that changes whenever any of it does."""
        fake = self.fake
        body: JSONDict = {
            "workspace": {"team": TEAM_NAME, "domain": TEAM_DOMAIN},
            "app": {"name": BOT_NAME, "user_id": BOT_USER_ID},
            "personas": [
                {
                    "name": persona.name,
                    "id": persona.user_id,
                    "real_name": persona.real_name,
                    "role": self.roles.get(persona.name, ""),
                }
                for persona in fake.personas
            ],
            "channels": [
                {
                    "id": channel,
                    "name": fake.channel_name(channel),
                    "messages": [_message(m) for m in fake.messages(channel)],
                }
                for channel in self.channels
            ],
            "ephemerals": {
                persona.name: [_message(m) for m in fake.ephemerals(persona.user_id)]
                for persona in fake.personas
            },
            "homes": {
                persona.name: _home_view(fake.home(persona.user_id)) for persona in fake.personas
            },
            "scenario": (
                {"events": self.scenario.events(), "log": self.scenario.log()}
                if self.scenario is not None
                else None
            ),
        }
        encoded = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        body["version"] = hashlib.sha256(encoded).hexdigest()[:20]
        return body

    # ------------------------------------------------------------------ endpoints

    async def _index(self, request: Request) -> Response:
        # Served at the mount's "/" only: the page's relative links (static/app.js,
        # api/state) need that trailing slash, so whoever mounts the page redirects to it.
        return FileResponse(STATIC_DIR / "index.html", headers=NO_STORE)

    async def _state(self, request: Request) -> Response:
        since = request.query_params.get("since")
        try:
            wait = min(max(float(request.query_params.get("wait", "0")), 0.0), self.max_wait)
        except ValueError:
            return _error("wait must be a number of seconds", 400)
        deadline = time.monotonic() + wait
        state = self.state()
        while since and state["version"] == since and not self._closing:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            await self._wait_for_change(min(left, self.recheck))
            state = self.state()
        return JSONResponse(state, headers=NO_STORE)

    async def _command(self, request: Request) -> Response:
        try:
            body = await _json_object(request)
            persona = self._persona(body)
            channel = self._channel(body)
            text = str(body.get("text") or "").strip()
            command, _, arguments = text.partition(" ")
            if command != "/botstatus":
                raise _BadRequest(
                    "Only /botstatus works here: this workspace has no people to talk to. "
                    "Try /botstatus help."
                )
            if len(arguments) > MAX_COMMAND_TEXT:
                raise _BadRequest(f"That command is longer than {MAX_COMMAND_TEXT} characters.")
        except _BadRequest as exc:
            return _error(str(exc), exc.status)
        user = SlackUser(self.fake, persona, self.app_url)
        return await self._send(lambda: user.acommand(arguments.strip(), channel=channel))

    async def _click(self, request: Request) -> Response:
        try:
            body = await _json_object(request)
            persona = self._persona(body)
            message = self._message_for(body, persona)
            action_id = _required(body, "action_id")
        except _BadRequest as exc:
            return _error(str(exc), exc.status)
        user = SlackUser(self.fake, persona, self.app_url)
        channel = body.get("channel") if body.get("surface") != "home" else None
        value = body.get("value")
        try:
            # Fail here, with a message, rather than inside the request: a stale page may
            # show a button the message no longer has.
            find_element(message, action_id, "button", value=value)
        except LookupError as exc:
            return _error(str(exc), 404)
        return await self._send(
            lambda: user.aclick(message, action_id, value=value, channel=channel)
        )

    async def _select(self, request: Request) -> Response:
        try:
            body = await _json_object(request)
            persona = self._persona(body)
            message = self._message_for(body, persona)
            action_id = _required(body, "action_id")
            value = _required(body, "value")
        except _BadRequest as exc:
            return _error(str(exc), exc.status)
        user = SlackUser(self.fake, persona, self.app_url)
        channel = body.get("channel") if body.get("surface") != "home" else None
        try:
            delivery = user.select_delivery(message, action_id, value, channel=channel)
        except LookupError as exc:
            return _error(str(exc), 404)
        return await self._send(lambda: user.adeliver(delivery))

    async def _home(self, request: Request) -> Response:
        try:
            persona = self._persona(await _json_object(request))
        except _BadRequest as exc:
            return _error(str(exc), exc.status)
        user = SlackUser(self.fake, persona, self.app_url)
        return await self._send(user.aopen_home)

    async def _scenario(self, request: Request) -> Response:
        if self.scenario is None:
            return _error("this sandbox runs no scenario", 404)
        try:
            text = await self.scenario.trigger(request.path_params["event"])
        except ScenarioError as exc:
            return _error(str(exc), exc.status)
        self.changed()
        return JSONResponse({"ok": True, "text": text})

    async def _heartbeat(self, _: Request) -> Response:
        if self.heartbeat is None:
            return _error("this sandbox has no heartbeat receiver", 404)
        return JSONResponse(self.heartbeat.summary(), headers=NO_STORE)

    # ------------------------------------------------------------------ helpers

    async def _send(self, request: Callable[[], Awaitable[httpx.Response]]) -> Response:
        """Send a request to the app as Slack would, and say what Slack would show."""
        try:
            response = await request()
        except httpx.TimeoutException:
            # Slack waits (3 s), then tells the person the app did not answer.
            return _slack_error("operation_timeout")
        except httpx.HTTPError:
            return _slack_error("dispatch_failed")
        finally:
            self.changed()
        if response.status_code != 200:
            return _slack_error(f"http_{response.status_code}")
        return JSONResponse({"ok": True})

    def _persona(self, body: Mapping[str, Any]) -> Persona:
        name = body.get("persona")
        persona = next((p for p in self.fake.personas if p.name == name), None)
        if persona is None:
            names = ", ".join(p.name for p in self.fake.personas)
            raise _BadRequest(f"unknown persona {name!r}; personas: {names}")
        return persona

    def _channel(self, body: Mapping[str, Any]) -> str:
        channel = body.get("channel")
        if channel not in self.channels:
            raise _BadRequest(f"unknown channel {channel!r}; channels: {', '.join(self.channels)}")
        return str(channel)

    def _message_for(self, body: Mapping[str, Any], persona: Persona) -> JSONDict:
        surface = body.get("surface")
        if surface == "home":
            home = self.fake.home(persona.user_id)
            if home is None:
                raise _BadRequest(f"{persona.name} has no Home tab yet", 404)
            return home
        ts = _required(body, "ts")
        if surface == "ephemeral":
            candidates = self.fake.ephemerals(persona.user_id)
        elif surface == "channel":
            channel = self._channel(body)
            candidates = []
            for top in self.fake.messages(channel):
                candidates.append(top)
                candidates.extend(top.get("replies") or [])
        else:
            raise _BadRequest("surface must be channel, ephemeral or home")
        for message in candidates:
            if message.get("ts") == ts:
                return message
        raise _BadRequest("that message is gone (replaced or deleted)", 404)


# ---------------------------------------------------------------------- projections


def _message(message: Mapping[str, Any]) -> JSONDict:
    """What the page needs of a message (the fake's bookkeeping stays behind)."""
    shown: JSONDict = {
        "ts": message.get("ts"),
        "channel": message.get("channel"),
        "text": message.get("text") or "",
        "blocks": copy.deepcopy(message.get("blocks") or []),
        "edited": bool(message.get("edited")),
        "edits": len(message.get("history") or []),
        "source": message.get("source"),
    }
    if "replies" in message:
        shown["replies"] = [_message(reply) for reply in message["replies"]]
    if message.get("thread_ts"):
        shown["thread_ts"] = message["thread_ts"]
    return shown


def _home_view(view: Mapping[str, Any] | None) -> JSONDict | None:
    if view is None:
        return None
    return {"id": view.get("id"), "blocks": copy.deepcopy(view.get("blocks") or [])}


# ---------------------------------------------------------------------- requests


async def _json_object(request: Request) -> JSONDict:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise _BadRequest("the body must be JSON") from exc
    if not isinstance(body, dict):
        raise _BadRequest("the body must be a JSON object")
    return body


def _required(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise _BadRequest(f"{key} is required")
    return value


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status, headers=NO_STORE)


def _slack_error(code: str) -> JSONResponse:
    """What Slack shows when the app fails a command or a click, e.g. ``operation_timeout``."""
    return JSONResponse(
        {"ok": False, "error": f"The app did not answer properly: {code}", "slack_error": code},
        502,
        headers=NO_STORE,
    )


__all__ = ["STATIC_DIR", "SandboxPage", "ScenarioControl", "ScenarioError"]
