"""Chaos for the alert pipeline, the short seed set (``tests/chaos_runner.py`` explains a run).

Each seed starts ``chatops serve`` on a fresh database against fresh fakes, plays a random
schedule of status changes, blips, Slack faults (429, 500, lost answers), a SIGKILL and
maybe a clean restart, then checks what Slack received: every confirmed incident announced
once (a kill or a lost answer may repeat the one message in flight), every recovery an edit
of its message, nothing for a blip or a muted bot in its author's scope.

Longer: ``python -m tests.chaos_runner --soak 5``.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.chaos_runner import plan, run_seeds

# One run ends with a SIGKILL, the other with a clean restart (see plan()).
CI_SEEDS = (1, 2)
CI_TICKS = 6


def test_a_schedule_is_the_same_for_a_seed_and_holds_every_change_past_the_confirmation() -> None:
    held, blipping = ["a", "b", "c"], ["x", "y"]
    first = plan(7, held, blipping, 20)
    assert first == plan(7, held, blipping, 20)
    assert first != plan(8, held, blipping, 20)
    for name in held:
        ticks = [event.tick for event in first if event.bot == name and event.kind != "blip"]
        kinds = [event.kind for event in first if event.bot == name and event.kind != "blip"]
        assert kinds == ["down", "up"] * (len(kinds) // 2) + ["down"] * (len(kinds) % 2)
        assert all(later - earlier >= 4 for earlier, later in itertools.pairwise(ticks))
    assert sum(event.kind in ("kill", "restart") for event in first) == 2


def test_the_alert_pipeline_keeps_its_promises_under_chaos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    total = run_seeds(CI_SEEDS, tmp_path, ticks=CI_TICKS, log=lambda line: None)
    with capsys.disabled():
        print(f"\nchaos ({len(CI_SEEDS)} seeds, {CI_TICKS} ticks each): {total.summary()}")

    assert total.violations == []
    assert total.lost == 0
    assert total.duplicated == total.explained
    # The schedule did what it says: changes, blips, faults that fired, a kill, a restart.
    assert total.runs == len(CI_SEEDS)
    assert total.kills == 1 and total.restarts == 1
    assert total.changes > 0 and total.blips > 0 and total.faults > 0 and total.incidents > 0
