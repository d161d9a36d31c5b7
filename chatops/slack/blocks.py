"""Block Kit renderers: stored rows in, Slack payloads out. Pure functions, no I/O.

Every message is ``{"text": fallback, "blocks": [...]}``: the handler adds
``response_type`` or ``replace_original``. Views are ``{"type": "home", "blocks": [...]}``.
Every payload stays inside Slack's limits (``chatops.slack.limits``) whatever the fleet
size, because lists are paged (``BOTS_PER_PAGE``) or capped with a "N more" line, details
fit their bots and connectors into the message's block budget, and every string that comes
from a bot or a person is escaped and truncated here.

Action ids the listeners match (no value is ever trusted: the server looks the bot and its
connectors up again and re-checks the clicking user's permissions):

- ``bot_start`` / ``bot_stop`` / ``bot_restart``: every connector of one bot (a PCS bot:
  the shared survey connector); value is the bot id.
- ``connector_start`` / ``connector_stop`` / ``connector_restart``: one connector; value is
  ``{"bot": bot id, "user": bot user}`` as JSON (``connector_value``).
- ``restart_bots``: the confirmed ``/botstatus restart <bot|glob>``; value is the target and
  a digest of the bots it named when asked (``restart_value``).
- ``share``: value is the command text to re-run and post in the channel (a ``Shared``
  command: a read-only view).
- ``page_previous`` / ``page_next``: value is the command text of that page (``all 3``; a
  ``Paged`` command). Slack rejects two elements with one action_id in a block, hence two ids.
- ``home_environment``: the App Home environment filter; the selected value is
  an ``Environment`` value.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, TypeVar

from chatops.config import format_duration
from chatops.domain import BotKind, Channel, ConnectorStatus, Dimension, Environment, Health
from chatops.slack import grammar
from chatops.slack.limits import (
    MAX_BLOCKS,
    MAX_BUTTON_VALUE,
    MAX_CONFIRM_TEXT,
    MAX_FIELD_TEXT,
    MAX_MESSAGE_TEXT,
    MAX_SECTION_TEXT,
    assert_within_limits,
)
from chatops.slack.restart import RestartPlan
from chatops.slack.results import Action, ActionResult, ConnectorOutcome, ConnectorWatch
from chatops.slack.results import Outcome as ActionOutcome
from chatops.store.cards import BotCard
from chatops.store.models import Bot, Connector, TransitionRecord

JSONDict = dict[str, Any]
Outcome = Literal["ok", "failed", "duplicate"]

ACTION_START: Final = "bot_start"
ACTION_STOP: Final = "bot_stop"
ACTION_RESTART: Final = "bot_restart"
ACTION_CONNECTOR_START: Final = "connector_start"
ACTION_CONNECTOR_STOP: Final = "connector_stop"
ACTION_CONNECTOR_RESTART: Final = "connector_restart"
ACTION_RESTART_BOTS: Final = "restart_bots"
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
ACTION_SHARE: Final = "share"
ACTION_PAGE_PREVIOUS: Final = "page_previous"
ACTION_PAGE_NEXT: Final = "page_next"
ACTION_HOME_ENVIRONMENT: Final = "home_environment"

# What Share and paging buttons carry: the read-only views they are made for. A click runs
# only these, whatever a forged payload says (chatops.slack.actions).
Shared = grammar.Summary | grammar.Query | grammar.Problems | grammar.All | grammar.History
Paged = grammar.Problems | grammar.All

# 20 one-line bots read well on a laptop screen; 10,000 bots make 500 pages, and a page
# stays near 8 blocks however long the names are (measured in tests/test_blocks.py).
BOTS_PER_PAGE: Final = 20
# A bot with one connector is three blocks (section with fields, buttons, divider); one
# with several adds two per connector (section, buttons), as many as the message holds.
MAX_DETAILED_BOTS: Final = 10
SUMMARY_PROBLEM_BOTS: Final = 10
HISTORY_TRANSITIONS: Final = 25
# The home tab shows problem bots first; past this, a list is no dashboard, and
# /botstatus all pages through the rest. 250 lines fit in about 20 of its 100 blocks.
HOME_MAX_BOTS: Final = 250

# Name lengths, counted after mrkdwn escaping so that "&&&" cannot triple a line.
COMPACT_NAME: Final = 80
DETAIL_NAME: Final = 200
RAW_IN_LIST: Final = 40
RAW_IN_DETAIL: Final = 120

_ESCAPES: Final = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_WHITESPACE: Final = re.compile(r"\s+")
_SLACK_ID: Final = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_PCS_SHARED: Final = "The survey connector is shared"


# -- text helpers ------------------------------------------------------------------------


def escape(text: str) -> str:
    """Slack mrkdwn escaping: a bot named ``<!channel>`` must not ping anyone."""
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def one_line(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, the last an ellipsis when something was cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def escape_within(text: str, limit: int) -> str:
    """Escaped ``text`` of at most ``limit`` characters, never cutting an entity in two."""
    text = one_line(text)
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    pieces: list[str] = []
    size = 0
    for ch in text:
        piece = _ESCAPES.get(ch, ch)
        if size + len(piece) > limit - 1:
            break
        pieces.append(piece)
        size += len(piece)
    return "".join(pieces) + "…"


def code(text: str, limit: int) -> str:
    """Inline code for a raw value; a backtick inside would end the code span early."""
    return "`" + escape_within(text.replace("`", "'"), limit) + "`"


def date_token(at: datetime) -> str:
    """Shown in each reader's own time zone; the fallback is UTC."""
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    fallback = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def age(now: datetime, since: datetime) -> str:
    return format_duration(max(now - since, timedelta(0)))


def mention(user_id: str) -> str:
    return f"<@{user_id}>" if _SLACK_ID.match(user_id) else escape_within(user_id, 64)


def _plain(text: str, limit: int) -> JSONDict:
    return {"type": "plain_text", "text": truncate(one_line(text), limit) or " ", "emoji": True}


def _mrkdwn(text: str) -> JSONDict:
    return {"type": "mrkdwn", "text": text}


def _section(text: str) -> JSONDict:
    return {"type": "section", "text": _mrkdwn(truncate(text, MAX_SECTION_TEXT))}


def _header(text: str) -> JSONDict:
    return {"type": "header", "text": _plain(text, 150)}


def _context(*texts: str) -> JSONDict:
    return {"type": "context", "elements": [_mrkdwn(truncate(t, 3000)) for t in texts]}


def _divider() -> JSONDict:
    return {"type": "divider"}


