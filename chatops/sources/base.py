"""The one interface between chatops and wherever bot statuses come from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from chatops.domain import Snapshot
from chatops.domain.conversations import MetricsReading


class SourceError(Exception):
    """Every failure of a status source, with a message a person can act on.

    ``permanent`` means retrying will not help until someone fixes something (a wrong
    password, a missing permission, an unknown account); transient failures (timeouts, 5xx,
    429) are worth another try at the next poll. Messages never contain credentials.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent

    def __str__(self) -> str:
        return self.message


class UnknownBotError(SourceError):
    """The source does not know the bot that an action named."""

    def __init__(self, bot_id: str) -> None:
        super().__init__(f"the status source has no bot with id {bot_id!r}", permanent=True)
        self.bot_id = bot_id


class UnknownConnectorError(SourceError):
    """The source knows the bot but has no connector with that bot user."""

    def __init__(self, bot_id: str, bot_user: str) -> None:
        super().__init__(
            f"the status source lists no connector {bot_user!r} for bot {bot_id!r}",
            permanent=True,
        )
        self.bot_id = bot_id
        self.bot_user = bot_user


class StatusSource(Protocol):
    """Fetch every connector's snapshot for the configured environments; start; stop.

    A connector is named by its bot id and its bot user (``Snapshot.bot_user``).
    """

    async def fetch(self) -> Sequence[Snapshot]:
        """Every connector's current snapshot, one per status entry, in any order.

        Raises SourceError; never returns a partial fleet.
        """
        ...

    async def start(self, bot_id: str, bot_user: str) -> None:
        """Ask the source to start one connector (PCS: the shared survey connector)."""
        ...

    async def stop(self, bot_id: str, bot_user: str) -> None:
        """Ask the source to stop one connector (PCS: the shared survey connector)."""
        ...

    async def check(self) -> str:
        """Log in and return a one-line description of what was reached (check-config)."""
        ...

    async def aclose(self) -> None: ...


class AgentMetricsReader(Protocol):
    """Reads the conversations at stake for a poll's connectors (optional for a source)."""

    async def read(self, connectors: Sequence[Snapshot], started: float) -> MetricsReading:
        """The Agent Metrics of ``connectors``' agents, within what is left of the poll's
        timeout counted from ``started`` (``time.monotonic()``). Never raises: a failure is
        a reading whose outcome says so, and the poll goes on without counts."""
        ...
