"""Alerts that do not come from a bot's health: the status source, reminders, mutes.

Each function writes outbox rows and the state that says they were written in the caller's
transaction, guarded so that running it twice (or in two replicas) writes them once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.alerts import render
from chatops.alerts.mute_views import scope_of
from chatops.alerts.mutes import active_mute, active_mutes
from chatops.alerts.outbox_rows import new_row, payload
from chatops.alerts.routing import ActiveMute, Reach, channels_for, facts, is_muted
from chatops.config import AlertsConfig
from chatops.domain import Health, reminder_due
from chatops.jsontypes import JSONDict
from chatops.store import incidents, outbox, polls
from chatops.store import mutes as mute_rows
from chatops.store.acks import owner_of
from chatops.store.alert_models import AlertIncident, AlertMuteException
from chatops.store.bots import cards_by_id, listed_bots
from chatops.store.cards import BotCard
from chatops.store.models import Bot

log = logging.getLogger(__name__)

SOURCE = "status_source"


# -- the status source -------------------------------------------------------------------


async def source_failed(
    session: AsyncSession, alerts: AlertsConfig, unreachable_after: int, now: datetime
) -> int:
    """Announce the outage once ``unreachable_after`` polls in a row failed (once per outage).

    Reads only the poll runs, so it can run after a failed poll and from the periodic
    upkeep alike; the error shown is the latest failed poll's.
    """
    failed = await polls.failed_polls_in_a_row(session)
    if failed < unreachable_after:
        return 0
    state = await incidents.source_health(session, SOURCE)
    if state is not None and state.unreachable:
        return 0
    error = await polls.latest_error(session)
    channel = alerts.channel
    if channel is None:
        log.warning("the status source is unreachable but alerts.channel is not set: not announced")
        return 0
    last_ok = await polls.last_successful_poll(session)
    since = await polls.first_started_after(session, last_ok.id if last_ok and last_ok.id else 0)
    since = since or now
    incident = AlertIncident(
        kind="source", channel=channel, health=Health.UNKNOWN.value, since=since, opened_at=now
    )
    await incidents.add_incidents(session, [incident])
    assert incident.id is not None
    last_success = last_ok.finished_at if last_ok is not None else None
    message = render.source_unreachable(failed, error, last_success, now)
    row = new_row(
        kind="source_down",
        channel=channel,
        dedupe_key=f"source:{incident.id}:down",
        body=payload(post=message),
        now=now,
        incident_id=incident.id,
    )
    await outbox.add_rows(session, [(row, [incident])])
    incidents.mark_source_unreachable(session, state, SOURCE, incident.id, now)
    log.warning("announcing that the status source is unreachable (%d polls failed)", failed)
    return 1


async def source_succeeded(session: AsyncSession, now: datetime) -> int:
    """In a successful poll's transaction: announce the recovery of an announced outage."""
    state = await incidents.source_health(session, SOURCE)
    if state is None or not state.unreachable:
        return 0
    state.unreachable = False
    state.updated_at = now
    incident = (
        await incidents.get_incident(session, state.incident_id) if state.incident_id else None
    )
    state.incident_id = None
    if incident is None or incident.closed_at is not None:
        return 0
    incident.closed_at = now
    incident.resolution = "recovered"
    body = payload(
        post=render.source_recovered_reply(incident.since, now),
        in_thread=True,
        update=render.source_recovered_update(incident.since, now, None, owner_of(incident)),
    )
    outbox.add_row(
        session,
        new_row(
            kind="source_up",
            channel=incident.channel,
            dedupe_key=f"source:{incident.id}:up",
            body=body,
            now=now,
            incident_id=incident.id,
        ),
    )
    log.info("the status source answers again; announcing the recovery")
    return 1


# -- reminders ---------------------------------------------------------------------------


async def write_reminders(session: AsyncSession, alerts: AlertsConfig, now: datetime) -> int:
    """One reminder per open incident every ``alerts.remind_every``, in its thread; none
    while it is acknowledged (a digest: while every open bot of it is)."""
    every = alerts.remind_every
    due = [
        i
        for i in await incidents.open_with_messages(session)
        if reminder_due(i.opened_at, i.last_reminder_at, now, every)
    ]
    if not due:
        return 0
    mutes = await active_mutes(session, now)
    bots = await cards_by_id(session, [i.bot_id for i in due if i.bot_id is not None])
    written = 0
    for incident in due:
        message = await _reminder_message(session, incident, bots, mutes, now)
        if message is None:
            continue
        number = incident.reminders + 1
        if not await incidents.claim_reminder(session, incident, now):
            continue  # another replica reminded first
        outbox.add_row(
            session,
            new_row(
                kind="reminder",
                channel=incident.channel,
                dedupe_key=f"reminder:{incident.id}:{number}",
                body=payload(post=message, in_thread=True),
                now=now,
                incident_id=incident.id,
                bot_id=incident.bot_id,
            ),
        )
        written += 1
    return written


