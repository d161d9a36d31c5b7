"""The alert policy: which health changes of a bot are worth a message, and when.

This module is the specification; the README quotes it. It is pure: no I/O and no clock
reads. The caller passes ``now`` and keeps one ``BotAlertState`` per bot between polls
(``to_dict()``/``from_dict()`` give plain JSON values), so a restart resumes exactly where it
was. ``observe()`` is the whole state machine: it takes the state, the health seen at this
poll and the time, and returns the next state and the decisions to announce.

Words
    *observed* health is what the latest poll saw; *announced* health is what the channel
    was last told (or the baseline, when nobody was told anything). A *candidate* is an
    observed health that differs from the announced one and is waiting for confirmation.
    An *incident* is open while the announced health is a problem that was alerted.

Baseline
    The first sight of a bot is a baseline (``initial_state``): nothing is announced, whatever
    its health. Nothing already announced is announced again after a restart, because the
    state is persisted; a change that happened while the app was down is a candidate at the
    first poll after the restart and alerts once, when confirmed.

Confirmation
    A change is announced only after it held for ``confirm_polls`` consecutive polls; the
    poll that first sees it counts as one, so ``confirm_polls=1`` announces at once. If the
    health reverts to the announced one before that, nothing is announced at all; if it
    moves to a third health, confirmation starts again for that health. Every health other
    than ``ok`` is a problem and goes through the same confirmation: ``unknown`` (the
    renderer shows the raw value) and ``away`` (low severity) included, and so do
    ``stopped`` and ``ready`` when nobody stopped the bot by hand. Recovery (back to ``ok``)
    is confirmed the same way.

    A confirmed change gives ``PROBLEM`` when it opens an incident (from ``ok``, or from a
    problem nobody was alerted about, such as a manual stop or a baseline), ``PROBLEM_CHANGED``
    when an incident is open and the problem changes (``down`` to ``stopped``), and
    ``RECOVERED`` when an incident is open and the bot is back to ``ok``. A confirmed return
    to ``ok`` with no incident open (after a manual stop, or from a baseline problem) is
    announced silently: there is nothing to recover from.

Manual Start and Stop
    A new manual operation (from our buttons, or reported by the source with who did it) is
    a ``NOTICE`` at once, without confirmation, and never an outage: it closes any open
    incident, and the health the operation leads to (``stopped`` for a stop, ``ok`` for a
    start or anything else) becomes the announced health. Until the bot reaches that health,
    for at most ``manual_grace``, whatever it passes through (a connector still stopping, a
    cloud connection not yet up after a start) is silent. If the grace runs out first, the
    observed health is judged like any other change, counting the polls it has already held,
    so a start that never comes up alerts as a problem. Manual operations do not count as
    flapping, and they end a flapping episode: a person acting on the bot is a fresh start.

Flapping
    Every *observed* health change is counted, confirmed or not. When ``flapping_changes``
    of them fall within the sliding ``flapping_window``, the bot is flapping: exactly one
    ``FLAPPING`` decision is given, and every other decision is suppressed while the episode
    lasts (the announced health stays as it was). Once no change has been observed for a
    whole window, one ``SETTLED`` decision announces the health the bot settled in, which
    opens an incident if it is a problem, and the episode ends. A bot that flips down and up
    at every poll for ten polls (5 s apart, ``confirm_polls=2``, 4 changes in 15 minutes)
    gives exactly one decision: ``FLAPPING``.

One observation, at most one decision
    ``observe()`` returns a list for the caller's convenience, but it never holds more than
    one decision: every rule above yields one or none.

Time
    Times are timezone-aware. Time never goes backwards in practice; if an input does, it is
    treated as the same instant as the latest observation (nothing crashes, nothing expires).

Cost of a steady poll
    ``needs_evaluation(state)`` is False when nothing is pending (no candidate, no flapping
    episode, no manual operation in progress). The caller may skip ``observe()`` for such a
    bot whose health equals ``state.observed``: the result would be the same.

Reminders
    ``reminder_due()`` says when an open incident deserves a reminder, every ``remind_every``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from chatops.domain.snapshot import ManualOperation
from chatops.domain.status import Health

DEFAULT_CONFIRM_POLLS = 2
DEFAULT_FLAPPING_CHANGES = 4
DEFAULT_FLAPPING_WINDOW = timedelta(minutes=15)
DEFAULT_REMIND_EVERY = timedelta(hours=4)
# Long enough for a LivePerson connector to stop, or to start and connect to both servers.
DEFAULT_MANUAL_GRACE = timedelta(minutes=5)

# Bumped when the shape of BotAlertState.to_dict() changes, so old rows can be migrated.
STATE_FORMAT = 1


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """The policy's knobs, as plain values (the caller converts ``AlertsConfig``)."""

    confirm_polls: int = DEFAULT_CONFIRM_POLLS
    flapping_changes: int = DEFAULT_FLAPPING_CHANGES
    flapping_window: timedelta = DEFAULT_FLAPPING_WINDOW
    remind_every: timedelta = DEFAULT_REMIND_EVERY
    manual_grace: timedelta = DEFAULT_MANUAL_GRACE

    def __post_init__(self) -> None:
        if self.confirm_polls < 1:
            raise ValueError(f"confirm_polls must be at least 1, not {self.confirm_polls}")
        if self.flapping_changes < 2:
            raise ValueError(f"flapping_changes must be at least 2, not {self.flapping_changes}")
        if self.flapping_window <= timedelta(0):
            raise ValueError("flapping_window must be longer than zero")
        if self.manual_grace < timedelta(0):
            raise ValueError("manual_grace must not be negative")


