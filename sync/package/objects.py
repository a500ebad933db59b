"""The custom objects the package creates (Payment, Refund, Stripe Setup) and their CustomObject XML.

The Project object is the org's own: the package adds fields, a layout and an action to it and
never writes its CustomObject file, so a deploy cannot redefine it. (CustomObject:
developer.salesforce.com/docs/platform/api-metadata/references/meta-types/metadata-customobject.html;
a detail object's `sharingModel` must be ControlledByParent.)
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.config.mapping import Mapping

from .xml import Element, document


@dataclass(frozen=True)
class ObjectDef:
    """One custom object the package creates."""

    section: str
    name: str
    label: str
    plural: str
    name_label: str
    auto_number: str | None  # the Name's display format, e.g. PAY-{00000}; None: a Text name
    sharing: str
    activities: bool  # Allow Activities: the link emails are logged on Payments (EmailMessage)


def package_objects(mapping: Mapping) -> list[ObjectDef]:
    """The objects the package creates for `mapping`."""
    return [
        ObjectDef("payment", mapping.payment.object, "Payment", "Payments", "Payment Number", "PAY-{00000}",
                  "ReadWrite", activities=True),
        ObjectDef("refund", mapping.refund.object, "Refund", "Refunds", "Refund Number", "REF-{00000}",
                  "ControlledByParent", activities=False),
        ObjectDef("setup", mapping.setup.object, "Stripe Setup", "Stripe Setups", "Stripe Setup Name", None,
                  "ReadWrite", activities=False),
    ]  # fmt: skip


def object_path(o: ObjectDef) -> str:
    return f"objects/{o.name}/{o.name}.object-meta.xml"


def object_xml(o: ObjectDef) -> str:
    """The CustomObject file of `o`."""
    name_field: Element = {"label": o.name_label, "type": "AutoNumber" if o.auto_number else "Text"}
    if o.auto_number:
        name_field |= {"displayFormat": o.auto_number, "startingNumber": 1}
    body: Element = {
        "label": o.label,
        "pluralLabel": o.plural,
        "nameField": name_field,
        "deploymentStatus": "Deployed",
        "sharingModel": o.sharing,
        "enableActivities": o.activities,
        "enableReports": True,
        "enableSearch": True,
        "visibility": "Public",
    }
    return document("CustomObject", body)
