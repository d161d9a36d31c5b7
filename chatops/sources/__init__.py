"""Status sources: the StatusSource protocol, the LivePerson client and their errors."""

from __future__ import annotations

from chatops.sources.base import SourceError, StatusSource, UnknownBotError

__all__ = ["SourceError", "StatusSource", "UnknownBotError"]
