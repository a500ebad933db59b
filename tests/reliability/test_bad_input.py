"""Bad input, tried as a new user would: each row one malformed request, refund, Setup record or setting.

Every row asserts where that user will look: one clear message (the Payment's Sync Error, the Refund's
Failure Reason, the Setup's Last Error, or the worker's start-up error), no Stripe request where none is
due, a good request made at the same time still sent in the same cycle (or, when the bad input is the
Stripe Setup itself, sent by itself once the admin fixes the record), and no secret anywhere.

The worker runs in-process against one sandbox per module (each row has Projects of its own); only
the start-up rows start it as a process, since what they test is how the process stops.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sync.domain import messages
from sync.sandbox import environment
from sync.sandbox.environment import Sandbox
from sync.sandbox.salesforce.errors import ApiError
from tests.reliability.conftest import World, mapping_text, raw_write, run_worker, secrets_of, write_file


def assert_one_clear_message(text: str | None, words: tuple[str, ...]) -> None:
    """A sentence or two for a person: the key words once, no stack trace, no Python value."""
    assert text, "no message where the user looks"
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"
    assert text.count(words[0]) == 1, f"the message is repeated: {text!r}"
    for noise in ("Traceback", "Exception", "Decimal(", "None", "\n"):
        assert noise not in text, f"{noise!r} in {text!r}"
    assert len(text) < 500, text


def assert_no_secret(world: World, capsys: pytest.CaptureFixture[str], *also: str) -> None:
    out, err = capsys.readouterr()
    texts = [*world.texts_staff_read(), out, err]
    for secret in [*world.secrets(), *also]:
        assert not any(secret in text for text in texts), "a secret reached a record, an email or the log"


# --- requests: Request Payment ticked on a Project with bad fields ------------------------------------


@dataclass(frozen=True)
class Req:
    project: dict[str, Any] = field(default_factory=dict)  # add_project keywords
    request: dict[str, Any] = field(default_factory=dict)  # request_payment keywords
    raw: dict[str, Any] = field(default_factory=dict)  # Project values no save takes now, stored after the click
    expect: tuple[str, ...] = ()  # key words of the Payment's Sync Error; () when the request is fine after all
    link: dict[str, str] = field(default_factory=dict)  # a fine request: what its link shows and charges


def progress(amount: str | None, **kw: Any) -> dict[str, Any]:
    return {"type": "progress", "amount": amount, **kw}


USD_100 = progress("100.00")

REQUESTS = [
    pytest.param(Req(request=progress(None), expect=("amount is missing",)), id="null-amount-on-progress"),
    pytest.param(Req(request=progress("0"), expect=("more than zero", "it is 0")), id="zero-amount"),
    pytest.param(Req(request=progress("-250.00"), expect=("more than zero", "it is -250")), id="negative-amount"),
    pytest.param(
        Req(request=progress("1000000.00"), expect=("$1,000,000.00", "over the $999,999.99", "split it")),
        id="amount-over-999999.99",
    ),
    pytest.param(Req(request=progress("99999999999"), expect=("over the $999,999.99",)), id="amount-1e11"),
    pytest.param(
        Req(request=progress("0.49"), expect=("$0.49", "under Stripe's minimum of $0.50")), id="under-the-minimum"
    ),
    pytest.param(
        Req(request=progress("0.001"), expect=("0.001", "more than 2 decimal places for USD")), id="0.001-USD"
    ),
    pytest.param(
        Req(project={"currency": "JPY"}, request=progress("1.5"), expect=("1.5", "more than 0 decimal places for JPY")),
        id="1.5-JPY",
    ),
    pytest.param(
        Req(project={"customer_email": None}, request=USD_100, expect=("no customer email",)), id="null-email"
    ),
    pytest.param(
        Req(
            project={"customer_email": "pat@-example.com"},
            request=USD_100,
            expect=("'pat@-example.com'", "not a valid email address"),
        ),
        id="malformed-email",
    ),
    pytest.param(Req(project={"currency": "XYZ"}, request=USD_100, expect=("'XYZ' is not supported",)), id="XYZ"),
    pytest.param(Req(project={"currency": "US "}, request=USD_100, expect=("'US' is not supported",)), id="US-space"),
    pytest.param(
        Req(project={"currency": "840"}, request=USD_100, expect=("'840' is not supported",)), id="currency-840"
    ),
    pytest.param(
        Req(request=progress("100.00", description="x" * 1000), expect=("1000 characters long", "255 or fewer")),
        id="description-1000-chars",
    ),
    pytest.param(
        Req(request=progress("100.00", description="Tile work\x07\x1b[31m"), expect=("control characters",)),
        id="description-control-chars",
    ),
    pytest.param(
        Req(
            project={"contract_amount": None},
            request={"type": "deposit", "amount": None},
            expect=("contract amount, which is empty",),
        ),
        id="deposit-without-contract-amount",
    ),
    pytest.param(
        Req(
            request={"type": "deposit", "amount": "100.00"},
            raw={"Request_Type__c": "Deposti"},
            expect=("'Deposti' is not one of Deposit, Progress, Final, Custom",),
        ),
        id="type-not-in-picklist",
    ),
    pytest.param(
        Req(project={"currency": None}, request=USD_100, link={"currency": "usd", "unit_amount": "10000"}),
        id="null-currency-takes-the-setup-default",
    ),
    pytest.param(
        Req(project={"currency": "usd"}, request=USD_100, link={"currency": "usd", "unit_amount": "10000"}),
        id="currency-lower-case",
    ),
    pytest.param(
        Req(request=progress("100.00", description="Tiles 🛁✨ «bain»"), link={"name": "Tiles 🛁✨ «bain»"}),
        id="description-emoji",
    ),
    pytest.param(
        Req(
            project={"name": "Kitchen\x07\x1b 🛁"},
            request=USD_100,
            link={"name": "Progress payment – Kitchen 🛁"},
        ),
        id="project-name-control-chars-and-emoji",
    ),
    # Issue 17: what staff really type.
    pytest.param(
        Req(project={"currency": "KWD"}, request=USD_100, expect=("'KWD' is not supported", "use one of AED")),
        id="KWD-names-the-supported-currencies",
    ),
    pytest.param(
        Req(
            project={"currency": "JPY", "contract_amount": Decimal("5001")},
            request={"type": "deposit", "amount": None},
            link={"currency": "jpy", "unit_amount": "2501"},
        ),
        id="JPY-deposit-rounds-to-the-yen",
    ),
    pytest.param(
        Req(
            project={"contract_amount": Decimal("0")},
            request={"type": "deposit", "amount": None},
            expect=("contract amount, which is $0.00",),
        ),
        id="deposit-on-a-zero-contract",
    ),
    pytest.param(
        Req(
            request=progress("100.00", description="Tile \u202egpj.exe\u200b work"),
            link={"name": "Tile gpj.exe work"},
        ),
        id="description-bidi-override-dropped",
    ),
    pytest.param(
        Req(
            project={"name": "Kitchen\u202e\u2066 remodel"},
            request=USD_100,
            link={"name": "Progress payment – Kitchen remodel"},
        ),
        id="project-name-format-characters-dropped",
    ),
]


def _link_shows(params: dict[str, Any]) -> dict[str, str]:
    price = params["line_items"][0]["price_data"]
    return {"currency": price["currency"], "unit_amount": price["unit_amount"], "name": price["product_data"]["name"]}


@pytest.mark.parametrize("row", REQUESTS)
def test_a_bad_request_says_why_on_its_payment_and_the_good_one_goes(
    world: World, capsys: pytest.CaptureFixture[str], row: Req
):
    sandbox = world.sandbox
    project = world.project(**row.project)
    sandbox.request_payment(project, **row.request)
    if row.raw:
        raw_write(sandbox, project, **row.raw)
    good = world.good_request()

    cycle = world.cycle()

    payment = world.only_payment_of(project)  # one request, one Payment, whatever its fields hold
    assert sandbox.project(project)["request_payment"] is False
    if row.expect:
        assert payment["status"] == "error"
        assert_one_clear_message(payment["sync_error"], row.expect)
        assert cycle.links_made_for()[payment["id"]] == 0
        assert world.mail_for(payment["id"]) == []
    else:
        world.assert_sent(project, cycle)
        [made] = [
            r["params"]
            for r in cycle.stripe
            if r["method"] == "POST" and r["params"]["metadata"]["crm_payment_id"] == payment["id"]
        ]
        shown = _link_shows(made)
        assert {k: shown[k] for k in row.link} == row.link
        [mail] = world.mail_for(payment["id"])
        text = mail["subject"] + mail["body"]
        assert not any(unicodedata.category(ch) == "Cc" for ch in text.replace("\n", ""))
    world.assert_sent(good, cycle)
    assert_no_secret(world, capsys)


# --- requests the CRM itself refuses on save (the worker never sees them) ------------------------------


def _click(world: World, **request: Any) -> Callable[[], str]:
    def act() -> str:
        project = world.project()
        world.sandbox.request_payment(project, **request)
        return project

    return act


REFUSED_ON_SAVE = [
    pytest.param(
        lambda w: _click(w, type="progress", amount="12 dollars"),
        "JSON_PARSER_ERROR",
        "12 dollars",
        id="amount-as-text",
    ),
    pytest.param(
        lambda w: _click(w, type="progress", amount="1e14"),  # past Number(14, 4)
        "NUMBER_OUTSIDE_VALID_RANGE",
        "outside of valid range",
        id="amount-1e14",
    ),
    pytest.param(
        lambda w: _click(w, amount="100.00", raw_type="Deposti"),
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "Deposti",
        id="raw-type-not-in-picklist",
    ),
    pytest.param(
        lambda w: lambda: w.project(currency="usd "), "STRING_TOO_LONG", "max length=3", id="currency-usd-space"
    ),
]


@pytest.mark.parametrize(("act", "code", "words"), REFUSED_ON_SAVE)
def test_input_the_crm_refuses_on_save_never_reaches_the_worker(
    world: World, capsys: pytest.CaptureFixture[str], act: Callable[[World], Callable[[], str]], code: str, words: str
):
    before = len(world.sandbox.payments())
    with pytest.raises(ApiError) as refused:  # what staff see on the page when they save
        act(world)()
    assert refused.value.code == code and words in refused.value.message
    good = world.good_request()

    cycle = world.cycle()

    world.assert_sent(good, cycle)
    assert len(world.sandbox.payments()) == before + 1  # the good one only
    assert len(cycle.links_made_for()) == 1
    assert_no_secret(world, capsys)


# --- Payments created directly in Requested, with garbage in them ------------------------------------


def _payment(**logical: Any) -> Callable[[World], str]:
    def make(world: World) -> str:
        return world.sandbox.create_payment(world.project(), **logical)

    return make


def _orphan(world: World) -> str:
    return world.sandbox.create_payment(None, type="custom", amount="100.00", customer_email="pat@example.com")


def _project_deleted(world: World) -> str:
    project = world.project()
    payment = world.sandbox.create_payment(project, type="custom", amount="100.00", customer_email="pat@example.com")
    world.sandbox.salesforce.delete_record(world.sandbox.mapping.project.object, project)
    return payment


PAYMENTS = [
    pytest.param(_orphan, ("not linked to an existing Project",), id="no-project"),
    pytest.param(_project_deleted, ("not linked to an existing Project",), id="project-deleted"),
    pytest.param(
        _payment(type="custom", amount="-3.3333", currency="XYZ", description="\x07", customer_email=None),
        ("'XYZ' is not supported",),
        id="garbage-in-every-field",
    ),
    pytest.param(_payment(type="custom", amount=None), ("amount is missing",), id="no-amount"),
    pytest.param(
        _payment(type="custom", amount="10.005"), ("10.005", "more than 2 decimal places for USD"), id="3-decimals"
    ),
    pytest.param(
        _payment(type="custom", amount="1.5", currency="JPY"), ("more than 0 decimal places for JPY",), id="1.5-JPY"
    ),
    pytest.param(
        _payment(type="custom", amount="100.00", customer_email="pat@-example.com"),
        ("'pat@-example.com'", "not a valid email address"),
        id="malformed-email",
    ),
    pytest.param(
        _payment(type="custom", amount="100.00", description="Line\x0bfeed"),
        ("control characters",),
        id="control-chars",
    ),
]


@pytest.mark.parametrize(("make", "expect"), PAYMENTS)
def test_a_payment_created_with_garbage_in_requested_says_why_and_the_good_one_goes(
    world: World, capsys: pytest.CaptureFixture[str], make: Callable[[World], str], expect: tuple[str, ...]
):
    payment_id = make(world)
    good = world.good_request()

    cycle = world.cycle()

    payment = world.sandbox.payment(payment_id)
    assert payment["status"] == "error"
    assert_one_clear_message(payment["sync_error"], expect)
    assert cycle.links_made_for()[payment_id] == 0 and world.mail_for(payment_id) == []
    world.assert_sent(good, cycle)
    assert_no_secret(world, capsys)


# --- records the worker cannot read or plan: said on that record, the rest of the cycle goes on --------


def _requested(world: World) -> str:
    return world.sandbox.create_payment(
        world.project(), type="custom", amount="100.00", customer_email="pat@example.com"
    )


# A value the decoder cannot read (text in a number field) cannot be stored in the sandbox org, which
# types its fields as Salesforce does; tests/unit/test_faults.py covers decoding. Here: planning raising.


def test_a_payment_whose_planning_raises_says_so_and_the_good_one_goes(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    from sync.domain import requests as decide_module

    payment_id = _requested(world)
    real = decide_module.plan_payment

    def plan(payment: Any, *, policy: Any) -> Any:
        if payment.id == payment_id:
            raise ZeroDivisionError("secret detail " + world.sandbox.credentials.stripe_test_key)
        return real(payment, policy=policy)

    monkeypatch.setattr(decide_module, "plan_payment", plan)
    good = world.good_request()

    cycle = world.cycle()

    payment = world.sandbox.payment(payment_id)
    assert_one_clear_message(payment["sync_error"], ("internal error (ZeroDivisionError)",))
    assert payment["status"] == "requested"
    assert cycle.links_made_for()[payment_id] == 0 and world.mail_for(payment_id) == []
    world.assert_sent(good, cycle)
    assert_no_secret(world, capsys)


# --- refunds staff ask for that cannot be issued ------------------------------------------------------

PAID = Decimal("100.00")


@pytest.fixture(scope="module")
def paid_payments(world: World) -> Iterator[dict[str, Any]]:
    """Payments of $100.00 each, paid by card, made once for every refund row."""
    sandbox = world.sandbox
    projects = [world.project(f"Paid job {i}") for i in range(12)]
    for project in projects:
        sandbox.request_payment(project, type="progress", amount=str(PAID))
    world.cycle()
    for project in projects:
        sandbox.pay(world.only_payment_of(project)["link_url"])
    sandbox.clock.advance(timedelta(seconds=2))  # a record is written a second after the change it was read in
    world.cycle()
    paid = [world.only_payment_of(p) for p in projects]
    assert {p["status"] for p in paid} == {"paid"}
    return iter(paid)


def _paid(world: World, pool: Iterator[dict[str, Any]]) -> dict[str, Any]:
    return next(pool)


def _link_sent(world: World, pool: Iterator[dict[str, Any]]) -> dict[str, Any]:
    project = world.project()
    world.sandbox.request_payment(project, type="progress", amount=str(PAID))
    world.cycle()
    return world.only_payment_of(project)


def _paid_by_hand(world: World, pool: Iterator[dict[str, Any]]) -> dict[str, Any]:
    """Marked Paid by staff (a cheque): no Stripe charge behind it."""
    payment = world.sandbox.create_payment(
        world.project(), type="custom", amount=str(PAID), status="paid", amount_paid=str(PAID)
    )
    return world.sandbox.payment(payment)


def _refunded(world: World, pool: Iterator[dict[str, Any]]) -> dict[str, Any]:
    payment = next(pool)
    world.sandbox.dashboard_refund(payment["charge_id"])
    world.sandbox.clock.advance(timedelta(seconds=2))
    world.cycle()
    payment = world.sandbox.payment(payment["id"])
    assert payment["status"] == "refunded"
    return payment


# Staff edits of the worker's own fields (invariant 7): the record's Stripe ids and currency are claims.
def _charge_of_another(world: World, pool: Iterator[dict[str, Any]]) -> dict[str, Any]:
    """Another customer's charge and amount typed on this Payment (the charge is never refunded)."""
    payment, other = next(pool), next(pool)
    world.sandbox.update_payment(payment["id"], charge_id=other["charge_id"], amount_paid="5000.00")
    return payment


