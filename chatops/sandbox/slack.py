"""A fake Slack workspace on loopback: the Web API, response_url endpoints and fault injection.

It speaks Slack's wire protocol, so the real ``slack_sdk`` clients and Bolt talk to it
unchanged (``AsyncWebClient(base_url=fake.base_url)``). Tests and the demo read what the app
did through the inspection methods (``messages``, ``thread``, ``ephemerals``, ``home``,
``calls``) and make Slack misbehave with ``inject`` (429 with Retry-After, 5xx, ``ok: false``,
answers lost before or after Slack acted, slow answers).

Behaviour follows Slack's documentation (https://docs.slack.dev/reference/methods,
https://docs.slack.dev/reference/block-kit/blocks, https://docs.slack.dev/interactivity/
handling-user-interaction). Where the docs leave a detail open the fake picks the strict
reading and says so next to the code, so that a test fails here rather than in production.

Nothing here imports from the rest of chatops: the fake stands in for the outside world.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import itertools
import json
import math
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Self
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from chatops.sandbox import serving
from chatops.sandbox.serving import ServedApp, StopOnExit
from chatops.sandbox.serving import serve_in_thread as serve_in_thread

JSONDict = dict[str, Any]

# The fake workspace and the app installed in it.
TEAM_ID = "T0SANDBOX"
TEAM_DOMAIN = "sandbox"
TEAM_NAME = "Sandbox"
APP_ID = "A0CHATOPS"
BOT_ID = "B0CHATOPS"
BOT_USER_ID = "U0CHATOPS"
BOT_NAME = "botstatus"
# Slack still sends the deprecated verification token in payloads; Bolt ignores it.
VERIFICATION_TOKEN = "sandbox-verification-token"

DEFAULT_BOT_TOKEN = "xoxb-sandbox-token"
DEFAULT_SIGNING_SECRET = "sandbox-signing-secret"
DEFAULT_CHANNELS = ("C0ALERTS", "C0BILLING", "C0GENERAL")

# Slack's published limits (https://docs.slack.dev/reference/block-kit/blocks and the pages of
# each block, element and composition object).
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 4000
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_ID = 255
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
MAX_PRIVATE_METADATA = 3000

# response_url: "up to 5 times within 30 minutes" (https://docs.slack.dev/interactivity/
# handling-user-interaction#message_responses).
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_LIFETIME_SECONDS = 30 * 60

# chat.postMessage allows about one message per second per channel, "short bursts" above
# that (https://docs.slack.dev/apis/web-api/rate-limits). The burst size is unpublished.
POST_MESSAGE_PER_SECOND = 1.0
POST_MESSAGE_BURST = 3

BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
    }
)
INTERACTIVE_ELEMENT_TYPES = frozenset(
    {
        "button",
        "checkboxes",
        "channels_select",
        "conversations_select",
        "datepicker",
        "datetimepicker",
        "external_select",
        "multi_channels_select",
        "multi_conversations_select",
        "multi_external_select",
        "multi_static_select",
        "multi_users_select",
        "overflow",
        "radio_buttons",
        "static_select",
        "timepicker",
        "users_select",
        "workflow_button",
    }
)
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
BUTTON_STYLES = frozenset({"primary", "danger"})


# Slack gives an app 3 seconds to answer a command, click or event, then shows the user
# "operation_timeout" (https://docs.slack.dev/interactivity/handling-user-interaction).
SLACK_DEADLINE_SECONDS = 3.0
# How long ``wait_for`` polls by default before it gives up.
WAIT_FOR_SECONDS = 60.0


@dataclass(frozen=True)
class Persona:
    """A person in the fake workspace; ``usergroups`` holds user group handles."""

    user_id: str
    name: str
    email: str
    usergroups: tuple[str, ...] = ()
    # IANA time zone, as users.info gives it (``tz``); times a person types are read in it.
    tz: str = "Europe/London"

    @property
    def real_name(self) -> str:
        return self.name.capitalize()


ALICE = Persona("U0ALICE", "alice", "alice@example.com", ("bot-ops",))
BOB = Persona("U0BOB", "bob", "bob@example.com", ("support-leads",))
CHARLIE = Persona("U0CHARLIE", "charlie", "charlie@example.com", ())
PERSONAS: Mapping[str, Persona] = {p.name: p for p in (ALICE, BOB, CHARLIE)}
DEFAULT_PERSONAS: tuple[Persona, ...] = tuple(PERSONAS.values())
# User group handle -> id.
USERGROUPS: Mapping[str, str] = {"bot-ops": "S0BOTOPS", "support-leads": "S0SUPPORT"}


class SlackApiFailure(Exception):
    """A Web API call that Slack answers with HTTP 200 and ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


AnswerLost = Literal["before", "after"]


