"""The Start, Stop and Restart buttons of a bot and of one connector, with their action ids,
values and confirm dialogs. ``/botstatus <bot>`` and the alerts both carry them.

- ``bot_start`` / ``bot_stop`` / ``bot_restart``: every connector of one bot (a PCS bot:
  the shared survey connector); value is the bot id.
- ``connector_start`` / ``connector_stop`` / ``connector_restart``: one connector; value is
  ``{"bot": bot id, "user": bot user}`` as JSON (``connector_value``).
- ``alert_ack``: *Acknowledge* on an alert; its value only names what the alert is about
  (the listener finds the alert by the message the button is on, ``chatops.slack.acks``).

No value is ever trusted: the listener looks the bot and its connectors up again and
re-checks the clicking user's permissions (``chatops.slack.actions``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Final, Literal

from chatops.blockkit import kit
from chatops.blockkit.limits import MAX_CONFIRM_TEXT
from chatops.blockkit.rows import is_pcs
from chatops.blockkit.text import code, escape_within, one_line, truncate
from chatops.domain import ConnectorStatus, Health
from chatops.jsontypes import JSONDict
from chatops.store.cards import BotCard
from chatops.store.fleet_rows import ConnectorRecord

Action = Literal["start", "stop", "restart"]

ACTION_START: Final = "bot_start"
ACTION_STOP: Final = "bot_stop"
ACTION_RESTART: Final = "bot_restart"
ACTION_CONNECTOR_START: Final = "connector_start"
ACTION_CONNECTOR_STOP: Final = "connector_stop"
ACTION_CONNECTOR_RESTART: Final = "connector_restart"
ACTION_ACK: Final = "alert_ack"
BOT_ACTIONS: Final[dict[Action, str]] = {
    "start": ACTION_START,
    "stop": ACTION_STOP,
    "restart": ACTION_RESTART,
}
CONNECTOR_ACTIONS: Final[dict[Action, str]] = {
    "start": ACTION_CONNECTOR_START,
    "stop": ACTION_CONNECTOR_STOP,
    "restart": ACTION_CONNECTOR_RESTART,
}
_PCS_SHARED: Final = "The survey connector is shared"
PAST: Final[dict[Action, str]] = {"start": "started", "stop": "stopped", "restart": "restarted"}
VERB_ING: Final[dict[Action, str]] = {
    "start": "starting",
    "stop": "stopping",
    "restart": "restarting",
}
# What a connector must be for an action to make sense: Start when it is not Online; Stop
# and Restart when it is not already stopped (or deployed and never started).
NOT_RUNNING: Final = frozenset(
    {ConnectorStatus.STOPPED.value, ConnectorStatus.READY_TO_START.value}
)


def makes_sense(action: Action, statuses: Iterable[str]) -> bool:
    """Whether ``action`` would change something for connectors in these statuses."""
    if action == "start":
        return any(status != ConnectorStatus.ONLINE.value for status in statuses)
    return any(status not in NOT_RUNNING for status in statuses)


def _pcs_sentence(action: Action, pcs_count: int) -> str:
    verb = {"stop": "stop", "start": "start", "restart": "restart"}[action]
    if pcs_count > 1:
        return f"{_PCS_SHARED}: all {pcs_count:,} survey bots will {verb}, not only this one."
    return f"{_PCS_SHARED}: every survey bot of the account will {verb}."


def connector_names(bot_users: Sequence[str], limit: int) -> str:
    """```a`, `b` and `c``` in at most ``limit`` characters, the rest counted (``and 3 more``)."""
    names = [code(user, 60) for user in bot_users]
    for shown in range(len(names), 0, -1):
        rest = len(names) - shown
        listed = names[:shown]
        if rest:
            text = ", ".join(listed) + f" and {rest:,} more"
        elif shown > 1:
            text = ", ".join(listed[:-1]) + f" and {listed[-1]}"
        else:
            text = listed[0]
        if len(text) <= limit:
            return text
    return f"{len(names):,} connectors"


def _bot_dialog(bot: BotCard, action: Action, pcs_count: int) -> JSONDict | None:
    """The one confirm dialog of a bot-level action, naming the connectors it reaches.

    Stop and Restart always ask; Start asks when it reaches more than one connector, or
    the survey connector every PCS bot shares.
    """
    title = f"{action.capitalize()} {truncate(one_line(bot.name), 60)}?"
    name = escape_within(bot.name, 60)
    if is_pcs(bot):
        return kit.confirm(
            title,
            f"*{name}* is a PCS bot. {_pcs_sentence(action, pcs_count)}",
            f"{action.capitalize()} all survey bots",
            danger=action != "start",
        )
    users = [c.bot_user for c in bot.connectors]
    count = len(users)
    if count <= 1:
        if action == "start":
            return None
        which = f"The connector {connector_names(users, 70)} of *{name}*" if users else f"*{name}*"
        after = {
            "stop": "stops: the bot answers no conversation until someone starts it again.",
            "restart": (
                "stops, then starts: the bot answers no conversation until it is Online again."
            ),
        }[action]
        return kit.confirm(title, f"{which} {after}", action.capitalize(), danger=True)
    lead = {
        "start": f"Starts all {count:,} connectors of *{name}*: ",
        "stop": f"Stops all {count:,} connectors of *{name}*: ",
        "restart": f"Restarts (stops, then starts) all {count:,} connectors of *{name}*: ",
    }[action]
    tail = {
        "start": ".",
        "stop": ". The bot answers no conversation until someone starts one again.",
        "restart": ", one after another. Each answers no conversation until it is Online again.",
    }[action]
    text = lead + connector_names(users, MAX_CONFIRM_TEXT - len(lead) - len(tail)) + tail
    return kit.confirm(
        title, text, f"{action.capitalize()} {count:,} connectors", danger=action != "start"
    )


def _bot_button(bot: BotCard, action: Action, *, pcs_count: int) -> JSONDict:
    style = {"start": "primary", "stop": "danger", "restart": None}[action]
    button = kit.button(action.capitalize(), BOT_ACTIONS[action], bot.id, style=style)
    dialog = _bot_dialog(bot, action, pcs_count)
    if dialog is not None:
        button["confirm"] = dialog
    return button


def start_button(bot: BotCard, *, pcs_count: int) -> JSONDict:
    """Start every connector of the bot; asks first when that is more than one connector,
    or the survey connector every PCS bot shares."""
    return _bot_button(bot, "start", pcs_count=pcs_count)


def stop_button(bot: BotCard, *, pcs_count: int) -> JSONDict:
    """Stop every connector of the bot, always behind a confirm dialog naming them."""
    return _bot_button(bot, "stop", pcs_count=pcs_count)


def restart_button(bot: BotCard, *, pcs_count: int) -> JSONDict:
    """Restart (stop, then start) every connector of the bot, behind a confirm dialog."""
    return _bot_button(bot, "restart", pcs_count=pcs_count)


def ack_button(value: str) -> JSONDict:
    """*Acknowledge* on an alert (``value``: a bot id, ``digest`` or ``source``)."""
    return kit.button("Acknowledge", ACTION_ACK, value[:2000])


def bot_buttons(bot: BotCard, *, can_start: bool, can_stop: bool, pcs_count: int) -> list[JSONDict]:
    """The bot-level buttons the user may use and that would change something."""
    statuses = [c.connector for c in bot.connectors]
    allowed = {"start": can_start, "stop": can_stop, "restart": can_start and can_stop}
    return [
        _bot_button(bot, action, pcs_count=pcs_count)
        for action in ("start", "stop", "restart")
        if allowed[action] and statuses and makes_sense(action, statuses)
    ]


def json_value(**fields: str) -> str:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def json_pair(value: str, first: str, second: str) -> tuple[str, str] | None:
    """Two string fields of a JSON object value, the first not blank; None for anything else."""
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    one, two = data.get(first), data.get(second)
    if not isinstance(one, str) or not isinstance(two, str) or not one.strip():
        return None
    return one, two


def connector_value(bot_id: str, bot_user: str) -> str:
    """A connector-level button's value: the connector's identity as JSON."""
    return json_value(bot=bot_id, user=bot_user)


def parse_connector_value(value: str) -> tuple[str, str] | None:
    """(bot id, bot user) from a connector button's value; None for anything else."""
    return json_pair(value, "bot", "user")


