"""``chatops demo``: the whole product in a browser, no Slack workspace needed.

One process, one port: the fake LivePerson fleet, the fake Slack workspace, the real app
wired to both in HTTP mode (signed requests, response URLs, the Web API), SQLite in a
temporary file, a poll every few seconds, and a scenario that makes things happen. The
sandbox page at ``/sandbox/`` is a Slack-like window onto it all.
"""

from __future__ import annotations

from chatops.demo.app import Demo, DemoOptions, build_demo
from chatops.demo.scenario import Scenario, ScenarioTiming
from chatops.demo.server import DemoThread, PortUnavailable, run_demo

__all__ = [
    "Demo",
    "DemoOptions",
    "DemoThread",
    "PortUnavailable",
    "Scenario",
    "ScenarioTiming",
    "build_demo",
    "run_demo",
]
