"""Outcomes from events and the sweep, with fakes: order, duplicates, cursors and failures."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.config.email_templates import load_templates
from sync.domain import messages
from sync.domain.errors import RetryableError
from sync.domain.models import (
    AttemptFailure,
    CreatedLink,
    EventBatch,
    PaymentStatus,
    RefundStatus,
    StripeDispute,
    StripeEventRef,
    StripePaymentState,
    StripeRefund,
)
from sync.ports import DeletedPayment
from sync.sandbox.environment import DEFAULT_TEMPLATES
from sync.service.stripe_results import READ_CHUNK, UNREACHABLE_AFTER, OutcomeConfig, OutcomeSync
from tests.unit.factories import T0, payment
from tests.unit.fakes import FakeCrm, FakeStripe, step_of
from tests.unit.test_stripe_setup import setup

IDS = ["pA", "pB", "pC", "pD", "pE"]


def sync_for(
    crm: FakeCrm,
    *,
    reconcile_every: timedelta | None = None,
    notices: bool = True,
    pause=lambda _s: None,
    max_events_per_poll: int = 5000,
    **options,  # stopping, workers
) -> OutcomeSync:
    config = OutcomeConfig(
        lookback=timedelta(days=30), reconcile_every=reconcile_every, max_events_per_poll=max_events_per_poll
    )
    return OutcomeSync(
        crm=crm,
        notices=load_templates(DEFAULT_TEMPLATES).staff_notices if notices else None,
        config=config,
        now=lambda: T0,
        retry=lambda fn: fn(),
        pause=pause,
        **options,
    )


def crm_with_links() -> FakeCrm:
    payments = {
        pid: payment(id=pid, status=PaymentStatus.LINK_SENT, payment_link_id=f"plink_{pid}", link_url="u")
        for pid in IDS
    }
    return FakeCrm(setups=(setup(),), payments=payments)


def paid(pid: str, **kw) -> StripePaymentState:
    return StripePaymentState(
        payment_link_id=f"plink_{pid}",
        currency="usd",
        checkout_session_id=f"cs_{pid}",
        payment_intent_id=f"pi_{pid}",
        charge_id=f"ch_{pid}",
        paid=True,
        amount_paid_minor=2_000_000,
        paid_at=T0,
        receipt_url=f"https://r/{pid}",
        payer="Pat",
        refunds=(),
        **kw,
    )


def failed(pid: str, code: str) -> StripePaymentState:
    return StripePaymentState(
        payment_link_id=f"plink_{pid}",
        payment_intent_id=f"pi_{pid}",
        last_failure=AttemptFailure(code="card_declined", decline_code=code, message=None),
    )


@dataclass
class Step:
    """One thing that happens in Stripe: the link's state afterwards and the events it emits."""

    payment_id: str
    state: StripePaymentState
    events: list[StripeEventRef] = field(default_factory=list)


def _event(n: int, type: str, pid: str, *, with_metadata: bool = True, refund: bool = False) -> StripeEventRef:
    return StripeEventRef(
        id=f"evt_{n:03d}",
        type=type,
        created=n,
        payment_id=pid if with_metadata else None,
        payment_intent_id=f"pi_{pid}",
        refund_related=refund,
    )


def history() -> list[Step]:
    """Declined then paid; paid then refunded in two parts; a refund that fails; a dispute; a decline."""
    re_b1 = StripeRefund(
        id="re_b1", amount_minor=500_000, status="succeeded", reason=None, failure_reason=None, crm_refund_id=None
    )
    re_b2 = re_b1.model_copy(update={"id": "re_b2", "amount_minor": 1_500_000})
    re_c = re_b1.model_copy(update={"id": "re_c", "status": "pending"})
    re_c_failed = re_c.model_copy(update={"status": "failed", "failure_reason": "expired_or_canceled_card"})
    dispute = StripeDispute(id="dp_d", amount_minor=2_000_000, status="needs_response", reason="fraudulent", created=9)
    steps = [
        Step("pA", failed("pA", "generic_decline")),
        Step("pA", paid("pA")),
        Step("pB", paid("pB")),
        Step("pB", paid("pB", amount_refunded_minor=500_000).model_copy(update={"refunds": (re_b1,)})),
        Step("pB", paid("pB", amount_refunded_minor=2_000_000).model_copy(update={"refunds": (re_b1, re_b2)})),
        Step("pC", paid("pC")),
        Step("pC", paid("pC", amount_refunded_minor=500_000).model_copy(update={"refunds": (re_c,)})),
        Step("pC", paid("pC", amount_refunded_minor=0).model_copy(update={"refunds": (re_c_failed,)})),
        Step("pD", paid("pD")),
        Step("pD", paid("pD", disputes=(dispute,))),
        Step("pE", failed("pE", "insufficient_funds")),
    ]
    n = 0
    for step in steps:
        # Each change emits two events; refund and dispute events carry no CRM metadata, as in Stripe.
        kinds = {
            True: [("payment_intent.payment_failed", True, False), ("charge.failed", False, False)],
            False: [("checkout.session.completed", True, False), ("charge.refunded", False, True)],
        }[step.state.last_failure is not None]
        for kind, with_metadata, refund in kinds:
            n += 1
            step.events.append(_event(n, kind, step.payment_id, with_metadata=with_metadata, refund=refund))
    return steps


