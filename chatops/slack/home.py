"""App Home: the seed's dashboard for users with ``view``, a plain explanation for others.

Published when a user opens the tab, when they change the environment filter (the guard,
chatops.slack.guard, has checked ``view`` then, and shows the explanation to the others),
and after each poll that changed something, for the users who opened it recently (their
access is looked up again then).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from chatops.domain import Environment
from chatops.permissions import Access, AccessLookupError
from chatops.slack import blocks
from chatops.slack.guard import Guard, Need, access_of
from chatops.slack.services import SlackServices

log = logging.getLogger(__name__)


async def home_view(services: SlackServices, user_id: str, environment: Environment) -> Any:
    """The tab as ``user_id`` may see it now (for a refresh outside any request)."""
    permissions = services.permissions
    try:
        access = await permissions.access(user_id)
    except AccessLookupError as exc:
        return blocks.home_refusal(permissions.lookup_failure(exc))
    if not access.can("view"):
        return blocks.home_refusal(permissions.refusal("view"))
    return await services.views.home(access, environment)


async def publish_home(
    services: SlackServices,
    client: AsyncWebClient,
    access: Access,
    environment: Environment | None = None,
) -> None:
    """Publish the tab of a user the guard let through (``access``: what they may see)."""
    viewers = services.home_viewers
    user_id = access.user_id
    if environment is None:
        environment = viewers.environment(user_id)
    viewers.opened(user_id, environment, services.clock())
    view = await services.views.home(access, environment)
    await client.views_publish(user_id=user_id, view=view)


async def refresh_open_views(services: SlackServices, client: AsyncWebClient) -> int:
    """Re-publish the tab of everyone who opened it recently; returns how many."""
    refreshed = 0
    for user_id, environment in services.home_viewers.recent(services.clock()):
        try:
            await client.views_publish(
                user_id=user_id, view=await home_view(services, user_id, environment)
            )
            refreshed += 1
        except SlackApiError as exc:
            # One user's tab failing (e.g. they left the workspace) must not stop the others.
            log.warning(
                "could not refresh the Home tab of %s: %s", user_id, exc.response.get("error")
            )
    return refreshed


def _need(body: dict[str, Any]) -> Need:
    # Opening the Messages tab shows nothing of ours: nothing to check then.
    event = body.get("event") or {}
    return Need("view") if event.get("tab", "home") == "home" else Need(None)


def register(guard: Guard, services: SlackServices) -> None:
    @guard.event("app_home_opened", _need)
    async def opened(
        event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        if event.get("tab", "home") != "home":
            return
        await publish_home(services, client, access_of(context))
