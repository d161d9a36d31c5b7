"""Choosing bots of the fake LivePerson's fleet for a test: whole bots, never single entries.

A bot has one status entry per agent connector; a test that changes "a bot" changes all of
its connectors, so it picks bots every connector of which is healthy, one entry standing for
the bot.
"""

from __future__ import annotations

from typing import Any

from chatops.domain import Health
from chatops.sandbox.liveperson import FakeLivePerson
from chatops.sources.liveperson.parse import entry_health


def healthy_entry(entry: dict[str, Any]) -> bool:
    """A named production custom connector whose health is OK."""
    return (
        entry.get("environment") == "PRODUCTION"
        and "cbSocketStatus" in entry
        and "botName" in entry
        and entry_health(entry) is Health.OK
    )


def healthy_bots(fake: FakeLivePerson, prefix: str = "") -> list[dict[str, Any]]:
    """One status entry per production custom bot every connector of which is OK, whose name
    starts with ``prefix``, in the fleet's order."""
    by_bot: dict[str, list[dict[str, Any]]] = {}
    for entry in fake.bots():
        by_bot.setdefault(str(entry["botId"]), []).append(entry)
    return [
        entries[0]
        for entries in by_bot.values()
        if all(healthy_entry(entry) for entry in entries)
        and str(entries[0]["botName"]).startswith(prefix)
    ]
