"""`expand[]` for payment objects: which fields expand into which objects, checked then rendered.

"You can expand recursively by specifying nested fields after a dot (.)"; "Expansions on list
requests start with the data property"; "Expansions have a maximum depth of four levels (for
example, the deepest expansion allowed when listing charges is data.invoice.subscription.default_source)"
(docs.stripe.com/api/expanding_objects). A Charge's `refunds` is a list that appears only when
expanded (API 2022-11-15). Fields Stripe can expand but the emulator does not model (e.g.
`balance_transaction`, `customer`) are refused like unexpandable ones: a test then fails where
production would work, never the other way round.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from . import errors, store
from .listing import page

MAX_DEPTH = 4
REFUND_LIST = "list of refund"
EXPANDABLE: dict[str, dict[str, str]] = {
    "checkout.session": {"payment_intent": "payment_intent"},
    "payment_intent": {"latest_charge": "charge"},
    "charge": {"payment_intent": "payment_intent", "refunds": REFUND_LIST},
    "refund": {"charge": "charge", "payment_intent": "payment_intent"},
    "dispute": {"charge": "charge", "payment_intent": "payment_intent"},
}


def check(paths: list[str], kind: str, *, listed: bool = False) -> set[str]:
    """Validate `expand[]` for an object of `kind` (a list of them if `listed`); returns the paths.

    Raises:
        errors.StripeError: a path deeper than four levels or through an unexpandable field.
    """
    for path in paths:
        segments = path.split(".")
        if len(segments) > MAX_DEPTH:
            # Wording not confirmed against the live API; the four-level limit is documented.
            raise errors.invalid(
                f"You cannot expand more than {MAX_DEPTH} levels of a property. Property: {path}", param="expand"
            )
        current = f"list of {kind}" if listed else kind
        for segment in segments:
            if current.startswith("list of "):
                if segment != "data":
                    raise _unexpandable(segment)
                current = current.removeprefix("list of ")
                continue
            target = EXPANDABLE.get(current, {}).get(segment)
            if target is None:
                raise _unexpandable(segment)
            current = target
    return set(paths)


def _unexpandable(field: str) -> errors.StripeError:
    # Wording recalled from the live API for a field that is not expandable.
    return errors.invalid(f"This property cannot be expanded ({field}).")


def render(conn: sqlite3.Connection, obj: dict[str, Any], paths: set[str]) -> dict[str, Any]:
    """`obj` with the fields named by `paths` (already checked) replaced by the objects they name."""
    if not paths:
        return obj
    groups: dict[str, set[str]] = {}
    for path in paths:
        head, _, rest = path.partition(".")
        groups.setdefault(head, set())
        if rest:
            groups[head].add(rest)
    out = dict(obj)
    for field, rest in groups.items():
        if obj["object"] == "charge" and field == "refunds":
            out["refunds"] = _refund_list(conn, obj["id"], rest)
            continue
        value = obj.get(field)
        if isinstance(value, str):
            stored = store.get_object(conn, value)
            out[field] = value if stored is None else render(conn, stored.body, rest)
    return out


def render_all(conn: sqlite3.Connection, items: list[dict[str, Any]], paths: set[str]) -> list[dict[str, Any]]:
    """Render a list page's items for `data.`-prefixed paths."""
    inner = {path.removeprefix("data.") for path in paths if path.startswith("data.")}
    return [render(conn, item, inner) for item in items]


def _refund_list(conn: sqlite3.Connection, charge_id: str, paths: set[str]) -> dict[str, Any]:
    refunds = [s.body for s in store.list_objects(conn, "refund", equal={"charge": charge_id})]
    # An expanded list shows its first page only, as Stripe does.
    listing = page(refunds, params={}, kind="refund", url=f"/v1/charges/{charge_id}/refunds")
    listing["data"] = render_all(conn, listing["data"], paths)
    return listing
