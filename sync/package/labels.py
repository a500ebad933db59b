"""What staff read on each field: its label and help text, by mapping section and logical name.

Labels are at most 40 characters and help texts at most 510 (the CustomField limits for `label`
and `inlineHelpText`, Metadata API Developer Guide:
developer.salesforce.com/docs/platform/api-metadata/references/meta-types/metadata-customfield.html);
`tests/unit/test_package.py` holds every entry to them.
"""

from __future__ import annotations

from typing import Final

FIELD_TEXT: Final[dict[str, dict[str, tuple[str, str]]]] = {
    "project": {
        "request_payment": (
            "Request Payment",
            "Ticked by the Request Payment action; the worker records one Payment for it and clears the box.",
        ),
        "requested_amount": (
            "Requested Amount",
            "The amount to request. Typed with more decimals than the currency has, the request is refused "
            "with a reason instead of rounded.",
        ),
        "request_type": ("Request Type", "Deposit, Progress, Final or Custom: the kind of payment requested."),
        "request_description": (
            "Request Description",
            "What the customer pays for: shown on the payment page and in the email.",
        ),
        "requested_at": (
            "Requested At",
            "Set when Request Payment is clicked. It keys the request, so a later click makes a new one.",
        ),
        "request_error": (
            "Payment Request Error",
            "Written by the worker: why the last request could not be recorded at all. Cleared when one is.",
        ),
        "signing_deposit_requested": (
            "Signing Deposit Requested",
            "Ticked by the worker when it has requested the deposit on signing, so it is requested once.",
        ),
    },
    "payment": {
        "project": ("Project", "The Project this payment was requested on."),
        "type": ("Type", "Deposit, Progress, Final or Custom."),
        "amount": ("Amount", "What the customer is asked to pay. Editing it before payment replaces the link."),
        "currency": ("Currency", "Three-letter ISO code (usd, eur); blank means the Stripe Setup's default."),
        "description": ("Description", "The line item the customer sees on the payment page."),
        "status": ("Status", "Where the request stands; the worker moves it from what Stripe says."),
        "customer_email": ("Customer Email", "Where the payment link is emailed."),
        "link_url": ("Payment Link", "The Stripe payment link the customer pays on. Written by the worker."),
        "payment_link_id": ("Stripe Payment Link Id", "The plink_ id in Stripe. Written by the worker."),
        "link_revision": ("Link Revision", "Counts the links made for this request (a new one per amount change)."),
        "request_key": (
            "Request Key",
            "Unique key of the request that made this Payment, so a request is recorded once. Do not edit.",
        ),
        "last_sent_at": ("Last Sent At", "When the link was last emailed to the customer."),
        "sync_error": ("Sync Error", "Why the worker could not finish its last step on this Payment, if it could not."),
        "last_synced_at": ("Last Synced At", "When the worker last wrote this Payment."),
        "checkout_session_id": (
            "Stripe Checkout Session Id",
            "The cs_ id of the paid checkout. Written by the worker.",
        ),
        "payment_intent_id": ("Stripe Payment Intent Id", "The pi_ id of the payment. Written by the worker."),
        "charge_id": ("Stripe Charge Id", "The ch_ id of the charge. Written by the worker."),
        "amount_paid": ("Amount Paid", "What Stripe says was paid. Written by the worker."),
        "paid_at": ("Paid At", "When the customer paid."),
        "receipt_url": ("Receipt", "Stripe's receipt for the payment."),
        "amount_refunded": ("Amount Refunded", "What Stripe says was refunded, from the CRM or the Dashboard."),
        "last_failure_code": ("Last Failure Code", "Stripe's code for the last failed attempt (card_declined, ...)."),
        "last_failure": ("Last Failure", "What to tell the customer about the last failed attempt."),
        "dispute_id": ("Stripe Dispute Id", "The dp_ id of a chargeback, if the customer disputed the payment."),
        "dispute_status": ("Dispute Status", "Stripe's status of the dispute."),
        "dispute_reason": ("Dispute Reason", "The reason the customer's bank gave."),
        "amount_disputed": ("Amount Disputed", "The amount under dispute."),
        "resend": ("Resend", "Ticked by Resend Payment Link; the worker emails the link again and clears it."),
        "cancel_requested": (
            "Cancel Requested",
            "Ticked by Cancel Payment Request; the worker deactivates the link and sets Canceled.",
        ),
        "no_reminders": ("No Reminders", "Tick to stop payment reminders for this request."),
        "times_sent": ("Times Sent", "How often the link was emailed (the first send and every resend)."),
        "reminders_sent": ("Reminders Sent", "How many reminders were emailed."),
        "next_reminder_at": ("Next Reminder At", "When the next reminder is due."),
        "link_terms": ("Link Terms", "What the live link charges. Written by the worker."),
        "link_deactivated_at": ("Link Deactivated At", "When the worker turned the link off in Stripe."),
        "sync_log": ("Sync Log", "What the worker did with this Payment, newest last."),
    },
    "refund": {
        "payment": ("Payment", "The Payment refunded."),
        "amount": ("Amount", "How much to refund; leave blank to refund everything still refundable."),
        "reason": ("Reason", "Why the refund is given (for your records)."),
        "status": ("Status", "Requested, then Pending or Succeeded as Stripe reports; Failed with a reason."),
        "source": ("Source", "Where the refund was made: the CRM, or the Stripe Dashboard."),
        "stripe_refund_id": ("Stripe Refund Id", "The re_ id in Stripe; each Stripe refund is recorded once."),
        "failure_reason": ("Failure Reason", "Why the refund was refused or failed."),
    },
    "setup": {
        "active": ("Active", "The worker uses the one active Stripe Setup record."),
        "mode": ("Mode", "Test or Live; a key of the other mode is refused."),
        "secret_key": (
            "Secret Key",
            "A restricted rk_ key is recommended. Encrypted; only the integration user can read it.",
        ),
        "default_currency": ("Default Currency", "Used when a Payment has no currency (usd, eur, ...)."),
        "statement_descriptor_suffix": (
            "Statement Descriptor Suffix",
            "Up to 22 characters added to the card statement after the account's prefix.",
        ),
        "after_payment_message": ("After Payment Message", "Shown to the customer after paying."),
        "connection_status": ("Connection Status", "Written by the worker after it checks the key."),
        "last_verified_at": ("Last Verified At", "When the worker last checked the key with Stripe."),
        "last_error": ("Last Error", "What went wrong with the key or the connection, in words."),
        "events_cursor": (
            "Events Cursor",
            "The newest Stripe event applied. Clear it to make the worker read back and sweep.",
        ),
        "stripe_account_id": ("Stripe Account Id", "The Stripe account the key belonged to when first verified."),
        "confirm_account_change": (
            "Confirm Account Change",
            "An administrator ticks it to accept a key of another Stripe account; the worker clears it.",
        ),
    },
}
