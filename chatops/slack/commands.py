"""``/botstatus``: parse, answer from stored state in the ack.

The guard (chatops.slack.guard) has checked what the command needs before this runs:
nothing for the help text, ``mute`` on some bot for a mute, an unmute, a maintenance window
or its cancel (the mute and maintenance services then check every bot it covers, and
audit), ``start`` on some bot for a restart (then
``start``, ``stop`` and ``view`` are checked on every bot it names), ``ack`` on some bot
for an ack or an unack (then on the bot, by chatops.slack.acks), ``view`` for everything
else.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext

from chatops.permissions import Access
from chatops.slack import acks, blocks, grammar, restart
from chatops.slack.guard import Guard, Need, access_of
from chatops.slack.services import SlackServices

log = logging.getLogger(__name__)

COMMAND = "/botstatus"


def _ephemeral(message: dict[str, Any]) -> dict[str, Any]:
    return {"response_type": "ephemeral", **message}


def need(body: dict[str, Any]) -> Need:
    """What ``/botstatus <text>`` needs (see the module's docstring)."""
    command = grammar.parse(body.get("text"))
    if isinstance(command, grammar.Help):
        return Need(None)
    if isinstance(command, grammar.Mute):
        return Need("mute", audited=("mute", command.target))
    if isinstance(command, grammar.Unmute):
        return Need("mute", audited=("unmute", command.target))
    if isinstance(command, grammar.Restart):
        return Need("start", audited=("restart", command.target))
    if isinstance(command, grammar.Maintenance):
        return Need("mute", audited=("maintenance", command.target))
    if isinstance(command, grammar.MaintenanceCancel):
        return Need("mute", audited=("maintenance_cancel", f"#{command.window_id}"))
    if isinstance(command, grammar.Ack | grammar.Unack):
        return acks.need(command)
    return Need("view")


async def answer(
    services: SlackServices,
    command: grammar.Command,
    context: AsyncBoltContext,
    user_name: str | None,
) -> dict[str, Any]:
    """The reply to one parsed command, for the user the guard let through."""
    if isinstance(command, grammar.Help):
        return blocks.help_text(command.suggestion, command.problem)
    access = access_of(context)
    if isinstance(command, grammar.Mute | grammar.Unmute | grammar.Mutes):
        return await _mutes(services, command, access, user_name)
    if isinstance(command, grammar.Restart):
        return await _restart(services, command, access, access.user_id, user_name)
    if isinstance(
        command, grammar.Maintenance | grammar.MaintenanceList | grammar.MaintenanceCancel
    ):
        return await _maintenance(services, command, context, access, user_name)
    if isinstance(command, grammar.Ack | grammar.Unack):
        return await acks.command_reply(services, command, access, user_name)
    return await services.views.reply(command, access)


async def _maintenance(
    services: SlackServices,
    command: grammar.Maintenance | grammar.MaintenanceList | grammar.MaintenanceCancel,
    context: AsyncBoltContext,
    access: Access,
    user_name: str | None,
) -> dict[str, Any]:
    """The maintenance service checks the mute permission and its scope, and audits."""
    windows = services.maintenance
    if windows is None:
        return blocks.help_text(
            problem="Alerts are not configured here, so there is nothing to put in maintenance."
        )
    result: dict[str, Any]
    if isinstance(command, grammar.MaintenanceList):
        result = await windows.list_reply(access)
    elif isinstance(command, grammar.MaintenanceCancel):
        result = await windows.cancel_reply(command.window_id, access, user_name)
    else:
        assert context.client is not None
        zone = await services.time_zones.zone(context.client, access.user_id)
        result = await windows.create_reply(command, access, user_name, zone)
    return result


async def _mutes(
    services: SlackServices,
    command: grammar.Mute | grammar.Unmute | grammar.Mutes,
    access: Access,
    user_name: str | None,
) -> dict[str, Any]:
    if services.mutes is None:
        return blocks.help_text(
            problem="Alerts are not configured here, so there is nothing to mute."
        )
    if isinstance(command, grammar.Mutes):
        result: dict[str, Any] = await services.mutes.list_reply(access)
        return result
    # The mute service checks the mute permission for every matching bot and audits each
    # attempt, refused ones included.
    if isinstance(command, grammar.Mute):
        result = await services.mutes.mute_reply(command, access, access.user_id, user_name)
    else:
        result = await services.mutes.unmute_reply(command, access, access.user_id, user_name)
    return result


def restart_problem(plan: restart.RestartPlan, access: Access) -> dict[str, Any] | None:
    """Why this user may not restart what ``plan`` names (None: they may).

    Refused as a whole when any bot it names is outside the user's ``start`` and ``stop``
    (and ``view``) permissions: the bots the user can see are named, the others never are.
    Then refused when it names more bots than one restart takes.
    """
    outside = plan.outside(access)
    if outside:
        seen = [bot for bot in outside if access.can("view", bot.name)]
        return blocks.restart_refused(plan.target, seen, others=len(seen) < len(outside))
    if plan.too_many:
        return blocks.restart_too_many(plan, restart.MAX_BOTS)
    return None


async def _restart(
    services: SlackServices,
    command: grammar.Restart,
    access: Access,
    user_id: str,
    user_name: str | None,
) -> dict[str, Any]:
    """``/botstatus restart <target>``: the confirm message (nothing is restarted yet), or
    why not. A refusal is audited; the restart itself is audited per connector on click."""
    missing = next((p for p in restart.NEEDS if not access.can(p)), None)
    plan = await services.views.restart_plan(command.target)
    problem = (
        blocks.refusal(services.permissions.refusal(missing))
        if missing is not None
        else restart_problem(plan, access)
    )
    if problem is not None:
        await services.control.refused(
            "restart",
            command.target,
            user_id=user_id,
            user_name=user_name,
            outcome="refused",
            message=str(problem["text"]),
        )
        return problem
    if not plan.bots:
        suggestion = await services.views.suggestion(command.target, access)
        return blocks.bot_details(
            [],
            services.clock(),
            query=command.target,
            can_start=lambda _: False,
            can_stop=lambda _: False,
            pcs_count=0,
            suggestion=grammar.Restart(suggestion).text if suggestion else None,
        )
    return blocks.restart_request(plan)


def register(guard: Guard, services: SlackServices) -> None:
    @guard.command(COMMAND, need)
    async def botstatus(ack: AsyncAck, command: dict[str, Any], context: AsyncBoltContext) -> None:
        started = time.perf_counter()
        parsed = grammar.parse(command.get("text"))
        name = type(parsed).__name__.lower()
        try:
            reply = await answer(services, parsed, context, command.get("user_name"))
        except Exception:
            # Slack shows "dispatch_failed" for a missing ack; a person gets words instead.
            # The error still reaches the app's error handler (and the log) through raise.
            await ack(
                **_ephemeral(
                    blocks.refusal(
                        "Something went wrong on our side while answering; it has been logged. "
                        "Try again in a minute."
                    )
                )
            )
            raise
        finally:
            services.metrics.command_latency.labels(name).observe(time.perf_counter() - started)
        await ack(**_ephemeral(reply))
