"""Run one call per record on a few threads, results in input order; used for Stripe calls,
whose pace the token bucket sets (the CRM's calls are batched instead)."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Skipped(Generic[T]):
    """The item was not started because the worker is stopping."""

    def __init__(self, item: T) -> None:
        self.item = item


def fan_out(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    workers: int,
    stop: threading.Event | None = None,
) -> list[R | BaseException | Skipped[T]]:
    """`fn(item)` for each item on up to `workers` threads: its result, its exception, or Skipped.

    Once `stop` is set, items not yet started are skipped; those in hand finish (each is idempotent
    either way). Log context (the cycle id) follows each call into its thread.
    """

    def one(item: T) -> R | BaseException | Skipped[T]:
        if stop is not None and stop.is_set():
            return Skipped(item)
        try:
            return fn(item)
        except Exception as exc:
            return exc

    if workers <= 1 or len(items) <= 1:
        return [one(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="stripe") as pool:
        futures = [pool.submit(contextvars.copy_context().run, one, item) for item in items]
        return [f.result() for f in futures]
