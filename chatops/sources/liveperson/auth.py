"""Reaching and logging in to LivePerson: hosts, credentials, the sign-on chain, the session.

1. CSDS finds the account's hosts (skipped when ``LP_API_URL`` names one base for all).
2. The Login Service trades a user name and password, or an app key set, for a bearer.
3. Conversation Builder's SSO exchange trades the bearer for an ``apiAccessToken``.

:class:`Auth` keeps the session and logs in again when a call finds it expired (it is the
transport's :class:`~chatops.sources.liveperson.transport.Sessions`). Credentials and tokens
are handed to the transport to hide, so they never reach a log line or an error message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import httpx

from chatops.config import ConfigError, EnvSettings
from chatops.sources.base import SourceError
from chatops.sources.liveperson.parse import text
from chatops.sources.liveperson.transport import (
    Call,
    Deadline,
    Session,
    Transport,
    server_message,
    try_json,
)

logger = logging.getLogger(__name__)

# CSDS results change rarely; LivePerson's own reference service caches them for 3 hours.
CSDS_CACHE_SECONDS = 3 * 3600.0

LOGIN_PATH = "/api/account/{account}/login"
SSO_PATH = "/le-auth/sso/authenticate"
CSDS_PATH = "/api/account/{account}/service/baseURI.json"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Base URLs (scheme and host, maybe a path prefix) of the four services we call."""

    login: str
    sso: str
    monitoring: str
    platform: str
    resolved_at: float
    # Messaging history (the Agent Metrics API); None when CSDS lists no msgHist host.
    msghist: str | None = None


@dataclass(frozen=True, slots=True)
class CBSession:
    """A Conversation Builder session: what the sign-on chain gave."""

    bearer: str
    csrf: str
    api_token: str
    perm_token: str
    organization_id: str
    user_id: str

    def headers(self) -> dict[str, str]:
        # Conversation Builder wants the bare token, without "Bearer".
        return {"Authorization": self.api_token, "OrganizationId": self.organization_id}


class Auth:
    """The account's endpoints and its Conversation Builder session, obtained when needed."""

    def __init__(self, env: EnvSettings, transport: Transport) -> None:
        self.account = require_account(env)
        self._credentials = credentials(env)
        self.uses_app_key = "appKey" in self._credentials
        self.username = env.lp_username or ""
        self._api_url = base_url(env.lp_api_url, "LP_API_URL") if env.lp_api_url else None
        self._csds_url = base_url(env.lp_csds_url, "LP_CSDS_URL")
        self._transport = transport
        transport.hide(*(value for key, value in self._credentials.items() if key != "username"))
        self.endpoints: Endpoints | None = None
        self._session: CBSession | None = None
        self._login_lock = asyncio.Lock()

    async def send(self, call: Call, deadline: Deadline) -> httpx.Response:
        """``call`` through the transport, with this session when it needs one."""
        return await self._transport.send(call, deadline, sessions=self)

    # ---------------------------------------------------------------- domains

    async def resolve(self, deadline: Deadline) -> Endpoints:
        """The services' base URLs: ``LP_API_URL``, else CSDS's answer (cached)."""
        endpoints = self.endpoints
        if endpoints and time.monotonic() - endpoints.resolved_at < CSDS_CACHE_SECONDS:
            return endpoints
        if self._api_url:
            url = self._api_url
            endpoints = Endpoints(url, url, url, url, resolved_at=float("inf"), msghist=url)
        else:
            endpoints = await self._lookup_domains(deadline)
        self.endpoints = endpoints
        return endpoints

    async def _lookup_domains(self, deadline: Deadline) -> Endpoints:
        """CSDS: the Login Service host and the region of the Conversation Builder hosts."""
        account = self.account
        fail = self._transport.fail

        def refusal(response: httpx.Response) -> SourceError | None:
            if response.status_code in (400, 401, 404):
                return fail(
                    f"LivePerson's domain service (CSDS) at {self._csds_url} does not know"
                    f" account {account} (HTTP {response.status_code}): check LP_ACCOUNT_ID",
                    permanent=True,
                )
            return None

        call = Call(
            "the domain lookup (CSDS)",
            "GET",
            f"{self._csds_url}{CSDS_PATH.format(account=quote(account, safe=''))}",
            auth="none",
            params={"version": "1.0"},
            refusal=refusal,
        )
        response = await self._transport.send(call, deadline)
        data = self._transport.json(call, response)
        uris = data.get("baseURIs") if isinstance(data, dict) else None
        services = {
            str(item.get("service")): str(item.get("baseURI"))
            for item in (uris if isinstance(uris, list) else [])
            if isinstance(item, dict) and item.get("service") and item.get("baseURI")
        }
        login_host = services.get("agentVep")
        if not login_host:
            raise fail(
                f"LivePerson's domain service (CSDS) lists no login host (agentVep) for"
                f" account {account}",
                permanent=True,
            )
        # Conversation Builder's hosts are not in CSDS; tools derive them from the region,
        # the first two letters of the leDataReporting host (va, lo, sy).
        region_host = services.get("leDataReporting") or login_host
        region = region_host[:2].lower()
        if not region.isalpha():
            raise fail(
                f"cannot tell account {account}'s LivePerson region from its CSDS hosts;"
                " set LP_API_URL to reach LivePerson through one base URL",
                permanent=True,
            )
        logger.info("LivePerson account %s: login host %s, region %s", account, login_host, region)
        return Endpoints(
            login=f"https://{login_host}",
            sso=f"https://{region}.bc-sso.liveperson.net",
            monitoring=f"https://{region}.bc-mgmt.liveperson.net",
            platform=f"https://{region}.bc-platform.liveperson.net",
            resolved_at=time.monotonic(),
            msghist=f"https://{services['msgHist']}" if services.get("msgHist") else None,
        )

    # ---------------------------------------------------------------- session

    async def current(self, deadline: Deadline) -> CBSession:
        session = self._session
        if session is not None:
            return session
        async with self._login_lock:
            if self._session is None:
                self._session = await self._login(deadline)
            return self._session

    async def renew(self, stale: Session, deadline: Deadline) -> None:
        async with self._login_lock:
            # Calls that failed together with the same session share one new login.
            if self._session is stale:
                logger.info("LivePerson session expired (HTTP 401); logging in again")
                self._session = None
                self._session = await self._login(deadline)

    async def _login(self, deadline: Deadline) -> CBSession:
        endpoints = await self.resolve(deadline)
        account = self.account
        transport = self._transport
        wrong = "user name, app key or secret" if self.uses_app_key else "user name or password"

        def refusal(response: httpx.Response) -> SourceError:
            status = response.status_code
            if status == 401:
                reason = f"wrong {wrong}"
            elif status == 403:
                reason = "the user may not log in (disabled, or not allowed from this address)"
            else:
                reason = server_message(try_json(response)) or "the request was refused"
            return transport.fail(
                f"LivePerson login failed for account {account}: {reason} (HTTP {status})",
                permanent=True,
            )

        login = Call(
            f"the login to account {account}",
            "POST",
            f"{endpoints.login}{LOGIN_PATH.format(account=quote(account, safe=''))}",
            auth="none",
            params={"v": "1.3"},
            body=self._credentials,
            refusal=refusal,
        )
        response = await transport.send(login, deadline)
        data = transport.json(login, response)
        bearer = text(data.get("bearer")) if isinstance(data, dict) else None
        if not isinstance(data, dict) or not bearer:
            raise transport.fail(
                f"LivePerson's login for account {account} answered without a bearer token"
                f" (HTTP {response.status_code})",
                permanent=False,
            )
        csrf = text(data.get("csrf")) or ""
        transport.hide(bearer, csrf)
        config = data.get("config")
        user_id = text(config.get("userId")) if isinstance(config, dict) else None

        sso = Call(
            "the Conversation Builder sign-on",
            "GET",
            f"{endpoints.sso}{SSO_PATH}",
            auth="bearer",
            refusal=lambda response: transport.fail(
                "LivePerson's login worked but Conversation Builder refused it"
                f" (HTTP {response.status_code}): the user needs access to Conversation"
                " Builder and its 'Bot Status Access' permission",
                permanent=True,
            ),
        )
        response = await transport.send(sso, deadline, bearer=bearer)
        result = transport.envelope(sso, response)
        api_token = text(result.get("apiAccessToken"))
        organization_id = text(result.get("sessionOrganizationId"))
        if not api_token or not organization_id:
            raise transport.fail(
                "Conversation Builder's sign-on answered without an access token or"
                f" organization (HTTP {response.status_code})",
                permanent=False,
            )
        perm_token = text(result.get("apiAccessPermToken")) or ""
        transport.hide(api_token, perm_token)
        logger.info("logged in to LivePerson account %s as %s", account, self.username)
        return CBSession(
            bearer=bearer,
            csrf=csrf,
            api_token=api_token,
            perm_token=perm_token,
            organization_id=organization_id,
            user_id=text(result.get("leUserId")) or user_id or "",
        )


