"""Bring Stripe's outcomes back to the CRM: poll events after a cursor, and sweep open Payments.

Both paths end the same way: for each Payment concerned, read its link's current state from
Stripe, plan the changes (sync.domain.stripe_results) and write them. Events only say which Payments to
look at, so duplicates and any order give the same record. The events cursor lives on the Stripe
Setup record and moves only after what came before it was applied (at-least-once, made harmless
by writes that set absolute values).

A poll streams: events are paged a step at a time on one thread, the Payments each step names are
read from Stripe on another, and what changed is written on the poll's own thread, so Stripe's rate
is spent on reads while a long backlog of events is still being paged.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sync.config.email_templates import NoticeTemplates
from sync.domain import messages, money, ownership
from sync.domain.changes import PaymentChange
from sync.domain.errors import PermanentError, RetryableError, StripeKeyRejected
from sync.domain.faults import RecordFault
from sync.domain.models import (
    EventBatch,
    Payment,
    PaymentStatus,
    RefundStatus,
    StripeEventRef,
    StripePaymentState,
    StripeSetup,
)
from sync.domain.staff_actions import amount_put_back
from sync.domain.stripe_results import (
    PAID_FAMILY,
    OutcomeWrite,
    StaffNotice,
    foreign_notice,
    paid_by_hand,
    plan_outcome,
)
from sync.ports import ChatterPost, CrmGateway, PaymentsGateway, PaymentUpdate, WriteResult, WriteStatus
from sync.runtime.fanout import Skipped, fan_out
from sync.runtime.logs import log
from sync.runtime.prefetch import Direct, Prefetch
from sync.runtime.retry import Retry
from sync.service.deleted_payments import settle_deleted
from sync.service.record_faults import fault_updates
from sync.service.record_faults import planned as faults_planned

T = TypeVar("T")

OPEN_STATUSES = [PaymentStatus.LINK_SENT, PaymentStatus.PAYMENT_FAILED]
SETTLED_STATUSES = [
    PaymentStatus.PAID,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
    PaymentStatus.DISPUTED,
    PaymentStatus.CANCELED,
]
WRITE_BATCH = 75  # one Composite Graph call carries up to 75 Payments
READ_CHUNK = 2 * WRITE_BATCH  # Stripe reads in one fan-out; the next chunk is read while this one is written
# Events handed on to the reads at a time: five pages of 100, the 500th event telling whether more wait.
EVENTS_STEP = 499
# Stripe reads failing in a row, each after all its retries, before the rest of a pass waits (Stripe is down).
UNREACHABLE_AFTER = 3
# Active links scanned for orphans per sweep (ten pages); the walk resumes there at the next sweep,
# so an account with many links, some not ours, is covered over several sweeps, never in one.
LINKS_PER_SWEEP = 1000
UNSETTLED_KEPT = 10_000  # deleted Payments kept to settle; more would be an org refusing every post


@dataclass(frozen=True)
class OutcomeConfig:
    lookback: timedelta  # how far back to read events without a usable cursor (Stripe keeps 30 days)
    reconcile_every: timedelta | None  # None: the periodic sweep is off
    # Events name Payments; reading a Payment's state is what costs Stripe calls. A bigger batch reads
    # each Payment once however many of its events it holds: a backlog of refunds, settlements and
    # failures (the chaos long mode: ~30,000 events on 800 Payments) drains in about half the calls.
    max_events_per_poll: int = 5000


@dataclass
class OutcomeReport:
    """What one poll or sweep did, by Payment id."""

    checked: int = 0
    changed: dict[str, OutcomeWrite] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)  # a passing fault: tried again later
    failed: dict[str, str] = field(default_factory=dict)  # refused for good; the sweep tries again
    cursor_lost: bool = False
    more: bool = False
    orphans_deactivated: int = 0  # live links their Payment does not name (sweep only)


Progress = Callable[[int, int], None]


class OutcomeSync:
    def __init__(
        self,
        *,
        crm: CrmGateway,
        notices: NoticeTemplates | None,
        config: OutcomeConfig,
        now: Callable[[], datetime],
        retry: Retry,
        pause: Callable[[float], object] = lambda _seconds: None,
        stopping: Callable[[], bool] = lambda: False,
        workers: int = 1,
    ) -> None:
        self._crm = crm
        self._notices = notices
        self._config = config
        self._now = now
        self._retry = retry
        self._pause = pause  # waits on the worker's stop event, so SIGTERM is never held up
        self._stopping = stopping
        self._workers = workers  # Stripe reads in flight at once
        self._next_sweep_at: datetime | None = None
        self._polled = False
        self._saved_cursor: str | None = None  # the cursor on the record at the last poll
        # ((Setup id, its cursor and LastModifiedDate as read), the cursor this process saved since).
        self._cursor_moved: tuple[tuple[str, str | None, datetime], str] | None = None
        # Without a cursor to prove the events were followed, the next sweep checks paid Payments too:
        # a refund or dispute during the gap would otherwise go unseen.
        self._sweep_everything = False
        self._links_after: str | None = None  # where the next sweep's walk over active links resumes
        self._unsettled: set[str] = set()  # deleted Payments whose paid post did not go: tried each sweep

    # --- events ----------------------------------------------------------------------------------
    def poll(self, setup: StripeSetup, gateway: PaymentsGateway, *, also: Iterable[str] = ()) -> OutcomeReport:
        """Apply the events after the Setup's cursor, then move the cursor past them.

        `also`: Payments to bring up to date as well (a staff action just touched their link), read
        with those the first step of events concerns.
        """
        report = OutcomeReport()
        read, setup = setup, self._with_cursor_moved(setup)
        if not setup.events_cursor and (not self._polled or self._saved_cursor):
            # A first start, or a cursor cleared on the record: the look-back window may not cover it all.
            log.info("events.no_cursor", setup_id=setup.id, first_poll=not self._polled)
            self._sweep_everything = True
            self.sweep_soon()
        self._polled = True
        self._saved_cursor = setup.events_cursor
        also = list(also)
        polled = _Polled(newest_id=setup.events_cursor, refunds=dict.fromkeys(also, True))
        # Events are paged, and the Payments they name read from the CRM, on a thread of their own
        # while those already named are read from Stripe and written.
        named = Prefetch(
            self._payments_named(setup.events_cursor, gateway, polled, report, also=also),
            name="events",
            ahead=2 * READ_CHUNK,
        )

        def refunds_for(payment: Payment) -> bool:
            return polled.refunds.get(payment.id, False)

        try:
            left = self._bring_up_to_date(named, gateway, report, refunds_for=refunds_for, reading=polled.read_begins)
        finally:
            polled.halt.set()
            named.close()
        if polled.again and not left:
            # An event came after its Payment's read began: read it once more, now that all are in.
            log.info("events.read_again", payments=len(polled.again))
            again = self._retry(lambda: self._crm.read_payments(sorted(polled.again)))
            left = self._bring_up_to_date(again, gateway, report, refunds_for=refunds_for)
        if polled.events:
            log.info("events.received", count=polled.events, newest_event_id=polled.newest_id)
        if report.pending or left or not polled.finished:
            log.info("events.cursor_held", pending=len(report.pending))
        elif polled.newest_id and polled.newest_id != setup.events_cursor:
            self._save_cursor(read, polled.newest_id)
        elif report.cursor_lost and not polled.events:
            self._save_cursor(read, "")  # start afresh from the window
        return report

    def _with_cursor_moved(self, setup: StripeSetup) -> StripeSetup:
        """The Setup with the cursor this process saved since the record was read, if it was: the
        events loop polls every few seconds with the Setup its CRM cycle last read. A Setup read since
        (its LastModifiedDate moved: this save, or an admin clearing the cursor) says it itself."""
        moved = self._cursor_moved
        if moved is not None and moved[0] == (setup.id, setup.events_cursor, setup.last_modified):
            return setup.model_copy(update={"events_cursor": moved[1] or None})
        return setup

    def _save_cursor(self, read: StripeSetup, cursor: str) -> None:
        self._retry(lambda: self._crm.save_events_cursor(read.id, cursor))
        self._cursor_moved = ((read.id, read.events_cursor, read.last_modified), cursor)

    def _event_steps(self, cursor: str | None, gateway: PaymentsGateway, polled: _Polled) -> Iterator[EventBatch]:
        """The events after `cursor`, EVENTS_STEP at a time up to the poll's most, each step's
        `newest_id` being the cursor once it is applied; `polled.finished` once the cursor may move.

        With no cursor, or one Stripe no longer knows, the whole look-back window, newest first:
        listing it oldest first would page through all of it before the first step could be handed
        on, and there is no other end to resume from. It is not cut at the poll's most (a first start
        also sweeps every Payment); a walk cut short (the worker stopping) leaves the cursor as it was.
        """
        if cursor:
            budget, after = self._config.max_events_per_poll, cursor
            while True:
                step = min(EVENTS_STEP, budget)
                batch = self._retry(functools.partial(gateway.events_after, after, max_events=step))
                yield batch
                if batch.cursor_lost:
                    break  # Stripe no longer knows it: walk the window as on a first start
                budget -= len(batch.events)
                after = batch.newest_id or after
                if not batch.more or not batch.newest_id or budget <= 0 or polled.halt.is_set() or self._stopping():
                    polled.finished = True  # cut here or not, the next poll goes on after the last step
                    return
        since = self._now() - self._config.lookback
        head = older = None
        while True:
            batch = self._retry(lambda: gateway.events_before(older, since=since, max_events=EVENTS_STEP))  # noqa: B023
            head = head or batch.newest_id
            yield batch.model_copy(update={"newest_id": head, "more": False})
            if not batch.more or not batch.events:
                polled.finished = True
                return
            if polled.halt.is_set() or self._stopping():
                return
            older = batch.events[-1].id

    def _payments_named(
        self,
        cursor: str | None,
        gateway: PaymentsGateway,
        polled: _Polled,
        report: OutcomeReport,
        *,
        also: list[str],
    ) -> Iterator[Payment]:
        """The CRM's Payments the events after `cursor` name, step by step, each once (and first,
        those in `also`). Runs on the events thread.

        A Payment named again by an event that arrived after its read began is kept for a second
        read at the end of the poll: the state it was read in may predate that event.
        """
        fresh = dict.fromkeys(also)
        for batch in self._event_steps(cursor, gateway, polled):
            arrived = time.monotonic()
            if batch.cursor_lost and not report.cursor_lost:
                log.warning("events.cursor_lost", lookback_days=self._config.lookback.days)
                report.cursor_lost = True
                self._sweep_everything = True  # the events may not cover the gap: sweep everything now
                self.sweep_soon()
            polled.events += len(batch.events)
            polled.newest_id = batch.newest_id or polled.newest_id
            report.more = batch.more
            for payment_id, refund_related in self._payments_concerned(batch.events, gateway, polled.by_intent).items():
                # The flag is raised before `began` is looked at, and a read notes its start before it
                # looks at the flag: a read that missed the flag is seen to have begun here.
                refunds_now = refund_related and not polled.refunds.get(payment_id, False)
                polled.refunds[payment_id] = polled.refunds.get(payment_id, False) or refund_related
                began = polled.read_began.get(payment_id)
                if payment_id not in polled.handed:
                    fresh[payment_id] = None
                elif began is not None and (began <= arrived or refunds_now):
                    polled.again.add(payment_id)
            polled.handed.update(fresh)
            if fresh:
                ids, fresh = sorted(fresh), {}
                found = self._retry(lambda: self._crm.read_payments(ids))  # noqa: B023 - called at once
                self._settle_deleted(set(ids) - {p.id for p in found}, gateway)
                yield from found

    def _payments_concerned(
        self, events: tuple[StripeEventRef, ...], gateway: PaymentsGateway, by_intent: dict[str, str]
    ) -> dict[str, bool]:
        """Payment id -> whether a refund event concerns it; events of foreign payments drop out.

        `by_intent` (PaymentIntent id -> Payment id) holds what earlier steps of the poll told, and
        learns what this one tells: a refund's event names only the PaymentIntent.
        """
        concerned: dict[str, bool] = {}
        unresolved: dict[str, bool] = {}
        for event in events:
            if event.payment_id and event.payment_intent_id:
                by_intent[event.payment_intent_id] = event.payment_id
        for event in events:
            payment_id = event.payment_id or by_intent.get(event.payment_intent_id or "")
            if payment_id:
                concerned[payment_id] = concerned.get(payment_id, False) or event.refund_related
            elif event.payment_intent_id:
                unresolved[event.payment_intent_id] = unresolved.get(event.payment_intent_id, False) or (
                    event.refund_related
                )
        if unresolved:
            known = self._retry(lambda: self._crm.payment_ids_for_intents(sorted(unresolved)))
            for intent_id, refund_related in unresolved.items():
                payment_id = known.get(intent_id) or self._intent_owner(intent_id, gateway)
                if payment_id:
                    by_intent[intent_id] = payment_id
                    concerned[payment_id] = concerned.get(payment_id, False) or refund_related
        return concerned

    def _intent_owner(self, intent_id: str, gateway: PaymentsGateway) -> str | None:
        try:
            return self._retry(lambda: gateway.payment_id_of_intent(intent_id))
        except PermanentError as exc:
            # Not ours to hold the cursor for: a payment made elsewhere that Stripe will not show us.
            log.info("events.intent_unreadable", payment_intent_id=intent_id, error=str(exc))
            return None

    # --- sweep -----------------------------------------------------------------------------------
    def sweep_due(self) -> bool:
        if self._next_sweep_at is None:
            if self._config.reconcile_every is None:
                return False
            self._next_sweep_at = self._now() + self._config.reconcile_every
        return self._now() >= self._next_sweep_at

    def sweep_soon(self) -> None:
        """Sweep at the next chance (a first start with no cursor, or a lost one)."""
        self._next_sweep_at = self._now()

    def sweep(
        self, gateway: PaymentsGateway, *, include_settled: bool = False, progress: Progress | None = None
    ) -> OutcomeReport:
        """Read Stripe's state for every open Payment (and with `include_settled`, every paid one too).

        After a first start or a lost cursor, the sweep includes paid Payments whatever is asked.
        """
        include_settled = include_settled or self._sweep_everything
        statuses = OPEN_STATUSES + (SETTLED_STATUSES if include_settled else [])
        payments = self._retry(lambda: list(self._crm.iter_payments_to_reconcile(statuses)))
        if not include_settled:
            payments += self._named_lately(gateway, known={p.id for p in payments})
        log.info("reconcile.started", payments=len(payments), include_settled=include_settled)
        report = OutcomeReport()
        if progress is not None:
            progress(0, len(payments))
        interrupted = False
        for start in range(0, len(payments), WRITE_BATCH):
            chunk = payments[start : start + WRITE_BATCH]
            if self._bring_up_to_date(chunk, gateway, report, refunds_for=lambda _p: True):
                # Stripe stopped answering, or the worker is stopping: the rest waits for the next sweep.
                report.pending.update(p.id for p in payments[start + WRITE_BATCH :] if p.payment_link_id)
                interrupted = True
                break
            if progress is not None:
                progress(min(start + WRITE_BATCH, len(payments)), len(payments))
        if not interrupted:
            report.orphans_deactivated = self._retire_orphans(gateway, {p.id: p for p in payments})
        every = self._config.reconcile_every
        self._next_sweep_at = self._now() + every if every is not None else None
        if interrupted:
            self.sweep_soon()
        if not report.pending:
            self._sweep_everything = False
        log.info(
            "reconcile.finished",
            checked=report.checked,
            changed=len(report.changed),
            pending=len(report.pending),
            failed=len(report.failed),
            orphans_deactivated=report.orphans_deactivated,
        )
        return report

    def _named_lately(self, gateway: PaymentsGateway, *, known: set[str]) -> list[Payment]:
        """The other Payments that events of the last two sweep intervals name: paid ones, whose
        refund or dispute the poll may have missed.

        Stripe may list an event after a cursor already moved past its place (it promises neither
        order nor promptness: docs.stripe.com/webhooks), and no poll walks back. Open Payments are
        swept anyway; a settled one is read again here, so an event listed up to one interval late
        reaches its record at the next sweep.
        """
        every = self._config.reconcile_every
        if every is None:
            return []
        since = self._now() - min(2 * every, self._config.lookback)
        named: set[str] = set()
        by_intent: dict[str, str] = {}
        older: str | None = None
        try:
            while not self._stopping():
                batch = self._retry(lambda: gateway.events_before(older, since=since, max_events=EVENTS_STEP))  # noqa: B023
                named.update(self._payments_concerned(batch.events, gateway, by_intent))
                if not batch.more or not batch.events:
                    break
                older = batch.events[-1].id
            wanted = sorted(named - known)
            found = self._retry(lambda: list(self._crm.read_payments(wanted))) if wanted else []
        except (RetryableError, PermanentError) as exc:
            log.warning("reconcile.events_unread", error=str(exc))
            return []
        return [p for p in found if p.status in SETTLED_STATUSES]

    def _retire_orphans(self, gateway: PaymentsGateway, known: dict[str, Payment]) -> int:
        """Deactivate active links that their Payment does not name, among this sweep's step of the
        walk over the account's active links (LINKS_PER_SWEEP).

        A link made but not written back for longer than Stripe's 24-hour idempotency window (the
        CRM unreachable for a day at that instant) is made again under the same key; the first one
        was never emailed, but it is live. Only Payments of this org that name another link are
        judged: a Payment still Requested may be getting its link right now, and a Payment id this
        org does not have may be another org's on the same Stripe account.
        """
        try:
            step = self._retry(lambda: gateway.active_links(self._links_after, most=LINKS_PER_SWEEP))
            self._links_after = step.resume_after
            active = list(step.owned)
            unknown = sorted({payment_id for payment_id, _ in active} - set(known))
            if unknown:
                known.update((p.id, p) for p in self._retry(lambda: self._crm.read_payments(unknown)))
        except (RetryableError, PermanentError) as exc:
            log.warning("orphans.scan_failed", error=str(exc))
            return 0
        retired = self._settle_deleted({i for i in unknown if i not in known} | self._unsettled, gateway)
        owner_of = {link.id: payment_id for payment_id, link in active}
        for payment_id, link in active:
            payment = known.get(payment_id)
            if payment is None or payment.status is PaymentStatus.REQUESTED or payment.payment_link_id == link.id:
                continue
            if owner_of.get(payment.payment_link_id or "", payment_id) != payment_id:
                continue  # it names another Payment's link (an edit): its own is not the orphan
            try:
                self._retry(functools.partial(gateway.deactivate_link, link.id))
            except (RetryableError, PermanentError) as exc:
                log.warning("orphans.deactivate_failed", payment_id=payment_id, payment_link_id=link.id, error=str(exc))
                continue
            retired += 1
            log.warning("payment_link.orphan_deactivated", payment_id=payment_id, payment_link_id=link.id)
        return retired

    # --- shared ----------------------------------------------------------------------------------
    def _bring_up_to_date(
        self,
        payments: Iterable[Payment] | Prefetch[Payment],
        gateway: PaymentsGateway,
        report: OutcomeReport,
        *,
        refunds_for: Callable[[Payment], bool],
        reading: Callable[[str], None] = lambda _payment_id: None,
    ) -> bool:
        """Read each Payment's state from Stripe and write what changed; True if reads were left for later.

        `payments` is taken a chunk at a time on the reads thread; from a Prefetch, a chunk is what has
        come so far. `reading` is told of each Payment as its read begins.

        When UNREACHABLE_AFTER reads in a row fail for a passing reason after all their retries
        (Stripe is down), or the worker is stopping, the reads not yet begun are left pending: an
        outage must not cost every remaining Payment its own retry budget before the worker gets
        back to new requests. One Payment Stripe keeps refusing does not stop the others.
        """
        states: dict[str, StripePaymentState] = {}
        source = payments if isinstance(payments, Prefetch) else Direct(payments)
        give_up = threading.Event()
        streak = _FailureStreak(UNREACHABLE_AFTER)

        def read(payment: Payment) -> StripePaymentState:
            reading(payment.id)
            with_refunds = refunds_for(payment) or bool(payment.amount_refunded) or _refund_moving(payment)
            try:
                state = self._retry(
                    lambda: gateway.payment_state(payment.payment_link_id or "", with_refunds=with_refunds)
                )
            except RetryableError:
                if streak.failed():
                    give_up.set()
                raise
            finally:
                if self._stopping():
                    give_up.set()
            streak.succeeded()
            if ownership.state_problem(payment, state) is not None:
                state = self._own_link_state(payment, gateway, with_refunds=with_refunds) or state
            return state

        if self._stopping():
            give_up.set()
        postponed: list[str] = []
        deferred: set[str] = set()
        # While one chunk's changes are written to the CRM, the next chunk is read from Stripe, so
        # Stripe's rate is not left idle during the writes (a backlog of payments drains faster).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="outcome-reads") as ahead:

            def read_next() -> tuple[bool, list[Payment], list[Any]]:
                taken = [] if give_up.is_set() else source.take(READ_CHUNK)
                chunk = [p for p in taken if p.payment_link_id]  # no link yet: the request path writes it first
                return bool(taken), chunk, fan_out(read, chunk, workers=self._workers, stop=give_up)

            upcoming = ahead.submit(contextvars.copy_context().run, read_next)
            try:
                while True:
                    more, chunk, read_states = upcoming.result()
                    if not more:
                        break
                    upcoming = ahead.submit(contextvars.copy_context().run, read_next)
                    rejected = next((s for s in read_states if isinstance(s, StripeKeyRejected)), None)
                    if rejected is not None:
                        raise rejected  # the key, not these Payments: the caller stops using it
                    plans = self._take(zip(chunk, read_states, strict=True), report, states, postponed)
                    deferred |= self._write(plans, report)
            except BaseException:
                give_up.set()  # the reads ahead stop starting
                raise
        if postponed:
            report.pending.update(postponed)
            log.warning(
                "outcome.reads_postponed",
                payments=len(postponed),
                reason="stopping" if self._stopping() else "stripe_unreachable",
            )
        if deferred and not self._stopping():
            # Changed under us (412), or read in the second of its last change: read those Payments
            # again a second later and write what is still due, rather than a poll interval later.
            self._pause(1.0)
            report.pending -= deferred
            fresh = self._retry(lambda: self._crm.read_payments(sorted(deferred)))
            self._write([plan for p in fresh for plan in self._plan(p, states[p.id])], report)
        # Given up (Stripe unreachable, or stopping): what was not yet taken from `payments` waits too.
        return bool(postponed) or give_up.is_set()

    def _take(
        self,
        read: Iterable[tuple[Payment, Any]],
        report: OutcomeReport,
        states: dict[str, StripePaymentState],
        postponed: list[str],
    ) -> list[OutcomeWrite]:
        """Sort what each read gave (a state, an error, or Skipped) and plan the changes due."""
        plans: list[OutcomeWrite] = []
        for payment, state in read:
            if isinstance(state, Skipped):
                postponed.append(payment.id)
                continue
            report.checked += 1
            if isinstance(state, PermanentError):
                report.failed[payment.id] = str(state)
                log.warning("outcome.unreadable", payment_id=payment.id, error=str(state))
            elif not isinstance(state, StripePaymentState):  # a passing fault (or one of ours): later
                report.pending.add(payment.id)
                log.warning("outcome.deferred", payment_id=payment.id, error=str(state))
            else:
                states[payment.id] = state
                faults: list[RecordFault] = []
                plan = faults_planned(
                    payment.id,
                    functools.partial(self._plan, payment, state),
                    faults=faults,
                    sync_error=payment.sync_error,
                )
                plans.extend(plan or [])
                if faults:
                    # Said on the record; the sweep tries it again (it does not hold the cursor).
                    report.failed[payment.id] = faults[0].problem
                    self._say_faults(faults)
        return plans

    def _say_faults(self, faults: list[RecordFault]) -> None:
        updates = fault_updates(faults, now=self._now())
        if not updates:
            return
        try:
            self._retry(lambda: self._crm.update_payments(updates))
        except (RetryableError, PermanentError) as exc:
            log.warning("crm.write_failed", records=len(updates), error=str(exc))

    def _own_link_state(
        self, payment: Payment, gateway: PaymentsGateway, *, with_refunds: bool
    ) -> StripePaymentState | None:
        """What Stripe holds for the Payment's own link, for a record whose link id names another
        Payment's; None when Stripe shows no link of this Payment (the record then says so)."""
        try:
            own = self._retry(
                lambda: gateway.own_link(
                    payment.id, session_id=payment.checkout_session_id, intent_id=payment.payment_intent_id
                )
            )
            if own is None or own.id == payment.payment_link_id:
                return None
            state = self._retry(lambda: gateway.payment_state(own.id, with_refunds=with_refunds))
        except PermanentError as exc:
            log.warning("payment.own_link_unknown", payment_id=payment.id, error=str(exc))
            return None
        log.warning("payment.own_link_found", payment_id=payment.id, payment_link_id=own.id)
        return state.model_copy(update={"link_url": own.url})

    def _plan(self, payment: Payment, state: StripePaymentState) -> list[OutcomeWrite]:
        now = self._now()
        problem = ownership.state_problem(payment, state)
        if problem is not None:
            return self._foreign(payment, problem, now=now)
        plan = plan_outcome(payment, state)
        relinked = ownership.relink(payment, state)
        if plan is None and not relinked:
            return []
        if plan is None:
            plan = OutcomeWrite(
                payment_id=payment.id,
                payment_last_modified=payment.last_modified,
                payment_read_at=payment.read_at,
                change=PaymentChange(),
            )
        if relinked:
            # Said to staff too: someone pointed this Payment at another's link (invariant 7).
            said = messages.RELINKED.format(foreign=payment.payment_link_id, own=state.payment_link_id)
            notice = foreign_notice(payment, said)
            plan = dataclasses.replace(plan, notices=plan.notices + ((notice,) if notice else ()))
        change = plan.change | relinked
        restored = ownership.tampered(payment, change, state)
        change |= PaymentChange(last_synced_at=now)
        put_back = self._amount_put_back(payment, state, now=now)
        if put_back is not None:
            change |= put_back
            payment = payment.model_copy(update={"sync_log": put_back.sync_log})  # the next line follows it
        if restored:
            # Put back and said, never silently (invariant 7): staff can see who edited it in the history.
            change |= PaymentChange(sync_log=ownership.tamper_line(payment, restored, now=now))
            log.warning("payment.fields_restored", payment_id=payment.id, fields=restored)
        return [dataclasses.replace(plan, change=change)]

    @staticmethod
    def _amount_put_back(payment: Payment, state: StripePaymentState, *, now: datetime) -> PaymentChange | None:
        """An Amount staff edited on a paid Payment, put back by this write too: once the worker
        has written the record, the edit no longer shows as another's (the staff-action read looks
        for paid Payments last changed by someone else), so it is put right now or never."""
        if payment.status not in PAID_FAMILY or paid_by_hand(payment) or not state.paid:
            return None
        if state.amount_paid_minor is None or not state.currency:
            return None
        charged = money.from_minor_units(state.amount_paid_minor, state.currency)
        change = amount_put_back(payment, charged, now=now, default_currency=state.currency)
        if change is not None:
            log.info("payment.amount_edit_refused", payment_id=payment.id, reason="already paid")
        return change

    def _foreign(self, payment: Payment, problem: str, *, now: datetime) -> list[OutcomeWrite]:
        """Record nothing of another Payment's link; say so on the record and to staff, once."""
        log.warning("payment.foreign_link", payment_id=payment.id, payment_link_id=payment.payment_link_id)
        write = ownership.foreign_write(payment, problem, now=now)
        return [] if write is None else [write]

    def _write(self, plans: list[OutcomeWrite], report: OutcomeReport) -> set[str]:
        """Write the plans; return the Payments whose write was refused for a passing reason."""
        if not plans:
            return set()
        items = [(plan, tuple(self._post(n) for n in plan.notices if self._wants(n))) for plan in plans]
        try:
            results: list[WriteResult] = self._retry(lambda: self._crm.apply_outcomes(items))
        except (RetryableError, PermanentError) as exc:
            log.warning("outcome.write_failed", payments=len(plans), error=str(exc))
            report.pending.update(p.payment_id for p in plans)
            return set()
        deferred: set[str] = set()
        refused: dict[str, str] = {}
        for (plan, posts), result in zip(items, results, strict=True):
            bound = log.bind(payment_id=plan.payment_id)
            if result.error is None:
                report.changed[plan.payment_id] = plan
                bound.info(
                    _event_name(plan),
                    status=plan.new_status.value if plan.new_status else None,
                    fields=sorted(k for k in plan.change.written() if k != "last_synced_at"),
                    refunds=len(plan.refunds),
                    posts=len(posts),
                )
            elif result.status is WriteStatus.DEFERRED:
                report.pending.add(plan.payment_id)
                deferred.add(plan.payment_id)
                bound.info("outcome.write_deferred", error=result.error)
            else:
                report.failed[plan.payment_id] = refused[plan.payment_id] = result.error or ""
                bound.warning("outcome.write_refused", error=result.error)
        self._say_refused(refused)
        return deferred

    def _say_refused(self, refused: dict[str, str]) -> None:
        """Say on each Payment whose outcome the org refused for good (a validation rule, failing
        automation) why, in the org's words, as the request path does (write_payment_updates): left
        unsaid, the record would show Link Sent while Stripe has the money. The outcome itself is
        written again by the sweep."""
        if not refused:
            return
        said = [
            PaymentUpdate(pid, PaymentChange(sync_error=messages.CRM_REFUSED_UPDATE.format(detail=error)))
            for pid, error in sorted(refused.items())
        ]
        try:
            results: list[WriteResult] = self._retry(lambda: self._crm.update_payments(said))
        except (RetryableError, PermanentError) as exc:
            log.warning("crm.write_failed", records=len(said), error=str(exc))
            return
        for update, result in zip(said, results, strict=True):
            if result.error is None:
                log.warning("crm.refusal_said", payment_id=update.payment_id)
            else:
                log.warning("crm.record_write_failed", record_id=update.payment_id, error=result.error)

    def _settle_deleted(self, payment_ids: set[str], gateway: PaymentsGateway) -> int:
        """Links of Payments staff deleted (this org's recycle bin) turned off; money paid on one said.
        Those not settled are kept for the next sweeps (in this process: after a restart, the error
        log `payment.paid_after_delete` is what is left of one)."""

        def post(notice: StaffNotice) -> ChatterPost | None:
            return self._post(notice) if self._wants(notice) else None

        settled = settle_deleted(payment_ids, gateway, crm=self._crm, retry=self._retry, post=post)
        self._unsettled = (self._unsettled - payment_ids) | settled.unsettled
        if len(self._unsettled) > UNSETTLED_KEPT:
            self._unsettled = set(sorted(self._unsettled)[:UNSETTLED_KEPT])
        return settled.retired

    def _wants(self, notice: StaffNotice) -> bool:
        return self._notices is not None and bool(self._notices.for_kind(notice.kind))

    def _post(self, notice: StaffNotice) -> ChatterPost:
        assert self._notices is not None
        return ChatterPost(project_id=notice.project_id, body=self._notices.render(notice.kind, notice.values))


