"""HTTP to LivePerson: one call with LivePerson's retry policy, and every failure as a message.

Retries follow LivePerson's retry policy within one call of ``fetch``/``start``/``stop``:
no retry on a 4xx, at least 1 s (or ``Retry-After``) after a 429, ``retry_waits`` between
attempts after a 5xx, a timeout or a broken connection; all inside the :class:`Deadline`.
A start or stop whose answer timed out is not sent again (it may have happened). A 401 on a
Conversation Builder call logs in again once (through :class:`Sessions`) and repeats the
call once.

Every failure leaves as one ``SourceError`` with a message a person can act on,
``permanent`` when retrying cannot help; the values given to :meth:`Transport.hide`
(credentials, tokens) are blanked out of every message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import httpx

from chatops import __version__
from chatops.jsontypes import JSONDict
from chatops.sources.base import SourceError
from chatops.sources.liveperson.parse import text

logger = logging.getLogger(__name__)

DEFAULT_RETRY_WAITS = (1.0, 2.0, 4.0)
# One request may take this long before it is abandoned and, if there is time, retried.
DEFAULT_REQUEST_TIMEOUT = 10.0
# LivePerson: "429: wait at least 1 s, no bursts".
MIN_RATE_LIMIT_WAIT = 1.0

Sleep = Callable[[float], Awaitable[None]]


@dataclass(slots=True)
class Call:
    """One HTTP call and how to describe it to a person."""

    what: str
    method: str
    url: str
    auth: Literal["none", "bearer", "cb"] = "cb"
    params: dict[str, str] | None = None
    body: JSONDict | None = None
    # A start or stop that timed out may have happened: do not send it twice.
    idempotent: bool = True
    # Maps a final 4xx response to the error to raise (None: the generic message).
    refusal: Callable[[httpx.Response], SourceError | None] | None = None


@dataclass(slots=True)
class Deadline:
    """The time left for one public call (``fetch``, ``start``...); retries fit inside."""

    seconds: float
    end: float = 0.0
    doing: str = "the request"

    def __post_init__(self) -> None:
        self.end = time.monotonic() + self.seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()


@dataclass(slots=True)
class _Failure:
    """What went wrong with one attempt, and whether another may help."""

    error: SourceError
    retryable: bool
    rate_limited: bool = False
    wait: float | None = None  # Retry-After, when the server gave one
    session_expired: bool = False


class Session(Protocol):
    """A Conversation Builder session, as a call needs it."""

    def headers(self) -> dict[str, str]: ...


class Sessions(Protocol):
    """Where the session for a Conversation Builder call (``auth="cb"``) comes from."""

    async def current(self, deadline: Deadline) -> Session: ...

    async def renew(self, stale: Session, deadline: Deadline) -> None:
        """Log in again, unless another call already replaced ``stale``."""
        ...


class Transport:
    """An httpx client for LivePerson's services, with the retry policy and error messages."""

    def __init__(
        self,
        *,
        username: str,
        retry_waits: Iterable[float] = DEFAULT_RETRY_WAITS,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._username = username
        self._retry_waits = tuple(retry_waits)
        self._request_timeout = request_timeout
        self._sleep = sleep
        self._hidden: set[str] = set()
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(request_timeout),
            headers={"User-Agent": f"chatops/{__version__}", "Accept": "application/json"},
            follow_redirects=False,
        )

    def hide(self, *secrets: str) -> None:
        """Never let these values (credentials, tokens) into a message."""
        self._hidden.update(secret for secret in secrets if len(secret) >= 4)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(
        self,
        call: Call,
        deadline: Deadline,
        *,
        sessions: Sessions | None = None,
        bearer: str | None = None,
    ) -> httpx.Response:
        """Send ``call`` with LivePerson's retry policy; return a 2xx response or raise.

        A Conversation Builder call (``auth="cb"``) takes its session from ``sessions``.
        """
        logged_in_again = False
        attempt = 0
        while True:
            attempt += 1
            session = (
                await sessions.current(deadline)
                if call.auth == "cb" and sessions is not None
                else None
            )
            deadline.doing = call.what
            outcome = await self._attempt(call, deadline, session, bearer)
            if isinstance(outcome, httpx.Response):
                return outcome
            if outcome.session_expired and session is not None and not logged_in_again:
                assert sessions is not None
                # Log in again once and repeat the call once; that repeat is not a retry.
                logged_in_again = True
                await sessions.renew(session, deadline)
                attempt -= 1
                continue
            if not outcome.retryable or attempt > len(self._retry_waits):
                raise _with_attempts(outcome.error, attempt)
            wait = self._retry_waits[attempt - 1]
            if outcome.rate_limited:
                wait = max(MIN_RATE_LIMIT_WAIT, wait if outcome.wait is None else outcome.wait)
            if wait >= deadline.remaining():
                raise _with_attempts(outcome.error, attempt, "no time left to retry")
            logger.warning("%s; retrying in %g s (attempt %d)", outcome.error, wait, attempt + 1)
            await self._sleep(wait)

    async def _attempt(
        self,
        call: Call,
        deadline: Deadline,
        session: Session | None,
        bearer: str | None,
    ) -> httpx.Response | _Failure:
        """One try: a 2xx response, or what went wrong and whether a retry may help."""
        headers: dict[str, str] = {}
        if session is not None:
            headers = session.headers()
        elif bearer is not None:
            headers = {"Authorization": f"Bearer {bearer}"}
        request_timeout = min(self._request_timeout, max(deadline.remaining(), 0.001))
        started = time.monotonic()
        try:
            response = await self._client.request(
                call.method,
                call.url,
                params=call.params,
                json=call.body,
                headers=headers,
                timeout=request_timeout,
            )
        except httpx.TimeoutException as exc:
            never_sent = isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            message = f"LivePerson did not answer {call.what} within {request_timeout:.3g} s"
            return _Failure(
                self.fail(message, permanent=False),
                retryable=call.idempotent or never_sent,
            )
        except httpx.TransportError as exc:
            return _Failure(
                self.fail(_connection_message(call, exc), permanent=False),
                retryable=call.idempotent or isinstance(exc, httpx.ConnectError),
            )
        # httpx leaves a read response in a reference cycle with its (closed) stream, so
        # only the cyclic collector would free it, the body (5 MB of status list) with it:
        # a stream of the body alone breaks the cycle, and reference counting frees both.
        response.stream = httpx.ByteStream(response.content)
        status = response.status_code
        logger.debug(
            "%s %s -> %d (%.0f ms)",
            call.method,
            without_query(call.url),
            status,
            (time.monotonic() - started) * 1000,
        )
        if 200 <= status < 300:
            return response
        if status == 401 and session is not None:
            return _Failure(self._refused(call, response), retryable=False, session_expired=True)
        if status == 429:
            message = f"LivePerson is limiting the rate of {call.what} (HTTP 429)"
            return _Failure(
                self.fail(message, permanent=False),
                retryable=True,
                rate_limited=True,
                wait=_retry_after(response),
            )
        if status >= 500:
            return _Failure(self.fail(self._server_error(call, response), permanent=False), True)
        error = call.refusal(response) if call.refusal else None
        return _Failure(error or self._refused(call, response), retryable=False)

    # --------------------------------------------------------------- errors

    def _server_error(self, call: Call, response: httpx.Response) -> str:
        status = response.status_code
        if _is_html(response):
            return (
                f"LivePerson returned an HTML page instead of JSON from {call.what} (HTTP {status})"
            )
        detail = server_message(try_json(response))
        suffix = f": {detail}" if detail else ""
        return f"LivePerson failed to serve {call.what} (HTTP {status}{suffix})"

    def _refused(self, call: Call, response: httpx.Response) -> SourceError:
        status = response.status_code
        if status == 401:
            message = (
                f"LivePerson rejected the session for {call.what} (HTTP 401) even after"
                " logging in again; check that the user is enabled and may use Bots Status"
            )
        elif status == 403:
            message = (
                f"LivePerson refused {call.what} (HTTP 403): the user {self._username} needs"
                " the Conversation Builder permission 'Bot Status Access'"
            )
        elif status == 404:
            message = (
                f"LivePerson has no {call.what.removeprefix('the ')} at"
                f" {without_query(call.url)} (HTTP 404); check LP_API_URL"
            )
        elif 300 <= status < 400:
            location = response.headers.get("location", "?")
            message = (
                f"LivePerson redirected {call.what} to {without_query(location)}"
                f" (HTTP {status}); check LP_API_URL"
            )
        elif _is_html(response):
            message = (
                f"LivePerson returned an HTML page instead of JSON from {call.what} (HTTP {status})"
            )
        else:
            detail = server_message(try_json(response))
            message = (
                f"LivePerson refused {call.what} (HTTP {status}{': ' + detail if detail else ''})"
            )
        return self.fail(message, permanent=True)

    def json(self, call: Call, response: httpx.Response) -> Any:
        """The response's JSON, or a SourceError saying it is HTML or malformed."""
        self.not_html(call, response)
        try:
            return json.loads(response.content)
        except ValueError:
            raise self.malformed(call, response) from None

    def not_html(self, call: Call, response: httpx.Response) -> None:
        if _is_html(response):
            raise self.fail(
                f"LivePerson returned an HTML page instead of JSON from {call.what}"
                f" (HTTP {response.status_code})",
                permanent=False,
            )

    def malformed(self, call: Call, response: httpx.Response) -> SourceError:
        return self.fail(
            f"LivePerson returned malformed JSON from {call.what} (HTTP {response.status_code})",
            permanent=False,
        )

    def envelope(self, call: Call, response: httpx.Response) -> JSONDict:
        """``successResult`` of a Conversation Builder envelope, checking ``success``."""
        data = self.json(call, response)
        if not isinstance(data, dict):
            raise self.fail(
                f"LivePerson's answer to {call.what} is not a JSON object"
                f" (HTTP {response.status_code})",
                permanent=False,
            )
        if data.get("success") is False:
            raise self.fail(
                f"LivePerson reported a failure for {call.what}:"
                f" {server_message(data) or 'no reason given'}",
                permanent=False,
            )
        result = data.get("successResult")
        if not isinstance(result, dict):
            raise self.fail(
                f"LivePerson's answer to {call.what} has no successResult"
                f" (HTTP {response.status_code})",
                permanent=False,
            )
        return result

    def fail(self, message: str, *, permanent: bool) -> SourceError:
        """A SourceError with ``message``, every hidden value blanked out (belt and braces)."""
        for secret in self._hidden:
            message = message.replace(secret, "***")
        return SourceError(message, permanent=permanent)