class QueuedStripe(FakeStripe):
    """Delivers whatever events the test queues next, whatever the cursor says."""

    queue: list[StripeEventRef]

    def events_after(self, cursor, *, max_events) -> EventBatch:
        batch, self.queue = self.queue, []
        return EventBatch(events=tuple(batch), newest_id=batch[-1].id if batch else cursor)

    def events_before(self, older_than, *, since, max_events) -> EventBatch:
        return self.events_after(older_than, max_events=max_events)


def run_history(deliveries: list[list[int]], steps: list[Step]) -> FakeCrm:
    """Apply the steps one by one; after each, deliver the events picked (by index) so far."""
    crm = crm_with_links()
    stripe = QueuedStripe()
    stripe.intents = {f"pi_{pid}": pid for pid in IDS}
    outcomes = sync_for(crm)
    emitted: list[StripeEventRef] = []
    for step, picks in zip(steps, deliveries, strict=True):
        stripe.states[step.state.payment_link_id] = step.state
        emitted.extend(step.events)
        stripe.queue = [emitted[i % len(emitted)] for i in picks]
        outcomes.poll(crm.setups[0], stripe)
    stripe.queue = list(reversed(emitted))  # everything at last, newest first
    outcomes.poll(crm.setups[0], stripe)
    return crm


def view(crm: FakeCrm) -> dict:
    return {
        pid: p.model_dump(exclude={"last_synced_at", "last_modified", "refunds"})
        | {"refunds": sorted((r.stripe_refund_id, r.status, r.amount) for r in p.refunds)}
        for pid, p in crm.payments.items()
    }


def expected_end_state() -> FakeCrm:
    steps = history()
    return run_history([[] for _ in steps], steps)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(min_value=0, max_value=40), max_size=6), min_size=11, max_size=11))
def test_events_late_twice_or_in_any_order_give_the_same_records(deliveries):
    crm = run_history(deliveries, history())
    reference = expected_end_state()
    assert view(crm) == view(reference)
    assert sorted(p.body for p in crm.posts) == sorted(p.body for p in reference.posts)


def test_end_state_is_what_each_story_should_show():
    crm = expected_end_state()
    p = crm.payments
    assert p["pA"].status is PaymentStatus.PAID and p["pA"].receipt_url == "https://r/pA"
    assert p["pB"].status is PaymentStatus.REFUNDED and p["pB"].amount_refunded == 20000
    assert sorted(r.amount for r in p["pB"].refunds) == [5000, 15000]
    assert p["pC"].status is PaymentStatus.PAID and p["pC"].amount_refunded == 0
    assert [r.status for r in p["pC"].refunds] == [RefundStatus.FAILED]
    assert p["pD"].status is PaymentStatus.DISPUTED and p["pD"].dispute_reason == "fraudulent"
    assert p["pE"].status is PaymentStatus.PAYMENT_FAILED and p["pE"].last_failure_code == "insufficient_funds"
    bodies = sorted(post.body for post in crm.posts)
    assert len(bodies) == 5  # paid x4, disputed x1: each told once
    assert sum("disputed" in b for b in bodies) == 1


def test_replaying_every_event_changes_nothing():
    steps = history()
    crm = run_history([[] for _ in steps], steps)
    writes, posts = crm.outcome_writes, len(crm.posts)
    stripe = QueuedStripe()
    stripe.intents = {f"pi_{pid}": pid for pid in IDS}
    for step in steps:
        stripe.states[step.state.payment_link_id] = step.state
    stripe.queue = [e for step in steps for e in step.events] * 2
    sync_for(crm).poll(crm.setups[0], stripe)
    assert (crm.outcome_writes, len(crm.posts)) == (writes, posts)


def test_cursor_moves_only_after_the_events_were_applied():
    crm = crm_with_links()
    stripe = FakeStripe(states={"plink_pA": paid("pA")}, events=[_event(1, "checkout.session.completed", "pA")])
    crm.defer_outcomes_for = {"pA": "UNABLE_TO_LOCK_ROW: locked"}
    outcomes = sync_for(crm)
    report = outcomes.poll(crm.setups[0], stripe)
    assert report.pending == {"pA"} and crm.cursors == []
    crm.defer_outcomes_for = {}
    outcomes.poll(crm.setups[0], stripe)
    assert crm.cursors == ["evt_001"] and crm.payments["pA"].status is PaymentStatus.PAID