def _link_of_another(world: World, pool: Iterator[dict[str, Any]]) -> dict[str, Any]:
    payment, other = next(pool), next(pool)
    world.sandbox.update_payment(payment["id"], payment_link_id=other["payment_link_id"])
    return payment


def _currency_edited(world: World, pool: Iterator[dict[str, Any]]) -> dict[str, Any]:
    payment = next(pool)
    world.sandbox.update_payment(payment["id"], currency="EUR")
    return payment


@dataclass(frozen=True)
class Ref:
    target: Callable[[World, Iterator[dict[str, Any]]], dict[str, Any]]
    amounts: tuple[str | None, ...]  # Refund records in the order staff add them; the last is the bad one
    expect: tuple[str, ...]


REFUNDS = [
    pytest.param(Ref(_link_sent, ("10.00",), ("has not been paid",)), id="on-an-unpaid-payment"),
    pytest.param(
        Ref(_paid, ("100.01",), ("$100.01", "more than what is left to refund: $100.00")), id="more-than-paid"
    ),
    pytest.param(Ref(_paid, ("-10.00",), ("more than zero", "it is -10")), id="negative"),
    pytest.param(Ref(_paid, ("0",), ("more than zero",)), id="zero"),
    pytest.param(Ref(_paid, ("10.005",), ("10.005", "more than 2 decimal places for USD")), id="3-decimals"),
    pytest.param(Ref(_paid_by_hand, ("10.00",), ("no Stripe charge",)), id="no-stripe-charge"),
    pytest.param(Ref(_refunded, (None,), ("already been refunded in full, or is being",)), id="on-a-refunded-payment"),
    pytest.param(
        Ref(_paid, ("60.00", "60.00"), ("The refund of $60.00 is more than", "left to refund: $40.00")),
        id="second-one-more-than-is-left",
    ),
    pytest.param(
        Ref(_charge_of_another, ("5000.00",), ("$5,000.00", "left to refund: $100.00")), id="charge-id-of-another"
    ),
    pytest.param(Ref(_link_of_another, ("10.00",), ("belongs to another Payment",)), id="link-id-of-another"),
    pytest.param(Ref(_currency_edited, ("10.00",), ("currency reads EUR", "Stripe charged USD")), id="currency-edited"),
]


