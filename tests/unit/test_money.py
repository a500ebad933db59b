from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.domain import money


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (Decimal("5000.00"), "usd", 500000),
        (Decimal("0.50"), "usd", 50),
        (Decimal("999999.99"), "usd", 99999999),
        (Decimal("12.3"), "eur", 1230),
        (Decimal("5000"), "jpy", 5000),
        (Decimal("5000"), "JPY", 5000),
    ],
)
def test_to_minor_units_is_exact(amount, currency, minor):
    assert money.to_minor_units(amount, currency) == minor


@pytest.mark.parametrize(("amount", "currency"), [(Decimal("1.005"), "usd"), (Decimal("10.5"), "jpy")])
def test_to_minor_units_refuses_amounts_it_would_have_to_round(amount, currency):
    with pytest.raises(ValueError, match="more decimals"):
        money.to_minor_units(amount, currency)


def test_to_minor_units_refuses_floats():
    with pytest.raises(TypeError):
        money.to_minor_units(10.1, "usd")  # type: ignore[arg-type]


@given(minor=st.integers(min_value=0, max_value=money.MAX_MINOR_UNITS), currency=st.sampled_from(["usd", "jpy", "eur"]))
def test_minor_units_round_trip(minor, currency):
    assert money.to_minor_units(money.from_minor_units(minor, currency), currency) == minor


def test_format_amount_for_people():
    assert money.format_amount(Decimal("5000"), "usd") == "$5,000.00"
    assert money.format_amount(Decimal("5000"), "jpy") == "JPY 5,000"
    assert money.format_amount(Decimal("12.5"), "eur") == "€12.50"
