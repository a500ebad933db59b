"""The org's objects read from a Salesforce DX source tree: what an admin deploys, as the emulator's schema.

Each CustomField type becomes the describe type Salesforce reports for it (Text: string, TextArea
and LongTextArea: textarea, Checkbox: boolean, Lookup and MasterDetail: reference, EncryptedText:
encryptedstring, Number: double, ...), with the sizes the file gives or Salesforce fixes (Email
80, Url 255, TextArea 255). A Lookup's `relationshipName` names the parent's child relationship
(`Payments` -> `Payments__r`); the field's own relationship is its name with `__r`. With a
`namespace` in sfdx-project.json every custom name gets its prefix, as a deploy to a namespaced
org gives it.

The files are ours (made by `sync.package` in this process), not input from elsewhere.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from sync.config.mapping import qualify

from .schema import FieldSchema

_NS = {"m": "http://soap.sforce.com/2006/04/metadata"}
_SOURCE = "force-app/main/default/objects/"
_FIXED_LENGTH = {"Email": 80, "Url": 255, "TextArea": 255}
_DESCRIBE_TYPE = {
    "Text": "string", "TextArea": "textarea", "LongTextArea": "textarea", "Email": "email", "Url": "url",
    "Currency": "currency", "Number": "double", "Checkbox": "boolean", "DateTime": "datetime", "Date": "date",
    "Picklist": "picklist", "EncryptedText": "encryptedstring", "Lookup": "reference", "MasterDetail": "reference",
    "Phone": "phone", "Percent": "percent",
}  # fmt: skip


@dataclass(frozen=True)
class ObjectMetadata:
    """One object of the tree: its CustomObject facts (None for an object it only adds fields to)."""

    name: str
    label: str | None
    plural: str | None
    auto_number: str | None
    fields: tuple[FieldSchema, ...]


def read_objects(files: dict[str, str]) -> dict[str, ObjectMetadata]:
    """Every object of the tree `files` (paths relative to the project folder), by API name."""
    namespace = json.loads(files["sfdx-project.json"]).get("namespace", "")

    def q(name: str) -> str:
        return qualify(name, namespace)

    heads: dict[str, ET.Element] = {}
    fields: dict[str, list[FieldSchema]] = {}
    for path, text in sorted(files.items()):
        if not path.startswith(_SOURCE):
            continue
        parts = path[len(_SOURCE) :].split("/")
        obj = parts[0]
        root = ET.fromstring(text)  # noqa: S314 - our own generated text
        if parts[-1].endswith(".object-meta.xml"):
            heads[obj] = root
        elif len(parts) == 3 and parts[1] == "fields":
            fields.setdefault(obj, []).append(_field(root, q))
    out = {}
    for obj in sorted(set(heads) | set(fields)):
        head = heads.get(obj)
        name_field = head.find("m:nameField", _NS) if head is not None else None
        auto = None
        if name_field is not None and _text(name_field, "type") == "AutoNumber":
            auto = _text(name_field, "displayFormat")
        out[q(obj)] = ObjectMetadata(
            name=q(obj),
            label=_text(head, "label") if head is not None else None,
            plural=_text(head, "pluralLabel") if head is not None else None,
            auto_number=auto,
            fields=tuple(fields.get(obj, ())),
        )
    return out


def _text(el: ET.Element, tag: str) -> str | None:
    found = el.find(f"m:{tag}", _NS)
    return None if found is None else found.text


def _int(el: ET.Element, tag: str) -> int | None:
    text = _text(el, tag)
    return int(text) if text is not None else None


def _field(el: ET.Element, q: object) -> FieldSchema:
    assert callable(q)
    kind = _text(el, "type") or ""
    if kind not in _DESCRIBE_TYPE:
        raise ValueError(f"{_text(el, 'fullName')}: the emulator has no describe type for CustomField type {kind!r}")
    name = q(_text(el, "fullName") or "")
    extra: dict[str, object] = {}
    if kind == "Picklist":
        values = el.findall("m:valueSet/m:valueSetDefinition/m:value", _NS)
        extra["picklist_values"] = tuple(_text(v, "fullName") or "" for v in values)
        extra["restricted_picklist"] = _text(el, "valueSet/m:restricted") == "true"
        defaults = [_text(v, "fullName") for v in values if _text(v, "default") == "true"]
        if defaults:
            extra["default"] = defaults[0]
    if kind in ("Lookup", "MasterDetail"):
        extra["reference_to"] = q(_text(el, "referenceTo") or "")
        extra["relationship_name"] = name[:-3] + "__r"
        extra["child_relationship_name"] = q((_text(el, "relationshipName") or "") + "__r")
        # A detail's Master-Detail field is required. (Salesforce also makes it read-only unless
        # reparentable; the emulator keeps it updateable, as it was before it read the package.)
        extra["required"] = kind == "MasterDetail"
    if kind == "Checkbox":
        extra["default"] = _text(el, "defaultValue") == "true"
    unique = _text(el, "unique") == "true"
    return FieldSchema(
        name=name,
        type=_DESCRIBE_TYPE[kind],
        label=_text(el, "label") or name,
        length=_int(el, "length") or _FIXED_LENGTH.get(kind),
        precision=_int(el, "precision"),
        scale=_int(el, "scale"),
        external_id=_text(el, "externalId") == "true",
        unique=unique,
        **extra,  # type: ignore[arg-type]
    )
