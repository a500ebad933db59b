"""The sandbox's shared clock moves forward through either emulator's control API, never back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import requests

from sync.sandbox.environment import Sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


def _now(sandbox: Sandbox, base: str, **kw) -> datetime:
    answer = requests.get(f"{base}/__sandbox/clock", timeout=5, **kw)
    assert answer.status_code == 200
    return datetime.fromisoformat(answer.json()["now"])


def test_advancing_through_either_emulator_moves_the_one_clock(sandbox: Sandbox):
    tls = {"verify": str(sandbox.tls.ca_bundle)}
    before = _now(sandbox, sandbox.stripe_url)

    moved = requests.post(f"{sandbox.salesforce_url}/__sandbox/clock/advance", json={"hours": 49}, timeout=5, **tls)
    assert moved.status_code == 200
    requests.post(f"{sandbox.stripe_url}/__sandbox/clock/advance", json={"days": 1}, timeout=5).raise_for_status()

    after = _now(sandbox, sandbox.salesforce_url, **tls)
    assert timedelta(hours=73) <= after - before < timedelta(hours=73, minutes=1)
    assert abs(_now(sandbox, sandbox.stripe_url) - after) < timedelta(seconds=5)


@pytest.mark.parametrize("body", [{"hours": -1}, {"weeks": 1}, {"days": "soon"}])
def test_a_move_backwards_or_in_unknown_units_is_refused(sandbox: Sandbox, body):
    answer = requests.post(f"{sandbox.stripe_url}/__sandbox/clock/advance", json=body, timeout=5)
    assert answer.status_code == 400
    tls = {"verify": str(sandbox.tls.ca_bundle)}
    answer = requests.post(f"{sandbox.salesforce_url}/__sandbox/clock/advance", json=body, timeout=5, **tls)
    assert answer.status_code == 400