class DecisionKind(StrEnum):
    PROBLEM = "problem"
    PROBLEM_CHANGED = "problem_changed"
    RECOVERED = "recovered"
    NOTICE = "notice"
    FLAPPING = "flapping"
    SETTLED = "settled"


@dataclass(frozen=True, slots=True)
class Decision:
    """Something to announce about one bot.

    ``old`` is the health announced before. ``new`` is the health announced now; for a
    ``NOTICE`` the health the operation leads to, for ``FLAPPING`` the health observed at that
    poll (nothing is announced while flapping). ``since`` is when ``new`` was first observed;
    for ``FLAPPING``, the first change counted in the window; for a ``NOTICE``, when the source
    says the operation was done (never later than ``at``).
    """

    kind: DecisionKind
    old: Health
    new: Health
    at: datetime
    since: datetime
    performed_by: str | None = None
    manual_operation: str | None = None


@dataclass(frozen=True, slots=True)
class BotAlertState:
    """Everything the policy remembers about one bot between polls (plain values only)."""

    announced: Health
    announced_at: datetime
    incident: bool
    observed: Health
    observed_since: datetime
    # Consecutive polls that saw ``observed``, the first one included.
    observed_polls: int
    last_observed_at: datetime
    # Times of observed health changes inside the flapping window, oldest first; at most
    # ``flapping_changes`` of them are kept, which is all the count needs.
    health_changes: tuple[datetime, ...]
    flapping: bool
    # Set while a manual operation is on its way to the health it leads to.
    manual_target: Health | None
    manual_until: datetime | None

    @property
    def candidate(self) -> Health | None:
        """The observed health awaiting confirmation, if it differs from the announced one."""
        return self.observed if self.observed is not self.announced else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready plain values: health names, ISO 8601 times, lists."""
        return {
            "format": STATE_FORMAT,
            "announced": self.announced.value,
            "announced_at": self.announced_at.isoformat(),
            "incident": self.incident,
            "observed": self.observed.value,
            "observed_since": self.observed_since.isoformat(),
            "observed_polls": self.observed_polls,
            "last_observed_at": self.last_observed_at.isoformat(),
            "health_changes": [at.isoformat() for at in self.health_changes],
            "flapping": self.flapping,
            "manual_target": None if self.manual_target is None else self.manual_target.value,
            "manual_until": None if self.manual_until is None else self.manual_until.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BotAlertState:
        """The inverse of ``to_dict()``; raises ValueError naming the first bad item."""
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"alert state: unsupported format {data.get('format')!r}")
        reader = _Reader(data)
        return cls(
            announced=reader.health("announced"),
            announced_at=reader.time("announced_at"),
            incident=reader.flag("incident"),
            observed=reader.health("observed"),
            observed_since=reader.time("observed_since"),
            observed_polls=reader.count("observed_polls"),
            last_observed_at=reader.time("last_observed_at"),
            health_changes=reader.times("health_changes"),
            flapping=reader.flag("flapping"),
            manual_target=reader.optional_health("manual_target"),
            manual_until=reader.optional_time("manual_until"),
        )


class _Reader:
    """Typed access to a stored state, with errors that name the key."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def _get(self, key: str, kind: type | tuple[type, ...]) -> Any:
        if key not in self.data:
            raise ValueError(f"alert state: {key} is missing")
        value = self.data[key]
        # bool is an int in Python; a stored flag must not pass for a count.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"alert state: {key} has the wrong type ({value!r})")
        return value

    def health(self, key: str) -> Health:
        value = self._get(key, str)
        try:
            return Health(value)
        except ValueError:
            raise ValueError(f"alert state: {key} is not a health ({value!r})") from None

    def optional_health(self, key: str) -> Health | None:
        return None if self.data.get(key, ...) is None else self.health(key)

    def time(self, key: str) -> datetime:
        return _parse_time(key, self._get(key, str))

    def optional_time(self, key: str) -> datetime | None:
        return None if self.data.get(key, ...) is None else self.time(key)

    def times(self, key: str) -> tuple[datetime, ...]:
        values = self._get(key, list)
        if not all(isinstance(value, str) for value in values):
            raise ValueError(f"alert state: {key} must be a list of times")
        return tuple(_parse_time(key, value) for value in values)

    def flag(self, key: str) -> bool:
        value: bool = self._get(key, bool)
        return value

    def count(self, key: str) -> int:
        value: int = self._get(key, int)
        if value < 1:
            raise ValueError(f"alert state: {key} must be at least 1 ({value!r})")
        return value


