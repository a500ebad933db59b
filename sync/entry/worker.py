"""The long-running loop: poll, act, sleep; stop cleanly on SIGTERM or SIGINT."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sync.domain.errors import ConfigError, RetryableError
from sync.runtime.logs import log
from sync.service.runner import CycleReport

STOP_GRACE_SECONDS = 8.0  # the process must be gone within 10 s of SIGTERM


def run_loop(
    run_cycle: Callable[[], CycleReport],
    *,
    interval: float,
    stop: threading.Event,
    slowdown: Callable[[], float] = lambda: 1.0,
) -> None:
    """Run cycles until `stop` is set; a cycle that fails is logged and retried after a pause.

    `slowdown` stretches the wait between cycles (the org's API usage nearing its share).
    """
    failures = 0
    while not stop.is_set():
        try:
            report = run_cycle()
            failures = 0
        except ConfigError:
            raise
        except RetryableError as exc:
            failures += 1
            log.warning("cycle.deferred", error=str(exc), consecutive_failures=failures)
            stop.wait(min(interval * failures, 300.0))
            continue
        except Exception as exc:  # one bad cycle must not end the worker; the next one starts fresh
            failures += 1
            log.exception("cycle.crashed", error_type=type(exc).__name__, consecutive_failures=failures)
            stop.wait(min(interval * failures, 300.0))
            continue
        if not report.full_batch:
            stop.wait(interval * slowdown())


@contextmanager
def alongside(loop: Callable[[], None], stop: threading.Event, name: str) -> Iterator[None]:
    """Run `loop` on a thread of its own while the block runs; either one ending stops the other,
    and the loop's failure (a configuration error) is raised here, once the block has ended."""
    failure: list[BaseException] = []

    def body() -> None:
        try:
            loop()
        except BaseException as exc:
            failure.append(exc)
        finally:
            stop.set()

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=STOP_GRACE_SECONDS)
    if failure:
        raise failure[0]


def run_until_signalled(target: Callable[[threading.Event], None]) -> int:
    """Run `target(stop)` in a thread; on SIGTERM/SIGINT set `stop` and wait at most the grace period.

    The thread finishes the action in hand (every action is idempotent, so one abandoned mid-way
    is completed by the next start without duplicates).
    """
    stop = threading.Event()
    failure: list[BaseException] = []

    def body() -> None:
        try:
            target(stop)
        except BaseException as exc:
            failure.append(exc)
        finally:
            stop.set()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("worker.stopping", signal=signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    thread = threading.Thread(target=body, name="worker", daemon=True)
    thread.start()
    try:
        while not stop.wait(0.5):
            pass
        thread.join(timeout=STOP_GRACE_SECONDS)
        if thread.is_alive():
            log.warning("worker.stop_timeout", grace_seconds=STOP_GRACE_SECONDS)
            return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failure:
        raise failure[0]
    log.info("worker.stopped")
    return 0
