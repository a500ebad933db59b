"""The pure core, table by table: CRM state x Stripe readiness -> actions."""

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.domain import messages, money
from sync.domain.actions import CreatePaymentLink, EmailExistingLink, ReportError, WaitForStripe
from sync.domain.models import CreatedLink, CrmSnapshot, ExistingPayment, PaymentStatus, PaymentType
from sync.domain.requests import (
    Policy,
    decide,
    existing_link_change,
    judge_existing_link,
    link_idempotency_key,
    plan_intake,
    plan_payment,
    recipient_mark,
    sent_fields,
)
from sync.domain.staff_actions import ReminderPolicy
from tests.unit.factories import T0, payment, project_request

READY = Policy(stripe_ready=True)


# --- intake ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "amount", "status"),
    [
        ({}, Decimal("5000.00"), PaymentStatus.REQUESTED),
        ({"requested_amount": None, "request_type": PaymentType.DEPOSIT}, Decimal("20000.00"), PaymentStatus.REQUESTED),
        (
            {"requested_amount": None, "request_type": PaymentType.DEPOSIT, "contract_amount": Decimal("333.33")},
            Decimal("166.67"),  # half of 333.33, rounded half-up to the cent
            PaymentStatus.REQUESTED,
        ),
        (
            {
                "requested_amount": None,
                "request_type": PaymentType.FINAL,
                "payments": (
                    ExistingPayment(amount=Decimal("20000.00"), status=PaymentStatus.PAID),
                    ExistingPayment(amount=Decimal("5000.00"), status=PaymentStatus.LINK_SENT),
                    ExistingPayment(amount=Decimal("9999.00"), status=PaymentStatus.CANCELED),
                    ExistingPayment(amount=Decimal("7777.00"), status=PaymentStatus.ERROR),
                ),
            },
            Decimal("15000.00"),
            PaymentStatus.REQUESTED,
        ),
        ({"requested_amount": None, "request_type": PaymentType.PROGRESS}, None, PaymentStatus.ERROR),
        ({"requested_amount": Decimal("10.005")}, None, PaymentStatus.ERROR),
        ({"requested_amount": Decimal("-1")}, Decimal("-1"), PaymentStatus.ERROR),
        ({"customer_email": None}, Decimal("5000.00"), PaymentStatus.ERROR),
    ],
)
def test_intake_makes_one_payment_draft(overrides, amount, status):
    action = plan_intake(project_request(**overrides), policy=READY)
    assert action.draft.amount == amount
    assert action.draft.status is status
    assert (action.draft.sync_error is None) is (status is PaymentStatus.REQUESTED)


def test_a_final_counts_what_paid_payments_charged_not_their_editable_amount():
    # Item 2: 5,000 paid, its Amount edited to 4,500 afterwards: 5,000 is still what it took of the contract.
    req = project_request(
        requested_amount=None,
        request_type=PaymentType.FINAL,
        contract_amount=Decimal("10000.00"),
        payments=(
            ExistingPayment(amount=Decimal("4500.00"), amount_paid=Decimal("5000.00"), status=PaymentStatus.PAID),
            ExistingPayment(amount=Decimal("1000.00"), amount_paid=None, status=PaymentStatus.LINK_SENT),
        ),
    )
    assert plan_intake(req, policy=READY).draft.amount == Decimal("4000.00")


def test_deposit_percentage_is_configurable():
    req = project_request(requested_amount=None, request_type=PaymentType.DEPOSIT)
    action = plan_intake(req, policy=Policy(deposit_percent=Decimal(30)))
    assert action.draft.amount == Decimal("12000.00")


def test_final_with_nothing_left_explains_the_numbers():
    req = project_request(
        requested_amount=None,
        request_type=PaymentType.FINAL,
        payments=(ExistingPayment(amount=Decimal("40000.00"), status=PaymentStatus.PAID),),
    )
    action = plan_intake(req, policy=READY)
    assert action.draft.status is PaymentStatus.ERROR
    assert "nothing is left" in action.draft.sync_error
    assert "(contract $40,000.00, already requested $40,000.00)" in action.draft.sync_error


@pytest.mark.parametrize(
    ("contract", "currency", "share"),
    [
        (Decimal("5001"), "JPY", Decimal("2501")),  # half of 5,001 yen, half up to the yen (not 2,500.50)
        (Decimal("5003"), "KRW", Decimal("2502")),
        (Decimal("333.33"), "USD", Decimal("166.67")),  # to the cent
        (Decimal("0.03"), "EUR", Decimal("0.02")),
    ],
)
def test_a_deposit_share_rounds_half_up_to_the_currencys_own_decimals(contract, currency, share):
    req = project_request(
        requested_amount=None, request_type=PaymentType.DEPOSIT, contract_amount=contract, currency=currency
    )
    assert plan_intake(req, policy=READY).draft.amount == share


