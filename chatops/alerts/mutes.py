"""Mutes: ``/botstatus mute <bot|glob> <duration> [reason]``, ``unmute``, ``mutes``.

These functions only change the ``alert_mute`` tables; the permission check (``mute``) is
``MuteService``'s. Announcements are the alert service's job
(``AlertService.announce_mutes``, also run by ``tick_reminders_and_mutes``): it tells the
channels the matching bots route to that a mute began, and later that it ended (unmuted,
or expired), naming the bots that are still not OK.

A target is a bot id, a bot name (case ignored) or a glob over names (``billing-*``).
What a mute is (limits, scope, views) is ``chatops.alerts.mute_views``; the replies to the
person who asked are ``chatops.alerts.render.mute_replies``.

Scope. A mute stores its author's scope (the bot globs their *mute* permission covers) and
silences only bots within it, also bots added later (``routing.ActiveMute``). A person
mutes and unmutes only targets whose bots all lie within their scope. An unmute ends the
mutes that lie wholly within the person's scope; a wider mute (alice's ``*``, unmuted by
someone whose scope is ``billing-*``) stays in force and gets an *exception* for what was
unmuted, within the unmuting person's scope.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.alerts import render
from chatops.alerts.mute_views import (
    MAX_MUTE,
    MAX_TARGET,
    MuteResult,
    MuteView,
    Scope,
    UnmuteResult,
    clean_reason,
    scope_json,
    scope_of,
    target_problem,
)
from chatops.alerts.render.mute_replies import globs_text, mute_reply, mutes_reply, unmute_reply
from chatops.alerts.routing import ActiveMute, BotFacts, Reach, facts, matches_target
from chatops.alerts.visibility import Visibility
from chatops.blockkit.text import code
from chatops.domain.durations import format_duration
from chatops.domain.globs import is_glob
from chatops.jsontypes import JSONDict
from chatops.metrics import Metrics
from chatops.permissions import Access, in_scope
from chatops.store import maintenance as maintenance_store
from chatops.store import mutes as mute_rows
from chatops.store.alert_models import AlertMute, AlertMuteException
from chatops.store.audit import add_audit
from chatops.store.bots import listed_bots
from chatops.store.engine import SessionFactory
from chatops.store.maintenance_models import MaintenanceWindow
from chatops.store.models import Bot, utcnow

log = logging.getLogger(__name__)


class MuteError(ValueError):
    """The mute request is invalid; the message says why, for the user."""


def active_mute(row: AlertMute, exceptions: Sequence[AlertMuteException] = ()) -> ActiveMute:
    return ActiveMute(
        Reach(row.target, scope_of(row.scope)),
        tuple(Reach(e.target, scope_of(e.scope)) for e in exceptions),
    )


def window_mutes(window: MaintenanceWindow) -> list[ActiveMute]:
    """A maintenance window silences like a mute of each bot or glob it names, within its
    author's scope (a recurring window from the config file: every bot it names)."""
    scope = scope_of(window.scope)
    return [ActiveMute(Reach(str(target), scope)) for target in json.loads(window.bots)]


async def active_mutes(session: AsyncSession, now: datetime) -> list[ActiveMute]:
    """What silences bots now: every active mute, its scope and its exceptions, and every
    maintenance window in force."""
    rows = await mute_rows.active_mutes(session, now)
    mutes = [active_mute(row, exceptions) for row, exceptions in rows]
    for window in await maintenance_store.in_force(session, now):
        mutes += window_mutes(window)
    return mutes


async def matching_bots(sessions: SessionFactory, target: str) -> list[Bot]:
    """Listed bots the target matches (by id, name or glob), in name order."""
    async with sessions() as session:
        bots = [bot for bot in await listed_bots(session) if matches_target(target, facts(bot))]
    return sorted(bots, key=lambda bot: (bot.name.casefold(), bot.id))


async def mute(
    sessions: SessionFactory,
    target_glob: str,
    duration: timedelta,
    reason: str | None,
    user_id: str,
    now: datetime,
    *,
    scope: Scope = None,
) -> MuteResult:
    """Mute alerts for bots matching ``target_glob`` within ``scope`` (None: every bot) for
    ``duration`` (at most 30 days)."""
    target = target_glob.strip()
    problem = target_problem(target, empty="Say which bot to mute")
    if problem is not None:
        raise MuteError(problem)
    if duration <= timedelta(0):
        raise MuteError("A mute needs a duration longer than zero, e.g. `2h`.")
    if duration > MAX_MUTE:
        raise MuteError(f"A mute lasts at most {format_duration(MAX_MUTE)}.")
    reason = clean_reason(reason)
    reach = Reach(target, scope)
    matching = sum(1 for bot in await matching_bots(sessions, target) if reach.reaches(facts(bot)))
    row = AlertMute(
        target=target,
        reason=reason,
        created_by=user_id[:64],
        created_at=now,
        expires_at=now + duration,
        scope=scope_json(scope),
    )
    async with sessions() as session:
        await mute_rows.add_mute(session, row)
    return MuteResult(MuteView.of(row), matching)


