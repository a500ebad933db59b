"""Stripe API versions: which the API accepts, and what an account's default version changes.

Accepted: the versions Stripe's OpenAPI spec lists for `POST /v1/webhook_endpoints` `api_version`
("Events sent to this endpoint will be generated with this Stripe Version instead of your account's
default Stripe Version"), as stripe-python 16.1.0 carries them (`WebhookEndpointCreateParams`;
`tests/sandbox/test_stripe_api_versions.py` checks that the two agree). Any other `Stripe-Version`
is refused as the live API refuses it: 400 `invalid_request_error`, "Invalid Stripe API version:
2019-2-19" (github.com/stripe/stripe-java/issues/682; the same text for "2022-08-02",
github.com/pay-rails/pay/issues/680). Whether the body carries a `code` is not confirmed: none is sent.
Whether a named version's bare date ("2024-10-28" for "2024-10-28.acacia") is taken is not
confirmed either: only the listed strings are.

An event's `data.object` is rendered in the account's default version, not the request's ("Each
event data is rendered according to Stripe API version at its creation time", stripe-python
`_event.py`; docs.stripe.com/api/events/list). What the emulator renders differently for an
account pinned to an older version (API responses are always rendered in the current shape: the
worker pins its version on every request, so real Stripe answers it in that version too):
- before 2024-10-28.acacia, a refund of a charge sends no `refund.created`, `refund.updated` or
  `refund.failed`, only `charge.refunded` and `charge.refund.updated`: since that version the
  refund events are sent for all refunds, before it only for refunds without a charge
  (docs.stripe.com/changelog/acacia/2024-10-28/refund-webhook-update, paraphrased);
- before 2022-11-15, a PaymentIntent carries `charges` (a list of its charges) and no
  `latest_charge` ("Removes the `charges` property on the PaymentIntent object. Use the
  `latest_charge` property instead.", docs.stripe.com/changelog/2022-11-15/
  removes-charges-attribute-paymentintent), and a Charge carries its `refunds` as a list ("The
  `Charges` object no longer auto-expands refunds by default", docs.stripe.com/changelog/
  2022-11-15/deprecates-charges-auto-expand).
Not modelled: other shape changes between versions (e.g. asynchronous capture before 2024-04-10).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from . import errors, store

KNOWN = (
    "2011-01-01", "2011-06-21", "2011-06-28", "2011-08-01", "2011-09-15", "2011-11-17", "2012-02-23",
    "2012-03-25", "2012-06-18", "2012-06-28", "2012-07-09", "2012-09-24", "2012-10-26", "2012-11-07",
    "2013-02-11", "2013-02-13", "2013-07-05", "2013-08-12", "2013-08-13", "2013-10-29", "2013-12-03",
    "2014-01-31", "2014-03-13", "2014-03-28", "2014-05-19", "2014-06-13", "2014-06-17", "2014-07-22",
    "2014-07-26", "2014-08-04", "2014-08-20", "2014-09-08", "2014-10-07", "2014-11-05", "2014-11-20",
    "2014-12-08", "2014-12-17", "2014-12-22", "2015-01-11", "2015-01-26", "2015-02-10", "2015-02-16",
    "2015-02-18", "2015-03-24", "2015-04-07", "2015-06-15", "2015-07-07", "2015-07-13", "2015-07-28",
    "2015-08-07", "2015-08-19", "2015-09-03", "2015-09-08", "2015-09-23", "2015-10-01", "2015-10-12",
    "2015-10-16", "2016-02-03", "2016-02-19", "2016-02-22", "2016-02-23", "2016-02-29", "2016-03-07",
    "2016-06-15", "2016-07-06", "2016-10-19", "2017-01-27", "2017-02-14", "2017-04-06", "2017-05-25",
    "2017-06-05", "2017-08-15", "2017-12-14", "2018-01-23", "2018-02-05", "2018-02-06", "2018-02-28",
    "2018-05-21", "2018-07-27", "2018-08-23", "2018-09-06", "2018-09-24", "2018-10-31", "2018-11-08",
    "2019-02-11", "2019-02-19", "2019-03-14", "2019-05-16", "2019-08-14", "2019-09-09", "2019-10-08",
    "2019-10-17", "2019-11-05", "2019-12-03", "2020-03-02", "2020-08-27", "2022-08-01", "2022-11-15",
    "2023-08-16", "2023-10-16", "2024-04-10", "2024-06-20", "2024-09-30.acacia", "2024-10-28.acacia",
    "2024-11-20.acacia", "2024-12-18.acacia", "2025-01-27.acacia", "2025-02-24.acacia", "2025-03-01.dashboard",
    "2025-03-31.basil", "2025-04-30.basil", "2025-05-28.basil", "2025-06-30.basil", "2025-07-30.basil",
    "2025-08-27.basil", "2025-09-30.clover", "2025-10-29.clover", "2025-11-17.clover", "2025-12-15.clover",
    "2026-01-28.clover", "2026-02-25.clover", "2026-03-25.dahlia", "2026-04-22.dahlia", "2026-05-27.dahlia",
    "2026-06-24.dahlia", "2026-07-29.dahlia", "2026-08-26.dahlia", "2026-09-30.endive", "2026-10-28.endive",
)  # fmt: skip
REFUND_EVENTS_FOR_CHARGES = "2024-10-28"  # acacia: refund.* events for charge refunds too
LATEST_CHARGE = "2022-11-15"  # PaymentIntent.latest_charge replaces .charges; Charge.refunds not expanded


def check(version: str) -> str:
    """`version` if Stripe accepts it.

    Raises:
        errors.StripeError: as the live API answers an unknown version.
    """
    if version not in KNOWN:
        raise errors.invalid(f"Invalid Stripe API version: {version}")
    return version


def before(version: str, date: str) -> bool:
    """Whether `version` (e.g. "2024-06-20" or "2024-09-30.acacia") predates the release of `date`."""
    return version[:10] < date


def sends_event(type: str, obj: dict[str, Any], *, version: str) -> bool:
    """Whether an account at `version` records this event at all."""
    charge_refund = obj.get("object") == "refund" and obj.get("charge") is not None
    return not (type.startswith("refund.") and charge_refund and before(version, REFUND_EVENTS_FOR_CHARGES))


def render(conn: sqlite3.Connection, obj: dict[str, Any], *, version: str) -> dict[str, Any]:
    """`obj` as an event's `data.object` for an account at `version`."""
    if not before(version, LATEST_CHARGE):
        return obj
    if obj.get("object") == "payment_intent":
        charges = [
            _with_refunds(conn, s.body) for s in store.list_objects(conn, "charge", equal={"payment_intent": obj["id"]})
        ]
        rendered = {k: v for k, v in obj.items() if k != "latest_charge"}
        rendered["charges"] = _list(charges, f"/v1/charges?payment_intent={obj['id']}")
        return rendered
    if obj.get("object") == "charge":
        return _with_refunds(conn, obj)
    return obj


def render_previous(obj: dict[str, Any], previous: dict[str, Any] | None, *, version: str) -> dict[str, Any] | None:
    """An event's `previous_attributes` without the keys `version` does not have."""
    if previous is None or not before(version, LATEST_CHARGE) or obj.get("object") != "payment_intent":
        return previous
    return {k: v for k, v in previous.items() if k != "latest_charge"}


def _with_refunds(conn: sqlite3.Connection, charge: dict[str, Any]) -> dict[str, Any]:
    refunds = [s.body for s in store.list_objects(conn, "refund", equal={"charge": charge["id"]})]
    return {**charge, "refunds": _list(refunds, f"/v1/charges/{charge['id']}/refunds")}


def _list(data: list[dict[str, Any]], url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": False, "total_count": len(data), "url": url}
