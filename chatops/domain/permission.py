"""What a person may do with a bot: the permissions that the mapping in the config grants
(``chatops.permissions``) and that the Slack surface checks.

- ``view``: see bots and their statuses (``/botstatus``, App Home).
- ``start`` / ``stop``: Start / Stop a bot's connectors (Restart needs both).
- ``mute``: mute and unmute alerts.
- ``ack``: acknowledge an alert.
"""

from __future__ import annotations

from typing import Literal

Permission = Literal["view", "start", "stop", "mute", "ack"]
