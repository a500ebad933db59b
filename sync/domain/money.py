"""Exact money: Decimal in the CRM, integer minor units at Stripe, one conversion each way.

Sources: https://docs.stripe.com/currencies (zero-decimal currencies; minimum charge amounts;
"The amount value supports up to eight digits").
"""

from __future__ import annotations

from decimal import Decimal

# Currencies whose amounts Stripe takes in whole units, not hundredths.
ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())

# Stripe's minimum charge per settlement currency (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
MINIMUM_CHARGE: dict[str, Decimal] = {
    "usd": Decimal("0.50"),
    "aed": Decimal("2.00"),
    "aud": Decimal("0.50"),
    "bgn": Decimal("1.00"),
    "brl": Decimal("0.50"),
    "cad": Decimal("0.50"),
    "chf": Decimal("0.50"),
    "czk": Decimal("15.00"),
    "dkk": Decimal("2.50"),
    "eur": Decimal("0.50"),
    "gbp": Decimal("0.30"),
    "hkd": Decimal("4.00"),
    "huf": Decimal("175.00"),
    "inr": Decimal("0.50"),
    "jpy": Decimal("50"),
    "mxn": Decimal("10.00"),
    "myr": Decimal("2.00"),
    "nok": Decimal("3.00"),
    "nzd": Decimal("0.50"),
    "pln": Decimal("2.00"),
    "ron": Decimal("2.00"),
    "sek": Decimal("3.00"),
    "sgd": Decimal("0.50"),
    "thb": Decimal("10.00"),
}

SUPPORTED_CURRENCIES = frozenset(MINIMUM_CHARGE)
# For the sentences that name them: "AED, AUD, ... USD".
SUPPORTED_LIST = ", ".join(sorted(c.upper() for c in SUPPORTED_CURRENCIES))

# "The amount value supports up to eight digits" in minor units.
MAX_MINOR_UNITS = 99_999_999


def decimals_for(currency: str) -> int:
    """How many decimal places an amount in `currency` may have."""
    return 0 if currency.lower() in ZERO_DECIMAL else 2


def to_minor_units(amount: Decimal, currency: str) -> int:
    """Convert a CRM amount to Stripe's integer minor units; raise ValueError if not exact."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"amount must be a Decimal, not {type(amount).__name__}")
    scaled = amount.scaleb(decimals_for(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more decimals than {currency.upper()} allows")
    return int(scaled)


def from_minor_units(minor: int, currency: str) -> Decimal:
    """Convert Stripe's integer minor units to an exact Decimal amount."""
    places = decimals_for(currency)
    return Decimal(minor).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def maximum_amount(currency: str) -> Decimal:
    """The largest amount one payment link can carry in `currency`."""
    return from_minor_units(MAX_MINOR_UNITS, currency)


def format_amount(amount: Decimal, currency: str) -> str:
    """Format for people: `$5,000.00`, `€12.50`, `JPY 5,000`."""
    symbols = {"usd": "$", "cad": "CA$", "aud": "A$", "eur": "€", "gbp": "£", "nzd": "NZ$"}
    places = decimals_for(currency)
    text = f"{amount:,.{places}f}"
    symbol = symbols.get(currency.lower())
    return f"{symbol}{text}" if symbol else f"{currency.upper()} {text}"
