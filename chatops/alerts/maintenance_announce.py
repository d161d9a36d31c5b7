"""The start and the end of maintenance windows, told in the channels their bots route to.

``announce_windows`` runs in the poll's transaction and in the periodic upkeep, and claims
each start and each end with a compare-and-set, so each is one message per channel whatever
the number of replicas or restarts. The end runs in the poll's transaction only, before the
planner: a bot that went down during the window and whose outage the policy confirmed
meanwhile (its incident was never opened, being muted) gets its alert now, once, with an
incident a later recovery resolves, grouped into digests as a poll's alerts are
(``outbox_rows.write_plan``); the end message lists the bots still not OK and those that
came back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from functools import partial

from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.alerts import render
from chatops.alerts.maintenance_views import WindowView, reached
from chatops.alerts.mutes import active_mutes
from chatops.alerts.outbox_rows import write_plan
from chatops.alerts.plan import Item, Plan
from chatops.alerts.render import maintenance_replies
from chatops.alerts.routing import channels_for, facts, is_muted, route_for
from chatops.alerts.upkeep import post_in_channels
from chatops.blockkit.text import escape_within
from chatops.config import AlertsConfig
from chatops.domain import BotAlertState, BotKind, Decision, DecisionKind, Health
from chatops.store import maintenance as store
from chatops.store.alert_models import AlertIncident
from chatops.store.alert_state import StateRow, state_rows
from chatops.store.bots import cards_by_id, count_pcs_bots, listed_bots
from chatops.store.cards import BotCard
from chatops.store.incidents import incidents_by_id
from chatops.store.maintenance_models import MaintenanceWindow
from chatops.store.models import Bot

log = logging.getLogger(__name__)


async def announce_windows(
    session: AsyncSession, alerts: AlertsConfig, now: datetime, *, poll_id: int | None = None
) -> int:
    """Announce the windows that began; with ``poll_id``, end the windows that are over (that
    poll's transaction, before the planner). Returns how many outbox rows were written.

    The alerts the ended windows held back go through the poll's digest grouping
    (``outbox_rows.write_plan``): more than ``alerts.digest_after`` for one channel are one
    digest, whichever windows they come from."""
    due = await store.to_announce(session, now)
    if not due:
        return 0
    bots = await listed_bots(session)
    written = 0
    held_back = Plan()
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
            message = maintenance_replies.window_started(WindowView.of(window), len(silenced))
            written += post_in_channels(
                session, channels, "maintenance", f"maintenance:{window.id}:start", message, now
            )
        if poll_id is None or not over:
            continue
        if not await store.claim_end(session, window.id, now):
            continue
        written += await _finish(session, alerts, window, silenced, channels, now, held_back)
    if poll_id is not None and held_back.items:
        written += await write_plan(
            session, held_back, poll_id=poll_id, digest_after=alerts.digest_after, now=now
        )
        for item in held_back.items:
            assert item.opens is not None and item.opens.id is not None
            await store.link_incident(session, item.bot.id, item.opens.id)
    return written


def _announced(bot_id: str, state: str | None) -> BotAlertState | None:
    if state is None:
        return None
    try:
        return BotAlertState.from_dict(json.loads(state))
    except (ValueError, TypeError) as exc:
        log.error(
            "alert state of bot %s is unreadable (%s); the window's end does not alert it",
            bot_id,
            exc,
        )
        return None


async def _finish(
    session: AsyncSession,
    alerts: AlertsConfig,
    window: MaintenanceWindow,
    silenced: Sequence[Bot],
    channels: Sequence[str],
    now: datetime,
    held_back: Plan,
) -> int:
    """Tell the channels the window ended; add to ``held_back`` the alert of each bot the
    window hid an outage of (written after every window's end, grouped as a poll's are)."""
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
    to_alert: list[tuple[BotCard, StateRow, str, BotAlertState]] = []
    for bot in sorted(silenced, key=lambda bot: bot.name.casefold()):
        health = render.health_of(bot.health)
        if not health.is_problem:
            if bot.id in changed:
                fine.append(bot.name)
            continue
        stored = states.get(bot.id)
        state = _announced(bot.id, stored.state) if stored is not None else None
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
        if stored is None or state is None or card is None or channel is None:
            trouble.append((bot.name, health, False))
            continue
        to_alert.append((card, stored, channel, state))
        trouble.append((bot.name, health, True))
    view = WindowView.of(window)
    cancelled_by = window.cancelled_by if window.cancelled_at is not None else None
    message = maintenance_replies.window_ended(view, min(end, now), cancelled_by, trouble, fine)
    # The end first, then each alert it announces.
    written = post_in_channels(
        session, channels, "maintenance", f"maintenance:{window.id}:end", message, now
    )
    for card, row, channel, state in to_alert:
        held_back.items.append(_held_back(window, card, row, channel, state, pcs, now))
    log.info(
        "maintenance window %d (%s) ended: %d bots alerted, %d fine again",
        window.id,
        window.target,
        len(to_alert),
        len(fine),
    )
    return written


def _held_back(
    window: MaintenanceWindow,
    card: BotCard,
    row: StateRow,
    channel: str,
    state: BotAlertState,
    pcs: int,
    now: datetime,
) -> Item:
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
    note = f"Not OK when the maintenance of {escape_within(window.target, 100)} ended."
    message = partial(render.problem, card, announced, since, pcs_count=pcs, note=note)
    decision = Decision(DecisionKind.PROBLEM, Health.OK, announced, now, since)
    return Item(card, row, decision, channel, "problem", announced, opens=incident, message=message)