def _parse_time(key: str, value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"alert state: {key} is not an ISO 8601 time ({value!r})") from None
    if parsed.tzinfo is None:
        raise ValueError(f"alert state: {key} has no time zone ({value!r})")
    return parsed


def initial_state(health: Health, now: datetime) -> BotAlertState:
    """The first sight of a bot: a baseline, announced to nobody."""
    return BotAlertState(
        announced=health,
        announced_at=now,
        incident=False,
        observed=health,
        observed_since=now,
        observed_polls=1,
        last_observed_at=now,
        health_changes=(),
        flapping=False,
        manual_target=None,
        manual_until=None,
    )


def needs_evaluation(state: BotAlertState) -> bool:
    """True while something is pending: a candidate, a flapping episode, a manual operation.

    Such a bot must be observed at every poll, even when its health did not change, because
    confirmation, settling and the manual grace all advance with polls and time. Any other
    bot whose health equals ``state.observed`` may be skipped.
    """
    # A manual operation on its way always has a candidate too (the bot is not yet at the
    # announced health); it is named for the reader.
    return state.candidate is not None or state.flapping or state.manual_target is not None


def reminder_due(
    opened_at: datetime, last_reminder_at: datetime | None, now: datetime, remind_every: timedelta
) -> bool:
    """True when an incident opened at ``opened_at`` deserves another reminder.

    A zero or negative ``remind_every`` turns reminders off.
    """
    if remind_every <= timedelta(0):
        return False
    last = opened_at if last_reminder_at is None else max(opened_at, last_reminder_at)
    return now - last >= remind_every


def manual_outcome(operation: str) -> Health:
    """The health a manual operation leads to: a stop stops, anything else starts the bot."""
    return Health.STOPPED if operation.strip().lower() == "stop" else Health.OK


