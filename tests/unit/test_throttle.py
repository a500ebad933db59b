"""The token bucket that keeps the worker under Stripe's rate limit, and the fan-out that uses it."""

from __future__ import annotations

import threading

import pytest

from sync.runtime.fanout import Skipped, fan_out
from sync.runtime.throttle import TokenBucket, stripe_mode_of


class FakeClock:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.parametrize("rate", [1.0, 20.0, 80.0])
def test_the_bucket_never_lets_more_than_its_rate_through_after_the_burst(rate: float):
    clock = FakeClock()
    bucket = TokenBucket(rate, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(int(rate * 10)):
        bucket.acquire()
        stamps.append(clock.now)
    # In any one-second window: at most the rate plus the initial burst.
    for start in stamps:
        in_window = sum(1 for t in stamps if start <= t < start + 1.0)
        assert in_window <= rate + bucket.burst
    # And the long-run pace is the rate: 10 s worth of calls took 10 s less the burst.
    assert clock.now == pytest.approx((rate * 10 - bucket.burst) / rate, rel=1e-6)


def test_a_pause_holds_every_caller_and_restarts_from_an_empty_bucket():
    clock = FakeClock()
    bucket = TokenBucket(10.0, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    bucket.pause(2.0)
    bucket.acquire()
    assert clock.now >= 2.0
    assert bucket.acquired == 2


def test_the_mode_comes_from_the_key_prefix():
    assert stripe_mode_of("sk_live_abc") == "live"
    assert stripe_mode_of("rk_live_abc") == "live"
    assert stripe_mode_of("sk_test_abc") == "test"
    assert stripe_mode_of("rk_test_abc") == "test"


def test_fan_out_keeps_input_order_and_returns_exceptions_in_place():
    def work(n: int) -> int:
        if n == 3:
            raise ValueError("three")
        return n * 10

    results = fan_out(work, list(range(6)), workers=4)

    assert results[:3] == [0, 10, 20] and results[4:] == [40, 50]
    assert isinstance(results[3], ValueError)


def test_fan_out_runs_calls_at_the_same_time():
    started = threading.Barrier(4, timeout=5)

    def work(n: int) -> int:
        started.wait()  # would time out (BrokenBarrierError) if the calls ran one after another
        return n

    assert fan_out(work, [1, 2, 3, 4], workers=4) == [1, 2, 3, 4]


def test_fan_out_skips_what_has_not_started_once_the_worker_stops():
    stop = threading.Event()

    def work(n: int) -> int:
        stop.set()
        return n

    results = fan_out(work, [1, 2, 3], workers=1, stop=stop)

    assert results[0] == 1
    assert all(isinstance(r, Skipped) for r in results[1:])
