"""Who may do what to which bot: the ``permissions`` mapping of ARCHITECTURE.md section 4.

A rule names people (Slack user IDs or e-mail addresses) and user groups (handles or IDs),
the permissions it grants (``view``, the seed's Bot Status Access; ``start``; ``stop``;
``mute``; ``ack``, to acknowledge an alert) and optionally the bots it covers (globs on the
bot name, ``chatops.domain.globs``; none means every bot). Nothing is allowed unless
a rule allows it.

E-mail addresses and group members are not in a Slack request, so they are looked up
through the Web API and cached for ``cache_ttl`` seconds: ``users.info`` per user, and
``usergroups.list`` with ``include_users`` once for every group (``usergroups.users.list``
would cost a call per group). A lookup that fails never grants anything: it raises
``AccessLookupError`` with a message that says what could not be looked up, and the
caller tells the user so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from chatops.config import PermissionRule
from chatops.domain.globs import glob_matches
from chatops.domain.permission import Permission

logger = logging.getLogger(__name__)

PERMISSIONS: Final[tuple[Permission, ...]] = ("view", "start", "stop", "mute", "ack")
DEFAULT_CACHE_TTL: Final = 60.0
# Bounds the e-mail cache in a large workspace; expired entries go first.
_MAX_CACHED_USERS: Final = 10_000


class AccessLookupError(Exception):
    """A user's e-mail or groups could not be looked up, so nothing can be granted.

    The message names the lookup and Slack's reason, e.g. ``could not look up your Slack
    profile (users.info: ratelimited)``; it never contains a token.
    """


@dataclass(frozen=True, slots=True)
class Access:
    """What one user may do: the rules of the mapping that name them."""

    user_id: str
    email: str | None
    # The user's groups that the rules name, as lower-case IDs and handles.
    groups: frozenset[str]
    rules: tuple[PermissionRule, ...]

    def can(self, permission: Permission, bot_name: str | None = None) -> bool:
        """``permission`` on the bot named ``bot_name``; with ``None``, on at least one bot."""
        return any(
            permission in rule.allow and (bot_name is None or covers(rule, bot_name))
            for rule in self.rules
        )

    def visible(self, bot_name: str) -> bool:
        return self.can("view", bot_name)

    @property
    def permissions(self) -> frozenset[Permission]:
        """Every permission the user has on at least one bot."""
        return frozenset(p for rule in self.rules for p in rule.allow)

    def scope(self, permission: Permission) -> tuple[str, ...] | None:
        """The bot globs ``permission`` covers: ``None`` for every bot, ``()`` for none."""
        rules = [rule for rule in self.rules if permission in rule.allow]
        if any(not rule.bots for rule in rules):
            return None
        return tuple(dict.fromkeys(glob for rule in rules for glob in rule.bots))


def covers(rule: PermissionRule, bot_name: str) -> bool:
    """Whether the rule's bot globs (none: every bot) match ``bot_name``, ignoring case."""
    return in_scope(rule.bots or None, bot_name)


def in_scope(globs: Sequence[str] | None, bot_name: str) -> bool:
    """Whether ``bot_name`` is among the bots ``globs`` cover (``None``: every bot).

    The globs of a permission rule (``Access.scope``) on the name (``chatops.domain.globs``).
    """
    if globs is None:
        return True
    return any(glob_matches(glob, bot_name) for glob in globs)


def is_email(entry: str) -> bool:
    return "@" in entry.strip().lstrip("@")


def group_key(entry: str) -> str:
    """``@bot-ops``, ``bot-ops`` and ``BOT-OPS`` name one group; IDs compare the same way."""
    return entry.strip().lstrip("@").casefold()


def _names_user(rule: PermissionRule, user_id: str, email: str | None) -> bool:
    for entry in rule.users:
        if is_email(entry):
            if email is not None and entry.strip().casefold() == email.casefold():
                return True
        elif entry.strip().casefold() == user_id.casefold():
            return True
    return False


def _names_group(rule: PermissionRule, groups: frozenset[str]) -> bool:
    return any(group_key(entry) in groups for entry in rule.usergroups)


@dataclass(frozen=True, slots=True)
class _GroupDirectory:
    """Members of each group the rules name, keyed by the group's lower-case ID and handle."""

    members: Mapping[str, frozenset[str]]

    def groups_of(self, user_id: str) -> frozenset[str]:
        return frozenset(key for key, users in self.members.items() if user_id in users)