def test_a_record_refused_for_good_does_not_hold_the_others_or_the_cursor():
    crm = crm_with_links()
    stripe = FakeStripe(
        states={"plink_pA": paid("pA"), "plink_pB": paid("pB")},
        events=[_event(1, "checkout.session.completed", "pA"), _event(2, "checkout.session.completed", "pB")],
    )
    crm.fail_outcomes_for = {"pA": "FIELD_CUSTOM_VALIDATION_EXCEPTION: blocked"}
    report = sync_for(crm).poll(crm.setups[0], stripe)
    assert crm.payments["pB"].status is PaymentStatus.PAID
    assert report.failed == {"pA": "FIELD_CUSTOM_VALIDATION_EXCEPTION: blocked"}
    assert crm.cursors == ["evt_002"]


def test_an_outcome_the_org_refuses_for_good_is_said_on_the_record_in_the_orgs_words():
    # Issue 23: a rule refusing Paid left the record showing Link Sent, with the money in Stripe
    # and nothing on the record (found by the busy chaos mode).
    crm = crm_with_links()
    stripe = FakeStripe(states={"plink_pA": paid("pA")}, events=[_event(1, "checkout.session.completed", "pA")])
    refusal = "FIELD_CUSTOM_VALIDATION_EXCEPTION: Paid needs the signed completion certificate attached."
    crm.fail_outcomes_for = {"pA": refusal}
    outcomes = sync_for(crm, reconcile_every=timedelta(hours=1))
    outcomes.poll(crm.setups[0], stripe)
    refused = crm.payments["pA"]
    assert refused.status is PaymentStatus.LINK_SENT
    assert refused.sync_error == messages.CRM_REFUSED_UPDATE.format(detail=refusal)

    crm.fail_outcomes_for = {}  # the admin lifts the rule: the sweep writes the outcome
    outcomes.sweep(stripe)
    assert (crm.payments["pA"].status, crm.payments["pA"].sync_error) == (PaymentStatus.PAID, None)


def test_a_lost_cursor_reads_the_window_and_sweeps_open_payments():
    crm = crm_with_links()
    crm.setups = (setup().model_copy(update={"events_cursor": "evt_gone"}),)
    # pE was paid while the worker was away, and its events are past retention: only the sweep sees it.
    stripe = FakeStripe(states={"plink_pE": paid("pE")}, events=[])
    outcomes = sync_for(crm, reconcile_every=timedelta(hours=1))
    report = outcomes.poll(crm.setups[0], stripe)
    assert report.cursor_lost and outcomes.sweep_due()
    outcomes.sweep(stripe)
    assert crm.payments["pE"].status is PaymentStatus.PAID
    assert crm.cursors == [""]  # the lost cursor is dropped; the next poll reads the window
    assert not outcomes.sweep_due()


def test_events_of_payments_made_elsewhere_are_ignored():
    crm = crm_with_links()
    foreign = StripeEventRef(
        id="evt_x",
        type="charge.refunded",
        created=1,
        payment_id=None,
        payment_intent_id="pi_other",
        refund_related=True,
    )
    stripe = FakeStripe(events=[foreign])
    report = sync_for(crm).poll(crm.setups[0], stripe)
    assert report.checked == 0 and not report.changed and crm.cursors == ["evt_x"]


def test_sweep_defers_a_payment_stripe_cannot_answer_and_finishes_the_rest():
    crm = crm_with_links()

    class Flaky(FakeStripe):
        def payment_state(self, link_id, *, with_refunds):
            if link_id == "plink_pA":
                raise RetryableError("Stripe HTTP 503")
            return super().payment_state(link_id, with_refunds=with_refunds)

    stripe = Flaky(states={"plink_pB": paid("pB")})
    report = sync_for(crm).sweep(stripe)
    assert report.pending == {"pA"}
    assert crm.payments["pB"].status is PaymentStatus.PAID
    assert report.checked == len(IDS)


def test_sweep_during_a_stripe_outage_stops_after_a_few_reads_and_sweeps_again_next_cycle():
    crm = crm_with_links()

    class Down(FakeStripe):
        reads = 0

        def payment_state(self, link_id, *, with_refunds):
            Down.reads += 1
            raise RetryableError("Stripe HTTP 503")

    outcomes = sync_for(crm, reconcile_every=timedelta(hours=1))
    report = outcomes.sweep(Down())
    assert Down.reads == UNREACHABLE_AFTER < len(IDS)  # not one retry budget per Payment
    assert report.pending == set(IDS)
    assert outcomes.sweep_due()  # what waited is swept at the next chance, not an hour later


def test_sweep_stops_reading_once_the_worker_is_stopping():
    crm = crm_with_links()
    stopping = [False]

    class Slow(FakeStripe):
        def payment_state(self, link_id, *, with_refunds):
            stopping[0] = True  # SIGTERM arrives during the first read
            return super().payment_state(link_id, with_refunds=with_refunds)

    outcomes = sync_for(crm, notices=False, stopping=lambda: stopping[0])
    report = outcomes.sweep(Slow(states={"plink_pA": paid("pA")}))
    assert report.checked == 1 and crm.payments["pA"].status is PaymentStatus.PAID
    assert report.pending == set(IDS) - {"pA"}


