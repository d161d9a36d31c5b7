"""From a poll to outbox rows: the alert policy, applied inside the poll's transaction.

``PollPlanner`` runs as the poller's ``in_transaction`` hook, after the bot rows are written
and before the commit, so a bot's policy state, its incidents and the outbox rows that
announce them are stored together or not at all (the transactional outbox). It observes
every bot whose health changed, whose manual operation is new, or whose state has
something pending (``needs_evaluation``); a steady poll of a steady fleet reads one index.

The planner only reads and writes; the three jobs are elsewhere:

- the policy state of each bot: chatops.store.alert_state (its rows, read and written in bulk);
- what the policy decides and which alerts that makes: chatops.alerts.plan (pure);
- the incidents and outbox rows the plan writes, digests included: chatops.alerts.outbox_rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.alerts.mutes import active_mutes
from chatops.alerts.outbox_rows import write_plan
from chatops.alerts.plan import (
    Decided,
    Facts,
    observations,
    observe_bots,
    plan_alerts,
    policy_config,
    stored_observation,
)
from chatops.alerts.routing import facts, is_muted
from chatops.config import AlertsConfig
from chatops.domain import BotChange, BotKind, DecisionKind
from chatops.domain.conversations import ConversationLimits
from chatops.store.alert_state import pending_bot_ids, save_state_rows, state_rows, stored_bots
from chatops.store.audit import recent_actors
from chatops.store.bots import cards_by_id, count_pcs_bots
from chatops.store.incidents import incidents_by_id
from chatops.store.models import PollRun


class PollPlanner:
    """The ``in_transaction`` hook: policy states, incidents and outbox rows of one poll."""

    def __init__(self, alerts: AlertsConfig, limits: ConversationLimits | None = None) -> None:
        self.alerts = alerts
        self.limits = limits or ConversationLimits()
        self.policy = policy_config(alerts)

    async def __call__(
        self, session: AsyncSession, changes: Sequence[BotChange], poll: PollRun, now: datetime
    ) -> int:
        """Run the policy for this poll; return how many outbox rows were written."""
        assert poll.id is not None
        observed, removed = observations(changes, self.alerts)
        unchanged = await pending_bot_ids(session) - observed.keys() - removed
        for bot in await stored_bots(session, unchanged):
            observed[bot.bot_id] = stored_observation(bot, self.alerts)
        if not observed:
            return 0
        stored = await state_rows(session, observed)
        rows, decided = observe_bots(observed, stored, self.policy, now)
        written = 0
        if decided:
            written = await self._alert(session, decided, poll.id, now)
        await save_state_rows(session, rows, now)
        return written

    async def _alert(
        self, session: AsyncSession, decided: list[Decided], poll_id: int, now: datetime
    ) -> int:
        """Plan the alerts the decisions make, and write them."""
        bots = await cards_by_id(session, {bot_id for bot_id, _, _ in decided}, self.limits)
        with_bots = [
            (bots[bot_id], row, decision) for bot_id, row, decision in decided if bot_id in bots
        ]
        incident_ids = {
            incident_id
            for _, row, _ in with_bots
            for incident_id in (row.incident_id, row.flapping_id)
            if incident_id is not None
        }
        incidents = await incidents_by_id(session, incident_ids)
        mutes = await active_mutes(session, now)
        muted = frozenset(bot.id for bot, _, _ in with_bots if is_muted(facts(bot), mutes))
        notices = any(decision.kind is DecisionKind.NOTICE for _, _, decision in with_bots)
        actors = await recent_actors(session, now) if notices else {}
        needs_pcs = any(bot.kind == BotKind.PCS.value for bot, _, _ in with_bots)
        pcs = await count_pcs_bots(session) if needs_pcs else 0
        known = Facts(incidents=incidents, muted=muted, actors=actors, pcs_count=pcs)
        plan = plan_alerts(with_bots, known, self.alerts, now)
        return await write_plan(
            session, plan, poll_id=poll_id, digest_after=self.alerts.digest_after, now=now
        )
