"""JSON in and out with exact decimals: numbers are parsed as Decimal and written as Java doubles.

Salesforce serialises currency, double and percent values as Java doubles (`5000.0`, `1234.5`,
`1.5E7` from 10^7 up), so the emulator writes Decimals with Double.toString's layout but from exact
digits, never through a binary float.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def loads(data: bytes | str) -> Any:
    """Parse JSON keeping every non-integer number as a Decimal."""
    return json.loads(data, parse_float=Decimal)


def java_double(value: Decimal) -> str:
    """Format like java.lang.Double.toString: plain for 1e-3 <= |x| < 1e7, else `d.dddE±n`."""
    if value.is_zero():
        return "-0.0" if value.is_signed() else "0.0"
    normal = value.normalize()
    sign, digits, _ = normal.as_tuple()
    adjusted = normal.adjusted()
    if -3 <= adjusted < 7:
        text = format(abs(normal), "f")
        if "." not in text:
            text += ".0"
    else:
        mantissa = "".join(map(str, digits))
        text = f"{mantissa[0]}.{mantissa[1:] or '0'}E{adjusted}"
    return f"-{text}" if sign else text


def dumps(value: Any) -> str:
    """Serialise like json.dumps, with Decimal written as a Java double."""
    if isinstance(value, Decimal):
        return java_double(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)
