"""The receipt page a charge's `receipt_url` points at, served by the emulator itself.

Real receipts live on pay.stripe.com and are "kept up-to-date to the latest state of the charge,
including any refunds" (stripe-python `_charge.py`); this one is rendered from the stored charge on
each request, so it is too.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from .currencies import display_amount


def page(charge: dict[str, Any]) -> str:
    """A small HTML receipt: amount paid, amount refunded, date, and the card."""
    currency = charge["currency"]
    paid_on = datetime.fromtimestamp(charge["created"], tz=UTC).strftime("%Y-%m-%d")
    card = (charge["payment_method_details"] or {}).get("card") or {}
    rows = [
        ("Amount paid", "amount", charge["amount"], display_amount(charge["amount"], currency)),
        (
            "Amount refunded",
            "amount-refunded",
            charge["amount_refunded"],
            display_amount(charge["amount_refunded"], currency),
        ),
    ]
    cells = "".join(
        f"<tr><th>{label}</th><td class='{cls}' data-minor-units='{minor}'>{html.escape(text)}</td></tr>"
        for label, cls, minor, text in rows
    )
    description = html.escape(charge["description"] or "")
    brand = html.escape(f"{card.get('brand', '')} •••• {card.get('last4', '')}")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Receipt</title></head>"
        f"<body data-charge='{html.escape(charge['id'])}' data-currency='{html.escape(currency)}'>"
        f"<h1>Receipt</h1><p class='description'>{description}</p><table>{cells}"
        f"<tr><th>Date paid</th><td class='date'>{paid_on}</td></tr>"
        f"<tr><th>Payment method</th><td class='card'>{brand}</td></tr></table></body></html>"
    )