@pytest.mark.parametrize("row", REFUNDS)
def test_a_refund_that_cannot_be_issued_says_why_and_nothing_goes_to_stripe(
    world: World, paid_payments: Iterator[dict[str, Any]], capsys: pytest.CaptureFixture[str], row: Ref
):
    sandbox = world.sandbox
    payment = row.target(world, paid_payments)
    refunds = [sandbox.request_refund(payment["id"], amount=a, reason="Customer asked") for a in row.amounts]
    good = world.good_request()

    cycle = world.cycle()

    by_id = {r["id"]: r for r in sandbox.refunds()}
    bad = by_id[refunds[-1]]
    assert bad["status"] == "error" and bad["stripe_refund_id"] is None
    assert_one_clear_message(bad["failure_reason"], row.expect)
    posted = cycle.refunds_posted()
    assert [p["metadata"]["crm_refund_id"] for p in posted] == refunds[:-1]  # only the earlier, good ones
    assert all(by_id[r]["status"] == "succeeded" for r in refunds[:-1])
    world.assert_sent(good, cycle)
    assert_no_secret(world, capsys)


# --- the Stripe Setup record an admin fills in --------------------------------------------------------


def _fresh_key(sandbox: Sandbox, *, revoked: bool = False) -> str:
    key = "rk_test_" + secrets.token_hex(16)
    sandbox.stripe.add_api_key(key)
    if revoked:
        sandbox.stripe.revoke_api_key(key)
    return key