def test_staff_notices_off_means_no_posts_but_the_same_records():
    crm = crm_with_links()
    stripe = FakeStripe(states={"plink_pA": paid("pA")}, events=[_event(1, "checkout.session.completed", "pA")])
    outcomes = sync_for(crm, notices=False)
    outcomes.poll(crm.setups[0], stripe)
    assert crm.payments["pA"].status is PaymentStatus.PAID
    assert crm.posts == []


def test_a_write_refused_for_a_passing_reason_is_re_read_and_retried_a_second_later():
    crm = crm_with_links()
    stripe = FakeStripe(states={"plink_pA": paid("pA")}, events=[_event(1, "checkout.session.completed", "pA")])
    crm.defer_outcomes_for = {"pA": "PRECONDITION_FAILED: changed"}
    pauses: list[float] = []

    reads: list[list[str]] = []

    def read_payments(ids, _read=crm.read_payments):
        reads.append(ids)
        if len(reads) == 2:
            crm.defer_outcomes_for = {}  # the concurrent change is over by the time we read again
        return _read(ids)

    crm.read_payments = read_payments  # type: ignore[method-assign]
    outcomes = sync_for(crm, notices=False, pause=pauses.append)
    report = outcomes.poll(crm.setups[0], stripe)
    assert pauses == [1.0] and reads == [["pA"], ["pA"]]
    assert crm.payments["pA"].status is PaymentStatus.PAID
    assert report.pending == set() and crm.cursors == ["evt_001"]


def test_a_cursor_cleared_on_the_record_mid_run_makes_the_worker_sweep_everything():
    crm = crm_with_links()
    crm.payments["pB"] = crm.payments["pB"].model_copy(update={"status": PaymentStatus.PAID})
    stripe = FakeStripe(states={"plink_pB": paid("pB", amount_refunded_minor=2_000_000)},
                        events=[_event(1, "checkout.session.completed", "pA")])  # fmt: skip
    stripe.states["plink_pA"] = paid("pA")
    outcomes = sync_for(crm, reconcile_every=timedelta(hours=1))
    outcomes.poll(crm.setups[0], stripe)
    outcomes.sweep(stripe)  # the first start's sweep
    assert crm.payments["pB"].status is PaymentStatus.REFUNDED
    crm.payments["pB"] = crm.payments["pB"].model_copy(update={"status": PaymentStatus.PAID})  # drifted
    outcomes.poll(crm.setups[0], stripe)
    assert not outcomes.sweep_due()  # a cursor is held: no sweep before the interval
    cleared = {"events_cursor": None, "last_modified": crm.setups[0].last_modified + timedelta(minutes=1)}
    crm.setups = (crm.setups[0].model_copy(update=cleared),)  # an admin clears it

    outcomes.poll(crm.setups[0], stripe)

    assert outcomes.sweep_due()
    outcomes.sweep(stripe)
    assert crm.payments["pB"].status is PaymentStatus.REFUNDED


def test_the_sweep_deactivates_live_links_their_payment_does_not_name_and_only_those():
    crm = crm_with_links()
    crm.payments["pR"] = payment(id="pR", status=PaymentStatus.REQUESTED)  # its link is being made now
    crm.payments["pC"] = crm.payments["pC"].model_copy(update={"status": PaymentStatus.CANCELED})

    def live(link_id: str) -> CreatedLink:
        return CreatedLink(id=link_id, url=f"https://pay.example/{link_id}", active=True)

    class Account(FakeStripe):
        def active_links(self, after, *, most):
            return step_of([
                ("pA", live("plink_pA")),  # the one on the record
                ("pA", live("plink_pA_lost")),  # made again after Stripe forgot the key: never emailed
                ("pC", live("plink_pC_other")),  # a canceled Payment's stray link
                ("pR", live("plink_pR_new")),  # not written back yet: left alone
                ("a0Zforeign", live("plink_foreign")),  # a Payment this org does not have
            ], after, most=most)  # fmt: skip

    stripe = Account()
    report = sync_for(crm).sweep(stripe)

    assert sorted(stripe.deactivated) == ["plink_pA_lost", "plink_pC_other"]
    assert report.orphans_deactivated == 2


def test_a_deleted_payments_paid_post_the_org_refused_is_told_at_a_later_sweep_though_its_link_is_off():
    # Feed tracking off on the Project: the walk over active links finds the deleted Payment's link
    # once, and turns it off; the post is tried again at each sweep until the org takes it (busy chaos).
    crm = crm_with_links()
    crm.deleted = {"pX": DeletedPayment("pX", "projX", "plink_pX")}
    crm.refuse_posts = True
    link = CreatedLink(id="plink_pX", url="https://pay.example/pX", active=True, payment_id="pX")

    class Account(FakeStripe):
        def active_links(self, after, *, most):
            return step_of([("pX", link)] if "plink_pX" not in self.deactivated else [], after, most=most)

    stripe = Account(existing={"plink_pX": link})
    stripe.states["plink_pX"] = paid("pX")
    outcomes = sync_for(crm)
    outcomes.sweep(stripe)
    assert stripe.deactivated == ["plink_pX"] and crm.posts == []

    outcomes.sweep(stripe)  # still refused: kept
    crm.refuse_posts = False
    outcomes.sweep(stripe)
    outcomes.sweep(stripe)
    [post] = crm.posts
    assert post.project_id == "projX" and stripe.link("plink_pX").deleted_paid_said == "ch_pX"


