"""`sync check` names what an org's fields lack of the package's, with the command that fixes it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from sync.config.mapping import load_mapping
from sync.entry.check import DEPLOY_FIX, package_field_problems
from sync.sandbox.org import org_schema_for
from sync.sandbox.salesforce.describe import describe_field
from sync.sandbox.salesforce.schema import FieldSchema

ROOT = Path(__file__).resolve().parents[2]
MAPPING = load_mapping(ROOT / "mappings/default.toml")


def _describe(change: dict[tuple[str, str], dict[str, Any]] | None = None):
    change = change or {}
    objects = {}
    for o in org_schema_for(MAPPING).objects:
        fields: list[FieldSchema] = [replace(f, **change.get((o.name, f.name), {})) for f in o.fields]
        objects[o.name] = {"name": o.name, "fields": [describe_field(f) for f in fields]}
    return objects.get


def test_an_org_made_from_the_package_lacks_nothing():
    assert package_field_problems(mapping=MAPPING, describe=_describe()) == []


def test_each_lack_is_named_with_the_deploy_that_fixes_it():
    describe = _describe(
        {
            ("Payment__c", "Request_Key__c"): {"unique": False},
            ("Payment__c", "Currency__c"): {"length": 2},
            ("Payment__c", "Amount__c"): {"scale": 2},
            ("Project__c", "Request_Type__c"): {"picklist_values": ("Deposit", "Final")},
        }
    )
    problems = package_field_problems(mapping=MAPPING, describe=describe)
    assert len(problems) == 4 and all(p.endswith(f"Fix: deploy the package ({DEPLOY_FIX}).") for p in problems)
    joined = "\n".join(problems)
    assert "Payment field Payment__c.Request_Key__c is not External ID and Unique" in joined
    assert "Payment field Payment__c.Currency__c holds 2 characters; the package makes it 3" in joined
    assert "Payment field Payment__c.Amount__c has 2 decimal places; the package makes it 4" in joined
    assert "Project field Project__c.Request_Type__c lacks the picklist values Progress, Custom" in joined
