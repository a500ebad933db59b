"""Stripe ids on a CRM record are claims: whose a Stripe object is, and which record values were edited."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from sync.config.mapping import PaymentFields, worker_owned_fields
from sync.domain import messages, ownership
from sync.domain.changes import PaymentChange
from sync.domain.models import CreatedLink, PaymentStatus, StripePaymentState
from sync.domain.models import StripeRefund as Made
from tests.unit.factories import T0, payment

OWN = "a02000000000001AAA"
OTHER = "a02000000000002BBB"


def link(owner: str | None) -> CreatedLink:
    return CreatedLink(id="plink_1", url="https://buy.stripe.com/test_1", active=True, payment_id=owner)


@pytest.mark.parametrize(("owner", "ok"), [(OWN, True), (OTHER, False), (None, False), ("", False)])
def test_a_link_is_this_payments_only_when_its_metadata_names_it(owner, ok):
    problem = ownership.link_problem(OWN, link(owner))
    assert (problem is None) is ok
    if not ok:
        assert problem == messages.FOREIGN_OBJECT.format(what="payment link", object_id="plink_1")
        assert "belongs to another Payment" in problem


@pytest.mark.parametrize(
    ("owners", "ok"),
    [
        (frozenset(), True),  # no session yet: nothing to record
        (frozenset({OWN}), True),
        (frozenset({OTHER}), False),
        (frozenset({OWN, OTHER}), False),
        (frozenset({""}), False),
    ],
)
def test_what_a_link_holds_is_recorded_only_when_every_session_and_intent_names_the_payment(owners, ok):
    state = StripePaymentState(payment_link_id="plink_1", owners=owners)
    assert (ownership.state_problem(payment(payment_link_id="plink_1"), state) is None) is ok


def stripe(**overrides) -> StripePaymentState:
    values = dict(
        payment_link_id="plink_1",
        checkout_session_id="cs_2",
        payment_intent_id="pi_2",
        charge_id="ch_1",
        paid=True,
        amount_paid_minor=100000,
        attempt_ids=frozenset({"cs_1", "pi_1", "cs_2", "pi_2"}),
        owners=frozenset({OWN}),
    )
    values.update(overrides)
    return StripePaymentState(**values)


@pytest.mark.parametrize(
    ("record", "changes", "state", "flagged"),
    [
        # First values Stripe gives: not tampering.
        ({}, {"charge_id": "ch_1", "amount_paid": Decimal("1000"), "paid_at": T0}, stripe(), []),
        # An earlier attempt's session and PaymentIntent, replaced by the paid one.
        ({"checkout_session_id": "cs_1", "payment_intent_id": "pi_1"}, {"checkout_session_id": "cs_2"}, stripe(), []),
        # Typed values Stripe never gave.
        ({"checkout_session_id": "cs_x"}, {"checkout_session_id": "cs_2"}, stripe(), ["checkout_session_id"]),
        ({"charge_id": "ch_other"}, {"charge_id": "ch_1"}, stripe(), ["charge_id"]),
        (
            {"amount_paid": Decimal("5000"), "charge_id": "ch_other"},
            {"amount_paid": Decimal("1000"), "charge_id": "ch_1"},
            stripe(),
            ["charge_id", "amount_paid"],
        ),
        ({"paid_at": T0 - timedelta(days=9)}, {"paid_at": T0}, stripe(), ["paid_at"]),
        # Amount Refunded behind Stripe is late; ahead of it is edited, unless a refund failed since.
        ({"amount_refunded": Decimal("10")}, {"amount_refunded": Decimal("25")}, stripe(), []),
        ({"amount_refunded": Decimal("25")}, {"amount_refunded": Decimal("10")}, stripe(), ["amount_refunded"]),
        (
            {"amount_refunded": Decimal("25")},
            {"amount_refunded": Decimal("10")},
            stripe(
                refunds=(
                    Made(
                        id="re_1",
                        amount_minor=1500,
                        status="failed",
                        reason=None,
                        failure_reason=None,
                        crm_refund_id=None,
                    ),
                )
            ),
            [],
        ),
        # Fields that are not Stripe's are never judged here.
        ({"sync_error": "x"}, {"sync_error": None, "status": PaymentStatus.PAID}, stripe(), []),
    ],
)
def test_a_record_value_stripe_never_gave_is_flagged_and_a_late_one_is_not(record, changes, state, flagged):
    assert ownership.tampered(payment(**record), PaymentChange(**changes), state) == flagged


def test_the_log_line_says_which_fields_and_what_they_said():
    p = payment(charge_id="ch_other", amount_paid=Decimal("5000.00"), sync_log="earlier")
    text = ownership.tamper_line(p, ["charge_id", "amount_paid"], now=T0)
    first, line = text.split("\n")
    assert first == "earlier"
    assert "Charge Id, Amount Paid: did not match Stripe" in line
    assert "Charge Id was ch_other" in line and "Amount Paid was 5000" in line


def test_the_links_own_url_is_put_back_and_said():
    own = link(OWN)
    assert ownership.link_restore(own.url, None, own, sync_log=None, now=T0).written() == {}
    fields = ownership.link_restore("https://evil.example/pay", None, own, sync_log="sent", now=T0).written()
    assert fields["link_url"] == own.url
    assert "did not match Stripe" in fields["sync_log"] and "evil.example" in fields["sync_log"]


@pytest.mark.parametrize(
    ("recorded", "restored"),
    [
        ("USD 1000 abc123", None),  # what the link charges
        ("USD 10 abc123", "USD 1000 abc123"),  # typed to match an edited Amount: the link still charges 1000
        ("JPY 1000 abc123", "USD 1000 abc123"),
        ("legacy", None),  # not terms the worker wrote: left alone
        (None, None),
    ],
)
def test_link_terms_say_what_the_link_charges_in_stripe(recorded, restored):
    own = link(OWN).model_copy(update={"currency": "usd", "amount_minor": 100000})
    fields = ownership.link_restore(own.url, recorded, own, sync_log=None, now=T0).written()
    assert fields.get("link_terms") == restored
    assert ("Link Terms: did not match Stripe" in fields.get("sync_log", "")) is (restored is not None)


def test_a_foreign_link_is_said_once_on_the_record_and_to_staff():
    problem = messages.FOREIGN_OBJECT.format(what="payment link", object_id="plink_1")
    p = payment(payment_link_id="plink_1")
    write = ownership.foreign_write(p, problem, now=T0)
    assert write is not None and write.change.written()["sync_error"] == problem
    assert "belongs to another Payment" in write.change.written()["sync_log"]
    [notice] = write.notices
    assert notice.kind == "foreign" and notice.project_id == p.project_id and notice.values["problem"] == problem
    assert ownership.foreign_write(p.model_copy(update={"sync_error": problem}), problem, now=T0) is None


FOREIGN_SAID = messages.FOREIGN_OBJECT.format(what="payment link", object_id="plink_B")


@pytest.mark.parametrize(
    ("record", "state", "fields"),
    [
        # The record names its own link: nothing to put back.
        (dict(payment_link_id="plink_A", link_url="https://a"), dict(payment_link_id="plink_A"), {}),
        # Read from its own link in place of B's: the id and URL back, B's sentence cleared.
        (
            dict(payment_link_id="plink_B", link_url="https://b", sync_error=FOREIGN_SAID),
            dict(payment_link_id="plink_A", link_url="https://a"),
            {"payment_link_id": "plink_A", "link_url": "https://a", "sync_error": None},
        ),
        # Another Sync Error is not this one to clear; a URL already right is not written.
        (
            dict(payment_link_id="plink_B", link_url="https://a", sync_error="Email refused"),
            dict(payment_link_id="plink_A", link_url="https://a"),
            {"payment_link_id": "plink_A"},
        ),
        # The URL not read with it: the id only.
        (
            dict(payment_link_id="plink_B", link_url="https://b"),
            dict(payment_link_id="plink_A"),
            {"payment_link_id": "plink_A"},
        ),
    ],
)
def test_the_payments_own_link_found_in_stripe_is_put_back_in_place_of_anothers(record, state, fields):
    assert ownership.relink(payment(**record), StripePaymentState(**state)).written() == fields


def test_every_field_compared_with_stripe_is_one_the_mapping_marks_as_the_workers():
    owned = set(worker_owned_fields(PaymentFields))
    assert set(ownership.STRIPE_SOURCED) <= owned
    staff = {"type", "amount", "currency", "description", "customer_email", "resend", "cancel_requested"}
    assert not staff & owned  # what staff are there to edit is never the worker's alone
