"""The fake workspace: its people, channels and app, and all its mutable state.

``Workspace`` holds the messages, ephemerals, Home tabs, recorded calls, injected faults and
response URLs, and keeps messages as Slack does (timestamps, threads, edits with their
history). It is not thread-safe on its own: ``FakeSlack`` guards it with one lock.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chatops.sandbox.jsontypes import JSONDict
from chatops.sandbox.slack.faults import AnswerLost, Fault

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

# response_url: "up to 5 times within 30 minutes" (https://docs.slack.dev/interactivity/
# handling-user-interaction#message_responses).
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_LIFETIME_SECONDS = 30 * 60

# chat.postMessage allows about one message per second per channel, "short bursts" above
# that (https://docs.slack.dev/apis/web-api/rate-limits). The burst size is unpublished.
POST_MESSAGE_PER_SECOND = 1.0
POST_MESSAGE_BURST = 3

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


@dataclass
class ChannelState:
    """A channel: archived, or without the bot in it, refuses messages."""

    channel_id: str
    archived: bool = False
    member: bool = True
    # chat.postMessage pacing (only with enforce_rate_limits): a token bucket.
    tokens: float = POST_MESSAGE_BURST
    refilled_at: float | None = None


@dataclass
class ResponseUrl:
    """A response_url Slack handed out: who it answers, where, and how often it was used."""

    token: str
    user_id: str
    channel: str
    created_at: float
    # The message that replace_original / delete_original act on; a slash command's URL has
    # none until its first reply, which then becomes the "original".
    message_ts: str | None
    uses: int = 0


@dataclass
class Workspace:
    """Everyone and everything in the fake workspace; ``FakeSlack`` holds its lock."""

    channels: dict[str, ChannelState]
    personas: tuple[Persona, ...]
    usergroup_ids: dict[str, str]
    clock: Callable[[], float]
    enforce_rate_limits: bool
    messages: dict[str, list[JSONDict]] = field(default_factory=dict)
    ephemerals: list[JSONDict] = field(default_factory=list)
    homes: dict[str, JSONDict] = field(default_factory=dict)
    calls: list[tuple[str, JSONDict]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    response_urls: dict[str, ResponseUrl] = field(default_factory=dict)
    last_ts_micros: int = 0
    views_published: int = 0
    token_revoked: bool = False

    def persona(self, user_id: str) -> Persona | None:
        return next((p for p in self.personas if p.user_id == user_id), None)

    def members_of(self, handle: str) -> list[str]:
        return [p.user_id for p in self.personas if handle in p.usergroups]

    def record(
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
        self.calls.append((method, call))

    # ------------------------------------------------------------------ messages

    def next_ts(self) -> str:
        micros = max(int(self.clock() * 1_000_000), self.last_ts_micros + 100)
        self.last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def find_message(self, channel: str, ts: str) -> JSONDict | None:
        message: JSONDict
        for message in self.messages.get(channel, []):
            if message["ts"] == ts:
                return message
            reply: JSONDict
            for reply in message["replies"]:
                if reply["ts"] == ts:
                    return reply
        return None

    def new_message(self, channel: str, content: Mapping[str, Any], source: str) -> JSONDict:
        return {
            "channel": channel,
            "ts": self.next_ts(),
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

    def append_channel_message(
        self, channel: str, content: Mapping[str, Any], *, source: str
    ) -> JSONDict:
        message = self.new_message(channel, content, source)
        thread_ts = content.get("thread_ts")
        parent = self.find_message(channel, str(thread_ts)) if thread_ts else None
        if parent is not None:
            # A reply to a reply belongs to the same thread, as in Slack.
            root = self.find_message(channel, parent.get("thread_ts") or parent["ts"]) or parent
            message["thread_ts"] = root["ts"]
            root.setdefault("thread_ts", root["ts"])
            root["replies"].append(message)
        else:
            message["replies"] = []
            self.messages.setdefault(channel, []).append(message)
        return message

    def append_ephemeral(
        self, user_id: str, channel: str, content: Mapping[str, Any], *, source: str
    ) -> JSONDict:
        ephemeral = self.new_message(channel, content, source)
        ephemeral["user"] = user_id  # the one person who sees it
        ephemeral["is_ephemeral"] = True
        if content.get("thread_ts"):
            ephemeral["thread_ts"] = str(content["thread_ts"])
        self.ephemerals.append(ephemeral)
        return ephemeral

    def edit(self, message: JSONDict, content: Mapping[str, Any]) -> None:
        message["history"].append(
            {
                "text": message["text"],
                "blocks": message["blocks"],
                "replaced_at": self.next_ts(),
            }
        )
        if "text" in content:
            message["text"] = str(content.get("text") or "")
        # chat.update keeps the old blocks when none are sent but text is; response_url
        # replacements send the whole message, so both paths pass blocks when they mean it.
        if "blocks" in content:
            message["blocks"] = copy.deepcopy(content.get("blocks") or [])
        message["edited"] = True

    def view_of(self, message: JSONDict) -> JSONDict:
        view = copy.deepcopy(message)
        if "replies" in view:
            view["replies"] = [r for r in view["replies"] if not r["deleted"]]
            view["reply_count"] = len(view["replies"])
        return view


def truthy(value: Any) -> bool:
    """Slack's booleans in form and query arguments: ``true``, ``1``, ``yes``."""
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


def wire_message(message: JSONDict) -> JSONDict:
    """A message as Slack's API returns it (without the fake's bookkeeping keys)."""
    keys = ("type", "ts", "text", "blocks", "user", "bot_id", "app_id", "team", "thread_ts")
    return {k: copy.deepcopy(message[k]) for k in keys if k in message}