def test_each_sweep_scans_a_bounded_step_of_active_links_and_the_next_goes_on_from_there(monkeypatch):
    monkeypatch.setattr("sync.service.stripe_results.LINKS_PER_SWEEP", 2)
    crm = crm_with_links()

    def live(link_id: str) -> CreatedLink:
        return CreatedLink(id=link_id, url=f"https://pay.example/{link_id}", active=True)

    # Newest first: two other integrations' links (no Payment id) among three orphans of ours.
    links = [("pA", live("plink_pA_lost")), ("", live("plink_theirs1")), ("pB", live("plink_pB_lost"))]
    links += [("", live("plink_theirs2")), ("pC", live("plink_pC_lost"))]
    asked: list[tuple[str | None, int]] = []

    class Account(FakeStripe):
        def active_links(self, after, *, most):
            asked.append((after, most))
            step = step_of([o for o in links if o[1].id not in self.deactivated], after, most=most)
            return step.model_copy(update={"owned": tuple(o for o in step.owned if o[0])})

    stripe, outcomes = Account(), sync_for(crm)
    retired = [outcomes.sweep(stripe).orphans_deactivated for _ in range(4)]

    assert asked == [(None, 2), ("plink_theirs1", 2), ("plink_theirs2", 2), (None, 2)]
    assert retired == [1, 1, 1, 0] and stripe.deactivated == ["plink_pA_lost", "plink_pB_lost", "plink_pC_lost"]


def test_a_lost_cursor_walks_the_window_newest_first_in_steps_and_applies_it_all(monkeypatch):
    monkeypatch.setattr("sync.service.stripe_results.EVENTS_STEP", 2)
    crm = crm_with_links()
    crm.setups = (setup().model_copy(update={"events_cursor": "evt_gone"}),)
    events = [_event(n, "checkout.session.completed", pid) for n, pid in enumerate(IDS, 1)]
    walked: list[str | None] = []

    class Window(FakeStripe):
        def events_before(self, older_than, *, since, max_events):
            walked.append(older_than)
            return super().events_before(older_than, since=since, max_events=max_events)

    stripe = Window(states={f"plink_{pid}": paid(pid) for pid in IDS}, events=events)
    report = sync_for(crm).poll(crm.setups[0], stripe)

    assert report.cursor_lost
    assert walked == [None, "evt_004", "evt_002"]  # five events, two a step, newest first
    assert all(crm.payments[pid].status is PaymentStatus.PAID for pid in IDS)
    assert crm.cursors == ["evt_005"]  # the newest of the window: the next poll goes on from there


def test_a_payment_pointed_at_another_payments_link_is_read_from_its_own_put_back_and_said():
    crm = crm_with_links()
    crm.payments["pA"] = crm.payments["pA"].model_copy(update={"payment_link_id": "plink_pB"})  # staff's edit
    asked: list[tuple[str, str | None]] = []

    class Account(FakeStripe):
        def own_link(self, payment_id, *, session_id, intent_id):
            asked.append((payment_id, session_id))
            return CreatedLink(id=f"plink_{payment_id}", url=f"https://pay/{payment_id}", active=False)

    states = {"plink_pA": paid("pA", owners=frozenset({"pA"})), "plink_pB": paid("pB", owners=frozenset({"pB"}))}
    stripe = Account(states=states)
    sync_for(crm).sweep(stripe)

    after = crm.payments["pA"]
    assert asked == [("pA", None)]
    assert (after.payment_link_id, after.link_url, after.charge_id) == ("plink_pA", "https://pay/pA", "ch_pA")
    assert after.status is PaymentStatus.PAID and "Payment Link Id" in (after.sync_log or "")
    assert any("plink_pB" in str(post) for post in crm.posts)


def test_a_payment_pointed_at_another_payments_link_with_none_of_its_own_in_stripe_is_said_not_guessed():
    crm = crm_with_links()
    crm.payments["pA"] = crm.payments["pA"].model_copy(update={"payment_link_id": "plink_pB"})

    class Account(FakeStripe):
        def own_link(self, payment_id, *, session_id, intent_id):
            return None

    stripe = Account(states={"plink_pB": paid("pB", owners=frozenset({"pB"}))})
    sync_for(crm).sweep(stripe)

    after = crm.payments["pA"]
    assert after.payment_link_id == "plink_pB" and after.charge_id is None and after.status is PaymentStatus.LINK_SENT
    assert "belongs to another Payment" in (after.sync_error or "")


