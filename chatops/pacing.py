"""Long loops that share the event loop with replies: a turn of the loop every few ms.

The poll's CPU work (decoding 10,000 status entries, building snapshots, the diff, reading
the stored fleet) runs on the event loop that also answers Slack. Each long loop holds a
:class:`Pacer` and awaits ``pace()`` once per item: after ``slice`` seconds of work it
yields one turn of the loop, so a request waits at most about that long.

One millisecond: a reply is several turns of the loop (the request read, Bolt's listener
task, the ack, the response written), and each may wait for one slice of a poll running
beside it, so the slice is paid several times over by every reply during a poll. A yield
costs some microseconds: a poll's work grows by well under 1%.

A worker thread would not help: ``json.loads`` and the rest hold the GIL throughout.
"""

from __future__ import annotations

import asyncio
import time

SLICE = 0.001


class Pacer:
    def __init__(self, slice_seconds: float = SLICE) -> None:
        self._slice = slice_seconds
        self._until = time.perf_counter() + slice_seconds

    async def pace(self) -> None:
        """Yield to the loop if this loop has had it for ``slice`` seconds."""
        if time.perf_counter() >= self._until:
            await asyncio.sleep(0)
            self._until = time.perf_counter() + self._slice


__all__ = ["SLICE", "Pacer"]
