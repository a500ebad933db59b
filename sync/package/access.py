"""Who may edit which field: the one table the staff permission set and the layouts both follow.

Staff edit the request (on the Project, through Request Payment), a Payment's request terms and
its three boxes, and a new Refund's amount and reason. Everything the worker owns
(`worker_owned` in the mapping: Stripe ids, amounts paid and refunded, the link URL and terms) and
everything else it writes is read-only to them. The worker does not rely on it (invariant 7).
"""

from __future__ import annotations

from sync.config.mapping import field_specs

from .fields import SPEC_MODELS

_STAFF_EDITS = {
    "project": frozenset(
        {"request_payment", "requested_amount", "request_type", "request_description", "requested_at"}
    ),
    "payment": frozenset(
        {"project", "type", "amount", "currency", "description", "status", "customer_email", "resend",
         "cancel_requested", "no_reminders"}
    ),
    "refund": frozenset({"amount", "reason"}),
    "setup": frozenset(),
}  # fmt: skip

# On the Stripe Setup layout the admin edits the settings, ticks Confirm Account Change and may
# clear Events Cursor (README); what the worker reports is read-only.
SETUP_READ_ONLY = frozenset({"connection_status", "last_verified_at", "last_error", "stripe_account_id"})


def staff_edits(section: str, logical: str) -> bool:
    """Whether staff may edit this field; never a worker-owned one."""
    allowed = logical in _STAFF_EDITS[section]
    assert not (allowed and field_specs(SPEC_MODELS[section])[logical].worker_owned), (section, logical)
    return allowed
