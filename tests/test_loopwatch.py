"""chatops.loopwatch: a turn that holds the event loop shows as at least that much lag."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry

from chatops.loopwatch import watch_loop
from chatops.metrics import Metrics
from tests.waiting import await_until


def samples(metrics: Metrics) -> tuple[float, float]:
    count = metrics.registry.get_sample_value("chatops_event_loop_lag_seconds_count") or 0.0
    total = metrics.registry.get_sample_value("chatops_event_loop_lag_seconds_sum") or 0.0
    return count, total


def hold_the_loop(seconds: float) -> None:
    """A long turn: work that never yields (as an unpaced loop over a fleet would)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


async def test_a_turn_that_holds_the_loop_is_observed_as_at_least_that_much_lag() -> None:
    metrics = Metrics(CollectorRegistry())
    watch = asyncio.get_running_loop().create_task(watch_loop(metrics.loop_lag, every=0.01))
    try:
        await await_until(lambda: samples(metrics)[0] >= 1, what="the watch's first sample")
        before = samples(metrics)
        hold_the_loop(0.2)  # the watch's timer, due within 0.01 s, cannot fire meanwhile
        await await_until(lambda: samples(metrics)[0] > before[0], what="the next sample")
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
    count, total = samples(metrics)
    assert total - before[1] >= 0.2 - 0.01
    within = metrics.registry.get_sample_value(
        "chatops_event_loop_lag_seconds_bucket", {"le": "0.1"}
    )
    assert within is not None and within < count  # that sample is above 0.1 s
