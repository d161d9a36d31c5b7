"""``FakeSlack``: the fake workspace's Python API and its Starlette ``app``.

It puts together the workspace's state (workspace.py), the Web API methods (webapi.py),
response URLs (responses.py), faults (faults.py) and Slack's Block Kit checks
(validation.py), behind one lock. Tests and the demo use the methods here; the app under
test and other processes use the HTTP routes.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Unpack
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from chatops.sandbox.jsontypes import JSONDict
from chatops.sandbox.slack import responses, webapi
from chatops.sandbox.slack.faults import (
    FaultSpec,
    describe,
    fault_from_json,
    make_fault,
)
from chatops.sandbox.slack.validation import MAX_MESSAGE_BLOCKS, message_problem
from chatops.sandbox.slack.workspace import (
    DEFAULT_BOT_TOKEN,
    DEFAULT_CHANNELS,
    DEFAULT_PERSONAS,
    DEFAULT_SIGNING_SECRET,
    SLACK_DEADLINE_SECONDS,
    USERGROUPS,
    WAIT_FOR_SECONDS,
    ChannelState,
    Persona,
    Workspace,
)


class FakeSlack:
    """A Slack workspace with the chatops app installed, served as a Starlette app.

    Web API at ``POST|GET /api/<method>``, response URLs at ``POST /response/<token>``,
    fault injection at ``POST|DELETE /_sandbox/faults``. Every public method is thread-safe:
    the app under test runs in uvicorn's thread while a test reads and injects from its own.
    """

    def __init__(
        self,
        *,
        bot_token: str = DEFAULT_BOT_TOKEN,
        signing_secret: str = DEFAULT_SIGNING_SECRET,
        personas: Sequence[Persona] = DEFAULT_PERSONAS,
        channels: Sequence[str] = DEFAULT_CHANNELS,
        usergroups: Mapping[str, str] = USERGROUPS,
        clock: Callable[[], float] = time.time,
        enforce_rate_limits: bool = False,
        deadline: float = SLACK_DEADLINE_SECONDS,
    ) -> None:
        """``deadline``: how long this Slack waits for the app to answer a command, a click or
        an event (Slack's is 3 s; tests on a busy machine give more)."""
        self.deadline = deadline
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        self.personas: tuple[Persona, ...] = tuple(personas)
        self.clock = clock
        usergroup_ids = dict(usergroups)
        for persona in self.personas:
            for handle in persona.usergroups:
                usergroup_ids.setdefault(handle, "S0" + handle.replace("-", "").upper())
        self._lock = threading.RLock()
        self._store = Workspace(
            channels={c: ChannelState(c) for c in channels},
            personas=self.personas,
            usergroup_ids=usergroup_ids,
            clock=clock,
            enforce_rate_limits=enforce_rate_limits,
        )
        self._public_url: str | None = None
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._web_api, methods=["GET", "POST"]),
                Route("/response/{token}", self._response_url, methods=["POST"]),
                Route("/_sandbox/faults", self._faults_endpoint, methods=["POST", "DELETE"]),
            ]
        )

    # ------------------------------------------------------------------ addresses

    def set_public_url(self, url: str) -> None:
        """Where the fake is reachable, e.g. ``http://127.0.0.1:8123`` (run_in_thread sets it).

        Call it yourself when you mount ``fake.app`` inside another ASGI app.
        """
        self._public_url = url.rstrip("/")

    @property
    def url(self) -> str:
        if self._public_url is None:
            raise RuntimeError("FakeSlack is not running: start it with run_in_thread(fake)")
        return self._public_url

    @property
    def base_url(self) -> str:
        """What SLACK_API_URL and ``AsyncWebClient(base_url=...)`` point to."""
        return f"{self.url}/api/"

    def channel_name(self, channel_id: str) -> str:
        return channel_id.removeprefix("C0").lower()

    @property
    def enforce_rate_limits(self) -> bool:
        return self._store.enforce_rate_limits

    @enforce_rate_limits.setter
    def enforce_rate_limits(self, enforce: bool) -> None:
        with self._lock:
            self._store.enforce_rate_limits = enforce

    def persona(self, user_id: str) -> Persona | None:
        return self._store.persona(user_id)

    def usergroup_id(self, handle: str) -> str:
        return self._store.usergroup_ids[handle]

    # ------------------------------------------------------------------ inspection

    def messages(self, channel: str) -> list[JSONDict]:
        """The channel's top-level messages in order, each with its ``replies``.

        Keys: ``channel, ts, type, text, blocks, user, bot_id, app_id, thread_ts`` (replies),
        ``edited`` (bool), ``history`` (earlier versions, oldest first), ``replies``,
        ``reply_count``, ``source`` (chat.postMessage, response_url or command_response).
        """
        with self._lock:
            return [
                self._store.view_of(m)
                for m in self._store.messages.get(channel, [])
                if not m["deleted"]
            ]

    def thread(self, channel: str, ts: str) -> list[JSONDict]:
        """The parent message and its replies, like conversations.replies."""
        with self._lock:
            parent = self._store.find_message(channel, ts)
            if parent is None or parent["deleted"]:
                return []
            root = self._store.find_message(channel, parent.get("thread_ts") or ts) or parent
            replies = [self._store.view_of(r) for r in root["replies"] if not r["deleted"]]
            return [self._store.view_of(root), *replies]

    def ephemerals(self, user_id: str) -> list[JSONDict]:
        """Messages only ``user_id`` saw: chat.postEphemeral, response_url and command replies."""
        with self._lock:
            return [
                copy.deepcopy(e)
                for e in self._store.ephemerals
                if e["user"] == user_id and not e["deleted"]
            ]

    def home(self, user_id: str) -> JSONDict | None:
        """The view last published to the user's App Home, with Slack's ``id`` and ``hash``."""
        with self._lock:
            view = self._store.homes.get(user_id)
            return copy.deepcopy(view) if view is not None else None

    def calls(self, method: str) -> list[JSONDict]:
        """Every request to ``method``, failed ones included, oldest first.

        Each is the parsed arguments (``token`` removed) plus ``_status`` (HTTP status),
        ``_ok``, ``_error`` and ``_at`` (the fake's clock). ``method`` is a Web API method, or
        ``response_url`` / ``command_response`` for the replies that go through those.
        """
        with self._lock:
            return [copy.deepcopy(call) for name, call in self._store.calls if name == method]

    def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = WAIT_FOR_SECONDS,
        *,
        what: str | None = None,
    ) -> None:
        """Poll ``predicate`` until it is true; on timeout raise AssertionError saying why.

        The default bound is generous: it only matters when the condition never comes."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(predicate, timeout, what))
            time.sleep(0.01)

    # The same signature as wait_for on purpose, hence the timeout argument.
    async def await_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = WAIT_FOR_SECONDS,  # noqa: ASYNC109
        *,
        what: str | None = None,
    ) -> None:
        """``wait_for`` for code inside an event loop (it yields to the loop while polling)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(predicate, timeout, what))
            await asyncio.sleep(0.01)

    def _timeout_message(
        self, predicate: Callable[[], bool], timeout: float, what: str | None
    ) -> str:
        if what is None:
            try:
                what = inspect.getsource(predicate).strip()
            except (OSError, TypeError):
                what = getattr(predicate, "__qualname__", repr(predicate))
        with self._lock:
            recent = [
                f"{name} -> {call['_status']} {'ok' if call['_ok'] else call['_error']}"
                for name, call in self._store.calls[-12:]
            ]
            counts = {c: len(ms) for c, ms in self._store.messages.items() if ms}
            ephemeral_count = len(self._store.ephemerals)
        return (
            f"timed out after {timeout}s waiting for: {what}\n"
            f"  channel messages: {counts or 'none'}; ephemerals: {ephemeral_count}\n"
            f"  last calls: {'; '.join(recent) or 'none'}"
        )

    # ------------------------------------------------------------------ fault injection

    def inject(self, **spec: Unpack[FaultSpec]) -> None:
        """Make matching calls fail: ``times`` calls in a row, or a ``ratio`` of them (seeded).

        ``status=429``: HTTP 429 with ``Retry-After`` (omitted when ``retry_after`` is None).
        ``status`` 5xx: that HTTP status. ``error="channel_not_found"``: HTTP 200 with
        ``{"ok": false, "error": ...}`` (with a 5xx status, that error in the 5xx body).
        ``answer_lost``: the connection drops before the answer is complete, with the call
        done (``"after"``: Slack acted) or not (``"before"``); ``status`` is then ignored.
        Such calls are recorded with ``_answer_lost``. ``delay``: Slack takes that many
        seconds, then acts and answers as usual. These two apply to Web API methods only.
        ``method`` None means every Web API method; ``"response_url"`` targets response URLs.
        """
        fault = make_fault(**spec)
        with self._lock:
            self._store.faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._store.faults.clear()

    def faults(self) -> list[JSONDict]:
        """The injected faults: how many more calls each fails (``times``), how many it did."""
        with self._lock:
            return [describe(fault) for fault in self._store.faults]

    def set_channel_state(
        self, channel: str, *, archived: bool = False, member: bool = True
    ) -> None:
        """``archived`` -> is_archived errors; ``member=False`` -> not_in_channel (the bot left).

        An unknown channel is created, so tests can add channels on the fly.
        """
        with self._lock:
            state = self._store.channels.setdefault(channel, ChannelState(channel))
            state.archived = archived
            state.member = member

    def revoke_token(self) -> None:
        """The app was uninstalled or its token revoked: every call fails with token_revoked."""
        with self._lock:
            self._store.token_revoked = True

    # ------------------------------------------------------------------ response URLs

    def mint_response_url(self, user_id: str, channel: str, message_ts: str | None = None) -> str:
        """A response_url as Slack puts into a command or block_actions payload.

        ``message_ts`` is the message the interaction came from: a channel message, or one of
        the user's ephemeral messages (``replace_original`` then edits that one).
        """
        with self._lock:
            token = responses.mint(self._store, user_id, channel, message_ts)
        return f"{self.url}/response/{token}"

    def deliver_command_reply(
        self, user_id: str, channel: str, body: bytes, content_type: str
    ) -> None:
        """Show the HTTP body an app answered a slash command with, as Slack does.

        Slack displays a JSON message (``response_type`` ephemeral by default, or in_channel),
        or a non-empty text/plain body as an ephemeral text. An empty body shows nothing.
        """
        if not body.strip():
            return
        if "json" in content_type:
            try:
                reply = json.loads(body)
            except ValueError:
                reply = None
            if not isinstance(reply, dict):
                with self._lock:
                    self._store.record(
                        "command_response",
                        {"body": body.decode(errors="replace")},
                        200,
                        "invalid_payload",
                    )
                return
        else:
            reply = {"text": body.decode()}
        with self._lock:
            args = {k: v for k, v in reply.items()}
            problem = message_problem(reply, limit=MAX_MESSAGE_BLOCKS)
            if problem is not None:
                self._store.record("command_response", args, 200, problem[0])
                return
            self._store.record("command_response", args, 200, None)
            if reply.get("response_type") == "in_channel":
                self._store.append_channel_message(channel, reply, source="command_response")
            else:
                self._store.append_ephemeral(user_id, channel, reply, source="command_response")

    # ------------------------------------------------------------------ HTTP: Web API

    async def _web_api(self, request: Request) -> Response:
        method = request.path_params["method"]
        args = _parse_args(
            request.query_params.multi_items(),
            await request.body(),
            request.headers.get("content-type", ""),
        )
        token = _bearer_token(request.headers.get("authorization")) or args.pop("token", None)
        args.pop("token", None)
        with self._lock:
            fault = next((f for f in self._store.faults if f.matches(method) and f.fires()), None)
        if fault is not None and fault.delay:
            # A slow Slack: it acts and answers, later.
            await asyncio.sleep(fault.delay)
            fault = None
        with self._lock:
            if fault is not None and fault.answer_lost == "before":
                self._store.record(method, args, 0, None, answer_lost="before")
                return fault.reply()
            if fault is not None and fault.answer_lost is None:
                reply = fault.reply()
                self._store.record(method, args, reply.status_code, _error_of(reply))
                return reply
            reply = webapi.answer(self._store, self.bot_token, method, args, token)
            if fault is not None:  # the call is done; its answer never arrives
                self._store.calls[-1][1]["_answer_lost"] = "after"
                return fault.reply()
            return reply

    async def _response_url(self, request: Request) -> Response:
        body = await request.body()
        args = _parse_args([], body, request.headers.get("content-type", ""))
        if "payload" in args and isinstance(args["payload"], str):
            args = _parse_args([], args["payload"].encode(), "application/json")
        with self._lock:
            fault = next(
                (f for f in self._store.faults if f.matches("response_url") and f.fires()), None
            )
            if fault is not None:
                reply = fault.reply()
                self._store.record("response_url", args, reply.status_code, _error_of(reply))
                return reply
            status, text = responses.answer(self._store, request.path_params["token"], args)
            self._store.record("response_url", args, status, None if status == 200 else text)
            return PlainTextResponse(text, status)

    async def _faults_endpoint(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.clear_faults()
            return JSONResponse({"ok": True})
        try:
            fault = fault_from_json(json.loads(await request.body() or b"{}"))
        except (ValueError, TypeError) as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, 400)
        with self._lock:
            self._store.faults.append(fault)
        return JSONResponse({"ok": True})


_JSON_ARGUMENTS = ("blocks", "attachments", "view", "metadata")


def _parse_args(query: Sequence[tuple[str, str]], body: bytes, content_type: str) -> JSONDict:
    args: JSONDict = dict(query)
    if body:
        if "json" in content_type or body.lstrip().startswith(b"{"):
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                args.update(parsed)
        else:
            args.update(parse_qsl(body.decode(), keep_blank_values=True))
    for name in _JSON_ARGUMENTS:
        value = args.get(name)
        if isinstance(value, str) and value:
            try:
                args[name] = json.loads(value)
            except ValueError:
                pass  # left as a string: validation reports it as invalid
    return args


def _bearer_token(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def _error_of(reply: Response) -> str | None:
    body = bytes(reply.body)
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.decode(errors="replace")
    return parsed.get("error") if isinstance(parsed, dict) else None
