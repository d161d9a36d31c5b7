"""Waiting in tests: for a condition, never for an amount of time.

A bound is only how long to keep trying before the test fails. It is generous on purpose
(``PATIENCE``): on a busy machine a test gets slower, never red.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable

# How long a test waits for something that should happen (it usually takes milliseconds).
PATIENCE = 60.0


def wait_until(
    predicate: Callable[[], object], *, timeout: float = PATIENCE, what: str | None = None
) -> None:
    """Poll ``predicate`` until it is true; after ``timeout`` seconds fail saying ``what``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what or predicate}")
        time.sleep(0.02)


async def await_until(
    predicate: Callable[[], object],
    *,
    timeout: float = PATIENCE,  # noqa: ASYNC109
    what: str | None = None,
) -> None:
    """``wait_until`` inside an event loop (it yields to the loop while polling);
    ``predicate`` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what or predicate}")
        await asyncio.sleep(0.02)
