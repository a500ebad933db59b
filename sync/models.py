"""What the worker knows about CRM records, in its own terms (no SDK types cross this line)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, SecretStr


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PaymentStatus(StrEnum):
    """The worker's names for Payment statuses; the mapping file gives the CRM's words."""

    REQUESTED = "requested"
    LINK_SENT = "link_sent"
    PAYMENT_FAILED = "payment_failed"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    DISPUTED = "disputed"
    CANCELED = "canceled"
    ERROR = "error"
    UNKNOWN = "unknown"  # a value the mapping does not name: left alone


class PaymentType(StrEnum):
    DEPOSIT = "deposit"
    PROGRESS = "progress"
    FINAL = "final"
    CUSTOM = "custom"


class StripeMode(StrEnum):
    TEST = "test"
    LIVE = "live"


class ExistingPayment(_Value):
    """A Payment already on a Project, as intake needs it to work out the unrequested balance."""

    amount: Decimal | None
    status: PaymentStatus


class ProjectRequest(_Value):
    """A Project whose Request Payment flag is set, with the raw request fields as staff left them."""

    project_id: str
    project_name: str
    customer_email: str | None
    contract_amount: Decimal | None
    currency: str | None
    requested_amount: Decimal | None
    request_type: PaymentType | None
    request_type_raw: str | None  # what staff chose, for the error message when it is not a known type
    description: str | None
    requested_at: datetime | None
    last_modified: datetime
    payments: tuple[ExistingPayment, ...] = ()


class Payment(_Value):
    """A Payment record of the Project's Payments related list."""

    id: str
    project_id: str | None
    project_name: str | None
    project_customer_email: str | None  # from the Project, when the Payment has none
    project_currency: str | None
    type: PaymentType | None
    amount: Decimal | None
    currency: str | None
    description: str | None
    status: PaymentStatus
    customer_email: str | None
    link_url: str | None
    payment_link_id: str | None
    link_revision: int
    sync_error: str | None
    last_modified: datetime


class StripeSetup(_Value):
    """The active Stripe Setup record; `secret_key` never leaves the Stripe adapter unmasked."""

    id: str
    mode: StripeMode | None
    mode_raw: str | None
    secret_key: SecretStr | None
    default_currency: str | None
    statement_descriptor_suffix: str | None
    after_payment_message: str | None
    connection_status: str | None
    last_error: str | None
    last_modified: datetime


class CrmSnapshot(_Value):
    """Everything one cycle reads from the CRM."""

    setups: tuple[StripeSetup, ...]
    project_requests: tuple[ProjectRequest, ...]
    requested_payments: tuple[Payment, ...]


class CreatedLink(_Value):
    """A payment link as Stripe reported it."""

    id: str
    url: str
    active: bool
