"""The two permission sets: Stripe Sync Integration (the worker's user) and Stripe Payments Staff.

PermissionSet (developer.salesforce.com/docs/platform/api-metadata/references/meta-types/metadata-permissionset.html):
`objectPermissions` per object, `fieldPermissions` per field as `<Object>.<Field>`, `userPermissions`
by name (`ApiEnabled`, `ViewEncryptedData`), `tabSettings` per tab. A required field (the
Master-Detail Refund -> Payment) takes no field permission: Salesforce always grants it, and a
deploy that lists one is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sync.config.mapping import Mapping, field_specs

from .access import staff_edits
from .fields import SPEC_MODELS, FieldDef, objects_of
from .xml import Element, document


@dataclass(frozen=True)
class ObjectAccess:
    read: bool = True
    create: bool = False
    edit: bool = False


@dataclass(frozen=True)
class PermissionSetDef:
    name: str
    label: str
    description: str
    objects: dict[str, ObjectAccess]
    fields: dict[str, bool]  # "<Object>.<Field>" -> editable (listed: readable)
    user_permissions: tuple[str, ...] = ()
    tabs: tuple[str, ...] = field(default=())


def _lookup_path(mapping: Mapping) -> tuple[str, str] | None:
    """(the lookup field on Project, the field on its target) when the email is read through a lookup."""
    path = mapping.project.fields.customer_email
    if "." not in path:
        return None
    relationship, target_field = path.split(".", 1)
    lookup = relationship[:-3] + "__c" if relationship.endswith("__r") else relationship + "Id"
    return lookup, target_field


def integration_set(mapping: Mapping, fields: list[FieldDef]) -> PermissionSetDef:
    """What the worker needs and nothing more: read what it reads, edit what it writes, the key."""
    objects = objects_of(mapping)
    grants: dict[str, bool] = {}
    for section, model in SPEC_MODELS.items():
        for logical, spec in field_specs(model).items():
            api_name = getattr(getattr(mapping, section).fields, logical)
            if api_name is None or api_name == "Name" or _is_master_detail(fields, section, logical):
                continue
            if "." in api_name:
                continue  # a lookup path: its lookup field and target are granted below
            grants[f"{objects[section]}.{api_name}"] = spec.access == "write"
    access = {
        objects["project"]: ObjectAccess(edit=True),
        objects["payment"]: ObjectAccess(create=True, edit=True),
        objects["refund"]: ObjectAccess(create=True, edit=True),
        objects["setup"]: ObjectAccess(edit=True),
    }
    lookup = _lookup_path(mapping)
    if lookup is not None:
        grants[f"{objects['project']}.{lookup[0]}"] = False
        access["Contact"] = ObjectAccess()
        grants[f"Contact.{lookup[1]}"] = False
    return PermissionSetDef(
        "Stripe_Sync_Integration", "Stripe Sync Integration",
        "For the worker's API-only integration user: reads requests, writes payments and refunds, reads the key.",
        access, grants, user_permissions=("ApiEnabled", "ViewEncryptedData"),
    )  # fmt: skip


def staff_set(mapping: Mapping, fields: list[FieldDef]) -> PermissionSetDef:
    """Staff: click the actions, read payments and refunds, create refunds, edit only what staff edit."""
    objects = objects_of(mapping)
    grants: dict[str, bool] = {}
    for section, model in SPEC_MODELS.items():
        for logical in field_specs(model):
            api_name = getattr(getattr(mapping, section).fields, logical)
            if api_name is None or api_name == "Name" or "." in api_name:
                continue
            if _is_master_detail(fields, section, logical):
                continue
            if section == "setup" and logical == "secret_key":
                continue  # no access at all: staff never see the key, not even masked
            if section == "project" and not any(f.section == "project" and f.logical == logical for f in fields):
                continue  # the org's own Project fields: staff already have what their profile gives
            grants[f"{objects[section]}.{api_name}"] = staff_edits(section, logical)
    access = {
        objects["project"]: ObjectAccess(edit=True),  # Request Payment edits the Project
        objects["payment"]: ObjectAccess(create=True, edit=True),
        objects["refund"]: ObjectAccess(create=True),
        objects["setup"]: ObjectAccess(),  # to read the connection status; never the key
    }
    return PermissionSetDef(
        "Stripe_Payments_Staff", "Stripe Payments Staff",
        "For staff: request payments, resend or cancel them, issue refunds, and read payments and refunds.",
        access, grants, tabs=(objects["payment"],),
    )  # fmt: skip


def _is_master_detail(fields: list[FieldDef], section: str, logical: str) -> bool:
    return any(f.section == section and f.logical == logical and f.type == "MasterDetail" for f in fields)


def permission_set_path(p: PermissionSetDef) -> str:
    return f"permissionsets/{p.name}.permissionset-meta.xml"


def permission_set_xml(p: PermissionSetDef) -> str:
    """The PermissionSet file of `p`."""
    objects: list[Element] = [
        {
            "object": name,
            "allowCreate": a.create,
            "allowDelete": False,
            "allowEdit": a.edit,
            "allowRead": a.read,
            "modifyAllRecords": False,
            "viewAllRecords": False,
        }
        for name, a in sorted(p.objects.items())
    ]
    fields: list[Element] = [
        {"field": name, "editable": editable, "readable": True} for name, editable in sorted(p.fields.items())
    ]
    body: Element = {
        "label": p.label,
        "description": p.description,
        "hasActivationRequired": False,
        "objectPermissions": list(objects),
        "fieldPermissions": list(fields),
    }
    if p.user_permissions:
        body["userPermissions"] = [{"enabled": True, "name": n} for n in sorted(p.user_permissions)]
    if p.tabs:
        body["tabSettings"] = [{"tab": t, "visibility": "Visible"} for t in p.tabs]
    return document("PermissionSet", body)
