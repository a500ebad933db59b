"""The sandbox org is the package deployed: its objects come from the files `sync metadata` writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.config.mapping import load_mapping, read_mapping
from sync.package import build_package, package_files
from sync.package import fields as package_fields_module
from sync.sandbox.org import org_schema_for
from sync.sandbox.salesforce.metadata import read_objects

ROOT = Path(__file__).resolve().parents[2]


def _objects(mapping_file: str) -> dict:
    return {o.name: o for o in org_schema_for(load_mapping(ROOT / "mappings" / mapping_file)).objects}


def test_the_org_objects_are_read_from_the_package_files():
    objects = _objects("default.toml")
    payment = {f.name: f for f in objects["Payment__c"].fields}
    amount = payment["Amount__c"]
    assert (amount.type, amount.precision, amount.scale) == ("currency", 18, 4)
    assert payment["Request_Key__c"].unique and payment["Request_Key__c"].external_id
    assert payment["Customer_Email__c"].length == 80  # an Email field's size in Salesforce
    assert payment["Status__c"].picklist_values[:2] == ("Requested", "Link Sent")
    assert payment["Project__c"].child_relationship_name == "Payments__r"
    assert payment["Sync_Log__c"].label == "Sync Log"  # the package's label, not one made up here
    refund = {f.name: f for f in objects["Refund__c"].fields}
    assert refund["Payment__c"].required and refund["Payment__c"].child_relationship_name == "Refunds__r"
    assert refund["Status__c"].default == "Requested"
    assert objects["Payment__c"].name_field_autonumber == "PAY-{00000}"
    setup = {f.name: f for f in objects["Stripe_Setup__c"].fields}
    assert (setup["Secret_Key__c"].type, setup["Secret_Key__c"].length) == ("encryptedstring", 175)


def test_the_namespaced_package_reads_as_the_org_a_namespaced_deploy_makes():
    raw = read_mapping(ROOT / "mappings/namespaced-example.toml")
    from_namespaced_tree = read_objects(package_files(build_package(mapping=raw)))
    from_qualified = read_objects(package_files(build_package(mapping=raw.qualified(), qualified=True)))
    assert from_namespaced_tree == from_qualified
    assert "bpm__Job_Payment__c" in from_namespaced_tree
    payments = {f.name: f for f in from_namespaced_tree["bpm__Job_Payment__c"].fields}
    assert payments["bpm__Job__c"].child_relationship_name == "bpm__Job_Payments__r"


def test_a_field_the_worker_uses_that_the_package_lacks_stops_the_org_being_built(monkeypatch):
    made = package_fields_module.package_fields
    monkeypatch.setattr(
        package_fields_module,
        "package_fields",
        lambda mapping: [f for f in made(mapping) if f.logical != "receipt_url"],
    )
    with pytest.raises(ValueError, match=r"payment\.fields\.receipt_url \(Payment__c\.Receipt_URL__c\)"):
        org_schema_for(load_mapping(ROOT / "mappings/default.toml"))
