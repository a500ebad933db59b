"""The org's shape as plain frozen values: objects, their fields, and the standard fields added to each."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

FIELD_TYPES = frozenset(
    {
        "id", "string", "textarea", "email", "url", "phone", "currency", "double", "percent", "int",
        "boolean", "picklist", "date", "datetime", "reference", "encryptedstring",
    }
)  # fmt: skip
STRING_TYPES = frozenset(
    {"id", "string", "textarea", "email", "url", "phone", "picklist", "reference", "encryptedstring"}
)
DECIMAL_TYPES = frozenset({"currency", "double", "percent"})
# Fields every object has, which only the platform writes.
SYSTEM_FIELDS = frozenset(
    {
        "Id",
        "IsDeleted",
        "CreatedDate",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
    }
)


@dataclass(frozen=True)
class FieldSchema:
    """One field as describe() shows it; `type` is a describe type such as "currency"."""

    name: str
    type: str
    label: str = ""
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    picklist_values: tuple[str, ...] = ()
    restricted_picklist: bool = True
    reference_to: str | None = None
    relationship_name: str | None = None
    child_relationship_name: str | None = None
    required: bool = False
    external_id: bool = False
    unique: bool = False
    default: Any = None
    readable: bool = True
    createable: bool = True
    updateable: bool = True
    # Set by the emulator for the standard fields, not by callers.
    auto_number: bool = False
    calculated: bool = False
    name_field: bool = False

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def long_text(self) -> bool:
        """A Long Text Area (or Rich Text Area): a textarea longer than 255 characters."""
        return self.type == "textarea" and (self.length or 255) > 255

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise ValueError(f"{self.name}: unknown field type {self.type!r}")
        if self.type == "reference" and not self.reference_to:
            raise ValueError(f"{self.name}: a reference field needs reference_to")


@dataclass(frozen=True)
class SObjectSchema:
    """One object; standard fields (Id, Name, audit fields, OwnerId) are added by `with_standard_fields`."""

    name: str
    label: str
    key_prefix: str
    fields: tuple[FieldSchema, ...] = ()
    name_field_autonumber: str | None = None  # e.g. "PAY-{00000}"
    label_plural: str | None = None

    def __post_init__(self) -> None:
        if len(self.key_prefix) != 3:
            raise ValueError(f"{self.name}: key prefix must be 3 characters")

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def compound_name(self) -> bool:
        """Contact-style objects: Name is FirstName + LastName and read-only."""
        names = {f.name for f in self.fields}
        return {"FirstName", "LastName"} <= names and "Name" not in names


@dataclass(frozen=True)
class OrgSchema:
    """All objects of the org."""

    objects: tuple[SObjectSchema, ...] = field(default_factory=tuple)


def with_standard_fields(sobject: SObjectSchema) -> tuple[FieldSchema, ...]:
    """Return the object's fields in describe order: standard fields first, declared ones after.

    A declared field with a standard field's name replaces the standard one.
    """
    declared = {f.name: f for f in sobject.fields}
    system = dict(createable=False, updateable=False)
    standard = [
        FieldSchema("Id", "id", "Record ID", length=18, **system),
        FieldSchema(
            "OwnerId", "reference", "Owner ID", length=18, reference_to="User", relationship_name="Owner"
        ),
        FieldSchema("IsDeleted", "boolean", "Deleted", default=False, **system),
        _name_field(sobject),
        FieldSchema("CreatedDate", "datetime", "Created Date", **system),
        FieldSchema(
            "CreatedById", "reference", "Created By ID", length=18, reference_to="User",
            relationship_name="CreatedBy", **system,
        ),
        FieldSchema("LastModifiedDate", "datetime", "Last Modified Date", **system),
        FieldSchema(
            "LastModifiedById", "reference", "Last Modified By ID", length=18, reference_to="User",
            relationship_name="LastModifiedBy", **system,
        ),
        FieldSchema("SystemModstamp", "datetime", "System Modstamp", **system),
    ]  # fmt: skip
    out = [declared.pop(f.name, f) for f in standard]
    out.extend(declared.values())
    return tuple(out)


def _name_field(sobject: SObjectSchema) -> FieldSchema:
    label = f"{sobject.label} Name"
    if sobject.name_field_autonumber:
        return FieldSchema(
            "Name", "string", label, length=30, createable=False, updateable=False,
            auto_number=True, name_field=True,
        )  # fmt: skip
    if sobject.compound_name:
        return FieldSchema(
            "Name", "string", "Full Name", length=121, createable=False, updateable=False,
            calculated=True, name_field=True,
        )  # fmt: skip
    # Custom objects default Name to the record id when it is left out; standard ones require it.
    return FieldSchema("Name", "string", label, length=80, required=not sobject.custom, name_field=True)


def with_access(fs: FieldSchema, **changes: bool) -> FieldSchema:
    """Return the field with readable/createable/updateable changed."""
    return replace(fs, **changes)
