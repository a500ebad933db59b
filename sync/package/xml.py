"""Metadata API XML from plain values: one element per key, lists for repeated elements.

Children are written in alphabetical order of their tags (`fullName` first, the base type's field),
as `sf project retrieve` writes them and as the Metadata API WSDL declares most types; a repeated
element keeps its order.
"""

from __future__ import annotations

from typing import Union
from xml.sax.saxutils import escape

METADATA_NS = "http://soap.sforce.com/2006/04/metadata"

Value = Union[str, int, bool, "Element", list["Value"]]
Element = dict[str, Value]


def document(root: str, body: Element) -> str:
    """The text of a `-meta.xml` file whose root element is `root`."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<{root} xmlns="{METADATA_NS}">']
    _children(body, lines, depth=1)
    lines.append(f"</{root}>")
    return "\n".join(lines) + "\n"


def _children(body: Element, lines: list[str], *, depth: int) -> None:
    for tag in sorted(body, key=lambda t: (t != "fullName", t)):
        value = body[tag]
        for item in value if isinstance(value, list) else [value]:
            _element(tag, item, lines, depth=depth)


def _element(tag: str, value: Value, lines: list[str], *, depth: int) -> None:
    pad = "    " * depth
    if isinstance(value, dict):
        lines.append(f"{pad}<{tag}>")
        _children(value, lines, depth=depth + 1)
        lines.append(f"{pad}</{tag}>")
        return
    assert not isinstance(value, list), f"{tag}: a list inside a list"
    text = ("true" if value else "false") if isinstance(value, bool) else escape(str(value))
    lines.append(f"{pad}<{tag}>{text}</{tag}>")
