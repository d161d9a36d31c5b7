"""Slack's Web API methods that chatops calls, as Slack answers them.

``answer`` does one call: it checks the token, runs the method on the workspace and records
the call. Each method returns the reply's fields beyond ``ok`` or raises
``SlackApiFailure`` (HTTP 200, ``ok: false``), as Slack does; ``chat.postMessage`` is paced
per channel when the fake enforces rate limits.
"""

from __future__ import annotations

import copy
import math
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from starlette.responses import JSONResponse, Response

from chatops.sandbox.jsontypes import JSONDict
from chatops.sandbox.slack.validation import MAX_MESSAGE_BLOCKS, message_problem, view_errors
from chatops.sandbox.slack.workspace import (
    APP_ID,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    POST_MESSAGE_BURST,
    POST_MESSAGE_PER_SECOND,
    TEAM_DOMAIN,
    TEAM_ID,
    TEAM_NAME,
    SlackApiFailure,
    Workspace,
    truthy,
    wire_message,
)


def answer(
    ws: Workspace, bot_token: str, method: str, args: JSONDict, token: str | None
) -> Response:
    """Do one Web API call (under the lock) and record it."""
    auth_error = _auth_error(ws, bot_token, token)
    if auth_error is not None:
        ws.record(method, args, 200, auth_error)
        return JSONResponse({"ok": False, "error": auth_error})
    handler = METHODS.get(method)
    if handler is None:
        ws.record(method, args, 200, "unknown_method")
        return JSONResponse({"ok": False, "error": "unknown_method"})
    try:
        result = handler(ws, args)
    except RateLimited as limited:
        ws.record(method, args, 429, "ratelimited")
        return JSONResponse(
            {"ok": False, "error": "ratelimited"},
            429,
            headers={"Retry-After": str(limited.retry_after)},
        )
    except SlackApiFailure as failure:
        ws.record(method, args, 200, failure.error)
        return JSONResponse({"ok": False, "error": failure.error, **failure.extra})
    ws.record(method, args, 200, None)
    return JSONResponse({"ok": True, **result})


def _auth_error(ws: Workspace, bot_token: str, token: str | None) -> str | None:
    if not token:
        return "not_authed"
    if not secrets.compare_digest(token.encode(), bot_token.encode()):
        return "invalid_auth"
    if ws.token_revoked:
        return "token_revoked"
    return None


def raise_for_message(args: Mapping[str, Any], *, limit: int) -> None:
    """SlackApiFailure with Slack's error when it would refuse this message."""
    problem = message_problem(args, limit=limit)
    if problem is not None:
        raise SlackApiFailure(problem[0], **problem[1])


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited; retry after {retry_after}s")
        self.retry_after = retry_after


def _auth_test(ws: Workspace, args: JSONDict) -> JSONDict:
    return {
        "url": f"https://{TEAM_DOMAIN}.slack.com/",
        "team": TEAM_NAME,
        "user": BOT_NAME,
        "team_id": TEAM_ID,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": False,
    }


def _chat_post_message(ws: Workspace, args: JSONDict) -> JSONDict:
    channel = _writable_channel(ws, args.get("channel"))
    raise_for_message(args, limit=MAX_MESSAGE_BLOCKS)
    thread_ts = args.get("thread_ts")
    if thread_ts is not None:
        parent = ws.find_message(channel, str(thread_ts))
        # Slack's docs do not say what an unknown thread_ts does; the fake refuses it with
        # the error conversations.replies uses, so a wrong ts fails loudly in tests.
        if parent is None or parent["deleted"]:
            raise SlackApiFailure("thread_not_found")
    _take_post_message_token(ws, channel)
    message = ws.append_channel_message(channel, args, source="chat.postMessage")
    return {"channel": channel, "ts": message["ts"], "message": wire_message(message)}


def _chat_update(ws: Workspace, args: JSONDict) -> JSONDict:
    channel = _writable_channel(ws, args.get("channel"))
    ts = args.get("ts")
    if not ts:
        raise SlackApiFailure(
            "invalid_arguments",
            response_metadata={"messages": ["[ERROR] missing required field: ts"]},
        )
    message = ws.find_message(channel, str(ts))
    if message is None or message["deleted"]:
        raise SlackApiFailure("message_not_found")
    raise_for_message(args, limit=MAX_MESSAGE_BLOCKS)
    ws.edit(message, args)
    return {
        "channel": channel,
        "ts": message["ts"],
        "text": message["text"],
        "message": wire_message(message),
    }


