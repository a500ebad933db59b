"""In-memory stand-ins for the worker's ports: fakes with behaviour, not mocks of calls."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync.core.actions import CreatePayment, LinkSpec
from sync.errors import IdempotencyConflict, PermanentError, RetryableError
from sync.models import CreatedLink, CrmSnapshot, Payment, PaymentStatus, StripeSetup
from sync.ports import OutboundEmail, PaymentUpdate, WriteResult


@dataclass
class FakeCrm:
    setups: tuple[StripeSetup, ...] = ()
    payments: dict[str, Payment] = field(default_factory=dict)
    sent: list[OutboundEmail] = field(default_factory=list)
    setup_writes: list[dict[str, Any]] = field(default_factory=list)
    fail_email_to: set[str] = field(default_factory=set)
    fail_writes_for: set[str] = field(default_factory=set)
    created: list[CreatePayment] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)

    def read_snapshot(self) -> CrmSnapshot:
        return CrmSnapshot(setups=self.setups, project_requests=(), requested_payments=self.read_requested_payments())

    def read_requested_payments(self) -> tuple[Payment, ...]:
        return tuple(p for p in self.payments.values() if p.status is PaymentStatus.REQUESTED)

    def create_payments(self, actions: list[CreatePayment]) -> list[WriteResult]:
        self.created.extend(actions)
        return [WriteResult(record_id=f"new{i}") for i, _ in enumerate(actions)]

    def clear_request_flag(self, project_id: str, *, unmodified_since: datetime) -> None:
        self.cleared.append(project_id)

    def update_payments(self, updates: list[PaymentUpdate]) -> list[WriteResult]:
        results = []
        for update in updates:
            if update.payment_id in self.fail_writes_for:
                results.append(WriteResult(record_id=update.payment_id, error="ENTITY_IS_DELETED: gone"))
                continue
            values = {
                k: (int(v) if k == "link_revision" else v)
                for k, v in update.fields.items()
                if k in Payment.model_fields
            }
            self.payments[update.payment_id] = self.payments[update.payment_id].model_copy(update=values)
            results.append(WriteResult(record_id=update.payment_id))
        return results

    def send_emails(self, emails: list[OutboundEmail]) -> list[WriteResult]:
        results = []
        for email in emails:
            if email.to in self.fail_email_to:
                results.append(WriteResult(record_id=email.related_record_id, error="INVALID_EMAIL_ADDRESS: bounced"))
            else:
                self.sent.append(email)
                results.append(WriteResult(record_id=email.related_record_id))
        return results

    def update_setup(self, setup_id: str, *, status: str, error: str | None, verified_at: datetime | None) -> None:
        self.setup_writes.append({"id": setup_id, "status": status, "error": error, "verified_at": verified_at})


@dataclass
class FakeStripe:
    """Payment links keyed by idempotency key, as Stripe's idempotency would keep them."""

    links: dict[str, CreatedLink] = field(default_factory=dict)
    bodies: dict[str, LinkSpec] = field(default_factory=dict)
    deactivated: list[str] = field(default_factory=list)
    fail_for: dict[str, Exception] = field(default_factory=dict)  # payment id -> error to raise
    calls: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def verify_key(self) -> None:
        self.calls += 1

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
        link = CreatedLink(id=f"plink_{n}", url=f"https://pay.example/{n}", active=True)
        self.links[spec.idempotency_key], self.bodies[spec.idempotency_key] = link, spec
        return link

    def deactivate_link(self, link_id: str) -> None:
        self.deactivated.append(link_id)

    def links_for_payment(self, payment_id: str) -> list[CreatedLink]:
        return [
            link for key, link in self.links.items()
            if self.bodies[key].metadata["crm_payment_id"] == payment_id and link.id not in self.deactivated
        ]  # fmt: skip


__all__ = ["FakeCrm", "FakeStripe", "PermanentError", "RetryableError"]
