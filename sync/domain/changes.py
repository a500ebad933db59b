"""Typed writes: the values the worker sets on one Payment or one Refund record.

A change names only the fields it writes: a field left `UNSET` is not written, `None` clears it.
Names are the logical field names of the mapping (`PaymentFields`, `RefundFields`); the codec maps
them to the org's API names and wire values in one place, and a test holds the two lists together,
so a misspelt field is a TypeError where the change is made, not a refused write in production.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal, Self

from sync.domain.models import PaymentStatus, PaymentType, RefundSource, RefundStatus


class _Unset:
    """The marker of a field a change leaves alone (distinct from None, which clears it)."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> Literal[False]:  # so `change.field or None` types as the field's value
        return False


UNSET: Final = _Unset()


@dataclass(frozen=True, kw_only=True)
class _Change:
    def written(self) -> dict[str, Any]:
        """Logical field name -> value, for the fields this change writes, in declaration order."""
        return {f.name: v for f in dataclasses.fields(self) if (v := getattr(self, f.name)) is not UNSET}

    def writes(self, name: str) -> bool:
        return getattr(self, name) is not UNSET

    def __or__(self, other: Self) -> Self:
        """This change with `other`'s written fields laid over it."""
        return dataclasses.replace(self, **other.written())

    def __bool__(self) -> bool:
        return bool(self.written())


@dataclass(frozen=True, kw_only=True)
class PaymentChange(_Change):
    """Absolute values to set on one Payment (see mapping.PaymentFields for what each holds)."""

    project: str | _Unset = UNSET
    request_key: str | _Unset = UNSET
    type: PaymentType | _Unset | None = UNSET
    amount: Decimal | _Unset | None = UNSET
    currency: str | _Unset | None = UNSET
    description: str | _Unset | None = UNSET
    customer_email: str | _Unset | None = UNSET
    status: PaymentStatus | _Unset = UNSET
    link_url: str | _Unset | None = UNSET
    payment_link_id: str | _Unset | None = UNSET
    link_revision: int | _Unset = UNSET
    link_terms: str | _Unset | None = UNSET
    link_deactivated_at: datetime | _Unset | None = UNSET
    last_sent_at: datetime | _Unset | None = UNSET
    times_sent: int | _Unset = UNSET
    reminders_sent: int | _Unset = UNSET
    next_reminder_at: datetime | _Unset | None = UNSET
    resend: bool | _Unset = UNSET
    cancel_requested: bool | _Unset = UNSET
    checkout_session_id: str | _Unset | None = UNSET
    payment_intent_id: str | _Unset | None = UNSET
    charge_id: str | _Unset | None = UNSET
    amount_paid: Decimal | _Unset | None = UNSET
    paid_at: datetime | _Unset | None = UNSET
    receipt_url: str | _Unset | None = UNSET
    amount_refunded: Decimal | _Unset | None = UNSET
    last_failure_code: str | _Unset | None = UNSET
    last_failure: str | _Unset | None = UNSET
    dispute_id: str | _Unset | None = UNSET
    dispute_status: str | _Unset | None = UNSET
    dispute_reason: str | _Unset | None = UNSET
    amount_disputed: Decimal | _Unset | None = UNSET
    sync_error: str | _Unset | None = UNSET
    sync_log: str | _Unset | None = UNSET
    last_synced_at: datetime | _Unset = UNSET


@dataclass(frozen=True, kw_only=True)
class RefundChange(_Change):
    """Absolute values to set on one Refund record (see mapping.RefundFields)."""

    payment: str | _Unset = UNSET
    amount: Decimal | _Unset | None = UNSET
    reason: str | _Unset | None = UNSET
    status: RefundStatus | _Unset = UNSET
    source: RefundSource | _Unset = UNSET
    stripe_refund_id: str | _Unset | None = UNSET
    failure_reason: str | _Unset | None = UNSET
