"""A customer paying a payment link on the hosted page: Checkout Session, PaymentIntent, Charge.

What one attempt leaves, and the events in the order they are recorded:
- first attempt on a session: `payment_intent.created` (Checkout creates the PaymentIntent when the
  customer submits, since API 2022-08-01);
- a declined card: `charge.failed`, `payment_intent.payment_failed`; the PaymentIntent is back in
  `requires_payment_method` with `last_payment_error`, the session stays open and the customer can
  retry on the same page (a new Charge on the same PaymentIntent);
- a card that succeeds: `charge.succeeded`, `payment_intent.succeeded`, `checkout.session.completed`,
  `payment_link.updated` if that completed session reached `restrictions.completed_sessions.limit`
  ("When the payment link reaches the limit, it automatically deactivates"), then `charge.updated`
  filling in `balance_transaction`: since API 2024-04-10 card payments capture asynchronously and
  charge.succeeded carries none (github.com/hackclub/hcb/pull/6987, stripe/stripe-dotnet#2914);
- an open session expiring (its `expires_at` passed, or `POST /v1/checkout/sessions/{id}/expire`):
  `checkout.session.expired`; the next attempt on the link opens a new session.
A `stripe trigger checkout.session.completed` run quoted on stackoverflow received
payment_intent.created, charge.succeeded, checkout.session.completed, payment_intent.succeeded,
charge.updated; that is delivery order, which Stripe does not guarantee. Here the session completes
after the payment it records, so payment_intent.succeeded comes first (not confirmed against the
live API). Whether a completed session below the limit records a payment_link.updated for its
count is not confirmed; none is recorded.
"""

from __future__ import annotations

import copy
import sqlite3
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import charge_limits, errors, ids, payment_objects, store
from .cards import TEST_CARDS, Card, card_for
from .scope import Scope

# Checkout requires an email for a card payment; a customer who gives none types this one.
DEFAULT_EMAIL = "customer@example.com"


def find_link(conn: sqlite3.Connection, link: str) -> tuple[store.Stored, dict[str, str]]:
    """The payment link named by an id, a URL or the URL's token, and the URL's query parameters.

    Raises:
        errors.ActionNotFound: no such link.
    """
    parts = urlsplit(link.strip())
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    if parts.path.startswith("plink_"):
        stored = store.get_object(conn, parts.path, type="payment_link")
    else:
        token = parts.path.rstrip("/").rsplit("/", 1)[-1]
        stored = store.find_by_internal(conn, "payment_link", "token", token)
    if stored is None:
        raise errors.ActionNotFound(f"No such payment link: {link!r}")
    return stored, query


def card_paid_with(stored_charge: store.Stored) -> Card | None:
    """The test card a charge was paid with (None for a charge stored without it)."""
    return TEST_CARDS.get(stored_charge.internal.get("card_number", ""))


def pay(
    scope: Scope,
    stored_link: store.Stored,
    *,
    card: str,
    email: str | None,
    name: str | None,
    new_session: bool,
    client_reference_id: str | None = None,
) -> dict[str, Any]:
    """One payment attempt on the link's hosted page; returns the objects' ids and statuses.

    Raises:
        ValueError: an unknown test card number.
        errors.ActionError: the link is inactive, sells a subscription, or charges less than Stripe's
            minimum once converted to the account's settlement currency; nothing is created.
    """
    test_card = card_for(card)
    link = stored_link.body
    if not link["active"]:
        message = link["inactive_message"] or "This link is no longer active."
        raise errors.ActionError(f"Payment link {link['id']} is inactive: {message}")
    if link["subscription_data"] is not None:
        raise errors.ActionError("The emulator pays one-time payment links only, not subscriptions")
    total = payment_objects.line_total(stored_link.internal["line_items"])
    too_small = charge_limits.minimum_problem(Decimal(total), link["currency"], settlement=scope.settlement_currency)
    if too_small is not None:
        # Checkout makes and confirms the PaymentIntent at the account's settlement currency of now.
        raise errors.ActionError(too_small.message)
    _expire_due_sessions(scope, link["id"])
    session = None if new_session else _open_session(scope, link["id"])
    if session is None:
        session = _new_session(
            scope, stored_link, email=email or DEFAULT_EMAIL, name=name, reference=client_reference_id
        )
    intent = _intent_for(scope, link, session)
    pm = payment_objects.payment_method(
        test_card,
        pm_id=ids.new_id("pm"),
        livemode=scope.livemode,
        now=scope.now,
        email=session["customer_details"]["email"],
        name=session["customer_details"]["name"],
    )
    store.insert_object(scope.conn, pm, mode=scope.mode)
    charge_id = ids.new_id("ch")
    charge = payment_objects.charge(
        intent,
        pm,
        test_card,
        charge_id=charge_id,
        now=scope.now,
        receipt_url=None if test_card.decline else scope.receipt_url(charge_id),
    )
    # The card number stays with the charge, out of its body: refunds follow the card's behaviour.
    store.insert_object(scope.conn, charge, mode=scope.mode, internal={"card_number": test_card.number})
    if test_card.decline is not None:
        return _declined(scope, session, intent, charge, pm, test_card)
    return _succeeded(scope, stored_link, session, intent, charge, pm)