def _within(row: AlertMute, scope: Scope, bots: Sequence[Bot]) -> bool:
    """Whether every bot the mute ``row`` can silence, now or later, lies within ``scope``."""
    return reach_within(row.target, scope_of(row.scope), scope, bots)


def reach_within(target: str, reach: Scope, scope: Scope, bots: Sequence[Bot]) -> bool:
    """Whether every bot that ``target`` within ``reach`` can silence, now or later, lies
    within ``scope`` (None: every bot) -- what ending a mute or a window needs."""
    if scope is None:
        return True
    globs = {glob.casefold() for glob in scope}
    if reach is not None and {glob.casefold() for glob in reach} <= globs:
        return True
    if target.casefold() in globs:
        return True
    if is_glob(target):
        return False
    # An id or a name: the bots it names now, and any bot given that name later.
    reached = [bot for bot in bots if matches_target(target, facts(bot))]
    later = in_scope(scope, target) or any(bot.id == target for bot in reached)
    return later and all(in_scope(scope, bot.name) for bot in reached)


async def unmute(
    sessions: SessionFactory, target: str, user_id: str, now: datetime, *, scope: Scope = None
) -> UnmuteResult:
    """Alerts again for ``target``, as far as ``scope`` (None: every bot) reaches.

    The mutes concerned: the active mutes with exactly this target (case ignored); if
    there are none, the active mutes that silence a bot the target matches. Each one that
    lies wholly within ``scope`` ends; each wider one stays in force, with an exception
    for ``target`` within ``scope``.
    """
    wanted = target.strip()
    async with sessions() as session:
        active = await mute_rows.active_mutes(session, now)
        concerned = [(r, e) for r, e in active if r.target.casefold() == wanted.casefold()]
        bots = await listed_bots(session)
        if not concerned and wanted:
            named = [facts(bot) for bot in bots if matches_target(wanted, facts(bot))]
            concerned = [
                (row, exceptions)
                for row, exceptions in active
                if any(active_mute(row, exceptions).silences(bot) for bot in named)
            ]
        ended: list[MuteView] = []
        excepted: list[MuteView] = []
        for row, exceptions in concerned:
            if _within(row, scope, bots):
                row.ended_at = now
                row.ended_by = user_id[:64]
                ended.append(MuteView.of(row, exceptions))
                continue
            exception = AlertMuteException(
                mute_id=row.id or 0,
                target=wanted[:MAX_TARGET],
                scope=scope_json(scope),
                created_by=user_id[:64],
                created_at=now,
            )
            mute_rows.add_exception(session, exception)
            excepted.append(MuteView.of(row, [*exceptions, exception]))
        await session.commit()
    return UnmuteResult(wanted, tuple(ended), tuple(excepted), scope)


async def list_mutes(sessions: SessionFactory, now: datetime) -> list[MuteView]:
    """Active mutes with their exceptions, the soonest to expire first."""
    async with sessions() as session:
        rows = await mute_rows.active_mutes(session, now)
    return [MuteView.of(row, exceptions) for row, exceptions in rows]


async def is_muted(sessions: SessionFactory, bot: BotFacts, now: datetime) -> bool:
    async with sessions() as session:
        return any(mute.silences(bot) for mute in await active_mutes(session, now))


async def announce_now(announce: Callable[[], Awaitable[int]] | None, what: str) -> None:
    """Tell the channels now of ``what`` was stored; a failure is logged, not raised (the
    next upkeep tells them)."""
    if announce is None:
        return
    try:
        await announce()
    except Exception:
        log.exception("could not announce %s now; the next upkeep will", what)


# -- the service the Slack surface holds (SlackServices.mutes) ---------------------------


class MuteCommand(Protocol):
    """``grammar.Mute`` as this module needs it (alerts do not import the Slack surface)."""

    @property
    def target(self) -> str: ...
    @property
    def duration(self) -> timedelta: ...
    @property
    def reason(self) -> str | None: ...


class UnmuteCommand(Protocol):
    @property
    def target(self) -> str: ...


