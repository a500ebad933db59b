"""A small schema language for Stripe request parameters, and the checker that coerces form strings.

Form bodies carry only strings; Stripe coerces each one by the parameter's declared type and
rejects the request with `invalid_request_error` naming the parameter (`param`) when it cannot.
Checks run in Stripe's order as far as we know it: unknown names, then missing required names,
then each value's type and bounds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import errors


class _Unset:
    """The value of a parameter posted as an empty string: "clear this field"."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()


@dataclass(frozen=True)
class Str:
    max_length: int = 5000  # Stripe's default maxLength for form strings in its OpenAPI spec
    enum: tuple[str, ...] | None = None
    emptyable: bool = False


@dataclass(frozen=True)
class Int:
    minimum: int | None = None
    maximum: int | None = None
    emptyable: bool = False


@dataclass(frozen=True)
class Bool:
    emptyable: bool = False


@dataclass(frozen=True)
class Dec:
    """A decimal sent as a string (`unit_amount_decimal`), kept as its canonical string."""

    emptyable: bool = False


@dataclass(frozen=True)
class Float:
    emptyable: bool = False


@dataclass(frozen=True)
class Metadata:
    emptyable: bool = True


@dataclass(frozen=True)
class Obj:
    fields: Mapping[str, Spec]
    required: frozenset[str] = field(default_factory=frozenset)
    emptyable: bool = False


@dataclass(frozen=True)
class Arr:
    item: Spec
    max_items: int | None = None
    emptyable: bool = False


@dataclass(frozen=True)
class IntOrRange:
    """`created=123` or `created[gte]=123` as list endpoints take it."""


Spec = Str | Int | Bool | Dec | Float | Metadata | Obj | Arr | IntOrRange


def obj(required: tuple[str, ...] = (), /, *, emptyable: bool = False, **fields: Spec) -> Obj:
    """Declare a hash parameter; `required` names the keys that must be present."""
    return Obj(fields=fields, required=frozenset(required), emptyable=emptyable)


def enum(*values: str, emptyable: bool = False) -> Str:
    return Str(enum=values, emptyable=emptyable)


