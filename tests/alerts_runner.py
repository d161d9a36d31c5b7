"""The alert pipeline as the app runs it, against given fakes: for tests and benchmarks.

``AlertRig`` holds the real LivePerson client, the real poller and the real alert service
over one database. Run as a program it is the process the SIGKILL test kills::

    python -m tests.alerts_runner --lp-url URL --slack-url URL --database FILE [--interval 0.3]

which polls every ``--interval`` seconds and relays until it is killed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import col, select

from chatops.alerts.service import AlertService
from chatops.config import AlertsConfig, EnvSettings, MaintenanceConfig, PollConfig, Route
from chatops.domain import Environment
from chatops.domain.conversations import ConversationLimits
from chatops.metrics import Metrics
from chatops.monitor.poll import Poller, PollResult
from chatops.sources.liveperson import LivePersonSource
from chatops.store.engine import SessionFactory, make_engine, make_session_factory
from chatops.store.migrate import upgrade
from chatops.store.models import OutboxMessage
from tests.clock import ManualClock
from tests.waiting import PATIENCE

ALERTS = "C0ALERTS"
BILLING = "C0BILLING"
DEFAULT_ROUTES = (Route(channel=BILLING, bots=("billing-*",)),)


def alerts_config(**overrides: object) -> AlertsConfig:
    values: dict[str, object] = {"channel": ALERTS, "routes": DEFAULT_ROUTES}
    values.update(overrides)
    return AlertsConfig.model_validate(values)


def lp_secrets(lp_url: str, *, account: str, username: str, password: str) -> EnvSettings:
    return EnvSettings(
        lp_account_id=account,
        lp_username=username,
        lp_password=SecretStr(password),
        lp_api_url=lp_url,
    )


@dataclass
class AlertRig:
    sessions: SessionFactory
    source: LivePersonSource
    service: AlertService
    poller: Poller
    metrics: Metrics
    clock: ManualClock
    dispose: Callable[[], object]

    async def poll(self) -> PollResult:
        result = await self.poller.tick()
        assert result is not None, "no leader gate is set, so every tick polls"
        return result

    async def polls(self, count: int) -> list[PollResult]:
        return [await self.poll() for _ in range(count)]

    async def unfinished(self) -> int:
        async with self.sessions() as session:
            connection = await session.connection()
            result = await connection.execute(
                sa.select(sa.func.count())
                .select_from(OutboxMessage)
                .where(col(OutboxMessage.status).in_(("pending", "sending")))
            )
            return int(result.scalar_one())

    async def deliver_all(self, timeout: float = PATIENCE) -> None:  # noqa: ASYNC109
        """Relay until no row is pending; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while await self.unfinished():
            if time.monotonic() > deadline:
                raise AssertionError(await self._describe_unfinished())
            if not await self.service.relay_once():
                due = self.service.relay.seconds_until_due()
                await asyncio.sleep(min(due if due is not None else 0.02, 0.05))

    async def _describe_unfinished(self) -> str:
        async with self.sessions() as session:
            result = await session.exec(
                select(OutboxMessage).where(col(OutboxMessage.status).in_(("pending", "sending")))
            )
            rows = result.all()
        lines = [
            f"#{row.id} {row.kind} {row.channel} {row.status} attempts={row.attempts} "
            f"next={row.next_attempt_at:%H:%M:%S.%f} incident={row.incident_id} "
            f"error={row.last_error}"
            for row in rows[:10]
        ]
        return f"{len(rows)} alerts still undelivered:\n" + "\n".join(lines)

    async def aclose(self) -> None:
        await self.service.aclose()
        await self.source.aclose()
        result = self.dispose()
        if asyncio.iscoroutine(result):
            await result


def build_rig(
    database_url: str,
    env: EnvSettings,
    slack_api_url: str,
    slack_token: str,
    *,
    alerts: AlertsConfig | None = None,
    poll: PollConfig | None = None,
    post_interval: float = 0.0,
    edit_interval: float = 0.0,
    backoff: float = 0.05,
    max_backoff: float = 1.0,
    clock: ManualClock | None = None,
    maintenance: tuple[MaintenanceConfig, ...] = (),
    agent_metrics: bool = False,
    conversations: ConversationLimits | None = None,
) -> AlertRig:
    """``agent_metrics``: each poll reads LivePerson's Agent Metrics too (the conversations
    at stake), with ``conversations``' limits for the flags."""
    clock = clock or ManualClock.real_time()
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    metrics = Metrics()
    source = LivePersonSource(env, [Environment.PRODUCTION], timeout=PATIENCE, retry_waits=())
    service = AlertService(
        sessions,
        metrics,
        alerts=alerts or alerts_config(),
        poll=poll or PollConfig(unreachable_after=3),
        slack_token=slack_token,
        slack_api_url=slack_api_url,
        clock=clock,
        post_interval=post_interval,
        edit_interval=edit_interval,
        backoff=backoff,
        max_backoff=max_backoff,
        maintenance=maintenance,
        conversations=conversations,
    )
    poller = Poller(
        source,
        sessions,
        clock=clock,
        in_transaction=[service.in_transaction_hook],
        on_commit=[service.on_commit],
        agent_metrics=source.agent_metrics if agent_metrics else None,
    )
    return AlertRig(sessions, source, service, poller, metrics, clock, engine.dispose)


async def _run(args: argparse.Namespace) -> None:
    url = f"sqlite+aiosqlite:///{args.database}"
    await upgrade(url)
    env = lp_secrets(
        args.lp_url, account=args.account, username=args.username, password=args.password
    )
    rig = build_rig(
        url,
        env,
        args.slack_url,
        args.slack_token,
        alerts=alerts_config(
            digest_after=args.digest_after, routes=() if args.no_routes else DEFAULT_ROUTES
        ),
        post_interval=args.post_interval,
    )
    relay = asyncio.create_task(rig.service.run_relay_forever())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    while not stop.is_set():
        await rig.poll()
        try:
            await asyncio.wait_for(stop.wait(), timeout=args.interval)
        except TimeoutError:
            pass
    await rig.aclose()
    await relay


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lp-url", required=True)
    parser.add_argument("--slack-url", required=True)
    parser.add_argument("--slack-token", default="xoxb-sandbox-token")
    parser.add_argument("--database", required=True)
    parser.add_argument("--account", default="12345678")
    parser.add_argument("--username", default="chatops")
    parser.add_argument("--password", default="sandbox")
    parser.add_argument("--interval", type=float, default=0.3)
    parser.add_argument("--post-interval", type=float, default=0.0)
    parser.add_argument("--digest-after", type=int, default=5)
    parser.add_argument("--no-routes", action="store_true", help="every alert to C0ALERTS")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
