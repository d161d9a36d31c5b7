"""How late the event loop runs: every reply, poll and alert of a process shares one loop.

A timer is set every ``EVERY`` seconds; how much later than asked it fires is the time the
loop was busy with something else (a long turn of a poll, a collection, a slow handler) or
could not run at all (no CPU, the GIL held by another thread). That lateness is observed
in ``chatops_event_loop_lag_seconds``: a reply that arrives at a random moment waits about
as long, before any of its own work.
"""

from __future__ import annotations

import asyncio

from prometheus_client import Histogram

EVERY = 0.1


async def watch_loop(lag: Histogram, every: float = EVERY) -> None:
    """Observe the loop's lateness every ``every`` seconds, until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time() + every
        await asyncio.sleep(every)
        lag.observe(max(0.0, loop.time() - asked))
