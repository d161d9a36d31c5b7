"""The one name for a decoded JSON object, for every layer of the app but ``domain``.

(``chatops.sandbox`` may not import the app, so it has its own alias.)
"""

from __future__ import annotations

from typing import Any

JSONDict = dict[str, Any]
"""A JSON object as ``json.loads`` gives it (values of any JSON type)."""
