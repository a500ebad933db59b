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
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "cad": "$", "aud": "$", "nzd": "$", "sgd": "$", "hkd": "$", "jpy": "¥"}


def display_amount(amount: int, currency: str) -> str:
    """An amount as Stripe's refund errors show it: `$20.00`, `€7.00`; other currencies `12.00 SEK`."""
    currency = currency.lower()
    # Thousands separated by commas: not confirmed against the live API (quoted texts are all < 1,000).
    major = f"{amount:,}" if currency in ZERO_DECIMAL else f"{Decimal(amount).scaleb(-2):,.2f}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{major}" if symbol else f"{major} {currency.upper()}"
