"""Run an iterator on a thread of its own, a bounded way ahead, and hand over what has come.

The events poll uses it so that paging Stripe's events (which cannot run in parallel) and reading
the Payments they name go on while what came before is read from Stripe and written to the CRM.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Generic, TypeVar

T = TypeVar("T")

_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Prefetch(Generic[T]):
    """`items` drawn on a background thread, up to `ahead` of the taker; `take` waits for the next one
    and takes what else is here.

    An error the iterator raises is raised by `take` once the items before it were taken. Log
    context (the cycle id) follows into the thread.
    """

    def __init__(self, items: Iterable[T], *, name: str, ahead: int) -> None:
        # At most `ahead` items wait: memory stays flat however long the stream is.
        self._queue: queue.Queue[object] = queue.Queue(maxsize=ahead)
        self._closed = threading.Event()
        self._ended = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._draw, iter(items)), name=name, daemon=True
        )
        self._thread.start()

    def _draw(self, items: Iterator[T]) -> None:
        try:
            for item in items:
                self._queue.put(item)
                if self._closed.is_set():
                    break
        except BaseException as exc:  # handed to the taker, which is where it can be handled
            self._queue.put(_Failed(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:  # a generator left early runs its cleanup here, not in the collector
                close()
            self._queue.put(_END)

    def take(self, most: int) -> list[T]:
        """Wait for the next item, then take up to `most` in all of those already drawn; [] at the end."""
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        taken: list[T] = []
        while len(taken) < most and not self._ended:
            try:
                item = self._queue.get(block=not taken)
            except queue.Empty:
                break
            if item is _END:
                self._ended = True
            elif isinstance(item, _Failed):
                self._ended = True
                if not taken:
                    raise item.error
                self._error = item.error  # the items before it first; the error on the next take
            else:
                taken.append(item)  # type: ignore[arg-type]
        return taken

    def close(self) -> None:
        """Stop drawing after the item in hand, and wait for the thread."""
        self._closed.set()
        while self._thread.is_alive():  # make room for an item (or the end) it may be waiting to put
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()


class Direct(Generic[T]):
    """The same `take` for items at hand, drawn on the caller's thread."""

    def __init__(self, items: Iterable[T]) -> None:
        self._items = iter(items)

    def take(self, most: int) -> list[T]:
        return list(islice(self._items, most))