class PermissionResolver:
    """Resolves a Slack user to an ``Access``; default deny, fail closed.

    ``client`` is the app's ``AsyncWebClient`` (with whatever retry handlers it has);
    ``contact`` is who grants permissions, named in refusals; ``clock`` is injectable for
    tests of the cache.
    """

    def __init__(
        self,
        rules: Sequence[PermissionRule],
        client: AsyncWebClient,
        *,
        contact: str,
        cache_ttl: float = DEFAULT_CACHE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rules = tuple(rules)
        self.client = client
        self.contact = contact
        self.cache_ttl = cache_ttl
        self.clock = clock
        self._needs_email = any(is_email(e) for rule in self.rules for e in rule.users)
        self._named_groups = frozenset(
            group_key(entry) for rule in self.rules for entry in rule.usergroups
        )
        self._emails: dict[str, tuple[float, str]] = {}
        self._directory: tuple[float, _GroupDirectory] | None = None
        # One refresh of the group directory at a time; the others wait and share it.
        self._directory_lock = asyncio.Lock()

    async def access(self, user_id: str) -> Access:
        """What ``user_id`` may do. Raises AccessLookupError when a needed lookup fails."""
        email = await self._email(user_id) if self._needs_email else None
        groups = frozenset[str]()
        if self._named_groups:
            groups = (await self._group_directory()).groups_of(user_id)
        rules = tuple(
            rule
            for rule in self.rules
            if _names_user(rule, user_id, email) or _names_group(rule, groups)
        )
        return Access(user_id=user_id, email=email, groups=groups, rules=rules)

    def refusal(self, permission: Permission) -> str:
        """What a refused user is told: the missing permission and who grants it.

        The same words whether or not the bot exists, so a refusal reveals no bot.
        """
        if permission == "view":
            what = "the *view* permission (Bot Status Access) to see bots"
        elif permission == "mute":
            what = "the *mute* permission for these bots"
        elif permission == "ack":
            what = "the *ack* permission to acknowledge this alert"
        else:
            what = f"the *{permission}* permission for this bot"
        return f"You need {what}. Ask {self.contact} to grant it."

    def lookup_failure(self, error: AccessLookupError) -> str:
        """What a user is told when their access could not be checked (nothing is granted)."""
        return (
            f"I {error}, so I cannot check your permissions right now. Try again in a "
            f"minute; if it keeps failing, tell {self.contact}."
        )

    def forget(self) -> None:
        """Drop every cached lookup (e.g. after the mapping or a group changed)."""
        self._emails.clear()
        self._directory = None

    async def _email(self, user_id: str) -> str:
        now = self.clock()
        cached = self._emails.get(user_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        response = await _call(
            "your Slack profile", "users.info", self.client.users_info(user=user_id)
        )
        user = response.get("user") or {}
        email = (user.get("profile") or {}).get("email") if isinstance(user, dict) else None
        if not isinstance(email, str) or not email:
            # Slack leaves the e-mail out unless the app has the users:read.email scope.
            raise AccessLookupError(
                "could not read your e-mail address from Slack (users.info gave none; "
                "the app needs the users:read.email scope)"
            )
        self._remember_email(user_id, email, now)
        return email

    def _remember_email(self, user_id: str, email: str, now: float) -> None:
        if len(self._emails) >= _MAX_CACHED_USERS:
            for key in [k for k, (expires, _) in self._emails.items() if expires <= now]:
                del self._emails[key]
            if len(self._emails) >= _MAX_CACHED_USERS:
                self._emails.clear()
        self._emails[user_id] = (now + self.cache_ttl, email)

    async def _group_directory(self) -> _GroupDirectory:
        cached = self._directory
        if cached is not None and cached[0] > self.clock():
            return cached[1]
        async with self._directory_lock:
            cached = self._directory
            if cached is not None and cached[0] > self.clock():
                return cached[1]
            directory = await self._load_group_directory()
            self._directory = (self.clock() + self.cache_ttl, directory)
            return directory

    async def _load_group_directory(self) -> _GroupDirectory:
        response = await _call(
            "Slack user groups",
            "usergroups.list",
            self.client.usergroups_list(include_users=True),
        )
        members: dict[str, frozenset[str]] = {}
        found: set[str] = set()
        for group in response.get("usergroups") or []:
            if not isinstance(group, dict):
                continue
            group_id = str(group.get("id") or "")
            keys = {group_key(group_id), group_key(str(group.get("handle") or ""))} - {""}
            if not keys & self._named_groups:
                continue
            users = group.get("users")
            if not isinstance(users, list):
                raise AccessLookupError(
                    "could not look up Slack user group members "
                    "(usergroups.list gave no member list)"
                )
            member_ids = frozenset(str(user) for user in users)
            found |= keys
            for key in keys:
                members[key] = member_ids
        missing = self._named_groups - found
        if missing:
            # A misspelt or deleted group grants nothing; say so where an operator looks.
            logger.warning(
                "permissions: no Slack user group %s; rules naming it match nobody",
                ", ".join(sorted(missing)),
            )
        return _GroupDirectory(members)


async def _call(
    what: str, method: str, request: Awaitable[AsyncSlackResponse]
) -> AsyncSlackResponse:
    """Await one Web API call; every failure becomes AccessLookupError naming ``method``."""
    try:
        return await request
    except SlackApiError as exc:
        raise AccessLookupError(f"could not look up {what} ({method}: {_api_error(exc)})") from exc
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        raise AccessLookupError(
            f"could not look up {what} ({method}: {type(exc).__name__})"
        ) from exc


def _api_error(exc: SlackApiError) -> str:
    response = exc.response
    status = getattr(response, "status_code", None)
    data = getattr(response, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    if status is not None and status != 200:
        return f"HTTP {status}" + (f", {error}" if error else "")
    return str(error or "unexpected response")
