"""Maintenance windows: no alerts for some bots for a while, announced when it starts and ends.

A window is a row of ``maintenance_window``: one-off ones come from
``/botstatus maintenance <bot|glob> <start> <duration> [reason]``, recurring ones from the
config file (``maintenance:``), one row per occurrence (``schedule_recurring``).

Silencing is the mutes' own: while a window is in force, ``mutes.active_mutes`` includes it,
within its author's mute scope, so the alert planner and the reminders treat its bots as
muted and nothing else needs to know about windows.

Announcements (``announce_windows``) run in the poll's transaction and in the periodic
upkeep, and claim each start and each end with a compare-and-set, so each is one message
per channel whatever the number of replicas or restarts. The end runs in the poll's
transaction only, before the planner: a bot that went down during the window and whose
outage the policy confirmed meanwhile (its incident was never opened, being muted) gets
its alert now, once, with an incident a later recovery resolves; the end message lists
the bots still not OK and those that came back.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.alerts import render
from chatops.alerts.mute_views import MAX_REASON, MAX_TARGET, Scope, scope_json, scope_of
from chatops.alerts.mutes import (
    MuteCommand,
    MuteService,
    active_mutes,
    reach_within,
    window_mutes,
)
from chatops.alerts.outbox_rows import new_row, payload
from chatops.alerts.routing import channels_for, facts, is_muted, route_for
from chatops.alerts.upkeep import post_in_channels
from chatops.blockkit.text import code, date_token, escape_within, mention
from chatops.config import AlertsConfig, MaintenanceConfig
from chatops.domain import BotAlertState, BotKind, Health
from chatops.domain.durations import format_duration
from chatops.domain.maintenance import WindowTimeError, occurrence, parse_start, time_zone
from chatops.jsontypes import JSONDict
from chatops.permissions import Access
from chatops.store import maintenance as store
from chatops.store.alert_models import AlertIncident
from chatops.store.alert_state import state_rows
from chatops.store.bots import cards_by_id, count_pcs_bots, listed_bots
from chatops.store.cards import BotCard
from chatops.store.engine import SessionFactory
from chatops.store.incidents import add_incidents, incidents_by_id
from chatops.store.maintenance_models import MaintenanceWindow
from chatops.store.models import Bot, utcnow
from chatops.store.outbox import add_rows

log = logging.getLogger(__name__)


MAX_WINDOW: Final = timedelta(days=30)
# How far ahead a one-off window may be set.
MAX_AHEAD: Final = timedelta(days=90)
# A start typed as this minute's HH:MM, or a few seconds late, is "now".
START_SLACK: Final = timedelta(minutes=1)
CONFIG_AUTHOR: Final = "config"
LISTED: Final = 20


class WindowError(ValueError):
    """The window request is invalid; the message says why, for the user."""


@dataclass(frozen=True, slots=True)
class WindowView:
    id: int
    target: str
    reason: str | None
    created_by: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    recurring: bool
    scope: Scope = None

    @classmethod
    def of(cls, row: MaintenanceWindow) -> WindowView:
        assert row.id is not None
        return cls(
            row.id,
            row.target,
            row.reason,
            row.created_by,
            row.starts_at,
            row.ends_at,
            row.timezone,
            row.schedule_key is not None,
            scope_of(row.scope),
        )

    def in_force(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    @property
    def author(self) -> str:
        return "the config file" if self.created_by == CONFIG_AUTHOR else mention(self.created_by)


def reached(window: MaintenanceWindow, bots: Sequence[Bot]) -> list[Bot]:
    """The listed bots the window silences (its targets, within its author's scope)."""
    silencers = window_mutes(window)
    return [bot for bot in bots if any(m.silences(facts(bot)) for m in silencers)]


# -- creating, listing, cancelling -------------------------------------------------------


async def create(
    sessions: SessionFactory,
    target: str,
    start: str,
    duration: timedelta,
    reason: str | None,
    user_id: str,
    now: datetime,
    zone: ZoneInfo,
    *,
    scope: Scope = None,
) -> WindowView:
    """A one-off window for ``target`` from ``start`` (``now``, ``HH:MM``, ISO, in ``zone``)."""
    target = target.strip()
    if not target:
        raise WindowError("Say which bots: a name, an id or a glob such as `billing-*`.")
    if len(target) > MAX_TARGET:
        raise WindowError(f"That target is longer than {MAX_TARGET} characters.")
    if duration <= timedelta(0):
        raise WindowError("A maintenance window lasts longer than zero, e.g. `2h`.")
    if duration > MAX_WINDOW:
        raise WindowError(f"A maintenance window lasts at most {format_duration(MAX_WINDOW)}.")
    try:
        starts = parse_start(start, now, zone)
    except WindowTimeError as exc:
        raise WindowError(f"{exc}.") from None
    ends = starts + duration
    if ends <= now:
        raise WindowError(
            f"That window is in the past: it would have ended {date_token(ends)}. "
            "Give a start from now on."
        )
    if starts < now - START_SLACK:
        raise WindowError(
            f"That window would start in the past ({date_token(starts)}). Use `now`, or a "
            "later time."
        )
    if starts > now + MAX_AHEAD:
        raise WindowError(
            f"A window starts at most {format_duration(MAX_AHEAD)} ahead; "
            f"{date_token(starts)} is later."
        )
    starts = max(starts, now)
    reason = reason.strip()[:MAX_REASON] if reason and reason.strip() else None
    row = MaintenanceWindow(
        target=target,
        bots=json.dumps([target]),
        scope=scope_json(scope),
        reason=reason,
        created_by=user_id[:64],
        created_at=now,
        starts_at=starts,
        ends_at=ends,
        timezone=zone.key,
    )
    async with sessions() as session:
        row = await store.add(session, row)
    return WindowView.of(row)


async def list_windows(sessions: SessionFactory, now: datetime) -> list[WindowView]:
    """Windows in force and to come, the soonest first."""
    async with sessions() as session:
        return [WindowView.of(row) for row in await store.current_and_coming(session, now)]


async def in_force(sessions: SessionFactory, now: datetime) -> list[WindowView]:
    async with sessions() as session:
        return [WindowView.of(row) for row in await store.in_force(session, now)]


class OutOfScope(Exception):
    """The person's mute scope does not cover every bot the window can silence."""


async def cancel(
    sessions: SessionFactory, window_id: int, user_id: str, now: datetime, *, scope: Scope = None
) -> WindowView:
    """End a window now (or drop one still to come), if it lies within ``scope``."""
    async with sessions() as session:
        rows = {row.id: row for row in await store.current_and_coming(session, now)}
        row = rows.get(window_id)
        if row is None:
            raise WindowError(
                f"No maintenance window #{window_id} is in force or to come. "
                "`/botstatus maintenance` lists them."
            )
        bots = await listed_bots(session)
        targets = [str(target) for target in json.loads(row.bots)]
        if not all(reach_within(t, scope_of(row.scope), scope, bots) for t in targets):
            raise OutOfScope(row.target)
        view = WindowView.of(row)
        if not await store.cancel(session, window_id, user_id, now):
            raise WindowError(f"Maintenance window #{window_id} has just ended.")
    return view


# -- recurring windows -------------------------------------------------------------------


def schedule_key(config: MaintenanceConfig) -> str:
    """Names one config entry: its bots, schedule, length and time zone (not its reason)."""
    what = [list(config.bots), config.every.casefold().split(), config.length.total_seconds()]
    what.append(config.timezone)
    digest = hashlib.sha256(json.dumps(what).encode()).hexdigest()[:32]
    return f"config:{digest}"


async def schedule_recurring(
    session: AsyncSession, configs: Sequence[MaintenanceConfig], now: datetime
) -> None:
    """Store the occurrence of each recurring window in force now or next (once each), and
    cancel the occurrences to come of entries the config file no longer has."""
    rows: list[dict[str, object]] = []
    for config in configs:
        zone = time_zone(config.timezone)
        starts, ends = occurrence(config.recurrence, config.length, zone, now)
        rows.append(
            {
                "target": ", ".join(config.bots)[:MAX_TARGET],
                "bots": json.dumps(list(config.bots)),
                "scope": None,
                "reason": config.reason,
                "created_by": CONFIG_AUTHOR,
                "created_at": now,
                "starts_at": starts,
                "ends_at": ends,
                "timezone": config.timezone,
                "schedule_key": schedule_key(config),
            }
        )
    await store.unschedule(session, [str(row["schedule_key"]) for row in rows], now)
    await store.schedule(session, rows)


# -- announcing the start and the end ----------------------------------------------------


async def announce_windows(
    session: AsyncSession, alerts: AlertsConfig, now: datetime, *, finish: bool
) -> int:
    """Announce the windows that began; with ``finish``, end the windows that are over (the
    poll's transaction, before the planner). Returns how many outbox rows were written."""
    due = await store.to_announce(session, now)
    if not due:
        return 0
    bots = await listed_bots(session)
    written = 0
    for window in due:
        assert window.id is not None
        over = window.cancelled_at is not None or window.ends_at <= now
        channels: list[str] = json.loads(window.channels or "[]")
        silenced = reached(window, bots)
        if window.started_at is None:
            if window.starts_at > now:  # cancelled before it began: nothing to tell
                if await store.claim_start(session, window.id, now, "[]"):
                    await store.claim_end(session, window.id, now)
                continue
            # A window that is over before anyone announced it (the app was down) begins
            # silently; its end still alerts whatever it hid.
            channels = [] if over else channels_for([facts(bot) for bot in silenced], alerts)
            if not await store.claim_start(session, window.id, now, json.dumps(channels)):
                continue
            message = window_started(WindowView.of(window), len(silenced))
            written += post_in_channels(
                session, channels, "maintenance", f"maintenance:{window.id}:start", message, now
            )
        if not (finish and over):
            continue
        if not await store.claim_end(session, window.id, now):
            continue
        written += await _finish(session, alerts, window, silenced, channels, now)
    return written


def _announced(state: str | None) -> BotAlertState | None:
    if state is None:
        return None
    try:
        return BotAlertState.from_dict(json.loads(state))
    except (ValueError, TypeError):
        return None


async def _finish(
    session: AsyncSession,
    alerts: AlertsConfig,
    window: MaintenanceWindow,
    silenced: Sequence[Bot],
    channels: Sequence[str],
    now: datetime,
) -> int:
    """Alert each bot the window hid an outage of; tell the channels the window ended."""
    assert window.id is not None
    ids = [bot.id for bot in silenced]
    states = await state_rows(session, ids)
    incidents = await incidents_by_id(
        session, [row.incident_id for row in states.values() if row.incident_id is not None]
    )
    open_ids = {key for key, incident in incidents.items() if incident.closed_at is None}
    still_silenced = await active_mutes(session, now)
    end = min(window.cancelled_at or window.ends_at, window.ends_at)
    changed = await store.changed_between(session, ids, window.starts_at, now)
    cards = await cards_by_id(session, ids)
    pcs = (
        await count_pcs_bots(session)
        if any(bot.kind == BotKind.PCS.value for bot in silenced)
        else 0
    )
    trouble: list[tuple[str, Health, bool]] = []
    fine: list[str] = []
    to_alert: list[tuple[BotCard, str, BotAlertState]] = []
    for bot in sorted(silenced, key=lambda bot: bot.name.casefold()):
        health = render.health_of(bot.health)
        if not health.is_problem:
            if bot.id in changed:
                fine.append(bot.name)
            continue
        stored = states.get(bot.id)
        state = _announced(stored.state) if stored is not None else None
        incident_id = stored.incident_id if stored is not None else None
        card = cards.get(bot.id)
        hidden = (
            state is not None
            and state.incident
            and state.announced.is_problem
            and incident_id not in open_ids
            and not is_muted(facts(bot), still_silenced)
        )
        channel = route_for(facts(bot), alerts, health) if hidden else None
        if state is None or card is None or channel is None:
            trouble.append((bot.name, health, False))
            continue
        to_alert.append((card, channel, state))
        trouble.append((bot.name, health, True))
    view = WindowView.of(window)
    cancelled_by = window.cancelled_by if window.cancelled_at is not None else None
    message = window_ended(view, min(end, now), cancelled_by, trouble, fine)
    # The end first, then each alert it announces.
    written = post_in_channels(
        session, channels, "maintenance", f"maintenance:{window.id}:end", message, now
    )
    for card, channel, state in to_alert:
        await _alert_hidden(session, window, card, channel, state, pcs, now)
        written += 1
    log.info(
        "maintenance window %d (%s) ended: %d bots alerted, %d fine again",
        window.id,
        window.target,
        len(to_alert),
        len(fine),
    )
    return written


async def _alert_hidden(
    session: AsyncSession,
    window: MaintenanceWindow,
    card: BotCard,
    channel: str,
    state: BotAlertState,
    pcs: int,
    now: datetime,
) -> None:
    """The alert the window held back: an outage the policy confirmed while it was muted,
    with the incident its recovery will resolve."""
    announced = state.announced
    since = (
        card.health_since
        if announced is render.health_of(card.bot.health)
        else (state.announced_at)
    )
    incident = AlertIncident(
        kind="bot",
        bot_id=card.id,
        channel=channel,
        health=announced.value,
        since=since,
        opened_at=now,
    )
    await add_incidents(session, [incident])
    note = f"Not OK when the maintenance of {escape_within(window.target, 100)} ended."
    message = render.problem(card, announced, since, pcs_count=pcs, note=note)
    row = new_row(
        kind="problem",
        channel=channel,
        dedupe_key=f"maintenance:{window.id}:bot:{card.id}",
        body=payload(post=message),
        now=now,
        incident_id=incident.id,
        bot_id=card.id,
    )
    await add_rows(session, [(row, [incident])])
    assert incident.id is not None
    await store.link_incident(session, card.id, incident.id)


# -- messages (pure) ---------------------------------------------------------------------


def _reason(view: WindowView, limit: int = MAX_REASON) -> str:
    return f"\nReason: {escape_within(view.reason, limit)}" if view.reason else ""


def _count(number: int) -> str:
    return f"{number:,} bot{'' if number == 1 else 's'}"


def window_started(view: WindowView, matching: int) -> JSONDict:
    text = (
        f":construction: Maintenance of {code(view.target, 200)} began, set by "
        f"{view.author}: no alerts for these bots until {date_token(view.ends_at)} "
        f"({format_duration(view.ends_at - view.starts_at)}).{_reason(view)}\n"
        f"{_count(matching)} match now. When it ends, each bot still not OK is alerted. "
        f"`/botstatus maintenance cancel {view.id}` ends it early."
    )
    return render.reply(f"Maintenance of {view.target[:200]} began", text)


def window_ended(
    view: WindowView,
    at: datetime,
    cancelled_by: str | None,
    trouble: Sequence[tuple[str, Health, bool]],
    fine: Sequence[str],
) -> JSONDict:
    how = f", cancelled by {mention(cancelled_by)}" if cancelled_by else ""
    lines = [
        f":white_check_mark: Maintenance of {code(view.target, 200)} ended "
        f"{date_token(at)}{how}: its bots alert again."
    ]
    if trouble:
        lines.append("*Still not OK:*")
        for name, health, alerted in trouble[:LISTED]:
            tail = " (alerted now)" if alerted else ""
            lines.append(f"{health.emoji} {escape_within(name, 80)}: {health.label}{tail}")
        if len(trouble) > LISTED:
            lines.append(f"and {len(trouble) - LISTED:,} more")
    if fine:
        names = ", ".join(escape_within(name, 80) for name in fine[:LISTED])
        more = f" and {len(fine) - LISTED:,} more" if len(fine) > LISTED else ""
        lines.append(f"*Fine again:* {names}{more}")
    elif not trouble:
        lines.append("Every bot it covered is OK.")
    return render.reply(f"Maintenance of {view.target[:200]} ended", "\n".join(lines))


def window_line(view: WindowView, now: datetime) -> str:
    if view.in_force(now):
        when = f"in force until {date_token(view.ends_at)}"
    else:
        when = f"{date_token(view.starts_at)} to {date_token(view.ends_at)}"
    line = f"*#{view.id}* {code(view.target, 120)}: {when} ({view.timezone}), by {view.author}"
    if view.recurring:
        line += " (recurring)"
    if view.reason:
        line += f": {escape_within(view.reason, 150)}"
    return line


def created_reply(view: WindowView, now: datetime) -> JSONDict:
    length = format_duration(view.ends_at - view.starts_at)
    if view.in_force(now):
        when = f"from now until {date_token(view.ends_at)} ({length})"
    else:
        when = f"from {date_token(view.starts_at)} until {date_token(view.ends_at)} ({length})"
    text = (
        f":construction: Maintenance window *#{view.id}* for {code(view.target, 200)} "
        f"{when}, in your time zone {view.timezone}. No alerts for these bots meanwhile; "
        "the channels hear when it starts and ends, and each bot still not OK at the end "
        "is alerted."
    )
    if view.scope is not None:
        text += "\nIt covers only bots your *mute* permission covers, now and later."
    text += _reason(view)
    return render.reply(f"Maintenance window #{view.id} for {view.target[:200]}", text)


def list_reply(views: Sequence[WindowView], now: datetime) -> JSONDict:
    if not views:
        return render.reply(
            "No maintenance windows",
            ":construction: No maintenance window is in force or to come.",
        )
    lines = [window_line(view, now) for view in views[:40]]
    if len(views) > 40:
        lines.append(f"and {len(views) - 40:,} more")
    lines.append("`/botstatus maintenance cancel <id>` ends one.")
    return render.reply(
        f"{len(views)} maintenance windows", "*Maintenance windows*\n" + "\n".join(lines)
    )


def cancelled_reply(view: WindowView, now: datetime) -> JSONDict:
    started = view.in_force(now)
    what = "ended now" if started else "will not happen"
    text = (
        f":white_check_mark: Maintenance window *#{view.id}* for {code(view.target, 200)} {what}."
    )
    if started:
        text += " Its bots alert again; the channels hear of each bot still not OK."
    return render.reply(f"Cancelled maintenance window #{view.id}", text)


def bot_note(view: WindowView) -> str:
    """What a bot's details and the Home tab say of the window it is in."""
    note = f":construction: In maintenance until {date_token(view.ends_at)}, by {view.author}"
    if view.reason:
        note += f", {escape_within(view.reason, 200)}"
    return note


# -- the service the Slack surface holds -------------------------------------------------


class WindowCommand(MuteCommand, Protocol):
    """``grammar.Maintenance`` as this module needs it: a mute's words and a start."""

    @property
    def start(self) -> str: ...


class MaintenanceService:
    """``/botstatus maintenance ...`` for the Slack surface: the *mute* permission and its
    scope (as for mutes: ``MuteService.refusal``), the audit log, the announcement."""

    def __init__(
        self,
        mutes: MuteService,
        *,
        clock: Callable[[], datetime] = utcnow,
        announce: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self.mutes = mutes
        self.sessions = mutes.sessions
        self.clock = clock
        self.announce = announce

    async def create_reply(
        self,
        command: WindowCommand,
        access: Access,
        user_name: str | None,
        zone: ZoneInfo,
    ) -> JSONDict:
        user_id = access.user_id
        refused = await self.mutes.refusal(
            command.target, access, "set maintenance for", doing="set maintenance windows"
        )
        if refused is not None:
            reply, why = refused
            await self.mutes.audit(
                "maintenance", command.target, user_id, user_name, "refused", why
            )
            return reply
        now = self.clock()
        try:
            view = await create(
                self.sessions,
                command.target,
                command.start,
                command.duration,
                command.reason,
                user_id,
                now,
                zone,
                scope=access.scope("mute"),
            )
        except WindowError as exc:
            await self.mutes.audit(
                "maintenance", command.target, user_id, user_name, "invalid", str(exc)
            )
            return render.reply("No maintenance window was set", f":warning: {exc}")
        detail = f"#{view.id} from {view.starts_at.isoformat()} to {view.ends_at.isoformat()}" + (
            f": {view.reason}" if view.reason else ""
        )
        await self.mutes.audit("maintenance", command.target, user_id, user_name, "ok", detail)
        if view.in_force(now):
            await self._announce()
        return created_reply(view, now)

    async def list_reply(self) -> JSONDict:
        now = self.clock()
        return list_reply(await list_windows(self.sessions, now), now)

    async def cancel_reply(self, window_id: int, access: Access, user_name: str | None) -> JSONDict:
        user_id = access.user_id
        target = f"#{window_id}"
        title = f"Not allowed to cancel maintenance window {target}"
        if access.scope("mute") == ():
            text = (
                ":no_entry: You need the *mute* permission to cancel maintenance windows. "
                "Nothing was done."
            )
            await self.mutes.audit(
                "maintenance_cancel", target, user_id, user_name, "refused", "no mute permission"
            )
            return render.reply(title, text)
        now = self.clock()
        try:
            view = await cancel(self.sessions, window_id, user_id, now, scope=access.scope("mute"))
        except WindowError as exc:
            await self.mutes.audit(
                "maintenance_cancel", target, user_id, user_name, "invalid", str(exc)
            )
            return render.reply("No maintenance window was cancelled", f":warning: {exc}")
        except OutOfScope as exc:
            why = "covers bots outside the mute permission"
            await self.mutes.audit("maintenance_cancel", target, user_id, user_name, "refused", why)
            text = (
                f":no_entry: Window {target} ({code(str(exc), 200)}) covers bots your *mute* "
                "permission does not. Nothing was done: ask its author, or someone whose "
                "permission covers them."
            )
            return render.reply(title, text)
        await self.mutes.audit("maintenance_cancel", target, user_id, user_name, "ok", view.target)
        await self._announce()
        return cancelled_reply(view, now)

    async def notes(self, bots: Sequence[Bot]) -> dict[str, str]:
        """What each of these bots' details say of the window it is in (by bot id)."""
        async with self.sessions() as session:
            windows = await store.in_force(session, self.clock())
        found: dict[str, str] = {}
        for window in windows:
            for bot in reached(window, bots):
                found.setdefault(bot.id, bot_note(WindowView.of(window)))
        return found

    async def lines(self, bots: Sequence[Bot]) -> list[str]:
        """One line per window in force that covers some of ``bots``, for the Home tab."""
        async with self.sessions() as session:
            windows = await store.in_force(session, self.clock())
        lines = []
        for window in windows:
            covered = len(reached(window, bots))
            if covered:
                view = WindowView.of(window)
                lines.append(f"{code(view.target, 100)} ({_count(covered)}): {bot_note(view)}")
        return lines

    async def _announce(self) -> None:
        if self.announce is None:
            return
        try:
            await self.announce()
        except Exception:
            # The window is stored; the next upkeep or poll announces it.
            log.exception("could not announce a maintenance window now; the next upkeep will")
