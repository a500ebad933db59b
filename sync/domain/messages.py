"""Every sentence the worker writes on a CRM record for staff or admins, in one place."""

from __future__ import annotations

STRIPE_NOT_CONNECTED = (
    "Stripe is not connected: an administrator must configure Stripe in Setup. "
    "This request will be sent automatically once Stripe is connected."
)

# Setup record problems (written to the Setup record's Last Error).
NO_ACTIVE_SETUP = "No active Stripe Setup record: create one and tick Active."
PROJECT_FEED_OFF = (
    "Feed tracking is off for the Project object ({object}), so staff posts (payment received, disputes) "
    "cannot be made; payments are still recorded. Turn it on in Setup > Feed Tracking (and Chatter in "
    "Setup > Chatter Settings), or set STAFF_NOTICES=false."
)
SETUP_NOT_IN_USE = (
    "Not in use: another active Stripe Setup ({used}) is the one the worker uses. Untick Active on this one."
)
SEVERAL_ACTIVE_SETUPS = (
    "{count} Stripe Setup records are active; the most recently changed one whose key and mode pass the checks is "
    "used (or, when none does, the most recently changed). Untick Active on the others."
)
NO_KEY = "The Secret Key is empty: paste a Stripe secret (sk_) or restricted (rk_) key."
NO_MODE = "Mode is empty: choose Test or Live."
PUBLISHABLE_KEY = "The Secret Key is a publishable key (pk_): paste a secret (sk_) or restricted (rk_) key instead."
MALFORMED_KEY = "The Secret Key does not look like a Stripe key: it must start with sk_ or rk_."
PAYMENT_ACTIVITIES_OFF = (
    "Activities are off for the Payment object ({object}), so Salesforce cannot log the link emails on "
    "Payments and refuses to send them. Turn on Allow Activities for it (Setup > Object Manager > "
    "Payment > Edit)."
)
EMAIL_LOG_HIDDEN = (
    "The worker's user cannot read EmailMessage, the log of the emails it sent, so it could not tell an "
    "email sent from one lost. Turn on Enhanced Email (Setup > Enhanced Email) and give the user Read on "
    "EmailMessage."
)
SENDER_NOT_VERIFIED = (
    "The worker's Salesforce user has not verified its email address, and Salesforce drops email from "
    "unverified addresses, often without saying so: customers would get no links. Log in as that user and "
    "click the link in the verification email (Setup > Users shows the status), or verify its domain."
)
SENDER_UNKNOWN = (
    "Could not confirm that the worker's user has verified its email address (TwoFactorMethodsInfo is not "
    "visible to it); check it in Setup > Users: Salesforce drops email from unverified addresses."
)
EMAIL_LIMIT_LOW = (
    "Only {left} of the org's {most} single emails a day are left today; links and reminders beyond them "
    "wait until the limit resets."
)
KEY_MASKED = (
    "The Secret Key reads as masked characters: the worker's Salesforce user lacks the View Encrypted Data "
    "permission. Grant it (in a permission set); the key itself may be right."
)
KEY_HAS_STRAY_CHARACTERS = (
    "The Secret Key contains spaces or characters a Stripe key never has: copy it again from the Stripe Dashboard."
)
MODE_MISMATCH = "The Secret Key is a {key_mode} key but Mode is {record_mode}: use a {record_mode} key, or change Mode."
KEY_REJECTED = "Stripe rejected the Secret Key (it may have been revoked or mistyped): paste a current key."
KEY_LACKS_PERMISSION = (
    "Stripe accepted the key but it lacks a permission the worker needs: {detail}. "
    "Give the restricted key Write on Payment Links and on Refunds, and Read on Checkout Sessions, "
    "PaymentIntents, Charges, Disputes, Events and the account (rak_accounts_kyc_basic_read)."
)
DEFAULT_CURRENCY_UNSUPPORTED = (
    "The Default Currency '{currency}' is not one the worker can charge in: requests without a currency of "
    "their own are refused until it is one of {supported}."
)
STRIPE_UNREACHABLE = "Stripe could not be reached to verify the key; the worker will try again."
LIVE_KEY_OFF_STRIPE = (
    "The Secret Key is a live key, and the worker sends live keys only to api.stripe.com over https, "
    "not to the STRIPE_API_BASE it is set up with: use a test key, or have ops unset STRIPE_API_BASE."
)
ACCOUNT_CHANGED = (
    "The Secret Key belongs to Stripe account {actual}, not {pinned}, the account this Setup has been "
    "taking payments into. No links, refunds or cancels go to Stripe until an administrator who has "
    "checked the key ticks Confirm Account Change (or pastes a key of {pinned})."
)
DESCRIPTOR_SUFFIX_UNUSABLE = (
    "The Statement Descriptor Suffix '{suffix}' cannot be used: {why}. New payment links are created "
    "without it until it is fixed."
)
DESCRIPTOR_FORBIDDEN = "Stripe forbids the characters < > \\ ' \" * in it"
DESCRIPTOR_NOT_LATIN = "Stripe allows only Latin letters, digits, spaces and punctuation in it"
DESCRIPTOR_NO_LETTER = "it needs at least one letter"
DESCRIPTOR_TOO_LONG = (
    "with the account's prefix '{prefix}' it makes '{combined}', {length} characters, and card "
    "statements allow 22: shorten it to {room}"
)