def _read_only_key(sandbox: Sandbox) -> str:
    key = "rk_test_" + secrets.token_hex(16)
    granted = {"payment_links": "read", "refunds": "none", "accounts_kyc_basic": "read"}
    sandbox.stripe.add_api_key(key, permissions=granted)
    return key


def _key_blind_to_its_account(sandbox: Sandbox) -> str:
    key = "rk_test_" + secrets.token_hex(16)
    sandbox.stripe.add_api_key(key, permissions={"payment_links": "write", "refunds": "write"})
    return key


@dataclass(frozen=True)
class Setup:
    key: Callable[[Sandbox], str]
    mode: str | None = "test"
    status: str = "Connected"  # Connection Status written by the worker
    expect: tuple[str, ...] = ()  # key words of Last Error; () when none
    stripe: tuple[tuple[str, str], ...] = ()  # Stripe calls before any link: none when the record alone says no
    default_currency: str = "USD"
    older_active: int = 0  # good active Setups added before this one
    unpriced_request: str | None = None  # Sync Error key words of a request without a currency of its own
    descriptor_suffix: str | None = None  # the Statement Descriptor Suffix the admin typed


VERIFY = (("GET", "/v1/payment_links"), ("GET", "/v1/account"))  # the key, then its account
REFUSED = VERIFY[:1]  # a key Stripe refuses goes no further than the first call
MODE = "Mode Mismatch"
INVALID = "Invalid Key"

