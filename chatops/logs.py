"""Logging for operators: one JSON object a line (or plain text), context ids, no secrets.

``configure_logging`` installs one handler on the root logger. Every record it writes carries
the fields of the innermost :func:`log_context` (``request_id`` for an HTTP request,
``poll_id`` for a poll tick, ...). The context lives in a ``contextvars.ContextVar``, so it
follows the code through ``await`` and into tasks created inside it, and two requests served
at once never see each other's id.

Whatever the format, the text written goes through :func:`redact` first: Slack tokens,
``Bearer`` and ``Authorization`` values, passwords in URLs, ``password=...``-style pairs and
any value given to :func:`register_secrets` come out as ``***``. Redacting at the handler
rather than at each call site means a secret that slips into an exception message or a
library's log line is caught too.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import sys
import traceback
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "LOG_FORMAT_VARIABLE",
    "ContextFilter",
    "JsonFormatter",
    "RequestContextMiddleware",
    "TextFormatter",
    "configure_logging",
    "current_context",
    "json_logs_wanted",
    "log_context",
    "new_id",
    "redact",
    "register_secrets",
]

LOG_FORMAT_VARIABLE: Final = "CHATOPS_LOG_FORMAT"
REDACTED: Final = "***"

ContextValue = str | int | float | bool | None

# Keys a JSON line always has; a context field of the same name would overwrite them.
_RESERVED: Final = frozenset({"time", "level", "logger", "message", "exc_info", "stack_info"})

_context: contextvars.ContextVar[Mapping[str, ContextValue]] = contextvars.ContextVar(
    "chatops_log_context", default=MappingProxyType({})
)


@contextmanager
def log_context(**fields: ContextValue) -> Iterator[None]:
    """Add ``fields`` to every record logged inside the ``with`` block (nesting merges).

    Safe in async code: each task has its own copy of the context, so the fields never leak
    into a request or poll running concurrently.
    """
    reserved = _RESERVED.intersection(fields)
    if reserved:
        raise ValueError(f"log_context: {', '.join(sorted(reserved))} is a reserved log key")
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> Mapping[str, ContextValue]:
    return _context.get()


def new_id() -> str:
    """A short random id for one request or one poll (12 hex digits: 48 bits)."""
    return secrets.token_hex(6)


# ------------------------------------------------------------------------------ redaction

_SECRET_KEY = r"\w*(?:password|passwd|secret|token|api_?key|app_?key|signature)\w*"
_CREDENTIAL_HEADER = r"(?:(?:proxy-)?authorization|(?:set-)?cookie)"
_SECRET_NAME: Final = re.compile(_SECRET_KEY, re.IGNORECASE)
_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # Slack tokens: bot (xoxb-), user (xoxp-), app-level (xapp-), rotating (xoxe.xoxp-), ...
    (re.compile(r"\b(xox[a-z]|xapp)-[A-Za-z0-9-]+"), rf"\1-{REDACTED}"),
    # Credential headers, whatever the scheme (Bearer, Basic, LivePerson's OAuth 1.0a) and
    # the form: "Name: value", {"Name": "value"}, or httpcore's (b'Name', b'value') trace.
    # A quoted value is cut at its closing quote, a bare one at the end of the line.
    (
        re.compile(rf"(?i)\b({_CREDENTIAL_HEADER}[\"']?\s*[:=,]\s*b?)([\"'])(?:\\.|(?!\2).)*\2"),
        rf"\1\2{REDACTED}\2",
    ),
    (re.compile(rf"(?i)\b({_CREDENTIAL_HEADER}\s*[:=]\s*)(?![\"'*])[^\n]+"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+"), rf"\1{REDACTED}"),
    # scheme://user:password@host: up to the last "@" of the token, so that an unencoded
    # "@" or "/" in the password cannot end the match early.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s]*@"), rf"\1{REDACTED}@"),
    # password=..., lp_secret=..., oauth_signature=... (query strings, forms, env dumps).
    (re.compile(rf"(?i)\b({_SECRET_KEY})=(?:\"[^\"]*\"|[^\s&\"',;]+)"), rf"\1={REDACTED}"),
    # "password": "..." and 'token': '...' (JSON bodies, Python reprs of dicts).
    (
        re.compile(rf"(?i)([\"']{_SECRET_KEY}[\"']\s*:\s*)([\"'])(?:\\.|(?!\2).)*\2"),
        rf"\1\2{REDACTED}\2",
    ),
)

# Exact values known to be secret (the signing secret, the LivePerson password, ...), set by
# register_secrets once the settings are loaded. Shorter values are not scrubbed: they would
# also match ordinary words, and the patterns above still apply to them.
MIN_REGISTERED_SECRET_LENGTH: Final = 6
_registered: list[str] = []


def register_secrets(values: Iterable[str | None]) -> None:
    """Scrub these exact values from every log line from now on (longest first)."""
    known = set(_registered)
    known.update(v for v in values if v and len(v) >= MIN_REGISTERED_SECRET_LENGTH)
    _registered[:] = sorted(known, key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with everything that looks like a credential replaced by ``***``."""
    for value in _registered:
        if value in text:
            text = text.replace(value, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if _SECRET_NAME.fullmatch(str(k)) else _redact_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(v) for v in value]
    return redact(str(value))


