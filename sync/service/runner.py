"""One cycle of the worker: gather what the CRM says, decide, apply, and log each outcome once."""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

import structlog

from sync.config.email_templates import EmailTemplates
from sync.config.mapping import ProjectFields, field_specs
from sync.domain import messages, money, ownership
from sync.domain.actions import (
    Action,
    CreatePayment,
    CreatePaymentLink,
    EmailExistingLink,
    ReportError,
    ReportFault,
    WaitForStripe,
)
from sync.domain.changes import PaymentChange
from sync.domain.errors import AmountTooSmall, IdempotencyConflict, PermanentError, RetryableError, StripeKeyRejected
from sync.domain.models import CreatedLink, CrmSnapshot, PaymentStatus
from sync.domain.requests import (
    ExistingLinkVerdict,
    Policy,
    decide_intake,
    decide_payments,
    existing_link_change,
    fallback_intake,
    judge_existing_link,
    org_email_problem,
    recipient_mark,
    sent_fields,
)
from sync.ports import CrmGateway, OutboundEmail, PaymentsGateway, PaymentUpdate, WriteResult, WriteStatus
from sync.runtime.api_budget import ApiBudget
from sync.runtime.fanout import Skipped, fan_out
from sync.runtime.logs import log
from sync.runtime.retry import Retry
from sync.service.cycle_report import CycleReport, Outcome, write_payment_updates
from sync.service.record_faults import fault_updates
from sync.service.refunds import RefundSync
from sync.service.staff_actions import StaffSync
from sync.service.stripe_connection import StripeConnection, StripeReadiness
from sync.service.stripe_results import OutcomeReport, OutcomeSync


@dataclass(frozen=True)
class RunnerConfig:
    deposit_percent: Decimal
    batch_size: int
    signing_stage: str | None = None
    stripe_workers: int = 1  # Stripe calls in flight at once for independent records
    # How long a link written back without its email being logged may still be on its way from the
    # worker that wrote it (email_hold_for): not emailed by another until then.
    email_hold: timedelta = timedelta(0)


# What the fan-out gives back for each link asked for: the link, the error Stripe answered, or
# Skipped (not started: the worker is stopping).
LinkResult = CreatedLink | BaseException | Skipped[CreatePaymentLink]

# New links go out in chunks the size of one collection write: each chunk is made, written back,
# emailed and marked sent before the next, so a long backlog shows progress on the records as it
# drains, and a stop leaves at most one chunk in hand.
LINK_CHUNK = 200
WRITTEN_BACK_KEPT = 50_000  # link ids remembered as this process's own (Runner._written_back)


class ToEmail(NamedTuple):
    """A link to email as a request: the Payment, the link (id and URL) and what the email says."""

    payment_id: str
    link_id: str
    url: str
    action: EmailExistingLink | CreatePaymentLink


REQUEST_ERROR_LIMIT = field_specs(ProjectFields)["request_error"].length or 255


# Awaiting Payments changed this long before the CRM's "now" are read once more, in case a change
# committed while the previous read was being served.
WINDOW_OVERLAP = timedelta(seconds=5)
# A record's LastModifiedDate is stamped when its transaction writes it, and the record is seen only
# once that transaction commits: a long one (a trigger, a Flow, a batch) makes rows appear with stamps
# older than a read already made ("changes that started after this date but did not complete",
# GetUpdatedResult.latestDateCovered, SOAP API Developer Guide). A synchronous Apex transaction runs
# at most 10 minutes (Apex governor limits), so every 10 minutes the window goes back once, to that
# long before the previous catch-up: a row committed since then was stamped after it (at most 10
# minutes before its commit), however late in the 10 minutes it committed. A row read twice is
# harmless (every decision is idempotent), a row never read is not.
LONGEST_TRANSACTION = timedelta(minutes=10)


def window_caught_up(
    current: tuple[datetime, str] | None, *, now: datetime, caught_up_at: datetime | None
) -> tuple[tuple[datetime, str] | None, datetime]:
    """The window for this read, moved back over the longest transaction before the last catch-up
    when that is due; and when this catch-up was. A first read (None) reads everything, which counts
    as caught up."""
    if current is None or caught_up_at is None:
        return current, caught_up_at or now
    if now - caught_up_at < LONGEST_TRANSACTION:
        return current, caught_up_at
    back = (caught_up_at - LONGEST_TRANSACTION - WINDOW_OVERLAP, "")
    return min(current, back), now


