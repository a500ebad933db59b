"""Rules a payment request must pass before anything is sent to Stripe."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

from sync.domain import messages, money

DESCRIPTION_LIMIT = 255

# Deliberately plain: one address, a dot in the domain, no spaces or control characters.
_EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")


def normalise_currency(raw: str | None, default: str) -> str:
    return (raw or default or "usd").strip().lower()


def amount_problem(amount: Decimal | None, currency: str) -> str | None:
    """Return the sentence that says why `amount` cannot be requested, or None when it can."""
    if currency not in money.SUPPORTED_CURRENCIES:
        return messages.CURRENCY_UNSUPPORTED.format(currency=currency.upper(), supported=money.SUPPORTED_LIST)
    if amount is None:
        return messages.AMOUNT_MISSING
    if not amount.is_finite():
        return messages.AMOUNT_MISSING
    shown = f"{amount.normalize():f}"
    if amount <= 0:
        return messages.AMOUNT_NOT_POSITIVE.format(amount=shown)
    places = money.decimals_for(currency)
    if amount != amount.quantize(Decimal(1).scaleb(-places), rounding="ROUND_DOWN"):
        return messages.AMOUNT_TOO_PRECISE.format(amount=shown, places=places, currency=currency.upper())
    minimum = money.MINIMUM_CHARGE[currency]
    if amount < minimum:
        return messages.AMOUNT_UNDER_MINIMUM.format(
            amount=money.format_amount(amount, currency),
            minimum=money.format_amount(minimum, currency),
            currency=currency.upper(),
        )
    maximum = money.maximum_amount(currency)
    if amount > maximum:
        return messages.AMOUNT_OVER_MAXIMUM.format(
            amount=money.format_amount(amount, currency), maximum=money.format_amount(maximum, currency)
        )
    return None


def email_problem(email: str | None) -> str | None:
    if email is None or not email.strip():
        return messages.EMAIL_MISSING
    if not _EMAIL.match(email.strip()):
        return messages.EMAIL_MALFORMED.format(email=_printable(email)[:100])
    return None


def description_problem(description: str | None) -> str | None:
    if description is None:
        return None
    if len(description) > DESCRIPTION_LIMIT:
        return messages.DESCRIPTION_TOO_LONG.format(length=len(description), limit=DESCRIPTION_LIMIT)
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\r\t" for ch in description):
        return messages.DESCRIPTION_CONTROL_CHARS
    return None


def _printable(text: str) -> str:
    return "".join(ch if unicodedata.category(ch) != "Cc" else "?" for ch in text)


def plain_text(text: str | None) -> str:
    """Text that crosses to the other side (Stripe's page, the email, a staff post) as plain text:
    control characters (Cc) and format characters (Cf: bidirectional overrides such as U+202E,
    zero-width characters) dropped, whitespace collapsed.

    A Project name or a payer's name is not validated like a request's description, and an override
    can make a sentence read otherwise than it is ("...fdp.exe"), so it is cleaned wherever text crosses.
    """
    if not text:
        return ""
    kept = ("" if unicodedata.category(ch) == "Cf" else " " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    return " ".join("".join(kept).split())