# ------------------------------------------------------------------ helpers


def try_json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def server_message(data: Any) -> str | None:
    """LivePerson's own short reason, from either of its error shapes."""
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    message = message or data.get("message") or (error if isinstance(error, str) else None)
    reason = text(message)
    return reason[:200] if reason else None


def _is_html(response: httpx.Response) -> bool:
    content_type = response.headers.get("content-type", "").lower()
    if "html" in content_type:
        return True
    return response.content.lstrip()[:1] == b"<"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _with_attempts(error: SourceError, attempts: int, note: str | None = None) -> SourceError:
    details = [f"{attempts} attempts"] if attempts > 1 else []
    if note:
        details.append(note)
    if details:
        error.message += f" ({'; '.join(details)})"
    return error


def without_query(url: str) -> str:
    return url.split("?", 1)[0]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _causes(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _connection_message(call: Call, exc: httpx.TransportError) -> str:
    where = _origin(call.url)
    for cause in _causes(exc):
        if isinstance(cause, ConnectionRefusedError):
            return f"cannot reach LivePerson at {where}: connection refused"
        if isinstance(cause, socket.gaierror):
            return f"cannot reach LivePerson at {where}: host name not found"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"cannot reach LivePerson at {where}: TLS certificate not trusted"
        if isinstance(cause, ssl.SSLError):
            return f"cannot reach LivePerson at {where}: TLS handshake failed"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot reach LivePerson at {where}: {exc or 'connection failed'}"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return (
            f"the connection to LivePerson at {where} broke during {call.what}"
            " (closed before the response was complete)"
        )
    return f"cannot talk to LivePerson at {where} for {call.what}: {type(exc).__name__}"
