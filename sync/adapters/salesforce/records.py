"""Translate Salesforce records (JSON dicts) to the worker's models and back, by the mapping."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping as AnyMapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from sync.adapters.salesforce.queries import relationship_of
from sync.config.mapping import Mapping
from sync.domain import messages
from sync.domain.changes import PaymentChange, RefundChange
from sync.domain.models import (
    ExistingPayment,
    Payment,
    PaymentStatus,
    PaymentType,
    ProjectRequest,
    RefundRecord,
    RefundSource,
    RefundStatus,
    StripeMode,
    StripeSetup,
)
from sync.runtime.logs import mask_secrets

VALUE_SHOWN = 40  # characters of a bad value quoted back to staff


class UnreadableField(ValueError):
    """A mapped field holds a value of the wrong kind (raised by the record codec)."""

    def __init__(self, *, field: str, value: object, kind: str) -> None:
        super().__init__(f"{field} is not a {kind}")
        self.field = field
        self.value = value
        self.kind = kind


def unreadable_problem(exc: Exception) -> str:
    """The staff sentence for a record that could not be decoded (no Python value, no secret)."""
    if isinstance(exc, UnreadableField):
        shown = " ".join(str(exc.value).split())
        if len(shown) > VALUE_SHOWN:
            shown = shown[: VALUE_SHOWN - 1] + "…"
        return messages.FIELD_UNREADABLE.format(field=exc.field, value=mask_secrets(shown), kind=exc.kind)
    return messages.RECORD_UNREADABLE.format(error_type=type(exc).__name__)


# Set by the adapter on each record it reads: the org's time (its Date header) when it served it.
SERVED_AT = "__served_at"


def get_path(record: AnyMapping[str, Any] | None, path: str) -> Any:
    """Read `A__r.B__r.Email` from nested relationship objects, matching names case-insensitively."""
    current: Any = record
    for part in path.split("."):
        if not isinstance(current, AnyMapping):
            return None
        lowered = part.lower()
        current = next((v for k, v in current.items() if k.lower() == lowered), None)
    return current


def parse_datetime(value: Any) -> datetime | None:
    """Salesforce datetimes look like `2026-11-26T15:03:09.000+0000`; always UTC-aware."""
    if value in (None, ""):
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    # Records are decoded with parse_float=Decimal; str() keeps an int or a stray float exact enough.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _decimal(rec: AnyMapping[str, Any] | None, path: str) -> Decimal | None:
    """The number in a mapped field; UnreadableField names the field when it holds something else."""
    value = get_path(rec, path)
    try:
        parsed = parse_decimal(value)
    except (ArithmeticError, ValueError, TypeError):
        raise UnreadableField(field=path, value=value, kind="number") from None
    if parsed is not None and not parsed.is_finite():
        raise UnreadableField(field=path, value=value, kind="number")
    return parsed


def _datetime(rec: AnyMapping[str, Any] | None, path: str) -> datetime | None:
    """The date/time in a mapped field; UnreadableField names the field when it holds something else."""
    value = get_path(rec, path)
    try:
        return parse_datetime(value)
    except (ValueError, TypeError):
        raise UnreadableField(field=path, value=value, kind="date and time") from None


def _count(rec: AnyMapping[str, Any] | None, path: str) -> int:
    return int(_decimal(rec, path) or 0)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


class RecordCodec:
    """Reads and writes the mapped fields of records."""

    def __init__(self, mapping: Mapping) -> None:
        self.m = mapping
        pay = mapping.payment
        self._status_by_word = {getattr(pay.status, s.value): s for s in PaymentStatus if s.value != "unknown"}
        self._type_by_word = {getattr(pay.type, t.value).lower(): t for t in PaymentType}
        self._mode_by_word = {getattr(mapping.setup.mode, mo.value).lower(): mo for mo in StripeMode}
        refund = mapping.refund
        self._refund_status_by_word = {
            getattr(refund.status, s.value): s for s in RefundStatus if s is not RefundStatus.UNKNOWN
        }
        self._source_by_word = {getattr(refund.source, s.value): s for s in RefundSource}
        # Every field a change can write has its API name in the mapping (an AttributeError here
        # otherwise, at start-up): the names are looked up once.
        self._payment_names = {f.name: getattr(pay.fields, f.name) for f in dataclasses.fields(PaymentChange)}
        self._refund_names = {f.name: getattr(refund.fields, f.name) for f in dataclasses.fields(RefundChange)}

    # --- words <-> enums -------------------------------------------------------------------------
    def status_word(self, status: PaymentStatus) -> str:
        return getattr(self.m.payment.status, status.value)

    def refund_status_word(self, status: RefundStatus) -> str:
        return getattr(self.m.refund.status, status.value)

    def type_word(self, payment_type: PaymentType) -> str:
        return getattr(self.m.payment.type, payment_type.value)

    def _type(self, raw: Any) -> PaymentType | None:
        return self._type_by_word.get(str(raw).strip().lower()) if raw else None

    # --- reading ---------------------------------------------------------------------------------
    @staticmethod
    def last_modified(rec: AnyMapping[str, Any]) -> datetime:
        modified = parse_datetime(rec["LastModifiedDate"])
        assert modified is not None  # a system field: always set
        return modified

    def setup(self, rec: AnyMapping[str, Any]) -> StripeSetup:
        f = self.m.setup.fields
        mode_raw = _text(get_path(rec, f.mode))
        key = _text(get_path(rec, f.secret_key))
        return StripeSetup(
            id=rec["Id"],
            mode=self._mode_by_word.get(mode_raw.lower()) if mode_raw else None,
            mode_raw=mode_raw,
            secret_key=SecretStr(key) if key else None,
            default_currency=_text(get_path(rec, f.default_currency)),
            statement_descriptor_suffix=_text(get_path(rec, f.statement_descriptor_suffix)),
            after_payment_message=_text(get_path(rec, f.after_payment_message)),
            connection_status=_text(get_path(rec, f.connection_status)),
            last_error=_text(get_path(rec, f.last_error)),
            last_modified=parse_datetime(rec["LastModifiedDate"]),
            events_cursor=_text(get_path(rec, f.events_cursor)),
            stripe_account_id=_text(get_path(rec, f.stripe_account_id)),
            confirm_account_change=get_path(rec, f.confirm_account_change) is True,
        )

    def project_request(self, rec: AnyMapping[str, Any]) -> ProjectRequest:
        f = self.m.project.fields
        p = self.m.payment.fields
        children = get_path(rec, self.m.payment.child_relationship) or {}
        type_raw = _text(get_path(rec, f.request_type))
        return ProjectRequest(
            project_id=rec["Id"],
            project_name=_text(get_path(rec, f.name)) or rec["Id"],
            customer_email=_text(get_path(rec, f.customer_email)),
            contract_amount=_decimal(rec, f.contract_amount),
            currency=_text(get_path(rec, f.currency)),
            requested_amount=_decimal(rec, f.requested_amount),
            request_type=self._type(type_raw),
            request_type_raw=type_raw,
            description=_text(get_path(rec, f.request_description)),
            requested_at=_datetime(rec, f.requested_at),
            last_modified=parse_datetime(rec["LastModifiedDate"]),
            payments=tuple(
                ExistingPayment(
                    amount=_decimal(child, p.amount),
                    amount_paid=_decimal(child, p.amount_paid),
                    request_key=_text(get_path(child, p.request_key)),
                    status=self._status_by_word.get(str(get_path(child, p.status)), PaymentStatus.UNKNOWN),
                )
                for child in children.get("records", [])
            ),
            request_payment=get_path(rec, f.request_payment) is True,
            stage=_text(get_path(rec, f.stage)) if f.stage else None,
            signing_deposit_requested=bool(f.signing_deposit_requested)
            and get_path(rec, f.signing_deposit_requested) is True,
        )

    def unreadable_project(self, rec: AnyMapping[str, Any], problem: str) -> ProjectRequest:
        """A flagged Project some field of which cannot be read: intake records it as an Error Payment
        saying which (its request key from what can still be read)."""
        f = self.m.project.fields
        try:
            requested_at = _datetime(rec, f.requested_at)
        except UnreadableField:
            requested_at = None
        return ProjectRequest(
            project_id=rec["Id"],
            project_name=_text(get_path(rec, f.name)) or rec["Id"],
            customer_email=None,
            contract_amount=None,
            currency=None,
            requested_amount=None,
            request_type=None,
            request_type_raw=None,
            description=None,
            requested_at=requested_at,
            last_modified=parse_datetime(rec["LastModifiedDate"]),
            request_payment=get_path(rec, f.request_payment) is True,
            stage=_text(get_path(rec, f.stage)) if f.stage else None,
            signing_deposit_requested=bool(f.signing_deposit_requested)
            and get_path(rec, f.signing_deposit_requested) is True,
            unreadable=problem,
        )

    def sync_error_of(self, rec: AnyMapping[str, Any]) -> str | None:
        """A Payment's Sync Error as stored, read alone (for a record the rest of which cannot be read)."""
        return _text(get_path(rec, self.m.payment.fields.sync_error))

    def payment(self, rec: AnyMapping[str, Any]) -> Payment:
        p = self.m.payment.fields
        pf = self.m.project.fields
        project = get_path(rec, relationship_of(p.project))
        revision = _decimal(rec, p.link_revision)
        return Payment(
            id=rec["Id"],
            project_id=_text(get_path(rec, p.project)) if project is not None else None,
            project_name=_text(get_path(project, pf.name)),
            project_customer_email=_text(get_path(project, pf.customer_email)),
            project_currency=_text(get_path(project, pf.currency)),
            type=self._type(get_path(rec, p.type)),
            amount=_decimal(rec, p.amount),
            currency=_text(get_path(rec, p.currency)),
            description=_text(get_path(rec, p.description)),
            status=self._status_by_word.get(str(get_path(rec, p.status)), PaymentStatus.UNKNOWN),
            customer_email=_text(get_path(rec, p.customer_email)),
            link_url=_text(get_path(rec, p.link_url)),
            payment_link_id=_text(get_path(rec, p.payment_link_id)),
            link_revision=int(revision or 0),
            sync_error=_text(get_path(rec, p.sync_error)),
            last_modified=parse_datetime(rec["LastModifiedDate"]),
            read_at=rec.get(SERVED_AT),
            checkout_session_id=_text(get_path(rec, p.checkout_session_id)),
            payment_intent_id=_text(get_path(rec, p.payment_intent_id)),
            charge_id=_text(get_path(rec, p.charge_id)),
            amount_paid=_decimal(rec, p.amount_paid),
            paid_at=_datetime(rec, p.paid_at),
            receipt_url=_text(get_path(rec, p.receipt_url)),
            amount_refunded=_decimal(rec, p.amount_refunded),
            last_failure_code=_text(get_path(rec, p.last_failure_code)),
            last_failure=_text(get_path(rec, p.last_failure)),
            dispute_id=_text(get_path(rec, p.dispute_id)),
            dispute_status=_text(get_path(rec, p.dispute_status)),
            dispute_reason=_text(get_path(rec, p.dispute_reason)),
            amount_disputed=_decimal(rec, p.amount_disputed),
            refunds=tuple(
                self.refund(r) for r in (get_path(rec, self.m.refund.child_relationship) or {}).get("records", [])
            ),
            resend=get_path(rec, p.resend) is True,
            cancel_requested=get_path(rec, p.cancel_requested) is True,
            no_reminders=get_path(rec, p.no_reminders) is True,
            times_sent=_count(rec, p.times_sent),
            reminders_sent=_count(rec, p.reminders_sent),
            last_sent_at=_datetime(rec, p.last_sent_at),
            next_reminder_at=_datetime(rec, p.next_reminder_at),
            link_terms=_text(get_path(rec, p.link_terms)),
            link_deactivated_at=_datetime(rec, p.link_deactivated_at),
            sync_log=_text(get_path(rec, p.sync_log)),
        )

    def refund(self, rec: AnyMapping[str, Any]) -> RefundRecord:
        try:
            return self._refund(rec)
        except UnreadableField as exc:
            # Said on the Payment, so the sentence names the Refund record the value is on.
            field = f"{exc.field} of Refund {rec.get('Id')}"
            raise UnreadableField(field=field, value=exc.value, kind=exc.kind) from None

    def _refund(self, rec: AnyMapping[str, Any]) -> RefundRecord:
        r = self.m.refund.fields
        return RefundRecord(
            id=rec["Id"],
            amount=_decimal(rec, r.amount),
            reason=_text(get_path(rec, r.reason)),
            status=self._refund_status_by_word.get(str(get_path(rec, r.status)), RefundStatus.UNKNOWN),
            source=self._source_by_word.get(str(get_path(rec, r.source))),
            stripe_refund_id=_text(get_path(rec, r.stripe_refund_id)),
            failure_reason=_text(get_path(rec, r.failure_reason)),
        )

    # --- writing ---------------------------------------------------------------------------------
    def payment_values(self, change: PaymentChange) -> dict[str, Any]:
        """A Payment change -> API names and wire values."""
        return {self._payment_names[k]: self.wire_value(v) for k, v in change.written().items()}

    def refund_values(self, change: RefundChange) -> dict[str, Any]:
        """A Refund change -> API names and wire values."""
        return {self._refund_names[k]: self.wire_value(v) for k, v in change.written().items()}

    def wire_value(self, value: Any) -> Any:
        if isinstance(value, PaymentStatus):
            return self.status_word(value)
        if isinstance(value, RefundStatus):
            return self.refund_status_word(value)
        if isinstance(value, RefundSource):
            return getattr(self.m.refund.source, value.value)
        if isinstance(value, PaymentType):
            return self.type_word(value)
        if isinstance(value, datetime):
            return format_datetime(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)  # the counts are Number (double) fields
        if isinstance(value, Decimal):
            as_float = float(value)
            # JSON carries numbers; refuse any amount a float would not carry exactly.
            if Decimal(repr(as_float)) != value:
                raise ValueError(f"{value} cannot be sent to Salesforce exactly")
            return as_float
        return value
