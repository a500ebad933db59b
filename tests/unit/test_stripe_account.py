"""The account behind the key is pinned, a live key goes only to Stripe, the descriptor is judged first."""

import pytest

from sync.config.mapping import ConnectionStatuses
from sync.domain import messages
from sync.domain.models import PaymentStatus, StripeAccount, StripeMode
from sync.domain.stripe_setup import descriptor_problem, judge_account, judge_descriptor, judge_setups
from tests.unit.factories import payment
from tests.unit.fakes import FakeStripe
from tests.unit.test_runner import build, crm_with
from tests.unit.test_stripe_setup import setup

A, B = "acct_1PinnedAccountAAAA", "acct_1OtherAccountBBBBB"


@pytest.mark.parametrize(
    ("actual", "pinned", "confirmed", "known", "pin", "held"),
    [
        (A, None, False, None, A, False),  # first key ever: pinned
        (A, A, False, A, None, False),  # the same account: nothing to write
        (B, A, False, A, None, True),  # another account: held
        (B, A, False, None, None, True),  # ... also after a restart
        (B, None, False, A, None, True),  # the pin cleared on the record: this process still knows A
        (A, None, False, A, A, False),  # ... and the same account is pinned again
        (B, A, True, A, B, False),  # the admin confirmed: B is pinned, the box cleared
        (A, A, True, A, A, False),  # a box ticked with nothing to confirm is cleared, not left armed
    ],
)
def test_the_account_behind_the_key_must_be_the_pinned_one(actual, pinned, confirmed, known, pin, held):
    verdict = judge_account(actual, pinned=pinned, confirmed=confirmed, known=known)
    assert verdict.pin == pin
    assert (verdict.problem is not None) is held
    if held:
        assert actual in verdict.problem and (pinned or known) in verdict.problem
        assert "Confirm Account Change" in verdict.problem


@pytest.mark.parametrize(
    ("suffix", "prefix", "why"),
    [
        ("DEPOSIT 1042", "ACMEROOF", None),
        ("Deposit", None, None),
        ("FINAL <1042>", "ACME", messages.DESCRIPTOR_FORBIDDEN),
        ("O'BRIEN JOB", "ACME", messages.DESCRIPTOR_FORBIDDEN),
        ('"JOB"', "ACME", messages.DESCRIPTOR_FORBIDDEN),
        ("JOB*1", "ACME", messages.DESCRIPTOR_FORBIDDEN),
        ("JOB\\1", "ACME", messages.DESCRIPTOR_FORBIDDEN),
        ("1042", "ACME", messages.DESCRIPTOR_NO_LETTER),
        ("ÜBERDACH", "ACME", messages.DESCRIPTOR_NOT_LATIN),
        ("PROGRESS PAYMENT", "ACMEROOF", "card statements allow 22"),  # 8 + 2 + 16 = 26
        ("PROGRESS 12", "ACMEROOF", None),  # 8 + 2 + 11 = 21
        ("PROGRESS PAY", "ACMEROOF", None),  # exactly 22
    ],
)
def test_a_suffix_stripe_would_refuse_is_judged_before_any_link(suffix, prefix, why):
    problem = descriptor_problem(suffix, prefix)
    if why is None:
        assert problem is None
    else:
        assert problem is not None and why in problem


def test_an_unusable_suffix_is_left_off_the_links_and_said_on_the_setup():
    verdict = judge_descriptor("PROGRESS PAYMENT", "ACMEROOF")
    assert verdict.suffix is None
    assert "PROGRESS PAYMENT" in verdict.note and "shorten it to 12" in verdict.note
    assert judge_descriptor("  DEPOSIT ", "ACME") == type(verdict)("DEPOSIT", None)
    assert judge_descriptor("   ", "ACME") == type(verdict)(None, None)


