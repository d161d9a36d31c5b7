"""Serving the demo: ``chatops demo`` in the foreground, or in a thread for tests and scripts.

Ctrl-C (SIGINT) or SIGTERM stops it cleanly: the sandbox page's long polls are answered at
once, uvicorn closes connections (waiting at most ``GRACEFUL_SECONDS`` for requests in
flight), the scenario and the app's scheduler stop, the database is closed and its
temporary directory removed, and the process exits 0. A second Ctrl-C skips the waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import uvicorn
from pydantic import SecretStr

from chatops.demo.app import Demo, DemoOptions, build_demo
from chatops.logs import register_secrets
from chatops.sandbox import serving
from chatops.sandbox.serving import ServedApp
from chatops.sandbox.ui import SandboxPage
from chatops.store.polls import last_successful_poll

T = TypeVar("T")
log = logging.getLogger(__name__)

GRACEFUL_SECONDS = 3
FIRST_POLL_SECONDS = 20
DATABASE_FILE = "chatops-demo.db"
# Third-party loggers that speak at INFO on every poll or request; the demo's console should
# show the app's own lines (actions, the scenario's events) instead.
_CHATTY_LOGGERS = ("alembic", "apscheduler", "httpx", "uvicorn", "uvicorn.error", "slack_bolt")


class PortUnavailable(Exception):
    """The demo cannot listen on the port asked for; the message names it and says why."""


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or PortUnavailable saying why not."""
    try:
        return serving.listen(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            reason = f"port {port} is already in use (is another demo running?)"
        elif exc.errno == errno.EACCES:
            reason = f"no permission to listen on port {port}"
        else:
            reason = f"cannot listen on port {port}: {exc.strerror or exc}"
        raise PortUnavailable(f"{reason}; choose another port with --port") from exc


def local_url(host: str, port: int) -> str:
    """Where this machine reaches the server (a wildcard address is reached on loopback)."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class DemoServer(uvicorn.Server):
    """uvicorn, plus: answer the page's long polls before waiting for requests in flight,
    and exit normally on Ctrl-C (uvicorn re-raises the signal after a graceful shutdown)."""

    def __init__(
        self,
        demo: Demo,
        *,
        on_started: Callable[[], None] = lambda: None,
    ) -> None:
        config = uvicorn.Config(
            demo.app,
            lifespan="on",
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
            ws="none",
        )
        super().__init__(config)
        self.demo = demo
        self.page: SandboxPage = demo.page
        self.on_started = on_started
        self._announcing: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            # The first poll reaches the fake LivePerson through this very server, so it can
            # only run now; the URL is announced once there is something to see.
            self._announcing = asyncio.get_running_loop().create_task(self._announce())

    async def _announce(self) -> None:
        deadline = time.monotonic() + FIRST_POLL_SECONDS
        while not self.should_exit:
            async with self.demo.runtime.sessions() as session:
                polled = await last_successful_poll(session) is not None
            if polled or time.monotonic() > deadline:
                if not polled:
                    log.warning("the first poll has not succeeded yet; the page fills in later")
                self.on_started()
                return
            await asyncio.sleep(0.05)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # A browser's long poll would otherwise hold the shutdown for up to 25 s.
        self.page.close()
        await super().shutdown(sockets=sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _quiet_third_party_logs() -> None:
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def run_demo(
    *, port: int = 8080, host: str = "127.0.0.1", options: DemoOptions | None = None
) -> int:
    """``chatops demo``: serve until Ctrl-C; 0 after a clean stop, 1 if it could not start."""
    try:
        sock = listen(host, port)
    except PortUnavailable as exc:
        print(f"chatops demo: {exc}", file=sys.stderr)
        return 1
    _quiet_third_party_logs()
    with sock, tempfile.TemporaryDirectory(prefix="chatops-demo-") as directory:
        database_url = f"sqlite+aiosqlite:///{Path(directory) / DATABASE_FILE}"
        demo = build_demo(local_url(host, port), database_url, options)
        # Fake as they are, the demo's credentials are kept out of its log like real ones.
        register_secrets(
            value.get_secret_value()
            for value in demo.runtime.settings.env.__dict__.values()
            if isinstance(value, SecretStr)
        )

        def announce() -> None:
            print(
                "chatops demo: a fake LivePerson fleet, a fake Slack workspace and the real app, "
                "polling every few seconds. Ctrl-C stops it.",
                flush=True,
            )
            print(f"Open {demo.page_url}", flush=True)

        server = DemoServer(demo, on_started=announce)
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except SystemExit:
            # uvicorn exits this way when the app's startup failed; it has logged why.
            print("chatops demo: the app did not start (see the log above)", file=sys.stderr)
            return 1
    if not server.started:
        return 1
    print("chatops demo: stopped.", flush=True)
    return 0


class DemoThread:
    """The demo served on loopback in a thread: for tests and scripts/screenshots.py.

    ``with DemoThread(DemoOptions(autoplay=False)) as running: ...``; ``running.url`` is the
    base URL, ``running.demo`` its parts, ``running.run(coro)`` runs a coroutine on the
    demo's event loop (where its database engine and clients live).
    """

    def __init__(
        self,
        options: DemoOptions | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        database_dir: Path | None = None,
    ) -> None:
        self._sock = listen(host, port)
        self.url = local_url(host, self._sock.getsockname()[1])
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if database_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="chatops-demo-")
            database_dir = Path(self._tmp.name)
        database_url = f"sqlite+aiosqlite:///{database_dir / DATABASE_FILE}"
        self.demo = build_demo(self.url, database_url, options)
        self.server = DemoServer(self.demo)
        self._served = ServedApp(self.server, sock=self._sock, name="chatops-demo")

    @property
    def page_url(self) -> str:
        return self.demo.page_url

    def start(self, timeout: float = 20.0) -> Self:
        """Serve, and return once the app has polled the fake fleet once."""
        deadline = time.monotonic() + timeout
        try:
            self._served.start(timeout)
        except RuntimeError as exc:
            self._cleanup()
            raise RuntimeError(f"the demo did not start: {exc}") from None
        self.run(self._first_poll(deadline))
        return self

    async def _first_poll(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            async with self.demo.runtime.sessions() as session:
                if await last_successful_poll(session) is not None:
                    return
            await asyncio.sleep(0.05)
        raise RuntimeError("the demo's first poll did not succeed in time")

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return self._served.run(coroutine, timeout)

    def stop(self) -> None:
        self._served.stop(timeout=15)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