def test_a_chunk_is_written_while_the_next_is_read_from_stripe():
    # Reads of the second chunk wait until the first chunk has been written: were the writes held
    # until every read was done, they would wait out their timeout instead.
    ids = [f"p{n:03}" for n in range(2 * READ_CHUNK)]
    payments = {
        pid: payment(id=pid, status=PaymentStatus.LINK_SENT, payment_link_id=f"plink_{pid}", link_url="u")
        for pid in ids
    }
    crm = FakeCrm(setups=(setup(),), payments=payments)
    first_written = threading.Event()
    waited_in_vain: list[str] = []

    def apply_outcomes(items, _apply=crm.apply_outcomes):
        first_written.set()
        return _apply(items)

    crm.apply_outcomes = apply_outcomes  # type: ignore[method-assign]

    class Paced(FakeStripe):
        def payment_state(self, link_id, *, with_refunds):
            if link_id >= f"plink_{ids[READ_CHUNK]}" and not first_written.is_set():
                if waited_in_vain or not first_written.wait(timeout=3):
                    waited_in_vain.append(link_id)
            return paid(link_id.removeprefix("plink_"))

    outcomes = sync_for(crm, notices=False, workers=4)
    report = outcomes.poll(setup(), Paced(), also=ids)  # one pass over all of them, as after events

    assert waited_in_vain == []
    assert report.checked == len(ids) and not report.pending
    assert all(crm.payments[pid].status is PaymentStatus.PAID for pid in ids)


# --- a poll streams its events -------------------------------------------------------------------
# The cursor the Setup holds in these tests: an event of a payment made elsewhere.
START = StripeEventRef(id="evt_000", type="charge.succeeded", created=0, payment_id=None, payment_intent_id=None)


def crm_at_cursor() -> FakeCrm:
    crm = crm_with_links()
    crm.setups = (setup().model_copy(update={"events_cursor": START.id}),)
    return crm


def paid_events(pids: list[str]) -> list[StripeEventRef]:
    return [START] + [_event(n, "checkout.session.completed", pid) for n, pid in enumerate(pids, start=1)]


class SteppedStripe(FakeStripe):
    """Runs `before_step(n)` as the nth step of events is asked for (1 is the first, either
    direction), `on_read(link_id)` as each read begins."""

    before_step: Callable[[int], None] = staticmethod(lambda _n: None)
    on_read: Callable[[str], None] = staticmethod(lambda _link_id: None)
    steps: int = 0

    def events_after(self, cursor, *, max_events) -> EventBatch:
        self.steps += 1
        self.before_step(self.steps)
        return super().events_after(cursor, max_events=max_events)

    def events_before(self, older_than, *, since, max_events) -> EventBatch:
        self.steps += 1
        self.before_step(self.steps)
        return super().events_before(older_than, since=since, max_events=max_events)

    def payment_state(self, link_id, *, with_refunds):
        self.on_read(link_id)
        return super().payment_state(link_id, with_refunds=with_refunds)


@pytest.fixture
def small_steps(monkeypatch):
    monkeypatch.setattr("sync.service.stripe_results.EVENTS_STEP", 2)


@pytest.mark.parametrize("cursor", [START.id, None], ids=["after_a_cursor", "no_cursor"])
def test_reads_begin_before_the_later_steps_of_events_are_paged(small_steps, cursor):
    # The second step's page waits for the first read: were every step paged before any read, it
    # would wait out its timeout instead. Without a cursor the window is walked newest first, and
    # whole: the poll's most (3 here) does not cut it, as there is no other end to resume from.
    crm = crm_at_cursor() if cursor else crm_with_links()
    first_read = threading.Event()
    waited_in_vain: list[int] = []

    def before_step(n: int) -> None:
        if n == 2 and not first_read.wait(timeout=3):
            waited_in_vain.append(n)

    events = paid_events(IDS) if cursor else paid_events(IDS)[1:]
    stripe = SteppedStripe(states={f"plink_{pid}": paid(pid) for pid in IDS}, events=events)
    stripe.before_step, stripe.on_read = before_step, lambda _link: first_read.set()
    report = sync_for(crm, max_events_per_poll=5 if cursor else 3).poll(crm.setups[0], stripe)

    assert waited_in_vain == [] and stripe.steps == 3  # 5 events, 2 a step
    assert all(p.status is PaymentStatus.PAID for p in crm.payments.values())
    assert stripe.state_reads == len(IDS) and not report.more
    assert crm.cursors == ["evt_005"]


def test_a_payment_named_in_several_steps_is_read_once_when_all_came_before_its_read(small_steps):
    crm = crm_at_cursor()
    events = paid_events(["pA", "pB", "pA", "pC", "pA"])  # pA in all three steps
    stripe = SteppedStripe(states={f"plink_{pid}": paid(pid) for pid in IDS}, events=events)
    sync_for(crm).poll(crm.setups[0], stripe)
    assert stripe.state_reads == 3 and crm.cursors == ["evt_005"]


