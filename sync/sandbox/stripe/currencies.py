"""Currencies Stripe accepts, in the order its "Invalid currency" message lists them.

Source: the live API's error text as quoted in client code ("Invalid currency: x. Stripe currently
supports these currencies: usd, aed, ..."); see https://docs.stripe.com/currencies.
"""

from __future__ import annotations

from decimal import Decimal

SUPPORTED = (
    "usd", "aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam", "bbd", "bdt",
    "bgn", "bhd", "bif", "bmd", "bnd", "bob", "brl", "bsd", "bwp", "byn", "bzd", "cad", "cdf", "chf",
    "clp", "cny", "cop", "crc", "cve", "czk", "djf", "dkk", "dop", "dzd", "egp", "etb", "eur", "fjd",
    "fkp", "gbp", "gel", "gip", "gmd", "gnf", "gtq", "gyd", "hkd", "hnl", "hrk", "htg", "huf", "idr",
    "ils", "inr", "isk", "jmd", "jod", "jpy", "kes", "kgs", "khr", "kmf", "krw", "kwd", "kyd", "kzt",
    "lak", "lbp", "lkr", "lrd", "lsl", "mad", "mdl", "mga", "mkd", "mmk", "mnt", "mop", "mur", "mvr",
    "mwk", "mxn", "myr", "mzn", "nad", "ngn", "nio", "nok", "npr", "nzd", "omr", "pab", "pen", "pgk",
    "php", "pkr", "pln", "pyg", "qar", "ron", "rsd", "rub", "rwf", "sar", "sbd", "scr", "sek", "sgd",
    "shp", "sle", "sos", "srd", "std", "szl", "thb", "tjs", "tnd", "top", "try", "ttd", "twd", "tzs",
    "uah", "ugx", "uyu", "uzs", "vnd", "vuv", "wst", "xaf", "xcd", "xof", "xpf", "yer", "zar", "zmw",
    "usdc", "btn", "ghs", "eek", "lvl", "svc", "vef", "ltl", "sll", "mro",
)  # fmt: skip


def invalid_currency_message(value: str) -> str:
    # Stripe lower-cases the value it echoes ("Invalid currency: abc" for "ABC").
    listed = ", ".join(SUPPORTED)
    return f"Invalid currency: {value.lower()}. Stripe currently supports these currencies: {listed}"


# Amounts in these are whole units (https://docs.stripe.com/currencies#zero-decimal).
ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
# Amounts in these are thousandths (https://docs.stripe.com/currencies, "Three-decimal currencies").
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
# `mxn`, `pkr` and `aed` as Stripe's minimum-charge texts show them ("$10.00 mxn", "₨50.00 converts
# to approximately د.إ0.66"; see charge_limits.py).
_SYMBOLS = {
    "usd": "$", "eur": "€", "gbp": "£", "cad": "$", "aud": "$", "nzd": "$", "sgd": "$", "hkd": "$", "jpy": "¥",
    "mxn": "$", "pkr": "₨", "aed": "د.إ",
}  # fmt: skip


def display_amount(amount: int, currency: str) -> str:
    """An amount as Stripe's refund errors show it: `$20.00`, `€7.00`; other currencies `12.00 SEK`."""
    currency = currency.lower()
    # Thousands separated by commas: not confirmed against the live API (quoted texts are all < 1,000).
    places = 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2
    major = f"{Decimal(amount).scaleb(-places):,.{places}f}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{major}" if symbol else f"{major} {currency.upper()}"