@dataclass
class _Fault:
    method: str | None
    status: int
    retry_after: int | None
    error: str | None
    times: int
    ratio: float | None
    rng: random.Random
    answer_lost: AnswerLost | None = None
    delay: float = 0.0
    fired: int = 0

    def matches(self, method: str) -> bool:
        # A fault without a method hits every Web API method, never the response_url endpoint.
        if self.method is None:
            return method != "response_url"
        return self.method == method

    def fires(self) -> bool:
        fired = self.rng.random() < self.ratio if self.ratio is not None else self.times > 0
        if fired:
            self.fired += 1
            if self.ratio is None:
                self.times -= 1
        return fired

    def reply(self) -> Response:
        if self.answer_lost is not None:
            return _LostAnswer()
        if self.status == 429 and self.error is None:
            headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
            return JSONResponse({"ok": False, "error": "ratelimited"}, 429, headers=headers)
        if self.status == 429 or self.status == 200:
            # error= alone means Slack's usual failure shape: HTTP 200 with ok false.
            return JSONResponse({"ok": False, "error": self.error})
        error = self.error or ("service_unavailable" if self.status == 503 else "fatal_error")
        return JSONResponse({"ok": False, "error": error}, self.status)


class _LostAnswer(Response):
    """The connection drops in the middle of the answer: the client never learns the outcome.

    What a timeout looks like from the client: it cannot tell whether Slack acted.
    """

    def __init__(self) -> None:
        super().__init__(status_code=200, media_type="application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        # Return without the rest: the server closes the connection mid-body.
        await send({"type": "http.response.body", "body": b'{"ok":', "more_body": True})


@dataclass
class _ChannelState:
    channel_id: str
    archived: bool = False
    member: bool = True
    # chat.postMessage pacing (only with enforce_rate_limits): a token bucket.
    tokens: float = POST_MESSAGE_BURST
    refilled_at: float | None = None


@dataclass
class _ResponseUrl:
    token: str
    user_id: str
    channel: str
    created_at: float
    # The message that replace_original / delete_original act on; a slash command's URL has
    # none until its first reply, which then becomes the "original".
    message_ts: str | None
    uses: int = 0


@dataclass
class _Store:
    """All mutable state of the fake, guarded by one lock in FakeSlack."""

    channels: dict[str, _ChannelState]
    messages: dict[str, list[JSONDict]] = field(default_factory=dict)
    ephemerals: list[JSONDict] = field(default_factory=list)
    homes: dict[str, JSONDict] = field(default_factory=dict)
    calls: list[tuple[str, JSONDict]] = field(default_factory=list)
    faults: list[_Fault] = field(default_factory=list)
    response_urls: dict[str, _ResponseUrl] = field(default_factory=dict)
    last_ts_micros: int = 0
    views_published: int = 0
    token_revoked: bool = False


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
        self.enforce_rate_limits = enforce_rate_limits
        self._usergroup_ids = dict(usergroups)
        for persona in self.personas:
            for handle in persona.usergroups:
                self._usergroup_ids.setdefault(handle, "S0" + handle.replace("-", "").upper())
        self._lock = threading.RLock()
        self._store = _Store(channels={c: _ChannelState(c) for c in channels})
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

    def persona(self, user_id: str) -> Persona | None:
        return next((p for p in self.personas if p.user_id == user_id), None)

    def usergroup_id(self, handle: str) -> str:
        return self._usergroup_ids[handle]

    # ------------------------------------------------------------------ inspection

    def messages(self, channel: str) -> list[JSONDict]:
        """The channel's top-level messages in order, each with its ``replies``.

        Keys: ``channel, ts, type, text, blocks, user, bot_id, app_id, thread_ts`` (replies),
        ``edited`` (bool), ``history`` (earlier versions, oldest first), ``replies``,
        ``reply_count``, ``source`` (chat.postMessage, response_url or command_response).
        """
        with self._lock:
            return [
                self._view_of(m) for m in self._store.messages.get(channel, []) if not m["deleted"]
            ]

    def thread(self, channel: str, ts: str) -> list[JSONDict]:
        """The parent message and its replies, like conversations.replies."""
        with self._lock:
            parent = self._find_message(channel, ts)
            if parent is None or parent["deleted"]:
                return []
            root = self._find_message(channel, parent.get("thread_ts") or ts) or parent
            replies = [self._view_of(r) for r in root["replies"] if not r["deleted"]]
            return [self._view_of(root), *replies]

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

    def inject(
        self,
        *,
        method: str | None = None,
        status: int = 429,
        retry_after: int | None = 1,
        error: str | None = None,
        times: int = 1,
        ratio: float | None = None,
        seed: int = 0,
        answer_lost: AnswerLost | None = None,
        delay: float = 0.0,
    ) -> None:
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
        if answer_lost is not None and answer_lost not in ("before", "after"):
            raise ValueError(
                f"inject: answer_lost must be 'before' or 'after', not {answer_lost!r}"
            )
        if (answer_lost is not None or delay) and method == "response_url":
            raise ValueError("inject: answer_lost and delay apply to Web API methods only")
        if answer_lost is not None and delay:
            raise ValueError("inject: a fault either loses the answer or delays it, not both")
        if delay < 0:
            raise ValueError(f"inject: delay must be 0 or more seconds, not {delay}")
        if (
            answer_lost is None
            and not delay
            and not (status == 429 or 500 <= status <= 599 or (status == 200 and error))
        ):
            raise ValueError(f"inject: status must be 429 or 5xx, not {status}")
        if ratio is not None and not 0.0 <= ratio <= 1.0:
            raise ValueError(f"inject: ratio must be between 0 and 1, not {ratio}")
        if times < 1 and ratio is None:
            raise ValueError("inject: times must be at least 1")
        fault = _Fault(
            method,
            status,
            retry_after,
            error,
            times,
            ratio,
            random.Random(seed),
            answer_lost,
            delay,
        )
        with self._lock:
            self._store.faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._store.faults.clear()

    def faults(self) -> list[JSONDict]:
        """The injected faults: how many more calls each fails (``times``), how many it did."""
        with self._lock:
            return [
                {
                    "method": fault.method,
                    "status": fault.status,
                    "times": fault.times,
                    "fired": fault.fired,
                    "ratio": fault.ratio,
                    "answer_lost": fault.answer_lost,
                    "delay": fault.delay,
                }
                for fault in self._store.faults
            ]

    def set_channel_state(
        self, channel: str, *, archived: bool = False, member: bool = True
    ) -> None:
        """``archived`` -> is_archived errors; ``member=False`` -> not_in_channel (the bot left).

        An unknown channel is created, so tests can add channels on the fly.
        """
        with self._lock:
            state = self._store.channels.setdefault(channel, _ChannelState(channel))
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
            token = secrets.token_urlsafe(16)
            self._store.response_urls[token] = _ResponseUrl(
                token, user_id, channel, self.clock(), message_ts
            )
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
                    self._record(
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
            problem = _message_problem(reply, limit=MAX_MESSAGE_BLOCKS)
            if problem is not None:
                self._record("command_response", args, 200, problem[0])
                return
            self._record("command_response", args, 200, None)
            if reply.get("response_type") == "in_channel":
                self._append_channel_message(channel, reply, source="command_response")
            else:
                self._append_ephemeral(user_id, channel, reply, source="command_response")

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
                self._record(method, args, 0, None, answer_lost="before")
                return fault.reply()
            if fault is not None and fault.answer_lost is None:
                reply = fault.reply()
                self._record(method, args, reply.status_code, _error_of(reply))
                return reply
            reply = self._answer(method, args, token)
            if fault is not None:  # the call is done; its answer never arrives
                self._store.calls[-1][1]["_answer_lost"] = "after"
                return fault.reply()
            return reply

    def _answer(self, method: str, args: JSONDict, token: str | None) -> Response:
        """Do one Web API call (under the lock) and record it."""
        auth_error = self._auth_error(token)
        if auth_error is not None:
            self._record(method, args, 200, auth_error)
            return JSONResponse({"ok": False, "error": auth_error})
        handler = _METHODS.get(method)
        if handler is None:
            self._record(method, args, 200, "unknown_method")
            return JSONResponse({"ok": False, "error": "unknown_method"})
        try:
            result = handler(self, args)
        except _RateLimited as limited:
            self._record(method, args, 429, "ratelimited")
            return JSONResponse(
                {"ok": False, "error": "ratelimited"},
                429,
                headers={"Retry-After": str(limited.retry_after)},
            )
        except SlackApiFailure as failure:
            self._record(method, args, 200, failure.error)
            return JSONResponse({"ok": False, "error": failure.error, **failure.extra})
        self._record(method, args, 200, None)
        return JSONResponse({"ok": True, **result})

    def _auth_error(self, token: str | None) -> str | None:
        if not token:
            return "not_authed"
        if not secrets.compare_digest(token.encode(), self.bot_token.encode()):
            return "invalid_auth"
        if self._store.token_revoked:
            return "token_revoked"
        return None

    def _record(
        self,
        method: str,
        args: JSONDict,
        status: int,
        error: str | None,
        *,
        answer_lost: AnswerLost | None = None,
    ) -> None:
        call = dict(args)
        if answer_lost is not None:
            call["_answer_lost"] = answer_lost
        call.update(
            {
                "_status": status,
                "_ok": error is None and status == 200,
                "_error": error,
                "_at": self.clock(),
            }
        )
        self._store.calls.append((method, call))

    # -- methods (each runs under the lock and returns the reply's fields beyond "ok")

    def _auth_test(self, args: JSONDict) -> JSONDict:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: JSONDict) -> JSONDict:
        channel = self._writable_channel(args.get("channel"))
        _raise_for_message(args, limit=MAX_MESSAGE_BLOCKS)
        thread_ts = args.get("thread_ts")
        if thread_ts is not None:
            parent = self._find_message(channel, str(thread_ts))
            # Slack's docs do not say what an unknown thread_ts does; the fake refuses it with
            # the error conversations.replies uses, so a wrong ts fails loudly in tests.
            if parent is None or parent["deleted"]:
                raise SlackApiFailure("thread_not_found")
        self._take_post_message_token(channel)
        message = self._append_channel_message(channel, args, source="chat.postMessage")
        return {"channel": channel, "ts": message["ts"], "message": _wire_message(message)}

    def _chat_update(self, args: JSONDict) -> JSONDict:
        channel = self._writable_channel(args.get("channel"))
        ts = args.get("ts")
        if not ts:
            raise SlackApiFailure(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] missing required field: ts"]},
            )
        message = self._find_message(channel, str(ts))
        if message is None or message["deleted"]:
            raise SlackApiFailure("message_not_found")
        _raise_for_message(args, limit=MAX_MESSAGE_BLOCKS)
        self._edit(message, args)
        return {
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": _wire_message(message),
        }

    def _chat_post_ephemeral(self, args: JSONDict) -> JSONDict:
        channel = self._writable_channel(args.get("channel"))
        user_id = args.get("user")
        if not user_id or self.persona(str(user_id)) is None:
            raise SlackApiFailure("user_not_in_channel")
        _raise_for_message(args, limit=MAX_MESSAGE_BLOCKS)
        ephemeral = self._append_ephemeral(str(user_id), channel, args, source="chat.postEphemeral")
        return {"message_ts": ephemeral["ts"]}

    def _views_publish(self, args: JSONDict) -> JSONDict:
        user_id = args.get("user_id")
        if not user_id or self.persona(str(user_id)) is None:
            raise SlackApiFailure("user_not_found")
        view = args.get("view")
        if not isinstance(view, dict):
            raise SlackApiFailure(
                "invalid_arguments",
                response_metadata={
                    "messages": ["[ERROR] failed to match all allowed schemas [json-pointer:/view]"]
                },
            )
        errors = _view_errors(view)
        if errors:
            raise SlackApiFailure(
                "invalid_arguments",
                response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
            )
        current = self._store.homes.get(str(user_id))
        expected_hash = args.get("hash")
        if expected_hash and current is not None and expected_hash != current["hash"]:
            raise SlackApiFailure("hash_conflict")
        self._store.views_published += 1
        number = self._store.views_published
        published = copy.deepcopy(view)
        published.update(
            {
                "id": current["id"] if current else f"V0HOME{number:04d}",
                "team_id": TEAM_ID,
                "app_id": APP_ID,
                "bot_id": BOT_ID,
                "hash": f"{int(self.clock())}.{secrets.token_hex(4)}",
            }
        )
        self._store.homes[str(user_id)] = published
        return {"view": copy.deepcopy(published)}

    def _users_info(self, args: JSONDict) -> JSONDict:
        persona = self.persona(str(args.get("user", "")))
        if persona is None:
            raise SlackApiFailure("user_not_found")
        return {
            "user": {
                "id": persona.user_id,
                "team_id": TEAM_ID,
                "name": persona.name,
                "real_name": persona.real_name,
                "deleted": False,
                "is_bot": False,
                "is_admin": False,
                "tz": persona.tz,
                # The email is only present with users:read.email; the manifest asks for it.
                "profile": {
                    "email": persona.email,
                    "real_name": persona.real_name,
                    "display_name": persona.name,
                    "team": TEAM_ID,
                },
            }
        }

    def _usergroups_list(self, args: JSONDict) -> JSONDict:
        include_users = _truthy(args.get("include_users"))
        include_count = _truthy(args.get("include_count"))
        groups = []
        for handle, group_id in self._usergroup_ids.items():
            group: JSONDict = {
                "id": group_id,
                "team_id": TEAM_ID,
                "is_usergroup": True,
                "handle": handle,
                "name": handle.replace("-", " ").title(),
                "date_delete": 0,
            }
            members = self._members_of(handle)
            if include_users:
                group["users"] = members
            if include_count:
                group["user_count"] = len(members)
            groups.append(group)
        return {"usergroups": groups}

    def _usergroups_users_list(self, args: JSONDict) -> JSONDict:
        group_id = args.get("usergroup")
        handle = next((h for h, i in self._usergroup_ids.items() if i == group_id), None)
        if handle is None:
            raise SlackApiFailure("no_such_subteam")
        return {"users": self._members_of(handle)}

    def _members_of(self, handle: str) -> list[str]:
        return [p.user_id for p in self.personas if handle in p.usergroups]

    # -- helpers for the methods

    def _writable_channel(self, channel: Any) -> str:
        state = self._store.channels.get(str(channel)) if channel else None
        if state is None:
            raise SlackApiFailure("channel_not_found")
        if state.archived:
            raise SlackApiFailure("is_archived")
        if not state.member:
            # The manifest has chat:write but not chat:write.public, so the bot must be in the
            # channel to post there, as with a real install.
            raise SlackApiFailure("not_in_channel")
        return state.channel_id

    def _take_post_message_token(self, channel: str) -> None:
        if not self.enforce_rate_limits:
            return
        state = self._store.channels[channel]
        now = self.clock()
        if state.refilled_at is not None:
            elapsed = max(0.0, now - state.refilled_at)
            state.tokens = min(POST_MESSAGE_BURST, state.tokens + elapsed * POST_MESSAGE_PER_SECOND)
        state.refilled_at = now
        if state.tokens < 1.0:
            raise _RateLimited(max(1, math.ceil((1.0 - state.tokens) / POST_MESSAGE_PER_SECOND)))
        state.tokens -= 1.0

    def _next_ts(self) -> str:
        micros = max(int(self.clock() * 1_000_000), self._store.last_ts_micros + 100)
        self._store.last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _find_message(self, channel: str, ts: str) -> JSONDict | None:
        message: JSONDict
        for message in self._store.messages.get(channel, []):
            if message["ts"] == ts:
                return message
            reply: JSONDict
            for reply in message["replies"]:
                if reply["ts"] == ts:
                    return reply
        return None

    def _new_message(self, channel: str, content: Mapping[str, Any], source: str) -> JSONDict:
        return {
            "channel": channel,
            "ts": self._next_ts(),
            "type": "message",
            "text": str(content.get("text") or ""),
            "blocks": copy.deepcopy(content.get("blocks") or []),
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "edited": False,
            "history": [],
            "source": source,
            "deleted": False,
        }

    def _append_channel_message(
        self, channel: str, content: Mapping[str, Any], *, source: str
    ) -> JSONDict:
        message = self._new_message(channel, content, source)
        thread_ts = content.get("thread_ts")
        parent = self._find_message(channel, str(thread_ts)) if thread_ts else None
        if parent is not None:
            # A reply to a reply belongs to the same thread, as in Slack.
            root = self._find_message(channel, parent.get("thread_ts") or parent["ts"]) or parent
            message["thread_ts"] = root["ts"]
            root.setdefault("thread_ts", root["ts"])
            root["replies"].append(message)
        else:
            message["replies"] = []
            self._store.messages.setdefault(channel, []).append(message)
        return message

    def _append_ephemeral(
        self, user_id: str, channel: str, content: Mapping[str, Any], *, source: str
    ) -> JSONDict:
        ephemeral = self._new_message(channel, content, source)
        ephemeral["user"] = user_id  # the one person who sees it
        ephemeral["is_ephemeral"] = True
        if content.get("thread_ts"):
            ephemeral["thread_ts"] = str(content["thread_ts"])
        self._store.ephemerals.append(ephemeral)
        return ephemeral

    def _edit(self, message: JSONDict, content: Mapping[str, Any]) -> None:
        message["history"].append(
            {
                "text": message["text"],
                "blocks": message["blocks"],
                "replaced_at": self._next_ts(),
            }
        )
        if "text" in content:
            message["text"] = str(content.get("text") or "")
        # chat.update keeps the old blocks when none are sent but text is; response_url
        # replacements send the whole message, so both paths pass blocks when they mean it.
        if "blocks" in content:
            message["blocks"] = copy.deepcopy(content.get("blocks") or [])
        message["edited"] = True

    def _view_of(self, message: JSONDict) -> JSONDict:
        view = copy.deepcopy(message)
        if "replies" in view:
            view["replies"] = [r for r in view["replies"] if not r["deleted"]]
            view["reply_count"] = len(view["replies"])
        return view

    # ------------------------------------------------------------------ HTTP: response_url

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
                self._record("response_url", args, reply.status_code, _error_of(reply))
                return reply
            status, text = self._answer_response_url(request.path_params["token"], args)
            self._record("response_url", args, status, None if status == 200 else text)
            return PlainTextResponse(text, status)

    def _answer_response_url(self, token: str, args: JSONDict) -> tuple[int, str]:
        url = self._store.response_urls.get(token)
        if url is None:
            return 404, "no_service"
        # Slack answers spent URLs with 404 and a one-word reason. "expired_url" and
        # "used_url" are the reasons developers report; Slack's docs do not list them.
        if self.clock() - url.created_at > RESPONSE_URL_LIFETIME_SECONDS:
            return 404, "expired_url"
        if url.uses >= RESPONSE_URL_MAX_USES:
            return 404, "used_url"
        target = self._response_target(url)
        if _truthy(args.get("delete_original")):
            if target is None:
                return 404, "message_not_found"
            target["deleted"] = True
            url.uses += 1
            return 200, "ok"
        problem = _message_problem(args, limit=MAX_MESSAGE_BLOCKS)
        if problem is not None:
            return 400, problem[0]
        if _truthy(args.get("replace_original")) and target is not None:
            self._edit(target, {"text": args.get("text"), "blocks": args.get("blocks")})
        else:
            # Without replace_original a reply is a new message: ephemeral unless the app asks
            # for in_channel (https://docs.slack.dev/interactivity/handling-user-interaction).
            if args.get("response_type") == "in_channel":
                state = self._store.channels.get(url.channel)
                if state is not None and state.archived:
                    return 404, "channel_is_archived"
                message = self._append_channel_message(url.channel, args, source="response_url")
            else:
                message = self._append_ephemeral(
                    url.user_id, url.channel, args, source="response_url"
                )
            if url.message_ts is None:
                url.message_ts = message["ts"]
        url.uses += 1
        return 200, "ok"

    def _response_target(self, url: _ResponseUrl) -> JSONDict | None:
        if url.message_ts is None:
            return None
        for ephemeral in self._store.ephemerals:
            if ephemeral["ts"] == url.message_ts and ephemeral["user"] == url.user_id:
                return None if ephemeral["deleted"] else ephemeral
        message = self._find_message(url.channel, url.message_ts)
        return None if message is None or message["deleted"] else message

    # ------------------------------------------------------------------ HTTP: faults

    async def _faults_endpoint(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.clear_faults()
            return JSONResponse({"ok": True})
        try:
            spec = json.loads(await request.body() or b"{}")
            if not isinstance(spec, dict):
                raise TypeError("the body must be a JSON object")
            allowed = {
                "method",
                "status",
                "retry_after",
                "error",
                "times",
                "ratio",
                "seed",
                "answer_lost",
                "delay",
            }
            unknown = sorted(set(spec) - allowed)
            if unknown:
                raise TypeError(f"unknown keys: {', '.join(unknown)}")
            self.inject(**spec)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, 400)
        return JSONResponse({"ok": True})