def test_a_live_key_is_refused_unless_the_worker_talks_to_stripe_itself():
    live = setup(key="rk_live_abc", mode=StripeMode.LIVE)
    assert judge_setups((live,), live_keys_allowed=False).problem == messages.LIVE_KEY_OFF_STRIPE
    assert judge_setups((live,), live_keys_allowed=True).problem is None
    assert judge_setups((setup(),), live_keys_allowed=False).problem is None  # test keys may go anywhere


# --- the worker's cycle -----------------------------------------------------------------------------


def test_the_first_verified_key_pins_its_account_on_the_setup():
    crm = crm_with("p1")
    build(crm, FakeStripe(account=StripeAccount(id=A))).run_cycle()
    assert crm.setups[0].stripe_account_id == A
    assert [w["account_id"] for w in crm.setup_writes] == [A]
    assert crm.payments["p1"].status is PaymentStatus.LINK_SENT


def test_a_key_of_another_account_stops_every_stripe_call_until_an_admin_confirms():
    crm = crm_with("p1")
    crm.setups = (crm.setups[0].model_copy(update={"stripe_account_id": A}),)
    stripe = FakeStripe(account=StripeAccount(id=B))
    runner = build(crm, stripe)

    runner.run_cycle()
    assert stripe.calls == 1  # the key check; no link, refund or cancel
    assert crm.payments["p1"].status is PaymentStatus.REQUESTED
    assert crm.payments["p1"].sync_error == messages.STRIPE_NOT_CONNECTED
    held = crm.setup_writes[-1]
    assert held["status"] == ConnectionStatuses().account_changed
    assert B in held["error"] and A in held["error"]

    runner.run_cycle()  # nothing changed on the Setup: not checked again every cycle
    assert stripe.calls == 1

    crm.setups = (crm.setups[0].model_copy(update={"confirm_account_change": True}),)
    runner.run_cycle()
    assert crm.setups[0].stripe_account_id == B
    assert crm.setups[0].confirm_account_change is False
    assert crm.setup_writes[-1]["status"] == ConnectionStatuses().connected
    assert crm.payments["p1"].status is PaymentStatus.LINK_SENT


def test_a_pin_edited_on_the_record_while_the_key_stays_is_held_too():
    crm = crm_with()
    stripe = FakeStripe(account=StripeAccount(id=A))
    runner = build(crm, stripe)
    runner.run_cycle()
    crm.setups = (crm.setups[0].model_copy(update={"stripe_account_id": B}),)  # someone edits the pin
    runner.run_cycle()
    assert crm.setup_writes[-1]["status"] == ConnectionStatuses().account_changed
    crm.setups = (crm.setups[0].model_copy(update={"stripe_account_id": None}),)  # ... or clears it
    runner.run_cycle()
    assert crm.setup_writes[-1]["status"] == ConnectionStatuses().connected
    assert crm.setups[0].stripe_account_id == A  # put back


def test_links_carry_the_suffix_only_when_stripe_would_accept_it():
    crm = crm_with("p1", "p2")
    crm.setups = (crm.setups[0].model_copy(update={"statement_descriptor_suffix": "DEPOSIT*"}),)
    stripe = FakeStripe(account=StripeAccount(id=A, descriptor_prefix="ACMEROOF"))
    runner = build(crm, stripe)
    runner.run_cycle()
    assert [spec.statement_descriptor_suffix for spec in stripe.bodies.values()] == [None, None]
    assert "DEPOSIT*" in crm.setup_writes[-1]["error"]
    assert crm.setup_writes[-1]["status"] == ConnectionStatuses().connected

    crm.setups = (crm.setups[0].model_copy(update={"statement_descriptor_suffix": "DEPOSIT"}),)
    crm.payments["p3"] = payment(id="p3")
    runner.run_cycle()
    assert crm.setup_writes[-1]["error"] is None  # the note goes once the suffix is fixed
    newest = [spec for spec in stripe.bodies.values() if spec.metadata["crm_payment_id"] == "p3"]
    assert [spec.statement_descriptor_suffix for spec in newest] == ["DEPOSIT"]
