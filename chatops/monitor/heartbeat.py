"""The heartbeat: the leader pings a push monitor after its polls, so that someone outside
learns when chatops itself stops working (healthchecks.io, Cronitor, Uptime Kuma push
monitors and Better Stack heartbeats all take a plain GET).

``heartbeat: {url: ..., every: 1m, timeout: 5s}`` in the config. After a tick on the
leader the runtime calls :meth:`Heartbeat.after_poll` with whether the poll succeeded while
the alert relay was up:

- good: a GET of ``url``; bad (the poll failed, the database was unreachable, or the relay
  is down): a GET of ``url`` + ``/fail``;
- at most one ping per ``every``, except that the first bad ping after a good one goes out
  at once (the news that matters); the good ping after a bad one waits for its turn, so a
  flapping poll sends at most two pings per ``every``;
- the ping runs in a task of its own with a short timeout, one at a time: a hanging or
  failing endpoint never delays or fails a poll, and pings do not pile up behind it;
- every ping is counted in ``chatops_heartbeat_total{ping, outcome}``; a change between
  delivered and not delivered is logged once (never the URL's path, which is the secret of
  most push monitors).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import httpx

from chatops.config import HeartbeatConfig
from chatops.domain.durations import format_duration
from chatops.metrics import Metrics
from chatops.store.models import utcnow

log = logging.getLogger(__name__)

USER_AGENT = "chatops-heartbeat"

Ping = Literal["success", "fail"]


def fail_url(url: str) -> str:
    """``url`` with ``/fail`` appended to its path, its query kept: healthchecks.io's and
    Better Stack's convention."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/fail"))


def _where(url: str) -> str:
    """The part of a ping URL that may be logged: scheme and host."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class Heartbeat:
    def __init__(
        self,
        config: HeartbeatConfig,
        metrics: Metrics,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.url = config.url
        self.every: timedelta = config.every
        self.timeout = config.timeout.total_seconds()
        self.metrics = metrics
        self.clock = clock
        self._client: httpx.AsyncClient | None = None
        self._in_flight: asyncio.Task[None] | None = None
        self._last_at: datetime | None = None
        self._last_ping: Ping | None = None
        self._delivering: bool | None = None

    def after_poll(self, ok: bool) -> None:
        """Send a ping if one is due; returns at once (call it on the event loop)."""
        if self._in_flight is not None and not self._in_flight.done():
            return  # the endpoint is slow: this ping is skipped, a later one will go
        ping: Ping = "success" if ok else "fail"
        now = self.clock()
        due = self._last_at is None or now - self._last_at >= self.every
        news = ping == "fail" and self._last_ping == "success"
        if not (due or news):
            return
        if self._last_at is None:
            log.info(
                "heartbeat: pinging %s at most every %s",
                _where(self.url),
                format_duration(self.every),
            )
        self._last_at, self._last_ping = now, ping
        self._in_flight = asyncio.get_running_loop().create_task(self._send(ping), name="heartbeat")

    async def _send(self, ping: Ping) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout, headers={"User-Agent": USER_AGENT}
            )
        url = self.url if ping == "success" else fail_url(self.url)
        try:
            response = await self._client.get(url)
        except httpx.TimeoutException:
            self._note(ping, "unreachable", f"no answer within {self.timeout:g}s")
        except httpx.HTTPError as exc:
            self._note(ping, "unreachable", f"cannot connect ({type(exc).__name__})")
        else:
            if response.is_success:
                self._note(ping, "delivered", None)
            else:
                self._note(ping, "rejected", f"HTTP {response.status_code}")

    def _note(self, ping: Ping, outcome: str, problem: str | None) -> None:
        self.metrics.heartbeat.labels(ping, outcome).inc()
        delivered = problem is None
        if delivered == self._delivering:
            return
        if problem is not None:
            log.warning(
                "heartbeat: %s did not take the %s ping: %s; polls go on, and pings are"
                " tried again at their time",
                _where(self.url),
                ping,
                problem,
            )
        elif self._delivering is False:
            log.info("heartbeat: %s takes pings again", _where(self.url))
        self._delivering = delivered

    async def aclose(self) -> None:
        if self._in_flight is not None:
            self._in_flight.cancel()
            await asyncio.gather(self._in_flight, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
