"""``/botstatus``: parse, answer from stored state in the ack.

The guard (chatops.slack.guard) has checked what the command needs before this runs:
nothing for the help text, ``mute`` on some bot for a mute or an unmute (the mute service
then checks every bot it covers, and audits), ``view`` for everything else.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext

from chatops.permissions import Access
from chatops.slack import blocks, grammar
from chatops.slack.app import SlackServices
from chatops.slack.guard import Guard, Need, access_of

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
    return await services.views.reply(command, access)


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
