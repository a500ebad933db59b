"""describeGlobal, sObject basic information and sObject describe, in Salesforce's JSON shapes."""

from __future__ import annotations

from typing import Any

from .catalog import Catalog
from .schema import DECIMAL_TYPES, SYSTEM_FIELDS, FieldSchema, SObjectSchema
from .values import max_length

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "boolean": "xsd:boolean",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
_STRINGISH = frozenset(
    {"id", "string", "textarea", "email", "url", "phone", "picklist", "reference", "encryptedstring"}
)


def urls(sobject: SObjectSchema, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{sobject.name}"
    return {
        "compactLayouts": f"{base}/describe/compactLayouts",
        "rowTemplate": f"{base}/{{ID}}",
        "approvalLayouts": f"{base}/describe/approvalLayouts",
        "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
        "listviews": f"{base}/listviews",
        "describe": f"{base}/describe",
        "quickActions": f"{base}/quickActions",
        "layouts": f"{base}/describe/layouts",
        "sobject": base,
    }


def global_entry(sobject: SObjectSchema, version: str, *, feed_enabled: bool) -> dict[str, Any]:
    """One entry of describeGlobal's `sobjects` (also `objectDescribe` of the basic-info resource)."""
    return {
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "createable": True,
        "custom": sobject.custom,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": True,
        "deprecatedAndHidden": False,
        "feedEnabled": feed_enabled,
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": sobject.key_prefix,
        "label": sobject.label,
        "labelPlural": sobject.label_plural or f"{sobject.label}s",
        "layoutable": True,
        "mergeable": False,
        "mruEnabled": True,
        "name": sobject.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "undeletable": True,
        "updateable": True,
        "urls": urls(sobject, version),
    }


def describe_global(catalog: Catalog, version: str) -> dict[str, Any]:
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [
            global_entry(o, version, feed_enabled=catalog.feed_enabled(o))
            for o in sorted(catalog.objects, key=lambda o: o.name)
        ],
    }


def describe_sobject(catalog: Catalog, sobject: SObjectSchema, version: str, *, admin: bool = False) -> dict[str, Any]:
    """The full describe; FLS-hidden fields are left out, as for a user without read access."""
    entry = global_entry(sobject, version, feed_enabled=catalog.feed_enabled(sobject))
    children = [
        {
            "cascadeDelete": rel.field.required,
            "childSObject": rel.child.name,
            "deprecatedAndHidden": False,
            "field": rel.field.name,
            "junctionIdListNames": [],
            "junctionReferenceTo": [],
            "relationshipName": rel.name,
            "restrictedDelete": False,
        }
        for rel in catalog.children(sobject, admin=admin)
    ]
    return {
        "actionOverrides": [],
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "childRelationships": children,
        "compactLayoutable": True,
        "createable": True,
        "custom": sobject.custom,
        "customSetting": False,
        "deepCloneable": False,
        "defaultImplementation": None,
        "deletable": True,
        "deprecatedAndHidden": False,
        "extendedBy": None,
        "extendsInterfaces": None,
        "feedEnabled": catalog.feed_enabled(sobject),
        "fields": [describe_field(fs) for fs in catalog.fields(sobject, admin=admin)],
        "hasSubtypes": False,
        "implementedBy": None,
        "implementsInterfaces": None,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": sobject.key_prefix,
        "label": sobject.label,
        "labelPlural": entry["labelPlural"],
        "layoutable": True,
        "listviewable": None,
        "lookupLayoutable": None,
        "mergeable": False,
        "mruEnabled": True,
        "name": sobject.name,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "queryable": True,
        "recordTypeInfos": [],
        "replicateable": True,
        "retrieveable": True,
        "searchLayoutable": True,
        "searchable": True,
        "sobjectDescribeOption": "FULL",
        "supportedScopes": [{"label": "All records", "name": "everything"}],
        "triggerable": True,
        "undeletable": True,
        "updateable": True,
        "urls": entry["urls"],
    }


def describe_field(fs: FieldSchema) -> dict[str, Any]:
    kind = fs.type
    text = kind in _STRINGISH
    length = max_length(fs) if text else 0
    long_text = kind == "textarea" and length > 255
    filterable = not (long_text or kind == "encryptedstring")
    system = not fs.createable and not fs.updateable and fs.name in SYSTEM_FIELDS
    nillable = not (fs.required or kind in ("boolean", "id") or fs.name_field or system or fs.name == "OwnerId")
    defaulted = system or fs.name == "OwnerId" or kind == "boolean" or fs.auto_number or fs.default is not None
    return {
        "aggregatable": filterable and kind != "boolean",
        "aiPredictionField": False,
        "autoNumber": fs.auto_number,
        "byteLength": length * 3 if text else 0,
        "calculated": fs.calculated,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": False,
        "compoundFieldName": None,
        "controllerName": None,
        "createable": fs.createable,
        "custom": fs.name.endswith("__c"),
        "defaultValue": fs.default
        if kind == "boolean" and fs.default is not None
        else (False if kind == "boolean" else None),
        "defaultValueFormula": None if kind == "boolean" or fs.default is None else repr(fs.default),
        "defaultedOnCreate": defaulted,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": 0 if kind != "int" else (fs.precision or 18),
        "displayLocationInDecimal": False,
        "encrypted": kind == "encryptedstring",
        "externalId": fs.external_id,
        "extraTypeInfo": _extra(fs),
        "filterable": filterable,
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": filterable and kind not in DECIMAL_TYPES and kind != "datetime",
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": kind == "id" or fs.external_id or fs.name == "Email",
        "inlineHelpText": None,
        "label": fs.label or fs.name,
        "length": length,
        "mask": "*" if fs.type == "encryptedstring" else None,
        "maskType": "all" if fs.type == "encryptedstring" else None,
        "name": fs.name,
        "nameField": fs.name_field,
        "namePointing": False,
        "nillable": nillable,
        "permissionable": nillable and fs.createable,
        "picklistValues": [
            {
                "active": True,
                "defaultValue": value == fs.default,
                "label": value,
                "validFor": None,
                "value": value,
            }
            for value in fs.picklist_values
        ],
        "polymorphicForeignKey": False,
        "precision": (fs.precision or 18) if kind in DECIMAL_TYPES else 0,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": [fs.reference_to] if fs.reference_to else [],
        "relationshipName": fs.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": kind == "picklist" and fs.restricted_picklist,
        "scale": _scale(fs),
        "searchPrefilterable": kind == "reference",
        "soapType": _SOAP_TYPES.get(kind, "xsd:string"),
        "sortable": filterable,
        "type": kind,
        "unique": fs.unique,
        "updateable": fs.updateable,
        "writeRequiresMasterRead": False,
    }


def _scale(fs: FieldSchema) -> int:
    if fs.type not in DECIMAL_TYPES:
        return 0
    if fs.scale is not None:
        return fs.scale
    return 2 if fs.type == "currency" else 0


def _extra(fs: FieldSchema) -> str | None:
    return "plaintextarea" if fs.type == "textarea" else None
