"""Status sources: the StatusSource protocol, the LivePerson client and their errors."""

from __future__ import annotations

from chatops.sources.base import SourceError, StatusSource, UnknownBotError
from chatops.sources.liveperson import LivePersonSource

__all__ = ["LivePersonSource", "SourceError", "StatusSource", "UnknownBotError"]