# Request and Payment problems (written to the Payment's Sync Error with status Error).
AMOUNT_MISSING = "The amount is missing: enter the amount to request."
AMOUNT_NOT_POSITIVE = "The amount must be more than zero (it is {amount})."
AMOUNT_TOO_PRECISE = "The amount {amount} has more than {places} decimal places for {currency}."
AMOUNT_UNDER_MINIMUM = "The amount {amount} is under Stripe's minimum of {minimum} for {currency}."
AMOUNT_OVER_MAXIMUM = (
    "The amount {amount} is over the {maximum} a single payment link allows: split it into several requests."
)
CURRENCY_UNSUPPORTED = "The currency '{currency}' is not supported: use one of {supported}."
EMAIL_MISSING = "There is no customer email: add one to the Payment or to the Project's customer."
EMAIL_MALFORMED = "The customer email '{email}' is not a valid email address."
DESCRIPTION_TOO_LONG = "The description is {length} characters long; shorten it to {limit} or fewer."
DESCRIPTION_CONTROL_CHARS = "The description contains control characters; retype it as plain text."
PROJECT_NOT_FOUND = "The Payment is not linked to an existing Project: set its Project."
TYPE_UNKNOWN = "The payment type '{value}' is not one of {allowed}."
NO_CONTRACT_AMOUNT = (
    "A {type} without an amount takes its amount from the Project's contract amount, which is empty: "
    "enter an amount, or fill in the contract amount."
)
CONTRACT_NOT_POSITIVE = (
    "A {type} without an amount takes its amount from the Project's contract amount, which is {contract}: "
    "enter an amount, or correct the contract amount."
)
NOTHING_LEFT_TO_REQUEST = (
    "A Final payment without an amount requests the balance still unrequested, and nothing is left "
    "(contract {contract}, already requested {requested})."
)
CRM_REFUSED_UPDATE = (
    "The CRM refused the worker's update of this Payment ({detail}). Ask your admin about the rule or "
    "automation it names; the worker tries again each cycle, and never emails the customer twice meanwhile."
)
REQUEST_NOT_TAKEN = (
    "This request could not be recorded as a Payment: the CRM refused it ({detail}). Ask your admin to "
    "look at the rule it names, then tick Request Payment again."
)
REQUEST_NOT_RECORDABLE = (
    "The CRM refused the request as entered ({detail}); correct the Project's request fields or this "
    "Payment, then set it to Requested."
)
EDITED_DURING_LINK_CREATION = (
    "The request was edited while its payment link was being created; a fresh link will be created."
)
SIGNING_DEPOSIT_DESCRIPTION = "Deposit on signing ({stage})"
STRIPE_REJECTED_LINK = "Stripe refused to create the payment link: {detail}"
# Stripe's minimum applies after converting to the currency the account is paid out in
# (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts), which the worker does not know.
STRIPE_AMOUNT_TOO_SMALL = (
    "Stripe refused {amount}: it is under Stripe's minimum charge once converted to the currency this "
    "Stripe account is paid out in ({detail}). Request a larger amount (or add this one to another "
    "payment), then set the Payment back to Requested; the worker does not retry this amount by itself."
)
EMAIL_REJECTED = "The CRM could not email the link to {email}: {detail}"
# The org refuses every email until an admin acts (or the day ends): the Payment waits, not an error.
EMAIL_LIMIT_REACHED = (
    "Salesforce's daily email limit for this org is used up (SINGLE_EMAIL_LIMIT_EXCEEDED); the email is "
    "sent automatically once the limit resets. `python -m sync check` shows how many are left."
)
EMAIL_NOT_LOGGABLE = (
    "Salesforce cannot log the email on this Payment, so it was not sent: activities are off on the "
    "Payment object. An administrator turns on Allow Activities for it (Setup → Object Manager → "
    "Payment → Edit); the email is sent automatically then."
)