def check(spec: Obj, params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate decoded top-level params against `spec` and return them coerced.

    Raises:
        errors.StripeError: the first problem found, with Stripe's message, code and param.
    """
    return _check_obj(spec, params, "")


def path_of(parent: str, key: str | int) -> str:
    if not parent:
        return str(key)
    return f"{parent}[{key}]"


def _check(spec: Spec, value: Any, path: str) -> Any:
    if value == "":
        if getattr(spec, "emptyable", False):
            return UNSET
        raise errors.parameter_invalid_empty(path)
    match spec:
        case Obj():
            return _check_obj(spec, value, path)
        case Arr():
            return _check_arr(spec, value, path)
        case Metadata():
            return _check_metadata(value, path)
        case IntOrRange():
            if isinstance(value, Mapping):
                return _check_obj(_RANGE, value, path)
            return _check(Int(), value, path)
        case _:
            if not isinstance(value, str):
                raise errors.invalid(f"Invalid {_kind(spec)}: {_brief(value)}", param=path)
            return _check_scalar(spec, value, path)


def _check_obj(spec: Obj, value: Any, path: str) -> dict[str, Any]:
    if isinstance(value, list):  # `a[0]=x` decodes to a list; as a hash its keys are "0", "1", ...
        value = {str(i): v for i, v in enumerate(value)}
    if not isinstance(value, Mapping):
        raise errors.invalid("Invalid hash", param=path or None)
    for key in value:
        if key not in spec.fields:
            raise errors.parameter_unknown(path_of(path, key))
    for key in spec.fields:
        if key in spec.required and key not in value:
            raise errors.parameter_missing(path_of(path, key))
    return {key: _check(spec.fields[key], value[key], path_of(path, key)) for key in value}


def _check_arr(spec: Arr, value: Any, path: str) -> list[Any]:
    if isinstance(value, Mapping) and all(k.isdigit() for k in value):
        value = [value[k] for k in sorted(value, key=int)]  # sparse indices: Stripe keeps the order
    if not isinstance(value, list):
        raise errors.invalid("Invalid array", param=path)
    if spec.max_items is not None and len(value) > spec.max_items:
        # Wording not confirmed against the live API.
        raise errors.invalid(f"Invalid array: {path} must contain at most {spec.max_items} elements.", param=path)
    return [_check(spec.item, item, path_of(path, i)) for i, item in enumerate(value)]


def _check_metadata(value: Any, path: str) -> dict[str, Any]:
    if isinstance(value, list):
        value = {str(i): v for i, v in enumerate(value)}
    if not isinstance(value, Mapping):
        raise errors.invalid("Invalid hash", param=path)
    # Limits from https://docs.stripe.com/metadata; texts as the live API words them (client logs).
    if len(value) > 50:
        raise errors.invalid(f"Metadata can have up to 50 keys, but you've set {len(value)}.", param=path)
    result: dict[str, Any] = {}
    for key, item in value.items():
        item_path = path_of(path, key)
        if len(key) > 40:
            raise errors.invalid(
                "Metadata keys can have up to 40 characters, but you passed in a key that is "
                f"{len(key)} characters. Invalid key: {key}",
                param=item_path,
            )
        if not isinstance(item, str):
            # `metadata[a][b]=c`: a bracket in a key nests instead; our wording, not Stripe's.
            raise errors.invalid(
                "Metadata values must be strings, and metadata keys cannot contain '[' or ']'.",
                param=item_path,
            )
        if len(item) > 500:
            raise errors.invalid(
                "Metadata values can have up to 500 characters, but you passed in a value that is "
                f"{len(item)} characters. Invalid value: {item}",
                param=item_path,
            )
        result[key] = UNSET if item == "" else item
    return result


_INTEGER = re.compile(r"^-?\d+$")
_DECIMAL = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)$")


def _check_scalar(spec: Spec, value: str, path: str) -> Any:
    match spec:
        case Str():
            if len(value) > spec.max_length:
                raise errors.invalid(
                    f"Invalid string: {_brief(value)}; must be at most {spec.max_length} characters",
                    param=path,
                )
            if spec.enum is not None and value not in spec.enum:
                raise errors.invalid(f"Invalid {_leaf(path)}: must be one of {_one_of(spec.enum)}", param=path)
            return value
        case Int():
            if not _INTEGER.match(value):
                raise errors.invalid_integer(path, value)
            number = int(value)
            if spec.minimum is not None and number < spec.minimum:
                raise errors.invalid(f"This value must be greater than or equal to {spec.minimum}.", param=path)
            if spec.maximum is not None and number > spec.maximum:
                raise errors.invalid(f"This value must be less than or equal to {spec.maximum}.", param=path)
            return number
        case Bool():
            if value not in ("true", "false"):
                raise errors.invalid(f"Invalid boolean: {value}", param=path)
            return value == "true"
        case Dec():
            if not _DECIMAL.match(value):
                raise errors.invalid(f"Invalid decimal: {value}", param=path)
            return value
        case Float():
            try:
                return float(value)
            except ValueError:
                raise errors.invalid(f"Invalid float: {value}", param=path) from None
    raise AssertionError(f"unhandled spec {spec!r}")


_RANGE = obj(gt=Int(), gte=Int(), lt=Int(), lte=Int())


def _kind(spec: Spec) -> str:
    return {Str: "string", Int: "integer", Bool: "boolean", Dec: "decimal", Float: "float"}[type(spec)]


def _leaf(path: str) -> str:
    return path.rsplit("[", 1)[-1].rstrip("]")


def _one_of(values: tuple[str, ...]) -> str:
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return f"{values[0]} or {values[1]}"
    return ", ".join(values[:-1]) + f", or {values[-1]}"


def _brief(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 50 else text[:50] + "..."
