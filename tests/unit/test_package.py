"""The Salesforce package `sync metadata` writes, read back as XML: what an admin deploys."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sync.config.mapping import (
    PaymentFields,
    ProjectFields,
    RefundFields,
    SetupFields,
    field_specs,
    read_mapping,
    worker_owned_fields,
)
from sync.package import MappingRefused, build_package, package_files, write_files
from sync.package.labels import FIELD_TEXT

ROOT = Path(__file__).resolve().parents[2]
NS = {"m": "http://soap.sforce.com/2006/04/metadata"}
SRC = "force-app/main/default"
DEFAULT = read_mapping(ROOT / "mappings/default.toml")
NAMESPACED = read_mapping(ROOT / "mappings/namespaced-example.toml")


def _files(mapping=DEFAULT) -> dict[str, str]:
    return package_files(build_package(mapping=mapping))


def _xml(files: dict[str, str], path: str) -> ET.Element:
    return ET.fromstring(files[f"{SRC}/{path}"])


def _text(el: ET.Element, tag: str) -> str | None:
    found = el.find(f"m:{tag}", NS)
    return None if found is None else found.text


def _field(files: dict[str, str], obj: str, name: str) -> ET.Element:
    return _xml(files, f"objects/{obj}/fields/{name}.field-meta.xml")


def _picklist(field: ET.Element) -> list[str]:
    return [v.text or "" for v in field.findall("m:valueSet/m:valueSetDefinition/m:value/m:fullName", NS)]


def test_every_file_is_well_formed_metadata_of_its_kind():
    roots = {
        ".object-meta.xml": "CustomObject", ".field-meta.xml": "CustomField", ".quickAction-meta.xml": "QuickAction",
        ".layout-meta.xml": "Layout", ".tab-meta.xml": "CustomTab", ".permissionset-meta.xml": "PermissionSet",
        ".reportType-meta.xml": "ReportType", ".report-meta.xml": "Report", ".reportFolder-meta.xml": "ReportFolder",
        ".group-meta.xml": "Group",
    }  # fmt: skip
    for mapping in (DEFAULT, NAMESPACED):
        files = _files(mapping)
        for path, text in files.items():
            if path == "sfdx-project.json":
                continue
            kind = next(root for suffix, root in roots.items() if path.endswith(suffix))
            assert ET.fromstring(text).tag == f"{{{NS['m']}}}{kind}", path


def test_the_project_names_the_namespace_and_api_version():
    assert json.loads(_files()["sfdx-project.json"])["namespace"] == ""
    project = json.loads(_files(NAMESPACED)["sfdx-project.json"])
    assert project["namespace"] == "bpm"
    assert project["packageDirectories"] == [{"path": "force-app", "default": True}]
    assert project["sourceApiVersion"] == "64.0"
    assert not any(p.endswith("package.xml") for p in _files())


def test_the_package_creates_payment_refund_and_setup_but_never_the_project_object():
    files = _files()
    created = {p.split("/")[-1] for p in files if p.endswith(".object-meta.xml")}
    assert created == {"Payment__c.object-meta.xml", "Refund__c.object-meta.xml", "Stripe_Setup__c.object-meta.xml"}
    payment = _xml(files, "objects/Payment__c/Payment__c.object-meta.xml")
    assert _text(payment.find("m:nameField", NS), "type") == "AutoNumber"
    assert _text(payment.find("m:nameField", NS), "displayFormat") == "PAY-{00000}"
    assert _text(payment, "enableActivities") == "true"  # the link emails are logged on the Payment
    refund = _xml(files, "objects/Refund__c/Refund__c.object-meta.xml")
    assert _text(refund, "sharingModel") == "ControlledByParent"
    project_fields = {p.rsplit("/", 1)[-1].split(".")[0] for p in files if p.startswith(f"{SRC}/objects/Project__c/")}
    assert project_fields == {
        "Request_Payment__c", "Requested_Amount__c", "Request_Type__c", "Request_Description__c", "Requested_At__c",
        "Payment_Request_Error__c", "Signing_Deposit_Requested__c",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("section", "model"),
    [("payment", PaymentFields), ("refund", RefundFields), ("setup", SetupFields)],
)
def test_every_field_the_worker_uses_is_in_the_package(section, model):
    files = _files()
    part = getattr(DEFAULT, section)
    for logical in field_specs(model):
        _field(files, part.object, getattr(part.fields, logical))  # raises KeyError when missing


def test_field_types_sizes_and_flags():
    files = _files()
    amount = _field(files, "Payment__c", "Amount__c")
    assert (_text(amount, "type"), _text(amount, "precision"), _text(amount, "scale")) == ("Currency", "18", "4")
    paid = _field(files, "Payment__c", "Amount_Paid__c")
    assert (_text(paid, "precision"), _text(paid, "scale")) == ("16", "2")
    currency = _field(files, "Payment__c", "Currency__c")
    assert (_text(currency, "type"), _text(currency, "length")) == ("Text", "3")
    key = _field(files, "Payment__c", "Request_Key__c")
    assert (_text(key, "externalId"), _text(key, "unique")) == ("true", "true")
    refund_id = _field(files, "Refund__c", "Stripe_Refund_Id__c")
    assert (_text(refund_id, "externalId"), _text(refund_id, "unique")) == ("true", "true")
    assert _text(_field(files, "Payment__c", "Stripe_Charge_Id__c"), "unique") is None
    assert _text(_field(files, "Payment__c", "Sync_Log__c"), "type") == "LongTextArea"
    assert _text(_field(files, "Project__c", "Payment_Request_Error__c"), "type") == "TextArea"
    assert _text(_field(files, "Payment__c", "Resend__c"), "defaultValue") == "false"
    assert _text(_field(files, "Payment__c", "Payment_Link_URL__c"), "type") == "Url"
    assert _text(_field(files, "Payment__c", "Customer_Email__c"), "type") == "Email"
    assert _text(_field(files, "Payment__c", "Link_Revision__c"), "type") == "Number"
    secret = _field(files, "Stripe_Setup__c", "Secret_Key__c")
    assert [_text(secret, t) for t in ("type", "length", "maskType", "maskChar")] == [
        "EncryptedText", "175", "all", "asterisk"
    ]  # fmt: skip
    for path, text in files.items():
        if path.endswith(".field-meta.xml"):
            assert _text(ET.fromstring(text), "inlineHelpText"), f"{path} has no help text"


def test_relationships_are_the_ones_the_worker_queries():
    files = _files()
    project = _field(files, "Payment__c", "Project__c")
    assert [_text(project, t) for t in ("type", "referenceTo", "relationshipName")] == [
        "Lookup",
        "Project__c",
        "Payments",
    ]
    payment = _field(files, "Refund__c", "Payment__c")
    assert [_text(payment, t) for t in ("type", "referenceTo", "relationshipName")] == [
        "MasterDetail", "Payment__c", "Refunds"
    ]  # fmt: skip
    assert DEFAULT.payment.child_relationship == "Payments__r" and DEFAULT.refund.child_relationship == "Refunds__r"


def test_picklists_are_restricted_to_the_mapping_words():
    files = _files(NAMESPACED)
    status = _field(files, "Job_Payment__c", "Stage__c")
    assert _text(status.find("m:valueSet", NS), "restricted") == "true"
    assert _picklist(status) == list(NAMESPACED.payment.status.model_dump().values())
    assert _picklist(_field(files, "Job__c", "Bill_Type__c")) == list(NAMESPACED.payment.type.model_dump().values())
    refund_status = _field(files, "Job_Refund__c", "Refund_Stage__c")
    defaults = refund_status.findall("m:valueSet/m:valueSetDefinition/m:value", NS)
    assert [_text(v, "fullName") for v in defaults if _text(v, "default") == "true"] == ["Asked"]


def _action(files, name):
    el = _xml(files, f"quickActions/{name}.quickAction-meta.xml")
    shown = [
        _text(i, "field")
        for i in el.findall("m:quickActionLayout/m:quickActionLayoutColumns/m:quickActionLayoutItems", NS)
    ]
    overrides = {
        _text(o, "field"): _text(o, "formula") or _text(o, "literalValue") for o in el.findall("m:fieldOverrides", NS)
    }
    return el, shown, overrides


def test_request_payment_ticks_the_box_and_stamps_the_time():
    el, shown, overrides = _action(_files(), "Project__c.Request_Payment")
    assert _text(el, "type") == "Update"
    assert shown == ["Request_Type__c", "Requested_Amount__c", "Request_Description__c"]
    assert overrides == {"Request_Payment__c": "TRUE", "Requested_At__c": "NOW()"}


def test_issue_refund_creates_a_child_refund():
    el, shown, overrides = _action(_files(), "Payment__c.Issue_Refund")
    assert [_text(el, t) for t in ("type", "targetObject", "targetParentField")] == [
        "Create",
        "Refund__c",
        "Payment__c",
    ]
    assert shown == ["Amount__c", "Reason__c"]
    assert overrides == {"Status__c": "Requested", "Source__c": "CRM"}


def test_resend_and_cancel_tick_their_flags():
    files = _files()
    assert _action(files, "Payment__c.Resend_Payment_Link")[2] == {"Resend__c": "TRUE"}
    assert _action(files, "Payment__c.Cancel_Payment_Request")[2] == {"Cancel_Requested__c": "TRUE"}
    assert _text(_action(files, "Payment__c.Cancel_Payment_Request")[0], "type") == "Update"


def _layout(files, name):
    el = _xml(files, f"layouts/{name}.layout-meta.xml")
    items = {_text(i, "field"): _text(i, "behavior") for i in el.findall(".//m:layoutItems", NS)}
    related = {
        _text(r, "relatedList"): [f.text for f in r.findall("m:fields", NS)] for r in el.findall("m:relatedLists", NS)
    }
    actions = [_text(a, "actionName") for a in el.findall("m:platformActionList/m:platformActionListItems", NS)]
    return items, related, actions


def test_project_layout_lists_payments_and_the_request_button():
    _, related, actions = _layout(_files(), "Project__c-Project Payments Layout")
    assert related == {
        "Payment__c.Project__c": [
            "NAME", "Type__c", "Amount__c", "Status__c", "Amount_Paid__c", "Amount_Refunded__c", "Payment_Link_URL__c",
            "Receipt_URL__c",
        ]
    }  # fmt: skip
    assert actions == ["Project__c.Request_Payment"]


def test_payment_layout_has_refunds_receipt_failure_and_three_buttons_with_worker_fields_read_only():
    items, related, actions = _layout(_files(), "Payment__c-Payment Layout")
    assert list(related) == ["Refund__c.Payment__c"]
    assert actions == ["Payment__c.Issue_Refund", "Payment__c.Resend_Payment_Link", "Payment__c.Cancel_Payment_Request"]
    for name in ("Receipt_URL__c", "Last_Failure__c", "Last_Failure_Code__c"):
        assert items[name] == "Readonly"
    for logical in worker_owned_fields(PaymentFields):
        assert items[getattr(DEFAULT.payment.fields, logical)] == "Readonly", logical


def test_setup_layout_shows_what_the_worker_writes_read_only():
    items, _, _ = _layout(_files(), "Stripe_Setup__c-Stripe Setup Layout")
    assert items["Connection_Status__c"] == items["Last_Error__c"] == items["Last_Verified_At__c"] == "Readonly"
    assert items["Secret_Key__c"] == items["Mode__c"] == "Edit"
    tabs = {p.rsplit("/", 1)[-1] for p in _files() if "/tabs/" in p}
    assert tabs == {"Payment__c.tab-meta.xml", "Stripe_Setup__c.tab-meta.xml"}


def _permissions(files, name):
    el = _xml(files, f"permissionsets/{name}.permissionset-meta.xml")
    fields = {
        _text(f, "field"): (_text(f, "readable"), _text(f, "editable")) for f in el.findall("m:fieldPermissions", NS)
    }
    objects = {
        _text(o, "object"): {t: _text(o, t) for t in ("allowRead", "allowCreate", "allowEdit", "allowDelete")}
        for o in el.findall("m:objectPermissions", NS)
    }
    users = {_text(u, "name") for u in el.findall("m:userPermissions", NS)}
    return fields, objects, users


def test_the_integration_set_reads_what_the_worker_reads_and_edits_what_it_writes():
    fields, objects, users = _permissions(_files(), "Stripe_Sync_Integration")
    assert users == {"ApiEnabled", "ViewEncryptedData"}
    assert objects["Payment__c"] == {
        "allowRead": "true",
        "allowCreate": "true",
        "allowEdit": "true",
        "allowDelete": "false",
    }
    assert objects["Contact"]["allowEdit"] == "false"
    for section, model in (("payment", PaymentFields), ("setup", SetupFields), ("project", ProjectFields)):
        part = getattr(DEFAULT, section)
        for logical, spec in field_specs(model).items():
            name = getattr(part.fields, logical)
            if name in (None, "Name") or "." in name:
                continue
            assert fields[f"{part.object}.{name}"] == ("true", "true" if spec.access == "write" else "false"), name
    assert "Refund__c.Payment__c" not in fields  # a Master-Detail field takes no field permission
    assert fields["Project__c.Customer__c"] == ("true", "false") and fields["Contact.Email"] == ("true", "false")


def test_staff_never_edit_worker_fields_nor_see_the_key_nor_view_encrypted_data():
    fields, objects, users = _permissions(_files(), "Stripe_Payments_Staff")
    assert "ViewEncryptedData" not in users
    assert "Stripe_Setup__c.Secret_Key__c" not in fields
    assert objects["Refund__c"] == {
        "allowRead": "true",
        "allowCreate": "true",
        "allowEdit": "false",
        "allowDelete": "false",
    }
    for section, model in (("payment", PaymentFields), ("refund", RefundFields), ("project", ProjectFields)):
        part = getattr(DEFAULT, section)
        for logical in worker_owned_fields(model):
            assert fields[f"{part.object}.{getattr(part.fields, logical)}"] == ("true", "false"), logical
    assert fields["Payment__c.Resend__c"] == fields["Refund__c.Amount__c"] == ("true", "true")
    assert fields["Project__c.Requested_Amount__c"] == ("true", "true")


def test_report_type_joins_refunds_and_the_reports_use_it_in_a_folder_staff_can_read():
    files = _files()
    rt = _xml(files, "reportTypes/Payments_with_Refunds.reportType-meta.xml")
    assert _text(rt, "baseObject") == "Payment__c"
    assert [_text(rt.find("m:join", NS), t) for t in ("relationship", "outerJoin")] == ["Refunds__r", "true"]
    names = {p.rsplit("/", 1)[-1] for p in files if p.endswith(".report-meta.xml")}
    assert names == {
        "Outstanding_Payment_Requests.report-meta.xml", "Paid_This_Month.report-meta.xml",
        "Refunds_and_Disputes.report-meta.xml",
    }  # fmt: skip
    for name in names:
        assert _text(_xml(files, f"reports/Stripe_Payments/{name}"), "reportType") == "Payments_with_Refunds__c"
    share = _xml(files, "reports/Stripe_Payments.reportFolder-meta.xml").find("m:folderShares", NS)
    assert [_text(share, t) for t in ("sharedTo", "sharedToType", "accessLevel")] == [
        "Stripe_Payments_Staff",
        "Group",
        "View",
    ]


def test_labels_and_help_fit_salesforce_limits():
    for section in FIELD_TEXT.values():
        for label, help_text in section.values():
            assert len(label) <= 40 and len(help_text) <= 510


def _bad(**changes) -> object:
    data = DEFAULT.model_dump()
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = data
        for p in parents:
            node = node[p]
        node[last] = value
    return type(DEFAULT).model_validate(data)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"payment.fields.sync_log": "A" * 41 + "__c"}, "41 characters"),
        ({"payment.fields.sync_log": "Sync__Log__c"}, "two underscores"),
        ({"payment.fields.sync_log": "Select__c"}, "reserved"),
        ({"payment.fields.sync_log": "Sync_Error__c"}, "two fields need two names"),
        ({"namespace": "bp_m"}, "namespace"),
        ({"namespace": "abcdefghijklmnop"}, "namespace"),
        ({"payment.object": "Payment"}, "must end in __c"),
        ({"payment.status.paid": "Requested"}, "its own word"),
    ],
)
def test_names_salesforce_would_refuse_are_refused_one_line_each(changes, says):
    with pytest.raises(MappingRefused) as refused:
        build_package(mapping=_bad(**changes))
    assert any(says in line for line in refused.value.problems), refused.value.problems


def test_the_cli_refuses_a_bad_mapping_before_writing_anything(tmp_path):
    text = (ROOT / "mappings/default.toml").read_text().replace('sync_log = "Sync_Log__c"', 'sync_log = "Sync__Log__c"')
    text = text.replace('type = "Type__c"', 'type = "Description__c"')
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    out = tmp_path / "pkg"
    run = subprocess.run(
        [sys.executable, "-m", "sync", "metadata", "--out", str(out), "--mapping", str(bad)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if line.startswith("  ")]
    assert len(lines) == 2 and "Sync__Log__c" in lines[0] + lines[1] and "Description__c" in lines[0] + lines[1]
    assert not out.exists()


def test_an_existing_folder_is_replaced_whole_or_left_as_it_was(tmp_path, monkeypatch):
    out = tmp_path / "pkg"
    out.mkdir()
    (out / "stale.txt").write_text("from before")
    files = _files()
    write_files(files=files, out=out)
    assert not (out / "stale.txt").exists() and (out / "sfdx-project.json").exists()

    (out / "keep.txt").write_text("still here")
    broken = dict(files)
    broken["force-app/main/default/tabs"] = "a file where a folder must be"  # writing fails part way
    with pytest.raises(OSError):
        write_files(files={**broken, "force-app/main/default/tabs/x.tab-meta.xml": "x"}, out=out)
    assert (out / "keep.txt").read_text() == "still here"
    assert [p.name for p in tmp_path.iterdir()] == ["pkg"]  # no staging folder left behind
