"""Refuse, before anything is written, a mapping whose names Salesforce would not deploy.

The rules, from Salesforce's own words:
- an object's or field's API name begins with a letter, holds only letters, digits and underscores,
  has no two underscores in a row and does not end with one, and is at most 40 characters before
  its `__c` (Object Manager's "Field Name" / "Object Name" help; CustomField `fullName` in the
  Metadata API Developer Guide:
  developer.salesforce.com/docs/platform/api-metadata/references/meta-types/metadata-customfield.html);
- a namespace prefix is 1 to 15 letters and digits and begins with a letter ("Register a
  Namespace Prefix", Second-Generation Managed Packages guide);
- the SOQL reserved keywords cannot name a field a query selects (SOQL and SOSL Reference,
  "Reserved Keywords");
- a picklist value is at most 255 characters, and two values of one picklist differ.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sync.config.mapping import Mapping, ProjectFields, field_specs

_LOCAL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_NAMESPACE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,14}$")
_MAX_NAME = 40
_MAX_PICKLIST_VALUE = 255
SOQL_RESERVED = frozenset(
    {
        "AND", "ASC", "DESC", "EXCLUDES", "FIRST", "FROM", "GROUP", "HAVING", "IN", "INCLUDES", "LAST",
        "LIKE", "LIMIT", "NOT", "NULL", "NULLS", "OR", "SELECT", "WHERE", "WITH",
    }
)  # fmt: skip
_SECTIONS = ("project", "payment", "refund", "setup")
_PICKLISTS = {
    "payment": ("status", "type"),
    "refund": ("status", "source"),
    "setup": ("mode", "connection_status"),
}


def mapping_problems(mapping: Mapping, *, qualified: bool = False) -> list[str]:
    """One line per name in `mapping` that Salesforce would refuse; empty when all deploy.

    A name may carry the mapping's own namespace prefix (`bpm__Job__c` in a `bpm` mapping); with
    `qualified` (a mapping whose prefix is already applied, as the worker loads it) any prefix.
    """
    prefixes = _Prefixes(mapping.namespace, any_prefix=qualified)
    problems: list[str] = []
    if mapping.namespace and not _NAMESPACE.match(mapping.namespace):
        problems.append(
            f"namespace {mapping.namespace!r}: a namespace prefix is 1 to 15 letters and digits, "
            "beginning with a letter"
        )
    for section in _SECTIONS:
        part = getattr(mapping, section)
        problems.extend(_name_problems(f"{section}.object", part.object, "__c", prefixes))
        if hasattr(part, "child_relationship"):
            problems.extend(_name_problems(f"{section}.child_relationship", part.child_relationship, "__r", prefixes))
        seen: dict[str, str] = {}
        for logical, api_name in part.fields.model_dump().items():
            if api_name is None:
                continue
            where = f"{section}.fields.{logical}"
            problems.extend(_path_problems(where, api_name, prefixes))
            if package_defines(section, logical) and not api_name.endswith("__c"):
                problems.append(f"{where}: {api_name!r} is a field the package creates; it must end in __c")
            key = api_name.lower()
            if key in seen:
                problems.append(f"{where}: {api_name} is also {section}.fields.{seen[key]}; two fields need two names")
            else:
                seen[key] = logical
        for picklist in _PICKLISTS.get(section, ()):
            problems.extend(_picklist_problems(f"{section}.{picklist}", getattr(part, picklist).model_dump()))
    return problems


def package_defines(section: str, logical: str) -> bool:
    """Whether the package creates this field: all of Payment, Refund and Stripe Setup, and the
    Project fields the worker writes (the ones it only reads are the org's own)."""
    return section != "project" or field_specs(ProjectFields)[logical].access == "write"


@dataclass(frozen=True)
class _Prefixes:
    namespace: str
    any_prefix: bool

    def allows(self, prefix: str) -> bool:
        return self.any_prefix or prefix.lower() == self.namespace.lower()


def _path_problems(where: str, api_name: str, prefixes: _Prefixes) -> Iterator[str]:
    *relationships, last = api_name.split(".")
    for segment in relationships:
        if segment.endswith("__r"):
            yield from _name_problems(where, segment, "__r", prefixes)
        elif not _LOCAL.match(segment):
            yield f"{where}: {segment!r} is not a relationship name"
    if last.endswith("__c"):
        yield from _name_problems(where, last, "__c", prefixes)
    elif not _LOCAL.match(last) or "__" in last:  # a standard field, such as Name or Email
        yield f"{where}: {last!r} is not a field name"


def _name_problems(where: str, name: str, suffix: str, prefixes: _Prefixes) -> Iterator[str]:
    if not name.endswith(suffix):
        yield f"{where}: {name!r} must end in {suffix}"
        return
    local = name[: -len(suffix)]
    prefix, sep, rest = local.partition("__")
    if sep and _NAMESPACE.match(prefix) and prefixes.allows(prefix):  # an already prefixed name: ns__Name__c
        local = rest
    if not local:
        yield f"{where}: {name!r} has no name before {suffix}"
        return
    if len(local) > _MAX_NAME:
        yield f"{where}: {name!r} is {len(local)} characters before {suffix}; Salesforce allows {_MAX_NAME}"
    if not _LOCAL.match(local):
        yield f"{where}: {name!r} must begin with a letter and hold only letters, digits and underscores"
    if "__" in local:
        yield f"{where}: {name!r} has two underscores in a row inside it"
    if local.endswith("_"):
        yield f"{where}: {name!r} ends in an underscore before {suffix}"
    if local.upper() in SOQL_RESERVED:
        yield f"{where}: {name!r} is a SOQL reserved word"


def _picklist_problems(where: str, words: dict[str, Any]) -> Iterator[str]:
    seen: dict[str, str] = {}
    for logical, word in words.items():
        if not word.strip():
            yield f"{where}.{logical}: a picklist value cannot be blank"
        if len(word) > _MAX_PICKLIST_VALUE:
            yield f"{where}.{logical}: {len(word)} characters; a picklist value holds {_MAX_PICKLIST_VALUE}"
        if word.lower() in seen:
            yield f"{where}.{logical}: {word!r} is also {where}.{seen[word.lower()]}; each value needs its own word"
        seen.setdefault(word.lower(), logical)