class _RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited; retry after {retry_after}s")
        self.retry_after = retry_after


_METHODS: dict[str, Callable[[FakeSlack, JSONDict], JSONDict]] = {
    "auth.test": FakeSlack._auth_test,
    "chat.postMessage": FakeSlack._chat_post_message,
    "chat.update": FakeSlack._chat_update,
    "chat.postEphemeral": FakeSlack._chat_post_ephemeral,
    "views.publish": FakeSlack._views_publish,
    "users.info": FakeSlack._users_info,
    "usergroups.list": FakeSlack._usergroups_list,
    "usergroups.users.list": FakeSlack._usergroups_users_list,
}

# Arguments that arrive as JSON strings in form-encoded and query-string bodies.
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


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


def _error_of(reply: Response) -> str | None:
    body = bytes(reply.body)
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.decode(errors="replace")
    return parsed.get("error") if isinstance(parsed, dict) else None


def _wire_message(message: JSONDict) -> JSONDict:
    """A message as Slack's API returns it (without the fake's bookkeeping keys)."""
    keys = ("type", "ts", "text", "blocks", "user", "bot_id", "app_id", "team", "thread_ts")
    return {k: copy.deepcopy(message[k]) for k in keys if k in message}


# ---------------------------------------------------------------------- Block Kit validation


