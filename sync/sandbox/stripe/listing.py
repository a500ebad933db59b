"""Cursor pagination and `expand[]` as Stripe's list endpoints do them.

https://docs.stripe.com/api/pagination: lists come newest first; `starting_after=X` gives the page
after X in that order, `ending_before=X` the page just before X (the `limit` items closest to X),
still newest first. stripe-python's `auto_paging_iter()` walks `ending_before` lists backwards with
`previous_page()` and reverses each page, so it yields oldest to newest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import errors
from .schema import UNSET


def page(
    items: Sequence[dict[str, Any]],
    *,
    params: dict[str, Any],
    kind: str,
    url: str,
    cursor_index: Callable[[str], int | None] | None = None,
) -> dict[str, Any]:
    """Slice `items` (already in display order) by `limit`, `starting_after` and `ending_before`.

    `cursor_index` finds a cursor id's position when the cursor may lie outside `items` (a filtered
    list); it returns the index of the first item that comes after the cursor.
    """
    if "starting_after" in params and "ending_before" in params:
        # The live API's text, quoted in github.com/stripe/stripe-python/issues/585 and
        # arlyon/async-stripe#753; it carries no code or param there.
        raise errors.invalid("Received both starting_after and ending_before parameters. Please pass in only one.")
    limit = params.get("limit", 10)
    ids = [item["id"] for item in items]

    def position(param: str) -> int:
        cursor = params[param]
        if cursor in ids:
            index = ids.index(cursor)
            return index + 1 if param == "starting_after" else index
        found = cursor_index(cursor) if cursor_index is not None else None
        if found is None:
            raise errors.resource_missing(kind, cursor, param=param)
        return found

    if "starting_after" in params:
        start = position("starting_after")
        chunk = list(items[start : start + limit])
        has_more = start + limit < len(items)
    elif "ending_before" in params:
        end = position("ending_before")
        begin = max(0, end - limit)
        chunk = list(items[begin:end])
        has_more = begin > 0
    else:
        chunk = list(items[:limit])
        has_more = limit < len(items)
    return {"object": "list", "data": chunk, "has_more": has_more, "url": url}


def created_matches(created: Any, value: int) -> bool:
    """Whether a `created` timestamp passes a list's `created=` or `created[gt|gte|lt|lte]=` filter."""
    if created is None:
        return True
    if isinstance(created, int):
        return value == created
    bounds = {
        "gt": lambda v: value > v,
        "gte": lambda v: value >= v,
        "lt": lambda v: value < v,
        "lte": lambda v: value <= v,
    }
    return all(bounds[op](limit) for op, limit in created.items() if limit is not UNSET)


def split_expand(expand: list[str], *, prefix: str = "") -> set[str]:
    """The expansion paths that apply under `prefix` (e.g. "data." in a list), prefix removed."""
    return {path[len(prefix) :] for path in expand if path.startswith(prefix)}


def reject_unknown_expansions(requested: set[str], allowed: set[str]) -> None:
    for path in sorted(requested):
        if path not in allowed:
            head = path.split(".", 1)[0]
            # Wording recalled from the live API for a field that is not expandable.
            raise errors.invalid(f"This property cannot be expanded ({head}).")
