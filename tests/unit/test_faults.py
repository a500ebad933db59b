"""One record the worker cannot read or plan is said on that record, and every other record goes on."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from sync.adapters.salesforce.records import RecordCodec, UnreadableField, unreadable_problem
from sync.config.mapping import load_mapping
from sync.domain import messages
from sync.domain import requests as decide_module
from sync.domain.actions import CreatePayment
from sync.domain.models import CrmSnapshot, PaymentStatus, ProjectRequest
from sync.domain.requests import Policy, decide
from sync.service import staff_actions as staff_sync
from sync.service.record_faults import fault_updates, planned
from sync.service.runner import next_window
from tests.unit.factories import T0, payment
from tests.unit.fakes import FakeStripe
from tests.unit.test_runner import build, crm_with

ROOT = Path(__file__).resolve().parents[2]
CODEC = RecordCodec(load_mapping(ROOT / "mappings/default.toml"))


def _payment_record(**values: object) -> dict[str, object]:
    return {
        "Id": "a02000000000001AAA",
        "LastModifiedDate": "2026-11-26T15:03:09.000+0000",
        "Status__c": "Paid",
        "Amount__c": Decimal("100.00"),
        **values,
    }


@pytest.mark.parametrize(
    ("values", "field", "kind"),
    [
        pytest.param({"Amount__c": "12 dollars"}, "Amount__c", "number", id="amount-as-text"),
        pytest.param({"Amount_Paid__c": "NaN"}, "Amount_Paid__c", "number", id="amount-nan"),
        pytest.param({"Paid_At__c": "yesterday"}, "Paid_At__c", "date and time", id="date-unreadable"),
        pytest.param({"Times_Sent__c": "twice"}, "Times_Sent__c", "number", id="count-as-text"),
        pytest.param(
            {"Refunds__r": {"records": [{"Id": "a03X", "Amount__c": "ten"}], "done": True}},
            "Amount__c of Refund a03X",
            "number",
            id="refund-amount",
        ),
    ],
)
def test_a_field_the_codec_cannot_read_is_named_in_a_sentence(values, field, kind):
    with pytest.raises(UnreadableField) as raised:
        CODEC.payment(_payment_record(**values))

    assert (raised.value.field, raised.value.kind) == (field, kind)
    problem = unreadable_problem(raised.value)
    assert field in problem and f"not a {kind}" in problem
    assert "Traceback" not in problem and "Decimal(" not in problem and "\n" not in problem


def test_an_unreadable_value_quoted_back_is_short_and_masked():
    problem = unreadable_problem(UnreadableField(field="Amount__c", value="sk_live_" + "x" * 30, kind="number"))
    assert "sk_live_" not in problem and len(problem) < 300


def test_an_unreadable_flagged_project_becomes_an_error_payment_that_says_which_field():
    rec = {
        "Id": "a01000000000001AAA",
        "Name": "Kitchen",
        "LastModifiedDate": "2026-11-26T15:03:09.000+0000",
        "Request_Payment__c": True,
        "Requested_Amount__c": "12 dollars",
        "Requested_At__c": "2026-11-26T15:00:00.000+0000",
    }
    with pytest.raises(UnreadableField) as raised:
        CODEC.project_request(rec)
    request = CODEC.unreadable_project(rec, unreadable_problem(raised.value))

    [action] = decide(CrmSnapshot(setups=(), project_requests=(request,), requested_payments=()), policy=Policy())

    assert isinstance(action, CreatePayment)
    assert action.draft.status is PaymentStatus.ERROR
    assert "Requested_Amount__c" in (action.draft.sync_error or "")
    assert action.draft.request_key == "a01000000000001AAA:20261126T150000.000Z"  # the click's own key


def test_an_undecodable_payment_gets_a_sync_error_and_the_others_are_sent():
    crm = crm_with("p1", "p2", "p3")
    problem = unreadable_problem(UnreadableField(field="Amount__c", value="12 dollars", kind="number"))
    crm.undecodable = {"p2": problem}

    report = build(crm, FakeStripe()).run_cycle()

    assert crm.payments["p1"].status is PaymentStatus.LINK_SENT
    assert crm.payments["p3"].status is PaymentStatus.LINK_SENT
    assert crm.payments["p2"].sync_error == problem
    assert crm.payments["p2"].status is PaymentStatus.REQUESTED  # its status is not the worker's guess
    assert report.outcomes["p2"] == "error"


def test_a_fault_already_said_on_the_record_is_not_written_again():
    crm = crm_with("p2")
    crm.undecodable = {"p2": "The worker cannot read Amount__c."}
    build(crm, FakeStripe()).run_cycle()
    said = crm.payments["p2"]

    build(crm, FakeStripe()).run_cycle()

    assert crm.payments["p2"] is said  # no second write


def test_a_payment_whose_planning_raises_says_so_and_the_others_are_sent(monkeypatch):
    real = decide_module.plan_payment

    def plan(p, *, policy):
        if p.id == "p2":
            raise ZeroDivisionError("a bug of ours")
        return real(p, policy=policy)

    monkeypatch.setattr(decide_module, "plan_payment", plan)
    crm = crm_with("p1", "p2", "p3")

    with capture_logs() as logs:
        report = build(crm, FakeStripe()).run_cycle()

    assert crm.payments["p1"].status is PaymentStatus.LINK_SENT
    assert crm.payments["p3"].status is PaymentStatus.LINK_SENT
    p2 = crm.payments["p2"]
    assert p2.status is PaymentStatus.REQUESTED
    assert p2.sync_error == messages.PLANNING_FAILED.format(error_type="ZeroDivisionError")
    assert "a bug of ours" not in p2.sync_error
    assert report.outcomes["p2"] == "error"
    [event] = [e for e in logs if e["event"] == "payment.planning_failed"]
    assert event["payment_id"] == "p2" and event["error_type"] == "ZeroDivisionError"


def test_a_flagged_project_whose_planning_raises_is_recorded_as_an_error_payment(monkeypatch):
    def plan(request, *, policy):
        raise KeyError("boom")

    monkeypatch.setattr(decide_module, "plan_intake", plan)
    request = ProjectRequest(
        project_id="a01X",
        project_name="Kitchen",
        customer_email="pat@example.com",
        contract_amount=None,
        currency="usd",
        requested_amount=Decimal("10.00"),
        request_type=None,
        request_type_raw=None,
        description=None,
        requested_at=T0,
        last_modified=T0,
    )
    fine = payment(id="p1")

    actions = decide(CrmSnapshot(setups=(), project_requests=(request,), requested_payments=(fine,)), policy=Policy())

    [intake] = [a for a in actions if isinstance(a, CreatePayment)]
    assert intake.draft.status is PaymentStatus.ERROR
    assert intake.draft.sync_error == messages.PLANNING_FAILED.format(error_type="KeyError")
    assert any(getattr(a, "payment_id", None) == "p1" for a in actions)  # the other record is planned


def test_a_staff_action_whose_planning_raises_says_so_and_the_others_go(monkeypatch):
    real = staff_sync.plan_staff_action

    def plan(p, **kw):
        if p.id == "p2":
            raise ValueError("a value nobody foresaw")
        return real(p, **kw)

    monkeypatch.setattr(staff_sync, "plan_staff_action", plan)
    crm = crm_with("p1", "p2", status=PaymentStatus.LINK_SENT, link_url="https://pay/x", payment_link_id=None)
    crm.payments = {i: p.model_copy(update={"cancel_requested": True}) for i, p in crm.payments.items()}

    build(crm, FakeStripe()).run_cycle()

    assert crm.payments["p2"].sync_error == messages.PLANNING_FAILED.format(error_type="ValueError")
    assert crm.payments["p1"].status is PaymentStatus.CANCELED


def test_planned_returns_the_plan_or_keeps_a_fault():
    faults = []
    assert planned("p1", lambda: 3, faults=faults) == 3
    assert planned("p2", lambda: 1 // 0, faults=faults, sync_error="old") is None
    [fault] = faults
    assert fault.record_id == "p2" and fault.sync_error == "old"
    assert [u.payment_id for u in fault_updates(faults, now=T0)] == ["p2"]


def test_an_undecodable_last_row_still_counts_for_the_awaiting_window():
    rows = tuple(payment(id=f"p{i}", last_modified=T0 + timedelta(seconds=i)) for i in range(2))
    last = (T0 + timedelta(seconds=9), "p9")  # the batch's last row, which could not be decoded
    snapshot = CrmSnapshot(
        setups=(), project_requests=(), requested_payments=(), action_payments=rows, action_rows=3, action_last=last
    )

    assert next_window(None, snapshot, batch_size=3, fallback_now=T0) == last