@dataclass
class _Polled:
    """What one poll has seen so far, shared by its events, reads and writes."""

    newest_id: str | None
    refunds: dict[str, bool]  # Payment id -> whether a refund event (or a staff action) names it
    events: int = 0
    by_intent: dict[str, str] = field(default_factory=dict)  # PaymentIntent id -> Payment id
    handed: set[str] = field(default_factory=set)  # Payments handed to the reads
    halt: threading.Event = field(default_factory=threading.Event)  # the poll is over: page no further
    # Payment id -> when its read from Stripe began (monotonic). Set on the reads' threads; one
    # dict item set or got at a time is atomic in CPython.
    read_began: dict[str, float] = field(default_factory=dict)
    again: set[str] = field(default_factory=set)  # named by an event that came after its read began
    finished: bool = False  # every step of events was handed on, and the cursor may move past them

    def read_begins(self, payment_id: str) -> None:
        self.read_began[payment_id] = time.monotonic()


class _FailureStreak:
    """Failures in a row across threads; a success starts the count again."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._count = 0
        self._lock = threading.Lock()

    def failed(self) -> bool:
        """Count one failure; True once `limit` have come in a row."""
        with self._lock:
            self._count += 1
            return self._count >= self._limit

    def succeeded(self) -> None:
        with self._lock:
            self._count = 0


def _refund_moving(payment: Payment) -> bool:
    return any(r.status in (RefundStatus.PENDING, RefundStatus.REQUESTED) for r in payment.refunds)


def _event_name(plan: OutcomeWrite) -> str:
    status = plan.new_status
    if status is PaymentStatus.PAID:
        return "payment.marked_paid"
    if status is PaymentStatus.PAYMENT_FAILED:
        return "payment.attempt_failed"
    if status is PaymentStatus.DISPUTED:
        return "payment.disputed"
    if status in (PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED) or plan.refunds:
        return "payment.refunds_recorded"
    return "payment.outcome_updated"
