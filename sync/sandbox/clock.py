"""The sandbox's own clock, which tests and the demo can move forward."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """Wall-clock time plus an offset that only ever grows."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def advance(self, delta: timedelta) -> None:
        if delta.total_seconds() < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += delta.total_seconds()


def clock_control(clock: SandboxClock, method: str, body: dict[str, object]) -> dict[str, str]:
    """`GET /__sandbox/clock` and `POST /__sandbox/clock/advance {"days"?, "hours"?, "minutes"?, "seconds"?}`.

    Both emulators share one clock, so moving it through either moves both.

    Raises:
        ValueError: an unknown unit, a value that is not a number, or a move backwards.
    """
    if method == "POST":
        units = {"days", "hours", "minutes", "seconds"}
        unknown = set(body) - units
        if unknown:
            raise ValueError(f"unknown units {sorted(unknown)}; use {sorted(units)}")
        amounts = {unit: float(value) for unit, value in body.items()}  # type: ignore[arg-type]
        clock.advance(timedelta(**amounts))
    return {"now": clock.now().isoformat()}