def _chat_post_ephemeral(ws: Workspace, args: JSONDict) -> JSONDict:
    channel = _writable_channel(ws, args.get("channel"))
    user_id = args.get("user")
    if not user_id or ws.persona(str(user_id)) is None:
        raise SlackApiFailure("user_not_in_channel")
    raise_for_message(args, limit=MAX_MESSAGE_BLOCKS)
    ephemeral = ws.append_ephemeral(str(user_id), channel, args, source="chat.postEphemeral")
    return {"message_ts": ephemeral["ts"]}


def _views_publish(ws: Workspace, args: JSONDict) -> JSONDict:
    user_id = args.get("user_id")
    if not user_id or ws.persona(str(user_id)) is None:
        raise SlackApiFailure("user_not_found")
    view = args.get("view")
    if not isinstance(view, dict):
        raise SlackApiFailure(
            "invalid_arguments",
            response_metadata={
                "messages": ["[ERROR] failed to match all allowed schemas [json-pointer:/view]"]
            },
        )
    errors = view_errors(view)
    if errors:
        raise SlackApiFailure(
            "invalid_arguments",
            response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
        )
    current = ws.homes.get(str(user_id))
    expected_hash = args.get("hash")
    if expected_hash and current is not None and expected_hash != current["hash"]:
        raise SlackApiFailure("hash_conflict")
    ws.views_published += 1
    number = ws.views_published
    published = copy.deepcopy(view)
    published.update(
        {
            "id": current["id"] if current else f"V0HOME{number:04d}",
            "team_id": TEAM_ID,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "hash": f"{int(ws.clock())}.{secrets.token_hex(4)}",
        }
    )
    ws.homes[str(user_id)] = published
    return {"view": copy.deepcopy(published)}


def _users_info(ws: Workspace, args: JSONDict) -> JSONDict:
    persona = ws.persona(str(args.get("user", "")))
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


def _usergroups_list(ws: Workspace, args: JSONDict) -> JSONDict:
    include_users = truthy(args.get("include_users"))
    include_count = truthy(args.get("include_count"))
    groups = []
    for handle, group_id in ws.usergroup_ids.items():
        group: JSONDict = {
            "id": group_id,
            "team_id": TEAM_ID,
            "is_usergroup": True,
            "handle": handle,
            "name": handle.replace("-", " ").title(),
            "date_delete": 0,
        }
        members = ws.members_of(handle)
        if include_users:
            group["users"] = members
        if include_count:
            group["user_count"] = len(members)
        groups.append(group)
    return {"usergroups": groups}


def _usergroups_users_list(ws: Workspace, args: JSONDict) -> JSONDict:
    group_id = args.get("usergroup")
    handle = next((h for h, i in ws.usergroup_ids.items() if i == group_id), None)
    if handle is None:
        raise SlackApiFailure("no_such_subteam")
    return {"users": ws.members_of(handle)}


def _writable_channel(ws: Workspace, channel: Any) -> str:
    state = ws.channels.get(str(channel)) if channel else None
    if state is None:
        raise SlackApiFailure("channel_not_found")
    if state.archived:
        raise SlackApiFailure("is_archived")
    if not state.member:
        # The manifest has chat:write but not chat:write.public, so the bot must be in the
        # channel to post there, as with a real install.
        raise SlackApiFailure("not_in_channel")
    return state.channel_id


def _take_post_message_token(ws: Workspace, channel: str) -> None:
    if not ws.enforce_rate_limits:
        return
    state = ws.channels[channel]
    now = ws.clock()
    if state.refilled_at is not None:
        elapsed = max(0.0, now - state.refilled_at)
        state.tokens = min(POST_MESSAGE_BURST, state.tokens + elapsed * POST_MESSAGE_PER_SECOND)
    state.refilled_at = now
    if state.tokens < 1.0:
        raise RateLimited(max(1, math.ceil((1.0 - state.tokens) / POST_MESSAGE_PER_SECOND)))
    state.tokens -= 1.0


METHODS: dict[str, Callable[[Workspace, JSONDict], JSONDict]] = {
    "auth.test": _auth_test,
    "chat.postMessage": _chat_post_message,
    "chat.update": _chat_update,
    "chat.postEphemeral": _chat_post_ephemeral,
    "views.publish": _views_publish,
    "users.info": _users_info,
    "usergroups.list": _usergroups_list,
    "usergroups.users.list": _usergroups_users_list,
}
