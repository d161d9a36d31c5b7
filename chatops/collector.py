"""The cyclic garbage collector, run at the service's pace instead of at random.

CPython's collector runs a *full* collection (every tracked object) whenever enough
objects have survived into the oldest generation, wherever the allocation that tips it
happens: inside a poll, which leaves tens of thousands of long-lived objects behind (the
poller's snapshots, the replies' rows, Agent Metrics records), and so, with replies
waiting behind it, several times a poll at 10,000 connectors. Each such collection walks
everything not frozen (the imported modules' objects too): 15-50 ms on an idle 2-core
machine, a few hundred under load, a stall of the event loop that every reply in flight
waits for.

So the service takes full collections over (``install``):

* automatic collections stay on for the two young generations (cheap: they walk only what
  was allocated since the last one), never for the oldest;
* after each tick (``after_tick``: the poll, its commit and the replies' catch-up done),
  one full collection, which walks only what is not frozen, i.e. what the tick allocated
  and still holds (a few ms at 1% churn, tens of ms after a poll that replaced the whole
  fleet), so that whatever the tick left in reference cycles (an HTTP response and its
  body, an exception and its frames) is freed now, not grown into; then ``gc.freeze()``:
  the survivors, live by construction, leave the collector's view, so that the next tick's
  collection does not walk them again;
* frozen objects are still freed by reference counting as soon as nothing refers to them
  (the fleet's rows and snapshots that a later poll replaces hold no reference cycles); a
  frozen object that later becomes part of a garbage *cycle* is reclaimed only by a pass
  over everything, so every ``full_every`` (one hour) the tick's collection unfreezes
  first: one pause an hour of the order of 100 ms at 10,000 connectors, instead of several
  per poll.

Every collection's pause is observed in ``chatops_gc_pause_seconds{generation}``.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from prometheus_client import Histogram

log = logging.getLogger(__name__)

# The oldest generation's threshold (collections of the middle generation between two
# automatic full ones): never reached, in effect.
NEVER = 2**30
FULL_EVERY = timedelta(hours=1)


# The collectors installed in this process (tests run several services in one): the first
# one saves the interpreter's thresholds, the last one out restores them.
_installed: list[Collector] = []
_saved_thresholds: tuple[int, int, int] | None = None
_saved_enabled: list[bool] = []


class Collector:
    """Owns the process's full collections while a service runs."""

    def __init__(
        self,
        pauses: Histogram | None = None,
        *,
        full_every: timedelta = FULL_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pauses = pauses
        self._full_every = full_every.total_seconds()
        self._clock = clock
        self._started = 0.0
        self._last_full = clock()
        # Collections run by after_tick (a full one or not), for the logs and tests.
        self.ticks = 0
        self.full_passes = 0

    @property
    def installed(self) -> bool:
        return self in _installed

    def install(self) -> None:
        """Automatic full collections off (young ones stay), pauses observed."""
        global _saved_thresholds
        if self.installed:
            return
        if not _installed:
            _saved_thresholds = gc.get_threshold()
            _saved_enabled[:] = [gc.isenabled()]
            young, middle, _ = _saved_thresholds
            gc.set_threshold(young, middle, NEVER)
        _installed.append(self)
        gc.callbacks.append(self._observe)
        self._last_full = self._clock()
        # What start-up made (imported modules above all) is not walked again but by the
        # hourly full pass; no collection first, which would delay the first reply.
        # ``chatops serve`` starts with the collector off (chatops.cli): on from here.
        gc.freeze()
        gc.enable()

    def uninstall(self) -> None:
        """The last one out: the interpreter's thresholds again, nothing frozen."""
        if not self.installed:
            return
        _installed.remove(self)
        gc.callbacks.remove(self._observe)
        if not _installed and _saved_thresholds is not None:
            gc.set_threshold(*_saved_thresholds)
            gc.unfreeze()
            if _saved_enabled == [False]:
                gc.disable()

    def after_tick(self) -> int:
        """Collect what is not frozen, then freeze the survivors; objects freed.

        Every ``full_every``: everything, frozen or not, is collected.
        """
        if not self.installed:
            return 0
        now = self._clock()
        full = now - self._last_full >= self._full_every
        if full:
            gc.unfreeze()
            self._last_full = now
            self.full_passes += 1
        freed = gc.collect()
        gc.freeze()
        self.ticks += 1
        if full:
            log.debug("full collection of every object: %d freed", freed)
        return freed

    def _observe(self, phase: str, info: dict[str, Any]) -> None:
        if self._pauses is None:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._pauses.labels(str(info["generation"])).observe(
                time.perf_counter() - self._started
            )
