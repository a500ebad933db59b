"""The narrow interfaces the worker owns; adapters for Salesforce and Stripe implement them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import SecretStr

from sync.core.actions import CreatePayment, LinkSpec
from sync.models import CreatedLink, CrmSnapshot, Payment


@dataclass(frozen=True)
class PaymentUpdate:
    """Absolute values to set on one Payment, by logical field name (see mapping.PaymentFields)."""

    payment_id: str
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class OutboundEmail:
    to: str
    subject: str
    body: str
    related_record_id: str


@dataclass(frozen=True)
class WriteResult:
    """The CRM's answer for one record of a batched write; `error` is None on success."""

    record_id: str | None
    error: str | None = None
    duplicate: bool = False


class CrmGateway(Protocol):
    def read_snapshot(self) -> CrmSnapshot: ...

    def read_requested_payments(self) -> tuple[Payment, ...]: ...

    def create_payments(self, actions: list[CreatePayment]) -> list[WriteResult]: ...

    def clear_request_flag(self, project_id: str, *, unmodified_since: datetime) -> None: ...

    def update_payments(self, updates: list[PaymentUpdate]) -> list[WriteResult]: ...

    def send_emails(self, emails: list[OutboundEmail]) -> list[WriteResult]: ...

    def update_setup(self, setup_id: str, *, status: str, error: str | None, verified_at: datetime | None) -> None: ...


class PaymentsGateway(Protocol):
    def verify_key(self) -> None: ...

    def create_payment_link(self, spec: LinkSpec) -> CreatedLink: ...

    def deactivate_link(self, link_id: str) -> None: ...

    def links_for_payment(self, payment_id: str) -> list[CreatedLink]: ...


# Builds a PaymentsGateway for a key, so a rotated key in the CRM takes effect without a restart.
PaymentsGatewayFactory = Callable[[SecretStr], PaymentsGateway]
