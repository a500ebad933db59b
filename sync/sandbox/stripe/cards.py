"""Stripe's test card numbers and what a payment with each one does.

Numbers and codes follow https://docs.stripe.com/testing ("Declined payments": error code and, for
`card_declined`, the decline code), as summarised with sources in shared/reference/stripe.md §2b.
Messages are the texts Stripe returns for those codes (seen verbatim in client logs, e.g. "Your card
was declined.", "An error occurred while processing your card. Try again in a little bit.").
The testing page lists no decline code for expired_card, incorrect_cvc and processing_error, so
none is set for them (not confirmed against the live API). Seller messages and outcome types follow
https://docs.stripe.com/declines ("issuer_declined", "The bank returned the decline code `x`.").

Two cards pay normally and change what a refund of the charge does (the testing page's "Refunds"):
…7726 "Pending refund" (the refund starts `pending` and succeeds some time later) and …5126
"Asynchronous refund failure" (the refund starts `succeeded` and fails some time later with
`failure_reason: expired_or_canceled_card`, announced by `charge.refund.updated`). "Later" is the
control API's `POST /__sandbox/refunds/{id}/settle` or `.../fail` here. The 5126 wording is confirmed
by a copy of Stripe's table (technweb.atlassian.net "Testing for specific responses and errors");
the 7726 behaviour is from the testing page as remembered, not confirmed from a stored copy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decline:
    """Why a test card's payment fails: the card_error Stripe returns and the charge outcome."""

    code: str
    decline_code: str | None
    message: str
    param: str | None = None
    seller_message: str | None = None

    @property
    def reason(self) -> str:
        """The charge's `outcome.reason`: the decline code, else the error code."""
        return self.decline_code or self.code


@dataclass(frozen=True)
class RefundBehaviour:
    """What a refund of a charge paid with a test card does after it is made."""

    starts_pending: bool = False
    # The `failure_reason` the refund gets when it fails later (the control API's `fail`).
    fails_later_with: str | None = None


NORMAL_REFUNDS = RefundBehaviour()


@dataclass(frozen=True)
class Card:
    number: str
    brand: str
    funding: str = "credit"
    decline: Decline | None = None
    refund_behaviour: RefundBehaviour = NORMAL_REFUNDS

    @property
    def last4(self) -> str:
        return self.number[-4:]


def _declined(decline_code: str, message: str) -> Decline:
    seller = (
        "The bank did not return any further details with this decline."
        if decline_code == "generic_decline"
        else f"The bank returned the decline code `{decline_code}`."
    )
    return Decline("card_declined", decline_code, message, seller_message=seller)


def _error(code: str, message: str, param: str | None = None) -> Decline:
    return Decline(code, None, message, param=param, seller_message=f"The bank returned the decline code `{code}`.")


_CARDS = [
    Card("4242424242424242", "visa"),
    Card("4000056655665556", "visa", funding="debit"),
    Card("5555555555554444", "mastercard"),
    Card("378282246310005", "amex"),
    Card("4000000000000002", "visa", decline=_declined("generic_decline", "Your card was declined.")),
    Card("4000000000009995", "visa", decline=_declined("insufficient_funds", "Your card has insufficient funds.")),
    Card("4000000000009987", "visa", decline=_declined("lost_card", "Your card was declined.")),
    Card("4000000000009979", "visa", decline=_declined("stolen_card", "Your card was declined.")),
    Card("4000000000000069", "visa", decline=_error("expired_card", "Your card has expired.", "exp_month")),
    Card("4000000000000127", "visa", decline=_error("incorrect_cvc", "Your card's security code is incorrect.", "cvc")),
    Card(
        "4000000000000119",
        "visa",
        decline=_error("processing_error", "An error occurred while processing your card. Try again in a little bit."),
    ),
    Card("4000000000007726", "visa", refund_behaviour=RefundBehaviour(starts_pending=True)),
    Card("4000000000005126", "visa", refund_behaviour=RefundBehaviour(fails_later_with="expired_or_canceled_card")),
]
TEST_CARDS = {card.number: card for card in _CARDS}


def card_for(number: str) -> Card:
    """The test card with this number (spaces and dashes ignored).

    Raises:
        ValueError: not one of the test cards the emulator knows.
    """
    digits = "".join(ch for ch in number if ch.isdigit())
    card = TEST_CARDS.get(digits)
    if card is None:
        known = ", ".join(TEST_CARDS)
        raise ValueError(f"{number!r} is not a test card the emulator knows; use one of {known}")
    return card