class MuteService:
    """``/botstatus mute|unmute|mutes`` for the Slack surface: permission per bot, audit.

    A mute or unmute is refused unless the person's *mute* permission covers every listed
    bot the target matches; a mute keeps its author's scope, so it silences no bot outside
    it later either; an unmute ends what lies within the person's scope and excepts that
    part from wider mutes (``unmute``). Refusals say why, never name bots, and are audited
    with the reason. ``announce`` (the alert service's ``announce_mutes``) tells the
    channels at once; without it the next upkeep does.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        *,
        clock: Callable[[], datetime] = utcnow,
        announce: Callable[[], Awaitable[int]] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.announce = announce
        self.metrics = metrics

    async def mute_reply(
        self, command: MuteCommand, access: Access, user_id: str, user_name: str | None
    ) -> JSONDict:
        refused = await self.refused("mute", command.target, access, user_name, "mute")
        if refused is not None:
            return refused
        now = self.clock()
        try:
            result = await mute(
                self.sessions,
                command.target,
                command.duration,
                command.reason,
                user_id,
                now,
                scope=access.scope("mute"),
            )
        except MuteError as exc:
            await self.audit("mute", command.target, user_id, user_name, "invalid", str(exc))
            return render.reply("Nothing was muted", f":warning: {exc}")
        detail = f"for {format_duration(command.duration)}"
        if command.reason:
            detail += f": {command.reason}"
        await self.audit("mute", command.target, user_id, user_name, "ok", detail)
        await self._announce()
        return mute_reply(result)

    async def unmute_reply(
        self, command: UnmuteCommand, access: Access, user_id: str, user_name: str | None
    ) -> JSONDict:
        refused = await self.refused("unmute", command.target, access, user_name, "unmute")
        if refused is not None:
            return refused
        result = await unmute(
            self.sessions, command.target, user_id, self.clock(), scope=access.scope("mute")
        )
        done = [f"ended {view.target} (by {view.created_by})" for view in result.ended]
        done += [
            f"excepted {result.target} from {view.target} (by {view.created_by}), "
            "which stays in force for other bots"
            for view in result.excepted
        ]
        outcome = "ok" if done else "nothing"
        await self.audit(
            "unmute", command.target, user_id, user_name, outcome, "; ".join(done) or None
        )
        if done:
            await self._announce()
        return unmute_reply(result)

    async def list_reply(self, access: Access) -> JSONDict:
        """The active mutes ``access`` may see (chatops.alerts.visibility)."""
        now = self.clock()
        seen = await Visibility.of(self.sessions, access)
        return mutes_reply(seen.mutes(await list_mutes(self.sessions, now)), now)

    async def refused(
        self,
        action: str,
        target: str,
        access: Access,
        user_name: str | None,
        verb: str,
        *,
        doing: str | None = None,
    ) -> JSONDict | None:
        """The refusal, audited as ``action``, when ``access`` may not (un)mute ``target``
        (``refusal``); None when it may."""
        refused = await self.refusal(target, access, verb, doing=doing)
        if refused is None:
            return None
        reply, why = refused
        await self.audit(action, target, access.user_id, user_name, "refused", why)
        return reply

    async def refusal(
        self, target: str, access: Access, verb: str, *, doing: str | None = None
    ) -> tuple[JSONDict, str] | None:
        """The reply and the audited reason when ``access`` may not (un)mute ``target``.

        Maintenance windows are bounded the same way; ``doing`` names what was asked
        (default: "``verb`` alerts")."""
        scope = access.scope("mute")
        title = f"Not allowed to {verb} {target[:200]}"
        if scope == ():
            doing = doing or f"{verb} alerts"
            text = f":no_entry: You need the *mute* permission to {doing}. Nothing was done."
            return render.reply(title, text), "no mute permission"
        bots = await matching_bots(self.sessions, target.strip())
        if scope is None or all(in_scope(scope, bot.name) for bot in bots):
            return None
        text = (
            f":no_entry: {code(target, 200)} matches bots your *mute* permission does not "
            f"cover (it covers {globs_text(scope)}). Nothing was done: name only bots within it."
        )
        return render.reply(
            title, text
        ), f"matches bots outside the mute permission: {', '.join(scope)}"

    async def _announce(self) -> None:
        # The mute is stored; the periodic upkeep announces it if this attempt fails.
        await announce_now(self.announce, "a mute change")

    async def audit(
        self,
        action: str,
        target: str,
        user_id: str,
        user_name: str | None,
        outcome: str,
        detail: str | None,
    ) -> None:
        if self.metrics is not None:
            self.metrics.actions.labels(action, outcome).inc()
        async with self.sessions() as session:
            await add_audit(
                session,
                at=self.clock(),
                user_id=user_id[:64],
                user_name=user_name[:300] if user_name else None,
                action=action,
                target=target,
                outcome=outcome,
                detail=detail or None,
            )
            await session.commit()
