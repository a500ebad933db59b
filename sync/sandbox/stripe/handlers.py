"""The emulated Stripe API endpoints: account, payment links, prices, products, events.

Each handler gets a `Call` (mode, decoded params, path ids, an open transaction) and returns the
JSON body of a 200 answer, or raises `errors.StripeError`.
"""

from __future__ import annotations

import fnmatch
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import charge_limits, currencies, errors, event_objects, ids, objects, param_specs, store
from .listing import created_matches, page, reject_unknown_expansions, split_expand
from .schema import Obj, check
from .scope import Scope

EVENT_RETENTION_SECONDS = 30 * 24 * 3600  # "List events, going back up to 30 days."


@dataclass
class Call:
    """What a handler needs to know about one authenticated API request."""

    conn: sqlite3.Connection
    mode: str
    params: dict[str, Any]
    path_args: dict[str, str]
    now: int
    request_id: str
    idempotency_key: str | None
    account_id: str
    account_api_version: str
    link_url: Callable[[str], str]
    base_url: str = "http://127.0.0.1"
    settlement_currency: str = "usd"  # the account's default currency, which it is paid out in

    @property
    def livemode(self) -> bool:
        return self.mode == "live"

    def scope(self) -> Scope:
        """This request as the author of changes (its id and idempotency key go on the events)."""
        return Scope(
            conn=self.conn,
            mode=self.mode,
            now=self.now,
            api_version=self.account_api_version,
            base_url=self.base_url,
            settlement_currency=self.settlement_currency,
            request_id=self.request_id,
            idempotency_key=self.idempotency_key,
        )

    def validated(self, spec: Obj) -> dict[str, Any]:
        return check(spec, self.params)


def get_account(call: Call, account: dict[str, Any]) -> dict[str, Any]:
    params = call.validated(param_specs.RETRIEVE)
    reject_unknown_expansions(set(params.get("expand", [])), set())
    return account


# --- payment links -----------------------------------------------------------------------------


def create_payment_link(call: Call) -> dict[str, Any]:
    params = call.validated(param_specs.PAYMENT_LINK_CREATE)
    expand = _link_expansions(params)
    planned = [_plan_line_item(call, item, index) for index, item in enumerate(params["line_items"])]
    link_currency = planned[0]["currency"]
    for index, item in enumerate(planned):
        if item["currency"] != link_currency:
            # Wording not confirmed against the live API.
            raise errors.invalid(
                "All line items must have the same currency.",
                param=f"line_items[{index}][price_data][currency]",
            )
    if "currency" in params:
        currency = params["currency"].lower()
        if currency not in currencies.SUPPORTED:
            raise errors.invalid(currencies.invalid_currency_message(params["currency"]), param="currency")
        if currency != link_currency:
            raise errors.invalid(
                f"The currency {currency} is not supported by every line item's price.", param="currency"
            )
    _check_amounts(call, planned, link_currency)
    items = [_create_line_item(call, item) for item in planned]
    link_id = ids.new_id("plink")
    token = ids.new_link_token(call.mode)
    link = objects.payment_link(
        params,
        link_id=link_id,
        livemode=call.livemode,
        url=call.link_url(token),
        currency=link_currency,
        recurring=any(item["price"]["type"] == "recurring" for item in items),
    )
    store.insert_object(call.conn, link, mode=call.mode, internal={"token": token, "line_items": items})
    _record_event(call, "payment_link.created", link, previous=None)
    return _render_link(call, link, items, expand)


def _check_amounts(call: Call, planned: list[dict[str, Any]], currency: str) -> None:
    """Refuse a three-decimal amount not ending in 0, and a total under Stripe's minimum charge
    (converted to the account's settlement currency): see charge_limits.py for the sources."""
    total = Decimal(0)
    for index, item in enumerate(planned):
        if "existing_price" in item:
            unit = Decimal(item["existing_price"]["unit_amount"] or 0)
        else:
            data = item["price_data"]
            name = "unit_amount" if "unit_amount" in data else "unit_amount_decimal"
            unit = Decimal(data[name])
            problem = charge_limits.three_decimal_problem(
                unit, currency, param=f"line_items[{index}][price_data][{name}]"
            )
            if problem is not None:
                raise problem
        total += unit * item["quantity"]
    problem = charge_limits.minimum_problem(total, currency, settlement=call.settlement_currency)
    if problem is not None:
        raise problem


