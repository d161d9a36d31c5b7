"""Slack misbehaving on purpose: 429 with Retry-After, 5xx, ``ok: false``, lost and slow answers.

Tests inject faults with ``FakeSlack.inject``, people and other processes with
``POST /_sandbox/faults`` (the same keywords as JSON); ``make_fault`` checks both.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, Unpack

from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from chatops.sandbox.jsontypes import JSONDict

# A lost answer: the call is not done ("before") or done ("after") when the connection drops.
AnswerLost = Literal["before", "after"]


@dataclass
class Fault:
    """Calls that fail on purpose: ``times`` in a row, or a seeded ``ratio`` of them."""

    method: str | None
    status: int
    retry_after: int | None
    error: str | None
    times: int
    ratio: float | None
    rng: random.Random
    answer_lost: AnswerLost | None = None
    delay: float = 0.0
    fired: int = 0

    def matches(self, method: str) -> bool:
        # A fault without a method hits every Web API method, never the response_url endpoint.
        if self.method is None:
            return method != "response_url"
        return self.method == method

    def fires(self) -> bool:
        fired = self.rng.random() < self.ratio if self.ratio is not None else self.times > 0
        if fired:
            self.fired += 1
            if self.ratio is None:
                self.times -= 1
        return fired

    def reply(self) -> Response:
        if self.answer_lost is not None:
            return LostAnswer()
        if self.status == 429 and self.error is None:
            headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
            return JSONResponse({"ok": False, "error": "ratelimited"}, 429, headers=headers)
        if self.status == 429 or self.status == 200:
            # error= alone means Slack's usual failure shape: HTTP 200 with ok false.
            return JSONResponse({"ok": False, "error": self.error})
        error = self.error or ("service_unavailable" if self.status == 503 else "fatal_error")
        return JSONResponse({"ok": False, "error": error}, self.status)


class LostAnswer(Response):
    """The connection drops in the middle of the answer: the client never learns the outcome.

    What a timeout looks like from the client: it cannot tell whether Slack acted.
    """

    def __init__(self) -> None:
        super().__init__(status_code=200, media_type="application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        # Return without the rest: the server closes the connection mid-body.
        await send({"type": "http.response.body", "body": b'{"ok":', "more_body": True})


class FaultSpec(TypedDict, total=False):
    """What a fault is made of (``FakeSlack.inject`` says what each means)."""

    method: str | None
    status: int
    retry_after: int | None
    error: str | None
    times: int
    ratio: float | None
    seed: int
    answer_lost: AnswerLost | None
    delay: float


# What ``POST /_sandbox/faults`` accepts.
FAULT_KEYS = frozenset(FaultSpec.__annotations__)


def make_fault(**spec: Unpack[FaultSpec]) -> Fault:
    """A fault, or ValueError saying what is wrong with the request (see ``FakeSlack.inject``)."""
    method = spec.get("method")
    status = spec.get("status", 429)
    error = spec.get("error")
    times = spec.get("times", 1)
    ratio = spec.get("ratio")
    answer_lost = spec.get("answer_lost")
    delay = spec.get("delay", 0.0)
    if answer_lost is not None and answer_lost not in ("before", "after"):
        raise ValueError(f"inject: answer_lost must be 'before' or 'after', not {answer_lost!r}")
    if (answer_lost is not None or delay) and method == "response_url":
        raise ValueError("inject: answer_lost and delay apply to Web API methods only")
    if answer_lost is not None and delay:
        raise ValueError("inject: a fault either loses the answer or delays it, not both")
    if delay < 0:
        raise ValueError(f"inject: delay must be 0 or more seconds, not {delay}")
    if (
        answer_lost is None
        and not delay
        and not (status == 429 or 500 <= status <= 599 or (status == 200 and error))
    ):
        raise ValueError(f"inject: status must be 429 or 5xx, not {status}")
    if ratio is not None and not 0.0 <= ratio <= 1.0:
        raise ValueError(f"inject: ratio must be between 0 and 1, not {ratio}")
    if times < 1 and ratio is None:
        raise ValueError("inject: times must be at least 1")
    return Fault(
        method,
        status,
        spec.get("retry_after", 1),
        error,
        times,
        ratio,
        random.Random(spec.get("seed", 0)),
        answer_lost,
        delay,
    )


def fault_from_json(spec: Any) -> Fault:
    """A fault from the JSON body of ``POST /_sandbox/faults``; TypeError or ValueError."""
    if not isinstance(spec, dict):
        raise TypeError("the body must be a JSON object")
    unknown = sorted(set(spec) - FAULT_KEYS)
    if unknown:
        raise TypeError(f"unknown keys: {', '.join(unknown)}")
    return make_fault(**spec)


def describe(fault: Fault) -> JSONDict:
    """How many more calls a fault fails (``times``) and how many it did (``fired``)."""
    return {
        "method": fault.method,
        "status": fault.status,
        "times": fault.times,
        "fired": fault.fired,
        "ratio": fault.ratio,
        "answer_lost": fault.answer_lost,
        "delay": fault.delay,
    }