# --- outcomes read back from Stripe ----------------------------------------------------------------
# What staff should do after a failed payment attempt, by Stripe's decline code (or error code when
# there is none): docs.stripe.com/declines/codes. The link stays payable after any of these.
STILL_PAYABLE = " The payment link still works."
DECLINE_GUIDANCE = {
    "generic_decline": "The card was declined: ask the customer to pay with a different card.",
    "card_declined": "The card was declined: ask the customer to pay with a different card.",
    "do_not_honor": "The card was declined by the bank: ask the customer to pay with a different card.",
    "insufficient_funds": (
        "The card has insufficient funds: the customer must resolve it with their bank, or pay with another card."
    ),
    "expired_card": "The card has expired: ask the customer for updated card details, or another card.",
    "incorrect_cvc": "The card's security code (CVC) was wrong: ask the customer to check it and try again.",
    "incorrect_number": "The card number was wrong: ask the customer to check it and try again.",
    "processing_error": "The card could not be processed: ask the customer to try again in a few minutes.",
    "lost_card": "The card was declined: ask the customer to pay with a different card.",
    "stolen_card": "The card was declined: ask the customer to pay with a different card.",
    "fraudulent": "The card was declined: ask the customer to pay with a different card.",
    "card_velocity_exceeded": (
        "The card is over its spending limit: the customer must contact their bank, or pay with another card."
    ),
    "authentication_required": (
        "The bank asked the customer to authenticate and it was not completed: ask them to try again."
    ),
}
DECLINE_OTHER = "The payment attempt failed ({code}): ask the customer to try again, or to pay with a different card."

# Why a refund failed after Stripe accepted it, by Stripe's failure_reason. The money returns to
# the Stripe balance, so staff must repay the customer another way.
REFUND_FAILURE_GUIDANCE = {
    "expired_or_canceled_card": "The customer's card has expired or was canceled.",
    "lost_or_stolen_card": "The customer's card was reported lost or stolen.",
    "insufficient_funds": "The Stripe balance did not cover the refund.",
    "declined": "The customer's bank declined the refund.",
    "charge_for_pending_refund_disputed": "The customer disputed the payment while the refund was pending.",
    "merchant_request": "The refund was canceled at your request.",
    "unknown": "Stripe did not say why.",
}
REFUND_FAILED = "The refund failed: {why} The money went back to your Stripe balance; repay the customer another way."
PAID_AFTER_CANCEL = (
    "The customer paid after this request was canceled: refund the payment from the CRM, or keep it and "
    "set the status back."
)

# --- staff actions ----------------------------------------------------------------------------------
RESEND_REFUSED = {
    "paid": "Not resent: this payment has already been paid.",
    "canceled": "Not resent: this request is canceled and its link no longer works.",
    "error": (
        "Not resent: the request has an error and was never sent; fix it, then set its status back to "
        "Requested. {error}"
    ),
    "other": "Not resent: a link can be resent only while it is waiting for payment.",
    "no_email": "Not resent: the Payment has no valid customer email; add one, then tick Resend again.",
}
STRIPE_REFUSED_DEACTIVATION = "Stripe refused to deactivate the payment link: {detail}"
CANCEL_REFUSED_PAID = (
    "Not canceled: this payment has already been paid. To give the money back, issue a refund (add a Refund)."
)
PAID_BEFORE_REPLACEMENT = (
    "The customer paid {paid} on the previous link before the request changed to {asked}; no new link was "
    "sent. Request the difference, or refund it."
)
# Sync Log lines (what the worker did, newest last).
LOG_SENT = "Link revision {revision} emailed to {to}."
LOG_RESENT = "Link resent to {to} (send {count})."
LOG_REMINDED = "Reminder {number} emailed to {to}."
LOG_REMINDERS_DONE = "No more reminders: {count} sent, the most allowed."
LOG_CANCELED = "Canceled; the payment link was deactivated in Stripe."
AMOUNT_EDIT_REFUSED_PAID = (
    "The amount of a paid payment cannot be changed, so it was put back to {charged}, what the customer "
    "paid. To give money back, issue a Refund; to ask for more, make a new request."
)
LOG_AMOUNT_PUT_BACK = "Amount put back to {charged}: it had been changed to {typed} after the payment."
LOG_PAID_BY_HAND = "Marked paid by hand: the payment link was deactivated in Stripe and reminders stopped."
PAID_TWICE = (
    "Check for a double payment: this Payment was marked paid by hand, and the customer also paid {amount} on "
    "its payment link. If both were paid, refund one: issue a Refund here, or refund the other payment."
)
LOG_CANCELED_NO_LINK = "Canceled before a payment link was sent."
LOG_REPLACED = (
    "The request changed ({change}): link revision {old} was deactivated in Stripe; revision {new} replaces it."
)
LOG_RELINKED_ON_REQUEST = (
    "Set to Requested with link revision {old}, which {why}: revision {new} will be made and emailed instead."
)
LINK_NO_LONGER_ACTIVE = "is no longer active in Stripe"
LINK_CHARGES_OTHERWISE = "charges other than the record now says (it was deactivated)"
REQUESTED_BUT_PAID = (
    "This payment was already paid on its link, so it was not requested again and its status was put back. "
    "To ask the customer for more, make a new request."
)

