"""Readiness (``/readyz``, and ``chatops_ready`` on each scrape): is this replica fit to
take traffic?

- ``database``: the database answers ``SELECT 1`` within ``READINESS_TIMEOUT``.
- ``polls``: the last successful poll (whoever made it) is younger than three intervals.
- ``slack``: Slack's ``auth.test`` passed (asked at most once a minute, every ten seconds
  while it fails; concurrent probes share one call).
- ``relay``: the alert relay runs (idle on a follower; not while it is down and being
  started again).

The checks run side by side (``chatops.web.app``), so ``/readyz`` answers within
``SLACK_AUTH_TIMEOUT`` whatever is broken: inside the chart's readiness probe timeout (5 s,
deploy/helm/chatops/values.yaml).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from chatops.store.engine import SessionFactory, describe_database_error, ping
from chatops.store.models import utcnow
from chatops.store.polls import last_success
from chatops.web.app import ReadinessCheck

# A database that does not answer a readiness check within this counts as down.
READINESS_TIMEOUT = 2.0
SLACK_AUTH_TIMEOUT = 3.0

Check = tuple[bool, str]


class SlackAuthCheck:
    """Readiness: Slack's ``auth.test`` with our token, remembered between probes.

    A success is kept for ``ok_for`` and a failure for ``failed_for`` (so a fixed token is
    seen soon), and concurrent probes share one call: probes never multiply Slack calls.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        ok_for: timedelta = timedelta(minutes=1),
        failed_for: timedelta = timedelta(seconds=10),
        timeout: float = SLACK_AUTH_TIMEOUT,
    ) -> None:
        self.client = client
        self.ok_for = ok_for
        self.failed_for = failed_for
        self.timeout = timeout
        self._result: Check | None = None
        self._valid_until = 0.0
        self._one_call = asyncio.Lock()

    async def __call__(self) -> Check:
        async with self._one_call:
            if self._result is None or time.monotonic() >= self._valid_until:
                self._result = await self._ask()
                keep = self.ok_for if self._result[0] else self.failed_for
                self._valid_until = time.monotonic() + keep.total_seconds()
            return self._result

    async def _ask(self) -> Check:
        try:
            response = await asyncio.wait_for(self.client.auth_test(), self.timeout)
        except SlackApiError as exc:
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            return False, f"auth.test failed: {error or f'HTTP {exc.response.status_code}'}"
        except TimeoutError:
            return False, f"auth.test: Slack did not answer within {self.timeout:g}s"
        except (aiohttp.ClientError, OSError, SlackClientError) as exc:
            return False, f"auth.test: cannot reach Slack ({type(exc).__name__})"
        return True, f"auth.test ok (team {response.get('team')}, user {response.get('user')})"


@dataclass
class Readiness:
    """The readiness checks of one replica, by name, for ``WebParts.readiness``."""

    engine: AsyncEngine
    sessions: SessionFactory
    interval: timedelta
    slack_auth: SlackAuthCheck
    # The alert relay's health; None when this process has no alert service.
    relay_health: Callable[[], Check] | None = None
    clock: Callable[[], datetime] = utcnow

    def checks(self) -> list[tuple[str, ReadinessCheck]]:
        return [
            ("database", self.database),
            ("polls", self.polls),
            ("slack", self.slack_auth),
            ("relay", self.relay),
        ]

    async def database(self) -> Check:
        try:
            await asyncio.wait_for(ping(self.engine), READINESS_TIMEOUT)
        except Exception as exc:
            return False, _database_problem(exc)
        return True, "reachable"

    async def polls(self) -> Check:
        async def last_poll_age() -> timedelta | None:
            async with self.sessions() as session:
                last = await last_success(session)
            return None if last is None else self.clock() - last.finished_at

        try:
            age = await asyncio.wait_for(last_poll_age(), READINESS_TIMEOUT)
        except Exception as exc:
            return False, f"cannot tell: {_database_problem(exc)}"
        if age is None:
            return False, "no successful poll yet"
        seconds = int(age.total_seconds())
        limit = int((3 * self.interval).total_seconds())
        if age > 3 * self.interval:
            return False, f"last successful poll {seconds}s ago (stale after {limit}s)"
        return True, f"last successful poll {seconds}s ago"

    async def relay(self) -> Check:
        if self.relay_health is None:
            return True, "no alert service in this process"
        return self.relay_health()


def _database_problem(exc: Exception) -> str:
    if isinstance(exc, TimeoutError):
        return f"the database did not answer within {READINESS_TIMEOUT:g}s"
    return f"the database is unavailable: {describe_database_error(exc)}"