@pytest.mark.parametrize("type_", [PaymentType.DEPOSIT, PaymentType.FINAL])
def test_a_contract_of_zero_is_named_as_the_problem(type_):
    req = project_request(requested_amount=None, request_type=type_, contract_amount=Decimal(0))
    action = plan_intake(req, policy=READY)
    assert action.draft.status is PaymentStatus.ERROR
    assert action.draft.sync_error == messages.CONTRACT_NOT_POSITIVE.format(type=type_.value, contract="$0.00")


def test_deposit_without_contract_amount_says_so():
    req = project_request(requested_amount=None, request_type=PaymentType.DEPOSIT, contract_amount=None)
    assert "contract amount, which is empty" in plan_intake(req, policy=READY).draft.sync_error


def test_unknown_request_type_is_named():
    req = project_request(request_type=None, request_type_raw="Tip")
    assert "'Tip' is not one of" in plan_intake(req, policy=READY).draft.sync_error


def test_intake_key_is_the_same_for_the_same_click_and_differs_for_the_next():
    first = plan_intake(project_request(), policy=READY).draft.request_key
    again = plan_intake(project_request(), policy=READY).draft.request_key
    later = plan_intake(project_request(requested_at=T0.replace(minute=5)), policy=READY).draft.request_key
    assert first == again != later
    assert first.startswith("a01000000000001AAA:")


def test_intake_key_with_a_blank_requested_at_is_the_same_for_the_same_click():
    a = plan_intake(project_request(requested_at=None), policy=READY).draft.request_key
    assert a == plan_intake(project_request(requested_at=None), policy=READY).draft.request_key
    # Not the Project's LastModifiedDate: automation touching the Project between two reads of one
    # click must not make a second key for it.
    later = plan_intake(project_request(requested_at=None, last_modified=T0.replace(minute=9)), policy=READY)
    assert later.draft.request_key == a


def _taken(*keys):
    return tuple(ExistingPayment(amount=Decimal(1), status=PaymentStatus.PAID, request_key=k) for k in keys)


@pytest.mark.parametrize("requested_at", [T0, None])
def test_a_click_with_an_unchanged_requested_at_is_a_new_request_and_the_same_click_keeps_its_key(requested_at):
    first = plan_intake(project_request(requested_at=requested_at), policy=READY).draft.request_key
    # Taken once: the next click (Requested At left as it was) gets the next key ...
    second = plan_intake(project_request(requested_at=requested_at, payments=_taken(first)), policy=READY)
    assert second.draft.request_key == f"{first}#1"
    # ... read twice before it is taken, the same one; and one past the highest, whatever was deleted.
    again = plan_intake(project_request(requested_at=requested_at, payments=_taken(first)), policy=READY)
    assert again.draft.request_key == second.draft.request_key
    gap = plan_intake(
        project_request(requested_at=requested_at, payments=_taken(f"{first}#2", "other:x")), policy=READY
    )
    assert gap.draft.request_key == f"{first}#3"


def test_intake_currency_falls_back_to_the_setup_default():
    action = plan_intake(project_request(currency=None), policy=Policy(default_currency="cad"))
    assert action.draft.currency == "cad"


# --- payments -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"project_id": None}, messages.PROJECT_NOT_FOUND),
        ({"amount": None}, messages.AMOUNT_MISSING),
        ({"amount": Decimal("0")}, "more than zero"),
        ({"amount": Decimal("0.10")}, "under Stripe's minimum"),
        ({"amount": Decimal("1000000")}, "over the $999,999.99"),
        ({"currency": "zzz"}, "'ZZZ' is not supported"),
        ({"customer_email": None, "project_customer_email": None}, messages.EMAIL_MISSING),
        ({"customer_email": "not-an-email"}, "not a valid email address"),
        ({"description": "d" * 300}, "300 characters long"),
    ],
)
def test_invalid_payment_is_reported_and_never_reaches_stripe(overrides, expected):
    action = plan_payment(payment(**overrides), policy=READY)
    assert isinstance(action, ReportError)
    assert expected in action.message


def test_valid_payment_gets_one_single_use_link_with_crm_ids():
    action = plan_payment(payment(), policy=Policy(stripe_ready=True, after_payment_message="Thanks!"))
    assert isinstance(action, CreatePaymentLink)
    spec = action.spec
    assert spec.amount_minor == 2_000_000
    assert spec.currency == "usd"
    assert spec.idempotency_key == link_idempotency_key("a02000000000001AAA", 0)
    assert spec.metadata == {
        "crm_payment_id": "a02000000000001AAA",
        "crm_project_id": "a01000000000001AAA",
        "crm_link_revision": "0",
    }
    assert spec.after_payment_message == "Thanks!"
    assert action.email.to == "pat@example.com"
    assert action.email.amount == "$20,000.00"


