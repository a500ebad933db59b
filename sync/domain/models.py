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


class RefundStatus(StrEnum):
    """The worker's names for Refund statuses; the mapping file gives the CRM's words."""

    REQUESTED = "requested"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    ERROR = "error"  # refused before reaching Stripe, or by Stripe; the reason is on the record
    UNKNOWN = "unknown"


class RefundSource(StrEnum):
    CRM = "crm"
    STRIPE_DASHBOARD = "stripe_dashboard"


class StripeMode(StrEnum):
    TEST = "test"
    LIVE = "live"


class ExistingPayment(_Value):
    """A Payment already on a Project, as intake needs it to work out the unrequested balance."""

    amount: Decimal | None
    status: PaymentStatus
    amount_paid: Decimal | None = None  # what Stripe charged, once paid (the worker writes it)
    request_key: str | None = None  # the intake key it was made under (requests.request_key)


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
    request_payment: bool = True  # the Request Payment box; False when only the stage rule matched
    stage: str | None = None
    signing_deposit_requested: bool = False
    # A field could not be read (sync.domain.faults): the sentence that says which; intake records it as an Error.
    unreadable: str | None = None


class RefundRecord(_Value):
    """A Refund record under a Payment."""

    id: str
    amount: Decimal | None
    reason: str | None
    status: RefundStatus
    source: RefundSource | None
    stripe_refund_id: str | None
    failure_reason: str | None


class Payment(_Value):
    """A Payment record of the Project's Payments related list, with what Stripe told us so far."""

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
    read_at: datetime | None = None  # the CRM's own time when it served this record
    checkout_session_id: str | None = None
    payment_intent_id: str | None = None
    charge_id: str | None = None
    amount_paid: Decimal | None = None
    paid_at: datetime | None = None
    receipt_url: str | None = None
    amount_refunded: Decimal | None = None
    last_failure_code: str | None = None
    last_failure: str | None = None
    dispute_id: str | None = None
    dispute_status: str | None = None
    dispute_reason: str | None = None
    amount_disputed: Decimal | None = None
    refunds: tuple[RefundRecord, ...] = ()  # oldest first
    # Staff actions and what the worker keeps of them.
    resend: bool = False
    cancel_requested: bool = False
    no_reminders: bool = False
    times_sent: int = 0
    reminders_sent: int = 0
    last_sent_at: datetime | None = None
    next_reminder_at: datetime | None = None
    link_terms: str | None = None
    link_deactivated_at: datetime | None = None
    sync_log: str | None = None


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
    events_cursor: str | None = None
    # The Stripe account the worker pinned on first verifying a key, and the box an admin ticks to
    # accept that the key now belongs to another account (the worker clears it once it has).
    stripe_account_id: str | None = None
    confirm_account_change: bool = False


class CrmSnapshot(_Value):
    """Everything one cycle reads from the CRM."""

    setups: tuple[StripeSetup, ...]
    project_requests: tuple[ProjectRequest, ...]
    requested_payments: tuple[Payment, ...]
    # Payments with a staff action waiting (a flag, a cancel, an edit, a reminder due) or a Refund
    # record staff asked for; both empty unless the caller reads them.
    action_payments: tuple[Payment, ...] = ()
    refund_payments: tuple[Payment, ...] = ()
    read_at: datetime | None = None  # the CRM's time when it served the snapshot
    # The awaiting window's rows as read, counting any that could not be decoded (sync.service.record_faults), and
    # the (LastModifiedDate, Id) of the last; None: as action_payments says.
    action_rows: int | None = None
    action_last: tuple[datetime, str] | None = None


class StripeAccount(_Value):
    """The account behind a key (`GET /v1/account`): what the worker pins, and what it needs of it."""

    id: str
    # The text before a statement descriptor suffix on card statements: the account's shortened
    # descriptor, else its statement descriptor (cut to 10 characters, as Stripe does); None if neither.
    descriptor_prefix: str | None = None


class CreatedLink(_Value):
    """A payment link as Stripe reported it."""

    id: str
    url: str
    active: bool
    # The CRM Payment id in the link's metadata (the worker writes it); None: the link names none.
    payment_id: str | None = None
    # What the link charges (its one line item), when it was read with its line items.
    currency: str | None = None
    amount_minor: int | None = None
    # The charge staff were already told of when the link's Payment had been deleted (its metadata).
    deleted_paid_said: str | None = None
    # The recipient mark (requests.recipient_mark) of an email that carried the link although the
    # CRM did not record it (its metadata): the email is a fact the worker does not forget.
    emailed_to: str | None = None
    # Stripe answered a replay of a request this process never sent under that key: another worker
    # (or a process that stopped) made the link, and may be emailing it right now.
    made_elsewhere: bool = False


# --- what Stripe says about a Payment (read by the payments adapter, in our own terms) ----------


class StripeRefund(_Value):
    id: str
    amount_minor: int
    status: str  # Stripe's word: pending, requires_action, succeeded, failed, canceled
    reason: str | None
    failure_reason: str | None
    crm_refund_id: str | None  # set on refunds the CRM asked for; absent on Dashboard refunds


class StripeDispute(_Value):
    id: str
    amount_minor: int
    status: str  # Stripe's word: needs_response, under_review, won, lost, warning_*
    reason: str | None
    created: int


class AttemptFailure(_Value):
    """The last failed payment attempt on a link (the PaymentIntent's last_payment_error)."""

    code: str
    decline_code: str | None
    message: str | None


class StripePaymentState(_Value):
    """Everything Stripe holds about one Payment's link, read afresh (events are only triggers)."""

    payment_link_id: str
    # The link's own URL, when the read fetched the link too (its id was found again: ownership.relink).
    link_url: str | None = None
    currency: str | None = None
    checkout_session_id: str | None = None
    payment_intent_id: str | None = None
    charge_id: str | None = None
    paid: bool = False
    amount_paid_minor: int | None = None
    paid_at: datetime | None = None
    receipt_url: str | None = None
    payer: str | None = None  # the customer's name or email as they gave it at checkout
    amount_refunded_minor: int = 0
    refunds: tuple[StripeRefund, ...] | None = None  # None: not read this time
    disputes: tuple[StripeDispute, ...] = ()
    last_failure: AttemptFailure | None = None
    # Whose objects these are: the CRM Payment id each of the link's Checkout Sessions and
    # PaymentIntents carries in its metadata ("" for one that carries none). Empty: no session yet.
    owners: frozenset[str] = frozenset()
    # Every Checkout Session and PaymentIntent id of the link's attempts, paid or not.
    attempt_ids: frozenset[str] = frozenset()


class StripeEventRef(_Value):
    """One Stripe event, reduced to what tells the worker which Payment it concerns."""

    id: str
    type: str
    created: int
    payment_id: str | None  # from the metadata the worker put on the link and PaymentIntent
    payment_intent_id: str | None
    refund_related: bool = False


class ActiveLinkStep(_Value):
    """One bounded step of the walk over the account's active links, newest first (Stripe cannot
    filter links by metadata): the worker's own among them, and where the next step resumes."""

    owned: tuple[tuple[str, CreatedLink], ...]  # (CRM Payment id in the link's metadata, link)
    resume_after: str | None  # the last link scanned when more may follow; None: the walk reached the end


class EventBatch(_Value):
    """Events after a cursor, oldest first (or, from `events_before`, newest first); `newest_id` is
    the newest of them, where the next poll starts."""

    events: tuple[StripeEventRef, ...]
    newest_id: str | None
    cursor_lost: bool = False  # the saved cursor was unknown to Stripe (past retention, or edited)
    more: bool = False  # the batch was cut at its size limit: more follow it