# ---------------------------------------------------------------------- filter, formatters

_CONTEXT_ATTRIBUTE: Final = "chatops_context"
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRIBUTES: Final = frozenset(
    [
        *logging.LogRecord("", 0, "", 0, "", (), None).__dict__,
        "message",
        "asctime",
        "taskName",
        _CONTEXT_ATTRIBUTE,
        # uvicorn's copy of the message with terminal colour codes.
        "color_message",
    ]
)


class ContextFilter(logging.Filter):
    """Stamps each record with the current :func:`log_context` fields (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        setattr(record, _CONTEXT_ATTRIBUTE, dict(_context.get()))
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """Context fields, then ``extra=`` fields (the more specific wins)."""
    fields: dict[str, Any] = dict(getattr(record, _CONTEXT_ATTRIBUTE, None) or {})
    for key, value in record.__dict__.items():
        if key not in _STANDARD_ATTRIBUTES and key not in _RESERVED and not key.startswith("_"):
            fields[key] = value
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, context and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_fields(record))
        if record.exc_info:
            entry["exc_info"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = record.stack_info
        return json.dumps(_redact_value(entry), ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message [key=value ...]`` for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = _fields(record)
        if fields:
            suffix = " ".join(f"{key}={value}" for key, value in fields.items())
            head, newline, rest = text.partition("\n")
            text = f"{head} [{suffix}]{newline}{rest}"
        return redact(text)


# --------------------------------------------------------------------------- configuration

# Loggers that say something on every request, migration step or tick at INFO: kept to warnings
# unless debugging, so that the log shows what changed rather than that time passed.
_CHATTY_LOGGERS: Final = ("httpx", "alembic", "apscheduler.executors.default")
# Loggers whose DEBUG output is raw HTTP traffic (headers with session cookies): never below
# INFO, even with --verbose; redaction is the second line of defence, not the first.
_WIRE_LOGGERS: Final = ("httpcore", "hpack")
_HANDLER_MARK: Final = "_chatops_handler"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record arrives, not when configured.

    Tests capture and then close stderr, and a handler holding on to the old object would
    fail on every record after that.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass  # StreamHandler.__init__ and setStream assign it; the live stderr wins


def json_logs_wanted(setting: str | None, stream: TextIO | None = None) -> bool:
    """Decide the format from ``CHATOPS_LOG_FORMAT``: json, text, or unset (text on a TTY).

    Raises ValueError naming the variable for any other value.
    """
    value = (setting or "").strip().lower()
    if value == "json":
        return True
    if value == "text":
        return False
    if value:
        raise ValueError(f"{LOG_FORMAT_VARIABLE} must be json or text, not {setting!r}")
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


def configure_logging(*, json_format: bool, level: int, stream: TextIO | None = None) -> None:
    """Send every log record to ``stream`` (stderr) as JSON or text, redacted.

    Calling it again replaces the handler it installed before and leaves any other handler
    (pytest's capture, for one) alone.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
            handler.close()
    handler = _StderrHandler() if stream is None else logging.StreamHandler(stream)
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if json_format else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(
            logging.NOTSET if level <= logging.DEBUG else logging.WARNING
        )
    for name in _WIRE_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.INFO))


# ------------------------------------------------------------------------- request context

_REQUEST_ID_HEADER: Final = b"x-request-id"
# An id taken from a caller goes into every log line, so only a short, plain token is kept.
_ACCEPTABLE_REQUEST_ID: Final = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    """ASGI middleware: each HTTP request logs under a ``request_id`` (and its ``path``).

    The id comes from an ``X-Request-Id`` header set by a proxy in front, if it is a short
    plain token, or is made up here; either way it is echoed in the response's
    ``X-Request-Id`` so a user's report can be matched to the log.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self._incoming_id(scope) or new_id()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != _REQUEST_ID_HEADER
                ]
                headers.append((_REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with log_context(request_id=request_id, path=scope.get("path", "")):
            await self.app(scope, receive, send_with_id)

    @staticmethod
    def _incoming_id(scope: Scope) -> str | None:
        for name, value in scope.get("headers", []):
            if name.lower() == _REQUEST_ID_HEADER and _ACCEPTABLE_REQUEST_ID.match(value):
                return str(value.decode("ascii"))
        return None
