"""Prefetch: items drawn on a thread, handed over as they come, errors after the items before them."""

from __future__ import annotations

import threading

import pytest

from sync.runtime.prefetch import Direct, Prefetch


def test_take_hands_over_what_has_come_without_waiting_for_more():
    release = threading.Event()

    def items():
        yield from (1, 2, 3)
        release.wait(timeout=5)  # the fourth is late
        yield 4

    source = Prefetch(items(), name="t", ahead=100)
    try:
        got: list[int] = []
        while len(got) < 3:
            got += source.take(10)
        assert got == [1, 2, 3]  # not held back for the fourth
        release.set()
        assert source.take(10) == [4]
        assert source.take(10) == []
        assert source.take(10) == []
    finally:
        release.set()
        source.close()


def test_take_gives_at_most_what_is_asked_in_order():
    source = Prefetch(iter(range(10)), name="t", ahead=100)
    got: list[int] = []
    while chunk := source.take(3):
        assert len(chunk) <= 3
        got += chunk
    source.close()
    assert got == list(range(10))


def test_an_error_comes_after_the_items_drawn_before_it():
    def items():
        yield "a"
        yield "b"
        raise RuntimeError("page 3 failed")

    source = Prefetch(items(), name="t", ahead=100)
    got: list[str] = []
    with pytest.raises(RuntimeError, match="page 3 failed"):
        while True:
            got += source.take(10)
    source.close()
    assert got == ["a", "b"]
    assert source.take(10) == []


def test_close_stops_drawing_and_runs_the_generators_cleanup():
    drawn: list[int] = []
    cleaned = threading.Event()

    def items():
        try:
            for n in range(1_000_000):
                drawn.append(n)
                yield n
        finally:
            cleaned.set()

    source = Prefetch(items(), name="t", ahead=100)
    assert source.take(1) == [0]
    source.close()
    assert cleaned.is_set() and len(drawn) < 1_000_000


def test_direct_takes_on_the_callers_thread():
    source = Direct(["a", "b", "c"])
    assert (source.take(2), source.take(2), source.take(2)) == (["a", "b"], ["c"], [])


def test_it_draws_no_further_than_ahead_of_the_taker():
    drawn: list[int] = []

    def items():
        for n in range(100):
            drawn.append(n)
            yield n

    source = Prefetch(items(), name="t", ahead=5)
    try:
        assert source.take(2) == [0, 1]
        deadline = threading.Event()
        deadline.wait(0.2)  # time enough to run far ahead, were it unbounded
        assert len(drawn) <= 2 + 5 + 1  # taken, waiting, and the one in hand
    finally:
        source.close()