def retrieve_payment_link(call: Call) -> dict[str, Any]:
    params = call.validated(param_specs.RETRIEVE)
    stored = _stored_link(call)
    return _render_link(call, stored.body, stored.internal["line_items"], _link_expansions(params))


def update_payment_link(call: Call) -> dict[str, Any]:
    params = call.validated(param_specs.PAYMENT_LINK_UPDATE)
    expand = _link_expansions(params)
    stored = _stored_link(call)
    link, items = stored.body, [dict(item) for item in stored.internal["line_items"]]
    new = objects.updated_payment_link(link, params)
    if len(new["metadata"]) > 50:
        raise errors.invalid(
            f"Metadata can have up to 50 keys, but you've set {len(new['metadata'])}.", param="metadata"
        )
    for index, change in enumerate(params.get("line_items", [])):
        match = next((item for item in items if item["id"] == change["id"]), None)
        if match is None:
            raise errors.resource_missing("line_item", change["id"], param=f"line_items[{index}][id]")
        if "quantity" in change:
            unit = match["price"]["unit_amount"] or 0
            match.update(quantity=change["quantity"], amount_subtotal=unit * change["quantity"])
            match["amount_total"] = match["amount_subtotal"]
        if "adjustable_quantity" in change:
            adjustable = change["adjustable_quantity"]
            match["adjustable_quantity"] = {
                "enabled": adjustable["enabled"],
                "maximum": adjustable.get("maximum"),
                "minimum": adjustable.get("minimum"),
            }
    if new != link or items != stored.internal["line_items"]:
        store.update_object(call.conn, new, internal={**stored.internal, "line_items": items})
        previous = event_objects.previous_attributes(link, new)
        _record_event(call, "payment_link.updated", new, previous=previous)
    return _render_link(call, new, items, expand)


def list_payment_links(call: Call) -> dict[str, Any]:
    params = call.validated(param_specs.PAYMENT_LINK_LIST)
    expand = split_expand(params.get("expand", []), prefix="data.")
    reject_unknown_expansions(set(params.get("expand", [])), {f"data.{p}" for p in _LINK_EXPANSIONS})
    everything = store.list_objects(call.conn, "payment_link", mode=call.mode)
    chosen = [s for s in everything if "active" not in params or s.body["active"] == params["active"]]
    seq = {s.body["id"]: s.seq for s in everything}
    result = page(
        [s.body for s in chosen],
        params=params,
        kind="payment_link",
        url="/v1/payment_links",
        cursor_index=lambda cursor: None if cursor not in seq else sum(s.seq > seq[cursor] for s in chosen),
    )
    internals = {s.body["id"]: s.internal for s in chosen}
    result["data"] = [_render_link(call, link, internals[link["id"]]["line_items"], expand) for link in result["data"]]
    return result


def list_payment_link_line_items(call: Call) -> dict[str, Any]:
    params = call.validated(param_specs.PAYMENT_LINK_LINE_ITEMS)
    reject_unknown_expansions(set(params.get("expand", [])), {"data.price.product"})
    stored = _stored_link(call)
    url = f"/v1/payment_links/{stored.body['id']}/line_items"
    result = page(stored.internal["line_items"], params=params, kind="line_item", url=url)
    result["data"] = _render_items(call, result["data"], split_expand(params.get("expand", []), prefix="data."))
    return result


_LINK_EXPANSIONS = {"line_items", "line_items.data.price.product"}


def _link_expansions(params: dict[str, Any]) -> set[str]:
    requested = set(params.get("expand", []))
    reject_unknown_expansions(requested, _LINK_EXPANSIONS)
    return requested


def _stored_link(call: Call) -> store.Stored:
    link_id = call.path_args["id"]
    stored = store.get_object(call.conn, link_id, type="payment_link", mode=call.mode)
    if stored is None:
        raise errors.resource_missing("payment_link", link_id)
    return stored


