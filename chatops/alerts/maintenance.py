"""Maintenance windows: no alerts for some bots for a while, announced when it starts and ends.

A window is a row of ``maintenance_window``: one-off ones come from
``/botstatus maintenance <bot|glob> <start> <duration> [reason]``, recurring ones from the
config file (``maintenance:``), one row per occurrence (``schedule_recurring``).

Silencing is the mutes' own: while a window is in force, ``mutes.active_mutes`` includes it,
within its author's mute scope, so the alert planner and the reminders treat its bots as
muted and nothing else needs to know about windows.

The start and the end of each window are told in the channels by
``chatops.alerts.maintenance_announce``; what a window is (its view, the bots it silences)
is ``chatops.alerts.maintenance_views``; the replies and messages in words are
``chatops.alerts.render.maintenance_replies``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.alerts import render
from chatops.alerts.maintenance_views import CONFIG_AUTHOR, WindowView, reached
from chatops.alerts.mute_views import (
    MAX_TARGET,
    Scope,
    clean_reason,
    scope_json,
    target_problem,
)
from chatops.alerts.mutes import MuteCommand, MuteService, announce_now, reach_within
from chatops.alerts.render.maintenance_replies import (
    bot_note,
    cancelled_reply,
    created_reply,
    list_reply,
)
from chatops.alerts.visibility import Visibility
from chatops.blockkit.text import code, date_token, plural
from chatops.config import MaintenanceConfig
from chatops.domain.durations import format_duration
from chatops.domain.maintenance import WindowTimeError, occurrence, parse_start, time_zone
from chatops.jsontypes import JSONDict
from chatops.permissions import Access
from chatops.store import maintenance as store
from chatops.store.bots import listed_bots
from chatops.store.engine import SessionFactory
from chatops.store.fleet_rows import BotRecord
from chatops.store.maintenance_models import MaintenanceWindow
from chatops.store.models import utcnow

log = logging.getLogger(__name__)


MAX_WINDOW: Final = timedelta(days=30)
# How far ahead a one-off window may be set.
MAX_AHEAD: Final = timedelta(days=90)
# A start typed as this minute's HH:MM, or a few seconds late, is "now".
START_SLACK: Final = timedelta(minutes=1)


class WindowError(ValueError):
    """The window request is invalid; the message says why, for the user."""


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
    problem = target_problem(target, empty="Say which bots")
    if problem is not None:
        raise WindowError(problem)
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
    reason = clean_reason(reason)
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

    def __init__(self, view: WindowView) -> None:
        super().__init__(view.target)
        self.view = view


def no_such_window(window_id: int) -> str:
    return (
        f"No maintenance window #{window_id} is in force or to come. "
        "`/botstatus maintenance` lists them."
    )


async def cancel(
    sessions: SessionFactory, window_id: int, user_id: str, now: datetime, *, scope: Scope = None
) -> WindowView:
    """End a window now (or drop one still to come), if it lies within ``scope``."""
    async with sessions() as session:
        rows = {row.id: row for row in await store.current_and_coming(session, now)}
        row = rows.get(window_id)
        if row is None:
            raise WindowError(no_such_window(window_id))
        bots = await listed_bots(session)
        view = WindowView.of(row)
        if not all(reach_within(t, view.scope, scope, bots) for t in view.targets):
            raise OutOfScope(view)
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
        refused = await self.mutes.refused(
            "maintenance",
            command.target,
            access,
            user_name,
            "set maintenance for",
            doing="set maintenance windows",
        )
        if refused is not None:
            return refused
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

    async def list_reply(self, access: Access) -> JSONDict:
        """The windows in force and to come that ``access`` may see."""
        now = self.clock()
        seen = await Visibility.of(self.sessions, access)
        views = [view.seen(seen) for view in await list_windows(self.sessions, now)]
        return list_reply([view for view in views if view is not None], now)

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
            shown = exc.view.seen(await Visibility.of(self.sessions, access))
            if shown is None:  # a window of bots one may not view reads as no window at all
                unknown = no_such_window(window_id)
                return render.reply("No maintenance window was cancelled", f":warning: {unknown}")
            text = (
                f":no_entry: Window {target} ({code(shown.target, 200)}) covers bots your *mute* "
                "permission does not. Nothing was done: ask its author, or someone whose "
                "permission covers them."
            )
            return render.reply(title, text)
        await self.mutes.audit("maintenance_cancel", target, user_id, user_name, "ok", view.target)
        await self._announce()
        return cancelled_reply(view, now)

    async def notes(self, bots: Sequence[BotRecord], access: Access) -> dict[str, str]:
        """What each of these bots' details say of the window it is in (by bot id), as
        ``access`` may see it."""
        found: dict[str, str] = {}
        for view, covered in await self._reaching(bots, access):
            for bot in covered:
                found.setdefault(bot.id, bot_note(view))
        return found

    async def lines(self, bots: Sequence[BotRecord], access: Access) -> list[str]:
        """One line per window in force that covers some of ``bots``, for the Home tab."""
        return [
            f"{code(view.target, 100)} ({plural(len(covered), 'bot')}): {bot_note(view)}"
            for view, covered in await self._reaching(bots, access)
        ]

    async def _reaching(
        self, bots: Sequence[BotRecord], access: Access
    ) -> list[tuple[WindowView, list[BotRecord]]]:
        """The windows in force that reach some of ``bots``, as ``access`` sees them."""
        async with self.sessions() as session:
            windows = await store.in_force(session, self.clock())
        found = [(window, covered) for window in windows if (covered := reached(window, bots))]
        if not found:
            return []
        seen = await Visibility.of(self.sessions, access)
        views = [(WindowView.of(window).seen(seen), covered) for window, covered in found]
        return [(view, covered) for view, covered in views if view is not None]

    async def _announce(self) -> None:
        # The window is stored; the next upkeep or poll announces it if this attempt fails.
        await announce_now(self.announce, "a maintenance window")
