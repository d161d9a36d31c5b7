"""Acknowledge in Slack: the alert's *Acknowledge* button and ``/botstatus ack|unack <bot>``.

The guard (chatops.slack.guard) has refused, and audited, whoever has ``ack`` on no bot;
the ack service (chatops.alerts.acks) checks ``ack`` for the stored bot of the incident,
takes or releases the acknowledgement once, audits it and writes the edit and the thread
reply the relay delivers. The button's value is never trusted: the click names its alert
by the message it is on (``container``), and the incident's bot is read from the store.
Whoever clicked hears only what did not happen (a refusal, someone else owns it, a click
handled before); what did happen shows in the alert itself.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext, AsyncRespond

from chatops.blockkit.text import code
from chatops.jsontypes import JSONDict
from chatops.permissions import Access
from chatops.slack import blocks, grammar
from chatops.slack.guard import Guard, Need, access_of
from chatops.slack.services import SlackServices

NOT_AN_ALERT = "This button acknowledges an alert in a channel; nothing was done."
NO_ALERTS = "Alerts are not configured here, so there is nothing to acknowledge."


def need(command: grammar.Ack | grammar.Unack) -> Need:
    """``ack`` on some bot; a refusal by the guard is audited as the ack or unack asked."""
    action = "ack" if isinstance(command, grammar.Ack) else "unack"
    return Need("ack", audited=(action, command.bot))


def _button_need(body: dict[str, Any]) -> Need:
    action = (body.get("actions") or [{}])[0]
    return Need("ack", audited=("ack", str(action.get("value") or "")))


async def command_reply(
    services: SlackServices,
    command: grammar.Ack | grammar.Unack,
    access: Access,
    user_name: str | None,
) -> JSONDict:
    """The answer to ``/botstatus ack <bot>`` or ``unack <bot>``, after acting."""
    if services.acks is None:
        return blocks.help_text(problem=NO_ALERTS)
    if isinstance(command, grammar.Ack):
        result = await services.acks.ack_bot(command.bot, access, user_name, click_id="")
    else:
        result = await services.acks.unack_bot(command.bot, access, user_name)
    reply = dict(result.reply)
    if result.outcome == "unknown_bot":
        name = await services.views.suggestion(command.bot, access)
        if name is not None:
            again = type(command)(name).text
            offer = f"Did you mean {code('/botstatus ' + again, 300)}?"
            reply["blocks"] = [
                *reply["blocks"],
                {"type": "section", "text": {"type": "mrkdwn", "text": offer}},
            ]
    return reply


def register(guard: Guard, services: SlackServices) -> None:
    @guard.action(blocks.ACTION_ACK, _button_need)
    async def acknowledge(
        ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext, respond: AsyncRespond
    ) -> None:
        await ack()
        container = body.get("container") or {}
        channel = container.get("channel_id")
        message_ts = container.get("message_ts")
        user = body.get("user") or {}
        user_name = user.get("username") or user.get("name")
        if services.acks is None:
            reply = blocks.refusal(NO_ALERTS)
        elif not channel or not message_ts or container.get("is_ephemeral"):
            reply = blocks.refusal(NOT_AN_ALERT)
        else:
            result = await services.acks.ack_message(
                str(channel),
                str(message_ts),
                access_of(context),
                user_name,
                click_id=str(body.get("trigger_id") or ""),
            )
            if result.outcome == "ok":
                return
            reply = result.reply
        await respond(response_type="ephemeral", replace_original=False, **reply)
