"""Block Kit renderers: stored rows in, Slack payloads out. Pure functions, no I/O.

Every message is ``{"text": fallback, "blocks": [...]}``: the handler adds
``response_type`` or ``replace_original``. Views are ``{"type": "home", "blocks": [...]}``.
Every payload stays inside Slack's limits (``chatops.slack.limits``) whatever the fleet
size, because lists are paged (``BOTS_PER_PAGE``) or capped with a "N more" line, and every
string that comes from a bot or a person is escaped and truncated here.

Action ids the listeners match:

- ``bot_start`` / ``bot_stop``: value is the bot id (never trusted: the guard re-checks).
- ``share``: value is the command text to re-run and post in the channel (a ``Shared``
  command: a read-only view).
- ``page_previous`` / ``page_next``: value is the command text of that page (``all 3``; a
  ``Paged`` command). Slack rejects two elements with one action_id in a block, hence two ids.
- ``home_environment``: the App Home environment filter; the selected value is
  an ``Environment`` value.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, TypeVar

from chatops.config import format_duration
from chatops.domain import BotKind, Channel, Dimension, Environment, Health
from chatops.slack import grammar
from chatops.slack.limits import (
    MAX_BLOCKS,
    MAX_BUTTON_VALUE,
    MAX_FIELD_TEXT,
    MAX_MESSAGE_TEXT,
    MAX_SECTION_TEXT,
    assert_within_limits,
)
from chatops.store.cards import BotCard
from chatops.store.models import Bot, Connector, TransitionRecord

JSONDict = dict[str, Any]
Action = Literal["start", "stop", "restart"]
Outcome = Literal["ok", "failed", "duplicate"]

ACTION_START: Final = "bot_start"
ACTION_STOP: Final = "bot_stop"
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
# Each detailed bot is three blocks (section with fields, buttons, divider).
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


def _pcs_sentence(action: Action, pcs_count: int) -> str:
    verb = "stop" if action == "stop" else "start"
    if pcs_count > 1:
        return f"{_PCS_SHARED}: all {pcs_count:,} survey bots will {verb}, not only this one."
    return f"{_PCS_SHARED}: every survey bot of the account will {verb}."


def start_button(bot: Bot | BotCard, *, pcs_count: int) -> JSONDict:
    """Start; a PCS bot's button asks first, because every survey bot starts with it."""
    button = _button("Start", ACTION_START, bot.id, style="primary")
    if _is_pcs(bot):
        name = escape_within(bot.name, 60)
        button["confirm"] = _confirm(
            f"Start {truncate(one_line(bot.name), 60)}?",
            f"*{name}* is a PCS bot. {_pcs_sentence('start', pcs_count)}",
            "Start all survey bots",
            danger=False,
        )
    return button