def _message_problem(args: Mapping[str, Any], *, limit: int) -> tuple[str, JSONDict] | None:
    """The error Slack gives a message (error code and extra reply fields), or None if fine."""
    text = args.get("text")
    blocks = args.get("blocks")
    if not text and not blocks and not args.get("attachments"):
        return "no_text", {}
    if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
        return "msg_too_long", {}
    if blocks is not None and blocks != []:
        if not isinstance(blocks, list):
            return "invalid_blocks_format", {}
        errors = block_errors(blocks, limit=limit)
        if errors:
            return "invalid_blocks", {
                "errors": errors,
                "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]},
            }
    return None


def _raise_for_message(args: Mapping[str, Any], *, limit: int) -> None:
    problem = _message_problem(args, limit=limit)
    if problem is not None:
        raise SlackApiFailure(problem[0], **problem[1])


def _view_errors(view: Mapping[str, Any]) -> list[str]:
    errors = []
    if view.get("type") != "home":
        errors.append("must be home [json-pointer:/view/type]")
    metadata = view.get("private_metadata")
    if isinstance(metadata, str) and len(metadata) > MAX_PRIVATE_METADATA:
        errors.append(
            f"must be less than {MAX_PRIVATE_METADATA + 1} characters "
            "[json-pointer:/view/private_metadata]"
        )
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        errors.append("must provide an array [json-pointer:/view/blocks]")
    else:
        errors.extend(block_errors(blocks, limit=MAX_VIEW_BLOCKS, pointer="/view/blocks"))
    return errors


