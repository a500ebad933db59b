"""Issue the refunds staff ask for in the CRM, once each, and write Stripe's answer on the Refund record.

A Refund record in status Requested is checked against what Stripe holds for its Payment's own link,
read with the charge's refunds (sync.domain.refunds): the charge, its currency and what is left on it.
A refused one gets status Error and the reason, with no Stripe request. A refund among the charge's
that carries the record's id is adopted rather than made again (a crash before the write-back), even
after Stripe's 24-hour idempotency window. Only then is one created, with a deterministic key.
What happens to the refund later (pending → succeeded, or failed days after) comes back through
the events, as for Dashboard refunds (sync.service.stripe_results).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from typing import TypeVar

from sync.domain import messages, money
from sync.domain.changes import RefundChange
from sync.domain.errors import PermanentError, RetryableError, StripeKeyRejected
from sync.domain.faults import RecordFault
from sync.domain.models import Payment, RefundSource, RefundStatus, StripePaymentState, StripeRefund
from sync.domain.refunds import IssueRefund, RefuseRefund, plan_refunds
from sync.domain.stripe_results import refund_failure_text, refund_status
from sync.ports import CrmGateway, PaymentsGateway, RefundUpdate
from sync.runtime.logs import log
from sync.runtime.retry import Retry
from sync.service.cycle_report import CycleReport, Outcome, write_payment_updates, write_records
from sync.service.record_faults import fault_updates
from sync.service.record_faults import planned as faults_planned

T = TypeVar("T")


class RefundSync:
    def __init__(self, *, crm: CrmGateway, retry: Retry, stop: threading.Event | None = None) -> None:
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
        """Apply every refund asked for on these Payments; return the Payments to read back from Stripe.

        Each Payment's own link is read from Stripe first (with its refunds): the charge refunded and
        the amount left on it come from there. Without a connected Stripe (`gateway` None) nothing
        is decided; the requests wait.

        Raises:
            StripeKeyRejected: the key stopped working; the rest waits for the next cycle.
        """
        updates: list[RefundUpdate] = []
        read_back: set[str] = set()
        faults: list[RecordFault] = []
        try:
            for payment in payments:
                asked = [r.id for r in payment.refunds if r.status is RefundStatus.REQUESTED and not r.stripe_refund_id]
                if not asked:
                    continue
                if gateway is None or self._stop.is_set():
                    for refund_id in asked:
                        report.set(refund_id, Outcome.WAITING)
                    continue
                read, state = self._state(payment, gateway)
                if not read:
                    for refund_id in asked:
                        report.set(refund_id, Outcome.PENDING)
                    continue
                # Read back whatever was found: tampered fields are put back, a foreign link reported.
                read_back.add(payment.id)
                plan = faults_planned(
                    payment.id,
                    functools.partial(plan_refunds, payment, state, default_currency=default_currency),
                    faults=faults,
                    sync_error=payment.sync_error,
                )
                for action in plan or []:
                    if isinstance(action, RefuseRefund):
                        updates.append(_refused(action.refund_id, action.message))
                        report.set(action.refund_id, Outcome.ERROR)
                        log.info(
                            "refund.refused", refund_id=action.refund_id, payment_id=payment.id, reason=action.message
                        )
                    else:
                        update = self._issue(action, gateway, report)
                        if update is not None:
                            updates.append(update)
        finally:
            self._write(updates, report)
            # A Payment whose refunds could not be planned says so; its requests stay Requested.
            write_payment_updates(self._crm, fault_updates(faults, now=None), retry=self._retry, report=report)
            for fault in faults:
                report.set(fault.record_id, Outcome.ERROR)
        return read_back

    def _state(self, payment: Payment, gateway: PaymentsGateway) -> tuple[bool, StripePaymentState | None]:
        """(read, state) of the Payment's own link; (True, None) when the record names no link."""
        link_id = payment.payment_link_id
        if not link_id:
            return True, None
        try:
            return True, self._retry(lambda: gateway.payment_state(link_id, with_refunds=True))
        except StripeKeyRejected:
            raise
        except (RetryableError, PermanentError) as exc:
            log.warning("refund.state_unreadable", payment_id=payment.id, payment_link_id=link_id, error=str(exc))
            return False, None

    def _issue(self, action: IssueRefund, gateway: PaymentsGateway, report: CycleReport) -> RefundUpdate | None:
        bound = log.bind(refund_id=action.refund_id, payment_id=action.payment_id)
        refund = action.made
        if refund is None:
            assert action.spec is not None
            spec = action.spec
            try:
                refund = self._retry(lambda: gateway.create_refund(spec))
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
            "refund.adopted" if action.made is not None else "refund.issued",
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


def _issued_fields(refund: StripeRefund, *, currency: str) -> RefundChange:
    status = refund_status(refund.status)
    return RefundChange(
        stripe_refund_id=refund.id,
        status=status,
        amount=money.from_minor_units(refund.amount_minor, currency),
        source=RefundSource.CRM,
        failure_reason=refund_failure_text(refund.failure_reason) if status is RefundStatus.FAILED else None,
    )


def _refused(refund_id: str, message: str) -> RefundUpdate:
    # A CRM refund, refused or not: its Source says so, as it does for one Stripe made.
    refused = RefundChange(status=RefundStatus.ERROR, source=RefundSource.CRM, failure_reason=message[:32768])
    return RefundUpdate(refund_id, refused)