SETUPS = [
    pytest.param(
        Setup(lambda s: s.credentials.stripe_live_key, "test", MODE, ("a live key but Mode is test",)),
        id="live-key-on-test-setup",
    ),
    pytest.param(
        Setup(lambda s: s.credentials.stripe_test_key, "live", MODE, ("a test key but Mode is live",)),
        id="test-key-on-live-setup",
    ),
    pytest.param(
        Setup(lambda s: _fresh_key(s, revoked=True), "test", INVALID, ("rejected the Secret Key", "revoked"), REFUSED),
        id="revoked-key",
    ),
    pytest.param(
        Setup(lambda s: "rk_test_" + "Z" * 32, "test", INVALID, ("rejected the Secret Key",), REFUSED), id="unknown-key"
    ),
    pytest.param(
        Setup(lambda s: "pk_test_" + "P" * 32, "test", INVALID, ("publishable key (pk_)",)), id="publishable-key"
    ),
    pytest.param(
        Setup(lambda s: "hello-stripe", "test", INVALID, ("does not look like a Stripe key",)), id="not-a-key"
    ),
    pytest.param(Setup(lambda s: "", "test", INVALID, ("Secret Key is empty",)), id="empty-key"),
    pytest.param(Setup(lambda s: s.credentials.stripe_test_key, None, INVALID, ("Mode is empty",)), id="no-mode"),
    pytest.param(
        Setup(
            lambda s: s.credentials.stripe_test_key[:12] + " " + s.credentials.stripe_test_key[12:],
            "test",
            INVALID,
            ("contains spaces",),
        ),
        id="space-inside-the-key",
    ),
    pytest.param(
        Setup(lambda s: " " + s.credentials.stripe_test_key + "\n", stripe=VERIFY),
        id="key-pasted-with-a-space-and-newline",
    ),
    pytest.param(
        Setup(
            lambda s: s.credentials.stripe_test_key,
            older_active=1,
            expect=("2 Stripe Setup records are active",),
            stripe=VERIFY,
        ),
        id="two-active-setups",
    ),
    pytest.param(
        Setup(
            lambda s: s.credentials.stripe_test_key,
            default_currency="XYZ",
            expect=("Default Currency 'XYZ'",),
            stripe=VERIFY,
            unpriced_request="'XYZ' is not supported",
        ),
        id="default-currency-XYZ",
    ),
    pytest.param(
        Setup(
            _read_only_key,
            "test",
            INVALID,
            ("lacks a permission", "Payment Links"),
            (*VERIFY, ("POST", "/v1/payment_links")),
        ),
        id="restricted-key-lacking-write",
    ),
    pytest.param(
        Setup(
            _key_blind_to_its_account, "test", INVALID, ("lacks a permission", "rak_accounts_kyc_basic_read"), VERIFY
        ),
        id="restricted-key-unable-to-read-its-account",
    ),
    # Links still go, without the suffix, and the Setup says what to fix (docs.stripe.com/get-started/
    # account/statement-descriptors: no < > \ ' " *, at least one letter, 22 characters in all).
    *[
        pytest.param(
            Setup(
                lambda s: s.credentials.stripe_test_key,
                expect=(f"Statement Descriptor Suffix '{suffix}' cannot be used", why),
                stripe=VERIFY,
                descriptor_suffix=suffix,
            ),
            id=f"descriptor-suffix-{label}",
        )
        for suffix, why, label in [
            ("JOB <1042>", "Stripe forbids", "forbidden-character"),
            ("1042", "at least one letter", "no-letter"),
        ]
    ],
]


