"""Apply what staff asked for on Payments that have a link: cancel, replace an edited link, resend, remind.

The decisions are pure (sync.domain.staff_actions); this module does the I/O in a safe order:
- a link is deactivated in Stripe before anything else, then its state is read, so a customer who
  paid in the meantime is recorded as paid (by the outcome path) rather than hidden;
- an edited request goes back to Requested with the next link revision, and the request path makes,
  writes back and emails the new link, as for any request: never two live links for one Payment;
- an email goes out before the record says so (a crash in between sends the same link twice, never
  loses the send), and a reminder is sent only after Stripe confirms the link is still unpaid.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypeVar

from sync.config.email_templates import EmailTemplates, NoticeTemplates
from sync.domain import messages, money, ownership
from sync.domain.changes import PaymentChange
from sync.domain.errors import PermanentError, RetryableError, StripeKeyRejected
from sync.domain.faults import RecordFault
from sync.domain.models import CreatedLink, Payment
from sync.domain.requests import email_context_for, org_email_problem
from sync.domain.staff_actions import (
    PutAmountBack,
    ReminderPolicy,
    RetireLink,
    SendAgain,
    StaffAction,
    WriteOnly,
    after_retire,
    amount_put_back,
    plan_staff_action,
)
from sync.ports import ChatterPost, CrmGateway, OutboundEmail, PaymentsGateway, PaymentUpdate, WriteResult, WriteStatus
from sync.runtime.logs import log
from sync.runtime.retry import Retry
from sync.service.cycle_report import CycleReport, Outcome, write_payment_updates
from sync.service.record_faults import fault_updates
from sync.service.record_faults import planned as faults_planned

T = TypeVar("T")


@dataclass
class StaffResult:
    refresh: set[str] = field(default_factory=set)  # read back from Stripe now: the link may be paid
    replaced: set[str] = field(default_factory=set)  # back to Requested: the new link is made now


class StaffSync:
    def __init__(
        self,
        *,
        crm: CrmGateway,
        templates: EmailTemplates,
        reminders: ReminderPolicy,
        now: Callable[[], datetime],
        retry: Retry,
        stop: threading.Event | None = None,
        notices: NoticeTemplates | None = None,
    ) -> None:
        self._crm = crm
        self._templates = templates
        self._notices = notices
        self._reminders = reminders
        self._now = now
        self._retry = retry
        self._stop = stop or threading.Event()

    @property
    def reminders(self) -> ReminderPolicy:
        return self._reminders

    def apply(
        self,
        payments: list[Payment],
        *,
        gateway: PaymentsGateway | None,
        default_currency: str,
        report: CycleReport,
        reminders_paused: bool = False,
    ) -> StaffResult:
        """Apply the one action each Payment needs; say which Payments need more work this cycle.

        Actions that need Stripe wait while it is not connected (`gateway` None). With
        `reminders_paused` (the org's API usage is past its share), due reminders stay due.

        Raises:
            StripeKeyRejected: the key stopped working; the rest waits for the next cycle.
        """
        now = self._now()
        planned: list[StaffAction] = []
        faults: list[RecordFault] = []
        for payment in payments:

            def plan(payment: Payment = payment) -> StaffAction | None:
                email = email_context_for(payment, default_currency=default_currency)
                return plan_staff_action(
                    payment, now=now, email=email, reminders=self._reminders, default_currency=default_currency
                )

            action = faults_planned(payment.id, plan, faults=faults, sync_error=payment.sync_error)
            if isinstance(action, SendAgain) and action.kind == "reminder" and reminders_paused:
                continue
            if action is not None:
                planned.append(action)
        by_id = {p.id: p for p in payments}
        writes: list[PaymentUpdate] = fault_updates(faults, now=now)
        for fault in faults:
            report.set(fault.record_id, Outcome.ERROR)
        result = StaffResult()
        sends: list[SendAgain] = []
        foreign: list[tuple[Payment, str]] = []
        try:
            for action in planned:
                if isinstance(action, WriteOnly):
                    writes.append(PaymentUpdate(action.payment_id, action.change | PaymentChange(last_synced_at=now)))
                    log.info(action.event, payment_id=action.payment_id, reason=action.reason)
                    report.set(action.payment_id, Outcome.ERROR if action.reason else Outcome.UPDATED)
                    continue
                if gateway is None or self._stop.is_set():
                    report.set(action.payment_id, Outcome.WAITING)
                    continue
                # The link the record names is used only once Stripe shows it is this Payment's.
                payment = by_id[action.payment_id]
                link = self.checked_link(payment.id, action.link_id, gateway, report)
                if not isinstance(link, CreatedLink):
                    if link is not None:
                        foreign.append((payment, link))
                    continue
                if isinstance(action, PutAmountBack):
                    put_back = self._amount_put_back(payment, link, gateway, now, report, default_currency)
                    if put_back is not None:
                        writes.append(put_back)
                    continue
                if isinstance(action, RetireLink):
                    update, retired = self._retire(payment, action, gateway, now, report)
                    if update is not None:
                        writes.append(update)
                    if retired == "replaced":
                        result.replaced.add(action.payment_id)
                    elif retired == "deactivated":
                        result.refresh.add(action.payment_id)
                    continue
                # Email the link's own URL, never one typed on the record, and put that one back.
                logged = action.on_sent.sync_log or None
                restore = ownership.link_restore(payment.link_url, payment.link_terms, link, sync_log=logged, now=now)
                if restore:
                    restored = sorted(restore.written().keys() - {"sync_log"})
                    log.warning("payment.fields_restored", payment_id=payment.id, fields=restored)
                action = dataclasses.replace(action, link_url=link.url, on_sent=action.on_sent | restore)
                if action.kind == "reminder":
                    paid = self._paid_meanwhile(action, gateway, report)
                    if paid is False:
                        sends.append(action)
                    elif paid:
                        result.refresh.add(action.payment_id)  # record the payment instead
                else:
                    sends.append(action)
        finally:
            self._write(writes, report)
            self.report_foreign(foreign, report)
        self._send(sends, report)
        return result

    def _amount_put_back(
        self,
        payment: Payment,
        link: CreatedLink,
        gateway: PaymentsGateway,
        now: datetime,
        report: CycleReport,
        default_currency: str,
    ) -> PaymentUpdate | None:
        """The Amount put back to what the link's charge took in Stripe (never a typed Amount Paid)."""
        try:
            state = self._retry(lambda: gateway.payment_state(link.id, with_refunds=False))
        except (RetryableError, PermanentError) as exc:
            report.set(payment.id, Outcome.PENDING)
            log.warning("payment.amount_check_deferred", payment_id=payment.id, error=str(exc))
            return None
        charged = (
            money.from_minor_units(state.amount_paid_minor, state.currency)
            if state.paid and state.amount_paid_minor is not None and state.currency
            else None
        )
        change = amount_put_back(payment, charged, now=now, default_currency=default_currency)
        if change is None:
            return None
        log.info("payment.amount_edit_refused", payment_id=payment.id, reason="already paid")
        report.set(payment.id, Outcome.ERROR)
        return PaymentUpdate(payment.id, change | PaymentChange(last_synced_at=now))

    def checked_link(
        self, payment_id: str, link_id: str, gateway: PaymentsGateway, report: CycleReport
    ) -> CreatedLink | str | None:
        """The link as Stripe holds it when its metadata names this Payment; otherwise the sentence
        saying it does not (a link Stripe will not show, an id mistyped, is not this Payment's
        either), or None when Stripe could not be asked now.

        Raises:
            StripeKeyRejected: the key stopped working.
        """
        try:
            link: CreatedLink = self._retry(lambda: gateway.link(link_id))
        except StripeKeyRejected:
            raise
        except (RetryableError, PermanentError) as exc:
            log.warning("payment_link.unreadable", payment_id=payment_id, payment_link_id=link_id, error=str(exc))
            if isinstance(exc, RetryableError):
                report.set(payment_id, Outcome.PENDING)
                return None
            report.set(payment_id, Outcome.ERROR)
            return messages.FOREIGN_OBJECT.format(what="payment link", object_id=link_id)
        problem = ownership.link_problem(payment_id, link)
        if problem is None:
            return link
        report.set(payment_id, Outcome.ERROR)
        log.warning("payment.foreign_link", payment_id=payment_id, payment_link_id=link_id)
        return problem

    def report_foreign(self, found: list[tuple[Payment, str]], report: CycleReport, *, retried: bool = False) -> None:
        """Say on each record, and to staff on its Project, that its link is another Payment's (once).

        A record refused for a passing reason (changed in the second it was read) is read again a
        second later and written once more.
        """
        now = self._now()
        items = []
        for payment, problem in found:
            write = ownership.foreign_write(payment, problem, now=now)
            if write is None:
                continue
            posts = tuple(
                ChatterPost(project_id=n.project_id, body=self._notices.render(n.kind, n.values))
                for n in write.notices
                if self._notices is not None and self._notices.for_kind(n.kind)
            )
            items.append((write, posts))
        if not items:
            return
        try:
            results: list[WriteResult] = self._retry(lambda: self._crm.apply_outcomes(items))
        except (RetryableError, PermanentError) as exc:
            log.warning("payment.foreign_report_failed", payments=len(items), error=str(exc))
            for write, _ in items:
                report.set(write.payment_id, Outcome.PENDING)
            return
        again = []
        for (write, _), written in zip(items, results, strict=True):
            if written.error is None:
                continue
            if written.status is WriteStatus.DEFERRED and not retried:
                again.append(write.payment_id)  # changed in the second it was read (a staff edit just now)
                continue
            report.set(write.payment_id, Outcome.PENDING)
            log.warning("payment.foreign_report_failed", payment_id=write.payment_id, error=written.error)
        if again and not self._stop.wait(1.0):
            problems = {p.id: problem for p, problem in found}
            fresh = self._retry(lambda: self._crm.read_payments(sorted(again)))
            self.report_foreign([(p, problems[p.id]) for p in fresh], report, retried=True)

    def _retire(
        self, payment: Payment, action: RetireLink, gateway: PaymentsGateway, now: datetime, report: CycleReport
    ) -> tuple[PaymentUpdate | None, Literal["replaced", "deactivated"] | None]:
        """Deactivate the link, then read it: the write that finishes the request, and what became of
        the link (None: not deactivated this cycle)."""
        bound = log.bind(payment_id=payment.id, payment_link_id=action.link_id)
        try:
            self._retry(lambda: gateway.deactivate_link(action.link_id))
            state = self._retry(lambda: gateway.payment_state(action.link_id, with_refunds=False))
        except StripeKeyRejected:
            raise
        except RetryableError as exc:
            report.set(payment.id, Outcome.PENDING)
            bound.warning("payment_link.deactivation_deferred", purpose=action.purpose, error=str(exc))
            return None, None
        except PermanentError as exc:
            # Tried again every cycle while the request stands; the record says why it did not happen.
            report.set(payment.id, Outcome.ERROR)
            bound.warning("payment_link.deactivation_refused", purpose=action.purpose, error=str(exc))
            message = messages.STRIPE_REFUSED_DEACTIVATION.format(detail=str(exc))
            said = payment.sync_error == message
            return (None if said else PaymentUpdate(payment.id, PaymentChange(sync_error=message))), None
        change, paid = after_retire(payment, state, purpose=action.purpose, now=now, change=action.change)
        event = {"cancel": "cancel", "replace": "replacement", "paid_by_hand": "deactivation"}[action.purpose]
        if paid:
            bound.warning("payment.paid_before_" + event)
        elif action.purpose == "cancel":
            bound.info("payment.canceled")
        elif action.purpose == "paid_by_hand":
            bound.info("payment_link.deactivated_paid_by_hand")
        else:
            bound.info("payment_link.replaced", change=action.change, new_revision=payment.link_revision + 1)
        report.set(payment.id, Outcome.UPDATED)
        update = PaymentUpdate(payment.id, change | PaymentChange(last_synced_at=now))
        # Replaced: back to Requested for the next revision; else deactivated (a cancel, or paid first).
        return update, "replaced" if action.purpose == "replace" and not paid else "deactivated"

    def _paid_meanwhile(self, action: SendAgain, gateway: PaymentsGateway, report: CycleReport) -> bool | None:
        """Whether Stripe shows the link paid, so a reminder would chase a paying customer; None: unknown."""
        try:
            state = self._retry(lambda: gateway.payment_state(action.link_id, with_refunds=False))
        except StripeKeyRejected:
            raise
        except (RetryableError, PermanentError) as exc:
            report.set(action.payment_id, Outcome.PENDING)
            log.warning("payment.reminder_deferred", payment_id=action.payment_id, error=str(exc))
            return None
        if state.paid:
            log.info("payment.reminder_skipped_paid", payment_id=action.payment_id)
        return state.paid

    def _send(self, sends: list[SendAgain], report: CycleReport) -> None:
        if not sends:
            return
        emails = []
        for action in sends:
            template = self._templates.payment_link if action.kind == "resend" else self._templates.reminder_template
            subject, body = template.render(action.email, link_url=action.link_url)
            emails.append(
                OutboundEmail(to=action.email.to, subject=subject, body=body, related_record_id=action.payment_id)
            )
        try:
            results: list[WriteResult] = self._retry(lambda: self._crm.send_emails(emails))
        except (RetryableError, PermanentError) as exc:
            log.warning("email.deferred", payments=len(emails), error=str(exc))
            for action in sends:
                report.set(action.payment_id, Outcome.PENDING)
            return
        now = self._now()
        updates = []
        for action, result in zip(sends, results, strict=True):
            bound = log.bind(payment_id=action.payment_id, to_domain=action.email.to.rsplit("@", 1)[-1])
            if result.error is None:
                updates.append(PaymentUpdate(action.payment_id, action.on_sent | PaymentChange(last_synced_at=now)))
                report.set(action.payment_id, Outcome.UPDATED)
                bound.info("payment_link.resent" if action.kind == "resend" else "payment.reminder_sent")
                continue
            if result.deferred:  # the answer was lost and the org's log does not show it: asked again next cycle
                report.set(action.payment_id, Outcome.PENDING)
                bound.warning("email.deferred", kind=action.kind, error=result.error)
                continue
            if (problem := org_email_problem(result.error)) is not None:  # the org's, not the address's
                updates.append(PaymentUpdate(action.payment_id, PaymentChange(sync_error=problem, last_synced_at=now)))
                report.set(action.payment_id, Outcome.WAITING)
                bound.warning("email.refused_by_org", kind=action.kind, error=result.error)
                continue
            # Refused for this address: say so, and stop what would fail again the same way.
            message = messages.EMAIL_REJECTED.format(email=action.email.to, detail=result.error)
            stop = PaymentChange(resend=False) if action.kind == "resend" else PaymentChange(next_reminder_at=None)
            stop |= PaymentChange(sync_error=message, last_synced_at=now)
            updates.append(PaymentUpdate(action.payment_id, stop))
            report.set(action.payment_id, Outcome.ERROR)
            bound.warning("email.rejected", kind=action.kind, error=result.error)
        self._write(updates, report)

    def _write(self, updates: list[PaymentUpdate], report: CycleReport) -> None:
        write_payment_updates(self._crm, updates, retry=self._retry, report=report)