def _pack(lines: Iterable[str], limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Join lines into as few texts of at most ``limit`` characters as they fit in."""
    texts: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        line = truncate(line, limit)
        added = len(line) + (1 if current else 0)
        if current and size + added > limit:
            texts.append("\n".join(current))
            current, size = [], 0
            added = len(line)
        current.append(line)
        size += added
    if current:
        texts.append("\n".join(current))
    return texts


def _message(text: str, blocks: list[JSONDict]) -> JSONDict:
    message = {"text": truncate(text, MAX_MESSAGE_TEXT), "blocks": blocks}
    if __debug__:
        assert_within_limits(message, surface="message")
    return message


AnyBot = TypeVar("AnyBot", Bot, BotCard)

# -- reading rows ------------------------------------------------------------------------


def bot_health(bot: Bot | Connector | BotCard) -> Health:
    try:
        return Health(bot.health)
    except ValueError:
        return Health.UNKNOWN


def _label(enum: type[BotKind] | type[Channel] | type[Environment], value: str) -> str:
    try:
        return enum(value).label
    except ValueError:
        return escape_within(value, 40)


def status_text(value: str, raw: str, *, raw_limit: int) -> str:
    """A status as the seed spells it, or ``Unknown (`raw`)`` when we could not read it."""
    if value == "Unknown":
        return f"Unknown ({code(raw, raw_limit)})" if raw.strip() else "Unknown (no value)"
    return escape_within(value, 40)


def _statuses(connector: Connector) -> tuple[tuple[Dimension, str, str, datetime], ...]:
    return (
        (
            Dimension.CONNECTOR,
            connector.connector,
            connector.raw_connector,
            connector.connector_since,
        ),
        (Dimension.CLOUD, connector.cloud, connector.raw_cloud, connector.cloud_since),
        (Dimension.SERVER, connector.server, connector.raw_server, connector.server_since),
    )


def connectors_text(bot: Bot | BotCard) -> str:
    """``2 of 3 connectors OK`` (``1 connector`` for a bot with one)."""
    total = bot.connectors if isinstance(bot, Bot) else len(bot.connectors)
    ok = bot.connectors_ok if isinstance(bot, Bot) else bot.ok_count
    if total == 1:
        return "1 connector"
    return f"{ok} of {total:,} connectors OK"


def _is_pcs(bot: Bot | BotCard) -> bool:
    return bot.kind == BotKind.PCS.value


def problem_first(bots: Iterable[AnyBot]) -> list[AnyBot]:
    """Most urgent health first; within one health the newest change first, then by name."""
    return sorted(
        bots,
        key=lambda bot: (
            bot_health(bot).severity,
            -bot.health_since.timestamp(),
            bot.name.casefold(),
        ),
    )


def by_name(bots: Iterable[AnyBot]) -> list[AnyBot]:
    return sorted(bots, key=lambda bot: (bot.name.casefold(), bot.id))


def compact_line(bot: Bot, now: datetime) -> str:
    """One bot on one line: health, name, how long, its connectors, kind, environment."""
    health = bot_health(bot)
    statuses = connectors_text(bot)
    extras = []
    if _is_pcs(bot):
        extras.append(BotKind.PCS.label)
    if bot.environment != Environment.PRODUCTION.value:
        extras.append(_label(Environment, bot.environment))
    tail = "".join(f" · {extra}" for extra in extras)
    return (
        f"{health.emoji} *{escape_within(bot.name, COMPACT_NAME)}* {health.label} for "
        f"{age(now, bot.health_since)} · {statuses}{tail}"
    )


def counts_line(counts: Mapping[Health, int]) -> str:
    parts = [
        f"{health.emoji} *{counts[health]:,}* {health.label}"
        for health in sorted(Health, key=lambda h: h.severity)
        if counts.get(health)
    ]
    return "   ".join(parts) if parts else "No bots yet."


@dataclass(frozen=True, slots=True)
class AgentCounts:
    """The counts of LivePerson's Bot Status dashboard, over agent connectors.

    ``active``: the Bot Agent Connector is Online. ``no_cloud`` / ``no_server``: a connector
    that is meant to run (neither Stopped nor Ready to Start) whose Conversational Cloud
    connection is Not Connected or Offline / whose Bot Server connection is Not Connected.
    ``stopped``: the connector is Stopped. A connector may count in several (Online and
    not connected to Bot Server); ``total`` counts each once.
    """

    total: int = 0
    active: int = 0
    no_cloud: int = 0
    no_server: int = 0
    stopped: int = 0

    def __add__(self, other: AgentCounts) -> AgentCounts:
        return AgentCounts(
            self.total + other.total,
            self.active + other.active,
            self.no_cloud + other.no_cloud,
            self.no_server + other.no_server,
            self.stopped + other.stopped,
        )


_NO_CLOUD: Final = frozenset({"Not Connected", "Offline"})


def agent_counts(connectors: Iterable[Connector]) -> AgentCounts:
    total = active = no_cloud = no_server = stopped = 0
    for connector in connectors:
        total += 1
        status = connector.connector
        if status == ConnectorStatus.ONLINE.value:
            active += 1
        elif status == ConnectorStatus.STOPPED.value:
            stopped += 1
        if status not in _NOT_RUNNING:
            no_cloud += connector.cloud in _NO_CLOUD
            no_server += connector.server == "Not Connected"
    return AgentCounts(total, active, no_cloud, no_server, stopped)


def fleet_agent_counts(bots: Iterable[Bot], counts: Mapping[str, AgentCounts]) -> AgentCounts:
    """The sum of ``counts`` (per bot id) over ``bots``: the survey connector every PCS bot
    lists is one agent, so only the first PCS bot's is counted."""
    total = AgentCounts()
    pcs_seen = False
    for bot in bots:
        if bot.kind == BotKind.PCS.value:
            if pcs_seen:
                continue
            pcs_seen = True
        found = counts.get(bot.id)
        if found is not None:
            total += found
    return total


def agents_line(counts: AgentCounts) -> str:
    """LivePerson's dashboard counts, in its words."""
    return (
        f"*{counts.total:,}* agent{'' if counts.total == 1 else 's'}: "
        f"*{counts.active:,}* Active · "
        f"*{counts.no_cloud:,}* not connected to Conversational Cloud · "
        f"*{counts.no_server:,}* not connected to Bot Server · "
        f"*{counts.stopped:,}* Stopped"
    )


def _data_age_line(data_age: timedelta | None, stale_after: timedelta | None) -> str:
    if data_age is None:
        return ":grey_question: No successful poll yet: every status is unknown."
    line = f"Statuses as of {format_duration(max(data_age, timedelta(0)))} ago."
    if stale_after is not None and data_age > stale_after:
        line = (
            f":warning: {line} The status source has not answered since; they may be out of date."
        )
    return line


# -- buttons -----------------------------------------------------------------------------


def _button(text: str, action_id: str, value: str, *, style: str | None = None) -> JSONDict:
    button: JSONDict = {
        "type": "button",
        "text": _plain(text, 75),
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _confirm(title: str, text: str, confirm: str, *, danger: bool) -> JSONDict:
    dialog: JSONDict = {
        "title": _plain(title, 100),
        "text": _mrkdwn(truncate(text, 300)),
        "confirm": _plain(confirm, 30),
        "deny": _plain("Cancel", 30),
    }
    if danger:
        dialog["style"] = "danger"
    return dialog


_PAST: Final[dict[Action, str]] = {"start": "started", "stop": "stopped", "restart": "restarted"}
_VERB_ING: Final[dict[Action, str]] = {
    "start": "starting",
    "stop": "stopping",
    "restart": "restarting",
}
# What a connector must be for an action to make sense: Start when it is not Online; Stop
# and Restart when it is not already stopped (or deployed and never started).
_NOT_RUNNING: Final = frozenset(
    {ConnectorStatus.STOPPED.value, ConnectorStatus.READY_TO_START.value}
)


def makes_sense(action: Action, statuses: Iterable[str]) -> bool:
    """Whether ``action`` would change something for connectors in these statuses."""
    if action == "start":
        return any(status != ConnectorStatus.ONLINE.value for status in statuses)
    return any(status not in _NOT_RUNNING for status in statuses)


def _pcs_sentence(action: Action, pcs_count: int) -> str:
    verb = {"stop": "stop", "start": "start", "restart": "restart"}[action]
    if pcs_count > 1:
        return f"{_PCS_SHARED}: all {pcs_count:,} survey bots will {verb}, not only this one."
    return f"{_PCS_SHARED}: every survey bot of the account will {verb}."


def _names(bot_users: Sequence[str], limit: int) -> str:
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
    if _is_pcs(bot):
        return _confirm(
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
        which = f"The connector {_names(users, 70)} of *{name}*" if users else f"*{name}*"
        after = {
            "stop": "stops: the bot answers no conversation until someone starts it again.",
            "restart": (
                "stops, then starts: the bot answers no conversation until it is Online again."
            ),
        }[action]
        return _confirm(title, f"{which} {after}", action.capitalize(), danger=True)
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
    text = lead + _names(users, MAX_CONFIRM_TEXT - len(lead) - len(tail)) + tail
    return _confirm(
        title, text, f"{action.capitalize()} {count:,} connectors", danger=action != "start"
    )


def _bot_button(bot: BotCard, action: Action, *, pcs_count: int) -> JSONDict:
    style = {"start": "primary", "stop": "danger", "restart": None}[action]
    button = _button(action.capitalize(), BOT_ACTIONS[action], bot.id, style=style)
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


def bot_buttons(bot: BotCard, *, can_start: bool, can_stop: bool, pcs_count: int) -> list[JSONDict]:
    """The bot-level buttons the user may use and that would change something."""
    statuses = [c.connector for c in bot.connectors]
    allowed = {"start": can_start, "stop": can_stop, "restart": can_start and can_stop}
    return [
        _bot_button(bot, action, pcs_count=pcs_count)
        for action in ("start", "stop", "restart")
        if allowed[action] and statuses and makes_sense(action, statuses)
    ]


def _json_value(**fields: str) -> str:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def _json_pair(value: str, first: str, second: str) -> tuple[str, str] | None:
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
    return _json_value(bot=bot_id, user=bot_user)


def parse_connector_value(value: str) -> tuple[str, str] | None:
    """(bot id, bot user) from a connector button's value; None for anything else."""
    return _json_pair(value, "bot", "user")


def _connector_dialog(bot: BotCard, connector: Connector, action: Action) -> JSONDict | None:
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
    return _confirm(
        f"{action.capitalize()} {truncate(one_line(connector.bot_user), 80)}?",
        f"The connector {user} of *{name}* {what} {serving}",
        action.capitalize(),
        danger=True,
    )


def connector_buttons(
    bot: BotCard, connector: Connector, *, can_start: bool, can_stop: bool
) -> list[JSONDict]:
    """One connector's Start, Stop and Restart, where permitted and where they make sense."""
    allowed = {"start": can_start, "stop": can_stop, "restart": can_start and can_stop}
    value = connector_value(bot.id, connector.bot_user)
    buttons = []
    for action in ("start", "stop", "restart"):
        if not allowed[action] or not makes_sense(action, [connector.connector]):
            continue
        style = {"start": "primary", "stop": "danger", "restart": None}[action]
        button = _button(action.capitalize(), CONNECTOR_ACTIONS[action], value, style=style)
        dialog = _connector_dialog(bot, connector, action)
        if dialog is not None:
            button["confirm"] = dialog
        buttons.append(button)
    return buttons


def _footer_actions(
    command: Shared | None,
    *,
    shareable: bool,
    previous: Paged | None = None,
    next_: Paged | None = None,
) -> list[JSONDict]:
    """Previous / Next / Share in one actions block, or nothing when none applies."""
    elements = []
    if previous is not None:
        elements.append(_button("Previous", ACTION_PAGE_PREVIOUS, previous.text))
    if next_ is not None:
        elements.append(_button("Next", ACTION_PAGE_NEXT, next_.text))
    if shareable and command is not None and 0 < len(command.text) <= MAX_BUTTON_VALUE:
        elements.append(_button("Share in channel", ACTION_SHARE, command.text))
    return [{"type": "actions", "elements": elements}] if elements else []


# -- paging ------------------------------------------------------------------------------


def page_count(total: int, per_page: int = BOTS_PER_PAGE) -> int:
    return max(1, -(-total // per_page))


def clamp_page(page: int, total: int, per_page: int = BOTS_PER_PAGE) -> int:
    return min(max(page, 1), page_count(total, per_page))


def _paged_list(
    title: str,
    ordered: Sequence[Bot],
    page: int,
    now: datetime,
    *,
    make_command: Callable[[int], Paged],
    empty: str,
    noun: str,
    data_age: timedelta | None,
    shareable: bool,
) -> JSONDict:
    total = len(ordered)
    pages = page_count(total)
    page = clamp_page(page, total)
    shown = ordered[(page - 1) * BOTS_PER_PAGE : page * BOTS_PER_PAGE]
    summary = f"{total:,} {noun}{'' if total == 1 else 's'} · page {page:,} of {pages:,}"
    if data_age is not None:
        summary += f" · {_data_age_line(data_age, None)}"
    blocks = [_header(title), _context(summary)]
    if shown:
        blocks += [_section(text) for text in _pack(compact_line(bot, now) for bot in shown)]
        blocks.append(_context("`/botstatus <bot>` shows a bot's connectors and their statuses."))
    else:
        blocks.append(_section(empty))
    blocks += _footer_actions(
        make_command(page),
        shareable=shareable,
        previous=make_command(page - 1) if page > 1 else None,
        next_=make_command(page + 1) if page < pages else None,
    )
    fallback = f"{title}: {summary}"
    if shown:
        fallback += ". " + ", ".join(
            f"{one_line(bot.name)[:60]} ({bot_health(bot).label})" for bot in shown[:5]
        )
    return _message(escape(fallback), blocks)


# -- /botstatus views --------------------------------------------------------------------


def summary(
    counts: Mapping[Health, int],
    problem_bots: Sequence[Bot],
    data_age: timedelta | None,
    now: datetime,
    *,
    total: int,
    agents: AgentCounts | None = None,
    stale_after: timedelta | None = None,
    shareable: bool = True,
) -> JSONDict:
    """``/botstatus``: bots per health (Degraded included), the agent counts of LivePerson's
    dashboard, the most urgent problem bots, the age of the data.

    ``problem_bots`` may be every problem bot; the first ``SUMMARY_PROBLEM_BOTS`` by
    urgency are shown and the rest counted.
    """
    problems_total = sum(n for health, n in counts.items() if health.is_problem)
    problems_total = max(problems_total, len(problem_bots))
    overview = f"*{total:,}* bot{'' if total == 1 else 's'}   {counts_line(counts)}"
    if agents is not None and total:
        overview += f"\n{agents_line(agents)}"
    blocks = [
        _header("Bots Status"),
        _section(overview),
        _context(_data_age_line(data_age, stale_after)),
    ]
    shown = problem_first(problem_bots)[:SUMMARY_PROBLEM_BOTS]
    if shown:
        blocks.append(_divider())
        blocks.append(_section(f"*Problem bots* ({problems_total:,})"))
        blocks += [_section(text) for text in _pack(compact_line(bot, now) for bot in shown)]
        more = problems_total - len(shown)
        if more > 0:
            blocks.append(_context(f"and {more:,} more: `/botstatus problems` lists them all."))
    elif total:
        blocks.append(_section(":large_green_circle: No problem bots: every bot is OK."))
    blocks += _footer_actions(grammar.Summary(), shareable=shareable)
    parts = [
        f"{counts[health]:,} {health.label}"
        for health in sorted(Health, key=lambda h: h.severity)
        if counts.get(health)
    ]
    fallback = f"Bots Status: {total:,} bots" + (f" ({', '.join(parts)})" if parts else "")
    if agents is not None and total:
        fallback += f"; {agents.total:,} agents, {agents.active:,} active"
    return _message(fallback, blocks)


def bot_details(
    bots: Sequence[BotCard],
    now: datetime,
    *,
    query: str,
    can_start: Callable[[BotCard], bool],
    can_stop: Callable[[BotCard], bool],
    pcs_count: int,
    suggestion: str | None = None,
    shareable: bool = True,
) -> JSONDict:
    """``/botstatus <query>``: each matching bot in detail, every connector with its own
    Start/Stop/Restart, and the bot-level ones, where permitted and where they make sense.

    ``bots`` are the matches the user may see; ``pcs_count`` is how many survey bots share
    the PCS connector, named in the PCS confirm dialogs; ``suggestion`` is offered when
    nothing matched (``grammar.suggest`` over bot names). The most urgent bots come first,
    as many as the message's blocks hold (at most ``MAX_DETAILED_BOTS``); a bot with more
    connectors than fit lists the rest one line each, and the connectors the query names
    come first, so ``/botstatus <bot user>`` always shows that one with its buttons.
    """
    shown_query = code(query, 100)
    if not bots:
        lines = [f"No bot matches {shown_query}."]
        if suggestion:
            lines.append(f"Did you mean {code('/botstatus ' + suggestion, 200)}?")
        lines.append("`/botstatus help` lists what I understand.")
        return _message(
            f"No bot matches {escape_within(query, 100)}.", [_section("\n".join(lines))]
        )
    ordered = problem_first(bots)
    footer = _footer_actions(grammar.Query(query), shareable=shareable)
    # One block stays free for the "N bots match" line above the bots.
    budget = MAX_BLOCKS["message"] - len(footer) - 1
    body: list[JSONDict] = []
    shown: list[BotCard] = []
    for bot in ordered[:MAX_DETAILED_BOTS]:
        rendered = _detail_blocks(
            bot,
            now,
            query=query,
            can_start=can_start(bot),
            can_stop=can_stop(bot),
            pcs_count=pcs_count,
            budget=budget - len(body),
        )
        if rendered is None:
            break
        body += rendered
        shown.append(bot)
    blocks: list[JSONDict] = []
    if len(bots) > len(shown):
        blocks.append(
            _context(
                f"{len(bots):,} bots match {shown_query}; the {len(shown)} most urgent are "
                "shown. Narrow the query, or page through every bot with `/botstatus all`."
            )
        )
    blocks += body + footer
    first = shown[0]
    fallback = (
        f"{one_line(first.name)[:100]}: {bot_health(first).label}"
        if len(bots) == 1
        else f"{len(bots):,} bots match {one_line(query)[:100]}"
    )
    return _message(escape(fallback), blocks)


def _detail_blocks(
    bot: BotCard,
    now: datetime,
    *,
    query: str,
    can_start: bool,
    can_stop: bool,
    pcs_count: int,
    budget: int,
) -> list[JSONDict] | None:
    """One bot in at most ``budget`` blocks, or None when even its shortest form is more."""
    health = bot_health(bot.bot)
    lines = [
        f"{health.emoji} *{escape_within(bot.name, DETAIL_NAME)}*",
        f"*{health.label}* since {date_token(bot.health_since)} ({age(now, bot.health_since)})"
        f" · {connectors_text(bot)}",
    ]
    if bot.bot.removed_at is not None:
        lines.append(
            f":ghost: No longer listed by the source since {date_token(bot.bot.removed_at)}."
        )
    kind = _label(BotKind, bot.kind)
    if _is_pcs(bot):
        kind += f" (shares the survey connector with {max(pcs_count, 1):,} survey bots)"
    about = [
        f"*Kind*\n{kind}",
        f"*Channel*\n{_label(Channel, bot.channel)}",
        f"*Environment*\n{_label(Environment, bot.environment)}",
        f"*Last manual operation*\n{_manual_text(bot)}",
    ]
    buttons = bot_buttons(bot, can_start=can_start, can_stop=can_stop, pcs_count=pcs_count)
    actions = [{"type": "actions", "elements": buttons}] if buttons else []
    if len(bot.connectors) <= 1:
        # One connector (a PCS bot's is the shared survey connector): its statuses are the
        # bot's, and the bot's buttons are its buttons.
        fields = about
        if bot.connectors:
            connector = bot.connectors[0]
            fields = [
                *_status_fields(connector, now),
                f"*Bot user*\n{code(connector.bot_user, 200)}",
            ]
            fields += about
        blocks = [_with_fields(_section("\n".join(lines)), fields), *actions, _divider()]
        return blocks if len(blocks) <= budget else None
    head = [_with_fields(_section("\n".join(lines)), about), *actions]
    connectors = _connectors_for(bot, query)
    each = [
        _connector_blocks(bot, c, now, can_start=can_start, can_stop=can_stop) for c in connectors
    ]
    if len(head) + sum(len(blocks) for blocks in each) + 1 <= budget:
        return [*head, *(block for blocks in each for block in blocks), _divider()]
    # Not every connector fits with its own blocks: as many as fit, then one line each for
    # the others (one section of them), a note on how to act on one, and the divider.
    room = budget - len(head) - 3
    if room < 0:
        return None
    body: list[JSONDict] = []
    fitted = 0
    for blocks in each:
        if len(body) + len(blocks) > room:
            break
        body += blocks
        fitted += 1
    rest = connectors[fitted:]
    texts = _pack(_connector_line(c, now) for c in rest)
    listed = texts[0].count("\n") + 1
    note = f"The {_plural(listed, 'connector')} listed one line each have no buttons here"
    if listed < len(rest):
        note += f", and {len(rest) - listed:,} more are not listed"
    note += ": `/botstatus <bot user>` shows that connector first, with its buttons."
    return [*head, *body, _section(texts[0]), _context(note), _divider()]


def _with_fields(section: JSONDict, fields: Sequence[str]) -> JSONDict:
    section["fields"] = [_mrkdwn(truncate(field, MAX_FIELD_TEXT)) for field in fields]
    return section


def _status_fields(connector: Connector, now: datetime) -> list[str]:
    return [
        f"*{dimension.label}*\n{status_text(value, raw, raw_limit=RAW_IN_DETAIL)}\n"
        f"since {date_token(since)} ({age(now, since)})"
        for dimension, value, raw, since in _statuses(connector)
    ]


def _connectors_for(bot: BotCard, query: str) -> list[Connector]:
    """The bot's connectors in the order shown: those the query names, then the most
    urgent, then by bot user."""
    folded = query.strip().casefold()

    def named(connector: Connector) -> bool:
        user = connector.bot_user.casefold()
        return bool(folded) and (
            user == folded or folded in user or grammar.glob_matches(folded, user)
        )

    return sorted(
        bot.connectors,
        key=lambda c: (not named(c), bot_health(c).severity, c.bot_user),
    )


def _connector_blocks(
    bot: BotCard, connector: Connector, now: datetime, *, can_start: bool, can_stop: bool
) -> list[JSONDict]:
    """A connector of a bot with several: its statuses, last manual operation and buttons."""
    health = bot_health(connector)
    text = (
        f"{health.emoji} {code(connector.bot_user, 200)} *{health.label}* for "
        f"{age(now, connector.health_since)}"
    )
    fields = [
        *_status_fields(connector, now),
        f"*Last manual operation*\n{_manual_text(connector)}",
    ]
    blocks = [_with_fields(_section(text), fields)]
    buttons = connector_buttons(bot, connector, can_start=can_start, can_stop=can_stop)
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return blocks


def _connector_line(connector: Connector, now: datetime) -> str:
    """A connector of a bot on one line: health, bot user, its three statuses, since when."""
    health = bot_health(connector)
    statuses = " / ".join(
        status_text(value, raw, raw_limit=RAW_IN_LIST) for _, value, raw, _ in _statuses(connector)
    )
    return (
        f"{health.emoji} {code(connector.bot_user, 80)} {health.label} for "
        f"{age(now, connector.health_since)} · {statuses}"
    )


def _manual_text(row: Bot | BotCard | Connector) -> str:
    if not row.manual_operation:
        return "None recorded"
    text = escape_within(row.manual_operation.capitalize(), 20)
    if row.manual_by:
        text += f" by {escape_within(row.manual_by, 100)}"
    if row.manual_at is not None:
        text += f"\n{date_token(row.manual_at)}"
    return text


def problems(
    bots: Iterable[Bot],
    now: datetime,
    page: int = 1,
    *,
    data_age: timedelta | None = None,
    shareable: bool = True,
    ordered: bool = False,
) -> JSONDict:
    """``/botstatus problems [page]``: bots whose health is not OK, most urgent first.

    ``ordered``: ``bots`` are already the problem bots in ``problem_first`` order (a cached
    list), so they are neither filtered nor sorted again.
    """
    if not ordered:
        bots = problem_first(bot for bot in bots if bot_health(bot).is_problem)
    return _paged_list(
        "Problem bots",
        list(bots),
        page,
        now,
        make_command=lambda p: grammar.Problems(max(p, 1)),
        empty=":large_green_circle: No problem bots: every bot is OK.",
        noun="problem bot",
        data_age=data_age,
        shareable=shareable,
    )


def all_bots(
    bots: Iterable[Bot],
    page: int,
    now: datetime,
    *,
    data_age: timedelta | None = None,
    shareable: bool = True,
    ordered: bool = False,
) -> JSONDict:
    """``/botstatus all [page]``: every bot by name, ``BOTS_PER_PAGE`` a page.

    ``ordered``: ``bots`` are already in ``by_name`` order (a cached list).
    """
    return _paged_list(
        "All bots",
        list(bots) if ordered else by_name(bots),
        page,
        now,
        make_command=lambda p: grammar.All(max(p, 1)),
        empty="No bots yet: the first successful poll will list them.",
        noun="bot",
        data_age=data_age,
        shareable=shareable,
    )


def history(
    bot: Bot,
    transitions: Sequence[TransitionRecord],
    time_in_health_24h: Mapping[Health, timedelta],
    time_in_health_7d: Mapping[Health, timedelta],
    now: datetime,
    *,
    shareable: bool = True,
) -> JSONDict:
    """``/botstatus history <bot>``: recent transitions, each naming its connector (bot user)
    with that connector's health after it, and the time the bot spent in each health (its
    rolled-up health, Degraded included: ``views.time_in_health``)."""
    health = bot_health(bot)
    blocks = [
        _header(f"History of {one_line(bot.name)}"),
        _section(
            f"{health.emoji} *{escape_within(bot.name, DETAIL_NAME)}* is *{health.label}* "
            f"since {date_token(bot.health_since)} ({age(now, bot.health_since)})"
        ),
        {
            "type": "section",
            "fields": [
                _mrkdwn(_time_in_health("Last 24 hours", time_in_health_24h)),
                _mrkdwn(_time_in_health("Last 7 days", time_in_health_7d)),
            ],
        },
        _context(
            "Time in each health is the bot's, rolled up from its connectors; each transition "
            "names its connector and that connector's health after it."
        ),
    ]
    recent = sorted(transitions, key=lambda t: t.at, reverse=True)[:HISTORY_TRANSITIONS]
    if recent:
        blocks.append(_section("*Recent transitions*"))
        blocks += [_section(text) for text in _pack(_transition_line(t) for t in recent)]
        if len(transitions) > len(recent):
            blocks.append(
                _context(f"The {len(recent)} most recent of {len(transitions):,} transitions.")
            )
    else:
        blocks.append(_context("No transitions recorded yet."))
    blocks += _footer_actions(grammar.History(bot.name), shareable=shareable)
    fallback = (
        f"History of {one_line(bot.name)[:100]}: {health.label}, "
        f"{len(transitions):,} transition{'' if len(transitions) == 1 else 's'}"
    )
    return _message(escape(fallback), blocks)


def _time_in_health(title: str, durations: Mapping[Health, timedelta]) -> str:
    total = sum(durations.values(), timedelta(0))
    if total <= timedelta(0):
        return f"*{title}*\nNo data"
    lines = [f"*{title}*"]
    for health in sorted(durations, key=lambda h: h.severity):
        spent = durations[health]
        if spent > timedelta(0):
            share = 100 * spent / total
            lines.append(f"{health.emoji} {health.label} {format_duration(spent)} ({share:.0f}%)")
    return "\n".join(lines)


def _transition_line(record: TransitionRecord) -> str:
    try:
        dimension = Dimension(record.dimension).label
    except ValueError:
        dimension = escape_within(record.dimension, 40)
    old = status_text(record.old, record.old_raw, raw_limit=RAW_IN_LIST)
    new = status_text(record.new, record.new_raw, raw_limit=RAW_IN_LIST)
    try:
        new_health = Health(record.new_health)
        outcome = f"{new_health.emoji} {new_health.label}"
    except ValueError:
        outcome = escape_within(record.new_health, 20)
    where = f" · {code(record.bot_user, 80)}" if record.bot_user else ""
    line = f"{date_token(record.at)}{where} · {dimension}: {old} → {new} · {outcome}"
    if record.manual:
        who = f" by {escape_within(record.performed_by, 100)}" if record.performed_by else ""
        line += f" · manual{who}"
    return line


def help_text(suggestion: str | None = None, problem: str | None = None) -> JSONDict:
    """The grammar, with what was wrong and a "did you mean" when the grammar has one."""
    blocks = []
    lead = []
    if problem:
        lead.append(f":warning: {escape_within(problem, 500)}")
    if suggestion:
        lead.append(f"Did you mean {code('/botstatus ' + suggestion, 300)}?")
    if lead:
        blocks.append(_section("\n".join(lead)))
    usage = [
        ("", "counts per health, problem bots first, age of the data"),
        (
            "<query>",
            "matching bots (by name or bot user) in detail, every connector with Start, Stop "
            "and Restart if you may use them",
        ),
        ("problems [page]", "every bot that is not OK, most urgent first"),
        ("all [page]", f"every bot by name, {BOTS_PER_PAGE} a page"),
        ("history <bot>", "recent transitions and time in each health over 24 h and 7 days"),
        (
            "mute <bot|glob> <duration> [reason]",
            "no alerts for these bots for a while (30m, 4h, 2d)",
        ),
        ("unmute <bot|glob>", "alerts again"),
        ("mutes", "what is muted, by whom and until when"),
        (
            "restart <bot|glob>",
            "stop, then start every connector of these bots; says how many and asks first",
        ),
        ("help", "this text"),
    ]
    lines = [f"`{escape(('/botstatus ' + form).strip())}`  {text}" for form, text in usage]
    blocks.append(_section("*What `/botstatus` understands*\n" + "\n".join(lines)))
    blocks.append(
        _context("Replies are only visible to you; *Share in channel* posts them for everyone.")
    )
    fallback = "/botstatus help"
    if suggestion:
        fallback = f"Did you mean /botstatus {one_line(suggestion)[:200]}? " + fallback
    return _message(escape(fallback), blocks)


def refusal(message: str) -> JSONDict:
    """A refused or unresolvable request; ``message`` is ours (mrkdwn), never user input."""
    return _message(message, [_section(f":no_entry: {message}")])


def action_result(
    bot: Bot | BotCard,
    action: Action,
    user_id: str,
    at: datetime,
    outcome: Outcome,
    *,
    detail: str | None = None,
    pcs_count: int = 0,
    connectors: Sequence[ConnectorOutcome] = (),
    bot_user: str | None = None,
) -> JSONDict:
    """What replaces the message a Start/Stop/Restart button was on: who did what to which
    connectors, and when, with the outcome per connector.

    ``bot_user`` names the connector of a connector-level button (None: the bot's button);
    ``connectors`` are the outcomes per connector, as ``ConnectorControl`` reports them.
    """
    who = mention(user_id)
    name = f"*{escape_within(bot.name, DETAIL_NAME)}*"
    done = sum(1 for c in connectors if c.outcome is ActionOutcome.OK)
    if _is_pcs(bot):
        others = f"all {pcs_count:,} survey bots" if pcs_count > 1 else "every survey bot"
        what = f"the shared survey connector ({name} and {others})"
    elif bot_user is not None:
        what = f"the connector {code(bot_user, 200)} of {name}"
    elif len(connectors) > 1:
        what = f"{name} (all {len(connectors):,} of its connectors)"
        if outcome == "ok" and done < len(connectors):
            what = f"{done:,} of the {len(connectors):,} connectors of {name}"
    else:
        what = name
    past = _PAST[action]
    when = date_token(at)
    if outcome == "ok":
        emoji = {"stop": ":black_circle:", "start": ":large_green_circle:"}.get(
            action, ":arrows_counterclockwise:"
        )
        if done < len(connectors):
            emoji = ":warning:"
        text = f"{emoji} {who} {past} {what} at {when}."
        note = "The statuses here change at the next poll."
        if action in ("start", "restart"):
            note += " You will hear when each connector is Online again."
    elif outcome == "duplicate":
        text = f":repeat: {who} asked to {action} {what} at {when}; it was already requested."
        note = (
            escape_within(detail, 1000)
            if detail
            else "The source is called once per click on a message."
        )
    else:
        text = f":x: {who} tried to {action} {what} at {when}, but it failed."
        note = escape_within(detail, 1000) if detail else "The status source did not say why."
    health = bot_health(bot.bot if isinstance(bot, BotCard) else bot)
    status = f"Before: {health.emoji} {health.label} since {date_token(bot.health_since)}"
    blocks = [_section(text)]
    lines = [_connector_outcome_line(c, action) for c in connectors]
    blocks += [_section(part) for part in _pack(lines)[:_RESULT_SECTIONS]]
    blocks.append(_context(note, status))
    plain_who = f"<@{user_id}>" if _SLACK_ID.match(user_id) else "someone"
    fallback_verb = {
        "ok": past,
        "duplicate": f"asked again to {action}",
        "failed": f"could not {action}",
    }
    fallback = f"{plain_who} {fallback_verb[outcome]} {escape(one_line(bot.name)[:100])}"
    return _message(fallback, blocks)


# A result lists at most this many sections of connector lines (about 60 lines each).
_RESULT_SECTIONS: Final = 20


def _connector_outcome_line(connector: ConnectorOutcome, action: Action) -> str:
    user = code(connector.bot_user, 80)
    if connector.outcome is ActionOutcome.OK:
        return f":white_check_mark: {user} {_PAST[action]}"
    if connector.outcome is ActionOutcome.DUPLICATE:
        why = (
            escape_within(connector.message, 300)
            if connector.message
            else f"already {_VERB_ING[action]} (an earlier click); sent once"
        )
        return f":repeat: {user} {why}"
    reason = escape_within(connector.message, 300) if connector.message else "no reason given"
    return f":x: {user} could not {action}: {reason}"


# -- /botstatus restart ------------------------------------------------------------------


def restart_value(target: str, digest: str) -> str:
    """The Restart button of a restart request: the target and the digest of its bots."""
    return _json_value(target=target, digest=digest)


def parse_restart_value(value: str) -> tuple[str, str] | None:
    """(target, digest) from a ``restart_bots`` button's value; None for anything else."""
    return _json_pair(value, "target", "digest")


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _restart_line(bot: BotCard) -> str:
    health = bot_health(bot.bot)
    users = [c.bot_user for c in bot.connectors]
    connectors = _plural(len(users), "connector")
    if _is_pcs(bot):
        connectors = "the shared survey connector"
    elif users:
        connectors += f": {_names(users, 400)}"
    return f"{health.emoji} *{escape_within(bot.name, COMPACT_NAME)}* {health.label} · {connectors}"


def restart_request(plan: RestartPlan) -> JSONDict:
    """The answer to ``/botstatus restart <target>``: how many bots and connectors it names,
    each bot with its connectors, and one Restart button (behind a confirm dialog)."""
    bots, connectors = len(plan.bots), plan.connector_count
    command = code("/botstatus " + grammar.Restart(plan.target).text, 300)
    blocks = [
        _header(f"Restart {_plural(bots, 'bot')}?"),
        _section(
            f"{command} names *{_plural(bots, 'bot')}* with *{_plural(connectors, 'connector')}*."
            " Each connector stops, then starts, one after another; a bot answers no "
            "conversation on a connector until that one is Online again."
        ),
    ]
    if plan.pcs_bots:
        blocks.append(
            _context(
                f"{_plural(plan.pcs_bots, 'PCS bot')} share{'s' if plan.pcs_bots == 1 else ''} "
                "the account's one survey connector: it restarts once, and every survey bot "
                f"({max(plan.pcs_count, plan.pcs_bots):,} in all) restarts with it."
            )
        )
    texts = _pack(_restart_line(bot) for bot in plan.bots)
    blocks += [_section(text) for text in texts[:_RESULT_SECTIONS]]
    names = ", ".join(one_line(bot.name) for bot in plan.bots[:3])
    if bots > 3:
        names += f" and {bots - 3:,} more"
    dialog = _confirm(
        f"Restart {_plural(connectors, 'connector')}?",
        f"Restarts (stops, then starts) {_plural(connectors, 'connector')} of "
        f"{_plural(bots, 'bot')}: {escape_within(names, 200)}.",
        f"Restart {_plural(connectors, 'connector')}",
        danger=True,
    )
    button = _button(
        "Restart", ACTION_RESTART_BOTS, restart_value(plan.target, plan.digest), style="danger"
    )
    button["confirm"] = dialog
    blocks.append({"type": "actions", "elements": [button]})
    fallback = (
        f"Restart {_plural(bots, 'bot')} ({_plural(connectors, 'connector')})? "
        f"{one_line(plan.target)[:200]}"
    )
    return _message(escape(fallback), blocks)


def restart_refused(target: str, outside: Sequence[BotCard], *, others: bool) -> JSONDict:
    """A restart refused as a whole because it names bots the user may not restart.

    ``outside`` are the bots the user can see but may not restart (named, a few); ``others``
    says that there are also bots the user cannot see, which are never named.
    """
    command = code(target, 200)
    text = (
        f":no_entry: {command} names bots you may not restart: a restart needs the *start* and "
        "*stop* permissions on every bot it names"
    )
    if outside:
        names = ", ".join(escape_within(bot.name, COMPACT_NAME) for bot in outside[:5])
        if len(outside) > 5:
            names += f" and {len(outside) - 5:,} more"
        text += f" ({names}{' and others' if others else ''})"
    text += ". Nothing was restarted. Name only bots you may start and stop."
    return _message(f"Not allowed to restart {escape(one_line(target)[:200])}", [_section(text)])


def restart_too_many(plan: RestartPlan, limit: int) -> JSONDict:
    command = code(plan.target, 200)
    text = (
        f":warning: {command} names {_plural(len(plan.bots), 'bot')}; a restart takes at most "
        f"{limit:,} at a time, so nothing was restarted. Narrow it (e.g. `billing-*`)."
    )
    return _message(f"Too many bots to restart: {len(plan.bots):,}", [_section(text)])


def restart_changed(plan: RestartPlan) -> JSONDict:
    """The Restart button of a request whose target now names other bots."""
    again = code("/botstatus " + grammar.Restart(plan.target).text, 300)
    text = (
        f":warning: The bots {code(plan.target, 200)} names changed since you asked (it now "
        f"names {_plural(len(plan.bots), 'bot')} with "
        f"{_plural(plan.connector_count, 'connector')}), so nothing was restarted. "
        f"{again} shows them again."
    )
    return _message("Nothing was restarted: the bots changed", [_section(text)])


def restart_result(
    user_id: str, at: datetime, target: str, results: Sequence[tuple[BotCard, ActionResult]]
) -> JSONDict:
    """What replaces a restart request once its Restart was clicked: per bot, per connector."""
    outcomes = [c for _, result in results for c in result.connectors]
    done = sum(1 for c in outcomes if c.outcome is ActionOutcome.OK)
    bots_done = sum(
        1 for _, r in results if any(c.outcome is ActionOutcome.OK for c in r.connectors)
    )
    everything = done == len(outcomes) and bots_done == len(results) and done > 0
    again = all(r.outcome is ActionOutcome.DUPLICATE for _, r in results)
    emoji = ":arrows_counterclockwise:" if everything else ":repeat:" if again else ":warning:"
    if again:
        text = (
            f"{emoji} {mention(user_id)} asked again at {date_token(at)}; every connector "
            "had already been requested, so nothing was sent again"
        )
    else:
        text = (
            f"{emoji} {mention(user_id)} restarted {_plural(done, 'connector')} of "
            f"{_plural(bots_done, 'bot')} at {date_token(at)}"
        )
        if not everything:
            text += ", not all it named (see below)"
    text += f" · {code('/botstatus ' + grammar.Restart(target).text, 300)}"
    lines = []
    for bot, result in results:
        name = f"*{escape_within(bot.name, COMPACT_NAME)}*"
        if result.connectors:
            parts = [_connector_outcome_line(c, "restart") for c in result.connectors]
            lines.append(f"{name}: " + " · ".join(parts))
        else:
            lines.append(f":no_entry: {name}: {result.message}")
    blocks = [_section(text), *(_section(t) for t in _pack(lines)[:_RESULT_SECTIONS])]
    blocks.append(
        _context(
            "Each connector was stopped, then started. The statuses here change at the next "
            "poll; you will hear when each connector is Online again."
        )
    )
    plain_who = f"<@{user_id}>" if _SLACK_ID.match(user_id) else "someone"
    return _message(f"{plain_who} restarted {done:,} connectors", blocks)


def followup(watches: Sequence[ConnectorWatch], action: Action, timeout: timedelta) -> JSONDict:
    """After a Start or Restart: each connector it reached is Online again, and when, or
    did not get there within ``timeout``."""
    online = [w for w in watches if w.online_after is not None]
    late = [w for w in watches if w.online_after is None]
    names = {w.bot_name for w in watches}
    if len(watches) == 1 and online:
        name = escape_within(watches[0].bot_name, DETAIL_NAME)
        head = f":large_green_circle: *{name}* is Online again."
    elif not late:
        head = f":large_green_circle: All {_plural(len(watches), 'connector')} are Online again."
    else:
        head = (
            f":warning: {_plural(len(late), 'connector')} did not come Online within "
            f"{format_duration(timeout)} of the {action.capitalize()}."
        )
    lines = []
    for watch in sorted(
        watches, key=lambda w: (w.online_after is not None, w.bot_name, w.bot_user)
    ):
        where = f"*{escape_within(watch.bot_name, COMPACT_NAME)}* {code(watch.bot_user, 80)}"
        if watch.online_after is not None:
            lines.append(
                f":large_green_circle: {where}: Online again, seen "
                f"{format_duration(watch.online_after)} after the {action.capitalize()}"
            )
            continue
        now = watch.current
        state = (
            status_text(now.connector, now.raw_connector, raw_limit=RAW_IN_LIST)
            if now is not None
            else "no longer listed"
        )
        lines.append(f":warning: {where}: not Online; Bot Agent Connector now {state}")
    blocks = [_section(head), *(_section(t) for t in _pack(lines)[:_RESULT_SECTIONS])]
    if late:
        look = sorted(names)[0] if len(names) == 1 else "problems"
        blocks.append(_context(f"{code('/botstatus ' + look, 300)} shows the statuses now."))
    fallback = one_line(head.split(" ", 1)[1].replace("*", ""))
    return _message(fallback, blocks)


# -- App Home ----------------------------------------------------------------------------


def home_view(
    bots: Sequence[Bot],
    counts: Mapping[Health, int],
    environment: Environment,
    data_age: timedelta | None,
    now: datetime,
    *,
    agents: AgentCounts | None = None,
    stale_after: timedelta | None = None,
) -> JSONDict:
    """The seed's dashboard in the Home tab: every bot of one environment, problems first,
    with its bots per health (Degraded included) and LivePerson's agent counts.

    ``counts`` covers the whole environment; ``bots`` may be all of it or only the most
    urgent part. At most ``HOME_MAX_BOTS`` are listed, then how many more there are.
    """
    total = sum(counts.values())
    ordered = problem_first(bots)
    overview = (
        f"*{environment.label}*: *{total:,}* bot{'' if total == 1 else 's'}\n{counts_line(counts)}"
    )
    if agents is not None and total:
        overview += f"\n{agents_line(agents)}"
    blocks: list[JSONDict] = [
        _header("Bots Status"),
        {
            "type": "section",
            "text": _mrkdwn(overview),
            "accessory": _environment_select(environment),
        },
        _context(_data_age_line(data_age, stale_after)),
    ]
    budget = MAX_BLOCKS["home"] - len(blocks) - 1  # keep one block for the "more" line
    problem_lines = [
        compact_line(bot, now) for bot in ordered[:HOME_MAX_BOTS] if bot_health(bot).is_problem
    ]
    ok_lines = [compact_line(bot, now) for bot in ordered[len(problem_lines) : HOME_MAX_BOTS]]
    listed = 0
    for title, lines in (("Problem bots", problem_lines), ("OK", ok_lines)):
        if not lines or budget < 3:
            continue
        blocks += [_divider(), _section(f"*{title}*")]
        budget -= 2
        for text in _pack(lines):
            if budget == 0:
                break
            blocks.append(_section(text))
            budget -= 1
            listed += text.count("\n") + 1
    if not total and not ordered:
        blocks.append(_section("No bots in this environment yet."))
    more = max(total, len(ordered)) - listed
    if more > 0:
        blocks.append(
            _context(
                f"and {more:,} more bot{'' if more == 1 else 's'}: "
                "`/botstatus all` pages through every bot, `/botstatus problems` the problem ones."
            )
        )
    view = {"type": "home", "blocks": blocks}
    if __debug__:
        assert_within_limits(view, surface="home")
    return view


def _environment_select(current: Environment) -> JSONDict:
    options = [
        {"text": _plain(environment.label, 75), "value": environment.value}
        for environment in Environment
    ]
    return {
        "type": "static_select",
        "action_id": ACTION_HOME_ENVIRONMENT,
        "placeholder": _plain("Environment", 150),
        "options": options,
        "initial_option": options[list(Environment).index(current)],
    }


def home_refusal(message: str) -> JSONDict:
    """The Home tab for someone without ``view`` (or whose access could not be checked)."""
    view = {
        "type": "home",
        "blocks": [
            _header("Bots Status"),
            _section(
                "This app shows the status of LivePerson bots and lets operators start "
                "and stop them."
            ),
            _section(f":no_entry: {message}"),
        ],
    }
    if __debug__:
        assert_within_limits(view, surface="home")
    return view


def health_counts(bots: Iterable[Bot]) -> Counter[Health]:
    """Counts per health, for callers that hold the rows rather than a GROUP BY result."""
    return Counter(bot_health(bot) for bot in bots)
