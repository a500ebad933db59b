"""The one retry policy: only RetryableError (unless the service said not to), exponential backoff
with jitter, bounded twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)
from tenacity import sleep as tenacity_sleep

from sync.domain.errors import RetryableError
from sync.runtime.logs import log

T = TypeVar("T")


class Retry(Protocol):
    """Runs one call under the retry policy (`call_with_retries` with its bounds; tests: just runs it)."""

    def __call__(self, fn: Callable[[], T], /) -> T: ...


def no_retry(fn: Callable[[], T], /) -> T:
    """The Retry that runs the call once (tools and tests that want every error at once)."""
    return fn()


_jitter = wait_random_exponential(multiplier=0.5, max=8)
RETRY_SECONDS = 30.0  # no new try once this long has passed since the first
LONGEST_PAUSE = 30.0  # the longest Retry-After honoured between two tries


def longest_span(timeout: float) -> float:
    """The longest one call takes under the policy, from its first try to the end of its last: a
    try may start just before RETRY_SECONDS, after the longest pause, and take its whole timeout."""
    return RETRY_SECONDS + LONGEST_PAUSE + timeout


def _wait(state: RetryCallState) -> float:
    """Jittered backoff, but never sooner than a server's Retry-After."""
    exc = state.outcome.exception() if state.outcome else None
    retry_after = getattr(exc, "retry_after", None) or 0.0
    return max(_jitter(state), min(retry_after, LONGEST_PAUSE))


def _before_sleep(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning(
        "retry.scheduled",
        call=getattr(state.fn, "__qualname__", str(state.fn)),
        attempt=state.attempt_number,
        wait_seconds=round(state.next_action.sleep, 2) if state.next_action else None,
        error=str(exc),
    )


def _napper(sleep: Callable[[float], object] | None) -> Callable[[float], None]:
    """Tenacity's sleep, or the caller's (an Event's wait, so a stop cuts the backoff short)."""
    if sleep is None:
        return tenacity_sleep

    def nap(seconds: float) -> None:
        sleep(seconds)

    return nap


def call_with_retries(
    fn: Callable[[], T],
    *,
    attempts: int = 4,
    max_seconds: float = RETRY_SECONDS,
    sleep: Callable[[float], object] | None = None,
) -> T:
    """Run `fn`, retrying RetryableError up to `attempts` times within `max_seconds`; re-raise the last."""
    retrying = Retrying(
        retry=retry_if_exception(lambda exc: isinstance(exc, RetryableError) and exc.retry_now),
        stop=stop_after_attempt(attempts) | stop_after_delay(max_seconds),
        wait=_wait,
        before_sleep=_before_sleep,
        reraise=True,
        sleep=_napper(sleep),
    )
    return retrying(fn)
