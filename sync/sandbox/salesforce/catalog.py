"""Case-insensitive look-ups over the org schema, with field-level security that can change at run time."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from .schema import FieldSchema, OrgSchema, SObjectSchema, with_standard_fields


@dataclass(frozen=True)
class ChildRelationship:
    """A parent's view of a child lookup, as in describe's childRelationships."""

    name: str
    child: SObjectSchema
    field: FieldSchema


class Catalog:
    """Objects, fields and relationships by name, ignoring case as Salesforce does."""

    def __init__(self, schema: OrgSchema) -> None:
        self._objects = {o.name.lower(): o for o in schema.objects}
        self._by_prefix = {o.key_prefix: o for o in schema.objects}
        # Objects whose feed tracking an admin turned off (every one is on in this org by default, as
        # the README has the admin set it up): Salesforce creates a record feed only for an object
        # with feed tracking on, so a FeedItem on its records is refused, and describe says so.
        self.feeds_off: set[str] = set()
        # Objects whose "Allow Activities" is off: an email cannot be logged on their records, and no
        # EmailMessage relationship shows in their describe (on for every object here by default).
        self.activities_off: set[str] = set()
        # Whether the API user holds View Encrypted Data (without it, encrypted fields read masked).
        self.view_encrypted_data = True
        self._fields = {o.name: with_standard_fields(o) for o in schema.objects}
        self._access: dict[tuple[str, str], dict[str, bool]] = {}
        self._lock = threading.Lock()

    @property
    def objects(self) -> list[SObjectSchema]:
        return list(self._objects.values())

    def sobject(self, name: str) -> SObjectSchema | None:
        return self._objects.get(name.lower())

    def feed_enabled(self, sobject: SObjectSchema) -> bool:
        return sobject.name not in self.feeds_off

    def activities_enabled(self, sobject: SObjectSchema) -> bool:
        return sobject.name not in self.activities_off

    def sobject_for_prefix(self, prefix: str) -> SObjectSchema | None:
        return self._by_prefix.get(prefix)

    def fields(self, sobject: SObjectSchema, *, admin: bool = False) -> list[FieldSchema]:
        """The object's fields in describe order; FLS-hidden ones are left out unless `admin`."""
        if admin:
            return list(self._fields[sobject.name])
        out = []
        for fs in self._fields[sobject.name]:
            effective = self._effective(sobject, fs)
            if effective.readable:
                out.append(effective)
        return out

    def field(self, sobject: SObjectSchema, name: str, *, admin: bool = False) -> FieldSchema | None:
        lowered = name.lower()
        for fs in self.fields(sobject, admin=admin):
            if fs.name.lower() == lowered:
                return fs
        return None

    def parent(
        self, sobject: SObjectSchema, relationship: str, *, admin: bool = False
    ) -> tuple[FieldSchema, SObjectSchema] | None:
        """Resolve `Project__r` (or `Account`) to its reference field and the parent object."""
        lowered = relationship.lower()
        for fs in self.fields(sobject, admin=admin):
            if fs.relationship_name and fs.relationship_name.lower() == lowered:
                target = self.sobject(fs.reference_to or "")
                return (fs, target) if target else None
        return None

    def children(self, sobject: SObjectSchema, *, admin: bool = False) -> list[ChildRelationship]:
        out = []
        for child in self._objects.values():
            for fs in self.fields(child, admin=admin):
                if fs.type == "reference" and fs.reference_to == sobject.name and fs.child_relationship_name:
                    if child.name == "EmailMessage" and not self.activities_enabled(sobject):
                        continue
                    out.append(ChildRelationship(fs.child_relationship_name, child, fs))
        return out

    def child(self, sobject: SObjectSchema, name: str, *, admin: bool = False) -> ChildRelationship | None:
        lowered = name.lower()
        for rel in self.children(sobject, admin=admin):
            if rel.name.lower() == lowered:
                return rel
        return None

    def set_access(self, sobject: SObjectSchema, field_name: str, **access: bool) -> FieldSchema:
        """Change a field's readable/createable/updateable for the API user (not the admin)."""
        fs = self.field(sobject, field_name, admin=True)
        if fs is None:
            raise KeyError(f"{sobject.name}.{field_name}")
        unknown = set(access) - {"readable", "createable", "updateable"}
        if unknown:
            raise ValueError(f"unknown access flags: {sorted(unknown)}")
        with self._lock:
            self._access.setdefault((sobject.name, fs.name), {}).update(access)
        return self._effective(sobject, fs)

    def _effective(self, sobject: SObjectSchema, fs: FieldSchema) -> FieldSchema:
        with self._lock:
            override = self._access.get((sobject.name, fs.name))
        if not override:
            return fs
        # A platform-only field never becomes writable through an FLS change.
        changes = dict(override)
        if not fs.createable:
            changes.pop("createable", None)
        if not fs.updateable:
            changes.pop("updateable", None)
        return replace(fs, **changes)