def _connector_dialog(bot: BotCard, connector: ConnectorRecord, action: Action) -> JSONDict | None:
    if action == "start":
        return None
    user = code(connector.bot_user, 60)
    name = escape_within(bot.name, 50)
    others = sum(1 for c in bot.connectors if c is not connector and c.health == Health.OK.value)
    serving = (
        "Its other OK connector keeps serving."
        if others == 1
        else f"Its {others} other OK connectors keep serving."
        if others
        else "No other connector of this bot is OK."
    )
    what = {
        "stop": "stops.",
        "restart": "stops, then starts; it answers no conversation until it is Online again.",
    }[action]
    return kit.confirm(
        f"{action.capitalize()} {truncate(one_line(connector.bot_user), 80)}?",
        f"The connector {user} of *{name}* {what} {serving}",
        action.capitalize(),
        danger=True,
    )


def connector_buttons(
    bot: BotCard, connector: ConnectorRecord, *, can_start: bool, can_stop: bool
) -> list[JSONDict]:
    """One connector's Start, Stop and Restart, where permitted and where they make sense."""
    allowed = {"start": can_start, "stop": can_stop, "restart": can_start and can_stop}
    value = connector_value(bot.id, connector.bot_user)
    buttons = []
    for action in ("start", "stop", "restart"):
        if not allowed[action] or not makes_sense(action, [connector.connector]):
            continue
        style = {"start": "primary", "stop": "danger", "restart": None}[action]
        button = kit.button(action.capitalize(), CONNECTOR_ACTIONS[action], value, style=style)
        dialog = _connector_dialog(bot, connector, action)
        if dialog is not None:
            button["confirm"] = dialog
        buttons.append(button)
    return buttons
