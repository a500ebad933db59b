"""What the core asks the runner to do. Each action is a frozen value the runner applies once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sync.domain.changes import PaymentChange
from sync.domain.models import CreatedLink, PaymentStatus, PaymentType


@dataclass(frozen=True)
class PaymentDraft:
    """The fields of a Payment that intake creates."""

    project_id: str
    request_key: str
    type: PaymentType | None
    amount: Decimal | None
    currency: str | None
    description: str | None
    customer_email: str | None
    status: PaymentStatus
    sync_error: str | None


@dataclass(frozen=True)
class CreatePayment:
    """Create one Payment for a Project and mark the Project done, both or neither.

    `signing_deposit`: the deposit on signing (the Project's stage rule), not a click of Request
    Payment; the Project's Signing Deposit Requested box is ticked instead of its request cleared.
    """

    project_id: str
    project_last_modified: datetime
    draft: PaymentDraft
    signing_deposit: bool = False


@dataclass(frozen=True)
class LinkSpec:
    """Everything Stripe needs to create one single-use payment link."""

    idempotency_key: str
    amount_minor: int
    currency: str
    product_name: str
    payment_description: str
    metadata: dict[str, str] = field(hash=False)
    statement_descriptor_suffix: str | None = None
    after_payment_message: str | None = None


@dataclass(frozen=True)
class EmailContext:
    """What the link email's template may show."""

    to: str
    project_name: str
    payment_type: str
    amount: str  # formatted for people, e.g. "$5,000.00"
    description: str


@dataclass(frozen=True)
class CreatePaymentLink:
    """Create the link, write it back, email it, then mark the Payment Link Sent."""

    payment_id: str
    link_revision: int
    spec: LinkSpec
    email: EmailContext
    terms: str | None = None  # what the link charges (staff_actions.link_terms), kept on the Payment
    times_sent: int = 0
    no_reminders: bool = False
    sync_log: str | None = None  # the Payment's log so far; the send is added to it

    def written_back(self, link: CreatedLink) -> PaymentChange:
        """What the Payment records as soon as Stripe made its link, before anything is emailed."""
        return PaymentChange(
            link_url=link.url,
            payment_link_id=link.id,
            link_terms=self.terms,
            link_deactivated_at=None,
            sync_error=None,
        )


@dataclass(frozen=True)
class EmailExistingLink:
    """The link exists and is on the record but was never marked sent: email it and mark it."""

    payment_id: str
    link_url: str
    email: EmailContext
    link_id: str  # checked in Stripe before the email: its URL is the one sent
    link_revision: int = 0
    times_sent: int = 0
    no_reminders: bool = False
    sync_log: str | None = None
    # When the record last changed, if that change may have been this link's write-back (no Sync
    # Error: a write that says why a link waits sets one): its email may still be on its way.
    written_back_at: datetime | None = None
    # What the record asks now, to hold the link against before it is emailed (requests.judge_existing_link):
    charges: tuple[str, int] | None = None  # currency and amount in minor units
    terms_changed: bool = False  # the Link Terms recorded with the link differ from the record's
    recorded_paid: PaymentStatus | None = None  # the paid status the record's own Stripe values say, if any


@dataclass(frozen=True)
class ReportError:
    """Set the Payment to Error with a sentence staff understand; nothing goes to Stripe."""

    payment_id: str
    message: str

    @property
    def change(self) -> PaymentChange:
        return PaymentChange(status=PaymentStatus.ERROR, sync_error=self.message)


@dataclass(frozen=True)
class ReportFault:
    """Say on the Payment that deciding what it needs failed; its status stays, it is tried next cycle.

    A fault of ours (or of a value nobody foresaw), not of the request: staff have nothing to fix,
    so the Payment is not set to Error; one record's fault never stops the others (invariant 6).
    """

    payment_id: str
    message: str
    error_type: str

    @property
    def change(self) -> PaymentChange:
        return PaymentChange(sync_error=self.message)


@dataclass(frozen=True)
class WaitForStripe:
    """Leave the Payment Requested, saying on it that Stripe is not connected yet."""

    payment_id: str
    message: str

    @property
    def change(self) -> PaymentChange:
        return PaymentChange(sync_error=self.message)


Action = CreatePayment | CreatePaymentLink | EmailExistingLink | ReportError | ReportFault | WaitForStripe