def block_errors(
    blocks: Sequence[Any], *, limit: int = MAX_MESSAGE_BLOCKS, pointer: str = "/blocks"
) -> list[str]:
    """Every way ``blocks`` breaks Slack's Block Kit limits, worded like Slack's errors.

    ``limit`` is 50 for messages, 100 for modals and Home tabs.
    """
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(f"no more than {limit} items allowed [json-pointer:{pointer}]")
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        at = f"{pointer}/{index}"
        if not isinstance(block, dict):
            errors.append(f"must be an object [json-pointer:{at}]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or len(block_id) > MAX_ID:
                errors.append(
                    f"must be less than {MAX_ID + 1} characters [json-pointer:{at}/block_id]"
                )
            elif block_id in block_ids:
                errors.append(f"duplicate block_id: {block_id} [json-pointer:{at}/block_id]")
            else:
                block_ids.add(block_id)
        errors.extend(_block_errors(block, at))
    return errors


def _block_errors(block: Mapping[str, Any], at: str) -> Iterator[str]:
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        yield f"unsupported type: {kind} [json-pointer:{at}/type]"
    elif kind == "section":
        yield from _section_errors(block, at)
    elif kind == "header":
        yield from _text_errors(block.get("text"), f"{at}/text", MAX_HEADER_TEXT, plain_only=True)
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            yield f"must provide at least 1 item [json-pointer:{at}/elements]"
            return
        if len(elements) > MAX_ACTIONS_ELEMENTS:
            yield f"no more than {MAX_ACTIONS_ELEMENTS} items allowed [json-pointer:{at}/elements]"
        action_ids: set[str] = set()
        for index, element in enumerate(elements):
            element_at = f"{at}/elements/{index}"
            yield from _element_errors(element, element_at)
            action_id = element.get("action_id") if isinstance(element, dict) else None
            if isinstance(action_id, str):
                if action_id in action_ids:
                    yield f"duplicate action_id: {action_id} [json-pointer:{element_at}/action_id]"
                action_ids.add(action_id)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            yield f"must provide at least 1 item [json-pointer:{at}/elements]"
            return
        if len(elements) > MAX_CONTEXT_ELEMENTS:
            yield f"no more than {MAX_CONTEXT_ELEMENTS} items allowed [json-pointer:{at}/elements]"
        for index, element in enumerate(elements):
            element_at = f"{at}/elements/{index}"
            if isinstance(element, dict) and element.get("type") == "image":
                yield from _image_errors(element, element_at)
            else:
                yield from _text_errors(element, element_at, MAX_SECTION_TEXT)
    elif kind == "image":
        yield from _image_errors(block, at)


def _section_errors(block: Mapping[str, Any], at: str) -> Iterator[str]:
    text = block.get("text")
    fields = block.get("fields")
    if text is None and not fields:
        yield f"must provide text or fields [json-pointer:{at}]"
    if text is not None:
        yield from _text_errors(text, f"{at}/text", MAX_SECTION_TEXT)
    if fields is not None:
        if not isinstance(fields, list):
            yield f"must provide an array [json-pointer:{at}/fields]"
        else:
            if len(fields) > MAX_SECTION_FIELDS:
                yield f"no more than {MAX_SECTION_FIELDS} items allowed [json-pointer:{at}/fields]"
            for index, item in enumerate(fields):
                yield from _text_errors(item, f"{at}/fields/{index}", MAX_FIELD_TEXT)
    accessory = block.get("accessory")
    if accessory is not None:
        if isinstance(accessory, dict) and accessory.get("type") == "image":
            yield from _image_errors(accessory, f"{at}/accessory")
        else:
            yield from _element_errors(accessory, f"{at}/accessory")


def _text_errors(text: Any, at: str, max_length: int, *, plain_only: bool = False) -> Iterator[str]:
    if not isinstance(text, dict):
        yield f"must provide an object [json-pointer:{at}]"
        return
    allowed = {"plain_text"} if plain_only else TEXT_TYPES
    if text.get("type") not in allowed:
        yield f"must be one of {sorted(allowed)} [json-pointer:{at}/type]"
    value = text.get("text")
    if not isinstance(value, str) or not value:
        yield f"must be more than 0 characters [json-pointer:{at}/text]"
    elif len(value) > max_length:
        yield f"must be less than {max_length + 1} characters [json-pointer:{at}/text]"


def _image_errors(image: Mapping[str, Any], at: str) -> Iterator[str]:
    for key in ("image_url", "alt_text"):
        if not isinstance(image.get(key), str) or not image.get(key):
            yield f"missing required field: {key} [json-pointer:{at}]"


def _element_errors(element: Any, at: str) -> Iterator[str]:
    if not isinstance(element, dict):
        yield f"must provide an object [json-pointer:{at}]"
        return
    kind = element.get("type")
    if kind not in INTERACTIVE_ELEMENT_TYPES:
        yield f"unsupported type: {kind} [json-pointer:{at}/type]"
        return
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > MAX_ID):
        yield f"must be less than {MAX_ID + 1} characters [json-pointer:{at}/action_id]"
    if kind == "button":
        yield from _text_errors(element.get("text"), f"{at}/text", MAX_BUTTON_TEXT, plain_only=True)
        value = element.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > MAX_BUTTON_VALUE):
            yield f"must be less than {MAX_BUTTON_VALUE + 1} characters [json-pointer:{at}/value]"
        url = element.get("url")
        if url is not None and (not isinstance(url, str) or len(url) > MAX_URL):
            yield f"must be less than {MAX_URL + 1} characters [json-pointer:{at}/url]"
        style = element.get("style")
        if style is not None and style not in BUTTON_STYLES:
            yield f"must be one of {sorted(BUTTON_STYLES)} [json-pointer:{at}/style]"
    confirm = element.get("confirm")
    if confirm is not None:
        yield from _confirm_errors(confirm, f"{at}/confirm")


