"""Fixtures shared by the emulator tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sync.sandbox.httpserver import Request, SandboxServer
from sync.sandbox.stripe import StripeEmulator
from tests.sandbox.payment_box import Box


class CurrentEmulator:
    """The app of a server kept for a whole module; each test puts its own fresh emulator behind it."""

    emulator: StripeEmulator | None = None

    def app(self, request: Request) -> Any:
        assert self.emulator is not None
        return self.emulator.app(request)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[tuple[SandboxServer, CurrentEmulator]]:
    """One HTTP server per module (starting one per test costs a second); see CurrentEmulator."""
    current = CurrentEmulator()
    server = SandboxServer(current.app).start()
    yield server, current
    server.stop()


@pytest.fixture
def box(shared_server: tuple[SandboxServer, CurrentEmulator]) -> Iterator[Box]:
    """A fresh emulator (stopped clock, test and live keys) behind the module's server."""
    server, current = shared_server
    with requests.Session() as session:
        made = Box(server, session)
        current.emulator = made.emulator
        yield made
        made.emulator.db.close()
