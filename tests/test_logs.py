"""JSON and text logs: context ids through async code, redaction of credentials, the format."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from chatops import logs
from chatops.logs import (
    RequestContextMiddleware,
    configure_logging,
    current_context,
    json_logs_wanted,
    log_context,
    redact,
    register_secrets,
)

log = logging.getLogger("chatops.test_logs")


@pytest.fixture
def output(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Logging configured as in production (JSON) into a buffer; the root logger restored."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    watched = ["httpx", "alembic", "httpcore", "hpack", "apscheduler.executors.default"]
    saved_levels = {name: logging.getLogger(name).level for name in watched}
    monkeypatch.setattr(logs, "_registered", [])
    buffer = io.StringIO()
    configure_logging(json_format=True, level=logging.INFO, stream=buffer)
    yield buffer
    for handler in root.handlers:
        if handler not in saved_handlers:
            handler.close()
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    for name, level in saved_levels.items():
        logging.getLogger(name).setLevel(level)


def lines(buffer: io.StringIO, logger: str | None = "chatops.test_logs") -> list[dict[str, Any]]:
    """The JSON entries written, those of ``logger`` only (asyncio and httpx log too)."""
    entries = [json.loads(line) for line in buffer.getvalue().splitlines()]
    return [entry for entry in entries if logger is None or entry["logger"] == logger]


def test_it_writes_one_json_object_a_line_with_time_level_logger_and_message(
    output: io.StringIO,
) -> None:
    log.warning("bot %s went %s\nsecond line", "billing-1", "down")

    [entry] = lines(output)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "chatops.test_logs"
    assert entry["message"] == "bot billing-1 went down\nsecond line"
    assert entry["time"].endswith("+00:00")


def test_it_adds_the_context_fields_and_drops_them_after_the_block(output: io.StringIO) -> None:
    with log_context(poll_id="p1"):
        with log_context(bot="billing-1"):
            log.info("inner")
        log.info("outer")
    log.info("after")

    inner, outer, after = lines(output)
    assert (inner["poll_id"], inner["bot"]) == ("p1", "billing-1")
    assert outer["poll_id"] == "p1" and "bot" not in outer
    assert "poll_id" not in after
    assert current_context() == {}


async def test_it_keeps_the_ids_of_concurrent_tasks_apart(output: io.StringIO) -> None:
    both_inside = asyncio.Barrier(2)

    async def handle(request_id: str) -> None:
        with log_context(request_id=request_id):
            await both_inside.wait()  # each logs while the other's context is set too
            log.info("handled")

    await asyncio.gather(handle("r1"), handle("r2"))

    assert sorted(entry["request_id"] for entry in lines(output)) == ["r1", "r2"]


async def test_it_carries_the_context_into_tasks_started_inside_it(output: io.StringIO) -> None:
    async def background() -> None:
        log.info("from the task")

    with log_context(poll_id="p7"):
        task = asyncio.create_task(background())
    await task

    assert lines(output)[0]["poll_id"] == "p7"


def test_extra_fields_are_written_and_win_over_the_context(output: io.StringIO) -> None:
    with log_context(bot="from-context", poll_id="p1"):
        log.info("sent", extra={"bot": "from-extra", "alert_id": 42})
    log.info("uvicorn style", extra={"color_message": "\x1b[36mstarted\x1b[0m"})

    first, uvicorn_style = lines(output)
    assert (first["bot"], first["alert_id"], first["poll_id"]) == ("from-extra", 42, "p1")
    assert "color_message" not in uvicorn_style


def test_it_refuses_a_context_field_that_would_overwrite_a_log_key() -> None:
    with pytest.raises(ValueError, match="message is a reserved log key"):
        with log_context(message="x"):
            pass


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("posting with xoxb-1234-5678-AbCdEf", "1234-5678-AbCdEf"),
        ("socket mode token xapp-1-A0B1-99-ffee", "1-A0B1-99-ffee"),
        ("headers: Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi"),
        ("{'Authorization': 'OAuth oauth_consumer_key=\"k1\", oauth_signature=\"s1\"'}", "k1"),
        ("[(b'Set-Cookie', b'session=abc123; Path=/')]", "abc123"),
        ("cannot reach postgresql+asyncpg://chatops:hunter22@db:5432/chatops", "hunter22"),
        ("url postgresql://u:p@ss/w0rd@db/x", "ss/w0rd"),
        ("GET /login?user=bob&password=hunter22&v=1", "hunter22"),
        ('body {"username": "bob", "password": "hun\\"ter22"}', "ter22"),
        ("environment SLACK_SIGNING_SECRET=8f14e45fceea167a", "8f14e45fceea167a"),
    ],
)
def test_it_redacts_credentials(text: str, secret: str) -> None:
    redacted = redact(text)

    assert secret not in redacted
    assert "***" in redacted


def test_it_leaves_ordinary_text_alone() -> None:
    text = "token: invalid_auth; the cookie jar is empty; mail bob@example.com via https://x/y"

    assert redact(text) == text


def test_it_redacts_exceptions_extra_fields_and_registered_values(output: io.StringIO) -> None:
    register_secrets(["8f14e45fceea", None, "abc"])
    try:
        raise RuntimeError("login failed for postgresql://chatops:hunter22@db/chatops")
    except RuntimeError:
        log.exception(
            "signing secret 8f14e45fceea rejected",
            extra={"request": {"password": "hunter22", "user": "bob"}},
        )

    written = output.getvalue()
    assert "hunter22" not in written and "8f14e45fceea" not in written
    [entry] = lines(output)
    assert entry["request"] == {"password": "***", "user": "bob"}
    assert "RuntimeError: login failed" in entry["exc_info"]
    # Too short to tell from ordinary words: registering it changes nothing.
    assert redact("abc") == "abc"


def test_the_text_format_shows_the_context_and_redacts_too(output: io.StringIO) -> None:
    configure_logging(json_format=False, level=logging.INFO, stream=output)
    with log_context(request_id="r9"):
        log.info("Slack said Bearer abc.def")

    line = output.getvalue().splitlines()[-1]
    assert line.endswith("INFO chatops.test_logs: Slack said Bearer *** [request_id=r9]")


def test_configuring_again_replaces_its_own_handler_and_keeps_others(output: io.StringIO) -> None:
    root = logging.getLogger()
    others = [h for h in root.handlers if not getattr(h, "_chatops_handler", False)]
    second = io.StringIO()

    configure_logging(json_format=True, level=logging.INFO, stream=second)
    log.info("once")

    assert [h for h in root.handlers if not getattr(h, "_chatops_handler", False)] == others
    assert sum(getattr(h, "_chatops_handler", False) for h in root.handlers) == 1
    assert lines(output) == [] and len(lines(second)) == 1


def test_wire_level_loggers_stay_at_info_even_when_debugging(output: io.StringIO) -> None:
    configure_logging(json_format=True, level=logging.DEBUG, stream=output)
    logging.getLogger("httpcore.http11").debug("receive_response_headers (b'Set-Cookie', b'x')")
    logging.getLogger("httpx").debug("HTTP Request: GET https://example.test")

    assert [entry["logger"] for entry in lines(output, logger=None)] == ["httpx"]
    configure_logging(json_format=True, level=logging.INFO, stream=output)
    assert logging.getLogger("httpx").level == logging.WARNING


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("setting", "stream", "json_format"),
    [
        ("json", Terminal(), True),
        (" TEXT ", io.StringIO(), False),
        (None, Terminal(), False),
        ("", io.StringIO(), True),
    ],
)
def test_the_format_follows_the_setting_else_the_terminal(
    setting: str | None, stream: io.StringIO, json_format: bool
) -> None:
    assert json_logs_wanted(setting, stream) is json_format


def test_an_unknown_format_is_an_error_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="CHATOPS_LOG_FORMAT must be json or text, not 'xml'"):
        json_logs_wanted("xml")


def _app() -> Starlette:
    async def hello(request: Request) -> PlainTextResponse:
        log.info("handling")
        return PlainTextResponse("hi", headers={"X-Request-Id": "from-the-handler"})

    return Starlette(
        routes=[Route("/slack/events", hello, methods=["POST"])],
        middleware=[Middleware(RequestContextMiddleware)],
    )


async def _post(headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://chatops.test") as client:
        return await client.post("/slack/events", headers=headers)


async def test_each_request_logs_under_the_id_it_returns(output: io.StringIO) -> None:
    first, second = await _post(), await _post()

    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert ids[0] != ids[1] and all(len(i) == 12 for i in ids)
    entries = lines(output)
    assert [entry["request_id"] for entry in entries] == ids
    assert {entry["path"] for entry in entries} == {"/slack/events"}
    assert first.headers.get_list("x-request-id") == [ids[0]]


async def test_it_keeps_a_proxys_request_id_but_not_a_hostile_one(output: io.StringIO) -> None:
    kept = await _post({"X-Request-Id": "lb-7f3a.9"})
    replaced = await _post({"X-Request-Id": "x" * 65})
    injected = await _post({"X-Request-Id": 'a" "level": "CRITICAL'})

    assert kept.headers["x-request-id"] == "lb-7f3a.9"
    assert len(replaced.headers["x-request-id"]) == 12
    assert len(injected.headers["x-request-id"]) == 12
    assert [entry["level"] for entry in lines(output)] == ["INFO"] * 3


def test_by_default_it_writes_to_the_stderr_of_the_moment(
    output: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_logging(json_format=True, level=logging.INFO)
    later = io.StringIO()
    monkeypatch.setattr("sys.stderr", later)

    log.info("after stderr was replaced")

    assert [entry["message"] for entry in lines(later)] == ["after stderr was replaced"]
