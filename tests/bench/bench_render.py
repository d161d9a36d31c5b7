"""Benchmark: every Block Kit view rendered for 10,000 bots (pure functions, no I/O).

The renderers and the fleet are the ones tests/test_blocks.py checks against Slack's limits;
this prints how long rendering all of them takes, best of a few runs, beside the target.

    python tests/bench/bench_render.py [--bots 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.test_blocks import RENDERERS, fleet, transitions  # noqa: E402

TARGET_SECONDS = 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bots", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bots = fleet(args.bots)
    transitions(args.bots)  # built ahead: building rows is not rendering
    timings = []
    for _ in range(args.runs):
        started = time.perf_counter()
        for _, render in RENDERERS.values():
            render(bots)
        timings.append(time.perf_counter() - started)
    best = min(timings)
    verdict = "ok" if best <= TARGET_SECONDS else "OVER TARGET"
    print(f"| views | bots | best of {args.runs} | target |")
    print("|---|---|---|---|")
    print(
        f"| all {len(RENDERERS)} | {args.bots:,} | {best * 1000:.0f} ms | "
        f"≤ {TARGET_SECONDS * 1000:.0f} ms ({verdict}) |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
