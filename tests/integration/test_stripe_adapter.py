"""StripePayments against the Stripe emulator over loopback HTTP: keys, links, idempotency, failures."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr

from sync.adapters.stripe.payments import INACTIVE_MESSAGE, StripePayments
from sync.domain.actions import CreatePaymentLink, LinkSpec
from sync.domain.errors import AmountTooSmall, IdempotencyConflict, RetryableError, StripeKeyRejected
from sync.domain.requests import Policy, plan_payment
from sync.sandbox.environment import Sandbox
from sync.sandbox.httpserver import Request
from tests.integration.conftest import stripe_for
from tests.unit import factories


def link_spec(payment_id: str = "a02000000000001AAA", **payment_fields: object) -> LinkSpec:
    """The spec the core plans for a valid Requested Payment."""
    action = plan_payment(
        factories.payment(id=payment_id, **payment_fields),
        policy=Policy(stripe_ready=True, after_payment_message="Thanks!"),
    )
    assert isinstance(action, CreatePaymentLink)
    return action.spec


def link_posts(sandbox: Sandbox) -> list[dict]:
    return [r for r in sandbox.stripe_requests() if r["method"] == "POST" and r["template"] == "/v1/payment_links"]


def add_links_directly(sandbox: Sandbox, count: int, *, payment_ids: bool = True) -> None:
    """Create links for other Payments in-process (faster than HTTP; they only fill the list).

    `payment_ids=False`: links another integration made, naming no Payment."""
    for i in range(count):
        form = [
            ("line_items[0][quantity]", "1"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "500"),
            ("line_items[0][price_data][product_data][name]", "Filler"),
        ] + ([("metadata[crm_payment_id]", f"a02OTHER{i:010d}")] if payment_ids else [])
        answer = sandbox.stripe.app(
            Request(
                method="POST",
                path="/v1/payment_links",
                query={},
                raw_query="",
                headers={"authorization": f"Bearer {sandbox.credentials.stripe_test_key}"},
                body=urlencode(form).encode(),
            )
        )
        assert answer.status == 200, answer.body


# Two adapter calls in a fresh process (stripe-python reads STRIPE_LOG once, at import), with the
# root logger at debug so nothing but the adapter's own setting can keep the SDK's lines out.
_SDK_LOGGING_SCRIPT = textwrap.dedent(
    """
    import logging, sys
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(name)s: %(message)s")
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    import stripe
    from pydantic import SecretStr
    from sync.adapters.stripe.payments import StripePayments
    if sys.argv[3] == "undo":  # the control: what the SDK prints when the adapter has not silenced it
        stripe._util.STRIPE_LOG = "debug"
        logging.getLogger("stripe").setLevel(logging.NOTSET)
    payments = StripePayments(key=SecretStr(sys.argv[1]), api_base=sys.argv[2], timeout=5)
    payments.verify_key()
    payments.verify_key()
    print("done")
    """
)


@pytest.mark.parametrize("undo", [False, True], ids=["adapter", "control-without-it"])
def test_the_sdk_logs_nothing_even_with_stripe_log_debug(sandbox: Sandbox, undo: bool):
    mode = "undo" if undo else "keep"
    run = subprocess.run(
        [sys.executable, "-c", _SDK_LOGGING_SCRIPT, sandbox.credentials.stripe_test_key, sandbox.stripe_url, mode],
        env={**os.environ, "STRIPE_LOG": "debug"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert run.stdout.strip() == "done"
    # The logger's lines are "stripe: ...", the SDK's own prints logfmt with a message= field.
    sdk_lines = [line for line in run.stderr.splitlines() if line.startswith("stripe:") or "message=" in line]
    if undo:
        assert any("API response body" in line for line in sdk_lines), run.stderr
    else:
        assert sdk_lines == [] and run.stderr == "", run.stderr
    assert len(sandbox.stripe_requests()) == 4  # two key checks, each the links list and the account


def test_working_key_is_verified_with_a_payment_links_call_and_names_its_account(sandbox: Sandbox):
    stripe = stripe_for(sandbox)

    account = stripe.verify_key()

    links, own = sandbox.stripe_requests()
    assert (links["method"], links["path"], links["status"]) == ("GET", "/v1/payment_links", 200)
    assert links["params"] == {"limit": "1"}
    assert (own["method"], own["path"], own["status"]) == ("GET", "/v1/account", 200)
    assert account.id == sandbox.stripe.account_id
    assert account.descriptor_prefix is None  # the emulator's account sets neither descriptor


@pytest.mark.parametrize("registered", [True, False], ids=["revoked", "never-registered"])
def test_rejected_key_raises_key_rejected_without_echoing_the_key(sandbox: Sandbox, registered: bool):
    key = sandbox.credentials.stripe_test_key if registered else "rk_test_" + "Z" * 24
    if registered:
        assert sandbox.stripe.revoke_api_key(key)
    stripe = stripe_for(sandbox, key=key)

    with pytest.raises(StripeKeyRejected) as raised:
        stripe.verify_key()

    assert raised.value.missing_permission is False
    assert key not in str(raised.value) and key not in repr(raised.value)
    assert key[-12:] not in str(raised.value)


def test_same_spec_twice_gives_the_same_link_and_stores_one(sandbox: Sandbox):
    stripe = stripe_for(sandbox)
    spec = link_spec()

    first = stripe.create_payment_link(spec)
    other = stripe_for(sandbox)  # e.g. after a crash, or a second worker
    again = other.create_payment_link(spec)
    retried = stripe.create_payment_link(spec)  # this process, its write-back failed
    other_retried = other.create_payment_link(spec)  # the other's retry, as after a lost answer

    assert (again.id, again.url) == (first.id, first.url) and first.active is True
    # Stripe's Idempotent-Replayed tells the other process it did not make the link, even on its
    # own retry; a retry of the request that made it is its own link.
    made_elsewhere = [link.made_elsewhere for link in (first, again, retried, other_retried)]
    assert made_elsewhere == [False, True, False, True]
    [stored] = sandbox.payment_links()
    assert stored["id"] == first.id and stored["url"] == first.url
    assert stored["metadata"] == spec.metadata
    assert stored["restrictions"]["completed_sessions"]["limit"] == 1
    assert [(p["idempotency_key"], p["replayed"]) for p in link_posts(sandbox)] == [
        (spec.idempotency_key, False),
        (spec.idempotency_key, True),
        (spec.idempotency_key, True),
        (spec.idempotency_key, True),
    ]
    [price] = sandbox.stripe.objects("price")
    assert price["unit_amount"] == spec.amount_minor == 2_000_000


def test_same_idempotency_key_with_other_parameters_is_a_conflict(sandbox: Sandbox):
    stripe = stripe_for(sandbox)
    spec = link_spec()
    stripe.create_payment_link(spec)
    changed = dataclasses.replace(spec, amount_minor=spec.amount_minor + 100)

    with pytest.raises(IdempotencyConflict):
        stripe.create_payment_link(changed)

    assert len(sandbox.payment_links()) == 1


def test_an_amount_stripe_finds_too_small_is_amount_too_small_with_stripes_words(sandbox: Sandbox):
    spec = dataclasses.replace(link_spec(), amount_minor=60, currency="jpy")  # about $0.40 on a USD account

    with pytest.raises(AmountTooSmall) as caught:
        stripe_for(sandbox).create_payment_link(spec)

    said = str(caught.value)
    assert said.startswith("Amount must convert to at least 50 cents. ¥60 converts to approximately $0.40.")
    assert "(amount_too_small) [Stripe Request-Id req_" in said
    assert sandbox.payment_links() == []


def test_deactivated_link_is_inactive_with_the_inactive_message(sandbox: Sandbox):
    stripe = stripe_for(sandbox)
    link = stripe.create_payment_link(link_spec())

    stripe.deactivate_link(link.id)

    [stored] = sandbox.payment_links()
    assert stored["active"] is False and stored["inactive_message"] == INACTIVE_MESSAGE


def test_links_for_payment_finds_its_active_links_on_every_page(sandbox: Sandbox):
    stripe = stripe_for(sandbox)
    oldest = stripe.create_payment_link(link_spec("a02TARGET00000001AA", link_revision=0))
    deactivated = stripe.create_payment_link(link_spec("a02TARGET00000001AA", link_revision=1))
    stripe.deactivate_link(deactivated.id)
    add_links_directly(sandbox, 105)
    newest = stripe.create_payment_link(link_spec("a02TARGET00000001AA", link_revision=2))
    stripe.create_payment_link(link_spec("a02SOMEONEELSE001AA"))
    sandbox.stripe.clear_request_log()

    found = stripe.links_for_payment("a02TARGET00000001AA")

    assert {link.id for link in found} == {oldest.id, newest.id}
    assert all(link.active for link in found)
    pages = [r for r in sandbox.stripe_requests() if r["template"] == "/v1/payment_links"]
    assert len(pages) == 2  # 108 active links, 100 a page
    assert "starting_after" in pages[1]["params"]


def test_active_links_lists_every_live_link_with_its_payment_on_every_page(sandbox: Sandbox):
    stripe = stripe_for(sandbox)
    first = stripe.create_payment_link(link_spec("a02TARGET00000001AA"))
    retired = stripe.create_payment_link(link_spec("a02TARGET00000002AA"))
    stripe.deactivate_link(retired.id)
    add_links_directly(sandbox, 105)
    last = stripe.create_payment_link(link_spec("a02TARGET00000003AA"))
    sandbox.stripe.clear_request_log()

    step = stripe.active_links(None, most=1000)

    found = dict((link.id, payment_id) for payment_id, link in step.owned)
    assert len(found) == 107 and retired.id not in found and step.resume_after is None
    assert found[first.id] == "a02TARGET00000001AA" and found[last.id] == "a02TARGET00000003AA"
    pages = [r for r in sandbox.stripe_requests() if r["template"] == "/v1/payment_links"]
    assert len(pages) == 2 and all(p["params"].get("active") == "true" for p in pages)


def test_active_links_are_walked_in_bounded_steps_that_together_cover_the_account(sandbox: Sandbox):
    stripe = stripe_for(sandbox)
    ours = [stripe.create_payment_link(link_spec(f"a02TARGET0000000{n}AA")) for n in range(3)]
    add_links_directly(sandbox, 105, payment_ids=False)  # another integration's, naming no Payment
    sandbox.stripe.clear_request_log()

    walked, after, requests = [], None, []
    for _ in range(5):
        step = stripe.active_links(after, most=50)
        walked += step.owned
        requests.append(len([r for r in sandbox.stripe_requests() if r["template"] == "/v1/payment_links"]))
        sandbox.stripe.clear_request_log()
        if step.resume_after is None:
            break
        after = step.resume_after

    # 108 active links, 50 a step: three steps, one page request each, never past the step's bound.
    assert requests == [1, 1, 1]
    assert sorted(link.id for _, link in walked) == sorted(link.id for link in ours)

    # A resume point Stripe no longer knows starts the walk again from the newest.
    again = stripe.active_links("plink_1NotALinkWeKnow", most=1000)
    assert {link.id for _, link in again.owned} == {link.id for link in ours}


def test_own_link_is_found_only_through_stripe_objects_that_name_the_payment(sandbox: Sandbox):
    stripe = stripe_for(sandbox)
    a = stripe.create_payment_link(link_spec("a02TARGET0000000AAA"))
    b = stripe.create_payment_link(link_spec("a02TARGET0000000BBB"))
    paid_a, paid_b = sandbox.pay(a.url), sandbox.pay(b.url)
    session_a, intent_a = paid_a["checkout_session"]["id"], paid_a["payment_intent"]["id"]
    session_b, intent_b = paid_b["checkout_session"]["id"], paid_b["payment_intent"]["id"]

    def own(session_id: str | None, intent_id: str | None) -> str | None:
        found = stripe.own_link("a02TARGET0000000AAA", session_id=session_id, intent_id=intent_id)
        return found.id if found else None

    assert own(session_a, None) == a.id  # through the record's Checkout Session
    assert own(None, intent_a) == a.id  # through the record's PaymentIntent
    assert own(session_b, intent_b) is None  # B's objects name B: never taken for A's
    assert own("cs_test_NoSuchSession", "pi_NoSuchIntent") is None  # ids this account does not have
    live = stripe.create_payment_link(link_spec("a02TARGET0000000CCC"))
    only = stripe.own_link("a02TARGET0000000CCC", session_id=None, intent_id=None)
    assert only is not None and only.id == live.id  # no session yet: the one active link naming it
    stripe.create_payment_link(link_spec("a02TARGET0000000CCC", link_revision=2))  # a second, live too
    assert stripe.own_link("a02TARGET0000000CCC", session_id=None, intent_id=None) is None  # two: not guessed
    found = stripe.own_link("a02TARGET0000000AAA", session_id=session_a, intent_id=None)
    assert found is not None and (found.url, found.payment_id) == (a.url, "a02TARGET0000000AAA")


def test_key_revoked_while_later_pages_are_scanned_is_reported_as_key_rejected(sandbox: Sandbox):
    add_links_directly(sandbox, 101)
    key = sandbox.credentials.stripe_test_key

    def revoke_once_the_first_page_is_authorised(request: Request) -> None:
        if request.method == "GET" and "starting_after" not in request.raw_query:
            sandbox.stripe.revoke_api_key(key)

    sandbox.stripe.on_execute = revoke_once_the_first_page_is_authorised

    with pytest.raises(StripeKeyRejected):
        stripe_for(sandbox).links_for_payment("a02TARGET00000001AA")


def test_links_for_payment_with_no_links_is_empty(sandbox: Sandbox):
    stripe_for(sandbox).create_payment_link(link_spec("a02SOMEONEELSE001AA"))

    assert stripe_for(sandbox).links_for_payment("a02NOBODY0000001AAA") == []


def test_stripe_unreachable_is_retryable(sandbox: Sandbox, closed_port: int):
    stripe = StripePayments(
        key=SecretStr(sandbox.credentials.stripe_test_key), api_base=f"http://127.0.0.1:{closed_port}", timeout=5
    )

    with pytest.raises(RetryableError):
        stripe.create_payment_link(link_spec())


@pytest.mark.timeout(10)  # without a timeout the call would wait for ever: fail fast
def test_stripe_that_never_answers_times_out_as_retryable(sandbox: Sandbox, silent_port: int):
    timeout = 0.5
    stripe = StripePayments(
        key=SecretStr(sandbox.credentials.stripe_test_key), api_base=f"http://127.0.0.1:{silent_port}", timeout=timeout
    )
    started = time.monotonic()

    with pytest.raises(RetryableError):
        stripe.verify_key()

    assert timeout * 0.9 <= time.monotonic() - started < timeout * 4


def test_link_carries_amount_in_minor_units_and_the_crm_ids(sandbox: Sandbox):
    spec = link_spec("a02000000000009AAA", amount=Decimal("1234.56"), currency="usd", link_revision=3)

    link = stripe_for(sandbox).create_payment_link(spec)

    stored = sandbox.stripe.get_object(link.id)
    assert stored is not None
    assert stored["metadata"] == {
        "crm_payment_id": "a02000000000009AAA",
        "crm_project_id": "a01000000000001AAA",
        "crm_link_revision": "3",
    }
    assert stored["payment_intent_data"]["metadata"] == stored["metadata"]
    [price] = sandbox.stripe.objects("price")
    assert price["unit_amount"] == 123456 and price["currency"] == "usd"
    [post] = link_posts(sandbox)
    assert post["idempotency_key"] == "crm-stripe-sync:payment-link:a02000000000009AAA:r3"
