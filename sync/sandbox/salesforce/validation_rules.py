"""What a busy org's admins add, reduced to what tests need: rules and automation that refuse a save.

A real org refuses a save for a record in ways the worker cannot see coming, each answered for that
record alone (in a collection or a graph node, the others go on):
- a validation rule: FIELD_CUSTOM_VALIDATION_EXCEPTION with the rule's message (`fields` names the
  field the error is shown at, empty when shown at the top of the page);
- a trigger or Flow that fails: CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY, with the automation's message;
- a row lock held by another transaction (staff editing, automation on a parent): UNABLE_TO_LOCK_ROW,
  which passes once the lock is released (`times`).
Rules run on insert and update, for every user, after the system checks (required fields, formats)
and before the unique index. Sources: developer.salesforce.com/docs/atlas.en-us.apexcode.meta/
apexcode/apex_triggers_order_of_execution.htm (order of execution); the API's StatusCode list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, bad_request

CODES = frozenset({"FIELD_CUSTOM_VALIDATION_EXCEPTION", "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "UNABLE_TO_LOCK_ROW"})


@dataclass
class ValidationRule:
    sobject: str
    when: Mapping[str, Any]  # API field name -> value: the rule fires when the saved record has them all
    message: str
    error_field: str | None = None  # where the org shows the error (None: at the top of the page)
    on: frozenset[str] = field(default_factory=lambda: frozenset({"insert", "update"}))
    code: str = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    times: int | None = None  # fires this many times, then no more (a lock released); None: always

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"not an org refusal this sandbox makes: {self.code} (one of {sorted(CODES)})")

    def fires(self, sobject: str, values: Mapping[str, Any], operation: str) -> bool:
        if sobject.lower() != self.sobject.lower() or operation not in self.on or self.times == 0:
            return False
        return all(values.get(name) == wanted for name, wanted in self.when.items())

    def error(self) -> ApiError:
        if self.times is not None:
            self.times -= 1
        return bad_request(self.code, self.message, [self.error_field] if self.error_field else [])

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ValidationRule:
        """{object, when: {field: value}, message, code?, field?, on?: [insert, update], times?}"""
        return cls(
            sobject=str(body["object"]),
            when=dict(body.get("when") or {}),
            message=str(body["message"]),
            error_field=body.get("field"),
            on=frozenset(body.get("on") or ("insert", "update")),
            code=str(body.get("code") or "FIELD_CUSTOM_VALIDATION_EXCEPTION"),
            times=body.get("times"),
        )


def check_rules(rules: list[ValidationRule], sobject: str, values: Mapping[str, Any], operation: str) -> None:
    """Raise the first rule's error that the record as saved breaks."""
    for rule in rules:
        if rule.fires(sobject, values, operation):
            raise rule.error()
