"""The worker's one clock: this host's, or the CRM's as its answers tell it (CLOCK_SOURCE)."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utc_now() -> datetime:
    """This host's time; tests pass their own `now` instead."""
    return datetime.now(UTC)


class CrmClock:
    """This host's time, corrected to the CRM's clock as seen in the Date header of its answers.

    The header has whole seconds, so the CRM's time was somewhere in [Date, Date + 1 s); the offset
    moves only when the estimate drifts by more than a second, so `now` does not jitter. Until the
    first answer it is this host's time.
    """

    def __init__(self) -> None:
        self._offset = 0.0

    def observe(self, server_time: datetime) -> None:
        estimate = server_time.timestamp() + 0.5 - time.time()
        if abs(estimate - self._offset) > 1.0:
            self._offset = estimate

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self._offset, tz=UTC)
