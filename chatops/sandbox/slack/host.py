"""The fake Slack served on loopback: one server per fake, or one host for many fakes."""

from __future__ import annotations

import itertools
import threading
from typing import Self

from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from chatops.sandbox import serving
from chatops.sandbox.serving import ServedApp, StopOnExit
from chatops.sandbox.slack.fake import FakeSlack

# A FakeSlack served over HTTP: ``.fake``, ``.url``, ``.stop()``; a context manager.
RunningServer = serving.RunningServer[FakeSlack]


def _announced(server: RunningServer) -> RunningServer:
    server.fake.set_public_url(server.url)
    return server


def run_in_thread(fake: FakeSlack, *, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``fake`` on loopback in a thread; ``fake.base_url`` is set once this returns."""
    return _announced(serving.run_in_thread(fake, host, port))


class FakeSlackHost(StopOnExit):
    """One loopback server for many fakes, each under its own path prefix (``/w1``, ...).

    A test suite starts one host and gives each test a fresh fake with ``add``: no server
    and thread per test, and a request still in flight from an earlier test reaches that
    test's prefix, which answers 404 once it is removed, never the new fake.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._served = ServedApp(self._dispatch, host=host, port=port, name="fake-slack-host")
        self._fakes: dict[str, FakeSlack] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self._served.url

    def start(self) -> Self:
        self._served.start()
        return self

    def add(self, fake: FakeSlack) -> RunningServer:
        prefix = f"w{next(self._numbers)}"
        with self._lock:
            self._fakes[prefix] = fake
        return _announced(RunningServer(fake, f"{self.url}/{prefix}", lambda: self._remove(prefix)))

    def _remove(self, prefix: str) -> None:
        with self._lock:
            self._fakes.pop(prefix, None)

    def stop(self) -> None:
        self._served.stop()

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        prefix = scope["path"].lstrip("/").partition("/")[0]
        with self._lock:
            fake = self._fakes.get(prefix)
        if fake is None:
            await PlainTextResponse("no such sandbox workspace", 404)(scope, receive, send)
            return
        # Starlette routes on the path below root_path, as when an app is mounted.
        scope = dict(scope, root_path=scope.get("root_path", "") + "/" + prefix)
        await fake.app(scope, receive, send)
