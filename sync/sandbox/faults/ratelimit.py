"""Stripe's global rate limiter: requests per second per account, one budget per mode."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

# "Live mode: 100 operations; Sandbox: 25 operations" a second (https://docs.stripe.com/rate-limits).
STRIPE_LIMITS = {"test": 25, "live": 100}
WINDOW_SECONDS = 1.0


class SlidingWindowLimiter:
    """Admit at most `limits[mode]` requests in any one-second window (a sliding log).

    A refused request takes no room in the window, so a client that backs off gets back in
    after the oldest admitted request is a second old. Measured on the monotonic clock, not the
    sandbox's movable one.
    """

    def __init__(self, limits: dict[str, int], *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = dict(limits)
        self._clock = clock
        self._admitted: dict[str, deque[float]] = {mode: deque() for mode in limits}
        self._lock = threading.Lock()

    def admit(self, mode: str) -> bool:
        """Count one request of `mode`; False when the window is full (the API answers 429)."""
        limit = self.limits.get(mode)
        if limit is None:
            return True
        now = self._clock()
        with self._lock:
            admitted = self._admitted[mode]
            while admitted and now - admitted[0] >= WINDOW_SECONDS:
                admitted.popleft()
            if len(admitted) >= limit:
                return False
            admitted.append(now)
            return True
