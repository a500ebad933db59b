"""The CRM side of outcomes against the org emulator: reads with Refunds, graphs, upserts, posts, cursor."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sync.adapters.salesforce.gateway import SalesforceCrm
from sync.domain.changes import PaymentChange, RefundChange
from sync.domain.models import PaymentStatus, RefundSource, RefundStatus
from sync.domain.stripe_results import OutcomeWrite, RefundWrite
from sync.ports import ChatterPost, WriteStatus
from sync.sandbox.environment import Sandbox
from tests.integration.test_salesforce_adapter import api_calls_during

PAID_AT = datetime(2026, 11, 26, 16, 0, 5, tzinfo=UTC)


def _link_sent(sandbox: Sandbox, project: str, n: int = 1) -> list[str]:
    return [
        sandbox.create_payment(
            project,
            type="deposit",
            amount="5000.00",
            currency="usd",
            status="link_sent",
            payment_link_id=f"plink_{i}",
            link_url=f"https://pay/{i}",
        )
        for i in range(n)
    ]


def _paid(payment_id: str, last_modified: datetime, *, refunds=()) -> OutcomeWrite:
    return OutcomeWrite(
        payment_id=payment_id,
        payment_last_modified=last_modified,
        change=PaymentChange(
            status=PaymentStatus.PARTIALLY_REFUNDED if refunds else PaymentStatus.PAID,
            amount_paid=Decimal("5000.00"),
            paid_at=PAID_AT,
            receipt_url="https://receipts/ch_1",
            charge_id="ch_1",
            amount_refunded=Decimal("1250.50") if refunds else Decimal(0),
        ),
        refunds=tuple(refunds),
    )


def test_outcome_status_refunds_and_post_are_written_together_in_one_call(sandbox: Sandbox, crm: SalesforceCrm):
    project = sandbox.add_project("Kitchen", customer_email="pat@example.com")
    [pid] = _link_sent(sandbox, project)
    [payment] = crm.read_payments([pid])
    dashboard = RefundWrite(
        stripe_refund_id="re_1",
        record_id=None,
        change=RefundChange(
            status=RefundStatus.SUCCEEDED,
            stripe_refund_id="re_1",
            failure_reason=None,
            payment=pid,
            amount=Decimal("1250.50"),
            reason=None,
            source=RefundSource.STRIPE_DASHBOARD,
        ),
    )
    write = _paid(pid, payment.last_modified, refunds=[dashboard])
    post = ChatterPost(project_id=project, body="Deposit of $5,000.00 received from Pat for Kitchen.")

    results = []
    calls = api_calls_during(sandbox, lambda: results.extend(crm.apply_outcomes([(write, (post,))])))

    assert calls == {"POST composite/graph": 1}
    assert results[0].error is None
    [after] = crm.read_payments([pid])
    assert after.status is PaymentStatus.PARTIALLY_REFUNDED
    assert (after.amount_paid, after.amount_refunded, after.paid_at) == (Decimal("5000"), Decimal("1250.5"), PAID_AT)
    [refund] = after.refunds
    assert (refund.amount, refund.status, refund.source, refund.stripe_refund_id) == (
        Decimal("1250.5"),
        RefundStatus.SUCCEEDED,
        RefundSource.STRIPE_DASHBOARD,
        "re_1",
    )
    assert [(p["parent_id"], p["body"]) for p in sandbox.staff_posts()] == [(project, post.body)]

    # The same refund seen again updates its one record (upsert by the Stripe refund id).
    failed = RefundWrite("re_1", None, dashboard.change | RefundChange(status=RefundStatus.FAILED, failure_reason="x"))
    [result] = crm.apply_outcomes(
        [(OutcomeWrite(pid, after.last_modified, PaymentChange(amount_refunded=Decimal(0)), (failed,)), ())]
    )
    assert result.error is None
    assert [(r["stripe_refund_id"], r["status"]) for r in sandbox.refunds()] == [("re_1", "failed")]


def test_payment_changed_since_it_was_read_rolls_back_its_graph_post_included(sandbox: Sandbox, crm: SalesforceCrm):
    project = sandbox.add_project("Porch", customer_email="pat@example.com")
    [pid] = _link_sent(sandbox, project)
    [payment] = crm.read_payments([pid])
    sandbox.clock.advance(timedelta(seconds=2))
    sandbox.update_payment(pid, description="edited by staff")

    [result] = crm.apply_outcomes([(_paid(pid, payment.last_modified), (ChatterPost(project, "paid"),))])

    assert result.status is WriteStatus.DEFERRED and result.error
    assert sandbox.payment(pid)["status"] == "link_sent"
    assert [(p["parent_id"], p["body"]) for p in sandbox.staff_posts()] == []


def test_one_refused_graph_does_not_stop_the_others(sandbox: Sandbox, crm: SalesforceCrm):
    project = sandbox.add_project("Deck", customer_email="pat@example.com")
    ids = _link_sent(sandbox, project, 3)
    payments = {p.id: p for p in crm.read_payments(ids)}
    sandbox.salesforce.delete_record(sandbox.mapping.payment.object, ids[1])

    results = crm.apply_outcomes([(_paid(i, payments[i].last_modified), ()) for i in ids])

    assert [r.error is None for r in results] == [True, False, True]
    assert {sandbox.payment(i)["status"] for i in (ids[0], ids[2])} == {"paid"}


def test_reads_by_id_and_by_payment_intent_and_the_reconcile_list(sandbox: Sandbox, crm: SalesforceCrm):
    project = sandbox.add_project("Attic", customer_email="pat@example.com")
    sent = _link_sent(sandbox, project, 2)
    paid = sandbox.create_payment(
        project, type="final", amount="10.00", status="paid", payment_link_id="plink_p", payment_intent_id="pi_paid"
    )
    requested = sandbox.create_payment(project, type="custom", amount="10.00")

    assert {p.id for p in crm.read_payments([*sent, paid, "a02000000000000XXX"])} == {*sent, paid}
    assert crm.payment_ids_for_intents(["pi_paid", "pi_unknown"]) == {"pi_paid": paid}
    open_ids = [p.id for p in crm.iter_payments_to_reconcile([PaymentStatus.LINK_SENT, PaymentStatus.PAYMENT_FAILED])]
    assert open_ids == sent
    everything = {p.id for p in crm.iter_payments_to_reconcile([s for s in PaymentStatus if s.value != "unknown"])}
    assert everything == {*sent, paid} and requested not in everything  # no link: nothing to reconcile


def test_payment_with_a_pending_refund_is_reconciled_whatever_its_status(sandbox: Sandbox, crm: SalesforceCrm):
    project = sandbox.add_project("Garage", customer_email="pat@example.com")
    paid = sandbox.create_payment(project, type="final", amount="10.00", status="paid", payment_link_id="plink_p")
    r = sandbox.mapping.refund
    sandbox.salesforce.create_record(
        r.object, {r.fields.payment: paid, r.fields.amount: "5.00", r.fields.status: r.status.pending}
    )
    found = list(crm.iter_payments_to_reconcile([PaymentStatus.LINK_SENT]))
    assert [p.id for p in found] == [paid]
    assert [x.status for x in found[0].refunds] == [RefundStatus.PENDING]


def test_events_cursor_is_saved_on_the_setup_and_read_back(sandbox: Sandbox, crm: SalesforceCrm):
    setup = sandbox.add_setup()
    crm.save_events_cursor(setup, "evt_123")
    [read] = crm.read_active_setups()
    assert read.events_cursor == "evt_123"


def test_a_payment_read_in_the_second_it_changed_is_left_for_the_next_cycle(sandbox: Sandbox, crm: SalesforceCrm):
    # If-Unmodified-Since works to the second: a concurrent write in that same second would pass it.
    project = sandbox.add_project("Shed", customer_email="pat@example.com")
    [pid] = _link_sent(sandbox, project)
    [payment] = crm.read_payments([pid])
    assert payment.read_at is not None
    same_second = dataclasses.replace(
        _paid(pid, payment.last_modified), payment_read_at=payment.last_modified.replace(microsecond=999_000)
    )
    later = dataclasses.replace(
        _paid(pid, payment.last_modified), payment_read_at=payment.last_modified + timedelta(seconds=1)
    )

    results = []
    calls = api_calls_during(sandbox, lambda: results.extend(crm.apply_outcomes([(same_second, ())])))

    assert calls == {} and results[0].status is WriteStatus.DEFERRED
    assert sandbox.payment(pid)["status"] == "link_sent"
    [written] = crm.apply_outcomes([(later, ())])
    assert written.error is None and sandbox.payment(pid)["status"] == "paid"


def test_records_carry_the_orgs_own_time_of_serving_them(sandbox: Sandbox, crm: SalesforceCrm):
    project = sandbox.add_project("Barn", customer_email="pat@example.com")
    [pid] = _link_sent(sandbox, project)
    sandbox.clock.advance(timedelta(days=3))  # the org's clock, not the host's, dates its answers
    [payment] = crm.read_payments([pid])
    assert payment.read_at is not None
    assert abs((payment.read_at - sandbox.clock.now()).total_seconds()) < 5


def test_graphs_with_many_refunds_are_split_under_the_500_node_limit(sandbox: Sandbox, crm: SalesforceCrm):
    # 75 Payments with 10 Dashboard refunds each: 825 nodes. In one call Salesforce refuses it all
    # (LIMIT_EXCEEDED), and every poll after would send the same call: the cursor never moves.
    project = sandbox.add_project("Kitchen", customer_email="pat@example.com")
    ids = _link_sent(sandbox, project, n=75)
    payments = crm.read_payments(ids)
    writes = []
    for payment in payments:
        refunds = [
            RefundWrite(
                stripe_refund_id=f"re_{payment.id}_{k}",
                record_id=None,
                change=RefundChange(
                    status=RefundStatus.SUCCEEDED,
                    stripe_refund_id=f"re_{payment.id}_{k}",
                    failure_reason=None,
                    payment=payment.id,
                    amount=Decimal("10.00"),
                    reason=None,
                    source=RefundSource.STRIPE_DASHBOARD,
                ),
            )
            for k in range(10)
        ]
        write = _paid(payment.id, payment.last_modified, refunds=refunds)
        writes.append(dataclasses.replace(write, payment_read_at=payment.last_modified + timedelta(seconds=1)))

    results = []
    calls = api_calls_during(sandbox, lambda: results.extend(crm.apply_outcomes([(w, ()) for w in writes])))

    assert [r.error for r in results] == [None] * 75
    assert calls == {"POST composite/graph": 2}  # 45 graphs of 11 nodes fit in 500
    assert all(p.status is PaymentStatus.PARTIALLY_REFUNDED and len(p.refunds) == 10 for p in crm.read_payments(ids))
