"""Salesforce's own CLI reads the generated package: `sf project convert source`, offline.

The CLI is `@salesforce/cli` from npm, on Node >= 22. `.ci/run` installs both and sets
SF_CLI_BIN to the folder holding `sf` and `node`; without it, `sf` must be on PATH. In CI
(CI=true), or with SF_CLI_BIN set, a missing CLI fails the test; elsewhere it is skipped with the
command to install it.

What conversion proves: every file is one the CLI knows as the metadata type we mean (it infers
the type from folder and suffix and refuses what it cannot place), fields and other children sit
under their object, and the tree converts to the Metadata API format a deploy sends. It does not
check XML well-formedness of files it copies whole (tried: a broken tab converts), nor anything an
org would check; `tests/unit/test_package.py` parses every file and asserts its content.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sync.config.mapping import read_mapping
from sync.package import build_package, package_files, write_files

ROOT = Path(__file__).resolve().parents[2]
NS = {"m": "http://soap.sforce.com/2006/04/metadata"}
INSTALL = "npm install --prefix /opt/sfcli node@22 @salesforce/cli && export SF_CLI_BIN=/opt/sfcli/node_modules/.bin"


def _cli_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    folder = os.environ.get("SF_CLI_BIN")
    if folder:
        env["PATH"] = f"{folder}{os.pathsep}{env.get('PATH', '')}"
    if shutil.which("sf", path=env["PATH"]) is None:
        message = f"the Salesforce CLI (sf) is not installed; install it with: {INSTALL}"
        if os.environ.get("CI", "").lower() == "true" or folder:
            pytest.fail(message)
        pytest.skip(message)
    # Offline and quiet: no telemetry, no update check, its config in a folder of the test's own.
    env |= {"SF_DISABLE_TELEMETRY": "true", "SF_AUTOUPDATE_DISABLE": "true", "SF_HIDE_RELEASE_NOTES": "true"}
    env |= {"HOME": str(tmp_path / "home"), "SF_USE_GENERIC_UNIX_KEYCHAIN": "true"}
    return env


def _convert(project: Path, out: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sf", "project", "convert", "source", "--output-dir", str(out), "--json"],
        cwd=project, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def _members(package_xml: Path) -> dict[str, set[str]]:
    root = ET.parse(package_xml).getroot()
    return {
        t.findtext("m:name", namespaces=NS) or "": {m.text or "" for m in t.findall("m:members", NS)}
        for t in root.findall("m:types", NS)
    }


@pytest.mark.parametrize("mapping_file", ["default.toml", "namespaced-example.toml"])
def test_the_cli_converts_the_package_to_metadata_api_format(tmp_path, mapping_file):
    env = _cli_env(tmp_path)
    mapping = read_mapping(ROOT / "mappings" / mapping_file)
    files = package_files(build_package(mapping=mapping))
    project = tmp_path / "package"
    write_files(files=files, out=project)

    run = _convert(project, tmp_path / "mdapi", env)

    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout[run.stdout.index("{") :])["status"] == 0
    members = _members(tmp_path / "mdapi" / "package.xml")
    pay, ref, setup = mapping.payment.object, mapping.refund.object, mapping.setup.object
    assert members["CustomObject"] == {pay, ref, setup}  # never the org's own Project object
    expected_fields = {
        f"{part.object}.{name}"
        for section in ("payment", "refund", "setup")
        for part in [getattr(mapping, section)]
        for name in part.fields.model_dump().values()
        if name
    }
    assert expected_fields <= members["CustomField"]
    assert f"{mapping.project.object}.{mapping.project.fields.request_payment}" in members["CustomField"]
    assert members["QuickAction"] == {
        f"{mapping.project.object}.Request_Payment", f"{pay}.Issue_Refund", f"{pay}.Resend_Payment_Link",
        f"{pay}.Cancel_Payment_Request",
    }  # fmt: skip
    assert len(members["Layout"]) == 4 and members["CustomTab"] == {pay, setup}
    assert members["PermissionSet"] == {"Stripe_Sync_Integration", "Stripe_Payments_Staff"}
    assert members["ReportType"] == {"Payments_with_Refunds"}
    assert members["Report"] == {
        "Stripe_Payments/", "Stripe_Payments/Outstanding_Payment_Requests", "Stripe_Payments/Paid_This_Month",
        "Stripe_Payments/Refunds_and_Disputes",
    }  # fmt: skip
    assert members["Group"] == {"Stripe_Payments_Staff"}


def test_the_cli_refuses_a_file_it_cannot_place(tmp_path):
    """The conversion above would catch a file of no known metadata type (so the test has teeth)."""
    env = _cli_env(tmp_path)
    files = package_files(build_package(mapping=read_mapping(ROOT / "mappings/default.toml")))
    files["force-app/main/default/tabs/Payment__c.tabs-meta.xml"] = files.pop(
        "force-app/main/default/tabs/Payment__c.tab-meta.xml"
    )
    project = tmp_path / "package"
    write_files(files=files, out=project)

    run = _convert(project, tmp_path / "mdapi", env)

    assert run.returncode != 0
    assert "Payment__c.tabs-meta.xml" in run.stdout + run.stderr
