"""Reading the org's API usage from Sforce-Limit-Info and pacing the worker by it."""

from __future__ import annotations

import pytest

from sync.runtime.api_budget import MAX_SLOWDOWN, ApiBudget, parse_usage


@pytest.mark.parametrize(
    ("header", "usage"),
    [
        ("api-usage=18/5000", (18, 5000)),
        ("api-usage=18/5000; api-bursts=3/750", (18, 5000)),  # the current docs' form
        ("per-app-api-usage=17/250(appName=x), api-usage=20/5000", (20, 5000)),
        ("per-app-api-usage=17/250(appName=x)", None),  # another app's share is not the org's
        ("api-usage=1/0", None),
        ("", None),
        (None, None),
    ],
)
def test_usage_is_read_from_the_header(header, usage):
    assert parse_usage(header) == usage


@pytest.mark.parametrize(
    ("used", "slowdown", "paused"),
    [
        (0, 1.0, False),
        (6_999, 1.0, False),  # below share - 10 points: full speed
        (7_500, 1.0 + (MAX_SLOWDOWN - 1.0) / 2, False),  # halfway into the last 10 points
        (8_000, MAX_SLOWDOWN, True),  # at the share: slowest, non-urgent work paused
        (9_999, MAX_SLOWDOWN, True),
    ],
)
def test_the_worker_slows_as_usage_nears_the_share_then_pauses(used, slowdown, paused):
    budget = ApiBudget(0.8)
    budget.observe(f"api-usage={used}/10000")
    assert budget.slowdown() == pytest.approx(slowdown)
    assert budget.non_urgent_paused() is paused


def test_without_a_header_yet_nothing_is_held_back():
    budget = ApiBudget(0.8)
    budget.observe(None)
    assert budget.slowdown() == 1.0 and not budget.non_urgent_paused()
