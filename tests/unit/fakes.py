"""In-memory stand-ins for the worker's ports: fakes with behaviour, not mocks of calls."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from sync.config.mapping import PaymentFields, RefundFields
from sync.domain.actions import CreatePayment, LinkSpec
from sync.domain.changes import PaymentChange, RefundChange
from sync.domain.errors import IdempotencyConflict, PermanentError, RetryableError
from sync.domain.faults import RecordFault
from sync.domain.models import (
    ActiveLinkStep,
    CreatedLink,
    CrmSnapshot,
    EventBatch,
    Payment,
    PaymentStatus,
    RefundRecord,
    RefundStatus,
    StripeAccount,
    StripeEventRef,
    StripePaymentState,
    StripeRefund,
    StripeSetup,
)
from sync.domain.refunds import RefundSpec
from sync.domain.staff_actions import paid_by_hand_with_live_link
from sync.domain.stripe_results import PAID_FAMILY, OutcomeWrite
from sync.ports import (
    ChatterPost,
    DeletedPayment,
    LoggedEmail,
    OutboundEmail,
    PaymentUpdate,
    RefundUpdate,
    WriteResult,
)


@dataclass
class FakeCrm:
    setups: tuple[StripeSetup, ...] = ()
    payments: dict[str, Payment] = field(default_factory=dict)
    sent: list[OutboundEmail] = field(default_factory=list)
    setup_writes: list[dict[str, Any]] = field(default_factory=list)
    connects: int = 0
    fail_email_to: set[str] = field(default_factory=set)
    fail_writes_for: set[str] = field(default_factory=set)
    created: list[CreatePayment] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    refused_requests: dict[str, str] = field(default_factory=dict)
    refuse_posts: bool = False
    # Payment id -> the sentence the adapter would give: read, those are set aside as the adapter does
    # with a record it cannot decode (see take_unreadable).
    undecodable: dict[str, str] = field(default_factory=dict)
    set_aside: dict[str, RecordFault] = field(default_factory=dict)

    def _readable(self, payments: Iterable[Payment]) -> tuple[Payment, ...]:
        kept = []
        for p in payments:
            if p.id in self.undecodable:
                self.set_aside[p.id] = RecordFault(
                    record_id=p.id, sobject="payment", problem=self.undecodable[p.id], sync_error=p.sync_error
                )
            else:
                kept.append(p)
        return tuple(kept)

    def connect(self) -> None:
        self.connects += 1

    def take_unreadable(self) -> list[RecordFault]:
        faults, self.set_aside = list(self.set_aside.values()), {}
        return faults

    def read_snapshot(
        self, *, reminders_due_by: datetime | None = None, changed_after: tuple[datetime, str] | None = None
    ) -> CrmSnapshot:
        """As the org's queries select them; every awaiting or paid Payment counts as changed (by staff)."""
        awaiting = (PaymentStatus.LINK_SENT, PaymentStatus.PAYMENT_FAILED)

        def needs_action(p: Payment) -> bool:
            live_canceled = p.status is PaymentStatus.CANCELED and p.payment_link_id and not p.link_deactivated_at
            return bool(
                p.resend
                or p.cancel_requested
                or live_canceled
                or p.status in awaiting
                or p.status in PAID_FAMILY  # as if edited by staff since the worker last wrote it
                or paid_by_hand_with_live_link(p)
            )

        asked = [p for p in self.payments.values() if any(
            r.status is RefundStatus.REQUESTED and not r.stripe_refund_id for r in p.refunds)]  # fmt: skip
        return CrmSnapshot(
            setups=self.setups,
            project_requests=(),
            requested_payments=self.read_requested_payments(),
            action_payments=self._readable(p for p in self.payments.values() if needs_action(p)),
            refund_payments=self._readable(asked),
            read_at=reminders_due_by,
        )

    def read_requested_payments(self) -> tuple[Payment, ...]:
        return self._readable(p for p in self.payments.values() if p.status is PaymentStatus.REQUESTED)

    def create_payments(self, actions: list[CreatePayment]) -> list[WriteResult]:
        self.created.extend(actions)
        return [WriteResult(record_id=f"new{i}") for i, _ in enumerate(actions)]

    def clear_request_flag(self, project_id: str, *, unmodified_since: datetime, signing_deposit: bool = False) -> None:
        self.cleared.append(project_id)

    def refuse_request(
        self, project_id: str, reason: str, *, unmodified_since: datetime, signing_deposit: bool = False
    ) -> bool:
        self.refused_requests[project_id] = reason
        return True

    def update_payments(self, updates: list[PaymentUpdate]) -> list[WriteResult]:
        results = []
        for update in updates:
            if update.payment_id in self.fail_writes_for:
                results.append(WriteResult(record_id=update.payment_id, error="ENTITY_IS_DELETED: gone"))
                continue
            values = {
                k: (int(v) if k in ("link_revision", "times_sent", "reminders_sent") else v)
                for k, v in mapped(update.change, PaymentFields).items()
                if k in Payment.model_fields
            }
            self.payments[update.payment_id] = self.payments[update.payment_id].model_copy(update=values)
            results.append(WriteResult(record_id=update.payment_id))
        return results

    def logged_emails(self, record_ids: list[str]) -> tuple[LoggedEmail, ...]:
        """Every email sent, as the org logs it (EmailMessage) on its record."""
        wanted = set(record_ids)
        return tuple(
            LoggedEmail(related_record_id=e.related_record_id, to=e.to, body=e.body)
            for e in self.sent
            if e.related_record_id in wanted
        )

    def send_emails(self, emails: list[OutboundEmail]) -> list[WriteResult]:
        results = []
        for email in emails:
            if email.to in self.fail_email_to:
                results.append(WriteResult(record_id=email.related_record_id, error="INVALID_EMAIL_ADDRESS: bounced"))
            else:
                self.sent.append(email)
                results.append(WriteResult(record_id=email.related_record_id))
        return results

    def update_setup(
        self,
        setup_id: str,
        *,
        status: str,
        error: str | None,
        verified_at: datetime | None,
        account_id: str | None = None,
    ) -> None:
        write = {"id": setup_id, "status": status, "error": error, "verified_at": verified_at, "account_id": account_id}
        self.setup_writes.append(write)
        if account_id is not None:  # as the adapter does: the pin written, the confirm box cleared
            pinned = {"stripe_account_id": account_id, "confirm_account_change": False}
            self.setups = tuple(s.model_copy(update=pinned) if s.id == setup_id else s for s in self.setups)

    # --- outcomes ---------------------------------------------------------------------------------
    posts: list[ChatterPost] = field(default_factory=list)
    cursors: list[str] = field(default_factory=list)
    outcome_writes: int = 0
    fail_outcomes_for: dict[str, str] = field(default_factory=dict)  # payment id -> error text
    defer_outcomes_for: dict[str, str] = field(default_factory=dict)  # payment id -> passing error text

    def read_payments(self, payment_ids: list[str]) -> tuple[Payment, ...]:
        return self._readable(self.payments[i] for i in payment_ids if i in self.payments)

    def payment_ids_for_intents(self, intent_ids: list[str]) -> dict[str, str]:
        return {p.payment_intent_id: p.id for p in self.payments.values() if p.payment_intent_id in intent_ids}

    def iter_payments_to_reconcile(self, statuses: list[PaymentStatus]):
        for p in self._readable(list(self.payments.values())):
            moving = any(r.status is RefundStatus.PENDING for r in p.refunds)
            if p.payment_link_id and (p.status in statuses or moving):
                yield p

    def apply_outcomes(self, items: list[tuple[OutcomeWrite, tuple[ChatterPost, ...]]]) -> list[WriteResult]:
        results = []
        for write, posts in items:
            if write.payment_id in self.defer_outcomes_for:
                error = self.defer_outcomes_for[write.payment_id]
                results.append(WriteResult(record_id=write.payment_id, error=error, deferred=True))
                continue
            if write.payment_id in self.fail_outcomes_for:
                results.append(WriteResult(record_id=write.payment_id, error=self.fail_outcomes_for[write.payment_id]))
                continue
            self.outcome_writes += 1
            current = self.payments[write.payment_id]
            values = {k: v for k, v in mapped(write.change, PaymentFields).items() if k in Payment.model_fields}
            refunds = {r.stripe_refund_id or r.id: r for r in current.refunds}
            for refund in write.refunds:
                key = refund.stripe_refund_id
                old = next((r for r in current.refunds if r.id == refund.record_id), None) or refunds.get(key)
                base = old.model_dump() if old else {"id": f"rf_{key}", "amount": None, "reason": None,
                                                      "source": None, "failure_reason": None}  # fmt: skip
                written = mapped(refund.change, RefundFields)
                base.update({k: v for k, v in written.items() if k in RefundRecord.model_fields})
                refunds.pop(old.stripe_refund_id or old.id, None) if old else None
                refunds[key] = RefundRecord(**base)
            values["refunds"] = tuple(refunds.values())
            self.payments[write.payment_id] = current.model_copy(update=values)
            self.posts.extend(posts)
            results.append(WriteResult(record_id=write.payment_id))
        return results

    refund_writes: list[RefundUpdate] = field(default_factory=list)

    def update_refunds(self, updates: list[RefundUpdate]) -> list[WriteResult]:
        for update in updates:
            self.refund_writes.append(update)
            for payment in list(self.payments.values()):
                if any(r.id == update.refund_id for r in payment.refunds):
                    refunds = tuple(
                        r.model_copy(update=mapped(update.change, RefundFields)) if r.id == update.refund_id else r
                        for r in payment.refunds
                    )
                    self.payments[payment.id] = payment.model_copy(update={"refunds": refunds})
        return [WriteResult(record_id=u.refund_id) for u in updates]

    deleted: dict[str, DeletedPayment] = field(default_factory=dict)  # the recycle bin

    def deleted_payments(self, payment_ids: list[str]) -> tuple[DeletedPayment, ...]:
        return tuple(self.deleted[i] for i in payment_ids if i in self.deleted)

    def post(self, posts: list[ChatterPost]) -> list[WriteResult]:
        if self.refuse_posts:  # feed tracking off on the Project, say
            return [WriteResult(record_id=None, error="INSUFFICIENT_ACCESS: feed off") for _ in posts]
        self.posts.extend(posts)
        return [WriteResult(record_id=p.project_id) for p in posts]

    def save_events_cursor(self, setup_id: str, cursor: str) -> None:
        self.cursors.append(cursor)
        self.setups = tuple(
            s.model_copy(
                update={"events_cursor": cursor or None, "last_modified": s.last_modified + timedelta(seconds=1)}
            )
            for s in self.setups
        )


