import pytest

from sync.domain.errors import PermanentError, RetryableError
from sync.runtime.retry import call_with_retries


class Flaky:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


def test_retryable_errors_are_retried_until_success():
    flaky = Flaky([RetryableError("503"), RetryableError("reset")])
    assert call_with_retries(flaky, sleep=lambda _: None) == "done"
    assert flaky.calls == 3


def test_permanent_and_unexpected_errors_are_not_retried():
    for error in (PermanentError("declined"), ValueError("bug")):
        flaky = Flaky([error])
        with pytest.raises(type(error)):
            call_with_retries(flaky, sleep=lambda _: None)
        assert flaky.calls == 1


def test_attempts_are_bounded_and_the_last_error_is_raised():
    flaky = Flaky([RetryableError(f"503 #{i}") for i in range(10)])
    with pytest.raises(RetryableError, match="503 #3"):
        call_with_retries(flaky, attempts=4, sleep=lambda _: None)
    assert flaky.calls == 4


def test_a_servers_retry_after_is_honoured_and_waits_are_bounded():
    waits: list[float] = []
    flaky = Flaky([RetryableError("429", retry_after=7.0), RetryableError("429", retry_after=600.0)])
    call_with_retries(flaky, sleep=waits.append)
    assert waits[0] >= 7.0
    assert waits[1] <= 30.0  # a huge Retry-After is capped: the record is retried next cycle instead


def test_total_time_is_bounded(monkeypatch):
    flaky = Flaky([RetryableError("timeout") for _ in range(10)])
    clock = iter(range(0, 1000, 20))
    monkeypatch.setattr("time.monotonic", lambda: float(next(clock)))
    with pytest.raises(RetryableError):
        call_with_retries(flaky, attempts=10, max_seconds=30, sleep=lambda _: None)
    assert flaky.calls < 10
