"""The narrow interfaces the worker owns; adapters for Salesforce and Stripe implement them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from pydantic import SecretStr

from sync.domain.actions import CreatePayment, LinkSpec
from sync.domain.changes import PaymentChange, RefundChange
from sync.domain.models import (
    ActiveLinkStep,
    CreatedLink,
    CrmSnapshot,
    EventBatch,
    Payment,
    PaymentStatus,
    StripeAccount,
    StripePaymentState,
    StripeRefund,
)
from sync.domain.refunds import RefundSpec
from sync.domain.stripe_results import OutcomeWrite

if TYPE_CHECKING:  # sync.service.record_faults builds PaymentUpdates
    from sync.domain.faults import RecordFault


@dataclass(frozen=True)
class PaymentUpdate:
    """The values to set on one Payment."""

    payment_id: str
    change: PaymentChange


@dataclass(frozen=True)
class RefundUpdate:
    """The values to set on one Refund record."""

    refund_id: str
    change: RefundChange


@dataclass(frozen=True)
class OutboundEmail:
    to: str
    subject: str
    body: str
    related_record_id: str


@dataclass(frozen=True)
class LoggedEmail:
    """An email the org logged on a record when it sent it (EmailMessage): proof it went out."""

    related_record_id: str
    to: str  # the To addresses as the org lists them
    body: str

    def is_of(self, email: OutboundEmail) -> bool:
        # Compared word by word: the org may store the body with other line endings than were sent.
        same_body = self.body.split() == email.body.split()
        return same_body and email.to.strip().lower() in self.to.lower()


@dataclass(frozen=True)
class ChatterPost:
    """A post on a Project's feed, telling staff what happened."""

    project_id: str
    body: str


@dataclass(frozen=True)
class DeletedPayment:
    """A Payment in the org's recycle bin (queryAll, IsDeleted): this org's, though staff deleted it."""

    id: str
    project_id: str | None
    payment_link_id: str | None


@dataclass(frozen=True)
class WriteResult:
    """The CRM's answer for one record of a batched write; `error` is None on success."""

    record_id: str | None
    error: str | None = None
    duplicate: bool = False
    # Refused for a passing reason (a row lock, a change in the second it was read, a rollback with
    # another record's failure): written again next cycle, nothing said on the record.
    deferred: bool = False

    @property
    def status(self) -> WriteStatus:
        if self.error is None:
            return WriteStatus.WRITTEN
        return WriteStatus.DEFERRED if self.deferred else WriteStatus.REFUSED


class WriteStatus(Enum):
    WRITTEN = "written"
    DEFERRED = "deferred"  # see WriteResult.deferred
    REFUSED = "refused"  # refused for this record (a validation rule, a deleted record): said, not retried


class CrmGateway(Protocol):
    def connect(self) -> None:
        """Log in (the first call; again after an expired session); raise when the org refuses."""
        ...

    def read_snapshot(
        self, *, reminders_due_by: datetime | None = None, changed_after: tuple[datetime, str] | None = None
    ) -> CrmSnapshot: ...

    def read_requested_payments(self) -> tuple[Payment, ...]: ...

    def create_payments(self, actions: list[CreatePayment]) -> list[WriteResult]: ...

    def clear_request_flag(
        self, project_id: str, *, unmodified_since: datetime, signing_deposit: bool = False
    ) -> None: ...

    # The request said on its Project and cleared; False when the mapping has no field to say it in.
    def refuse_request(
        self, project_id: str, reason: str, *, unmodified_since: datetime, signing_deposit: bool = False
    ) -> bool: ...

    def update_payments(self, updates: list[PaymentUpdate]) -> list[WriteResult]: ...

    # An email whose send the org may or may not have done (the answer was lost) comes back deferred,
    # after the org's log was checked for it: it is never sent again blind.
    def send_emails(self, emails: list[OutboundEmail]) -> list[WriteResult]: ...

    # The emails logged on these records, oldest first: what was sent, whatever its record says.
    def logged_emails(self, record_ids: list[str]) -> tuple[LoggedEmail, ...]: ...

    # `account_id`, when given, is pinned on the record and the admin's Confirm Account Change cleared.
    def update_setup(
        self,
        setup_id: str,
        *,
        status: str,
        error: str | None,
        verified_at: datetime | None,
        account_id: str | None = None,
    ) -> None: ...

    def read_payments(self, payment_ids: list[str]) -> tuple[Payment, ...]: ...

    def payment_ids_for_intents(self, intent_ids: list[str]) -> dict[str, str]: ...

    def iter_payments_to_reconcile(self, statuses: list[PaymentStatus]) -> Iterator[Payment]: ...

    def apply_outcomes(self, items: list[tuple[OutcomeWrite, tuple[ChatterPost, ...]]]) -> list[WriteResult]: ...

    def update_refunds(self, updates: list[RefundUpdate]) -> list[WriteResult]: ...

    def save_events_cursor(self, setup_id: str, cursor: str) -> None: ...

    # Payments read since the last call that could not be decoded (each once), to be said on the record.
    def take_unreadable(self) -> list[RecordFault]: ...

    # Of these ids of Payments the org no longer shows, those in its recycle bin.
    def deleted_payments(self, payment_ids: list[str]) -> tuple[DeletedPayment, ...]: ...

    # Posts on their own (none of them rolls another back), for what no record can carry any more.
    def post(self, posts: list[ChatterPost]) -> list[WriteResult]: ...


class PaymentsGateway(Protocol):
    # The account behind the key, read with calls that need the permissions the worker needs most.
    def verify_key(self) -> StripeAccount: ...

    def create_payment_link(self, spec: LinkSpec) -> CreatedLink: ...

    # The link as Stripe holds it, with the Payment id its metadata names (checked before it is used).
    def link(self, link_id: str) -> CreatedLink: ...

    def deactivate_link(self, link_id: str) -> None: ...

    def note_deleted_paid_said(self, link_id: str, charge_id: str) -> None: ...

    # Kept on the link when the CRM did not record that it was emailed (requests.recipient_mark).
    def note_emailed(self, link_id: str, recipient_mark: str) -> None: ...

    def links_for_payment(self, payment_id: str) -> list[CreatedLink]: ...

    # The Payment's own link, found through Stripe objects naming it, for a record whose link id is another's.
    def own_link(self, payment_id: str, *, session_id: str | None, intent_id: str | None) -> CreatedLink | None: ...

    # The worker's own active links among at most `most` scanned after `after` (from the newest without it).
    def active_links(self, after: str | None, *, most: int) -> ActiveLinkStep: ...

    # The events after `cursor`, oldest first; a cursor Stripe does not know gives `cursor_lost`, no events.
    def events_after(self, cursor: str, *, max_events: int) -> EventBatch: ...

    # The window's events newest first, older than `older_than` (from the newest without it); for a
    # poll with no cursor to start from, which can then hand events on as they come.
    def events_before(self, older_than: str | None, *, since: datetime, max_events: int) -> EventBatch: ...

    def payment_state(self, link_id: str, *, with_refunds: bool) -> StripePaymentState: ...

    def payment_id_of_intent(self, payment_intent_id: str) -> str | None: ...

    def create_refund(self, spec: RefundSpec) -> StripeRefund: ...


# Builds a PaymentsGateway for a key, so a rotated key in the CRM takes effect without a restart.
PaymentsGatewayFactory = Callable[[SecretStr], PaymentsGateway]
