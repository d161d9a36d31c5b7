"""Mutes: ``/botstatus mute <bot|glob> <duration> [reason]``, ``unmute``, ``mutes``.

These functions only change the ``alert_mute`` table; the permission check (``mute``) is
the Slack surface's. Announcements are the alert service's job
(``AlertService.announce_mutes``, also run by ``tick_reminders_and_mutes``): it tells the
channels the matching bots route to that a mute began, and later that it ended (unmuted,
or expired), naming the bots that are still not OK.

A target is a bot id, a bot name (case ignored) or a glob over names (``billing-*``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

import sqlalchemy as sa
from sqlmodel import col, select

from chatops.alerts import render
from chatops.alerts.routing import BotFacts, matches_target
from chatops.config import format_duration
from chatops.metrics import Metrics
from chatops.permissions import Access
from chatops.slack.blocks import code, date_token, escape_within, mention
from chatops.store.alert_models import AlertMute
from chatops.store.engine import SessionFactory
from chatops.store.models import AuditEntry, Bot, utcnow

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]

MAX_MUTE: Final = timedelta(days=30)
MAX_TARGET: Final = 300
MAX_REASON: Final = 500


class MuteError(ValueError):
    """The mute request is invalid; the message says why, for the user."""


@dataclass(frozen=True, slots=True)
class MuteView:
    id: int
    target: str
    reason: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, row: AlertMute) -> MuteView:
        assert row.id is not None
        return cls(row.id, row.target, row.reason, row.created_by, row.created_at, row.expires_at)


@dataclass(frozen=True, slots=True)
class MuteResult:
    mute: MuteView
    # Bots the target matches now (a glob may match none yet: that is allowed).
    matching: int


@dataclass(frozen=True, slots=True)
class UnmuteResult:
    target: str
    ended: tuple[MuteView, ...]


def _active(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(col(AlertMute.ended_at).is_(None), col(AlertMute.expires_at) > now)


async def matching_bots(sessions: SessionFactory, target: str) -> list[Bot]:
    """Listed bots the target matches (by id, name or glob), in name order."""
    async with sessions() as session:
        result = await session.exec(select(Bot).where(col(Bot.removed_at).is_(None)))
        bots = [
            bot
            for bot in result.all()
            if matches_target(target, BotFacts(bot.id, bot.name, bot.kind, bot.environment))
        ]
    return sorted(bots, key=lambda bot: (bot.name.casefold(), bot.id))


async def mute(
    sessions: SessionFactory,
    target_glob: str,
    duration: timedelta,
    reason: str | None,
    user_id: str,
    now: datetime,
) -> MuteResult:
    """Mute alerts for bots matching ``target_glob`` for ``duration`` (at most 30 days)."""
    target = target_glob.strip()
    if not target:
        raise MuteError("Say which bot to mute: a name, an id or a glob such as `billing-*`.")
    if len(target) > MAX_TARGET:
        raise MuteError(f"That target is longer than {MAX_TARGET} characters.")
    if duration <= timedelta(0):
        raise MuteError("A mute needs a duration longer than zero, e.g. `2h`.")
    if duration > MAX_MUTE:
        raise MuteError(f"A mute lasts at most {format_duration(MAX_MUTE)}.")
    reason = reason.strip()[:MAX_REASON] if reason and reason.strip() else None
    matching = len(await matching_bots(sessions, target))
    row = AlertMute(
        target=target,
        reason=reason,
        created_by=user_id[:64],
        created_at=now,
        expires_at=now + duration,
    )
    async with sessions() as session:
        session.add(row)
        await session.commit()
        await session.refresh(row)
    return MuteResult(MuteView.of(row), matching)


async def unmute(
    sessions: SessionFactory, target: str, user_id: str, now: datetime
) -> UnmuteResult:
    """End the active mutes with exactly this target (case ignored); if there are none,
    the active mutes whose target matches the bot named by ``target``."""
    wanted = target.strip()
    async with sessions() as session:
        result = await session.exec(select(AlertMute).where(_active(now)))
        active = list(result.all())
        ended = [row for row in active if row.target.casefold() == wanted.casefold()]
        if not ended and wanted:
            bots = await session.exec(
                select(Bot).where(
                    sa.or_(col(Bot.id) == wanted, sa.func.lower(Bot.name) == wanted.lower())
                )
            )
            named = [BotFacts(b.id, b.name, b.kind, b.environment) for b in bots.all()]
            ended = [row for row in active if any(matches_target(row.target, bot) for bot in named)]
        for row in ended:
            row.ended_at = now
            row.ended_by = user_id[:64]
        await session.commit()
        views = tuple(MuteView.of(row) for row in ended)
    return UnmuteResult(wanted, views)


async def list_mutes(sessions: SessionFactory, now: datetime) -> list[MuteView]:
    """Active mutes, the soonest to expire first."""
    async with sessions() as session:
        result = await session.exec(
            select(AlertMute)
            .where(_active(now))
            .order_by(col(AlertMute.expires_at), col(AlertMute.id))
        )
        return [MuteView.of(row) for row in result.all()]


async def is_muted(sessions: SessionFactory, bot: BotFacts, now: datetime) -> bool:
    async with sessions() as session:
        result = await session.exec(select(AlertMute.target).where(_active(now)))
        return any(matches_target(target, bot) for target in result.all())


# -- replies to the person who asked (pure) ---------------------------------------------


def mute_reply(result: MuteResult) -> JSONDict:
    view = result.mute
    duration = view.expires_at - view.created_at
    text = (
        f":zipper_mouth_face: Muted alerts for {code(view.target, 200)} for "
        f"{format_duration(duration)}, until {date_token(view.expires_at)}."
    )
    if result.matching == 0:
        text += "\nNo bot matches it now; bots that match later are muted too."
    else:
        text += f"\n{result.matching:,} bot{'' if result.matching == 1 else 's'} match now."
    if view.reason:
        text += f"\nReason: {escape_within(view.reason, MAX_REASON)}"
    return render.reply(f"Muted {view.target[:200]}", text)


def unmute_reply(result: UnmuteResult) -> JSONDict:
    if not result.ended:
        return render.reply(
            "Nothing to unmute",
            f"No active mute matches {code(result.target, 200)}. `/botstatus mutes` lists them.",
        )
    targets = ", ".join(code(view.target, 200) for view in result.ended[:20])
    count = len(result.ended)
    text = (
        f":bell: Ended {count} mute{'' if count == 1 else 's'}: {targets}. Their bots alert again."
    )
    return render.reply(f"Unmuted {result.target[:200]}", text)


def mutes_reply(mutes: list[MuteView], now: datetime) -> JSONDict:
    if not mutes:
        return render.reply("No active mutes", ":bell: No active mutes: every bot alerts.")
    lines = []
    for view in mutes[:40]:
        line = (
            f"{code(view.target, 120)} until {date_token(view.expires_at)} "
            f"({format_duration(max(view.expires_at - now, timedelta(0)))} left), by "
            f"{mention(view.created_by)}"
        )
        if view.reason:
            line += f": {escape_within(view.reason, 150)}"
        lines.append(line)
    if len(mutes) > 40:
        lines.append(f"and {len(mutes) - 40:,} more")
    return render.reply(f"{len(mutes)} active mutes", "*Active mutes*\n" + "\n".join(lines))


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

    The caller has checked that the user has ``mute`` on some bot (``view`` for the list);
    here a mute or unmute is refused unless the user may mute *every* listed bot the target
    matches, and a target that matches no bot yet needs ``mute`` on all bots, since it may
    match any bot later. Refusals never name bots. ``announce`` (the alert service's
    ``announce_mutes``) tells the channels at once; without it the next upkeep does.
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
        refused = await self._refusal(command.target, access, "mute")
        if refused is not None:
            await self._audit("mute", command.target, user_id, user_name, "refused", None)
            return refused
        now = self.clock()
        try:
            result = await mute(
                self.sessions, command.target, command.duration, command.reason, user_id, now
            )
        except MuteError as exc:
            await self._audit("mute", command.target, user_id, user_name, "invalid", str(exc))
            return render.reply("Nothing was muted", f":warning: {exc}")
        detail = f"for {format_duration(command.duration)}"
        if command.reason:
            detail += f": {command.reason}"
        await self._audit("mute", command.target, user_id, user_name, "ok", detail)
        await self._announce()
        return mute_reply(result)

    async def unmute_reply(
        self, command: UnmuteCommand, access: Access, user_id: str, user_name: str | None
    ) -> JSONDict:
        refused = await self._refusal(command.target, access, "unmute")
        if refused is not None:
            await self._audit("unmute", command.target, user_id, user_name, "refused", None)
            return refused
        result = await unmute(self.sessions, command.target, user_id, self.clock())
        outcome = "ok" if result.ended else "nothing"
        await self._audit("unmute", command.target, user_id, user_name, outcome, None)
        if result.ended:
            await self._announce()
        return unmute_reply(result)

    async def list_reply(self, access: Access) -> JSONDict:
        return mutes_reply(await list_mutes(self.sessions, self.clock()), self.clock())

    async def _refusal(self, target: str, access: Access, verb: str) -> JSONDict | None:
        bots = await matching_bots(self.sessions, target.strip())
        if bots:
            allowed = all(access.can("mute", bot.name) for bot in bots)
        else:
            allowed = any("mute" in rule.allow and not rule.bots for rule in access.rules)
        if allowed:
            return None
        if bots:
            text = (
                f":no_entry: {code(target, 200)} matches bots you may not {verb}, so "
                f"nothing was done. Name only bots you have the *mute* permission for."
            )
        else:
            text = (
                f":no_entry: {code(target, 200)} matches no bot yet, so it could later "
                f"match any bot; that needs the *mute* permission on every bot. "
                "Nothing was done."
            )
        return render.reply(f"Not allowed to {verb} {target[:200]}", text)

    async def _announce(self) -> None:
        if self.announce is None:
            return
        try:
            await self.announce()
        except Exception:
            # The mute is stored; the periodic upkeep announces it if this attempt failed.
            log.exception("could not announce a mute change now; the next upkeep will")

    async def _audit(
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
            session.add(
                AuditEntry(
                    at=self.clock(),
                    user_id=user_id[:64],
                    user_name=user_name[:300] if user_name else None,
                    action=action,
                    target=target[:300],
                    outcome=outcome,
                    detail=detail[:2000] if detail else None,
                )
            )
            await session.commit()