def _confirm_errors(confirm: Any, at: str) -> Iterator[str]:
    if not isinstance(confirm, dict):
        yield f"must provide an object [json-pointer:{at}]"
        return
    yield from _text_errors(confirm.get("title"), f"{at}/title", MAX_CONFIRM_TITLE, plain_only=True)
    yield from _text_errors(confirm.get("text"), f"{at}/text", MAX_CONFIRM_TEXT)
    yield from _text_errors(
        confirm.get("confirm"), f"{at}/confirm", MAX_CONFIRM_BUTTON, plain_only=True
    )
    yield from _text_errors(confirm.get("deny"), f"{at}/deny", MAX_CONFIRM_BUTTON, plain_only=True)
    style = confirm.get("style")
    if style is not None and style not in BUTTON_STYLES:
        yield f"must be one of {sorted(BUTTON_STYLES)} [json-pointer:{at}/style]"


# ---------------------------------------------------------------------- serving on loopback


# A FakeSlack served over HTTP: ``.fake``, ``.url``, ``.stop()``; a context manager.
RunningServer = serving.RunningServer[FakeSlack]


def _announced(server: RunningServer) -> RunningServer:
    server.fake.set_public_url(server.url)
    return server


def run_in_thread(fake: FakeSlack, *, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``fake`` on loopback in a thread; ``fake.base_url`` is set once this returns."""
    return _announced(serving.run_in_thread(fake, host, port))


class FakeSlackHost(StopOnExit):
    """One loopback server for many fakes, each under its own path prefix (``/w1``, ...).

    A test suite starts one host and gives each test a fresh fake with ``add``: no server
    and thread per test, and a request still in flight from an earlier test reaches that
    test's prefix, which answers 404 once it is removed, never the new fake.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._served = ServedApp(self._dispatch, host=host, port=port, name="fake-slack-host")
        self._fakes: dict[str, FakeSlack] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self._served.url

    def start(self) -> Self:
        self._served.start()
        return self

    def add(self, fake: FakeSlack) -> RunningServer:
        prefix = f"w{next(self._numbers)}"
        with self._lock:
            self._fakes[prefix] = fake
        return _announced(RunningServer(fake, f"{self.url}/{prefix}", lambda: self._remove(prefix)))

    def _remove(self, prefix: str) -> None:
        with self._lock:
            self._fakes.pop(prefix, None)

    def stop(self) -> None:
        self._served.stop()

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        prefix = scope["path"].lstrip("/").partition("/")[0]
        with self._lock:
            fake = self._fakes.get(prefix)
        if fake is None:
            await PlainTextResponse("no such sandbox workspace", 404)(scope, receive, send)
            return
        # Starlette routes on the path below root_path, as when an app is mounted.
        scope = dict(scope, root_path=scope.get("root_path", "") + "/" + prefix)
        await fake.app(scope, receive, send)
