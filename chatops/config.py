"""One typed Settings object: credentials and endpoints from the environment
(``EnvSettings``), behaviour from one YAML file (``AppConfig``).

Secrets only ever come from the environment, or from a file named by ``NAME_FILE``.
Every YAML key has a default; an unknown key is an error that names it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from chatops.domain import Environment
from chatops.domain.conversations import (
    CONVERSATION_LIMIT,
    DEFAULT_DEGRADED_LOAD,
    DEFAULT_NEAR_LIMIT,
    ConversationLimits,
)
from chatops.domain.durations import parse_duration
from chatops.domain.maintenance import Recurrence, time_zone
from chatops.domain.permission import Permission

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///chatops.db"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_CONFIG_FILE = "chatops.yml"


class ConfigError(Exception):
    """The configuration is invalid; the message says which item and why."""


_SECONDS = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")


def _duration(value: Any) -> timedelta:
    """A YAML duration: the grammar of ``chatops.domain.durations`` (``90s``, ``15m``,
    ``1h30m``, ...) or a plain number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        if _SECONDS.match(value):
            return timedelta(seconds=float(value))
        parsed = parse_duration(value)
        if parsed is not None:
            return parsed
    raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 15m, 4h, 2d, 1h30m)")


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PollConfig(_Strict):
    interval: Duration = timedelta(seconds=60)
    timeout: Duration = timedelta(seconds=20)
    unreachable_after: int = Field(default=3, ge=1)
    environments: tuple[Environment, ...] = (Environment.PRODUCTION,)

    @field_validator("environments", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(str(v).lower() for v in value)
        return value

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() < 1:
            raise ValueError("poll.interval must be at least 1s")
        return value


class Route(_Strict):
    channel: str
    bots: tuple[str, ...] = ()
    kind: Literal["custom", "pcs"] | None = None
    environment: Environment | None = None
    # Degraded bots (some connectors OK, some not): a channel of their own, or false for no
    # alert until the bot is down; unset, they go to ``channel`` like any alert.
    degraded: str | bool | None = None


class FlappingConfig(_Strict):
    changes: int = Field(default=4, ge=2)
    window: Duration = timedelta(minutes=15)


class AlertsConfig(_Strict):
    channel: str | None = None
    routes: tuple[Route, ...] = ()
    confirm_polls: int = Field(default=2, ge=1)
    flapping: FlappingConfig = FlappingConfig()
    digest_after: int = Field(default=5, ge=1)
    remind_every: Duration = timedelta(hours=4)
    # Alert when a bot is degraded (some connectors OK, some not); false: only when it is down.
    degraded: bool = True


class PermissionRule(_Strict):
    users: tuple[str, ...] = ()
    usergroups: tuple[str, ...] = ()
    allow: tuple[Permission, ...]
    bots: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _someone(self) -> PermissionRule:
        if not self.users and not self.usergroups:
            raise ValueError("a permission rule needs users or usergroups")
        return self


class HeartbeatConfig(_Strict):
    """A push monitor (healthchecks.io, Cronitor, Uptime Kuma, Better Stack) the leader pings
    after its polls: ``url`` after a good one, ``url`` + ``/fail`` after a failed one."""

    url: str
    every: Duration = timedelta(minutes=1)
    # A ping that has no answer within this is given up; it never holds a poll up.
    timeout: Duration = timedelta(seconds=5)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"heartbeat.url must be an http:// or https:// URL, not {value!r}")
        return value

    @field_validator("every", "timeout")
    @classmethod
    def _at_least_a_second(cls, value: timedelta) -> timedelta:
        if value.total_seconds() < 1:
            raise ValueError("must be at least 1s")
        return value


class ConversationsConfig(_Strict):
    """LivePerson's Agent Metrics for the connectors' bot users (open conversations)."""

    # Read the Agent Metrics API with each poll; false: no counts are shown anywhere.
    metrics: bool = True
    # Flag a connector with at least this many open conversations (LivePerson's limit: 999).
    near_limit: int = Field(default=DEFAULT_NEAR_LIMIT, ge=1, le=CONVERSATION_LIMIT)
    # Flag a degraded bot whose remaining OK connectors carry more than this many open
    # conversations each (LivePerson's guidance: about 50 per connector).
    degraded_load: int = Field(default=DEFAULT_DEGRADED_LOAD, ge=1, le=CONVERSATION_LIMIT)

    def limits(self) -> ConversationLimits:
        return ConversationLimits(near_limit=self.near_limit, degraded_load=self.degraded_load)