def _untick_every_setup(sandbox: Sandbox) -> None:
    s = sandbox.mapping.setup
    active = f"SELECT Id FROM {s.object} WHERE {s.fields.active} = TRUE"  # noqa: S608 (mapping names)
    for record in sandbox.salesforce.query(active)["records"]:
        sandbox.update_setup(record["Id"], active=False)


@pytest.mark.parametrize("row", SETUPS)
def test_a_bad_setup_says_why_on_the_record_and_requests_go_once_it_is_fixed(
    setup_world: World, capsys: pytest.CaptureFixture[str], row: Setup
):
    world, sandbox = setup_world, setup_world.sandbox
    _untick_every_setup(sandbox)
    older = [sandbox.add_setup() for _ in range(row.older_active)]
    sandbox.clock.advance(timedelta(seconds=1))  # the newest active Setup is the one used
    key = row.key(sandbox)
    setup_id = sandbox.add_setup(key=key, mode=row.mode, default_currency=row.default_currency)
    if row.descriptor_suffix is not None:
        sandbox.update_setup(setup_id, statement_descriptor_suffix=row.descriptor_suffix)
    good = world.good_request()
    unpriced = None
    if row.unpriced_request:
        unpriced = world.project(currency=None)
        sandbox.request_payment(unpriced, type="progress", amount="100.00")

    cycle = world.cycle()

    record = sandbox.setup(setup_id)
    assert record["connection_status"] == row.status
    if row.expect:
        assert_one_clear_message(record["last_error"], row.expect)
    else:
        assert record["last_error"] is None
    assert cycle.calls()[: len(row.stripe)] == list(row.stripe)
    if row.status == "Connected":
        world.assert_sent(good, cycle)
    else:
        assert len(cycle.calls()) == len(row.stripe)  # the key is never tried further
        waiting = world.only_payment_of(good)
        assert waiting["status"] == "requested" and waiting["sync_error"] == messages.STRIPE_NOT_CONNECTED
    if unpriced is not None:
        assert_one_clear_message(world.only_payment_of(unpriced)["sync_error"], (row.unpriced_request,))

    # The admin fixes the record: what waited goes by itself, and the record says all is well.
    for other in older:
        sandbox.update_setup(other, active=False)
    sandbox.update_setup(setup_id, secret_key=sandbox.credentials.stripe_test_key, mode="test", default_currency="USD")
    if row.descriptor_suffix is not None:
        sandbox.update_setup(setup_id, statement_descriptor_suffix="DEPOSIT")
    cycle = world.cycle()
    if row.status != "Connected":
        world.assert_sent(good, cycle)
    fixed = sandbox.setup(setup_id)
    assert fixed["connection_status"] == "Connected" and fixed["last_error"] is None
    assert_no_secret(world, capsys, *([key.strip()] if key.strip() else []))


