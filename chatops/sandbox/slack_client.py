"""Slack's side of the conversation with the app: signed slash commands, clicks and events.

A ``SlackUser`` is a person in the fake workspace. It sends the app exactly what Slack would
send over HTTP (form-encoded commands, ``payload=`` block_actions, JSON events), signed with
the app's signing secret over the exact bytes sent, and it honours Slack's behaviour around
those requests: response URLs minted by the fake, a slash command's HTTP reply shown to the
user, Slack's deadline (the fake's ``deadline``: 3 seconds as at Slack, unless a test asks
for more), after which the client gives up (httpx.TimeoutException). ``forged()`` and
``replaying()`` give the same user with a bad signature or an old timestamp, for the 401
tests.

Payload shapes follow https://docs.slack.dev/interactivity/implementing-slash-commands and
https://docs.slack.dev/reference/interaction-payloads/block_actions-payload; a test checks
that Bolt parses them.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from chatops.sandbox.jsontypes import JSONDict
from chatops.sandbox.slack import (
    APP_ID,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    VERIFICATION_TOKEN,
    FakeSlack,
    Persona,
)

USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

_sequence = itertools.count(1)


def sign(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """Slack's request signature headers for ``body`` sent at ``timestamp`` (Unix seconds).

    ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}`` keyed with the signing secret
    (https://docs.slack.dev/authentication/verifying-requests-from-slack).
    """
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


@dataclass(frozen=True)
class Delivery:
    """One request to the app and what Slack does with the app's answer.

    Sending the same delivery again is what a retrying proxy or a redelivery does: the
    same bytes, with the same ``trigger_id``.
    """

    body: bytes
    content_type: str
    on_response: Callable[[httpx.Response], None] | None = None


class SlackUser:
    """A person in the fake workspace who types commands, clicks buttons and opens App Home.

    ``app_url`` is the app's Request URL, e.g. ``http://127.0.0.1:3000/slack/events``.
    ``signing_secret`` defaults to the fake's. Pass ``http`` / ``ahttp`` to reuse clients;
    otherwise each request uses a short-lived client with the fake's ``deadline``.
    """

    def __init__(
        self,
        fake: FakeSlack,
        persona: Persona,
        app_url: str,
        *,
        signing_secret: str | None = None,
        http: httpx.Client | None = None,
        ahttp: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.fake = fake
        self.persona = persona
        self.app_url = app_url
        self.signing_secret = fake.signing_secret if signing_secret is None else signing_secret
        self.http = http
        self.ahttp = ahttp
        self.clock = clock
        self._timestamp_offset = 0

    @property
    def user_id(self) -> str:
        return self.persona.user_id

    # ------------------------------------------------------------------ attackers

    def forged(self) -> SlackUser:
        """The same user, but requests are signed with a secret that is not the app's."""
        forger = copy.copy(self)
        forger.signing_secret = "forged-" + self.signing_secret
        return forger

    def replaying(self, age_seconds: int = 600) -> SlackUser:
        """The same user, but requests carry a valid signature for a timestamp this old.

        That is what an attacker who captured a request sends later; Slack's rule is to
        reject anything more than 5 minutes away from now.
        """
        replayer = copy.copy(self)
        replayer._timestamp_offset = self._timestamp_offset - age_seconds
        return replayer

    # ------------------------------------------------------------------ sync

    def command(
        self, text: str, *, command: str = "/botstatus", channel: str = "C0GENERAL"
    ) -> httpx.Response:
        """Type ``{command} {text}`` in ``channel``; the app's HTTP reply shows as in Slack."""
        return self._send(self._command(text, command, channel))

    def click(
        self,
        message: Mapping[str, Any],
        action_id: str,
        *,
        value: str | None = None,
        channel: str | None = None,
    ) -> httpx.Response:
        """Click the button ``action_id`` in ``message`` (from the fake's inspection methods).

        ``message`` is a channel message, an ephemeral message or a Home view (``home()``).
        ``value`` replaces the button's value, as a forged payload would.
        """
        return self._send(self._click(message, action_id, value, channel))

    def select_delivery(
        self,
        message: Mapping[str, Any],
        action_id: str,
        value: str,
        *,
        channel: str | None = None,
    ) -> Delivery:
        """The request that picks the option ``value`` in the ``static_select`` ``action_id``
        of ``message``, unsent (LookupError when there is no such select or option)."""
        return self._select(message, action_id, value, channel)

    def click_delivery(
        self,
        message: Mapping[str, Any],
        action_id: str,
        *,
        value: str | None = None,
        channel: str | None = None,
    ) -> Delivery:
        """The request a click sends, unsent: ``deliver`` it once, twice, to any replica."""
        return self._click(message, action_id, value, channel)

    def deliver(self, delivery: Delivery, *, app_url: str | None = None) -> httpx.Response:
        """Send ``delivery`` (freshly signed) to ``app_url``, by default this user's app."""
        return self._send(delivery, app_url)

    def open_home(self) -> httpx.Response:
        """Open the app's Home tab: an ``app_home_opened`` event."""
        return self._send(self._app_home_opened())

    def verify_url(self, challenge: str = "sandbox-challenge") -> httpx.Response:
        """What Slack sends when an admin saves the Request URL (``url_verification``)."""
        return self._send(self._url_verification(challenge))

    def ssl_check(self) -> httpx.Response:
        """Slack's periodic certificate check of a slash command's URL (``ssl_check=1``)."""
        return self._send(
            Delivery(urlencode({"ssl_check": "1", "token": VERIFICATION_TOKEN}).encode(), FORM)
        )

    # ------------------------------------------------------------------ async

    async def acommand(
        self, text: str, *, command: str = "/botstatus", channel: str = "C0GENERAL"
    ) -> httpx.Response:
        return await self._asend(self._command(text, command, channel))

    async def aclick(
        self,
        message: Mapping[str, Any],
        action_id: str,
        *,
        value: str | None = None,
        channel: str | None = None,
    ) -> httpx.Response:
        return await self._asend(self._click(message, action_id, value, channel))

    async def adeliver(self, delivery: Delivery, *, app_url: str | None = None) -> httpx.Response:
        return await self._asend(delivery, app_url)

    async def aopen_home(self) -> httpx.Response:
        return await self._asend(self._app_home_opened())

    # ------------------------------------------------------------------ payloads

    def _command(self, text: str, command: str, channel: str) -> Delivery:
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": TEAM_ID,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel,
            "channel_name": self.fake.channel_name(channel),
            "user_id": self.persona.user_id,
            "user_name": self.persona.name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.fake.mint_response_url(self.persona.user_id, channel),
            "trigger_id": self._trigger_id(),
        }

        def show_reply(response: httpx.Response) -> None:
            if response.status_code == 200:
                self.fake.deliver_command_reply(
                    self.persona.user_id,
                    channel,
                    response.content,
                    response.headers.get("content-type", ""),
                )

        return Delivery(urlencode(fields).encode(), FORM, show_reply)

    def _click(
        self,
        message: Mapping[str, Any],
        action_id: str,
        value: str | None,
        channel: str | None,
    ) -> Delivery:
        block_id, element = find_element(message, action_id, "button")
        action: JSONDict = {
            "type": "button",
            "action_id": action_id,
            "block_id": block_id,
            "text": copy.deepcopy(element.get("text")),
            "action_ts": f"{self.clock():.6f}",
        }
        button_value = element.get("value") if value is None else value
        if button_value is not None:
            action["value"] = button_value
        if "style" in element:
            action["style"] = element["style"]
        return self._block_actions(message, action, channel)

    def _select(
        self, message: Mapping[str, Any], action_id: str, value: str, channel: str | None
    ) -> Delivery:
        block_id, element = find_element(message, action_id, "static_select")
        option = next((o for o in element.get("options") or [] if o.get("value") == value), None)
        if option is None:
            raise LookupError(f"{action_id} has no option {value!r}")
        action: JSONDict = {
            "type": "static_select",
            "action_id": action_id,
            "block_id": block_id,
            "selected_option": copy.deepcopy(dict(option)),
            "action_ts": f"{self.clock():.6f}",
        }
        if element.get("placeholder") is not None:
            action["placeholder"] = copy.deepcopy(element["placeholder"])
        return self._block_actions(message, action, channel)

    def _block_actions(
        self, message: Mapping[str, Any], action: JSONDict, channel: str | None
    ) -> Delivery:
        """A ``block_actions`` payload for ``action`` in ``message``, as Slack sends it."""
        payload: JSONDict = {
            "type": "block_actions",
            "user": self._user(),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self._trigger_id(),
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "state": {"values": {}},
            "actions": [action],
        }
        if message.get("type") == "home":
            # An action in App Home has no channel, no message and no response_url.
            payload["container"] = {"type": "view", "view_id": message.get("id")}
            payload["view"] = _without_bookkeeping(message)
        else:
            channel_id = channel or message.get("channel")
            if not channel_id:
                raise ValueError("click: the message has no channel; pass channel=")
            ts = str(message["ts"])
            ephemeral = bool(message.get("is_ephemeral"))
            payload["container"] = {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel_id,
                "is_ephemeral": ephemeral,
            }
            payload["channel"] = {"id": channel_id, "name": self.fake.channel_name(channel_id)}
            if not ephemeral:
                # Slack sends the message the element is in, except for ephemeral ones.
                payload["message"] = _without_bookkeeping(message)
            payload["response_url"] = self.fake.mint_response_url(
                self.persona.user_id, channel_id, ts
            )
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return Delivery(body, FORM)

    def _app_home_opened(self) -> Delivery:
        now = self.clock()
        event: JSONDict = {
            "type": "app_home_opened",
            "user": self.persona.user_id,
            "channel": "D0" + self.persona.user_id.removeprefix("U0"),
            "tab": "home",
            "event_ts": f"{now:.6f}",
        }
        home = self.fake.home(self.persona.user_id)
        if home is not None:
            event["view"] = home
        envelope = {
            "token": VERIFICATION_TOKEN,
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev0SANDBOX{next(_sequence):06d}",
            "event_time": int(now),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": TEAM_ID,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        return Delivery(json.dumps(envelope).encode(), JSON)

    def _url_verification(self, challenge: str) -> Delivery:
        body = {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
        return Delivery(json.dumps(body).encode(), JSON)

    def _user(self) -> JSONDict:
        return {
            "id": self.persona.user_id,
            "username": self.persona.name,
            "name": self.persona.name,
            "team_id": TEAM_ID,
        }

    def _trigger_id(self) -> str:
        return f"{next(_sequence)}.{TEAM_ID}.sandbox{int(self.clock())}"

    # ------------------------------------------------------------------ transport

    def _headers(self, outgoing: Delivery) -> dict[str, str]:
        timestamp = int(self.clock()) + self._timestamp_offset
        return {
            "Content-Type": outgoing.content_type,
            "User-Agent": USER_AGENT,
            **sign(outgoing.body, self.signing_secret, timestamp),
        }

    def _send(self, outgoing: Delivery, app_url: str | None = None) -> httpx.Response:
        headers = self._headers(outgoing)
        url = app_url or self.app_url
        if self.http is not None:
            response = self.http.post(url, content=outgoing.body, headers=headers)
        else:
            with httpx.Client(timeout=self.fake.deadline) as client:
                response = client.post(url, content=outgoing.body, headers=headers)
        if outgoing.on_response is not None:
            outgoing.on_response(response)
        return response

    async def _asend(self, outgoing: Delivery, app_url: str | None = None) -> httpx.Response:
        headers = self._headers(outgoing)
        url = app_url or self.app_url
        if self.ahttp is not None:
            response = await self.ahttp.post(url, content=outgoing.body, headers=headers)
        else:
            async with httpx.AsyncClient(timeout=self.fake.deadline) as client:
                response = await client.post(url, content=outgoing.body, headers=headers)
        if outgoing.on_response is not None:
            outgoing.on_response(response)
        return response


def _interactive_elements(blocks: Any) -> Iterator[tuple[str | None, Mapping[str, Any]]]:
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, dict):
            continue
        block_id = block.get("block_id")
        if block.get("type") == "actions":
            for element in block.get("elements") or []:
                if isinstance(element, dict):
                    yield block_id, element
        elif isinstance(block.get("accessory"), dict):
            yield block_id, block["accessory"]


def find_element(
    message: Mapping[str, Any], action_id: str, kind: str, *, value: Any = None
) -> tuple[str, Mapping[str, Any]]:
    """The ``kind`` element ``action_id`` of ``message`` (with this ``value``, if given).

    LookupError naming the message's elements when it has none such (a stale page, a test's
    wrong id).
    """
    found = list(_interactive_elements(message.get("blocks")))
    for block_id, element in found:
        if (
            element.get("action_id") == action_id
            and element.get("type") == kind
            and (value is None or element.get("value") == value)
        ):
            # Slack generates a block_id when the app sends none; any stable string will do.
            return block_id or f"sandbox-block-{action_id}", element
    available = ", ".join(repr(e.get("action_id")) for _, e in found) or "none"
    raise LookupError(f"that message has no {kind} {action_id!r} (any more); it has: {available}")


_BOOKKEEPING = (
    "channel",
    "edited",
    "history",
    "replies",
    "reply_count",
    "source",
    "deleted",
    "is_ephemeral",
)


def _without_bookkeeping(message: Mapping[str, Any]) -> JSONDict:
    return {k: copy.deepcopy(v) for k, v in message.items() if k not in _BOOKKEEPING}
