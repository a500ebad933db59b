"""Stripe's minimum charge, after conversion to the settlement currency, and the three-decimal rule.

What Stripe documents (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts, "Minimum and
maximum charge amounts"): a minimum per settlement currency (the table below, in minor units);
"The minimum amount is $0.50 US or equivalent in charge currency" (stripe-python 16.1
`PaymentIntentCreateParams.amount`); and a charge in a presentment currency other than the
settlement currency must convert to at least the settlement currency's minimum, so a ¥50 charge
on an account paid out in USD (about $0.33) is refused though ¥50 is JPY's own minimum. The rate is
Stripe's of the moment; the emulator uses the fixed approximate rates below, not Stripe's.

Where the check comes, as the emulator models it:
- `POST /v1/payment_links`: the link's total is checked against the link currency's minimum and,
  converted, the settlement currency's. Not confirmed against the live API for payment links: no
  stored source shows a link refused. It is what Stripe answers when the same line items make a
  PaymentIntent (the texts below) or a Checkout Session (`amount_too_small`, "The Checkout Session's
  total amount due must add up to at least $0.50 usd", quoted in client code and project notes).
- the hosted page (a customer paying, when Checkout creates and confirms the PaymentIntent):
  checked again at the account's settlement currency of that moment, so a link made before the
  account changed its payout currency can no longer be paid (the page shows the conversion text;
  a link under its own currency's minimum cannot exist here, so Checkout's own text is not used).

Texts, as real answers quote them (type `invalid_request_error`, code `amount_too_small`, no
`param`: the whole error of a live answer in github.com/EuroPython/epcon/issues/1259):
- "Amount must be at least €0.50 eur" (same issue);
- "Amount must convert to at least 50 cents. ¥5 converts to approximately $0.03."
  (github.com/opencollective/opencollective-api/pull/10662), and "Amount must convert to at least
  200 fils. ₨50.00 converts to approximately د.إ0.66." (a live test-mode PaymentIntent quoted in a
  public project's notes). The minimum is named in the settlement currency's minor unit; names
  other than cents, fils and stotinka are not confirmed.

Three-decimal currencies (BHD, JOD, KWD, OMR, TND): "these API calls require the least-significant
(last) digit to be 0 ... For example, 5.124 KWD must be rounded to 5120 or 5130" (same docs page,
"Three-decimal currencies"). The refusal's wording is not confirmed; ours names the rule.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from . import currencies, errors

# Minor units (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
MINIMUM_CHARGE: dict[str, int] = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50, "czk": 1500,
    "dkk": 250, "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50, "jpy": 50, "mxn": 1000,
    "myr": 200, "nok": 300, "nzd": 50, "pln": 200, "ron": 200, "sek": 300, "sgd": 50, "thb": 1000,
}  # fmt: skip
THREE_DECIMAL = currencies.THREE_DECIMAL
# Units per US dollar: fixed and approximate (the emulator's, not Stripe's). A currency with no rate
# here is not converted: a link in it is checked against its own minimum only.
UNITS_PER_USD: dict[str, Decimal] = {
    k: Decimal(v)
    for k, v in {
        "usd": "1", "aed": "3.6725", "aud": "1.52", "bgn": "1.80", "brl": "5.40", "cad": "1.37",
        "chf": "0.88", "czk": "23.0", "dkk": "6.85", "eur": "0.92", "gbp": "0.79", "hkd": "7.80",
        "huf": "360", "inr": "84", "jpy": "150", "mxn": "18.5", "myr": "4.45", "nok": "10.8",
        "nzd": "1.68", "pln": "3.95", "ron": "4.58", "sek": "10.6", "sgd": "1.34", "thb": "34",
        "pkr": "280", "bhd": "0.376", "jod": "0.709", "kwd": "0.307", "omr": "0.385", "tnd": "3.1",
    }.items()
}  # fmt: skip
# How Stripe names the settlement currency's minor unit in "Amount must convert to at least 50 cents".
_MINOR_UNIT = {"usd": "cents", "aed": "fils", "bgn": "stotinka", "gbp": "pence", "jpy": "yen", "huf": "fillér"}


def minor_digits(currency: str) -> int:
    currency = currency.lower()
    if currency in currencies.ZERO_DECIMAL:
        return 0
    return 3 if currency in THREE_DECIMAL else 2


def three_decimal_problem(amount: int | Decimal, currency: str, *, param: str) -> errors.StripeError | None:
    """The refusal of a three-decimal amount whose last digit is not 0, else None."""
    if currency.lower() not in THREE_DECIMAL or Decimal(amount) % 10 == 0:
        return None
    return errors.invalid(
        f"Amounts in {currency.upper()} must end in 0 (a multiple of 10 in the minor unit): round "
        f"{Decimal(amount):f} to the nearest ten.",
        param=param,
    )


def convert(amount: Decimal, source: str, target: str) -> Decimal | None:
    """`amount` (minor units of `source`) in minor units of `target` at the emulator's rates, rounded
    down; None when either has no rate."""
    source, target = source.lower(), target.lower()
    if source == target:
        return amount
    if source not in UNITS_PER_USD or target not in UNITS_PER_USD:
        return None
    major = amount.scaleb(-minor_digits(source)) / UNITS_PER_USD[source] * UNITS_PER_USD[target]
    return major.scaleb(minor_digits(target)).to_integral_value(rounding=ROUND_FLOOR)


def minimum_problem(amount: Decimal, currency: str, *, settlement: str) -> errors.StripeError | None:
    """Stripe's `amount_too_small` for a total of `amount` (minor units of `currency`) on an account
    settling in `settlement`, else None."""
    currency, settlement = currency.lower(), settlement.lower()
    own = MINIMUM_CHARGE.get(currency)
    if own is None:  # "$0.50 US or equivalent in charge currency"
        equivalent = convert(Decimal(MINIMUM_CHARGE["usd"]), "usd", currency)
        own = None if equivalent is None else int(equivalent)
    if own is not None and amount < own:
        return _too_small(f"Amount must be at least {currencies.display_amount(own, currency)} {currency}")
    if settlement == currency or settlement not in MINIMUM_CHARGE:
        return None
    converted = convert(amount, currency, settlement)
    floor = MINIMUM_CHARGE[settlement]
    if converted is None or converted >= floor:
        return None
    unit = _MINOR_UNIT.get(settlement, "cents")
    return _too_small(
        f"Amount must convert to at least {floor} {unit}. {currencies.display_amount(int(amount), currency)} "
        f"converts to approximately {currencies.display_amount(int(converted), settlement)}."
    )


def _too_small(message: str) -> errors.StripeError:
    return errors.invalid(message, code="amount_too_small")
