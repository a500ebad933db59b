"""Stripe's error bodies and status codes, as raised inside the emulator.

Texts follow what Stripe returns on the wire (see the module constants for sources); stripe-python
maps them to exceptions by status and `type` (`_api_requestor.specific_v1_api_error`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DOC_BASE = "https://stripe.com/docs/error-codes/"

# Seen verbatim in many client logs of the real API.
NO_API_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization header, "
    "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/."
)


@dataclass
class StripeError(Exception):
    """An error answer: HTTP status plus the `error` object Stripe sends."""

    status: int
    message: str
    type: str = "invalid_request_error"
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # False for errors raised by request validation: Stripe saves no idempotent result for them.
    after_execution_began: bool = False

    def body(self, *, request_log_url: str | None) -> dict[str, Any]:
        error: dict[str, Any] = {}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = DOC_BASE + self.code.replace("_", "-")
        error["message"] = self.message
        if self.param is not None:
            error["param"] = self.param
        if request_log_url is not None:
            error["request_log_url"] = request_log_url
        error["type"] = self.type
        return {"error": error}


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, message, code=code, param=param)


def parameter_unknown(param: str) -> StripeError:
    return invalid(f"Received unknown parameter: {param}", param=param, code="parameter_unknown")


def parameter_missing(param: str) -> StripeError:
    return invalid(f"Missing required param: {param}.", param=param, code="parameter_missing")


def parameter_invalid_empty(param: str) -> StripeError:
    return invalid(
        f"You passed an empty string for '{param}'. We assume empty values are an attempt to unset a "
        f"parameter; however '{param}' cannot be unset. You should remove '{param}' from your request or "
        "supply a non-empty value.",
        param=param,
        code="parameter_invalid_empty",
    )


def parameters_exclusive(params: list[str]) -> StripeError:
    return invalid(
        f"You may only specify one of these parameters: {', '.join(params)}.",
        param=params[0],
        code="parameters_exclusive",
    )


def invalid_integer(param: str, value: Any) -> StripeError:
    return invalid(f"Invalid integer: {value}", param=param, code="parameter_invalid_integer")


def resource_missing(kind: str, object_id: str, *, param: str | None = "id") -> StripeError:
    return StripeError(
        404 if param == "id" else 400,
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param,
    )


def unrecognized_url(method: str, path: str) -> StripeError:
    return StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help "
        "at https://support.stripe.com/.",
    )


def no_api_key() -> StripeError:
    return StripeError(401, NO_API_KEY)


def invalid_api_key(masked: str) -> StripeError:
    return StripeError(401, f"Invalid API Key provided: {masked}")


def missing_permission(masked_key: str, account_id: str, permission: str) -> StripeError:
    """A restricted key without the resource's permission: 403, type invalid_request_error (stripe-python
    raises PermissionError). Wording as quoted in stripe/stripe-node#2246 and tylerjrichards/st-paywall#36."""
    return StripeError(
        403,
        f"The provided key '{masked_key}' does not have the required permissions for this endpoint on account "
        f"'{account_id}'. Having the '{permission}' permission would allow this request to continue.",
    )


def idempotency_mismatch(key: str) -> StripeError:
    return StripeError(
        400,
        "Keys for idempotent requests can only be used with the same parameters they were first used "
        f"with. Try using a key other than '{key}' if you meant to execute a different request.",
        type="idempotency_error",
    )


def idempotency_other_endpoint(key: str, first: str, now: str) -> StripeError:
    # Text recalled from the live API, not found in a stored source: unsure of the exact wording.
    return StripeError(
        400,
        "Keys for idempotent requests can only be used for the same endpoint they were first used for "
        f"('{first}' vs '{now}'). Try using a key other than '{key}' if you meant to execute a different "
        "request.",
        type="idempotency_error",
    )


def idempotency_in_flight(key: str) -> StripeError:
    # Stripe signals that a retry is the right move; stripe-python retries 409s anyway.
    return StripeError(
        409,
        "There is currently another in-progress request using this Idempotent Key (that probably means "
        f"you submitted twice, and the other request is still going through): {key}. Please try again "
        "later.",
        type="idempotency_error",
        code="idempotency_key_in_use",
        headers={"Stripe-Should-Retry": "true"},
    )


# Transient failures, as the fault layer (sandbox/faults) injects them.
RATE_LIMIT_MESSAGE = (
    # Type and code as the live API sent them in codecombat/codecombat#2588 (2015, with a shorter
    # text); this longer text is the one current client test fixtures copy. Not checked live.
    "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits."
)
LOCK_TIMEOUT_MESSAGE = (
    # A live 429 body quoted in a bug report; docs.stripe.com/rate-limits#object-lock-timeouts
    # gives the same text.
    "This object cannot be accessed right now because another API request or Stripe process is "
    "currently accessing it. If you see this error intermittently, retry the request. If you see "
    "this error frequently and are making multiple concurrent requests to a single object, make your "
    "requests serially or at a lower rate."
)


def rate_limited(*, should_retry: bool | None = None) -> StripeError:
    """429 `rate_limit`. A limiter's 429 carries `Stripe-Rate-Limited-Reason`; one without it is
    not from a rate limiter (https://docs.stripe.com/rate-limits#rate-limited-requests)."""
    headers = {"Stripe-Rate-Limited-Reason": "global-rate", **_should_retry(should_retry)}
    return StripeError(429, RATE_LIMIT_MESSAGE, code="rate_limit", headers=headers)


def lock_timeout(*, should_retry: bool | None = True) -> StripeError:
    """429 `lock_timeout`: Stripe's SDKs retry these, which they learn from `Stripe-Should-Retry`."""
    return StripeError(429, LOCK_TIMEOUT_MESSAGE, code="lock_timeout", headers=_should_retry(should_retry))


def api_error(*, should_retry: bool | None = None) -> StripeError:
    # "An unknown error occurred" is what clients report for a 500 (stripe/stripe-node#1494).
    return StripeError(500, "An unknown error occurred", type="api_error", headers=_should_retry(should_retry))


def service_unavailable(*, should_retry: bool | None = None) -> StripeError:
    # The 503 text during a Stripe outage, as stripe-ruby reported it (thewca/worldcubeassociation.org#4305).
    return StripeError(
        503,
        "There was an unexpected error processing this request–we've been notified of this issue. We'll "
        "update our status page at https://status.stripe.com/ with more information if we're seeing "
        "systemic issues.",
        type="api_error",
        headers=_should_retry(should_retry),
    )


def _should_retry(value: bool | None) -> dict[str, str]:
    return {} if value is None else {"Stripe-Should-Retry": "true" if value else "false"}


class ActionError(ValueError):
    """A control action (a customer on the hosted page, staff in the Dashboard) that cannot happen.

    A ValueError in Python; the control API answers with `status` and the message as JSON.
    """

    status = 409


class ActionNotFound(ActionError):
    status = 404
