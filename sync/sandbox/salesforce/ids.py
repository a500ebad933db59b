"""Salesforce record ids: 15-character case-sensitive ids and their 18-character checksummed form."""

from __future__ import annotations

import re

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID15 = re.compile(r"^[a-zA-Z0-9]{15}$")
_ID18 = re.compile(r"^[a-zA-Z0-9]{18}$")
# The "pod" characters of a real id name the instance that minted it; ours are fixed.
_POD = "5g"


def checksum_suffix(id15: str) -> str:
    """Return the 3-character suffix that makes a 15-character id case-insensitively unique.

    Each 5-character chunk yields a 5-bit number whose bit i is set when character i is an
    upper-case letter; the number indexes A-Z0-5.
    """
    suffix = ""
    for chunk_start in (0, 5, 10):
        bits = 0
        for i, char in enumerate(id15[chunk_start : chunk_start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << i
        suffix += _SUFFIX_ALPHABET[bits]
    return suffix


def to_18(value: str) -> str | None:
    """Normalise a 15- or 18-character id to 18 characters; None if it is not a well-formed id.

    An 18-character id whose suffix does not match its first 15 characters is malformed.
    """
    if _ID15.match(value):
        return value + checksum_suffix(value)
    if _ID18.match(value):
        base = value[:15]
        if checksum_suffix(base) == value[15:].upper():
            return base + checksum_suffix(base)
    return None


def make_id(key_prefix: str, counter: int) -> str:
    """Build an 18-character id: key prefix, pod, a reserved 0, and a base-62 counter."""
    digits = ""
    n = counter
    while n:
        n, rem = divmod(n, 62)
        digits = _BASE62[rem] + digits
    body = f"{key_prefix}{_POD}0{digits.rjust(9, '0')}"
    if len(body) != 15:
        raise ValueError(f"id counter {counter} does not fit in 9 base-62 digits")
    return body + checksum_suffix(body)