def _render_link(call: Call, link: dict[str, Any], items: list[dict[str, Any]], expand: set[str]) -> dict[str, Any]:
    if not any(path == "line_items" or path.startswith("line_items.") for path in expand):
        return link  # expanding a nested path expands its parents too, as Stripe does
    nested = split_expand(list(expand), prefix="line_items.data.")
    url = f"/v1/payment_links/{link['id']}/line_items"
    # An expanded list shows its first page only, as Stripe does.
    listing = page(items, params={}, kind="line_item", url=url)
    listing["data"] = _render_items(call, listing["data"], nested)
    return {**link, "line_items": listing}


def _render_items(call: Call, items: list[dict[str, Any]], expand: set[str]) -> list[dict[str, Any]]:
    if "price.product" not in expand:
        return items
    rendered = []
    for item in items:
        product = store.get_object(call.conn, item["price"]["product"], type="product")
        price = {**item["price"], "product": product.body if product else item["price"]["product"]}
        rendered.append({**item, "price": price})
    return rendered


def _plan_line_item(call: Call, item: dict[str, Any], index: int) -> dict[str, Any]:
    """Check one create line item and resolve what it refers to, without writing anything."""
    path = f"line_items[{index}]"
    if "price" in item and "price_data" in item:
        raise errors.parameters_exclusive([f"{path}[price]", f"{path}[price_data]"])
    if "price" in item:
        stored = store.get_object(call.conn, item["price"], type="price", mode=call.mode)
        if stored is None:
            raise errors.resource_missing("price", item["price"], param=f"{path}[price]")
        if not stored.body["active"]:  # inline prices are inactive and cannot be reused
            raise errors.invalid(
                "The price specified is inactive. This field only accepts active prices.",
                param=f"{path}[price]",
            )
        return {**item, "currency": stored.body["currency"], "existing_price": stored.body}
    if "price_data" not in item:
        raise errors.parameter_missing(f"{path}[price]")
    data = item["price_data"]
    data_path = f"{path}[price_data]"
    currency = data["currency"].lower()
    if currency not in currencies.SUPPORTED:
        raise errors.invalid(currencies.invalid_currency_message(data["currency"]), param=f"{data_path}[currency]")
    if "product" in data and "product_data" in data:
        raise errors.parameters_exclusive([f"{data_path}[product]", f"{data_path}[product_data]"])
    if "product" not in data and "product_data" not in data:
        raise errors.parameter_missing(f"{data_path}[product]")
    if "product" in data and store.get_object(call.conn, data["product"], type="product", mode=call.mode) is None:
        raise errors.resource_missing("product", data["product"], param=f"{data_path}[product]")
    if "unit_amount" in data and "unit_amount_decimal" in data:
        raise errors.parameters_exclusive([f"{data_path}[unit_amount]", f"{data_path}[unit_amount_decimal]"])
    if "unit_amount" not in data and "unit_amount_decimal" not in data:
        raise errors.parameter_missing(f"{data_path}[unit_amount]")
    if "unit_amount_decimal" in data:
        amount = Decimal(data["unit_amount_decimal"])
        if amount < 0 or amount > param_specs.MAX_AMOUNT:
            bound = "greater than or equal to 0" if amount < 0 else f"less than or equal to {param_specs.MAX_AMOUNT}"
            raise errors.invalid(f"This value must be {bound}.", param=f"{data_path}[unit_amount_decimal]")
    return {**item, "currency": currency, "price_data": {**data, "currency": currency}}


def _create_line_item(call: Call, item: dict[str, Any]) -> dict[str, Any]:
    if "existing_price" in item:
        price = item["existing_price"]
        product = store.get_object(call.conn, price["product"], type="product")
        name = product.body["name"] if product else None
    else:
        data = item["price_data"]
        if "product" in data:
            product_id = data["product"]
            product = store.get_object(call.conn, product_id, type="product")
            name = product.body["name"] if product else None
        else:
            product_id = ids.new_id("prod")
            product_obj = objects.product(
                data["product_data"], product_id=product_id, livemode=call.livemode, now=call.now
            )
            store.insert_object(call.conn, product_obj, mode=call.mode)
            name = product_obj["name"]
        price = objects.price(
            data, price_id=ids.new_id("price"), product_id=product_id, livemode=call.livemode, now=call.now
        )
        store.insert_object(call.conn, price, mode=call.mode)
    return objects.line_item(
        item_id=ids.new_id("li"),
        price_obj=price,
        product_name=name or "",
        quantity=item["quantity"],
        adjustable=item.get("adjustable_quantity"),
    )


