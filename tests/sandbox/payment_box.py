"""A fresh Stripe emulator behind the module's shared server, with a stopped clock and a link maker."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import requests
import stripe

from sync.sandbox.clock import SandboxClock
from sync.sandbox.httpserver import SandboxServer
from sync.sandbox.stripe import StripeEmulator

TEST_KEY = "sk_test_51PaymentsEmulatorKeyForTestsAbcd"
LIVE_KEY = "rk_live_51PaymentsEmulatorLiveKeyForTests9"
GOOD_CARD = "4242424242424242"
AMOUNT = 250000


class StoppedClock(SandboxClock):
    """A clock that moves only when a test moves it, so events can share one second on purpose."""

    def __init__(self) -> None:
        super().__init__()
        self._now = 1_795_000_000.0

    def time(self) -> float:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta.total_seconds()


class Box:
    def __init__(self, server: SandboxServer, session: requests.Session) -> None:
        self.clock = StoppedClock()
        self.emulator = StripeEmulator(clock=self.clock)
        self.emulator.base_url = server.url
        self.emulator.add_api_key(TEST_KEY)
        self.emulator.add_api_key(LIVE_KEY)
        self.url = server.url
        self.http = session

    def client(self, key: str = TEST_KEY) -> stripe.StripeClient:
        return stripe.StripeClient(
            key,
            base_addresses={"api": self.url},
            http_client=stripe.RequestsClient(session=self.http, timeout=10),
        )

    def link(self, *, limit: int | None = 1, key: str = TEST_KEY, amount: int = AMOUNT) -> Any:
        params: dict[str, Any] = {
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {"currency": "usd", "unit_amount": amount, "product_data": {"name": "Deposit P-1"}},
                }
            ],
            "metadata": {"crm_payment_request_id": "a0X1"},
            "payment_intent_data": {
                "metadata": {"crm_payment_request_id": "a0X1"},
                "description": "Deposit P-1",
                "statement_descriptor_suffix": "P-1",
            },
        }
        if limit is not None:
            params["restrictions"] = {"completed_sessions": {"limit": limit}}
        return self.client(key).v1.payment_links.create(params=params)

    def event_types(self, mode: str = "test") -> list[str]:
        """Recorded event types, oldest first."""
        return [event["type"] for event in reversed(self.emulator.events(mode=mode))]

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, f"{self.url}/__sandbox{path}", timeout=10, **kwargs)