# --- bad configuration: the worker stops at start-up with one message -----------------------------------


@dataclass(frozen=True)
class Config:
    words: tuple[str, ...]
    mapping: Callable[[str], str] | None = None  # edits the default mapping file's text
    env: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ("run", "--once")
    code: int = 2


def _swap(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


CONFIGS = [
    pytest.param(
        Config(
            ("Project field Project__c.Contract_Amout__c is missing",),
            _swap('"Contract_Amount__c"', '"Contract_Amout__c"'),
        ),
        id="mapping-field-not-in-org",
    ),
    pytest.param(
        Config(("The Payment object Paymnet__c is missing",), _swap('object = "Payment__c"', 'object = "Paymnet__c"')),
        id="mapping-object-misspelled",
    ),
    pytest.param(
        Config(
            ("The Stripe Setup object Stripe_Setpu__c is missing",),
            _swap('object = "Stripe_Setup__c"', 'object = "Stripe_Setpu__c"'),
        ),
        id="mapping-setup-object-misspelled",
    ),
    pytest.param(
        Config(
            ("no child relationship Payment__r",),
            _swap('child_relationship = "Payments__r"', 'child_relationship = "Payment__r"'),
        ),
        id="mapping-relationship-misspelled",
    ),
    pytest.param(
        Config(
            ("Payment picklist Status__c lacks the values: Link sent",),
            _swap('link_sent = "Link Sent"', 'link_sent = "Link sent"'),
        ),
        id="mapping-status-word-not-in-picklist",
    ),
    pytest.param(
        Config(("is not valid TOML", "line 32"), _swap("[payment.fields]", "[payment.fields")), id="mapping-bad-toml"
    ),
    pytest.param(
        Config(("payment.fields.amount: missing",), _swap('amount = "Amount__c"\n', "")),
        id="mapping-required-key-missing",
    ),
    pytest.param(
        Config(("payment.fields.link_ulr: unknown key (a typo?)",), _swap("link_url = ", "link_ulr = ")),
        id="mapping-key-misspelled",
    ),
    pytest.param(
        Config(("CRM_MAPPING_FILE", "no such file"), env={"CRM_MAPPING_FILE": "mappings/defualt.toml"}),
        id="mapping-file-missing",
    ),
    pytest.param(
        Config(
            ("PROBLEM: Project field Project__c.Contract_Amout__c is missing",),
            _swap('"Contract_Amount__c"', '"Contract_Amout__c"'),
            command=("check",),
            code=1,
        ),
        id="check-names-the-field-not-in-org",
    ),
    pytest.param(
        Config(
            ("PROBLEM: The Stripe Setup object Stripe_Setpu__c is missing", "Stripe Setup: not checked"),
            _swap('object = "Stripe_Setup__c"', 'object = "Stripe_Setpu__c"'),
            command=("check",),
            code=1,
        ),
        id="check-names-the-setup-object-misspelled",
    ),
    pytest.param(
        Config(("POLL_INTERVAL_SECONDS", "valid number"), env={"POLL_INTERVAL_SECONDS": "abc"}), id="poll-interval-abc"
    ),
    pytest.param(
        Config(("DEPOSIT_PERCENT", "less than or equal to 100"), env={"DEPOSIT_PERCENT": "150"}), id="deposit-150"
    ),
    pytest.param(
        Config(("EVENTS_LOOKBACK_DAYS", "less than or equal to 30"), env={"EVENTS_LOOKBACK_DAYS": "90"}),
        id="lookback-90-days",
    ),
    pytest.param(Config(("LOG_LEVEL",), env={"LOG_LEVEL": "verbose"}), id="log-level-verbose"),
    pytest.param(
        Config(("SALESFORCE_LOGIN_URL", "URL"), env={"SALESFORCE_LOGIN_URL": "acme.my.salesforce"}),
        id="login-url-not-a-url",
    ),
    pytest.param(
        Config(
            ("DEPOSIT_ON_STAGE", "project.fields.stage"),
            lambda text: _swap('stage = "Stage__c"\n', "")(
                _swap('signing_deposit_requested = "Signing_Deposit_Requested__c"', "")(text)
            ),
            env={"DEPOSIT_ON_STAGE": "Signed"},
        ),
        id="deposit-on-stage-without-its-fields",
    ),
]


@pytest.fixture(scope="module")
def config_sandbox() -> Iterator[tuple[Sandbox, str]]:
    """A sandbox with a good Setup and one good request, which no bad start may touch."""
    with Sandbox() as sandbox:
        sandbox.add_setup()
        project = sandbox.add_project("Waiting job", customer_email="pat@example.com", contract_amount=Decimal("9000"))
        sandbox.request_payment(project, type="progress", amount="100.00")
        yield sandbox, project


def _assert_stopped_with_one_message(run: Any, code: int, words: tuple[str, ...], secrets: list[str]) -> None:
    assert run.code == code, (run.stdout, run.stderr)
    assert "Traceback" not in run.stdout + run.stderr
    if code == 2:
        [line] = [line for line in run.stderr.splitlines() if line.strip()]
        assert line.startswith("crm-stripe-sync: configuration error: ")
    else:
        line = run.stdout
    for word in words:
        assert word in line, (word, line)
    for secret in secrets:
        assert secret not in run.stdout + run.stderr, "a secret reached the worker's output"


@pytest.mark.parametrize("row", CONFIGS)
def test_bad_configuration_stops_the_worker_with_one_message_and_nothing_done(
    config_sandbox: tuple[Sandbox, str], tmp_path: Path, row: Config
):
    sandbox, waiting = config_sandbox
    env = dict(row.env)
    if row.mapping is not None:
        env["CRM_MAPPING_FILE"] = str(write_file(tmp_path, "mapping.toml", row.mapping(mapping_text())))
    sandbox.stripe.clear_request_log()

    run = run_worker(sandbox, *row.command, **env)

    _assert_stopped_with_one_message(run, row.code, row.words, secrets_of(sandbox))
    posted = [r for r in sandbox.stripe_requests() if r["method"] == "POST"]
    assert posted == [] and sandbox.payments() == []  # nothing done, nothing sent
    assert sandbox.project(waiting)["request_payment"] is True  # the request is still there for a fixed worker


def test_a_wrong_client_secret_is_named_but_never_echoed(config_sandbox: tuple[Sandbox, str]):
    sandbox, waiting = config_sandbox
    wrong = "x" + sandbox.credentials.client_secret[1:]

    run = run_worker(sandbox, "run", "--once", SALESFORCE_CLIENT_SECRET=wrong)

    _assert_stopped_with_one_message(
        run, 2, ("refused the worker's login", "SALESFORCE_CLIENT_SECRET"), [wrong, *secrets_of(sandbox)]
    )
    assert sandbox.stripe_requests() == [] and sandbox.payments() == []
    assert sandbox.project(waiting)["request_payment"] is True


def test_an_amount_field_made_as_text_in_the_org_stops_the_worker_at_start_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """The admin created Requested Amount as a Text field, so staff can type "12 dollars" in it."""
    as_made = environment.org_schema_for

    def text_amount(mapping: Any) -> Any:
        org = as_made(mapping)
        project = next(o for o in org.objects if o.name == mapping.project.object)
        fields = tuple(
            replace(f, type="string", length=255, precision=None, scale=None)
            if f.name == mapping.project.fields.requested_amount
            else f
            for f in project.fields
        )
        objects = tuple(replace(o, fields=fields) if o is project else o for o in org.objects)
        return replace(org, objects=objects)

    monkeypatch.setattr(environment, "org_schema_for", text_amount)
    with Sandbox() as sandbox:
        sandbox.add_setup()
        bad = sandbox.add_project("Typed amount", customer_email="pat@example.com", contract_amount=Decimal("900"))
        sandbox.request_payment(bad, type="progress", amount="12 dollars")

        run = run_worker(sandbox, "run", "--once")

        _assert_stopped_with_one_message(
            run,
            2,
            ("Project__c.Requested_Amount__c is of type string; the worker needs currency",),
            secrets_of(sandbox),
        )
        assert sandbox.stripe_requests() == [] and sandbox.payments() == []