# --- prices and products -----------------------------------------------------------------------


def retrieve_price(call: Call) -> dict[str, Any]:
    params = call.validated(param_specs.RETRIEVE)
    expand = set(params.get("expand", []))
    reject_unknown_expansions(expand, {"product"})
    stored = _stored(call, "price")
    if "product" in expand:
        product = store.get_object(call.conn, stored.body["product"], type="product")
        return {**stored.body, "product": product.body if product else stored.body["product"]}
    return stored.body


def retrieve_product(call: Call) -> dict[str, Any]:
    params = call.validated(param_specs.RETRIEVE)
    reject_unknown_expansions(set(params.get("expand", [])), set())
    return _stored(call, "product").body


def _stored(call: Call, kind: str) -> store.Stored:
    stored = store.get_object(call.conn, call.path_args["id"], type=kind, mode=call.mode)
    if stored is None:
        raise errors.resource_missing(kind, call.path_args["id"])
    return stored


# --- events ------------------------------------------------------------------------------------


def _record_event(call: Call, type: str, obj: dict[str, Any], *, previous: dict[str, Any] | None) -> None:
    call.scope().record(type, obj, previous=previous)


def list_events(call: Call) -> dict[str, Any]:
    params = call.validated(param_specs.EVENT_LIST)
    reject_unknown_expansions(set(params.get("expand", [])), set())
    if "type" in params and "types" in params:
        raise errors.parameters_exclusive(["type", "types"])
    kept_since = call.now - EVENT_RETENTION_SECONDS
    cursor = params.get("ending_before") or params.get("starting_after")
    cursor_seq = store.event_seq(call.conn, cursor, mode=call.mode, since=kept_since) if cursor else None
    if ("ending_before" in params and "starting_after" in params) or (cursor and cursor_seq is None):
        # `page` raises Stripe's errors for both cursors at once, and for a cursor naming an event
        # that never existed, belongs to the other mode or is past the 30-day retention:
        # `resource_missing` ("No such event: 'evt_...'", 400, `param` = the cursor's name), as for
        # any list cursor naming a missing object. Stripe answers an event over 30 days old with
        # resource_missing where it is named (github.com/stripe/stripe-cli/issues/923); the same for
        # list cursors is not confirmed against the live API.
        return page([], params=params, kind="event", url="/v1/events")
    # `ending_before`: the page just newer than the cursor; else the page just older than it (or
    # the newest). Events of one clock second keep their recording order (`seq`), so pages never
    # reorder or skip them; each page reads only as far as it reaches (following a backlog of
    # 60,000 events page by page was otherwise quadratic).
    newer = "ending_before" in params
    heads = store.event_heads(
        call.conn,
        mode=call.mode,
        since=kept_since,
        after_seq=cursor_seq if newer else None,
        before_seq=None if newer else cursor_seq,
        oldest_first=newer,
        visible_by=call.now,
    )
    limit = params.get("limit", 10)
    taken: list[dict[str, Any]] = []
    for _, head in heads:
        if _event_matches(head, params):
            taken.append(head)
            if len(taken) > limit:  # one past the page says whether more follow
                break
    chunk = taken[:limit][::-1] if newer else taken[:limit]  # a list is always newest first
    data = store.events_by_id(call.conn, [head["id"] for head in chunk])
    return {"object": "list", "data": data, "has_more": len(taken) > limit, "url": "/v1/events"}


def _event_matches(event: dict[str, Any], params: dict[str, Any]) -> bool:
    if "type" in params and not fnmatch.fnmatchcase(event["type"], params["type"]):
        return False  # `type` takes `*` wildcards, e.g. "payment_link.*"
    if "types" in params and event["type"] not in params["types"]:
        return False
    if not created_matches(params.get("created"), event["created"]):
        return False
    # No webhook endpoints exist here, so no delivery ever failed.
    return params.get("delivery_success") is not False


def retrieve_event(call: Call) -> dict[str, Any]:
    params = call.validated(param_specs.RETRIEVE)
    reject_unknown_expansions(set(params.get("expand", [])), set())
    event = store.get_event(call.conn, call.path_args["id"], mode=call.mode)
    if event is None:
        raise errors.resource_missing("event", call.path_args["id"])
    return event
