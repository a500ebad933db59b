"""Event objects (`object: "event"`) and the `previous_attributes` diff of an update."""

from __future__ import annotations

import copy
from typing import Any


def event(
    *,
    event_id: str,
    type: str,
    obj: dict[str, Any],
    previous: dict[str, Any] | None,
    api_version: str,
    created: int,
    livemode: bool,
    request_id: str | None,
    idempotency_key: str | None,
) -> dict[str, Any]:
    """An Event whose `data.object` is a snapshot of `obj` at the time of the change."""
    data: dict[str, Any] = {"object": copy.deepcopy(obj)}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "api_version": api_version,
        "created": created,
        "data": data,
        "id": event_id,
        "livemode": livemode,
        "object": "event",
        # No webhook endpoints exist in the emulator, so nothing is pending delivery.
        "pending_webhooks": 0,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": type,
    }


def previous_attributes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The changed keys with their old values; nested hashes report only what changed inside them.

    A key that did not exist before is reported as null, as Stripe does for added metadata keys.
    """
    diff: dict[str, Any] = {}
    for key in old.keys() | new.keys():
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            diff[key] = previous_attributes(before, after)
        else:
            diff[key] = before
    return dict(sorted(diff.items()))
