"""The one clock tests set and move by hand.

``ManualClock(start)`` stands still at ``start`` (a datetime or epoch seconds; default: now)
until ``advance`` moves it; ``ManualClock.real_time()`` follows real time plus what
``advance`` added, for tests where the app also waits in real time (reminders, settling).
One clock serves both sides of a test:

- ``clock`` itself is the app's clock: called, it gives an aware UTC datetime
  (``build_runtime(..., clock=clock)``, ``LeaseGate(..., clock=clock)``);
- ``clock.time`` is a ``time.time`` for the fakes and other code that counts epoch seconds
  (``FakeSlack(clock=clock.time)``, ``FakeLivePerson(clock=clock.time)``);
- ``clock.now()`` is the same in slack_sdk's ``Clock`` interface (``SignatureVerifier``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class ManualClock:
    def __init__(self, start: datetime | float | None = None, *, running: bool = False) -> None:
        if isinstance(start, int | float):
            start = datetime.fromtimestamp(start, UTC)
        self._start = start or datetime.now(UTC)
        self._running = running
        self._offset = timedelta()

    @classmethod
    def real_time(cls) -> ManualClock:
        """Real time plus an offset that ``advance`` moves."""
        return cls(running=True)

    def __call__(self) -> datetime:
        return (datetime.now(UTC) if self._running else self._start) + self._offset

    def time(self) -> float:
        """Epoch seconds, as ``time.time()``."""
        return self().timestamp()

    def now(self) -> float:
        """Epoch seconds, as slack_sdk's ``Clock.now()``."""
        return self.time()

    def advance(self, by: timedelta | float) -> None:
        """Move forward by ``by`` (a timedelta, or seconds)."""
        self._offset += by if isinstance(by, timedelta) else timedelta(seconds=by)
