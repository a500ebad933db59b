"""Every Stripe error the worker logs or writes keeps Stripe's Request-Id, which support asks for."""

from __future__ import annotations

import stripe

from sync.adapters.stripe.payments import _translate
from sync.domain.errors import PermanentError, RetryableError, StripeKeyRejected


def _error(cls: type[stripe.StripeError], status: int, request_id: str = "req_8xQz2LmN", **kw) -> stripe.StripeError:
    body = {"error": {"message": "Amount must be at least $0.50 usd", "code": "amount_too_small"}}
    return cls("boom", http_status=status, json_body=body, headers={"request-id": request_id}, **kw)


def test_a_refusal_a_passing_fault_and_a_rejected_key_all_carry_the_request_id():
    refused = _translate(_error(stripe.InvalidRequestError, 400, param="amount"))  # type: ignore[call-arg]
    passing = _translate(_error(stripe.APIError, 500))
    key = _translate(_error(stripe.AuthenticationError, 401))
    assert isinstance(refused, PermanentError) and isinstance(passing, RetryableError)
    assert isinstance(key, StripeKeyRejected)
    for error in (refused, passing, key):
        assert "[Stripe Request-Id req_8xQz2LmN]" in str(error)
    assert str(refused) == "Amount must be at least $0.50 usd (amount_too_small) [Stripe Request-Id req_8xQz2LmN]"


def test_a_request_id_that_is_not_one_is_left_out():
    assert "Request-Id" not in str(_translate(_error(stripe.APIError, 500, request_id="<script>")))