def test_payment_email_overrides_project_email():
    action = plan_payment(payment(customer_email="ap@client.example"), policy=READY)
    assert action.email.to == "ap@client.example"


def test_a_new_revision_gets_a_new_idempotency_key():
    a = plan_payment(payment(link_revision=0), policy=READY)
    b = plan_payment(payment(link_revision=1), policy=READY)
    assert a.spec.idempotency_key != b.spec.idempotency_key


def test_payment_waits_when_stripe_is_not_connected():
    action = plan_payment(payment(), policy=Policy(stripe_ready=False))
    assert isinstance(action, WaitForStripe)
    assert action.message == messages.STRIPE_NOT_CONNECTED


def test_waiting_payment_is_not_rewritten_every_cycle():
    waiting = payment(sync_error=messages.STRIPE_NOT_CONNECTED)
    assert plan_payment(waiting, policy=Policy(stripe_ready=False)) is None


def test_invalid_payment_is_reported_even_while_stripe_is_down():
    assert isinstance(plan_payment(payment(amount=None), policy=Policy(stripe_ready=False)), ReportError)


def test_link_already_on_the_record_is_emailed_not_recreated():
    existing = payment(payment_link_id="plink_1", link_url="https://pay.example/x")
    for ready in (True, False):
        action = plan_payment(existing, policy=Policy(stripe_ready=ready))
        assert isinstance(action, EmailExistingLink)
        assert action.link_url == "https://pay.example/x"


@pytest.mark.parametrize("status", [s for s in PaymentStatus if s is not PaymentStatus.REQUESTED])
def test_only_requested_payments_are_acted_on(status):
    assert plan_payment(payment(status=status), policy=READY) is None


def test_decide_covers_projects_and_payments():
    snapshot = CrmSnapshot(setups=(), project_requests=(project_request(),), requested_payments=(payment(),))
    kinds = [type(a).__name__ for a in decide(snapshot, policy=READY)]
    assert kinds == ["CreatePayment", "CreatePaymentLink"]


@given(
    cents=st.integers(min_value=-10_000, max_value=200_000_000),
    currency=st.sampled_from(sorted(money.SUPPORTED_CURRENCIES)),
)
def test_every_amount_either_becomes_exact_minor_units_or_an_error(cents, currency):
    amount = Decimal(cents).scaleb(-2)
    action = plan_payment(payment(amount=amount, currency=currency), policy=READY)
    if isinstance(action, CreatePaymentLink):
        assert money.from_minor_units(action.spec.amount_minor, currency) == amount
        assert 0 < action.spec.amount_minor <= money.MAX_MINOR_UNITS
    else:
        assert isinstance(action, ReportError)


# --- deposit on signing --------------------------------------------------------------------------
SIGNING = Policy(signing_stage="Signed", deposit_percent=Decimal(30))


def signed(**overrides):
    values = dict(
        request_payment=False,
        stage="Signed",
        requested_amount=None,
        request_type=None,
        request_type_raw=None,
        description="left over",
    )
    values.update(overrides)
    return project_request(**values)


def test_a_signed_project_gets_its_deposit_once_by_a_fixed_key():
    [action] = decide(CrmSnapshot(setups=(), project_requests=(signed(),), requested_payments=()), policy=SIGNING)
    assert action.signing_deposit and action.draft.request_key == "a01000000000001AAA:signing-deposit"
    assert action.draft.type is PaymentType.DEPOSIT and action.draft.amount == Decimal("12000.00")
    assert action.draft.description == "Deposit on signing (Signed)"


@pytest.mark.parametrize(
    ("request_", "policy"),
    [
        (signed(signing_deposit_requested=True), SIGNING),
        (signed(stage="Proposal Sent"), SIGNING),
        (signed(), Policy()),  # the rule is off by default
    ],
    ids=["already-requested", "other-stage", "rule-off"],
)
def test_no_deposit_on_signing(request_, policy):
    assert decide(CrmSnapshot(setups=(), project_requests=(request_,), requested_payments=()), policy=policy) == []


def test_a_ticked_request_goes_first_and_the_signing_deposit_waits_a_cycle():
    both = signed(request_payment=True, requested_amount=Decimal("500"), request_type=PaymentType.PROGRESS)
    [action] = decide(CrmSnapshot(setups=(), project_requests=(both,), requested_payments=()), policy=SIGNING)
    assert not action.signing_deposit and action.draft.amount == Decimal("500")


def test_a_signed_project_without_a_contract_amount_gets_an_error_payment_that_says_so():
    [action] = decide(
        CrmSnapshot(setups=(), project_requests=(signed(contract_amount=None),), requested_payments=()), policy=SIGNING
    )
    assert action.draft.status is PaymentStatus.ERROR and "contract amount" in action.draft.sync_error


