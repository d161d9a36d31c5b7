"""``chatops poll --once`` and ``chatops status [QUERY]``: the monitor from a terminal.

Exit codes: 0 done; 1 the source or the database failed (the reason is printed, without a
traceback); 2 the configuration is missing something (the message names the variables).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime, timedelta

from chatops.alerts.service import outbox_summary
from chatops.config import ConfigError, Settings
from chatops.domain import BotChange, Dimension, Health, StatusValue, Transition
from chatops.domain.conversations import MetricsOutcome, MetricsReading
from chatops.domain.durations import format_duration
from chatops.metrics import Metrics
from chatops.monitor.poll import PollResult
from chatops.runtime import agent_metrics_of, alert_service, alerting_poller
from chatops.sources.liveperson import LivePersonSource
from chatops.store.bots import count_by_health, find_bots, list_bots
from chatops.store.connectors import connectors_of
from chatops.store.engine import SessionFactory, make_engine, make_session_factory
from chatops.store.leases import AdvisoryLockGate, LeaderGate
from chatops.store.migrate import DatabaseUnavailable, SchemaOutOfDate, prepare_database
from chatops.store.models import Bot, Connector, PollRun, utcnow
from chatops.store.outbox import count_for_poll
from chatops.store.polls import failed_polls_in_a_row, last_poll, last_successful_poll


def _fail(command: str, message: str, code: int = 1) -> int:
    print(f"chatops {command}: {message}", file=sys.stderr)
    return code


# -- chatops poll --once ------------------------------------------------------------------


async def poll_command(settings: Settings) -> int:
    """One poll: print each transition, then a summary. Exit 1 if the source failed."""
    try:
        # Checks the LivePerson login variables first: nothing else is worth doing without.
        source = LivePersonSource.from_settings(settings)
    except ConfigError as exc:
        return _fail("poll", str(exc), code=2)
    url = settings.env.database_url
    try:
        await prepare_database(url)
    except (DatabaseUnavailable, SchemaOutOfDate) as exc:
        await source.aclose()
        return _fail("poll", str(exc))

    engine = make_engine(url)
    sessions = make_session_factory(engine)
    # The service's own poll: the alert policy and the outbox in the poll's transaction.
    # This process never relays (it needs no Slack token): `chatops serve` delivers the
    # alerts it queues, at once if it runs, else when it starts.
    token = settings.env.slack_bot_token
    alerts = alert_service(
        settings, sessions, Metrics(), slack_token=token.get_secret_value() if token else ""
    )
    try:
        # On PostgreSQL take the poller's advisory lock, so as not to poll beside a running
        # `serve`; on SQLite the database's write lock already serialises two pollers.
        leader: LeaderGate | None = (
            AdvisoryLockGate() if engine.dialect.name == "postgresql" else None
        )
        poller = alerting_poller(
            source,
            sessions,
            alerts,
            leader=leader,
            agent_metrics=agent_metrics_of(source, settings),
        )
        result = await poller.tick()
        queued = await _queued_by(sessions, result.poll_id) if result and result.ok else 0
    finally:
        await alerts.aclose()
        await source.aclose()
        await engine.dispose()
    if result is None:
        return _fail("poll", "another chatops process is polling right now; try again shortly")
    if not result.ok:
        kind = "permanent: fix the configuration" if result.permanent else "transient"
        return _fail("poll", f"the status source failed ({kind}): {result.error}")
    for line in transition_lines(result.changes):
        print(line)
    print(summary_line(result))
    if queued:
        print(f"{_count(queued, 'alert')} queued; `chatops serve` sends them to Slack")
    return 0


async def _queued_by(sessions: SessionFactory, poll_id: int) -> int:
    """How many alerts the poll ``poll_id`` put in the outbox."""
    async with sessions() as session:
        return await count_for_poll(session, poll_id)


def value_label(value: StatusValue, raw: str) -> str:
    """``Connected``, or ``Unknown (SOME_RAW)`` when the source's spelling is not known."""
    return f"{value.value} ({raw})" if value.value == "Unknown" else value.value


