"""What a mute is, as the rest of the app sees it: its limits, its author's scope, and the
views of mutes and of what a mute or unmute did, read from the ``alert_mute`` tables."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from chatops.store.alert_models import AlertMute, AlertMuteException

MAX_MUTE: Final = timedelta(days=30)
MAX_TARGET: Final = 300
MAX_REASON: Final = 500

Scope = tuple[str, ...] | None


def scope_json(scope: Scope) -> str | None:
    return json.dumps(list(scope)) if scope is not None else None


def scope_of(stored: str | None) -> Scope:
    return tuple(str(glob) for glob in json.loads(stored)) if stored is not None else None


def target_problem(target: str, *, empty: str) -> str | None:
    """What is wrong with the (stripped) target of a mute or a window, for the user; None
    when nothing is. ``empty`` begins the answer to no target at all."""
    if not target:
        return f"{empty}: a name, an id or a glob such as `billing-*`."
    if len(target) > MAX_TARGET:
        return f"That target is longer than {MAX_TARGET} characters."
    return None


def clean_reason(reason: str | None) -> str | None:
    """The reason given for a mute or a window, as stored: stripped, cut, None when blank."""
    return reason.strip()[:MAX_REASON] if reason and reason.strip() else None


@dataclass(frozen=True, slots=True)
class ExceptionView:
    target: str
    created_by: str


@dataclass(frozen=True, slots=True)
class MuteView:
    id: int
    target: str
    reason: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime
    scope: Scope = None
    exceptions: tuple[ExceptionView, ...] = ()

    @classmethod
    def of(cls, row: AlertMute, exceptions: Sequence[AlertMuteException] = ()) -> MuteView:
        assert row.id is not None
        return cls(
            row.id,
            row.target,
            row.reason,
            row.created_by,
            row.created_at,
            row.expires_at,
            scope_of(row.scope),
            tuple(ExceptionView(e.target, e.created_by) for e in exceptions),
        )


@dataclass(frozen=True, slots=True)
class MuteResult:
    mute: MuteView
    # Bots the mute reaches now (a glob may match none yet: that is allowed).
    matching: int


@dataclass(frozen=True, slots=True)
class UnmuteResult:
    target: str
    ended: tuple[MuteView, ...]
    # Wider mutes that stay in force, with an exception for what was unmuted.
    excepted: tuple[MuteView, ...] = ()
    # The unmuting person's scope, which bounds those exceptions.
    scope: Scope = None