@pytest.mark.parametrize("linked", [False, True])
def test_what_a_payment_records_once_its_request_was_emailed(linked):
    extra = {"payment_link_id": "plink_1", "link_url": "https://pay.example/x"} if linked else {}
    action = plan_payment(payment(times_sent=2, sync_log="earlier line", **extra), policy=READY)
    assert isinstance(action, EmailExistingLink if linked else CreatePaymentLink)

    fields = sent_fields(action, url="https://pay.example/own", now=T0, reminders=ReminderPolicy()).written()

    assert fields["status"] is PaymentStatus.LINK_SENT
    assert fields["link_url"] == "https://pay.example/own"
    assert (fields["times_sent"], fields["reminders_sent"], fields["resend"]) == (Decimal(3), Decimal(0), False)
    assert fields["next_reminder_at"] == T0 + timedelta(hours=48)
    assert fields["sync_error"] is None
    assert fields["sync_log"].startswith("earlier line") and "pat@example.com" in fields["sync_log"]


# --- a link set back to Requested ----------------------------------------------------------------
def _existing(**overrides):
    extra = {"payment_link_id": "plink_1", "link_url": "https://pay.example/1"}
    action = plan_payment(payment(**{**extra, **overrides}), policy=READY)
    assert isinstance(action, EmailExistingLink)
    return action


def _link(active=True, currency="usd", amount_minor=2_000_000):  # the factory's Payment asks 20,000.00
    return CreatedLink(
        id="plink_1", url="https://pay.example/1", active=active, currency=currency, amount_minor=amount_minor
    )


@pytest.mark.parametrize(
    ("overrides", "link", "paid", "verdict"),
    [
        ({}, _link(), False, "send"),  # live, unpaid, charges what the record says: emailed
        ({}, _link(amount_minor=None, currency=None), False, "send"),  # read without its line item: the terms decide
        ({}, _link(), True, "paid"),  # spent: never emailed as a new request
        ({}, _link(active=False), False, "dead"),  # canceled before: a new revision
        ({}, _link(amount_minor=12000), False, "differs"),  # the record says 20,000.00, the link 120.00
        ({}, _link(currency="eur"), False, "differs"),
        ({"link_terms": "USD 120 abc"}, _link(), False, "differs"),  # edited since the link was made
    ],
)
def test_a_link_set_back_to_requested_is_emailed_only_when_live_unpaid_and_charging_the_record(
    overrides, link, paid, verdict
):
    assert judge_existing_link(_existing(**overrides), link, paid=paid) == verdict


def test_a_link_already_emailed_to_this_recipient_is_recorded_not_emailed_again():
    # The CRM refused (or deferred) recording the email: the link in Stripe keeps that it went out.
    action = _existing()
    emailed = _link().model_copy(update={"emailed_to": recipient_mark(action.email.to.upper())})
    assert judge_existing_link(action, emailed, paid=False) == "emailed"
    elsewhere = _link().model_copy(update={"emailed_to": recipient_mark("someone.else@example.com")})
    assert judge_existing_link(action, elsewhere, paid=False) == "send"  # staff corrected the address
    assert judge_existing_link(action, emailed, paid=True) == "paid"  # and paid comes first
    assert recipient_mark(action.email.to) != action.email.to and len(recipient_mark(action.email.to)) == 16


def test_a_paid_payment_set_back_to_requested_gets_its_paid_status_back_and_says_why():
    action = _existing(paid_at=T0, charge_id="ch_1", amount_paid=Decimal("20000"), amount_refunded=Decimal("100"))
    fields = existing_link_change(action, "paid", now=T0).written()
    assert fields["status"] is PaymentStatus.PARTIALLY_REFUNDED and fields["sync_error"] == messages.REQUESTED_BUT_PAID
    assert messages.REQUESTED_BUT_PAID in fields["sync_log"]


def test_a_link_paid_but_never_recorded_is_left_to_the_outcome_path():
    assert existing_link_change(_existing(), "paid", now=T0).written() == {"status": PaymentStatus.LINK_SENT}


@pytest.mark.parametrize(("verdict", "why"), [("dead", "no longer active"), ("differs", "charges other")])
def test_a_dead_or_differing_link_is_replaced_by_the_next_revision(verdict, why):
    fields = existing_link_change(_existing(link_revision=2), verdict, now=T0).written()
    assert fields["status"] is PaymentStatus.REQUESTED and fields["link_revision"] == 3
    assert fields["payment_link_id"] is None and fields["link_url"] is None and fields["link_terms"] is None
    assert why in fields["sync_log"] and "revision 3 will be made" in fields["sync_log"]
