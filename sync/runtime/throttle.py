"""Stay under Stripe's rate limit: one token bucket shared by every Stripe call of the worker.

Stripe allows 25 requests a second in test mode and 100 in live mode
(docs.stripe.com/rate-limits); the bucket runs at a share of that (STRIPE_RATE_SHARE, 80% by
default) so that the Dashboard and other integrations on the account keep their room. A 429 still
happens when something else spends the account's allowance: then every caller pauses together.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

STRIPE_LIMITS = {"test": 25.0, "live": 100.0}  # requests per second per account, by mode


def stripe_mode_of(key: str) -> str:
    """'live' for a live secret or restricted key, 'test' for anything else."""
    return "live" if key.startswith(("sk_live_", "rk_live_")) else "test"


class TokenBucket:
    """At most `rate` acquisitions a second on average, `burst` at once; thread-safe."""

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        # A burst of one second's worth would let a fresh bucket hit the API's own per-second
        # window at full speed on top of the previous second's calls; a quarter second keeps us under.
        self.burst = burst if burst is not None else max(1.0, rate / 4)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._stamp = clock()
        self._paused_until = 0.0
        self.waited_seconds = 0.0  # how long callers waited in all (for the benchmark's figures)
        self.acquired = 0

    def acquire(self) -> None:
        """Wait until a token is free, then take it."""
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                # The epsilon: after sleeping exactly the computed wait, float rounding can leave
                # 0.9999999 tokens, and waits of ever smaller fractions would follow.
                if now >= self._paused_until and self._tokens >= 1.0 - 1e-9:
                    self._tokens = max(0.0, self._tokens - 1.0)
                    self.acquired += 1
                    return
                wait = max(self._paused_until - now, (1.0 - self._tokens) / self.rate)
                self.waited_seconds += wait
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """Stop every caller for `seconds` (the API said 429) and start again from an empty bucket."""
        with self._lock:
            now = self._clock()
            self._paused_until = max(self._paused_until, now + seconds)
            self._tokens = 0.0
            self._stamp = now