# Refunds asked for in the CRM (written to the Refund's Failure Reason with status Error).
REFUND_NOT_PAID = "Nothing to refund: this payment has not been paid. To withdraw an unpaid request, cancel it."
REFUND_NO_STRIPE_CHARGE = (
    "Nothing to refund through Stripe: this payment is marked paid but has no Stripe charge (it was not paid "
    "through its payment link). Give the money back the way it was paid."
)
REFUND_ALREADY_REFUNDED = (
    "Nothing to refund: this payment has already been refunded in full, or is being (refunds pending count)."
)
REFUND_DISPUTE_LOST = (
    "Nothing to refund: the dispute was lost, so the customer's bank has already returned this payment to them."
)
REFUND_DISPUTED = (
    "This payment is disputed, so it cannot be refunded now: respond to the dispute in the Stripe Dashboard."
)
REFUND_NOT_POSITIVE = "The refund amount must be more than zero (it is {amount})."
REFUND_TOO_PRECISE = "The refund amount {amount} has more than {places} decimal places for {currency}."
REFUND_TOO_LARGE = (
    "The refund of {amount} is more than what is left to refund: {left} (paid {paid}, already refunded or "
    "pending {committed})."
)
REFUND_NOTHING_LEFT = "Nothing is left to refund: {paid} paid, {committed} already refunded or pending."
STRIPE_REFUSED_REFUND = "Stripe refused the refund: {detail}"
REFUND_CURRENCY_MISMATCH = (
    "Not refunded: this Payment's currency reads {record} but Stripe charged {charge}, and a refund is made in "
    "the charge's currency, never converted. Set the Payment's Currency back to {charge}, then ask again."
)

# --- Stripe ids on a record are claims (invariant 7) -------------------------------------------------
# Written to the Payment's Sync Error (and the Refund's Failure Reason) when a Stripe object the
# record names carries another Payment's id, or none; nothing is done with it in Stripe.
FOREIGN_OBJECT = (
    "The Stripe {what} {object_id} on this Payment belongs to another Payment, so the worker did nothing with it "
    "in Stripe and recorded nothing from it. The Stripe fields on a Payment are the worker's: put back this "
    "Payment's own Payment Link Id, or ask an administrator."
)
RELINKED = (
    "The Payment Link Id on this Payment had been changed to {foreign}, a link of another Payment, so the worker "
    "did nothing with that link in Stripe and put back this Payment's own link, {own}, as Stripe shows it."
)
LOG_FOREIGN = "Stopped: the Stripe {what} {object_id} belongs to another Payment."
LOG_TAMPERED = "{fields}: did not match Stripe, so put back to what Stripe holds ({before})."

# A record the worker cannot read or plan (written to the Payment's Sync Error; the rest go on).
FIELD_UNREADABLE = (
    "The worker cannot read {field}: it holds '{value}', which is not a {kind}. "
    "Correct that field; the worker tries again on its next cycle."
)
RECORD_UNREADABLE = (
    "The worker cannot read this record ({error_type}); the details are in the worker's log. "
    "The worker tries again on its next cycle."
)
PLANNING_FAILED = (
    "The worker hit an internal error ({error_type}) deciding what to do with this record; the details "
    "are in the worker's log. Nothing was sent to Stripe; it tries again on its next cycle."
)
