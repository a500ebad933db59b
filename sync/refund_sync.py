"""Issue the refunds staff ask for in the CRM, once each, and write Stripe's answer on the Refund record.

A Refund record in status Requested is checked (sync.core.refunds). A refused one gets status Error
and the reason, with no Stripe request. An accepted one is first looked for in Stripe by the record
id in its metadata, so a refund made before a crash is adopted rather than made again, even after
Stripe's 24-hour idempotency window. Only then is it created, with a deterministic idempotency key.
What happens to the refund later (pending → succeeded, or failed days after) comes back through
the events, as for Dashboard refunds (sync.outcome_sync).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sync import money
from sync.core import messages
from sync.core.outcomes import refund_failure_text, refund_status
from sync.core.refunds import IssueRefund, RefuseRefund, plan_refunds
from sync.cycle import CycleReport, Outcome, write_records
from sync.errors import PermanentError, RetryableError, StripeKeyRejected
from sync.logs import log
from sync.models import Payment, RefundSource, RefundStatus, StripeRefund
from sync.ports import CrmGateway, PaymentsGateway, RefundUpdate

T = TypeVar("T")


class RefundSync:
    def __init__(
        self, *, crm: CrmGateway, retry: Callable[[Callable[[], T]], T], stop: threading.Event | None = None
    ) -> None:
        self._crm = crm
        self._retry = retry
        self._stop = stop or threading.Event()

    def apply(
        self,
        payments: Iterable[Payment],
        *,
        gateway: PaymentsGateway | None,
        default_currency: str,
        report: CycleReport,
    ) -> set[str]:
        """Apply every refund asked for on these Payments; return the Payments whose refunds moved.

        Without a connected Stripe (`gateway` None) nothing is issued; refusals are still written.

        Raises:
            StripeKeyRejected: the key stopped working; the rest waits for the next cycle.
        """
        updates: list[RefundUpdate] = []
        moved: set[str] = set()
        try:
            for payment in payments:
                for action in plan_refunds(payment, default_currency=default_currency):
                    if isinstance(action, RefuseRefund):
                        updates.append(_refused(action.refund_id, action.message))
                        report.set(action.refund_id, Outcome.ERROR)
                        log.info(
                            "refund.refused", refund_id=action.refund_id, payment_id=payment.id, reason=action.message
                        )
                    elif gateway is None or self._stop.is_set():
                        report.set(action.refund_id, Outcome.WAITING)
                    else:
                        update = self._issue(action, gateway, report)
                        if update is not None:
                            updates.append(update)
                            moved.add(payment.id)
        finally:
            self._write(updates, report)
        return moved

    def _issue(self, action: IssueRefund, gateway: PaymentsGateway, report: CycleReport) -> RefundUpdate | None:
        bound = log.bind(refund_id=action.refund_id, payment_id=action.payment_id)
        try:
            refund = self._retry(lambda: gateway.find_refund(action.spec))
            adopted = refund is not None
            if refund is None:
                refund = self._retry(lambda: gateway.create_refund(action.spec))
        except StripeKeyRejected:
            raise
        except RetryableError as exc:
            report.set(action.refund_id, Outcome.PENDING)
            bound.warning("refund.deferred", error=str(exc))
            return None
        except PermanentError as exc:
            report.set(action.refund_id, Outcome.ERROR)
            bound.warning("refund.rejected_by_stripe", error=str(exc))
            return _refused(action.refund_id, messages.STRIPE_REFUSED_REFUND.format(detail=str(exc)))
        report.set(action.refund_id, Outcome.UPDATED)
        bound.info(
            "refund.adopted" if adopted else "refund.issued",
            stripe_refund_id=refund.id,
            amount_minor=refund.amount_minor,
            status=refund.status,
        )
        return RefundUpdate(action.refund_id, _issued_fields(refund, currency=action.currency))

    def _write(self, updates: list[RefundUpdate], report: CycleReport) -> None:
        # A refund made in Stripe but not written here is adopted next cycle (found by its record id).
        write_records(
            self._crm.update_refunds, updates, record_id=lambda u: u.refund_id, retry=self._retry, report=report
        )


def _issued_fields(refund: StripeRefund, *, currency: str) -> dict[str, Any]:
    status = refund_status(refund.status)
    return {
        "stripe_refund_id": refund.id,
        "status": status,
        "amount": money.from_minor_units(refund.amount_minor, currency),
        "source": RefundSource.CRM,
        "failure_reason": refund_failure_text(refund.failure_reason) if status is RefundStatus.FAILED else None,
    }


def _refused(refund_id: str, message: str) -> RefundUpdate:
    return RefundUpdate(refund_id, {"status": RefundStatus.ERROR, "failure_reason": message[:32768]})
