"""The fake's account: its credentials, and the sessions and tokens it hands out.

LivePerson's Login Service gives a bearer, a csrf and a ``Session_id`` cookie; Conversation
Builder's SSO exchanges the bearer for an ``apiAccessToken`` that later calls send bare (no
"Bearer") with the ``OrganizationId`` header. Every token lives ``token_ttl`` seconds of the
fake's clock, a refresh extends a login, and ``expire`` ends them all at once.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass

from chatops.sandbox.jsontypes import JSONDict


@dataclass(frozen=True)
class Credentials:
    """What a client logs in with: a user name and password, or the app key set."""

    account_id: str
    username: str
    password: str
    app_key: str
    secret: str
    access_token: str
    access_token_secret: str
    user_id: str

    def accepts(self, body: JSONDict) -> tuple[bool, bool]:
        """(by password, by app key) for a login body."""
        user = body.get("username") == self.username
        by_password = user and body.get("password") == self.password
        by_app_key = (
            user
            and body.get("appKey") == self.app_key
            and body.get("secret") == self.secret
            and body.get("accessToken") == self.access_token
            and body.get("accessTokenSecret") == self.access_token_secret
        )
        return by_password, by_app_key

    def as_json(self) -> JSONDict:
        return {
            "accountId": self.account_id,
            "username": self.username,
            "password": self.password,
            "appKey": self.app_key,
            "secret": self.secret,
            "accessToken": self.access_token,
            "accessTokenSecret": self.access_token_secret,
        }


@dataclass
class LoginSession:
    username: str
    user_id: str
    bearer: str
    csrf: str
    session_id: str
    expires_at: float


@dataclass
class CBSession:
    username: str
    user_id: str
    api_token: str
    perm_token: str
    expires_at: float


class Sessions:
    """Logins and Conversation Builder sessions; thread-safe."""

    def __init__(
        self, credentials: Credentials, *, clock: Callable[[], float], token_ttl: float
    ) -> None:
        self.credentials = credentials
        self.clock = clock
        self.token_ttl = token_ttl
        self._lock = threading.Lock()
        self._logins: dict[str, LoginSession] = {}
        self._cb_tokens: dict[str, CBSession] = {}
        self._issued: list[str] = []

    def login(self) -> LoginSession:
        """A new login session (the caller has checked the credentials)."""
        now = self.clock()
        with self._lock:
            session = LoginSession(
                self.credentials.username,
                self.credentials.user_id,
                bearer=self._issue("lpb-"),
                csrf=self._issue("csrf-"),
                session_id=self._issue("sid-"),
                expires_at=now + self.token_ttl,
            )
            self._logins = {b: s for b, s in self._logins.items() if s.expires_at > now}
            self._logins[session.bearer] = session
        return session

    def refresh(self, csrf: object, session_id: str | None) -> LoginSession | None:
        """Extend the login with this csrf and cookie; None if there is none or it expired."""
        now = self.clock()
        with self._lock:
            for session in self._logins.values():
                if session.csrf == csrf and session.session_id == session_id:
                    if session.expires_at <= now:
                        return None
                    session.expires_at = now + self.token_ttl
                    return session
        return None

    def exchange(self, bearer: str) -> CBSession | None:
        """Conversation Builder's session for a live login bearer (SSO)."""
        now = self.clock()
        with self._lock:
            login = self._logins.get(bearer)
            if login is None or login.expires_at <= now:
                return None
            session = CBSession(
                login.username,
                login.user_id,
                api_token=self._issue("cbt-"),
                perm_token=self._issue("cbp-"),
                expires_at=now + self.token_ttl,
            )
            self._cb_tokens = {t: s for t, s in self._cb_tokens.items() if s.expires_at > now}
            self._cb_tokens[session.api_token] = session
        return session

    def bearer_login(self, bearer: str) -> LoginSession | None:
        """The live login a bearer belongs to (services that take the login bearer)."""
        with self._lock:
            login = self._logins.get(bearer)
            if login is None or login.expires_at <= self.clock():
                return None
            return login

    def cb_session(self, token: str) -> CBSession | None:
        with self._lock:
            session = self._cb_tokens.get(token)
            if session is None or session.expires_at <= self.clock():
                return None
            return session

    def expire(self) -> None:
        """Every login bearer and Conversation Builder token issued so far stops working."""
        with self._lock:
            self._logins.clear()
            self._cb_tokens.clear()

    def issued(self) -> list[str]:
        """Every bearer, csrf, session id and CB token handed out."""
        with self._lock:
            return list(self._issued)

    def _issue(self, prefix: str) -> str:
        token = f"{prefix}{secrets.token_urlsafe(24)}"
        self._issued.append(token)
        return token