def next_window(
    current: tuple[datetime, str] | None, snapshot: CrmSnapshot, *, batch_size: int, fallback_now: datetime
) -> tuple[datetime, str] | None:
    """Where the next read of changed awaiting Payments starts: (LastModifiedDate, Id), exclusive.

    A full batch continues after its last row; otherwise everything up to the CRM's time was seen.
    """
    rows = snapshot.action_payments
    # Counted as read, so a row that could not be decoded (set aside with a Sync Error) still counts.
    count = len(rows) if snapshot.action_rows is None else snapshot.action_rows
    if count >= batch_size:
        # The rows come in the query's order (LastModifiedDate, Id); the last one is where it stopped,
        # unless the whole batch was flagged Payments older than the window.
        last = snapshot.action_last or (rows[-1].last_modified, rows[-1].id)
        if current is None or last[0] >= current[0]:
            return last
        return current
    start = (snapshot.read_at or fallback_now) - WINDOW_OVERLAP
    if current is not None and current[0] > start:
        return current
    return (start, "")


class Runner:
    def __init__(
        self,
        *,
        crm: CrmGateway,
        stripe: StripeConnection,
        outcomes: OutcomeSync,
        staff: StaffSync,
        refunds: RefundSync,
        templates: EmailTemplates,
        config: RunnerConfig,
        now: Callable[[], datetime],
        retry: Retry,
        stop: threading.Event | None = None,
        budget: ApiBudget | None = None,
    ) -> None:
        self._crm = crm
        self._stripe = stripe
        self._outcomes = outcomes
        self._staff = staff
        self._refunds = refunds
        # Awaiting Payments changed after this (LastModifiedDate, Id) are read for edits; None: all.
        self._changed_after: tuple[datetime, str] | None = None
        self._caught_up_at: datetime | None = None  # when the window last went back (window_caught_up)
        self._templates = templates
        self._config = config
        self._now = now
        self._stop = stop or threading.Event()
        self._budget = budget or ApiBudget(1.0)
        self._retry = retry
        # The links this process wrote back to email itself: when their email did not go out (an
        # unknown outcome, a refusal), nobody else is sending them, so they are not held.
        self._written_back: set[str] = set()
        # Events on a loop of their own (read_events_apart): what the last cycle hands that loop.
        self._apart = False
        self._handed_lock = threading.Lock()
        self._handed: tuple[StripeReadiness | None, set[str]] = (None, set())

    def run_cycle(self) -> CycleReport:
        """Run one cycle; a failing record is reported and the others go on."""
        report = CycleReport(cycle_id=uuid.uuid4().hex[:12])
        structlog.contextvars.bind_contextvars(cycle_id=report.cycle_id)
        try:
            reminders_due_by = self._now() if self._staff.reminders.on else None
            self._changed_after, self._caught_up_at = window_caught_up(
                self._changed_after, now=self._now(), caught_up_at=self._caught_up_at
            )
            snapshot: CrmSnapshot = self._retry(
                lambda: self._crm.read_snapshot(reminders_due_by=reminders_due_by, changed_after=self._changed_after)
            )
            readiness = self._stripe.refresh(snapshot.setups)
            policy = self._policy(readiness)
            # Each batch of records is decided once: the Projects, then the Requested Payments as they
            # stand once intake has made the new ones (read again only then).
            intake = decide_intake(snapshot.project_requests, policy=policy)
            payments = snapshot.requested_payments
            if intake:
                created = self._apply_intake(intake, report)
                if created and not self._stop.is_set():
                    payments = self._retry(self._crm.read_requested_payments)
            self._apply_payment_actions(decide_payments(payments, policy=policy), readiness, report)
            # A key Stripe refused just now is not tried again this cycle (StripeConnection.current).
            refresh = self._apply_staff_actions(snapshot, self._stripe.current(readiness), policy, report)
            more_events = self._outcomes_now_or_apart(self._stripe.current(readiness), report, refresh=refresh)
            self._stripe.current(readiness)  # a key refused by the last Stripe call is said on the Setup now
            batch = self._config.batch_size
            report.full_batch = (
                more_events
                or any(len(rows) >= batch for rows in (snapshot.project_requests, payments, snapshot.action_payments))
                or len(snapshot.refund_payments) >= batch
            )
            self._report_faults(report)
            log.info("cycle.finished", records=len(report.outcomes), stable=report.all_stable)
            return report
        finally:
            structlog.contextvars.unbind_contextvars("cycle_id")

    def _report_faults(self, report: CycleReport) -> None:
        """Say on each Payment read this cycle that could not be decoded why; the others went on."""
        faults = self._crm.take_unreadable()
        updates = fault_updates(faults, now=self._now())
        for fault in faults:
            report.set(fault.record_id, Outcome.ERROR)
        self._write_updates(updates, report)

    # --- staff actions ---------------------------------------------------------------------------
    def _apply_staff_actions(
        self, snapshot: CrmSnapshot, readiness: StripeReadiness, policy: Policy, report: CycleReport
    ) -> set[str]:
        """Refunds, cancels, edited requests, resends and reminders; the Payments to read back from Stripe."""
        gateway = readiness.gateway if readiness.ready else None
        refresh: set[str] = set()
        try:
            if not self._stop.is_set():
                refresh |= self._refunds.apply(
                    snapshot.refund_payments, gateway=gateway, default_currency=policy.default_currency, report=report
                )
            if not self._stop.is_set():
                staff = self._staff.apply(
                    list(snapshot.action_payments),
                    gateway=gateway,
                    default_currency=policy.default_currency,
                    report=report,
                    # Past the org's API share reminders wait (ApiBudget), judged on this cycle's
                    # first answer; requests, payments and refunds go on.
                    reminders_paused=self._budget.non_urgent_paused(),
                )
                refresh |= staff.refresh
                if staff.replaced and not self._stop.is_set():
                    # The edited request is Requested again with the next revision: make, write back
                    # and email its new link now, through the request path.
                    again = self._retry(lambda: self._crm.read_payments(sorted(staff.replaced)))
                    requested = [p for p in again if p.status is PaymentStatus.REQUESTED]
                    self._apply_payment_actions(decide_payments(requested, policy=policy), readiness, report)
        except StripeKeyRejected as exc:  # said on the Setup by the connection (StripeConnection.current)
            log.warning("staff_actions.key_rejected", error=str(exc))
        self._changed_after = next_window(
            self._changed_after, snapshot, batch_size=self._config.batch_size, fallback_now=self._now()
        )
        return refresh

    def _policy(self, readiness: StripeReadiness) -> Policy:
        setup = readiness.setup
        return Policy(
            deposit_percent=self._config.deposit_percent,
            default_currency=(setup.default_currency if setup and setup.default_currency else "usd").lower(),
            stripe_ready=readiness.ready,
            statement_descriptor_suffix=readiness.descriptor_suffix,
            after_payment_message=setup.after_payment_message if setup else None,
            signing_stage=self._config.signing_stage,
        )

    # --- outcomes --------------------------------------------------------------------------------
    def read_events_apart(self) -> None:
        """From now on Stripe's events (and the sweep) are read by `run_events`, on a loop of its
        own, and each cycle only hands it what it needs: the Stripe connection it verified and the
        Payments whose state staff actions just touched."""
        self._apart = True

    def _outcomes_now_or_apart(self, readiness: StripeReadiness, report: CycleReport, *, refresh: set[str]) -> bool:
        if not self._apart:
            return self._read_outcomes(readiness, report, refresh=refresh)
        with self._handed_lock:
            self._handed = (readiness, self._handed[1] | refresh)
        return False

    def run_events(self) -> CycleReport:
        """Apply Stripe's new events (and sweep when due) with the connection the last cycle
        verified; Salesforce is called only when events name Payments. Before the first cycle: nothing."""
        report = CycleReport(cycle_id="ev-" + uuid.uuid4().hex[:9])
        with self._handed_lock:
            readiness, refresh = self._handed
            self._handed = (readiness, set())
        if readiness is None:
            return report
        structlog.contextvars.bind_contextvars(cycle_id=report.cycle_id)
        try:
            readiness = self._stripe.current(readiness)
            report.full_batch = self._read_outcomes(readiness, report, refresh=refresh)
            self._stripe.current(readiness)  # a key refused by the last Stripe call is said on the Setup now
            if report.outcomes:
                log.info("events.applied", records=len(report.outcomes), stable=report.all_stable)
            return report
        finally:
            structlog.contextvars.unbind_contextvars("cycle_id")

    def _read_outcomes(self, readiness: StripeReadiness, report: CycleReport, *, refresh: set[str]) -> bool:
        """Read back the Payments staff actions touched, apply new Stripe events, and sweep open
        Payments when due; True if more events wait."""
        if not readiness.ready or readiness.gateway is None or readiness.setup is None or self._stop.is_set():
            return False
        gateway, setup = readiness.gateway, readiness.setup
        try:
            polled = self._outcomes.poll(setup, gateway, also=refresh)
            self._record(polled, report)
            if self._outcomes.sweep_due() and not self._stop.is_set() and not self._budget.non_urgent_paused():
                self._record(self._outcomes.sweep(gateway), report)
            return polled.more
        except StripeKeyRejected as exc:
            log.warning("events.key_rejected", error=str(exc))
            report.set(setup.id, Outcome.WAITING)
        except (RetryableError, PermanentError) as exc:
            log.warning("events.deferred", error=str(exc))
            report.set(setup.id, Outcome.PENDING)
        return False

    @staticmethod
    def _record(outcomes: OutcomeReport, report: CycleReport) -> None:
        for payment_id in outcomes.changed:
            report.set(payment_id, Outcome.UPDATED)
        for payment_id in outcomes.pending:
            report.set(payment_id, Outcome.PENDING)

    # --- intake ----------------------------------------------------------------------------------
    def _apply_intake(self, actions: list[CreatePayment], report: CycleReport) -> int:
        try:
            results: list[WriteResult] = self._retry(lambda: self._crm.create_payments(actions))
        except (RetryableError, PermanentError) as exc:
            log.warning("intake.failed", projects=len(actions), error=str(exc))
            for action in actions:
                report.set(action.project_id, Outcome.PENDING)
            return 0
        refused = [
            (i, a, r)
            for i, (a, r) in enumerate(zip(actions, results, strict=True))
            if r.status is WriteStatus.REFUSED and not r.duplicate
        ]
        if refused:
            results = self._record_refused_requests(refused, results)
        created = 0
        for action, result in zip(actions, results, strict=True):
            bound = log.bind(project_id=action.project_id, request_key=action.draft.request_key)
            if result.error is None:
                created += 1
                report.set(action.project_id, Outcome.CREATED)
                event = "intake.payment_created" if action.draft.sync_error is None else "intake.payment_invalid"
                bound.info(
                    event,
                    payment_id=result.record_id,
                    status=action.draft.status.value,
                    reason=action.draft.sync_error,
                )
            elif result.duplicate:
                # Another worker (or an earlier crash-free run) took this request already.
                self._clear_flag_of_taken_request(action, report)
            elif result.status is WriteStatus.REFUSED:
                report.set(action.project_id, Outcome.ERROR)  # said on the Project (intake.request_not_taken)
            else:
                report.set(action.project_id, Outcome.PENDING)
                bound.warning("intake.deferred", error=result.error)
        return created

    def _record_refused_requests(
        self, refused: list[tuple[int, CreatePayment, WriteResult]], results: list[WriteResult]
    ) -> list[WriteResult]:
        """Record each request the CRM refused as an Error Payment that says why, so none is lost."""
        fallbacks = [fallback_intake(a, reason=r.error or "") for _, a, r in refused]
        try:
            retried: list[WriteResult] = self._retry(lambda: self._crm.create_payments(fallbacks))
        except (RetryableError, PermanentError) as exc:
            log.warning("intake.fallback_failed", projects=len(fallbacks), error=str(exc))
            again = list(results)
            for index, _, first in refused:  # the drafts are tried again next cycle
                again[index] = dataclasses.replace(first, deferred=True)
            return again
        merged = list(results)
        for (index, action, first), result in zip(refused, retried, strict=True):
            log.warning("intake.draft_refused", project_id=action.project_id, error=first.error)
            if result.status is WriteStatus.REFUSED and not result.duplicate:
                result = self._say_request_refused(action, result.error or first.error or "")
            merged[index] = result
        return merged

    def _say_request_refused(self, action: CreatePayment, reason: str) -> WriteResult:
        """A request the CRM refuses even as an Error Payment: said on its Project, and cleared there.

        Left ticked, it would be refused again every cycle and seen only in the logs. Returns the
        result to report: deferred when the Project could not be written either (said next cycle).
        """
        bound = log.bind(project_id=action.project_id, request_key=action.draft.request_key)
        message = messages.REQUEST_NOT_TAKEN.format(detail=reason)
        if len(message) > REQUEST_ERROR_LIMIT:
            message = message[: REQUEST_ERROR_LIMIT - 1] + "…"  # the Project field's length
        try:
            said = self._crm.refuse_request(
                action.project_id,
                message,
                unmodified_since=action.project_last_modified,
                signing_deposit=action.signing_deposit,
            )
        except (RetryableError, PermanentError) as exc:
            bound.error("intake.request_not_taken", reason=reason, said_on_project=False, error=str(exc))
            return WriteResult(record_id=None, error=reason, deferred=True)
        bound.error("intake.request_not_taken", reason=reason, said_on_project=said)
        return WriteResult(record_id=None, error=reason, deferred=not said)

    def _clear_flag_of_taken_request(self, action: CreatePayment, report: CycleReport) -> None:
        bound = log.bind(project_id=action.project_id, request_key=action.draft.request_key)
        bound.info("intake.already_taken")
        try:
            self._crm.clear_request_flag(
                action.project_id, unmodified_since=action.project_last_modified, signing_deposit=action.signing_deposit
            )
            report.set(action.project_id, Outcome.CREATED)
        except (RetryableError, PermanentError) as exc:
            # Usually the worker that took the request already cleared the flag (so the Project changed
            # since this read); either way the next cycle reads it afresh.
            report.set(action.project_id, Outcome.PENDING)
            bound.info("intake.flag_left_for_next_cycle", reason=str(exc))

    # --- payments --------------------------------------------------------------------------------
    def _apply_payment_actions(self, actions: list[Action], readiness: StripeReadiness, report: CycleReport) -> None:
        updates: list[PaymentUpdate] = []
        to_email: list[ToEmail] = []
        now = self._now()
        for action in actions:
            if isinstance(action, ReportError | WaitForStripe | ReportFault):
                updates.append(PaymentUpdate(action.payment_id, action.change | PaymentChange(last_synced_at=now)))
            if isinstance(action, ReportError):
                report.set(action.payment_id, Outcome.ERROR)
                log.info("payment.invalid", payment_id=action.payment_id, reason=action.message)
            elif isinstance(action, WaitForStripe):
                report.set(action.payment_id, Outcome.WAITING)
                log.info("payment.waiting_for_stripe", payment_id=action.payment_id)
            elif isinstance(action, ReportFault):
                report.set(action.payment_id, Outcome.ERROR)
                log.error("payment.planning_failed", payment_id=action.payment_id, error_type=action.error_type)
        self._write_updates(updates, report)
        existing = [a for a in actions if isinstance(a, EmailExistingLink)]
        checked, relinked = self._checked_existing(existing, readiness, report)
        to_email.extend(checked)

        creates = [a for a in actions if isinstance(a, CreatePaymentLink)]
        if relinked and not self._stop.is_set():
            # Their link was not fit to email: the next revision is made now, by the request path.
            again = self._retry(lambda: self._crm.read_payments(sorted(relinked)))
            policy = self._policy(readiness)
            creates += [a for a in decide_payments(again, policy=policy) if isinstance(a, CreatePaymentLink)]
        chunks = [creates[i : i + LINK_CHUNK] for i in range(0, len(creates), LINK_CHUNK)] or [[]]
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="links-ahead") as ahead:

            def make(chunk: list[CreatePaymentLink]) -> Future[list[LinkResult]]:
                run = contextvars.copy_context().run
                return ahead.submit(run, self._make_links, chunk, readiness.gateway)

            making: Future[list[LinkResult]] | None = make(chunks[0])
            for k, chunk in enumerate(chunks):
                assert making is not None
                results = making.result()
                making = None
                # A key Stripe refused while this chunk was made is said on the Setup before the
                # links made are written back, and no further chunk is asked for.
                still = self._stripe.current(readiness).ready
                if k + 1 < len(chunks) and not self._stop.is_set() and still:
                    # Stripe makes the next chunk's links while this one is written back and emailed.
                    making = make(chunks[k + 1])
                to_email.extend(self._record_links(chunk, results, readiness, report))
                self._email_and_mark_sent(to_email, report, readiness.gateway)
                to_email = []
                if making is None:
                    break
        for action in actions:
            if isinstance(action, WaitForStripe | ReportError | ReportFault | EmailExistingLink | CreatePaymentLink):
                report.outcomes.setdefault(action.payment_id, Outcome.PENDING)

    def _checked_existing(
        self, actions: list[EmailExistingLink], readiness: StripeReadiness, report: CycleReport
    ) -> tuple[list[ToEmail], set[str]]:
        """The links on the record to email, each read from Stripe first: its own URL is the one sent,
        and a link that names another Payment is not sent at all (said on the record and to staff).
        Also the Payments set to the next link revision instead (judge_existing_link)."""
        relinked: set[str] = set()
        if not actions:
            return [], relinked
        gateway = readiness.gateway if readiness.ready else None
        checked: list[ToEmail] = []
        instead: list[PaymentUpdate] = []  # the records whose link is not emailed, and what they get
        foreign: dict[str, str] = {}
        logged = self._logged_emails([a.payment_id for a in actions]) if gateway is not None else {}
        now = self._now()
        for action in actions:
            if gateway is None:
                report.set(action.payment_id, Outcome.WAITING)
                continue
            try:
                link = self._staff.checked_link(action.payment_id, action.link_id, gateway, report)
            except StripeKeyRejected:
                break  # the rest waits; said on the Setup by the connection
            if not isinstance(link, CreatedLink):
                if link is not None:
                    foreign[action.payment_id] = link
                continue
            mine = logged.get(action.payment_id, ())
            was_logged = any(link.url in body and action.email.to.lower() in to for to, body in mine)
            try:
                verdict = self._judge_existing(action, link, gateway, logged=was_logged)
            except StripeKeyRejected:
                break  # the rest waits; said on the Setup by the connection
            except (RetryableError, PermanentError) as exc:
                report.set(action.payment_id, Outcome.PENDING)
                log.warning("payment_link.check_deferred", payment_id=action.payment_id, error=str(exc))
                continue
            if verdict == "emailed":
                # Emailed already, and the CRM refused (or deferred) recording it: recorded now, not sent again.
                sent = sent_fields(action, url=link.url, now=now, reminders=self._staff.reminders)
                instead.append(PaymentUpdate(action.payment_id, sent | PaymentChange(last_synced_at=now)))
                report.set(action.payment_id, Outcome.LINK_SENT)
                log.warning("payment_link.not_emailed_again", payment_id=action.payment_id, verdict=verdict)
                continue
            if verdict == "send" and link.id not in self._written_back and self._may_be_on_its_way(action, now):
                report.set(action.payment_id, Outcome.PENDING)
                held_since = action.written_back_at
                until = (held_since + self._config.email_hold).isoformat() if held_since else None
                log.info("payment_link.email_held", payment_id=action.payment_id, until=until)
                continue
            if verdict != "send":
                change = existing_link_change(action, verdict, now=now) | PaymentChange(last_synced_at=now)
                instead.append(PaymentUpdate(action.payment_id, change))
                report.set(action.payment_id, Outcome.UPDATED)
                log.warning("payment_link.not_emailed_again", payment_id=action.payment_id, verdict=verdict)
                if verdict != "paid":
                    relinked.add(action.payment_id)
                continue
            restore = ownership.link_restore(action.link_url, None, link, sync_log=action.sync_log, now=now)
            if restore:
                log.warning("payment.fields_restored", payment_id=action.payment_id, fields=["link_url"])
                action = dataclasses.replace(action, link_url=link.url, sync_log=restore.sync_log or None)
            checked.append(ToEmail(action.payment_id, link.id, link.url, action))
        saved = self._write_updates(instead, report)
        relinked &= {r.record_id for r in saved if r.error is None}
        if foreign:
            payments = self._retry(lambda: self._crm.read_payments(sorted(foreign)))
            self._staff.report_foreign([(p, foreign[p.id]) for p in payments], report)
        return checked, relinked

    def _may_be_on_its_way(self, action: EmailExistingLink, now: datetime) -> bool:
        """Whether the worker that wrote this link back may still be emailing it (the org's log shows
        no email yet): a second worker, or this one before a restart. Emailing now could send it twice;
        once the hold has passed since the record last changed, that worker has sent or given up."""
        return action.written_back_at is not None and now < action.written_back_at + self._config.email_hold

    def _logged_emails(self, payment_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
        """(To, body) of the emails the org logged on each of these Payments: a Requested Payment
        whose link went out (the worker stopped, or the org refused the status write after the send)
        is never emailed it again. Unreadable, the log is taken as empty, and said."""
        try:
            found = self._retry(lambda: self._crm.logged_emails(payment_ids))
        except (RetryableError, PermanentError) as exc:
            log.warning("email.log_unreadable", payments=len(payment_ids), error=str(exc))
            return {}
        by_payment: dict[str, list[tuple[str, str]]] = {}
        for email in found:
            by_payment.setdefault(email.related_record_id, []).append((email.to.lower(), email.body))
        return by_payment

    def _judge_existing(
        self, action: EmailExistingLink, link: CreatedLink, gateway: PaymentsGateway, *, logged: bool
    ) -> ExistingLinkVerdict:
        """Read the link's payment state, and deactivate a live link that charges otherwise (then read
        again: a customer may have paid in between), so that no email carries a link it should not."""
        state = self._retry(lambda: gateway.payment_state(link.id, with_refunds=False))
        verdict = judge_existing_link(action, link, paid=state.paid, logged=logged)
        if verdict == "differs":
            self._retry(lambda: gateway.deactivate_link(link.id))
            state = self._retry(lambda: gateway.payment_state(link.id, with_refunds=False))
            verdict = "paid" if state.paid else "differs"
        return verdict

    def _make_links(self, actions: list[CreatePaymentLink], gateway: PaymentsGateway | None) -> list[LinkResult]:
        """Ask Stripe for each link, `STRIPE_CONCURRENCY` at a time: a link, an exception or Skipped each.

        Once Stripe refuses the key, the links not yet asked for are refused without a call (KeyGuard)."""
        if not actions or gateway is None:
            return []

        def create(action: CreatePaymentLink) -> CreatedLink:
            return self._retry(lambda: gateway.create_payment_link(action.spec))

        return fan_out(create, actions, workers=self._config.stripe_workers, stop=self._stop)

    def _record_links(
        self,
        actions: list[CreatePaymentLink],
        results: list[LinkResult],
        readiness: StripeReadiness,
        report: CycleReport,
    ) -> list[ToEmail]:
        """Write every new link back in one batch (before any is emailed), and each refusal; the links to email."""
        if not results or readiness.gateway is None:
            return []
        gateway = readiness.gateway
        made: list[tuple[CreatePaymentLink, CreatedLink]] = []
        errors: list[PaymentUpdate] = []
        now = self._now()
        for action, result in zip(actions, results, strict=True):
            bound = log.bind(payment_id=action.payment_id, idempotency_key=action.spec.idempotency_key)
            if isinstance(result, CreatedLink):
                bound.info("payment_link.created", payment_link_id=result.id)
                made.append((action, result))
            elif isinstance(result, Skipped):
                bound.info("payment_link.not_tried", reason="stopping")
            elif isinstance(result, StripeKeyRejected):
                # Waits, saying so, like every request while Stripe is not connected; the Setup says why.
                errors.append(PaymentUpdate(action.payment_id, PaymentChange(sync_error=messages.STRIPE_NOT_CONNECTED)))
                report.set(action.payment_id, Outcome.WAITING)
                bound.warning("payment_link.key_rejected", error=str(result))
            elif isinstance(result, IdempotencyConflict):
                errors.append(self._replace_edited_request(action, gateway, now))
                report.set(action.payment_id, Outcome.PENDING)
            elif isinstance(result, AmountTooSmall):
                spec = action.spec
                shown = money.format_amount(money.from_minor_units(spec.amount_minor, spec.currency), spec.currency)
                message = messages.STRIPE_AMOUNT_TOO_SMALL.format(amount=shown, detail=str(result))
                errors.append(self._error_update(action.payment_id, message, now))
                report.set(action.payment_id, Outcome.ERROR)
                bound.warning("payment_link.amount_too_small", error=str(result))
            elif isinstance(result, PermanentError):
                message = messages.STRIPE_REJECTED_LINK.format(detail=str(result))
                errors.append(self._error_update(action.payment_id, message, now))
                report.set(action.payment_id, Outcome.ERROR)
                bound.warning("payment_link.rejected", error=str(result))
            else:  # RetryableError, or a fault of ours: this one waits, the others go on
                report.set(action.payment_id, Outcome.PENDING)
                bound.warning("payment_link.deferred", error=str(result), error_type=type(result).__name__)
        synced = PaymentChange(last_synced_at=now)
        write_back = [PaymentUpdate(a.payment_id, a.written_back(link) | synced) for a, link in made]
        saved = self._write_updates(write_back + errors, report)
        written = {r.record_id for r in saved if r.error is None}
        to_email = []
        for action, link in made:
            if action.payment_id not in written:
                continue
            if link.made_elsewhere:
                # Another worker made it and may be emailing it now: emailed, if the org's log shows
                # no email once the hold has passed, as an existing link (_checked_existing).
                report.set(action.payment_id, Outcome.PENDING)
                log.info("payment_link.made_elsewhere", payment_id=action.payment_id, payment_link_id=link.id)
                continue
            if len(self._written_back) >= WRITTEN_BACK_KEPT:
                self._written_back.clear()  # at worst a hold for a link of ours
            self._written_back.add(link.id)
            to_email.append(ToEmail(action.payment_id, link.id, link.url, action))
        return to_email

    def _replace_edited_request(
        self, action: CreatePaymentLink, gateway: PaymentsGateway, now: datetime
    ) -> PaymentUpdate:
        """The request changed after a link was made under this key: retire that link, bump the revision."""
        bound = log.bind(payment_id=action.payment_id)
        try:
            for link in self._retry(lambda: gateway.links_for_payment(action.payment_id)):
                self._retry(functools.partial(gateway.deactivate_link, link.id))
                bound.info("payment_link.orphan_deactivated", payment_link_id=link.id)
        except (RetryableError, PermanentError, StripeKeyRejected) as exc:
            bound.warning("payment_link.orphan_scan_failed", error=str(exc))
            return PaymentUpdate(action.payment_id, PaymentChange(last_synced_at=now))
        bound.info("payment_link.revision_bumped", revision=action.link_revision + 1)
        return PaymentUpdate(
            action.payment_id,
            PaymentChange(
                link_revision=action.link_revision + 1,
                sync_error=messages.EDITED_DURING_LINK_CREATION,
                last_synced_at=now,
            ),
        )

    def _email_and_mark_sent(self, items: list[ToEmail], report: CycleReport, gateway: PaymentsGateway | None) -> None:
        """Email each link, then record it on its Payment; an email the CRM did not record is kept on
        the link in Stripe, so that it is recorded, never sent again, next cycle (judge_existing_link)."""
        if not items:
            return
        emails = []
        for payment_id, _, url, action in items:
            subject, body = self._templates.payment_link.render(action.email, link_url=url)
            emails.append(OutboundEmail(to=action.email.to, subject=subject, body=body, related_record_id=payment_id))
        try:
            results: list[WriteResult] = self._retry(lambda: self._crm.send_emails(emails))
        except (RetryableError, PermanentError) as exc:
            log.warning("email.deferred", payments=len(emails), error=str(exc))
            for item in items:
                report.set(item.payment_id, Outcome.PENDING)
            return
        now = self._now()
        updates = []
        emailed: list[ToEmail] = []
        for item, result in zip(items, results, strict=True):
            payment_id, url, action = item.payment_id, item.url, item.action
            if result.error is None:
                emailed.append(item)
                sent = sent_fields(action, url=url, now=now, reminders=self._staff.reminders)
                updates.append(PaymentUpdate(payment_id, sent | PaymentChange(last_synced_at=now)))
                report.set(payment_id, Outcome.LINK_SENT)
                log.info(
                    "payment_link.emailed",
                    payment_id=payment_id,
                    to_domain=action.email.to.rsplit("@", 1)[-1],
                )
            elif result.deferred:  # sent or not, the org's email log tells next cycle (_checked_existing)
                report.set(payment_id, Outcome.PENDING)
                log.warning("email.deferred", payment_id=payment_id, error=result.error)
            elif (problem := org_email_problem(result.error)) is not None:
                updates.append(PaymentUpdate(payment_id, PaymentChange(sync_error=problem, last_synced_at=now)))
                report.set(payment_id, Outcome.WAITING)
                log.warning("email.refused_by_org", payment_id=payment_id, error=result.error)
            else:
                message = messages.EMAIL_REJECTED.format(email=action.email.to, detail=result.error)
                updates.append(self._error_update(payment_id, message, now))
                report.set(payment_id, Outcome.ERROR)
                log.warning("email.rejected", payment_id=payment_id, error=result.error)
        saved = self._write_updates(updates, report)
        recorded = {r.record_id for r in saved if r.error is None}
        for item in emailed:
            if item.payment_id not in recorded and gateway is not None:
                self._keep_emailed_on_link(item, gateway)

    def _keep_emailed_on_link(self, item: ToEmail, gateway: PaymentsGateway) -> None:
        bound = log.bind(payment_id=item.payment_id, payment_link_id=item.link_id)
        try:
            self._retry(functools.partial(gateway.note_emailed, item.link_id, recipient_mark(item.action.email.to)))
            bound.warning("email.sent_not_recorded", kept_on="stripe_link")
        except (RetryableError, PermanentError, StripeKeyRejected) as exc:
            bound.error("email.sent_not_recorded", kept_on=None, error=str(exc))

    @staticmethod
    def _error_update(payment_id: str, message: str, now: datetime) -> PaymentUpdate:
        error = PaymentChange(status=PaymentStatus.ERROR, sync_error=message, last_synced_at=now)
        return PaymentUpdate(payment_id, error)

    def _write_updates(self, updates: list[PaymentUpdate], report: CycleReport) -> list[WriteResult]:
        return write_payment_updates(self._crm, updates, retry=self._retry, report=report)