def _health_value(health: Health | None) -> str:
    return health.value if health is not None else "none"


def transition_line(name: str, change: BotChange, transition: Transition) -> str:
    """``care-bot-1  care_user_1b  Bot Server: Connected -> Not Connected (bot ok -> degraded)``."""
    old = value_label(transition.old, transition.old_raw)
    new = value_label(transition.new, transition.new_raw)
    return (
        f"{name}  {transition.bot_user or '-'}  {transition.dimension.label}: {old} -> {new}"
        f"  (bot {_health_value(change.old_health)} -> {_health_value(change.new_health)})"
    )


def _name(change: BotChange) -> str:
    state = change.new or change.old
    return state.name if state is not None else change.bot_id


def transition_lines(changes: Sequence[BotChange]) -> list[str]:
    return [
        transition_line(_name(change), change, transition)
        for change in sorted(changes, key=lambda change: (_name(change), change.bot_id))
        for transition in sorted(change.transitions, key=lambda t: (t.bot_user, t.dimension))
    ]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def summary_line(result: PollResult) -> str:
    parts = [
        _count(result.bots, "bot"),
        _count(result.connectors, "connector"),
        _count(len(result.transitions), "transition"),
        f"{result.added} added",
    ]
    if result.removed:
        parts.append(f"{result.removed} removed")
    line = f"{', '.join(parts)} (poll #{result.poll_id}, {result.duration:.1f}s)"
    if result.metrics is not None:
        line += f"; {metrics_words(result.metrics)}"
    return line


def metrics_words(reading: MetricsReading) -> str:
    """What the poll's read of the Agent Metrics API found, in a few words."""
    if reading.outcome is not MetricsOutcome.OK:
        return f"Agent Metrics {reading.outcome.value}, counts unknown: {reading.error}"
    # The survey connector's agent is every PCS bot's: count each agent once.
    agents = {agent.agent_id: agent for agent in reading.agents.values()}
    total = sum(agent.open_conversations or 0 for agent in agents.values())
    return (
        f"{_count(total, 'open conversation')} (Agent Metrics: {len(reading.agents)} of"
        f" {len(reading.asked)} connectors' agents logged in)"
    )


# -- chatops status [QUERY] ---------------------------------------------------------------


async def status_command(settings: Settings, query: str) -> int:
    """A table of stored status, problems first; QUERY narrows it to matching bots."""
    url = settings.env.database_url
    try:
        await prepare_database(url)
    except (DatabaseUnavailable, SchemaOutOfDate) as exc:
        return _fail("status", str(exc))

    engine = make_engine(url)
    try:
        sessions = make_session_factory(engine)
        async with sessions() as session:
            bots = await find_bots(session, query) if query.strip() else await list_bots(session)
            connectors = await connectors_of(session, [bot.id for bot in bots])
            counts = await count_by_health(session)
            latest = await last_poll(session)
            success = await last_successful_poll(session)
            failures = await failed_polls_in_a_row(session)
        outbox = await outbox_summary(sessions)
    finally:
        await engine.dispose()

    now = utcnow()
    if sum(counts.values()) == 0:
        print("no bots stored yet — run chatops poll --once")
        return 0
    stale = failures >= settings.app.poll.unreachable_after
    print(data_age_line(latest, success, failures, now))
    if not bots:
        print(f"no bot matches {query.strip()!r}")
        return 1
    print()
    for line in status_table(bots, connectors, now, stale=stale):
        print(line)
    if not query.strip():
        print()
        print(health_summary(counts))
        for line in outbox_lines(
            outbox.counts, [(d.id, d.kind, d.channel, d.last_error) for d in outbox.dead]
        ):
            print(line)
    return 0