@dataclass
class FakeStripe:
    """Payment links keyed by idempotency key, as Stripe's idempotency would keep them."""

    links: dict[str, CreatedLink] = field(default_factory=dict)
    bodies: dict[str, LinkSpec] = field(default_factory=dict)
    deactivated: list[str] = field(default_factory=list)
    fail_for: dict[str, Exception] = field(default_factory=dict)  # payment id -> error to raise
    made_elsewhere: set[str] = field(default_factory=set)  # payment ids whose link another worker made
    account: StripeAccount = field(default_factory=lambda: StripeAccount(id="acct_1FakeWorkerAccount"))
    calls: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def verify_key(self) -> StripeAccount:
        self.calls += 1
        return self.account

    def create_payment_link(self, spec: LinkSpec) -> CreatedLink:
        self.calls += 1
        payment_id = spec.metadata["crm_payment_id"]
        if payment_id in self.fail_for:
            raise self.fail_for[payment_id]
        if spec.idempotency_key in self.links:
            if self.bodies[spec.idempotency_key] != spec:
                raise IdempotencyConflict("Keys for idempotent requests can only be used with the same parameters")
            return self.links[spec.idempotency_key]
        n = next(self._ids)
        link = CreatedLink(
            id=f"plink_{n}", url=f"https://pay.example/{n}", active=True, payment_id=payment_id,
            made_elsewhere=payment_id in self.made_elsewhere,
        )  # fmt: skip
        self.links[spec.idempotency_key], self.bodies[spec.idempotency_key] = link, spec
        return link

    # Links made elsewhere (before this fake, or for another Payment), by id.
    existing: dict[str, CreatedLink] = field(default_factory=dict)

    def link(self, link_id: str) -> CreatedLink:
        self.calls += 1
        found = next((k for k in self.links.values() if k.id == link_id), None) or self.existing.get(link_id)
        if found is None:
            raise PermanentError(f"No such payment_link: '{link_id}' (resource_missing)")
        return found.model_copy(update={"active": found.active and link_id not in self.deactivated})

    def deactivate_link(self, link_id: str) -> None:
        self.deactivated.append(link_id)

    def note_emailed(self, link_id: str, recipient_mark: str) -> None:
        self._note_on_link(link_id, emailed_to=recipient_mark)

    def note_deleted_paid_said(self, link_id: str, charge_id: str) -> None:
        self._note_on_link(link_id, deleted_paid_said=charge_id)

    def _note_on_link(self, link_id: str, **metadata: str) -> None:
        for links in (self.links, self.existing):
            for key, link in links.items():
                if link.id == link_id:
                    links[key] = link.model_copy(update=metadata)

    # --- outcomes ---------------------------------------------------------------------------------
    states: dict[str, StripePaymentState] = field(default_factory=dict)  # by link id
    events: list[StripeEventRef] = field(default_factory=list)  # oldest first
    intents: dict[str, str] = field(default_factory=dict)  # payment intent id -> CRM payment id
    state_reads: int = 0

    def events_after(self, cursor: str, *, max_events: int) -> EventBatch:
        ids = [e.id for e in self.events]
        if cursor not in ids:
            return EventBatch(events=(), newest_id=None, cursor_lost=True)
        start = ids.index(cursor) + 1
        taken = self.events[start : start + max_events]
        return EventBatch(
            events=tuple(taken),
            newest_id=taken[-1].id if taken else None,
            more=start + max_events < len(self.events),
        )

    def events_before(self, older_than: str | None, *, since: datetime, max_events: int) -> EventBatch:
        newest_first = self.events[::-1]
        ids = [e.id for e in newest_first]
        start = ids.index(older_than) + 1 if older_than in ids else 0 if older_than is None else len(ids)
        taken = newest_first[start : start + max_events]
        return EventBatch(
            events=tuple(taken),
            newest_id=taken[0].id if taken else None,
            more=start + max_events < len(newest_first),
        )

    def payment_state(self, link_id: str, *, with_refunds: bool) -> StripePaymentState:
        self.state_reads += 1
        state = self.states.get(link_id) or StripePaymentState(payment_link_id=link_id)
        return state if with_refunds else state.model_copy(update={"refunds": None})

    def payment_id_of_intent(self, payment_intent_id: str) -> str | None:
        return self.intents.get(payment_intent_id)

    # --- refunds ----------------------------------------------------------------------------------
    refunds_made: dict[str, StripeRefund] = field(default_factory=dict)  # by idempotency key
    refund_specs: list[RefundSpec] = field(default_factory=list)
    refund_fail: Exception | None = None

    def create_refund(self, spec: RefundSpec) -> StripeRefund:
        self.calls += 1
        if self.refund_fail is not None:
            raise self.refund_fail
        if spec.idempotency_key not in self.refunds_made:
            self.refund_specs.append(spec)
            self.refunds_made[spec.idempotency_key] = StripeRefund(
                id=f"re_{len(self.refunds_made) + 1}",
                amount_minor=spec.amount_minor or 0,
                status="succeeded",
                reason=spec.reason,
                failure_reason=None,
                crm_refund_id=spec.metadata["crm_refund_id"],
            )
        return self.refunds_made[spec.idempotency_key]

    def active_links(self, after: str | None, *, most: int) -> ActiveLinkStep:
        newest_first = [
            (self.bodies[key].metadata["crm_payment_id"], link)
            for key, link in reversed(self.links.items())
            if link.id not in self.deactivated
        ]
        return step_of(newest_first, after, most=most)

    def own_link(self, payment_id: str, *, session_id: str | None, intent_id: str | None) -> CreatedLink | None:
        ours = [link for key, link in self.links.items() if self.bodies[key].metadata["crm_payment_id"] == payment_id]
        return ours[-1].model_copy(update={"payment_id": payment_id}) if ours else None

    def links_for_payment(self, payment_id: str) -> list[CreatedLink]:
        return [
            link for key, link in self.links.items()
            if self.bodies[key].metadata["crm_payment_id"] == payment_id and link.id not in self.deactivated
        ]  # fmt: skip


def mapped(change: PaymentChange | RefundChange, names: type[BaseModel]) -> dict[str, Any]:
    """The change's written fields, each a logical name the mapping has; a name it lacks raises, as in
    the real codec (which looks every change field up in the mapping once), rather than being dropped."""
    written = change.written()
    unknown = sorted(set(written) - set(names.model_fields))
    if unknown:
        raise AttributeError(f"no field {', '.join(unknown)} in {names.__name__}")
    return written


def step_of(newest_first: list[tuple[str, CreatedLink]], after: str | None, *, most: int) -> ActiveLinkStep:
    """One step of the walk over active links, as Stripe pages them (a resume point unknown: the head)."""
    ids = [link.id for _, link in newest_first]
    start = ids.index(after) + 1 if after in ids else 0
    taken = newest_first[start : start + most]
    more = start + most < len(newest_first)
    return ActiveLinkStep(owned=tuple(taken), resume_after=taken[-1][1].id if more else None)


__all__ = ["FakeCrm", "FakeStripe", "PermanentError", "RetryableError"]
