"""LivePerson as a status source: the Bots Status data behind Conversation Builder.

The chain (reference/liveperson-api.md), one module per seam:

- ``transport``: httpx, LivePerson's retry policy (4xx, 429 and ``Retry-After``, 5xx,
  timeouts), and every failure as one ``SourceError`` a person can act on.
- ``auth``: CSDS finds the account's hosts (unless ``LP_API_URL`` names one base for all);
  the Login Service trades a user name and password, or an app key set, for a bearer;
  Conversation Builder's SSO exchange trades it for an ``apiAccessToken``; a 401 logs in
  again once.
- ``parse``: pure: status entries and bot platform records to Snapshots. The one place
  where an entry's statuses, names and identity are read.
- ``source``: :class:`LivePersonSource`: the bots status lists per environment and the PCS
  list, names from the bot platform, Start and Stop.
- ``agent_metrics``: the open conversations of the connectors' bot users (Agent Metrics),
  read after the status lists through the same transport and login.

Credentials and tokens never reach a log line or an error message.
"""

from __future__ import annotations

from chatops.sources.liveperson.source import DEFAULT_TIMEOUT, LivePersonSource
from chatops.sources.liveperson.transport import DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY_WAITS

__all__ = ["DEFAULT_REQUEST_TIMEOUT", "DEFAULT_RETRY_WAITS", "DEFAULT_TIMEOUT", "LivePersonSource"]