def test_a_payment_named_again_after_its_read_began_is_read_once_more(small_steps):
    # pA is read as paid; then it is refunded, and the refund's event comes in a later step. Its
    # first read predates the refund, so the poll must read it again before moving the cursor.
    crm = crm_at_cursor()
    refund = StripeRefund(
        id="re_a", amount_minor=2_000_000, status="succeeded", reason=None, failure_reason=None, crm_refund_id=None
    )
    refunded = paid("pA", amount_refunded_minor=2_000_000).model_copy(update={"refunds": (refund,)})
    events = [
        *paid_events(["pA", "pB"]),
        _event(3, "checkout.session.completed", "pC"),
        _event(4, "charge.refunded", "pA", refund=True),
    ]
    read_once = threading.Event()

    def on_read(link_id: str) -> None:
        if link_id == "plink_pA" and not read_once.is_set():
            read_once.set()

    def before_step(n: int) -> None:
        if n == 2:  # the refund happens after pA's first read began, before its event is paged
            assert read_once.wait(timeout=3)

    stripe = SteppedStripe(states={f"plink_{pid}": paid(pid) for pid in IDS}, events=events)
    stripe.on_read, stripe.before_step = on_read, before_step

    def payment_state(link_id, *, with_refunds, _read=stripe.payment_state):
        state = _read(link_id, with_refunds=with_refunds)
        if link_id == "plink_pA":
            stripe.states["plink_pA"] = refunded
        return state

    stripe.payment_state = payment_state  # type: ignore[method-assign]
    sync_for(crm).poll(crm.setups[0], stripe)

    assert crm.payments["pA"].status is PaymentStatus.REFUNDED
    assert stripe.state_reads == 4  # pA twice, pB and pC once
    assert crm.cursors == ["evt_004"]


def test_a_poll_stops_at_its_most_events_across_steps_and_says_more_wait(small_steps):
    crm = crm_at_cursor()
    stripe = SteppedStripe(states={f"plink_{pid}": paid(pid) for pid in IDS}, events=paid_events(IDS))
    outcomes = sync_for(crm, max_events_per_poll=3)
    first = outcomes.poll(crm.setups[0], stripe)
    assert first.more and crm.cursors == ["evt_003"] and stripe.steps == 2  # 2 events, then the 1 left of 3
    second = outcomes.poll(crm.setups[0], stripe)
    assert not second.more and crm.cursors == ["evt_003", "evt_005"]
    assert all(p.status is PaymentStatus.PAID for p in crm.payments.values())


def test_a_worker_stopping_mid_poll_does_not_move_the_cursor_past_payments_not_read(small_steps):
    crm = crm_at_cursor()
    stopping = threading.Event()
    stripe = SteppedStripe(states={f"plink_{pid}": paid(pid) for pid in IDS}, events=paid_events(IDS))
    stripe.on_read = lambda _link: stopping.set()  # SIGTERM during the first read
    report = sync_for(crm, stopping=stopping.is_set).poll(crm.setups[0], stripe)
    applied = {pid for pid, p in crm.payments.items() if p.status is PaymentStatus.PAID}
    passed = [e.payment_id for e in stripe.events if crm.cursors and e.id <= crm.cursors[-1]]
    assert applied and set(passed) <= applied
    assert applied != set(IDS) and report.pending | applied >= {"pA", "pB"}


def test_a_refund_event_that_came_as_the_payments_read_began_gets_its_refunds_read(small_steps):
    # The refund's event (no CRM metadata, as in Stripe) has arrived, but while its Payment is being
    # looked up pA's read begins without refunds. The poll must see that and read pA again.
    crm = crm_at_cursor()
    refund = StripeRefund(
        id="re_a", amount_minor=500_000, status="succeeded", reason=None, failure_reason=None, crm_refund_id=None
    )
    state = paid("pA", amount_refunded_minor=500_000).model_copy(update={"refunds": (refund,)})
    completed = StripeEventRef(
        id="evt_001", type="checkout.session.completed", created=1, payment_id="pA", payment_intent_id=None
    )
    events = [
        START,
        completed,
        _event(2, "charge.succeeded", "pB"),
        _event(3, "charge.refunded", "pA", with_metadata=False, refund=True),
    ]
    read_without_refunds = threading.Event()

    class Racing(SteppedStripe):
        def payment_state(self, link_id, *, with_refunds):
            if link_id == "plink_pA" and not with_refunds:
                read_without_refunds.set()
            return super().payment_state(link_id, with_refunds=with_refunds)

        def payment_id_of_intent(self, payment_intent_id):
            assert read_without_refunds.wait(timeout=3)
            return super().payment_id_of_intent(payment_intent_id)

    stripe = Racing(states={"plink_pA": state, "plink_pB": paid("pB")}, events=events, intents={"pi_pA": "pA"})
    sync_for(crm).poll(crm.setups[0], stripe)

    assert [r.stripe_refund_id for r in crm.payments["pA"].refunds] == ["re_a"]
    assert crm.payments["pA"].status is PaymentStatus.PARTIALLY_REFUNDED
    assert crm.cursors == ["evt_003"]


