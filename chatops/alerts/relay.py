"""The outbox relay: claim pending alert rows, deliver them to Slack, record what happened.

One pass (``relay_once``):

1. Rows left ``sending`` by a relay that died are given back once their lease has expired.
2. Due rows are listed in id order. A row waits while an earlier row of the same incident
   is unfinished, so an outage's message exists before anything edits it or replies in its
   thread, and edits land in the order they were decided.
3. At most one row per *lane* is taken: a channel for new messages (Slack allows about one
   per second per channel, so each channel is paced), one lane for edits (``chat.update``
   is Tier 3). A lane blocked by a 429 is skipped until its ``Retry-After`` has passed;
   the other lanes go on.
4. The chosen rows are claimed (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a
   compare-and-set on ``status`` elsewhere), committed, delivered concurrently, and each
   outcome committed at once, so the window in which a crash can repeat a message is the
   time between Slack's answer and that commit.

Outcomes: sent (``slack_ts`` kept; an incident's message reference is stored with it);
429 (back to pending at ``now + Retry-After``, the lane blocked as long); 5xx and network
errors (back to pending with exponential backoff, as long as it takes: an outage of Slack
delays alerts, it does not lose them); permanent errors (``dead``, with one log line that
says what to fix, and a metric; never retried).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel.ext.asyncio.session import AsyncSession

from chatops.metrics import Metrics, slack_error_outcome
from chatops.store import outbox
from chatops.store.engine import SessionFactory
from chatops.store.models import utcnow
from chatops.store.outbox import ClaimedRow, DueRow

log = logging.getLogger(__name__)

EDIT_LANE: Final = "chat.update"

# What to tell the operator for each error that no retry can fix.
PERMANENT_ERRORS: Final[Mapping[str, str]] = {
    "channel_not_found": "no such channel, or the app cannot see it: check alerts.channel "
    "and alerts.routes",
    "not_in_channel": "the app is not a member of the channel: invite it (/invite @botstatus)",
    "is_archived": "the channel is archived: unarchive it or route alerts elsewhere",
    "channel_is_archived": "the channel is archived: unarchive it or route alerts elsewhere",
    "invalid_auth": "SLACK_BOT_TOKEN is not valid: reinstall the app and update the token",
    "not_authed": "no Slack token was sent: set SLACK_BOT_TOKEN",
    "token_revoked": "the Slack token was revoked: reinstall the app and update SLACK_BOT_TOKEN",
    "account_inactive": "the Slack token belongs to a deleted user or app: reinstall the app",
    "token_expired": "the Slack token expired: reinstall the app and update SLACK_BOT_TOKEN",
    "missing_scope": "the app lacks the chat:write scope: add it and reinstall the app",
    "restricted_action": "the workspace does not let the app post there: ask a Slack admin",
    "msg_too_long": "the message is over Slack's size limit: a chatops bug, please report it",
    "invalid_blocks": "the message breaks Block Kit rules: a chatops bug, please report it",
    "invalid_blocks_format": "the message breaks Block Kit rules: a chatops bug, please report it",
    "no_text": "the message was empty: a chatops bug, please report it",
}
# ok:false answers that mean Slack had a bad moment, worth another try.
TRANSIENT_ERRORS: Final = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
# chat.update on a message that cannot be edited any more: post the follow-up anyway.
UNEDITABLE: Final = frozenset(
    {"message_not_found", "cant_update_message", "edit_window_closed", "msg_not_found"}
)

DEFAULT_POST_INTERVAL = 1.0
# Slack allows "short bursts" above one message per second per channel; three is modest.
DEFAULT_BURST = 3
DEFAULT_EDIT_INTERVAL = 1.0
DEFAULT_LEASE = timedelta(seconds=60)
LEASE_CHECK_EVERY = 5.0
DEFAULT_BACKOFF = 2.0
DEFAULT_MAX_BACKOFF = 300.0


class _RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited for {retry_after}s")
        self.retry_after = retry_after


class _Transient(Exception):
    pass


class _Permanent(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _lane_of(row: DueRow | ClaimedRow) -> str:
    """Edits share one lane (``chat.update``); new messages are paced per channel."""
    return EDIT_LANE if row.kind == "edit" else row.channel


class _Lane:
    """Pacing of one lane: a token bucket (one token per ``interval``, ``burst`` at most)
    and a hard block until a 429's Retry-After has passed."""

    def __init__(self, interval: float, burst: int) -> None:
        self.interval = interval
        self.burst = max(burst, 1)
        self.tokens = float(self.burst)
        self.updated: float | None = None
        self.blocked_until = 0.0

    def _refill(self, now: float) -> None:
        if self.interval <= 0:
            self.tokens = float(self.burst)
        elif self.updated is not None and now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) / self.interval)
        if self.updated is None or now > self.updated:
            self.updated = now

    def ready_at(self, now: float) -> float:
        """When the lane may take a row (``now`` or earlier: at once)."""
        self._refill(now)
        at = now if self.tokens >= 1 else now + (1 - self.tokens) * self.interval
        return max(at, self.blocked_until)

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens = max(self.tokens - 1, 0.0) if self.interval > 0 else self.tokens

    def block(self, until: float) -> None:
        # Slack asked for a pause: no burst right after it either.
        self.blocked_until = max(self.blocked_until, until)
        self.tokens = 0.0
        self.updated = until


