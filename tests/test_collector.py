"""chatops.collector: full collections after each tick, never at random, nothing lost for good.

Real ``gc`` in this process: cycles made here are found (or not) by the real collector.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry

from chatops.collector import NEVER, Collector
from chatops.metrics import Metrics


class Node:
    """A garbage cycle when it refers to itself and nothing else refers to it."""

    def __init__(self) -> None:
        self.me = self


def cycle() -> weakref.ref[Node]:
    node = Node()
    return weakref.ref(node)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


@pytest.fixture
def collector(clock: Clock, metrics: Metrics) -> Iterator[Collector]:
    collector = Collector(metrics.gc_pauses, clock=clock)
    before = gc.get_threshold()
    collector.install()
    yield collector
    collector.uninstall()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def pauses(metrics: Metrics, generation: int) -> float:
    value = metrics.registry.get_sample_value(
        "chatops_gc_pause_seconds_count", {"generation": str(generation)}
    )
    return value or 0.0


def test_installed_the_interpreter_never_starts_a_full_collection_by_itself(
    collector: Collector, metrics: Metrics
) -> None:
    young, middle, oldest = gc.get_threshold()
    assert oldest == NEVER
    assert (young, middle) != (0, 0)  # the young generations are still collected
    full_before = gc.get_stats()[2]["collections"]
    garbage = [cycle() for _ in range(20_000)]  # enough to reach the oldest generation
    assert gc.get_stats()[2]["collections"] == full_before
    assert any(ref() is None for ref in garbage)  # the young collections freed some
    assert pauses(metrics, 0) > 0 and pauses(metrics, 2) == 0


def test_after_a_tick_the_cycles_it_left_are_freed_and_the_survivors_frozen(
    collector: Collector, metrics: Metrics
) -> None:
    gc.disable()  # so that only after_tick can find this cycle
    try:
        ref = cycle()
        kept = Node()
        assert ref() is not None
        freed = collector.after_tick()
    finally:
        gc.enable()
    assert ref() is None and freed >= 1
    assert gc.get_freeze_count() > 0
    assert pauses(metrics, 2) == 1
    assert kept.me is kept


def test_a_cycle_the_young_collections_moved_to_the_oldest_generation_is_freed_after_the_tick(
    collector: Collector,
) -> None:
    node = Node()
    ref = weakref.ref(node)
    gc.collect(1)
    gc.collect(1)  # survived the middle generation: in the oldest now, not frozen
    del node  # garbage, which the interpreter alone would not look at (threshold NEVER)
    assert ref() is not None
    collector.after_tick()
    assert ref() is None


def test_a_cycle_frozen_while_alive_is_reclaimed_by_the_hourly_full_pass(
    collector: Collector, clock: Clock
) -> None:
    node = Node()
    ref = weakref.ref(node)
    collector.after_tick()  # node is alive: frozen with the other survivors
    del node  # now a garbage cycle, but frozen
    collector.after_tick()
    clock.now += timedelta(minutes=59).total_seconds()
    collector.after_tick()
    assert ref() is not None and collector.full_passes == 0
    clock.now += timedelta(minutes=1).total_seconds()
    collector.after_tick()
    assert ref() is None and collector.full_passes == 1


def test_objects_frozen_are_still_freed_by_reference_counting(collector: Collector) -> None:
    rows = [Node.__new__(Node) for _ in range(3)]  # no cycle: freed when dropped
    refs = [weakref.ref(row) for row in rows]
    collector.after_tick()
    del rows
    assert all(ref() is None for ref in refs)


def test_two_services_in_one_process_restore_the_thresholds_when_the_last_one_stops(
    clock: Clock, metrics: Metrics
) -> None:
    before = gc.get_threshold()
    first = Collector(metrics.gc_pauses, clock=clock)
    second = Collector(None, clock=clock)
    first.install()
    second.install()
    first.uninstall()
    assert gc.get_threshold()[2] == NEVER  # the second one still runs
    second.after_tick()
    assert second.ticks == 1
    second.uninstall()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    first.after_tick()  # not installed: does nothing
    assert first.ticks == 0 and gc.get_freeze_count() == 0
