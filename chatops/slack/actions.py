"""Buttons: Start, Stop and Restart (of a bot, of one connector, of a restart request),
Share in channel, paging, and the App Home environment filter.

Every handler acks first (Slack's 3 s deadline), then works, then answers through the
interaction's ``response_url``. The guard (chatops.slack.guard) has already refused whoever
lacks what the button needs: ``start`` or ``stop`` on some bot, ``view`` for the others.
Nothing in a button's value is trusted: Start/Stop/Restart check the clicking user's
permissions for the stored bot and connectors, a restart request is planned again and
compared with what was confirmed, and Share/paging re-run only the read-only view they were
made for (``blocks.Shared``, ``blocks.Paged``), with what the clicking user may see.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from types import UnionType
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from chatops.blockkit.controls import Action
from chatops.domain import ConnectorStatus, Environment
from chatops.permissions import Access, Permission
from chatops.slack import blocks, grammar
from chatops.slack.commands import restart_problem
from chatops.slack.guard import Guard, Need, NeedOf, access_of, click_id
from chatops.slack.home import publish_home
from chatops.slack.results import ActionResult, ConnectorWatch, Outcome
from chatops.slack.services import SlackServices
from chatops.store.cards import BotCard
from chatops.store.connectors import connectors_of
from chatops.store.fleet_rows import ConnectorRecord

log = logging.getLogger(__name__)


def _user(body: dict[str, Any]) -> tuple[str, str | None]:
    user = body.get("user") or {}
    return str(user.get("id", "")), user.get("username") or user.get("name")


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


async def _bot_action(
    services: SlackServices,
    action: Action,
    body: dict[str, Any],
    access: Access,
    respond: AsyncRespond,
    client: AsyncWebClient,
) -> None:
    """A bot-level button: every connector of the bot (value: the bot id)."""
    await _act(services, action, body, access, respond, client, (_action_value(body), None))


async def _connector_action(
    services: SlackServices,
    action: Action,
    body: dict[str, Any],
    access: Access,
    respond: AsyncRespond,
    client: AsyncWebClient,
) -> None:
    """A connector-level button (value: ``{"bot": ..., "user": ...}``).

    A value that names no connector is refused as such: it never falls back to the whole
    bot.
    """
    value = _action_value(body)
    named = blocks.parse_connector_value(value)
    if named is None:
        user_id, user_name = _user(body)
        message = "That button does not name a connector, so nothing was done."
        await services.control.refused(
            action,
            value,
            user_id=user_id,
            user_name=user_name,
            outcome="invalid",
            message=message,
            click_id=click_id(body),
        )
        await respond(response_type="ephemeral", replace_original=False, **blocks.refusal(message))
        return
    await _act(services, action, body, access, respond, client, named)


async def _act(
    services: SlackServices,
    action: Action,
    body: dict[str, Any],
    access: Access,
    respond: AsyncRespond,
    client: AsyncWebClient,
    target: tuple[str, str | None],
) -> None:
    """``action`` on the bot ``target`` names, on its connector if it names one."""
    _, user_name = _user(body)
    bot_id, bot_user = target
    result = await services.control.run(
        action,
        bot_id,
        access=access,
        user_name=user_name,
        click_id=click_id(body),
        bot_user=bot_user,
    )
    await _deliver(services, action, body, respond, client, result, bot_user=bot_user)


async def _deliver(
    services: SlackServices,
    action: Action,
    body: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
    result: ActionResult,
    *,
    bot_user: str | None,
) -> None:
    """Tell what was done, where the button was; then watch what a Start/Restart started."""
    user_id, _ = _user(body)
    message = _result_message(services, action, user_id, result, bot_user)
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
    _follow_up(services, action, _watches(result), respond)


def _result_message(
    services: SlackServices,
    action: Action,
    user_id: str,
    result: ActionResult,
    bot_user: str | None,
) -> dict[str, Any]:
    if result.bot is None or result.outcome in (
        Outcome.REFUSED,
        Outcome.UNKNOWN_BOT,
        Outcome.LOOKUP_FAILED,
    ):
        return blocks.refusal(result.message)
    outcome: blocks.ShownOutcome = (
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
        connectors=result.connectors,
        bot_user=bot_user,
    )


async def _restart_bots(
    services: SlackServices, body: dict[str, Any], access: Access, respond: AsyncRespond
) -> None:
    """The Restart of ``/botstatus restart <target>``: plan again, check again, restart."""
    user_id, user_name = access.user_id, _user(body)[1]
    value = _action_value(body)

    async def refuse(outcome: str, message: dict[str, Any], target: str) -> None:
        await services.control.refused(
            "restart",
            target,
            user_id=user_id,
            user_name=user_name,
            outcome=outcome,
            message=str(message["text"]),
            click_id=click_id(body),
        )
        await respond(replace_original=True, **message)

    parsed = blocks.parse_restart_value(value)
    if parsed is None:
        message = blocks.refusal("That button does not name a restart, so nothing was done.")
        await refuse("invalid", message, value)
        return
    target, digest = parsed
    plan = await services.views.restart_plan(target)
    problem = restart_problem(plan, access)
    if problem is not None:
        await refuse("refused", problem, target)
        return
    if plan.digest != digest:
        await refuse("changed", blocks.restart_changed(plan), target)
        return
    results: list[tuple[BotCard, ActionResult]] = []
    for bot in plan.acted:
        result = await services.control.run(
            "restart", bot.id, access=access, user_name=user_name, click_id=click_id(body)
        )
        results.append((bot, result))
    await respond(
        replace_original=True,
        **blocks.restart_result(user_id, services.clock(), target, results),
    )
    _follow_up(services, "restart", [w for _, r in results for w in _watches(r)], respond)


def _watches(result: ActionResult) -> list[ConnectorWatch]:
    """The connectors an action reached, to watch until they are Online again."""
    bot = result.bot
    if bot is None:
        return []
    return [
        ConnectorWatch(bot.id, bot.name, c.bot_user, c.before)
        for c in result.connectors
        if c.outcome is Outcome.OK
    ]


def _follow_up(
    services: SlackServices, action: Action, watches: list[ConnectorWatch], respond: AsyncRespond
) -> None:
    if action == "stop" or not watches:
        return
    name = f"follow-{action}-{watches[0].bot_id}"
    services.spawn(_follow(services, action, watches, respond), name=name)


def _online_again(before: ConnectorRecord | None, row: ConnectorRecord | None) -> bool:
    """Whether ``row`` shows the connector Online since the action (not still from before).

    A poll may miss the stopped moment of a quick restart (Online, then Online again), so
    a new manual operation counts as well as a new connector status.
    """
    if row is None or row.connector != ConnectorStatus.ONLINE.value:
        return False
    if before is None:
        return True
    return row.connector_since != before.connector_since or row.manual_at != before.manual_at


async def _follow(
    services: SlackServices, action: Action, watches: list[ConnectorWatch], respond: AsyncRespond
) -> None:
    """Tell the clicker, once, when every connector it started is Online again, or which
    did not get there within ``start_followup_timeout``."""
    started = services.clock()
    deadline = started + services.start_followup_timeout
    bot_ids = {watch.bot_id for watch in watches}
    while services.clock() < deadline and any(w.online_after is None for w in watches):
        await asyncio.sleep(services.start_followup_every.total_seconds())
        async with services.sessions() as session:
            rows = await connectors_of(session, bot_ids)
        now = services.clock()
        for index, watch in enumerate(watches):
            if watch.online_after is not None:
                continue
            row = next(
                (c for c in rows.get(watch.bot_id, []) if c.bot_user == watch.bot_user), None
            )
            online_after = now - started if _online_again(watch.before, row) else None
            watches[index] = dataclasses.replace(watch, current=row, online_after=online_after)
    await respond(
        response_type="ephemeral",
        replace_original=False,
        **blocks.followup(watches, action, services.start_followup_timeout),
    )


Handler = Callable[[dict[str, Any], Access, AsyncRespond, AsyncWebClient], Awaitable[None]]
ActionHandler = Callable[
    [SlackServices, Action, dict[str, Any], Access, AsyncRespond, AsyncWebClient],
    Awaitable[None],
]
Listener = Callable[
    [AsyncAck, dict[str, Any], AsyncBoltContext, AsyncRespond, AsyncWebClient], Awaitable[None]
]


def _acked(handle: Handler) -> Listener:
    """A Bolt listener: ack at once, then ``handle`` the click as the clicking user."""

    async def listener(
        ack: AsyncAck,
        body: dict[str, Any],
        context: AsyncBoltContext,
        respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        await handle(body, access_of(context), respond, client)

    return listener


def _listener(services: SlackServices, action: Action, handle: ActionHandler) -> Listener:
    """The listener of one Start, Stop or Restart button kind."""

    async def run(
        body: dict[str, Any], access: Access, respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        await handle(services, action, body, access, respond, client)

    return _acked(run)


def _need(action: Action) -> NeedOf:
    """What a Start, Stop or Restart button needs before it runs: that permission on some bot
    (a Restart: ``start``, and ``stop`` per bot where the bot is known); a refusal by the
    guard is audited against the button's value."""
    permission: Permission = "stop" if action == "stop" else "start"

    def need(body: dict[str, Any]) -> Need:
        return Need(permission, audited=(action, _action_value(body)))

    return need


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
    respond: AsyncRespond,
) -> dict[str, Any] | None:
    """The view a Share or paging click asks for, as the clicking user sees it; None once a
    refusal is answered, when the button carries any other command."""
    command = grammar.parse(_action_value(body))
    if not isinstance(command, accepted):
        await respond(response_type="ephemeral", replace_original=False, **blocks.refusal(only))
        return None
    return await services.views.reply(command, access)


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
    for action, action_id in blocks.BOT_ACTIONS.items():
        guard.action(action_id, _need(action))(_listener(services, action, _bot_action))
    for action, action_id in blocks.CONNECTOR_ACTIONS.items():
        guard.action(action_id, _need(action))(_listener(services, action, _connector_action))

    async def restart_bots(
        body: dict[str, Any], access: Access, respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        await _restart_bots(services, body, access, respond)

    async def share(
        body: dict[str, Any], access: Access, respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        message = await _button_view(services, body, access, blocks.Shared, _SHARE_ONLY, respond)
        if message is None:
            return
        shared = without_navigation(message)
        shared["text"] = f"<@{access.user_id}> shared: {shared.get('text', '')}"[:3000]
        await respond(response_type="in_channel", replace_original=False, **shared)

    async def page(
        body: dict[str, Any], access: Access, respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        message = await _button_view(services, body, access, blocks.Paged, _PAGE_ONLY, respond)
        if message is not None:
            await respond(replace_original=True, **message)

    guard.action(blocks.ACTION_RESTART_BOTS, _need("restart"))(_acked(restart_bots))
    guard.action(blocks.ACTION_SHARE, Need("view"))(_acked(share))
    guard.action(blocks.ACTION_PAGE_PREVIOUS, Need("view"))(_acked(page))
    guard.action(blocks.ACTION_PAGE_NEXT, Need("view"))(_acked(page))

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
