"""The time zone of a Slack user (``users.info`` ``tz``), for times they type.

Looked up once per user and kept for ``ttl``; a user whose zone Slack does not give, or
gives under a name this system does not know, reads times in UTC, and the answer names
the zone it used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from chatops.domain.maintenance import WindowTimeError, time_zone

log = logging.getLogger(__name__)

UTC_ZONE = ZoneInfo("UTC")
_MAX_CACHED = 10_000


class UserTimeZones:
    def __init__(self, *, ttl: float = 3600.0, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._zones: dict[str, tuple[float, ZoneInfo]] = {}

    async def zone(self, client: AsyncWebClient, user_id: str) -> ZoneInfo:
        now = self.clock()
        cached = self._zones.get(user_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            response = await client.users_info(user=user_id)
        except SlackApiError as exc:
            log.warning(
                "could not read the time zone of %s (users.info: %s); using UTC",
                user_id,
                exc.response.get("error"),
            )
            return UTC_ZONE
        user = response.get("user") or {}
        name = user.get("tz") if isinstance(user, dict) else None
        try:
            zone = time_zone(name) if isinstance(name, str) else UTC_ZONE
        except WindowTimeError:
            log.warning("Slack gave %s the unknown time zone %r; using UTC", user_id, name)
            zone = UTC_ZONE
        if len(self._zones) >= _MAX_CACHED:
            self._zones.clear()
        self._zones[user_id] = (now + self.ttl, zone)
        return zone