# ------------------------------------------------------------------ settings


def require_account(env: EnvSettings) -> str:
    account = (env.lp_account_id or "").strip()
    if not account:
        raise ConfigError("LP_ACCOUNT_ID is not set: the LivePerson account (site) id is needed")
    if not all(c.isalnum() or c in "-_" for c in account):
        raise ConfigError(f"LP_ACCOUNT_ID={account!r} is not a LivePerson account id")
    return account


def credentials(env: EnvSettings) -> dict[str, str]:
    """The Login Service's body: a user name and password, or an app key set."""
    if not env.lp_username:
        raise ConfigError("LP_USERNAME is not set: the LivePerson user to log in as")
    if env.lp_password is not None and env.lp_password.get_secret_value():
        return {
            "username": env.lp_username,
            "password": env.lp_password.get_secret_value(),
        }
    app_key_set = {
        "appKey": env.lp_app_key,
        "secret": env.lp_secret,
        "accessToken": env.lp_access_token,
        "accessTokenSecret": env.lp_access_token_secret,
    }
    missing = [name for name, value in app_key_set.items() if value is None]
    if missing and len(missing) < len(app_key_set):
        variables = {
            "appKey": "LP_APP_KEY",
            "secret": "LP_SECRET",
            "accessToken": "LP_ACCESS_TOKEN",
            "accessTokenSecret": "LP_ACCESS_TOKEN_SECRET",
        }
        raise ConfigError(
            "the LivePerson app key set is incomplete: also set "
            + ", ".join(variables[name] for name in missing)
        )
    if missing:
        raise ConfigError(
            "no LivePerson credentials: set LP_PASSWORD, or LP_APP_KEY, LP_SECRET,"
            " LP_ACCESS_TOKEN and LP_ACCESS_TOKEN_SECRET"
        )
    result = {"username": env.lp_username}
    for name, value in app_key_set.items():
        assert value is not None
        result[name] = value.get_secret_value()
    return result


def base_url(url: str, variable: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{variable}={url!r} is not an http(s) URL")
    return url.strip().rstrip("/")
