"""Several chatops replicas as separate processes, for the replica tests and benchmark.

Each replica is the real program: ``python -m chatops serve --port P --config FILE`` with
its settings in environment variables, as an operator runs it, logging JSON lines to a file
of its own. The fakes (LivePerson, Slack) run wherever the caller runs them; the replicas
reach them over HTTP.

:class:`TcpProxy` stands between a replica and PostgreSQL so that a test can make the
database go away at the network level (connections dropped, new ones refused) and come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import pool
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.waiting import PATIENCE

ROOT = Path(__file__).resolve().parent.parent

# Settings a replica must not inherit from the environment of whoever runs the tests.
_OWN_PREFIXES = ("SLACK_", "LP_", "CHATOPS_")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def with_port(url: str, port: int) -> str:
    """``url`` (a database URL) pointed at 127.0.0.1:``port``."""
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


# -- Metrics ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scrape:
    """One /metrics answer: samples by name and labels."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return cls(samples)

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    def total(self, name: str, **labels: str) -> float:
        """The sum over every sample of ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(
            value
            for (sample, sample_labels), value in self.samples.items()
            if sample == name and wanted <= sample_labels
        )

    def labels(self, name: str, label: str) -> dict[str, float]:
        """``{label value: sample}`` for every sample of ``name``."""
        return {
            dict(sample_labels)[label]: value
            for (sample, sample_labels), value in self.samples.items()
            if sample == name and label in dict(sample_labels)
        }


# -- Replicas --------------------------------------------------------------------------------


@dataclass
class Replica:
    index: int
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def get(self, path: str, timeout: float = PATIENCE) -> httpx.Response:
        return httpx.get(self.url + path, timeout=timeout)

    def scrape(self) -> Scrape:
        response = self.get("/metrics")
        response.raise_for_status()
        return Scrape.parse(response.text)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, connections are dropped by the kernel."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=PATIENCE)

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.strip():
                lines.append(json.loads(line))
        return lines


@dataclass
class ReplicaCluster:
    """``count`` replicas of ``chatops serve`` sharing one database.

    ``environment``: the chatops variables (secrets, URLs); ``config``: the YAML file's
    contents. ``start()`` returns once every replica answers /healthz.
    """

    workdir: Path
    environment: Mapping[str, str]
    config: Mapping[str, Any]
    count: int = 3
    replicas: list[Replica] = field(default_factory=list)

    @property
    def config_path(self) -> Path:
        return self.workdir / "chatops.yml"

    def env(self) -> dict[str, str]:
        inherited = {
            key: value for key, value in os.environ.items() if not key.startswith(_OWN_PREFIXES)
        }
        return {
            **inherited,
            "CHATOPS_CONFIG": str(self.config_path),
            "CHATOPS_LOG_FORMAT": "json",
            **self.environment,
        }

    def chatops(self, *args: str, timeout: float = PATIENCE) -> subprocess.CompletedProcess[str]:
        """Run ``python -m chatops ARGS`` once with the cluster's settings."""
        self._write_config()
        return subprocess.run(
            [sys.executable, "-m", "chatops", *args],
            cwd=self.workdir,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def spawn(self) -> Replica:
        self._write_config()
        index = len(self.replicas)
        port = free_port()
        log_path = self.workdir / f"replica-{index}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "chatops",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                cwd=self.workdir,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        replica = Replica(index, port, process, log_path)
        self.replicas.append(replica)
        return replica

    def start(self, timeout: float = PATIENCE) -> list[Replica]:
        started = [self.spawn() for _ in range(self.count)]
        deadline = time.monotonic() + timeout
        for replica in started:
            while True:
                if not replica.alive():
                    raise AssertionError(
                        f"replica {replica.index} exited with {replica.process.returncode}:\n"
                        + replica.log_path.read_text(errors="replace")[-3000:]
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if replica.get("/healthz", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise AssertionError(f"replica {replica.index} did not answer /healthz")
                time.sleep(0.05)
        return started

    def alive(self) -> list[Replica]:
        return [replica for replica in self.replicas if replica.alive()]

    def by_pid(self, pid: int) -> Replica:
        return next(replica for replica in self.replicas if replica.pid == pid)

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL whatever is still running after 10 s."""
        for replica in self.alive():
            replica.process.send_signal(signal.SIGTERM)
        for replica in self.replicas:
            try:
                replica.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                replica.process.kill()
                replica.process.wait(timeout=10)

    def _write_config(self) -> None:
        self.config_path.write_text(yaml.safe_dump(dict(self.config)))


def lease_holder_pid(database_url: str, name: str = "poller") -> int | None:
    """The pid in the lease row's holder (``host:pid:random``), None when nobody holds it."""
    rows = query(database_url, "SELECT holder FROM lease WHERE name = :name", name=name)
    if not rows:
        return None
    return int(str(rows[0][0]).split(":")[1])


def query(database_url: str, statement: str, **params: Any) -> list[tuple[Any, ...]]:
    """Run one statement on a connection of its own (from synchronous test code)."""

    async def run() -> list[tuple[Any, ...]]:
        engine = create_async_engine(database_url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(sa.text(statement), params)
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


@dataclass(frozen=True)
class PollRow:
    started_at: datetime
    finished_at: datetime | None
    ok: bool
    duration_ms: int
    bots: int


def poll_rows(database_url: str) -> list[PollRow]:
    rows = query(
        database_url,
        "SELECT started_at, finished_at, ok, duration_ms, bots FROM poll_run ORDER BY started_at",
    )
    return [PollRow(*row) for row in rows]


# -- A database that goes away ---------------------------------------------------------------


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``target``; ``cut()`` makes the target go away.

    ``cut()`` closes every forwarded connection and stops listening, so clients see their
    connections drop and new ones refused, as when a database server or its network goes;
    ``restore()`` listens again on the same port.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        with self._lock:
            self._listener = listener
        self._accepting = threading.Thread(
            target=self._accept, args=(listener,), name="tcp-proxy", daemon=True
        )
        self._accepting.start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, set()
        if listener is not None:
            listener.close()
        if self._accepting is not None:
            self._accepting.join(timeout=5)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    close = cut

    def _accept(self, listener: socket.socket) -> None:
        while True:
            with self._lock:
                if self._listener is not listener:
                    return
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self._connections |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink), name="tcp-proxy-pump", daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            # Either side ending ends both (the other pump's recv returns); each pump then
            # closes the socket it read from, so every socket is closed exactly once.
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._connections -= {source, sink}
            source.close()


@contextlib.contextmanager
def proxied(database_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A proxy in front of the database of ``database_url``, and the URL that goes through it."""
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    try:
        yield proxy, with_port(database_url, proxy.port)
    finally:
        proxy.close()
