"""Response URLs: what Slack does with a POST to the ``response_url`` of a command or click.

A URL is good for 5 uses within 30 minutes. It replaces or deletes the message the
interaction came from, or posts a new one (ephemeral unless the app asks for in_channel).
"""

from __future__ import annotations

import secrets

from chatops.sandbox.jsontypes import JSONDict
from chatops.sandbox.slack.validation import MAX_MESSAGE_BLOCKS, message_problem
from chatops.sandbox.slack.workspace import (
    RESPONSE_URL_LIFETIME_SECONDS,
    RESPONSE_URL_MAX_USES,
    ResponseUrl,
    Workspace,
    truthy,
)


def mint(ws: Workspace, user_id: str, channel: str, message_ts: str | None) -> str:
    """A new response URL's token (under the lock)."""
    token = secrets.token_urlsafe(16)
    ws.response_urls[token] = ResponseUrl(token, user_id, channel, ws.clock(), message_ts)
    return token


def answer(ws: Workspace, token: str, args: JSONDict) -> tuple[int, str]:
    """Do what a POST to a response URL asks (under the lock): (HTTP status, body)."""
    url = ws.response_urls.get(token)
    if url is None:
        return 404, "no_service"
    # Slack answers spent URLs with 404 and a one-word reason. "expired_url" and
    # "used_url" are the reasons developers report; Slack's docs do not list them.
    if ws.clock() - url.created_at > RESPONSE_URL_LIFETIME_SECONDS:
        return 404, "expired_url"
    if url.uses >= RESPONSE_URL_MAX_USES:
        return 404, "used_url"
    target = _target(ws, url)
    if truthy(args.get("delete_original")):
        if target is None:
            return 404, "message_not_found"
        target["deleted"] = True
        url.uses += 1
        return 200, "ok"
    problem = message_problem(args, limit=MAX_MESSAGE_BLOCKS)
    if problem is not None:
        return 400, problem[0]
    if truthy(args.get("replace_original")) and target is not None:
        ws.edit(target, {"text": args.get("text"), "blocks": args.get("blocks")})
    else:
        # Without replace_original a reply is a new message: ephemeral unless the app asks
        # for in_channel (https://docs.slack.dev/interactivity/handling-user-interaction).
        if args.get("response_type") == "in_channel":
            state = ws.channels.get(url.channel)
            if state is not None and state.archived:
                return 404, "channel_is_archived"
            message = ws.append_channel_message(url.channel, args, source="response_url")
        else:
            message = ws.append_ephemeral(url.user_id, url.channel, args, source="response_url")
        if url.message_ts is None:
            url.message_ts = message["ts"]
    url.uses += 1
    return 200, "ok"


def _target(ws: Workspace, url: ResponseUrl) -> JSONDict | None:
    if url.message_ts is None:
        return None
    for ephemeral in ws.ephemerals:
        if ephemeral["ts"] == url.message_ts and ephemeral["user"] == url.user_id:
            return None if ephemeral["deleted"] else ephemeral
    message = ws.find_message(url.channel, url.message_ts)
    return None if message is None or message["deleted"] else message