@dataclass(slots=True)
class _Progress:
    """What is left of a row once part of it was delivered (its edit, before its post)."""

    remaining: str | None = None


@dataclass(frozen=True, slots=True)
class _Sent:
    ts: str | None
    thread_ts: str | None


class Relay:
    """Delivers outbox rows; ``relay_once`` is one pass, safe to run in several processes."""

    def __init__(
        self,
        sessions: SessionFactory,
        client: AsyncWebClient,
        metrics: Metrics,
        *,
        clock: Callable[[], datetime] = utcnow,
        post_interval: float = DEFAULT_POST_INTERVAL,
        edit_interval: float = DEFAULT_EDIT_INTERVAL,
        lease: timedelta = DEFAULT_LEASE,
        backoff: float = DEFAULT_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        batch: int = 500,
        burst: int = DEFAULT_BURST,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.metrics = metrics
        self.clock = clock
        self.post_interval = post_interval
        self.edit_interval = edit_interval
        self.lease = lease
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.batch = batch
        self.burst = burst
        self._lanes: dict[str, _Lane] = {}
        self._next_lease_check = 0.0
        self._next_due: float | None = None

    # -- one pass ----------------------------------------------------------------------------

    async def relay_once(self) -> int:
        """Deliver at most one row per free lane; return how many rows were handled."""
        now = self.clock()
        async with self.sessions() as session:
            if time.monotonic() >= self._next_lease_check:
                # A write each pass would contend with the poller for SQLite's lock.
                self._next_lease_check = time.monotonic() + LEASE_CHECK_EVERY
                await self._expire_leases(session, now)
            candidates = await outbox.due_rows(session, now, self.batch)
            chosen = self._choose(candidates)
            claimed = (
                await outbox.claim(session, [row.id for row in chosen], now + self.lease)
                if chosen
                else []
            )
            await session.commit()
        if claimed:
            await asyncio.gather(*(self._handle(row) for row in claimed))
        await self._update_gauge()
        await self._plan_wakeup(candidates, bool(claimed))
        return len(claimed)

    def seconds_until_due(self) -> float | None:
        """How long the next pass may sleep: None when nothing is known to be waiting."""
        if self._next_due is None:
            return None
        return max(0.0, self._next_due - time.monotonic())

    async def release_in_flight(self) -> int:
        """Give back every ``sending`` row now (one process per database: SQLite)."""
        async with self.sessions() as session:
            released = await outbox.release_sending(session)
            await session.commit()
        if released:
            log.warning(
                "%d alert(s) were being sent when the last process stopped; sending them "
                "again (Slack may show one of them twice)",
                released,
            )
        return released

    async def _expire_leases(self, session: AsyncSession, now: datetime) -> None:
        released = await outbox.release_expired_claims(session, now)
        if released:
            log.warning(
                "%d alert(s) were claimed by a relay that stopped answering; sending them again",
                released,
            )

    def _lane(self, name: str) -> _Lane:
        lane = self._lanes.get(name)
        if lane is None:
            interval = self.edit_interval if name == EDIT_LANE else self.post_interval
            lane = self._lanes[name] = _Lane(interval, self.burst)
        return lane

    def _choose(self, candidates: list[DueRow]) -> list[DueRow]:
        now = time.monotonic()
        chosen: dict[str, DueRow] = {}
        for candidate in candidates:
            lane = _lane_of(candidate)
            if lane in chosen or self._lane(lane).ready_at(now) > now:
                continue
            chosen[lane] = candidate
        return list(chosen.values())

    # -- delivering one row ------------------------------------------------------------------

    async def _handle(self, row: ClaimedRow) -> None:
        lane = _lane_of(row)
        self._lane(lane).take(time.monotonic())
        progress = _Progress()
        try:
            sent = await self._deliver(row, progress)
        except _RateLimited as limited:
            self._lane(lane).block(time.monotonic() + limited.retry_after)
            self.metrics.alerts.labels("retried").inc()
            await self._retry(
                row, timedelta(seconds=limited.retry_after), "ratelimited", progress, failed=False
            )
        except _Transient as exc:
            self.metrics.alerts.labels("retried").inc()
            await self._retry(row, self._backoff(row.attempts), str(exc), progress)
        except _Permanent as exc:
            self.metrics.alerts.labels("dead").inc()
            await self._dead(row, exc.error)
        except Exception as exc:
            # A bug here must not leave the row claimed forever or stop the other lanes.
            log.exception("alert %d could not be delivered because of an internal error", row.id)
            self.metrics.alerts.labels("retried").inc()
            await self._retry(row, self._backoff(row.attempts), f"internal error: {exc}", progress)
        else:
            self.metrics.alerts.labels("sent").inc()
            await self._sent(row, sent)

    async def _deliver(self, row: ClaimedRow, progress: _Progress) -> _Sent:
        body = json.loads(row.payload)
        update: dict[str, Any] | None = body.get("update")
        post: dict[str, Any] | None = body.get("post")
        if update is not None and row.target is not None:
            channel, ts = row.target
            try:
                await self._call("chat.update", channel=channel, ts=ts, **_message_args(update))
            except _Permanent as exc:
                if exc.error not in UNEDITABLE:
                    raise
                log.info("alert %d: the message to edit is gone (%s); posting anyway", row.id, exc)
            # A retry of the post must not edit again (and risk another failure).
            body["update"] = None
            progress.remaining = json.dumps(body)
        if post is None:
            return _Sent(None, None)
        thread_ts: str | None = None
        if body.get("in_thread") and row.target is not None:
            thread_ts = row.target[1]
        args = _message_args(post)
        try:
            reply = await self._call(
                "chat.postMessage", channel=row.channel, thread_ts=thread_ts, **args
            )
        except _Permanent as exc:
            if exc.error != "thread_not_found" or thread_ts is None:
                raise
            thread_ts = None
            reply = await self._call("chat.postMessage", channel=row.channel, **args)
        posted = reply.get("ts")
        return _Sent(posted if isinstance(posted, str) else None, thread_ts)

    async def _call(self, method: str, **args: Any) -> Mapping[str, Any]:
        args = {key: value for key, value in args.items() if value is not None}
        try:
            response = await self.client.api_call(method, json=args)
        except SlackApiError as exc:
            status = exc.response.status_code
            error = _error_of(exc.response.data)
            if status == 429:
                self.metrics.slack_calls.labels(method, "ratelimited").inc()
                self.metrics.slack_rate_limited.labels(method).inc()
                raise _RateLimited(_retry_after(exc.response.headers)) from None
            if status >= 500 or error in TRANSIENT_ERRORS:
                self.metrics.slack_calls.labels(method, "server_error").inc()
                raise _Transient(
                    f"Slack answered HTTP {status} ({error or 'no error code'})"
                ) from None
            self.metrics.slack_calls.labels(method, slack_error_outcome(error)).inc()
            raise _Permanent(error or f"http_{status}") from None
        except (aiohttp.ClientError, TimeoutError, OSError, SlackClientError) as exc:
            self.metrics.slack_calls.labels(method, "network_error").inc()
            raise _Transient(f"network error: {type(exc).__name__}: {exc}") from None
        self.metrics.slack_calls.labels(method, "ok").inc()
        data = response.data
        return data if isinstance(data, Mapping) else {}

    def _backoff(self, attempts: int) -> timedelta:
        delay = min(self.max_backoff, self.backoff * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=delay * random.uniform(0.8, 1.2))

    # -- recording outcomes ------------------------------------------------------------------

    async def _sent(self, row: ClaimedRow, sent: _Sent) -> None:
        async with self.sessions() as session:
            await outbox.mark_sent(session, row, sent.ts, sent.thread_ts, self.clock())
            await session.commit()

    async def _retry(
        self,
        row: ClaimedRow,
        delay: timedelta,
        error: str,
        progress: _Progress,
        *,
        failed: bool = True,
    ) -> None:
        """Back to pending; a 429 is Slack pacing us, not a failure, so it does not count
        towards the backoff (``attempts`` counts failed and successful tries only)."""
        log.info(
            "alert %d to %s not delivered (%s); retrying in %.1fs",
            row.id,
            row.channel,
            error,
            delay.total_seconds(),
        )
        async with self.sessions() as session:
            await outbox.mark_for_retry(
                session,
                row.id,
                at=self.clock() + delay,
                error=error,
                failed=failed,
                remaining=progress.remaining,
            )
            await session.commit()

    async def _dead(self, row: ClaimedRow, error: str) -> None:
        hint = PERMANENT_ERRORS.get(error, "Slack refused it; see the error code in its API docs")
        log.error(
            "alert %d (%s) to channel %s will not be delivered: Slack said %s: %s. "
            "It is kept as dead in the outbox.",
            row.id,
            row.kind,
            row.channel,
            error,
            hint,
        )
        async with self.sessions() as session:
            await outbox.mark_dead(session, row.id, f"{error}: {hint}")
            await session.commit()

    async def _update_gauge(self) -> None:
        async with self.sessions() as session:
            self.metrics.outbox_pending.set(await outbox.count_unsent(session))

    async def _plan_wakeup(self, candidates: list[DueRow], worked: bool) -> None:
        """Remember when the next pass has something to do, for the loop's sleep."""
        now = time.monotonic()
        if worked:
            self._next_due = now
            return
        lanes = {_lane_of(candidate) for candidate in candidates}
        waits = [self._lane(lane).ready_at(now) for lane in lanes]
        async with self.sessions() as session:
            earliest = await outbox.earliest_pending(session)
        if earliest is not None:
            wait = (_aware(earliest) - self.clock()).total_seconds()
            waits.append(now + max(wait, 0.0))
        self._next_due = min(waits) if waits else None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _message_args(message: Mapping[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {"text": message.get("text", "")}
    if message.get("blocks"):
        args["blocks"] = message["blocks"]
    return args


def _error_of(data: Any) -> str | None:
    if isinstance(data, Mapping):
        error = data.get("error")
        return str(error) if error else None
    return None


def _retry_after(headers: Any) -> float:
    value: Any = None
    if headers is not None:
        for key in headers:
            if str(key).lower() == "retry-after":
                value = headers[key]
                break
    try:
        seconds = float(value) if value is not None else 1.0
    except (TypeError, ValueError):
        seconds = 1.0
    return max(seconds, 0.0)
