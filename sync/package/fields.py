"""The custom fields of the package, from the mapping and `field_specs`, and their CustomField XML.

Each `FieldSpec` kind becomes one CustomField type (Metadata API Developer Guide, CustomField and
FieldType: developer.salesforce.com/docs/platform/api-metadata/references/meta-types/metadata-customfield.html):

| kind            | CustomField type               | sizes                                  |
|-----------------|--------------------------------|----------------------------------------|
| string          | Text                           | `length` (default 255, the most)       |
| textarea        | TextArea (255) or LongTextArea | `length` > 255, or none: 32768         |
| email / url     | Email / Url                    | fixed by Salesforce: 80 / 255          |
| currency        | Currency                       | precision 16, scale 2 (or the spec's)  |
| double          | Number                         | precision 18, scale 0                  |
| boolean         | Checkbox                       | defaultValue false (required for it)   |
| datetime        | DateTime                       |                                        |
| picklist        | Picklist                       | restricted value set from the mapping  |
| encryptedstring | EncryptedText                  | length 175 (the most), masked: all, *  |
| reference       | Lookup / MasterDetail          | relationshipName = child relationship  |

`precision` is the total number of digits, `scale` those after the point: a scale-4 Currency gets
precision 18 (14 before the point), the README's "Currency 14,4".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pydantic import BaseModel

from sync.config.mapping import (
    FieldSpec,
    Mapping,
    PaymentFields,
    ProjectFields,
    RefundFields,
    SetupFields,
    field_specs,
)

from .labels import FIELD_TEXT
from .names import package_defines
from .xml import Element, document

SPEC_MODELS: dict[str, type[BaseModel]] = {
    "project": ProjectFields,
    "payment": PaymentFields,
    "refund": RefundFields,
    "setup": SetupFields,
}
LONG_TEXT_DEFAULT = 32768
LONG_TEXT_LINES = 3
ENCRYPTED_LENGTH = 175
_MAX_PRECISION = 18


@dataclass(frozen=True)
class FieldDef:
    """One custom field the package creates, with everything its CustomField file says."""

    section: str  # project, payment, refund, setup
    logical: str  # the mapping's name for it
    object: str
    name: str
    label: str
    help: str
    spec: FieldSpec
    type: str  # the CustomField type
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    picklist: tuple[str, ...] = ()
    picklist_default: str | None = None
    reference_to: str | None = None
    child_relationship: str | None = None  # without its __r
    relationship_label: str | None = None

    @property
    def unique_external_id(self) -> bool:
        return self.spec.unique_external_id


def objects_of(mapping: Mapping) -> dict[str, str]:
    """The object API name of each mapping section."""
    return {s: getattr(mapping, s).object for s in SPEC_MODELS}


def picklists_of(mapping: Mapping) -> dict[tuple[str, str], tuple[str, ...]]:
    """The values of every picklist field, by (section, logical field name)."""

    def words(model: BaseModel) -> tuple[str, ...]:
        return tuple(model.model_dump().values())

    return {
        ("project", "request_type"): words(mapping.payment.type),
        ("payment", "type"): words(mapping.payment.type),
        ("payment", "status"): words(mapping.payment.status),
        ("refund", "status"): words(mapping.refund.status),
        ("refund", "source"): words(mapping.refund.source),
        ("setup", "mode"): words(mapping.setup.mode),
        ("setup", "connection_status"): words(mapping.setup.connection_status),
    }


# A new Refund starts Requested (the Issue Refund action sets it too); the others have no default,
# so a Payment made by hand without a Status is visible as such.
def _picklist_default(mapping: Mapping, section: str, logical: str) -> str | None:
    return mapping.refund.status.requested if (section, logical) == ("refund", "status") else None


def package_fields(mapping: Mapping) -> list[FieldDef]:
    """Every field the package creates for `mapping`, in mapping order."""
    objects = objects_of(mapping)
    picklists = picklists_of(mapping)
    out: list[FieldDef] = []
    for section, model in SPEC_MODELS.items():
        specs = field_specs(model)
        for logical, api_name in getattr(mapping, section).fields.model_dump().items():
            if api_name is None or not package_defines(section, logical):
                continue
            label, help_text = FIELD_TEXT[section][logical]
            base = FieldDef(section, logical, objects[section], api_name, label, help_text, specs[logical], "")
            out.append(_typed(base, mapping, picklists.get((section, logical), ())))
    return out


def _typed(f: FieldDef, mapping: Mapping, picklist: tuple[str, ...]) -> FieldDef:
    spec = f.spec
    match spec.kind:
        case "string":
            return replace(f, type="Text", length=spec.length or 255)
        case "textarea":
            if spec.length is not None and spec.length <= 255:
                return replace(f, type="TextArea", length=255)
            return replace(f, type="LongTextArea", length=spec.length or LONG_TEXT_DEFAULT)
        case "email":
            return replace(f, type="Email", length=80)
        case "url":
            return replace(f, type="Url", length=255)
        case "currency":
            scale = spec.scale if spec.scale is not None else 2
            return replace(f, type="Currency", precision=_MAX_PRECISION if scale > 2 else 16, scale=scale)
        case "double":
            return replace(f, type="Number", precision=_MAX_PRECISION, scale=spec.scale or 0)
        case "boolean":
            return replace(f, type="Checkbox")
        case "datetime":
            return replace(f, type="DateTime")
        case "picklist":
            return replace(
                f, type="Picklist", picklist=picklist, picklist_default=_picklist_default(mapping, f.section, f.logical)
            )
        case "encryptedstring":
            return replace(f, type="EncryptedText", length=min(spec.length or ENCRYPTED_LENGTH, ENCRYPTED_LENGTH))
        case "reference":
            return _reference(f, mapping)
    raise ValueError(f"{f.section}.fields.{f.logical}: no CustomField type for kind {spec.kind!r}")


def _reference(f: FieldDef, mapping: Mapping) -> FieldDef:
    if f.section == "payment":  # Payment -> Project: a Lookup, so a Payment never locks its Project
        child, target, label = mapping.payment.child_relationship, mapping.project.object, "Payments"
        return replace(f, type="Lookup", reference_to=target, child_relationship=child[:-3], relationship_label=label)
    # Refund -> Payment: Master-Detail, so a Refund lives and dies with its Payment and the report
    # type can join them; Salesforce makes the field required and the Refund's sharing the Payment's.
    child, target = mapping.refund.child_relationship, mapping.payment.object
    return replace(
        f, type="MasterDetail", reference_to=target, child_relationship=child[:-3], relationship_label="Refunds"
    )


def field_path(f: FieldDef) -> str:
    """Where its file goes under `force-app/main/default`."""
    return f"objects/{f.object}/fields/{f.name}.field-meta.xml"


def field_xml(f: FieldDef) -> str:
    """The CustomField file of `f`."""
    body: Element = {"fullName": f.name, "label": f.label, "inlineHelpText": f.help, "type": f.type}
    match f.type:
        case "Text":
            body |= {"length": f.length or 255, "required": False}
            if f.unique_external_id:  # intake and refunds rely on Salesforce refusing a second record
                body |= {"externalId": True, "unique": True, "caseSensitive": True}
        case "TextArea" | "Email" | "Url" | "DateTime":
            body |= {"required": False}
        case "LongTextArea":
            body |= {"length": f.length or LONG_TEXT_DEFAULT, "visibleLines": LONG_TEXT_LINES}
        case "Currency" | "Number":
            body |= {"precision": f.precision or _MAX_PRECISION, "scale": f.scale or 0, "required": False}
        case "Checkbox":
            body |= {"defaultValue": "false"}
        case "Picklist":
            values: list[Element] = [
                {"fullName": v, "default": v == f.picklist_default, "label": v} for v in f.picklist
            ]
            body |= {
                "required": False,
                "valueSet": {"restricted": True, "valueSetDefinition": {"sorted": False, "value": list(values)}},
            }
        case "EncryptedText":
            body |= {
                "length": f.length or ENCRYPTED_LENGTH,
                "maskChar": "asterisk",
                "maskType": "all",
                "required": False,
            }
        case "Lookup":
            body |= {
                "referenceTo": f.reference_to or "",
                "relationshipName": f.child_relationship or "",
                "relationshipLabel": f.relationship_label or "",
                "deleteConstraint": "Restrict",  # a Project with payments cannot be deleted from under them
                "required": False,
            }
        case "MasterDetail":
            body |= {
                "referenceTo": f.reference_to or "",
                "relationshipName": f.child_relationship or "",
                "relationshipLabel": f.relationship_label or "",
                "relationshipOrder": 0,
                "reparentableMasterDetail": False,
                "writeRequiresMasterRead": False,
            }
    return document("CustomField", body)
