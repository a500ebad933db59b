"""Decode Stripe's `application/x-www-form-urlencoded` bodies and query strings into nested values.

Stripe (a Rack app) reads `a[b][c]=v` as nested hashes, `a[]=v` as an appended list item and
`a[0][b]=v` as a hash keyed by "0", which its parameter layer then treats as a list. stripe-python
always sends indexed lists (`_encode._api_encode`), so both forms must decode to the same list.
An empty value (`metadata=`) is kept as "" because Stripe reads it as "unset this".
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


class FormError(ValueError):
    """The body is not a well-formed nested form (a name used both as a value and as a hash)."""

    def __init__(self, message: str, *, param: str) -> None:
        super().__init__(message)
        self.param = param


def decode_form(raw: str | bytes) -> dict[str, Any]:
    """Decode a form body or query string into dicts, lists and strings, as Stripe reads it.

    Dicts whose keys are exactly "0".."n-1" become lists; anything else stays a dict, so
    `metadata[0]=x` survives as a list and the parameter schema turns it back into a dict.
    """
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    root: dict[str, Any] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        _assign(root, name, value)
    return _listify(root)


def _assign(root: dict[str, Any], name: str, value: str) -> None:
    match = _KEY.match(name)
    if match is None:  # stray brackets: Rack keeps the whole name as a flat key
        root[name] = value
        return
    segments = [match.group(1), *_SEGMENT.findall(match.group(2))]
    container: Any = root
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        path = _path(segments[: position + 1])
        if segment == "" and position > 0:  # `a[]`: append (Rack semantics)
            if not isinstance(container, list):
                raise FormError(f"Invalid array: {path}", param=path)
            if last:
                container.append(value)
                return
            following = segments[position + 1]
            if not container or not isinstance(container[-1], dict) or following in container[-1]:
                container.append({})
            container = container[-1]
            continue
        if not isinstance(container, dict):
            raise FormError(f"Invalid hash: {_path(segments[:position])}", param=_path(segments[:position]))
        if last:
            if isinstance(container.get(segment), dict | list):
                raise FormError(f"Invalid hash: {path}", param=path)
            container[segment] = value  # a repeated scalar key: the last one wins, as in Rack
            return
        wants_list = segments[position + 1] == ""
        existing = container.get(segment)
        if existing is None:
            existing = [] if wants_list else {}
            container[segment] = existing
        elif isinstance(existing, str) or isinstance(existing, list) != wants_list:
            raise FormError(f"Invalid hash: {path}", param=path)
        container = existing


def _path(segments: list[str]) -> str:
    return segments[0] + "".join(f"[{s}]" for s in segments[1:])


def _listify(value: Any) -> Any:
    if isinstance(value, list):
        return [_listify(v) for v in value]
    if isinstance(value, dict):
        converted = {k: _listify(v) for k, v in value.items()}
        if converted and sorted(converted, key=_index_key) == [str(i) for i in range(len(converted))]:
            return [converted[str(i)] for i in range(len(converted))]
        return converted
    return value


def _index_key(key: str) -> tuple[int, str]:
    return (int(key), key) if key.isdigit() else (-1, key)
