"""The sandbox's one name for a decoded JSON object.

The app has its own (``chatops.jsontypes``); the sandbox imports nothing from the app, as it
stands in for the outside world, so it keeps this copy of the alias.
"""

from __future__ import annotations

from typing import Any

JSONDict = dict[str, Any]
"""A JSON object as ``json.loads`` gives it (values of any JSON type)."""
