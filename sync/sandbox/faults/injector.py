"""Seeded fault injection, latency, outages and rate limiting in front of one emulator's app."""

from __future__ import annotations

import math
import random
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from ..httpserver import App, Request, Response
from . import control
from .ratelimit import SlidingWindowLimiter
from .rules import CONNECTION_KINDS, DEFAULT_HOLD_SECONDS, FaultRule, is_number
from .wire import ServiceWire

RECENT = 100  # injections kept for GET /__sandbox/faults


@dataclass(frozen=True)
class _Inject:
    rule: FaultRule
    phase: str


_OUTAGE = "outage"
_RATE_LIMITED = "rate_limited"


class FaultInjector:
    """The faults of one service ("salesforce" or "stripe"): rules, latency, outage, rate limit, counts.

    Every decision draws from one `random.Random(seed)` under a lock, so the same seed and the
    same order of requests give the same faults. Outages and holds run on the monotonic clock,
    never the sandbox's movable one. Thread-safe: the server calls `wrap`'s app from many threads.

    An outage 503 is the service's own "unavailable" answer, not a dropped connection, so
    clients get a definite, retryable error. A request answered before the emulator (phase
    "before", an outage, the rate limit) never reaches it: the Stripe request log and the org's
    API usage do not count it.
    """

    def __init__(self, wire: ServiceWire, *, seed: int | None = None) -> None:
        self.service = wire.service
        self.kinds = wire.kinds | CONNECTION_KINDS
        self._wire = wire
        self._lock = threading.Lock()
        self._released = threading.Event()  # set on stop: held requests drop at once
        self._seed = seed if seed is not None else secrets.randbits(32)
        self._rng = random.Random(self._seed)
        self._rules: list[FaultRule] = []
        self._fired: list[int] = []  # injections per rule, for `limit`
        self._latency = 0.0
        self._outage_until: float | None = None
        self._limiter: SlidingWindowLimiter | None = None
        self._reset_counts()

    # --- configuration ---------------------------------------------------------------------------

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def latency(self) -> float:
        """Seconds added to every API answer (not to /__sandbox/ calls)."""
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if not (is_number(seconds) and seconds >= 0):
            raise ValueError(f"latency must be a number of seconds, not {seconds!r}")
        self._latency = float(seconds)

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def configure(
        self,
        *,
        seed: int | None = None,
        latency: float | None = None,
        rules: list[FaultRule] | None = None,
        outage_seconds: float | None = None,
        outage: bool | None = None,
        rate_limit: bool | dict[str, int] | None = None,
    ) -> None:
        """Change what is given and keep the rest; `rules` replaces the list (and its limits' tallies).

        `seed` restarts the random sequence; `outage_seconds` starts an outage (0 ends one),
        `outage` True starts one until ended, False ends it; `rate_limit` is True (the real limits),
        False, or limits per mode such as {"test": 25}. Raises ValueError before changing anything.
        """
        if outage is not None and not isinstance(outage, bool):
            raise ValueError("outage must be true or false")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an integer, not {seed!r}")
        for rule in rules or []:
            self._check_kind(rule)
        limiter = self._limiter_for(rate_limit) if rate_limit is not None else None
        if outage_seconds is not None and not (is_number(outage_seconds) and outage_seconds >= 0):
            raise ValueError(f"outage_seconds must be a number of seconds, not {outage_seconds!r}")
        if latency is not None:
            self.latency = latency
        with self._lock:
            if seed is not None:
                self._seed = seed
                self._rng = random.Random(seed)
            if rules is not None:
                self._rules = list(rules)
                self._fired = [0] * len(self._rules)
            if rate_limit is not None:
                self._limiter = limiter
        if outage is True or (outage_seconds is not None and outage_seconds > 0):
            self.outage(None if outage is True else outage_seconds)
        elif outage is False or outage_seconds == 0:
            self.end_outage()

    def add_rule(
        self,
        kind: str,
        *,
        rate: float = 1.0,
        path: str | None = None,
        method: str | None = None,
        phase: str | None = None,
        limit: int | None = None,
        hold_seconds: float = DEFAULT_HOLD_SECONDS,
        should_retry: bool | str | None = "auto",
    ) -> FaultRule:
        """Add one rule after the others (the first rule that fires wins); see `FaultRule`."""
        rule = FaultRule(
            kind, rate=rate, path=path, method=method, phase=phase, limit=limit,
            hold_seconds=hold_seconds, should_retry=should_retry,
        )  # fmt: skip
        self._check_kind(rule)
        with self._lock:
            self._rules.append(rule)
            self._fired.append(0)
        return rule

    def outage(self, seconds: float | None = None) -> None:
        """Fail every API call (503) for `seconds`, or until `end_outage` when None."""
        with self._lock:
            self._outage_until = math.inf if seconds is None else time.monotonic() + seconds

    def end_outage(self) -> None:
        with self._lock:
            self._outage_until = None

    def clear(self) -> None:
        """Remove rules, latency, any outage and the rate limit; the seed's sequence and counts go on."""
        with self._lock:
            self._rules, self._fired = [], []
            self._outage_until = None
            self._limiter = None
        self._latency = 0.0

    def reset_counts(self) -> None:
        with self._lock:
            self._reset_counts()

    def release(self) -> None:
        """Let every held request drop now and hold no more (the sandbox is stopping)."""
        self._released.set()

    # --- state -----------------------------------------------------------------------------------

    def counts(self) -> dict[str, Any]:
        """What was injected so far: per kind, how many of those in phase "after", 429s, outage 503s."""
        with self._lock:
            return {
                "injected": dict(self._injected),
                "after": dict(self._after),
                "rate_limited": self._rate_limited,
                "outage_failed": self._outage_failed,
            }

    def snapshot(self) -> dict[str, Any]:
        """The configuration and counts, as `GET /__sandbox/faults` shows them."""
        with self._lock:
            remaining = None if self._outage_until is None else self._outage_until - time.monotonic()
            if remaining is not None and remaining <= 0:
                remaining = None
            state = {
                "service": self.service,
                "seed": self._seed,
                "latency": self._latency,
                "rules": [
                    {**rule.to_json(), "injected": fired} for rule, fired in zip(self._rules, self._fired, strict=True)
                ],
                "outage": {
                    "active": remaining is not None,
                    "remaining_seconds": None if remaining in (None, math.inf) else round(remaining, 3),
                },
                "rate_limit": None if self._limiter is None else dict(self._limiter.limits),
                "kinds": sorted(self.kinds),
                "recent": list(self._recent),
            }
        return {**state, "counts": self.counts()}

    # --- HTTP ------------------------------------------------------------------------------------

    def wrap(self, app: App) -> App:
        """`app` behind this injector; also serves `/__sandbox/faults`."""

        def faulty(request: Request) -> Response | None:
            return self._handle(app, request)

        return faulty  # type: ignore[return-value]  # None drops the connection (httpserver._serve)

    def _handle(self, app: App, request: Request) -> Response | None:
        if control.is_control(request.path):
            return control.handle(self, request)
        decision = self._decide(request)
        response = self._respond(app, request, decision)
        if self._latency and not request.path.startswith("/__sandbox/"):
            self._released.wait(self._latency)
        return response

    def _decide(self, request: Request) -> _Inject | str | None:
        exempt_stem = self._exempt_stem(request.path)
        with self._lock:
            if exempt_stem is None:
                if self._outage_until is not None:
                    if time.monotonic() < self._outage_until:
                        self._outage_failed += 1
                        return _OUTAGE
                    self._outage_until = None  # over: recover by itself
                if self._limiter is not None and (mode := self._wire.mode(request)) is not None:
                    if not self._limiter.admit(mode):
                        self._rate_limited += 1
                        return _RATE_LIMITED
            for i, rule in enumerate(self._rules):
                if not rule.matches(request, exempt_stem=exempt_stem):
                    continue
                if rule.limit is not None and self._fired[i] >= rule.limit:
                    continue
                if self._rng.random() >= rule.rate:
                    continue
                phase = rule.phase or self._default_phase(rule.kind)
                self._fired[i] += 1
                self._injected[rule.kind] += 1
                if phase == "after":
                    self._after[rule.kind] += 1
                self._recent.append({"kind": rule.kind, "phase": phase, "method": request.method, "path": request.path})
                return _Inject(rule, phase)
        return None

    def _respond(self, app: App, request: Request, decision: _Inject | str | None) -> Response | None:
        if decision is None:
            return app(request)
        if decision == _OUTAGE:
            return self._wire.outage(request)
        if decision == _RATE_LIMITED:
            return self._wire.rate_limited(request)
        assert isinstance(decision, _Inject)
        rule = decision.rule
        original = app(request) if decision.phase == "after" else None
        if rule.kind == "reset":
            return None
        if rule.kind == "timeout":
            # An Event wait, not sleep: stop() releases held requests instead of waiting them out.
            self._released.wait(rule.hold_seconds)
            return None
        return self._wire.error(rule, request, original)

    def _default_phase(self, kind: str) -> str:
        if kind in CONNECTION_KINDS:  # lost on the way in or on the way back: both happen
            return "after" if self._rng.random() < 0.5 else "before"
        return "before"

    def _exempt_stem(self, path: str) -> str | None:
        """For a path exempt by default, the word a rule's path must contain to reach it."""
        for prefix in self._wire.exempt_prefixes:
            if path.startswith(prefix) or path == prefix.rstrip("/"):
                return prefix.strip("/").split("/")[-1]
        return None

    def _check_kind(self, rule: FaultRule) -> None:
        if rule.kind not in self.kinds:
            raise ValueError(f"{self.service} has no fault kind {rule.kind!r}; use one of {sorted(self.kinds)}")
        if rule.should_retry != "auto" and self.service != "stripe":
            raise ValueError("should_retry is a Stripe header; leave it out for Salesforce")

    def _limiter_for(self, rate_limit: bool | dict[str, int]) -> SlidingWindowLimiter | None:
        defaults = self._wire.rate_limits
        if rate_limit is False:
            return None
        if defaults is None:
            raise ValueError(f"{self.service} has no per-second rate limit to switch on")
        if rate_limit is True:
            return SlidingWindowLimiter(defaults)
        if not isinstance(rate_limit, dict):
            raise ValueError('rate_limit must be true, false or limits per mode such as {"test": 25, "live": 100}')
        unknown = sorted(set(rate_limit) - set(defaults))
        bad = [m for m, n in rate_limit.items() if not (is_number(n) and isinstance(n, int) and n >= 0)]
        if unknown or bad:
            raise ValueError(f"rate_limit takes whole numbers for {sorted(defaults)}")
        return SlidingWindowLimiter({**defaults, **rate_limit})

    def _reset_counts(self) -> None:
        self._injected: Counter[str] = Counter()
        self._after: Counter[str] = Counter()
        self._rate_limited = 0
        self._outage_failed = 0
        self._recent: deque[dict[str, str]] = deque(maxlen=RECENT)
