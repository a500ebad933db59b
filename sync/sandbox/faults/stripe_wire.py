"""Stripe's answers to injected faults and to its rate limiter, with the headers Stripe sends."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ..httpserver import Request, Response
from ..stripe import errors, ids
from ..stripe.app import api_key_of, request_log_url
from .ratelimit import STRIPE_LIMITS
from .rules import FaultRule

if TYPE_CHECKING:
    from ..stripe.app import StripeEmulator


class StripeWire:
    """Fault answers of the Stripe emulator; the rate limit counts per key mode (test, live)."""

    service = "stripe"
    kinds = frozenset({"rate_limit", "lock_timeout", "server_error", "unavailable"})
    exempt_prefixes = ("/__sandbox/",)
    rate_limits: dict[str, int] | None = STRIPE_LIMITS

    def __init__(self, emulator: StripeEmulator) -> None:
        self._emulator = emulator

    def error(self, rule: FaultRule, request: Request, original: Response | None) -> Response:
        retry = {} if rule.should_retry == "auto" else {"should_retry": rule.should_retry}
        match rule.kind:
            case "rate_limit":
                error = errors.rate_limited(**retry)
            case "lock_timeout":
                error = errors.lock_timeout(**retry)
            case "server_error":
                error = errors.api_error(**retry)
            case "unavailable":
                error = errors.service_unavailable(**retry)
            case _:
                raise ValueError(f"not a Stripe fault kind: {rule.kind}")
        return self._answer(request, error, original)

    def outage(self, request: Request) -> Response:
        return self._answer(request, errors.service_unavailable(), None)

    def rate_limited(self, request: Request) -> Response:
        return self._answer(request, errors.rate_limited(), None)

    def mode(self, request: Request) -> str | None:
        key = api_key_of(request)
        return None if key is None else ids.mode_of_key(key)

    def _answer(self, request: Request, error: errors.StripeError, original: Response | None) -> Response:
        # In phase "after" the request ran under its own Request-Id; the answer that replaces it keeps it.
        request_id = (original.headers.get("Request-Id") if original else None) or ids.new_id("req")
        mode = self.mode(request)
        log_url = None if mode is None else request_log_url(mode, request_id, self._emulator.clock.time())
        headers = {
            "Content-Type": "application/json",
            "Request-Id": request_id,
            "Stripe-Version": request.header("Stripe-Version") or self._emulator.api_version,
            "Cache-Control": "no-cache, no-store",
        }
        if request.method == "POST" and (key := request.header("Idempotency-Key")) is not None:
            headers["Idempotency-Key"] = key
        body = json.dumps(error.body(request_log_url=log_url), indent=2).encode()
        return Response(status=error.status, body=body, headers={**headers, **error.headers})
