"""Check a request body against the TypedDicts stripe-python ships (generated from Stripe's OpenAPI spec)."""

from __future__ import annotations

import types
import typing
from decimal import Decimal
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin

from typing_extensions import is_typeddict


def problems(value: Any, annotation: Any, path: str = "") -> list[str]:
    """Every way `value` fails to match `annotation` (an empty list means it matches)."""
    origin = get_origin(annotation)
    if origin in (NotRequired, Required):
        return problems(value, get_args(annotation)[0], path)
    if is_typeddict(annotation):
        return _typeddict_problems(value, annotation, path)
    if origin in (Union, types.UnionType):
        options = [problems(value, arg, path) for arg in get_args(annotation)]
        return [] if any(not p for p in options) else [f"{path}: {value!r} matches none of {annotation}"]
    if origin is Literal:
        return [] if value in get_args(annotation) else [f"{path}: {value!r} not in {get_args(annotation)}"]
    if origin in (list, typing.List):  # noqa: UP006
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {type(value).__name__}"]
        (item,) = get_args(annotation)
        return [p for i, v in enumerate(value) for p in problems(v, item, f"{path}[{i}]")]
    if origin in (dict, typing.Dict):  # noqa: UP006
        if not isinstance(value, dict):
            return [f"{path}: expected a dict, got {type(value).__name__}"]
        _, item = get_args(annotation)
        return [p for k, v in value.items() for p in problems(v, item, f"{path}.{k}")]
    if annotation is Any:
        return []
    if annotation is bool:
        return [] if isinstance(value, bool) else [f"{path}: expected bool, got {value!r}"]
    if annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected int, got {value!r}"]
    if annotation is float:
        ok = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected a number, got {value!r}"]
    if annotation is str:
        return [] if isinstance(value, str) else [f"{path}: expected str, got {value!r}"]
    if isinstance(annotation, type):
        if annotation.__name__ == "UntypedStripeObject":
            return [f"{path}: a plain dict was expected"] if not isinstance(value, dict) else []
        return [] if isinstance(value, annotation) else [f"{path}: expected {annotation.__name__}"]
    return [f"{path}: cannot check against {annotation!r}"]


def _body_hints(cls: Any) -> dict[str, Any]:
    """The TypedDict's parameters, less the request options (api_key, idempotency_key...) that
    stripe-python sends as headers rather than in the body."""
    import stripe
    from stripe import _request_options
    from stripe._request_options import RequestOptions

    # TypedDicts flatten their bases' annotations into one namespace, so the request options'
    # names (Mapping, StripeContext) must be resolvable from the params module too.
    names = {**vars(typing), **vars(_request_options), "StripeContext": stripe.StripeContext}
    hints = typing.get_type_hints(cls, localns=names, include_extras=True)
    options = typing.get_type_hints(RequestOptions, localns=names)
    return {k: v for k, v in hints.items() if k not in options or k == "expand"}


def _typeddict_problems(value: Any, cls: Any, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object ({cls.__name__}), got {type(value).__name__}"]
    hints = _body_hints(cls)
    found = []
    for key in value:
        if key not in hints:
            found.append(f"{path}.{key}: not a parameter of {cls.__name__}")
    for key in cls.__required_keys__:
        if key not in value:
            found.append(f"{path}.{key}: required by {cls.__name__} but missing")
    for key, item in value.items():
        if key in hints:
            found.extend(problems(item, hints[key], f"{path}.{key}"))
    return found
