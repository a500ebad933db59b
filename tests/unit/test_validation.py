from decimal import Decimal
from pathlib import Path

import pytest

from sync.domain import messages, money
from sync.domain.validation import amount_problem, description_problem, email_problem, plain_text


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (Decimal("100.00"), "usd", None),
        (Decimal("0.50"), "usd", None),
        (Decimal("999999.99"), "usd", None),
        (None, "usd", "The amount is missing"),
        (Decimal("0"), "usd", "must be more than zero (it is 0)"),
        (Decimal("-5"), "usd", "must be more than zero (it is -5)"),
        (Decimal("10.005"), "usd", "more than 2 decimal places"),
        (Decimal("0.49"), "usd", "under Stripe's minimum of $0.50"),
        (Decimal("1000000.00"), "usd", "over the $999,999.99 a single payment link allows"),
        (Decimal("10.5"), "jpy", "more than 0 decimal places"),
        (Decimal("100"), "xyz", "currency 'XYZ' is not supported"),
        # KWD is a three-letter code: the sentence names the ones that are supported instead.
        (Decimal("100"), "kwd", "'KWD' is not supported: use one of AED, AUD, BGN"),
        (Decimal("NaN"), "usd", "The amount is missing"),
    ],
)
def test_amount_rules_each_say_what_is_wrong(amount, currency, expected):
    problem = amount_problem(amount, currency)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


@pytest.mark.parametrize(
    ("email", "ok"),
    [
        ("pat@example.com", True),
        ("pat.o'neil+jobs@mail.example.co.uk", True),
        (None, False),
        ("", False),
        ("   ", False),
        ("pat", False),
        ("pat@", False),
        ("pat@example", False),
        ("pat@exa mple.com", False),
        ("a@b.com, c@d.com", False),
        ("pat\n@example.com", False),
    ],
)
def test_customer_email_must_be_one_plain_address(email, ok):
    assert (email_problem(email) is None) is ok


def test_missing_email_and_malformed_email_have_their_own_messages():
    assert email_problem(None) == messages.EMAIL_MISSING
    assert "not a valid email address" in (email_problem("nope") or "")


def test_description_limits():
    assert description_problem(None) is None
    assert description_problem("Kitchen deposit 🏠") is None
    assert "256 characters long" in (description_problem("x" * 256) or "")
    assert description_problem("bad\x00text") == messages.DESCRIPTION_CONTROL_CHARS
    assert description_problem("two\nlines") is None


def test_the_unsupported_currency_sentence_lists_every_supported_currency():
    problem = amount_problem(Decimal("100"), "kwd")
    assert problem is not None
    listed = problem.split("use one of ")[1].rstrip(".").split(", ")
    assert listed == sorted(c.upper() for c in money.SUPPORTED_CURRENCIES)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Deposit \u202egpj.exe", "Deposit gpj.exe"),  # a right-to-left override (Cf) dropped
        ("Kit\u200bchen\u2066 remodel\u2069", "Kitchen remodel"),  # zero-width space, isolates
        ("\ufeffBath\u00ad room", "Bath room"),  # byte-order mark, soft hyphen
        ("Line\none\ttab\x1b[31m", "Line one tab [31m"),  # control characters (Cc) become spaces
        ("Café – 50 %", "Café – 50 %"),  # ordinary text untouched
        (None, ""),
    ],
)
def test_text_that_crosses_to_the_other_side_is_plain(raw, clean):
    assert plain_text(raw) == clean


def test_the_readme_lists_the_supported_currencies_as_the_code_does():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert money.SUPPORTED_LIST in " ".join(readme.split())