def test_a_walk_through_the_window_cut_short_leaves_the_cursor_as_it_was(small_steps):
    # The worker is told to stop while the window's second step is paged; the reads (which would
    # hold the cursor on their own) are kept from seeing it, so only the walk can tell.
    crm = crm_with_links()
    told = threading.Event()
    stripe = SteppedStripe(states={f"plink_{pid}": paid(pid) for pid in IDS}, events=paid_events(IDS)[1:])
    stripe.before_step = lambda n: told.set() if n == 2 else None

    def stopping() -> bool:
        return told.is_set() and threading.current_thread().name == "events"

    sync_for(crm, stopping=stopping).poll(crm.setups[0], stripe)
    assert stripe.steps == 2  # the oldest event was never paged
    assert crm.cursors == []  # so the newest may not become the cursor: the next start walks it again


# --- Stripe ids on the record are claims (invariant 7) ----------------------------------------------
def test_a_link_another_payment_paid_is_never_recorded_on_the_payment_that_names_it():
    """Attack 3: pA's Payment Link Id edited to pB's, which pB's customer paid."""
    crm = crm_with_links()
    crm.payments["pA"] = crm.payments["pA"].model_copy(update={"payment_link_id": "plink_pB"})
    stripe = FakeStripe(states={"plink_pB": paid("pB", owners=frozenset({"pB"}))})

    sync_for(crm).sweep(stripe)
    sync_for(crm).sweep(stripe)

    edited, owner = crm.payments["pA"], crm.payments["pB"]
    assert edited.status is PaymentStatus.LINK_SENT and edited.charge_id is None
    assert "belongs to another Payment" in edited.sync_error
    assert owner.status is PaymentStatus.PAID and owner.charge_id == "ch_pB"
    assert [p.project_id for p in crm.posts if "belongs to another Payment" in p.body] == [edited.project_id]
    assert not any("received" in p.body and p.project_id == edited.project_id and "pA" in p.body for p in crm.posts)


def test_edited_stripe_fields_are_put_back_and_said():
    """Attack 1's trace: Charge Id and Amount Paid typed on a paid Payment."""
    crm = crm_with_links()
    sync_for(crm).sweep(FakeStripe(states={"plink_pA": paid("pA")}))
    crm.payments["pA"] = crm.payments["pA"].model_copy(update={"charge_id": "ch_other", "amount_paid": Decimal("5000")})

    sync_for(crm).sweep(FakeStripe(states={"plink_pA": paid("pA")}), include_settled=True)

    restored = crm.payments["pA"]
    assert restored.charge_id == "ch_pA" and restored.amount_paid == Decimal("20000")
    assert "Charge Id, Amount Paid: did not match Stripe" in restored.sync_log


def test_an_outcome_written_on_a_paid_payment_puts_back_an_amount_staff_edited():
    # The edit would no longer show as another's once the worker has written the record (the
    # staff-action read looks for paid Payments last changed by someone else): put back now or never.
    recorded = dict(
        status=PaymentStatus.PAID, payment_link_id="plink_pA", link_url="u", amount_paid=Decimal("20000.00"),
        paid_at=T0, charge_id="ch_pA", checkout_session_id="cs_pA", payment_intent_id="pi_pA",
        receipt_url="https://r/pA", amount_refunded=Decimal("0"),
    )  # fmt: skip
    crm = FakeCrm(setups=(setup(),), payments={"pA": payment(id="pA", amount=Decimal("20025.00"), **recorded)})
    stripe = FakeStripe(states={"plink_pA": paid("pA", amount_refunded_minor=100_000)})  # refunded in the Dashboard

    sync_for(crm).sweep(stripe, include_settled=True)

    after = crm.payments["pA"]
    assert (after.status, after.amount_refunded) == (PaymentStatus.PARTIALLY_REFUNDED, Decimal("1000.00"))
    assert after.amount == Decimal("20000.00")
    assert after.sync_error == messages.AMOUNT_EDIT_REFUSED_PAID.format(charged="$20,000.00")
    assert "Amount put back to $20,000.00: it had been changed to $20,025.00 after the payment." in after.sync_log


def test_a_poll_with_the_setup_read_before_its_last_save_walks_on_from_the_cursor_it_saved():
    # The events loop polls every few seconds with the Setup the CRM cycle read up to a poll
    # interval ago: it must not walk the same events again, nor save the cursor again.
    crm = crm_with_links()
    stripe = FakeStripe(events=[_event(1, "checkout.session.completed", "pA")], states={"plink_pA": paid("pA")})
    outcomes = sync_for(crm)
    stale = crm.setups[0]
    outcomes.poll(stale, stripe)
    assert crm.cursors == ["evt_001"]

    again = outcomes.poll(stale, stripe)

    assert crm.cursors == ["evt_001"] and not again.changed