def _declined(
    scope: Scope,
    session: dict[str, Any],
    intent: dict[str, Any],
    charge: dict[str, Any],
    pm: dict[str, Any],
    card: Card,
) -> dict[str, Any]:
    scope.record("charge.failed", charge)
    failed = {
        **intent,
        "last_payment_error": payment_objects.last_payment_error(charge, pm, card),
        "latest_charge": charge["id"],
        "payment_method": None,
        "status": "requires_payment_method",
    }
    store.update_object(scope.conn, failed)
    scope.record("payment_intent.payment_failed", failed)
    error = failed["last_payment_error"]
    link = store.get_object(scope.conn, session["payment_link"])
    assert link is not None
    return _result(
        session,
        failed,
        charge,
        link.body,
        error={k: error.get(k) for k in ("type", "code", "decline_code", "message")},
    )


def _succeeded(
    scope: Scope,
    stored_link: store.Stored,
    session: dict[str, Any],
    intent: dict[str, Any],
    charge: dict[str, Any],
    pm: dict[str, Any],
) -> dict[str, Any]:
    scope.record("charge.succeeded", charge)
    paid = {
        **intent,
        "amount_received": intent["amount"],
        "last_payment_error": None,
        "latest_charge": charge["id"],
        "payment_method": pm["id"],
        "status": "succeeded",
    }
    store.update_object(scope.conn, paid)
    scope.record("payment_intent.succeeded", paid)
    complete = {**session, "payment_status": "paid", "status": "complete", "url": None}
    store.update_object(scope.conn, complete)
    scope.record("checkout.session.completed", complete)
    link = _count_completed_session(scope, stored_link)
    txn = payment_objects.balance_transaction(
        txn_id=ids.new_id("txn"),
        amount=charge["amount"],
        currency=charge["currency"],
        now=scope.now,
        source=charge["id"],
        type="charge",
        reporting_category="charge",
        description=charge["description"],
    )
    store.insert_object(scope.conn, txn, mode=scope.mode)
    settled = {**charge, "balance_transaction": txn["id"]}
    scope.update(charge, settled, event="charge.updated")
    return _result(complete, paid, settled, link, error=None)


def _count_completed_session(scope: Scope, stored_link: store.Stored) -> dict[str, Any]:
    link = stored_link.body
    if link["restrictions"] is None:
        return link
    counted = copy.deepcopy(link)
    completed = counted["restrictions"]["completed_sessions"]
    completed["count"] += 1
    if completed["count"] >= completed["limit"]:
        counted["active"] = False
        scope.update(link, counted, event="payment_link.updated")
    else:
        store.update_object(scope.conn, counted)
    return counted


