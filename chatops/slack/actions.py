"""Buttons: Start, Stop, Share in channel, paging, and the App Home environment filter.

Every handler acks first (Slack's 3 s deadline), then works, then answers through the
interaction's ``response_url``. The guard (chatops.slack.guard) has already refused whoever
lacks what the button needs: ``start`` or ``stop`` on some bot, ``view`` for the others.
Nothing in a button's value is trusted: Start/Stop check the clicking user's permission for
the stored bot, and Share/paging re-run only the read-only view they were made for
(``blocks.Shared``, ``blocks.Paged``), with what the clicking user may see.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import UnionType
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from chatops.config import format_duration
from chatops.domain import Connector, Environment
from chatops.permissions import Access
from chatops.slack import blocks, grammar
from chatops.slack.app import SlackServices
from chatops.slack.control import Action, ActionResult, Outcome
from chatops.slack.guard import Guard, Need, access_of
from chatops.slack.home import publish_home
from chatops.store.models import Bot

log = logging.getLogger(__name__)


def _user(body: dict[str, Any]) -> tuple[str, str | None]:
    user = body.get("user") or {}
    return str(user.get("id", "")), user.get("username") or user.get("name")


def _click_id(body: dict[str, Any]) -> str:
    """Identifies one click: Slack gives each interaction its own trigger id."""
    action = (body.get("actions") or [{}])[0]
    return str(body.get("trigger_id") or action.get("action_ts") or "")


def _action_value(body: dict[str, Any]) -> str:
    action = (body.get("actions") or [{}])[0]
    value = action.get("value")
    if value is None and isinstance(action.get("selected_option"), dict):
        value = action["selected_option"].get("value")
    return str(value or "")


def _in_channel(body: dict[str, Any]) -> bool:
    """Whether the button sits on a channel message (an alert) rather than an ephemeral reply."""
    container = body.get("container") or {}
    return container.get("type") == "message" and not container.get("is_ephemeral", False)


def _connector_need(action: Action) -> Callable[[dict[str, Any]], Need]:
    def need(body: dict[str, Any]) -> Need:
        return Need(action, audited=(action, _action_value(body)))

    return need


async def _connector_action(
    services: SlackServices,
    action: Action,
    body: dict[str, Any],
    access: Access,
    respond: AsyncRespond,
    client: AsyncWebClient,
) -> None:
    user_id, user_name = _user(body)
    result = await services.control.run(
        action,
        _action_value(body),
        access=access,
        user_name=user_name,
        click_id=_click_id(body),
    )
    message = _result_message(services, action, user_id, result)
    if _in_channel(body):
        # An alert in a channel stays as it is (the relay edits it on recovery): what was
        # done goes into its thread for everyone, refusals only to the person who clicked.
        container = body.get("container") or {}
        if result.outcome in (Outcome.OK, Outcome.FAILED) and container.get("message_ts"):
            await client.chat_postMessage(
                channel=container["channel_id"], thread_ts=container["message_ts"], **message
            )
        else:
            await respond(response_type="ephemeral", replace_original=False, **message)
    else:
        await respond(replace_original=True, **message)
    if action == "start" and result.outcome is Outcome.OK and result.bot is not None:
        services.spawn(
            _follow_start(services, result.bot, respond), name=f"follow-start-{result.bot.id}"
        )


def _result_message(
    services: SlackServices, action: Action, user_id: str, result: ActionResult
) -> dict[str, Any]:
    if result.bot is None or result.outcome in (Outcome.REFUSED, Outcome.UNKNOWN_BOT):
        return blocks.refusal(result.message)
    outcome: blocks.Outcome = (
        "ok"
        if result.outcome is Outcome.OK
        else "duplicate"
        if result.outcome is Outcome.DUPLICATE
        else "failed"
    )
    return blocks.action_result(
        result.bot,
        action,
        user_id,
        services.clock(),
        outcome,
        detail=result.message if outcome != "ok" else None,
        pcs_count=result.affected,
    )


async def _follow_start(services: SlackServices, bot: Bot, respond: AsyncRespond) -> None:
    """Tell the clicker when the connector is really Online, or that it did not get there."""
    deadline = services.clock() + services.start_followup_timeout
    name = blocks.escape_within(bot.name, blocks.DETAIL_NAME)
    while services.clock() < deadline:
        await asyncio.sleep(services.start_followup_every.total_seconds())
        async with services.sessions() as session:
            current = await session.get(Bot, bot.id)
        if current is not None and current.connector == Connector.ONLINE.value:
            await respond(
                response_type="ephemeral",
                replace_original=False,
                text=f":large_green_circle: *{name}* is Online again.",
            )
            return
    await respond(
        response_type="ephemeral",
        replace_original=False,
        text=(
            f":warning: *{name}* did not come Online within "
            f"{format_duration(services.start_followup_timeout)} of the Start. "
            f"`/botstatus {bot.name}` shows its statuses now."
        ),
    )


_SHARE_ONLY = (
    "This button only shares a `/botstatus` view (the summary, a query, problems, all or "
    "a history); nothing was done."
)
_PAGE_ONLY = (
    "This button only pages through `/botstatus all` and `/botstatus problems`; nothing was done."
)


async def _button_view(
    services: SlackServices,
    body: dict[str, Any],
    access: Access,
    accepted: UnionType,
    only: str,
) -> tuple[dict[str, Any], bool]:
    """The view a Share or paging click asks for, as the clicking user sees it, and True;
    a refusal and False when the button carries any other command."""
    command = grammar.parse(_action_value(body))
    if not isinstance(command, accepted):
        return blocks.refusal(only), False
    return await services.views.reply(command, access), True


_NAVIGATION = {blocks.ACTION_SHARE, blocks.ACTION_PAGE_PREVIOUS, blocks.ACTION_PAGE_NEXT}


def without_navigation(message: dict[str, Any]) -> dict[str, Any]:
    """The message minus Share and paging buttons (they mean nothing once in a channel)."""
    kept = []
    for block in message.get("blocks", []):
        if block.get("type") == "actions":
            elements = [e for e in block["elements"] if e.get("action_id") not in _NAVIGATION]
            if not elements:
                continue
            block = {**block, "elements": elements}
        kept.append(block)
    return {**message, "blocks": kept}


def register(guard: Guard, services: SlackServices) -> None:
    @guard.action(blocks.ACTION_START, _connector_need("start"))
    async def start(
        ack: AsyncAck,
        body: dict[str, Any],
        context: AsyncBoltContext,
        respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        await _connector_action(services, "start", body, access_of(context), respond, client)

    @guard.action(blocks.ACTION_STOP, _connector_need("stop"))
    async def stop(
        ack: AsyncAck,
        body: dict[str, Any],
        context: AsyncBoltContext,
        respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        await _connector_action(services, "stop", body, access_of(context), respond, client)

    @guard.action(blocks.ACTION_SHARE, Need("view"))
    async def share(
        ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext, respond: AsyncRespond
    ) -> None:
        await ack()
        access = access_of(context)
        message, ok = await _button_view(services, body, access, blocks.Shared, _SHARE_ONLY)
        if not ok:
            await respond(response_type="ephemeral", replace_original=False, **message)
            return
        shared = without_navigation(message)
        shared["text"] = f"<@{access.user_id}> shared: {shared.get('text', '')}"[:3000]
        await respond(response_type="in_channel", replace_original=False, **shared)

    async def page(
        ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext, respond: AsyncRespond
    ) -> None:
        await ack()
        access = access_of(context)
        message, ok = await _button_view(services, body, access, blocks.Paged, _PAGE_ONLY)
        if not ok:
            await respond(response_type="ephemeral", replace_original=False, **message)
            return
        await respond(replace_original=True, **message)

    guard.action(blocks.ACTION_PAGE_PREVIOUS, Need("view"))(page)
    guard.action(blocks.ACTION_PAGE_NEXT, Need("view"))(page)

    @guard.action(blocks.ACTION_HOME_ENVIRONMENT, Need("view"))
    async def home_environment(
        ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        await ack()
        try:
            environment = Environment(_action_value(body))
        except ValueError:
            environment = Environment.PRODUCTION
        await publish_home(services, client, access_of(context), environment)
