"""Serving an ASGI app with uvicorn on a loopback socket in a daemon thread.

The sandbox fakes (LivePerson, Slack) and the tests that serve an app of their own use this
one helper (``ServedApp``), and so do the demo in a thread (``chatops.demo.server``) and
the tests' app under test (``tests/fixtures/app.py``), with a uvicorn server of their own.
The socket is bound before uvicorn starts, so ``port=0`` is safe: the port is known at once
and no other process can take it between choosing and listening. Stopping a fake is
immediate: a fake being thrown away (once per test) does not wait for requests in flight.

Nothing here imports from the rest of chatops: the sandbox stands in for the outside world.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

import uvicorn
from starlette.types import ASGIApp


class Servable(Protocol):
    """A fake with an ASGI ``app``."""

    @property
    def app(self) -> ASGIApp: ...


FakeT = TypeVar("FakeT", bound=Servable)
T = TypeVar("T")


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: any free port); raises ``OSError``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only turns Nagle off (TCP_NODELAY) on sockets whose
    # proto says TCP, and with Nagle on every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def uvicorn_config(app: ASGIApp) -> uvicorn.Config:
    """uvicorn's settings for a sandbox server."""
    # log_config=None and no log_level: uvicorn must not reconfigure the host process's
    # logging. Access logs stay on: turning them off would silence "uvicorn.access" for the
    # whole process, the app under test included.
    return uvicorn.Config(app, log_config=None, lifespan="off", ws="none", interface="asgi3")


class StopOnExit:
    """``with`` support for a server: leaving the block calls ``stop()``."""

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _ThreadServer(uvicorn.Server):
    """A uvicorn server that stops at once when asked."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit: asyncio.Event | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._exit = asyncio.Event()
        await super().startup(sockets=sockets)

    async def main_loop(self) -> None:
        # uvicorn's own loop polls should_exit every 0.1 s; an event makes stop() instant.
        await self.on_tick(0)
        if self._exit is not None and not self.should_exit:
            await self._exit.wait()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn's shutdown gives in-flight responses 0.1 s and waits for connections to
        # close; a server being thrown away need not: close and go.
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        await asyncio.sleep(0)

    def request_exit(self) -> None:
        self.should_exit = True
        # Do not wait for requests still in flight (a latency fault may be sleeping).
        self.force_exit = True
        if self._loop is not None and self._exit is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                self._loop.call_soon_threadsafe(self._exit.set)


class ServedApp(StopOnExit):
    """An ASGI app served by uvicorn in a daemon thread, with its own event loop; ``start()`` it.

    ``app`` is an ASGI app, served with the sandbox's settings and stopped at once (a fake),
    or a ``uvicorn.Server`` the caller configured (the app under test or the demo: lifespan
    on, a graceful shutdown). ``sock`` is a listening socket to serve on instead of binding
    ``host:port``. ``run(coroutine)`` runs a coroutine on the server's loop, where the app's
    engine and clients live.
    """

    def __init__(
        self,
        app: ASGIApp | uvicorn.Server,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        sock: socket.socket | None = None,
        name: str = "uvicorn",
    ) -> None:
        self._socket = sock if sock is not None else listen(host, port)
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        self.url = url_of(self._socket)
        self.server = app if isinstance(app, uvicorn.Server) else _ThreadServer(uvicorn_config(app))
        self.loop = asyncio.new_event_loop()
        # What ended the server, if it was an exception (start() reports it).
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name=f"{name}:{self.url}", daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            # As asyncio.run, on this loop: leftover tasks are cancelled, then the loop closed.
            with asyncio.Runner(loop_factory=lambda: self.loop) as runner:
                runner.run(self.server.serve(sockets=[self._socket]))
        except BaseException as exc:  # reported by start(), never lost
            self.error = exc
        finally:
            self._socket.close()

    def start(self, timeout: float = 10.0) -> Self:
        """Serve; returns once the server listens (``RuntimeError`` saying why if it does not)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                reason = f": {self.error!r}" if self.error is not None else ""
                raise RuntimeError(f"{self._thread.name} did not start{reason}")
            # Returns as soon as the thread ends (a failed start), else polls again.
            self._thread.join(0.005)
        return self

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coroutine`` on the server's event loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: at once for a fake, gracefully (within ``timeout``) for a Server."""
        if isinstance(self.server, _ThreadServer):
            self.server.request_exit()
        else:
            self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
        self._socket.close()


class RunningServer(StopOnExit, Generic[FakeT]):
    """A fake reachable over HTTP: ``.fake``, ``.url``, ``.stop()``; a context manager."""

    def __init__(self, fake: FakeT, url: str, on_stop: Callable[[], None]) -> None:
        self.fake = fake
        self.url = url.rstrip("/")
        self._on_stop = on_stop

    def stop(self) -> None:
        self._on_stop()


def serve_in_thread(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> ServedApp:
    """Serve any ASGI app (a fake, or the app under test) in a thread until ``stop()``."""
    return ServedApp(app, host=host, port=port).start()


def run_in_thread(fake: FakeT, host: str = "127.0.0.1", port: int = 0) -> RunningServer[FakeT]:
    """Serve ``fake.app`` on ``host:port`` (0: any free port) in a thread until ``stop()``."""
    name = f"fake-{type(fake).__name__}"
    served = ServedApp(fake.app, host=host, port=port, name=name).start()
    return RunningServer(fake, served.url, served.stop)