def outbox_lines(
    counts: dict[str, int], dead: Sequence[tuple[int | None, str, str, str | None]]
) -> list[str]:
    """Alert delivery at a glance; dead alerts with what to fix (their last error)."""
    if not any(counts.values()):
        return []
    shown = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()) if count)
    lines = [f"alerts: {shown}"]
    for alert_id, kind, channel, error in dead:
        lines.append(
            f"  dead alert #{alert_id} ({kind} to {channel}): {error or 'no error recorded'}"
        )
    return lines


def age(since: datetime, now: datetime) -> str:
    # A clock a little behind the database's says "0s ago", not a negative age.
    return f"{format_duration(max(now - since, timedelta(0)))} ago"


def data_age_line(
    latest: PollRun | None, success: PollRun | None, failures: int, now: datetime
) -> str:
    if success is None:
        line = "no successful poll yet"
    else:
        line = (
            f"data from poll #{success.id}, {age(success.finished_at or success.started_at, now)}"
        )
    if failures and latest is not None:
        line += (
            f"; the last {_count(failures, 'poll')} failed, latest "
            f"{age(latest.started_at, now)}: {latest.error}"
        )
    return line


_HEADERS = (
    "BOT / BOT USER",
    "KIND",
    "ENV",
    "CONNECTOR",
    "CONVERSATIONAL CLOUD",
    "BOT SERVER",
    "HEALTH",
    "SINCE",
)
_MAX_NAME = 40


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _health_text(health: Health, *, stale: bool) -> str:
    # Polls are failing: what is stored may no longer be true (ARCHITECTURE.md section 2).
    return f"{Health.UNKNOWN.label} (was {health.label})" if stale else health.label


def status_row(bot: Bot, now: datetime, *, stale: bool = False) -> tuple[str, ...]:
    """A bot's line: its roll-up (``Degraded, 1 of 2 OK``), no statuses of its own."""
    health = Health(bot.health)
    health_text = _health_text(health, stale=stale)
    if bot.connectors_ok < bot.connectors and bot.connectors > 1 and not stale:
        health_text += f", {bot.connectors_ok} of {bot.connectors} OK"
    return (
        _clip(bot.name, _MAX_NAME),
        "PCS" if bot.kind == "pcs" else "Custom",
        bot.environment.capitalize(),
        "",
        "",
        "",
        health_text,
        age(bot.health_since, now),
    )


def connector_row(connector: Connector, now: datetime, *, stale: bool = False) -> tuple[str, ...]:
    """A connector's line under its bot: its bot user and its three statuses."""
    return (
        "  " + _clip(connector.bot_user, _MAX_NAME - 2),
        "",
        "",
        _status_text(connector, Dimension.CONNECTOR),
        _status_text(connector, Dimension.CLOUD),
        _status_text(connector, Dimension.SERVER),
        _health_text(Health(connector.health), stale=stale),
        age(connector.health_since, now),
    )


def _status_text(connector: Connector, dimension: Dimension) -> str:
    value: str = getattr(connector, dimension.value)
    raw: str = getattr(connector, f"raw_{dimension.value}")
    return _clip(f"{value} ({raw})" if value == "Unknown" else value, 32)


def status_table(
    bots: Sequence[Bot],
    connectors: dict[str, list[Connector]],
    now: datetime,
    *,
    stale: bool = False,
) -> list[str]:
    """Each bot, then its connectors indented under it; columns sized to their content."""
    rows: list[tuple[str, ...]] = [_HEADERS]
    for bot in bots:
        rows.append(status_row(bot, now, stale=stale))
        rows.extend(connector_row(c, now, stale=stale) for c in connectors.get(bot.id, ()))
    widths = [max(len(row[column]) for row in rows) for column in range(len(_HEADERS))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def health_summary(counts: dict[Health, int]) -> str:
    total = sum(counts.values())
    parts = [
        f"{count} {health.label.lower()}"
        for health, count in sorted(counts.items(), key=lambda item: item[0].severity)
        if count
    ]
    return f"{_count(total, 'bot')}: {', '.join(parts)}"