def _result(
    session: dict[str, Any],
    intent: dict[str, Any],
    charge: dict[str, Any],
    link: dict[str, Any],
    *,
    error: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "status": charge["status"],
        "checkout_session": {
            "id": session["id"],
            "status": session["status"],
            "payment_status": session["payment_status"],
        },
        "payment_intent": {"id": intent["id"], "status": intent["status"]},
        "charge": {"id": charge["id"], "status": charge["status"], "receipt_url": charge["receipt_url"]},
        "payment_link": {"id": link["id"], "active": link["active"]},
        "error": error,
    }


def _sessions_of(scope: Scope, link_id: str) -> list[dict[str, Any]]:
    found = store.list_objects(scope.conn, "checkout.session", mode=scope.mode, equal={"payment_link": link_id})
    return [stored.body for stored in found]


def _open_session(scope: Scope, link_id: str) -> dict[str, Any] | None:
    """The most recent open session of the link: a customer retrying on the same page."""
    return next((s for s in _sessions_of(scope, link_id) if s["status"] == "open"), None)


def expire_session(scope: Scope, stored: store.Stored) -> dict[str, Any]:
    """Expire an open Checkout Session now (`POST /v1/checkout/sessions/{id}/expire`); returns it.

    The customer can no longer pay on it; paying the link again opens a new session.

    Raises:
        errors.StripeError: the session is not open (complete, or expired already).
    """
    session = stored.body
    status = session["status"]
    if status == "open" and session["expires_at"] <= scope.now:
        status = "expired"  # past `expires_at`, which the emulator notices only lazily
    if status != "open":
        # The live API's text, quoted from a stripe-php InvalidRequestException in
        # github.com/Sylius/PayumStripePlugin/issues/70 (`expired`) and matched in client code for
        # `complete`; whether it carries a `code` or `param` is not confirmed, so neither is sent.
        raise errors.invalid(
            f'Only Checkout Sessions with a status in ["open"] can be expired. '
            f"This Checkout Session has a status of `{status}`."
        )
    return _expire(scope, session)


def _expire_due_sessions(scope: Scope, link_id: str) -> None:
    # Sessions expire at `expires_at`; the emulator notices when the link is next opened, so the
    # `checkout.session.expired` event carries that moment rather than the expiry second.
    for session in _sessions_of(scope, link_id):
        if session["status"] == "open" and session["expires_at"] <= scope.now:
            _expire(scope, session)


def _expire(scope: Scope, session: dict[str, Any]) -> dict[str, Any]:
    # Only `status` and `url` change: `payment_status` stays `unpaid` (the expire endpoint's example
    # response on docs.stripe.com). Whether Stripe also cancels the session's PaymentIntent is not
    # confirmed; the emulator leaves it as it is.
    expired = {**session, "status": "expired", "url": None}
    store.update_object(scope.conn, expired)
    scope.record("checkout.session.expired", expired)
    return expired


def _new_session(
    scope: Scope, stored_link: store.Stored, *, email: str, name: str | None, reference: str | None
) -> dict[str, Any]:
    token = stored_link.internal["token"]
    session = payment_objects.checkout_session(
        stored_link.body,
        stored_link.internal["line_items"],
        session_id=ids.new_session_id(scope.mode),
        livemode=scope.livemode,
        now=scope.now,
        url=scope.link_url(token),
        email=email,
        name=name,
        client_reference_id=reference,
    )
    store.insert_object(scope.conn, session, mode=scope.mode)
    return session


def _intent_for(scope: Scope, link: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
    """The session's PaymentIntent, created (with its event) on the first attempt."""
    if session["payment_intent"] is not None:
        stored = store.get_object(scope.conn, session["payment_intent"])
        assert stored is not None
        return stored.body
    intent_id = ids.new_id("pi")
    intent = payment_objects.payment_intent(
        link,
        session,
        intent_id=intent_id,
        client_secret=ids.new_client_secret(intent_id),
        livemode=scope.livemode,
        now=scope.now,
    )
    store.insert_object(scope.conn, intent, mode=scope.mode)
    scope.record("payment_intent.created", intent)
    store.update_object(scope.conn, {**session, "payment_intent": intent_id})
    session["payment_intent"] = intent_id
    return intent