def observe(
    state: BotAlertState,
    health: Health,
    now: datetime,
    config: PolicyConfig,
    *,
    manual: ManualOperation | None = None,
    manual_target: Health | None = None,
) -> tuple[BotAlertState, list[Decision]]:
    """Take one poll's health for a bot; return the next state and what to announce.

    ``manual`` is a manual Start or Stop that is new at this poll (ours, or one the source
    reports): the caller passes each operation once. ``manual_target`` is the health it
    leads the bot to when that is not ``manual_outcome`` (a Stop of one of a bot's two
    connectors leads to ``degraded``, not ``stopped``).
    """
    # A clock that steps back is read as "no time passed" so nothing expires or reorders.
    now = max(now, state.last_observed_at)
    changed = health is not state.observed
    state = replace(
        state,
        observed=health,
        observed_since=now if changed else state.observed_since,
        observed_polls=1 if changed else state.observed_polls + 1,
        last_observed_at=now,
    )

    if manual is not None:
        target = manual_target or manual_outcome(manual.operation)
        return _manual_notice(state, health, now, config, manual, target)

    if state.manual_target is not None:
        assert state.manual_until is not None
        if health is state.manual_target:
            # The operation did what it was for: announced already says so.
            return _finish_manual(state), []
        if now < state.manual_until:
            return state, []
        # The grace ran out before the bot got there: judge it like any other change.
        state = _finish_manual(state)

    changes = _changes_in_window(state.health_changes, now, config)
    if changed:
        changes = (*changes, now)[-config.flapping_changes :]
    state = replace(state, health_changes=changes)

    if state.flapping:
        if changes:
            return state, []
        return _settle(state, health, now)

    if changed and len(changes) >= config.flapping_changes:
        flapping = Decision(DecisionKind.FLAPPING, state.announced, health, now, changes[0])
        return replace(state, flapping=True), [flapping]

    if health is state.announced or state.observed_polls < config.confirm_polls:
        return state, []
    return _confirm(state, health, now)


def _changes_in_window(
    changes: tuple[datetime, ...], now: datetime, config: PolicyConfig
) -> tuple[datetime, ...]:
    return tuple(at for at in changes if now - at < config.flapping_window)


def _confirm(
    state: BotAlertState, health: Health, now: datetime
) -> tuple[BotAlertState, list[Decision]]:
    """The observed health held long enough: announce it."""
    announced = replace(state, announced=health, announced_at=now, incident=health.is_problem)
    if health.is_problem:
        kind = DecisionKind.PROBLEM_CHANGED if state.incident else DecisionKind.PROBLEM
    elif state.incident:
        kind = DecisionKind.RECOVERED
    else:
        # Back to ok from a problem nobody was alerted about: nothing to recover from.
        return announced, []
    return announced, [Decision(kind, state.announced, health, now, state.observed_since)]


def _settle(
    state: BotAlertState, health: Health, now: datetime
) -> tuple[BotAlertState, list[Decision]]:
    """No change for a whole window: the flapping episode ends in the current health."""
    settled = Decision(DecisionKind.SETTLED, state.announced, health, now, state.observed_since)
    next_state = replace(
        state,
        announced=health,
        announced_at=now,
        incident=health.is_problem,
        flapping=False,
    )
    return next_state, [settled]


def _manual_notice(
    state: BotAlertState,
    health: Health,
    now: datetime,
    config: PolicyConfig,
    manual: ManualOperation,
    target: Health,
) -> tuple[BotAlertState, list[Decision]]:
    done_at = now if manual.at is None else min(manual.at, now)
    notice = Decision(
        DecisionKind.NOTICE,
        state.announced,
        target,
        now,
        done_at,
        performed_by=manual.performed_by,
        manual_operation=manual.operation,
    )
    arrived = health is target
    next_state = replace(
        state,
        announced=target,
        announced_at=now,
        incident=False,
        health_changes=(),
        flapping=False,
        manual_target=None if arrived else target,
        manual_until=None if arrived else now + config.manual_grace,
    )
    return next_state, [notice]


def _finish_manual(state: BotAlertState) -> BotAlertState:
    return replace(state, manual_target=None, manual_until=None)