async def _reminder_message(
    session: AsyncSession,
    incident: AlertIncident,
    bots: dict[str, BotCard],
    mutes: list[ActiveMute],
    now: datetime,
) -> JSONDict | None:
    if incident.kind == "source":
        return render.source_reminder(incident.since, now)
    if incident.kind == "digest":
        assert incident.id is not None
        children = await incidents.open_children_healths(session, incident.id)
        counts = render.health_counts([render.health_of(h) for h in children])
        return render.digest_reminder(counts, incident.opened_at, now) if counts else None
    bot = bots.get(incident.bot_id or "")
    if bot is None or bot.bot.removed_at is not None or is_muted(facts(bot), mutes):
        return None
    return render.reminder(bot, render.health_of(incident.health), incident.since, now)


# -- mutes -------------------------------------------------------------------------------


async def announce_mutes(session: AsyncSession, alerts: AlertsConfig, now: datetime) -> int:
    """Announce new mutes, the end of mutes that were unmuted or have expired, and the
    exceptions cut from mutes that stay in force."""
    await mute_rows.end_expired(session, now)
    mutes = await mute_rows.unannounced(session)
    exceptions = await mute_rows.unannounced_exceptions(session)
    if not mutes and not exceptions:
        # Nothing to tell (almost always): the fleet is not read (thousands of rows, tens of
        # ms of the event loop at 10,000 connectors, after every poll).
        return 0
    bots = await listed_bots(session)
    written = await _announce_exceptions(session, alerts, exceptions, bots, now)
    cuts = await mute_rows.exceptions_of(
        session, [mute.id for mute in mutes if mute.id is not None]
    )
    for mute in mutes:
        silenced = active_mute(mute, cuts.get(mute.id or 0, ())).silences
        matching = [bot for bot in bots if silenced(facts(bot))]
        assert mute.id is not None
        if mute.announced_at is None:
            if not await mute_rows.claim_start_announcement(session, mute.id, now):
                continue
            if mute.ended_at is not None:
                # Ended before anyone was told it began: say nothing of either.
                await mute_rows.skip_end_announcement(session, mute.id, now)
                continue
            channels = channels_for([facts(bot) for bot in matching], alerts)
            await mute_rows.set_channels(session, mute.id, channels)
            message = render.mute_created(
                mute.target,
                mute.created_by,
                mute.expires_at,
                mute.expires_at - mute.created_at,
                mute.reason,
                len(matching),
            )
            written += post_in_channels(
                session, channels, "mute", f"mute:{mute.id}:start", message, now
            )
            continue
        if not await mute_rows.claim_end_announcement(session, mute.id, now):
            continue
        trouble = sorted(
            (
                (bot.name, render.health_of(bot.health))
                for bot in matching
                if render.health_of(bot.health).is_problem
            ),
            key=lambda pair: (pair[1].severity, pair[0].casefold()),
        )
        ended_at = mute.ended_at or now
        message = render.mute_ended(mute.target, mute.ended_by, ended_at, trouble)
        channels = json.loads(mute.channels or "[]")
        written += post_in_channels(
            session, channels, "mute_ended", f"mute:{mute.id}:end", message, now
        )
    return written


def post_in_channels(
    session: AsyncSession,
    channels: Sequence[str],
    kind: str,
    key: str,
    message: JSONDict,
    now: datetime,
) -> int:
    """One outbox row posting ``message`` in each channel; how many were written."""
    for channel in channels:
        outbox.add_row(
            session,
            new_row(
                kind=kind,
                channel=channel,
                dedupe_key=f"{key}:{channel}",
                body=payload(post=message),
                now=now,
            ),
        )
    return len(channels)


async def _announce_exceptions(
    session: AsyncSession,
    alerts: AlertsConfig,
    exceptions: Sequence[AlertMuteException],
    bots: Sequence[Bot],
    now: datetime,
) -> int:
    """Tell the channels of the bots an exception freed that they alert again.

    An exception to a mute that has ended meanwhile says nothing: the end of the mute is
    announced on its own.
    """
    if not exceptions:
        return 0
    mutes = await mute_rows.mute_summaries(session, {e.mute_id for e in exceptions})
    written = 0
    for exception in exceptions:
        assert exception.id is not None
        taken = await mute_rows.claim_exception_announcement(session, exception.id, now)
        mute = mutes.get(exception.mute_id)
        if not taken or mute is None or mute.ended_at is not None:
            continue
        muted = Reach(mute.target, scope_of(mute.scope))
        cut = Reach(exception.target, scope_of(exception.scope))
        freed = [facts(bot) for bot in bots]
        freed = [bot for bot in freed if muted.reaches(bot) and cut.reaches(bot)]
        message = render.mute_excepted(
            exception.target, exception.created_by, mute.target, mute.created_by, len(freed)
        )
        channels = channels_for(freed, alerts)
        key = f"mute-exception:{exception.id}"
        written += post_in_channels(session, channels, "mute_exception", key, message, now)
    return written