class MaintenanceConfig(_Strict):
    """A recurring maintenance window: no alerts for ``bots`` from ``every`` for ``for``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    bots: tuple[str, ...] = Field(min_length=1)
    every: str
    length: Duration = Field(alias="for")
    timezone: str = "UTC"
    reason: str | None = Field(default=None, max_length=500)

    @field_validator("bots")
    @classmethod
    def _named(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not glob.strip() for glob in value):
            raise ValueError("a bot name or glob must not be empty")
        return value

    @field_validator("every")
    @classmethod
    def _schedule(cls, value: str) -> str:
        Recurrence.parse(value)
        return value

    @field_validator("length")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("a maintenance window lasts longer than zero")
        if value > timedelta(days=7):
            raise ValueError("a recurring maintenance window lasts at most 7d")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        time_zone(value)
        return value

    @property
    def recurrence(self) -> Recurrence:
        return Recurrence.parse(self.every)


class AppConfig(_Strict):
    """The YAML file's contents (ARCHITECTURE.md section 4)."""

    poll: PollConfig = PollConfig()
    alerts: AlertsConfig = AlertsConfig()
    permissions: tuple[PermissionRule, ...] = ()
    # Who a refused user should ask for access (a name, @handle or channel).
    permissions_contact: str = "your Slack workspace admins"
    heartbeat: HeartbeatConfig | None = None
    conversations: ConversationsConfig = ConversationsConfig()
    # Recurring maintenance windows; one-off ones come from /botstatus.
    maintenance: tuple[MaintenanceConfig, ...] = ()


class EnvSettings(BaseModel):
    """Credentials and endpoints from the environment."""

    model_config = ConfigDict(frozen=True)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    lp_account_id: str | None = None
    lp_username: str | None = None
    lp_password: SecretStr | None = None
    lp_app_key: SecretStr | None = None
    lp_secret: SecretStr | None = None
    lp_access_token: SecretStr | None = None
    lp_access_token_secret: SecretStr | None = None
    lp_api_url: str | None = None
    lp_csds_url: str = "https://api.liveperson.net"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    env: EnvSettings
    app: AppConfig
    config_file: Path | None = None


_ENV_NAMES = {
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_signing_secret": "SLACK_SIGNING_SECRET",
    "slack_app_token": "SLACK_APP_TOKEN",
    "slack_api_url": "SLACK_API_URL",
    "database_url": "CHATOPS_DATABASE_URL",
    "lp_account_id": "LP_ACCOUNT_ID",
    "lp_username": "LP_USERNAME",
    "lp_password": "LP_PASSWORD",
    "lp_app_key": "LP_APP_KEY",
    "lp_secret": "LP_SECRET",
    "lp_access_token": "LP_ACCESS_TOKEN",
    "lp_access_token_secret": "LP_ACCESS_TOKEN_SECRET",
    "lp_api_url": "LP_API_URL",
    "lp_csds_url": "LP_CSDS_URL",
}


def _env_value(environ: Mapping[str, str], name: str) -> str | None:
    """``NAME`` or the contents of the file named by ``NAME_FILE`` (Docker/Kubernetes secrets)."""
    value = environ.get(name)
    if value:
        return value
    path = environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE={path}: cannot read it ({exc.strerror})") from exc
    return None


def load_env_settings(environ: Mapping[str, str] | None = None) -> EnvSettings:
    environ = os.environ if environ is None else environ
    values = {
        field: value
        for field, name in _ENV_NAMES.items()
        if (value := _env_value(environ, name)) is not None
    }
    return EnvSettings(**values)


def _format_errors(source: str, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key '{where}'")
        else:
            lines.append(f"{source}: {where}: {error['msg']}")
    return "\n".join(lines)


def load_app_config(path: Path | None) -> AppConfig:
    if path is None:
        return AppConfig()
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    try:
        return AppConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(str(path), exc)) from None


def config_path(explicit: str | Path | None, environ: Mapping[str, str]) -> Path | None:
    if explicit:
        return Path(explicit)
    if environ.get("CHATOPS_CONFIG"):
        return Path(environ["CHATOPS_CONFIG"])
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.exists() else None


def load_settings(
    config_file: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Load and validate everything once; raise ConfigError with a readable message."""
    environ = os.environ if environ is None else environ
    path = config_path(config_file, environ)
    try:
        env = load_env_settings(environ)
    except ValidationError as exc:
        raise ConfigError(_format_errors("environment", exc)) from None
    return Settings(env=env, app=load_app_config(path), config_file=path)
