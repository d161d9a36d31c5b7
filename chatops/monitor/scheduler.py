"""The periodic job, the poll tick, on APScheduler 3.x's AsyncIOScheduler.

(The alert relay is no scheduled job: it runs as a task of its own and wakes when a poll
commits outbox rows, ``chatops.alerts.service``.)

Every replica runs the same scheduler with an in-memory job store; the jobs themselves
decide, through a :class:`chatops.store.leases.LeaderGate`, whether this replica does the
work (reference/slack-platform.md section 3: 3.x cannot share a job store between
processes). Call ``scheduler.start()`` inside the running event loop (APScheduler 3.11
takes the loop at start), and ``scheduler.shutdown()`` on the way out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

logger = logging.getLogger(__name__)

Job = tuple[str, Callable[[], Awaitable[object]], timedelta]


def build_scheduler(jobs: Sequence[Job], *, start_immediately: bool = True) -> AsyncIOScheduler:
    """A scheduler running each ``(id, job, every)`` at its interval, never two at once.

    ``max_instances=1``: a run that is still going when the next one is due makes that one
    be skipped (and logged), not stacked. ``coalesce=True``: runs missed while the loop was
    busy collapse into one. A run later than half an interval is dropped rather than run
    late, since the next one is close. ``start_immediately`` runs each job once as soon as
    the scheduler starts, so a fresh process does not wait a whole interval for data.
    """
    scheduler = AsyncIOScheduler(timezone=UTC)
    for job_id, job, every in jobs:
        seconds = every.total_seconds()
        if seconds <= 0:
            raise ValueError(f"job {job_id!r}: the interval must be positive, not {every}")
        extra = {"next_run_time": datetime.now(UTC)} if start_immediately else {}
        scheduler.add_job(
            _as_coroutine_function(job_id, job),
            "interval",
            seconds=seconds,
            id=job_id,
            name=job_id,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, round(seconds / 2)),
            **extra,
        )
    return scheduler


def _as_coroutine_function(
    job_id: str, job: Callable[[], Awaitable[object]]
) -> Callable[[], Awaitable[None]]:
    # APScheduler runs plain callables in a thread pool; a lambda returning a coroutine
    # would then never be awaited. Wrapping makes every job run on the loop.
    async def run() -> None:
        try:
            await job()
        except asyncio.CancelledError:
            # The scheduler's shutdown cancels a run in progress (its transaction rolls
            # back): the process is stopping, which APScheduler would log as a failure with
            # a traceback. Nothing awaits this task but APScheduler.
            logger.info("%s: cut short by the shutdown", job_id)

    return run
