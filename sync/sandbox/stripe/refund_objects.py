"""Builders for Refund and Dispute objects, with the keys of Stripe's official fixtures.

A succeeded refund has exactly the fixture's keys. Keys the 2023 OpenAPI spec marks optional and the
fixture leaves out appear only when they apply: `pending_reason` on a pending refund,
`failure_reason` and `failure_balance_transaction` on a failed one (stripe-python `_refund.py`
documents each for that state only; not confirmed against the live API).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

REVERSAL_WINDOW_SECONDS = 24 * 3600
# A chargeback's evidence is due some days after it opens; the fixture's `due_by` is the last second
# of a day (23:59:59 UTC). Seven days is our choice, not confirmed against the live API.
EVIDENCE_DAYS = 7
# Visa reason codes for each dispute reason (Visa's dispute categories; fixture: "10.4" fraud).
_NETWORK_REASON_CODES = {
    "fraudulent": "10.4",
    "duplicate": "12.6.1",
    "product_not_received": "13.1",
    "product_unacceptable": "13.3",
    "subscription_canceled": "13.2",
    "credit_not_processed": "13.7",
    "unrecognized": "10.4",
    "general": "13.3",
}


def refund(
    charge: dict[str, Any],
    *,
    refund_id: str,
    amount: int,
    reason: str | None,
    metadata: dict[str, str],
    status: str,
    now: int,
    balance_transaction: str,
) -> dict[str, Any]:
    """A card Refund against `charge`."""
    # "Some refunds—those issued shortly after the original charge—appear in the form of a reversal
    # instead of a refund" (Stripe docs, "Canceling and refunding payments"); the fixture's card
    # refund is such a reversal. The 24-hour window is ours, not confirmed against the live API.
    if now - charge["created"] < REVERSAL_WINDOW_SECONDS:
        card: dict[str, Any] = {"type": "reversal"}
    else:
        card = {
            "reference": None,
            "reference_status": "pending",
            "reference_type": "acquirer_reference_number",
            "type": "refund",
        }
    body: dict[str, Any] = {
        "amount": amount,
        "balance_transaction": balance_transaction,
        "charge": charge["id"],
        "created": now,
        "currency": charge["currency"],
        "destination_details": {"card": card, "type": "card"},
        "id": refund_id,
        "metadata": metadata,
        "object": "refund",
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": status,
        "transfer_reversal": None,
        "customer": charge["customer"],
        "customer_account": None,
        "payment_method": charge["payment_method"],
    }
    if status == "pending":
        body["pending_reason"] = "processing"
    return body


def failed_refund(refund: dict[str, Any], *, failure_reason: str, failure_balance_transaction: str) -> dict[str, Any]:
    """The refund after it failed: the money went back to the balance (`failure_balance_transaction`)."""
    body = {k: v for k, v in refund.items() if k != "pending_reason"}
    body.update(
        status="failed",
        failure_reason=failure_reason,
        failure_balance_transaction=failure_balance_transaction,
    )
    return body


def settled_refund(refund: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in refund.items() if k != "pending_reason"}
    body["status"] = "succeeded"
    return body


def _evidence_due(now: int) -> int:
    day = datetime.fromtimestamp(now, tz=UTC).date() + timedelta(days=EVIDENCE_DAYS)
    return int(datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=UTC).timestamp())


_EVIDENCE_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)


def dispute(
    charge: dict[str, Any],
    *,
    dispute_id: str,
    amount: int,
    reason: str,
    now: int,
    withdrawal: dict[str, Any],
) -> dict[str, Any]:
    """A card chargeback (`needs_response`) whose amount was withdrawn from the balance at once."""
    card = charge["payment_method_details"]["card"]
    evidence: dict[str, Any] = dict.fromkeys(_EVIDENCE_FIELDS)
    evidence["enhanced_evidence"] = {}
    return {
        "amount": amount,
        "balance_transactions": [withdrawal],
        "charge": charge["id"],
        "created": now,
        "currency": charge["currency"],
        "evidence": evidence,
        "evidence_details": {
            "due_by": _evidence_due(now),
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
            "enhanced_eligibility": {},
        },
        "id": dispute_id,
        # "If true, it's still possible to refund the disputed payment" (stripe-python _dispute.py);
        # a chargeback's funds are already withdrawn, so no.
        "is_charge_refundable": False,
        "livemode": charge["livemode"],
        "metadata": {},
        "object": "dispute",
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {
            "card": {
                "brand": card["brand"],
                "case_type": "chargeback",
                "network_reason_code": _NETWORK_REASON_CODES.get(reason, "13.3"),
                "network": card["network"],
            },
            "type": "card",
        },
        "reason": reason,
        "status": "needs_response",
        "enhanced_eligibility_types": [],
    }