def stop_button(bot: Bot | BotCard, *, pcs_count: int) -> JSONDict:
    """Stop, always behind a confirm dialog (ARCHITECTURE.md section 4)."""
    name = escape_within(bot.name, 60)
    if _is_pcs(bot):
        text = f"*{name}* is a PCS bot. {_pcs_sentence('stop', pcs_count)}"
        confirm = "Stop all survey bots"
    else:
        text = (
            f"The connector of *{name}* stops: the bot answers no conversation until "
            "someone starts it again."
        )
        confirm = "Stop"
    button = _button("Stop", ACTION_STOP, bot.id, style="danger")
    button["confirm"] = _confirm(
        f"Stop {truncate(one_line(bot.name), 60)}?", text, confirm, danger=True
    )
    return button


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
        blocks.append(_context("Statuses: Bot Agent Connector / Conversational Cloud / Bot Server"))
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
    stale_after: timedelta | None = None,
    shareable: bool = True,
) -> JSONDict:
    """``/botstatus``: counts per health, the most urgent problem bots, the age of the data.

    ``problem_bots`` may be every problem bot; the first ``SUMMARY_PROBLEM_BOTS`` by
    urgency are shown and the rest counted.
    """
    problems_total = sum(n for health, n in counts.items() if health.is_problem)
    problems_total = max(problems_total, len(problem_bots))
    blocks = [
        _header("Bots Status"),
        _section(f"*{total:,}* bot{'' if total == 1 else 's'}   {counts_line(counts)}"),
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
    """``/botstatus <query>``: each matching bot in detail, with Start/Stop if permitted.

    ``bots`` are the matches the user may see; ``pcs_count`` is how many survey bots share
    the PCS connector, named in the PCS confirm dialogs; ``suggestion`` is offered when
    nothing matched (``grammar.suggest`` over bot names).
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
    shown = ordered[:MAX_DETAILED_BOTS]
    blocks: list[JSONDict] = []
    if len(bots) > len(shown):
        blocks.append(
            _context(
                f"{len(bots):,} bots match {shown_query}; the {len(shown)} most urgent are "
                "shown. Narrow the query, or page through every bot with `/botstatus all`."
            )
        )
    for bot in shown:
        blocks += _detail_blocks(
            bot, now, can_start=can_start(bot), can_stop=can_stop(bot), pcs_count=pcs_count
        )
    blocks += _footer_actions(grammar.Query(query), shareable=shareable)
    first = shown[0]
    fallback = (
        f"{one_line(first.name)[:100]}: {bot_health(first).label}"
        if len(bots) == 1
        else f"{len(bots):,} bots match {one_line(query)[:100]}"
    )
    return _message(escape(fallback), blocks)


def _detail_blocks(
    bot: BotCard, now: datetime, *, can_start: bool, can_stop: bool, pcs_count: int
) -> list[JSONDict]:
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
    fields = [
        f"*{dimension.label}*\n{status_text(value, raw, raw_limit=RAW_IN_DETAIL)}\n"
        f"since {date_token(since)} ({age(now, since)})"
        for dimension, value, raw, since in (
            _statuses(bot.connectors[0]) if len(bot.connectors) == 1 else ()
        )
    ]
    kind = _label(BotKind, bot.kind)
    if _is_pcs(bot):
        kind += f" (shares the survey connector with {max(pcs_count, 1):,} survey bots)"
    fields += [
        f"*Kind*\n{kind}",
        f"*Channel*\n{_label(Channel, bot.channel)}",
        f"*Environment*\n{_label(Environment, bot.environment)}",
        f"*Last manual operation*\n{_manual_text(bot)}",
    ]
    section = _section("\n".join(lines))
    section["fields"] = [_mrkdwn(truncate(field, MAX_FIELD_TEXT)) for field in fields]
    blocks = [section]
    if len(bot.connectors) > 1:
        blocks += [
            _section(text) for text in _pack(_connector_line(c, now) for c in bot.connectors)
        ]
    buttons = []
    statuses = {c.connector for c in bot.connectors}
    if can_start and statuses - {"Online"}:
        buttons.append(start_button(bot, pcs_count=pcs_count))
    if can_stop and statuses - {"Stopped", "Ready to Start"}:
        buttons.append(stop_button(bot, pcs_count=pcs_count))
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    blocks.append(_divider())
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


def _manual_text(bot: Bot | BotCard) -> str:
    if not bot.manual_operation:
        return "None recorded"
    text = escape_within(bot.manual_operation.capitalize(), 20)
    if bot.manual_by:
        text += f" by {escape_within(bot.manual_by, 100)}"
    if bot.manual_at is not None:
        text += f"\n{date_token(bot.manual_at)}"
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
    """``/botstatus history <bot>``: recent transitions and time spent in each health."""
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
    line = f"{date_token(record.at)} · {dimension}: {old} → {new} · {outcome}"
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
        ("<query>", "matching bots in detail, with Start and Stop if you may use them"),
        ("problems [page]", "every bot that is not OK, most urgent first"),
        ("all [page]", f"every bot by name, {BOTS_PER_PAGE} a page"),
        ("history <bot>", "recent transitions and time in each health over 24 h and 7 days"),
        (
            "mute <bot|glob> <duration> [reason]",
            "no alerts for these bots for a while (30m, 4h, 2d)",
        ),
        ("unmute <bot|glob>", "alerts again"),
        ("mutes", "what is muted, by whom and until when"),
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
) -> JSONDict:
    """What replaces the message a Start/Stop button was on: who did what, and when."""
    who = mention(user_id)
    name = f"*{escape_within(bot.name, DETAIL_NAME)}*"
    what = name
    if _is_pcs(bot):
        others = f"all {pcs_count:,} survey bots" if pcs_count > 1 else "every survey bot"
        what = f"the shared survey connector ({name} and {others})"
    past = {"stop": "stopped", "start": "started", "restart": "restarted"}[action]
    when = date_token(at)
    if outcome == "ok":
        emoji = {"stop": ":black_circle:", "start": ":large_green_circle:"}.get(
            action, ":arrows_counterclockwise:"
        )
        text = f"{emoji} {who} {past} {what} at {when}."
        note = "The statuses here change at the next poll."
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
    plain_who = f"<@{user_id}>" if _SLACK_ID.match(user_id) else "someone"
    fallback_verb = {
        "ok": past,
        "duplicate": f"asked again to {action}",
        "failed": f"could not {action}",
    }
    fallback = f"{plain_who} {fallback_verb[outcome]} {escape(one_line(bot.name)[:100])}"
    return _message(fallback, [_section(text), _context(note, status)])


# -- App Home ----------------------------------------------------------------------------


def home_view(
    bots: Sequence[Bot],
    counts: Mapping[Health, int],
    environment: Environment,
    data_age: timedelta | None,
    now: datetime,
    *,
    stale_after: timedelta | None = None,
) -> JSONDict:
    """The seed's dashboard in the Home tab: every bot of one environment, problems first.

    ``counts`` covers the whole environment; ``bots`` may be all of it or only the most
    urgent part. At most ``HOME_MAX_BOTS`` are listed, then how many more there are.
    """
    total = sum(counts.values())
    ordered = problem_first(bots)
    blocks: list[JSONDict] = [
        _header("Bots Status"),
        {
            "type": "section",
            "text": _mrkdwn(
                f"*{environment.label}*: *{total:,}* bot{'' if total == 1 else 's'}\n"
                f"{counts_line(counts)}"
            ),
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
