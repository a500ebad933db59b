"""An org's validation rules, reduced to what tests need: refuse a save whose values match.

A real org's admins add rules the worker cannot see coming; a save that breaks one is refused for
that record with FIELD_CUSTOM_VALIDATION_EXCEPTION and the rule's message (`fields` names the field
the error is shown at, empty when shown at the top of the page). Rules run on insert and update,
for every user, after the system checks (required fields, formats) and before the unique index.
Source: developer.salesforce.com/docs/atlas.en-us.apexcode.meta/apexcode/apex_triggers_order_of_execution.htm
(order of execution) and the API's StatusCode list (FIELD_CUSTOM_VALIDATION_EXCEPTION).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, bad_request


@dataclass(frozen=True)
class ValidationRule:
    sobject: str
    when: Mapping[str, Any]  # API field name -> value: the rule fires when the saved record has them all
    message: str
    error_field: str | None = None  # where the org shows the error (None: at the top of the page)
    on: frozenset[str] = field(default_factory=lambda: frozenset({"insert", "update"}))

    def fires(self, sobject: str, values: Mapping[str, Any], operation: str) -> bool:
        if sobject.lower() != self.sobject.lower() or operation not in self.on:
            return False
        return all(values.get(name) == wanted for name, wanted in self.when.items())

    def error(self) -> ApiError:
        return bad_request(
            "FIELD_CUSTOM_VALIDATION_EXCEPTION", self.message, [self.error_field] if self.error_field else []
        )


def check_rules(rules: list[ValidationRule], sobject: str, values: Mapping[str, Any], operation: str) -> None:
    """Raise the first rule's error that the record as saved breaks."""
    for rule in rules:
        if rule.fires(sobject, values, operation):
            raise rule.error()
