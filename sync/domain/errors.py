"""Errors classified by what the caller should do about them."""

from __future__ import annotations


class SyncError(Exception):
    """Base class of the worker's own errors."""


class ConfigError(SyncError):
    """The worker's own configuration is wrong: stop with one clear message (exit status 2)."""


class RetryableError(SyncError):
    """A passing fault (network, 429, 5xx, lock, expired session): try again later."""

    def __init__(self, message: str, *, retry_after: float | None = None, retry_now: bool = True) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        # False when the service said a retry would fail the same way (Stripe-Should-Retry: false):
        # the call is not repeated within the cycle; the next cycle decides afresh.
        self.retry_now = retry_now


class PermanentError(SyncError):
    """This record cannot proceed as it is: say why on the record and move on."""


class StripeNotConnected(SyncError):
    """No usable Stripe Setup record: requests wait, they are not failed."""


class AmountTooSmall(PermanentError):
    """Stripe refused the amount as under its minimum charge (`amount_too_small`); the same amount
    will be refused again, so the record says what to change rather than the request being retried."""


class IdempotencyConflict(PermanentError):
    """Stripe saw the same idempotency key with other parameters."""


class StripeKeyRejected(SyncError):
    """Stripe refused the Setup record's key (revoked, mistyped, or lacking a permission)."""

    def __init__(self, message: str, *, missing_permission: bool = False) -> None:
        super().__init__(message)
        self.missing_permission = missing_permission
