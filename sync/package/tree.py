"""The whole Salesforce DX project for a mapping, as files, and writing it without half-overwriting.

A DX project is `sfdx-project.json` plus source under a package directory (`force-app`), in
`main/default/<metadata folder>/...` (sfdx-project.json reference:
developer.salesforce.com/docs/atlas.en-us.sfdx_dev.meta/sfdx_dev/sfdx_dev_ws_config.htm). With a
`namespace` there, the names in the source are written without the prefix, and a deploy to an org
with that namespace adds it. No `package.xml`: `sf project deploy start` reads the source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sync.config.mapping import Mapping
from sync.config.settings import PINNED_SALESFORCE_API_VERSION
from sync.domain.errors import ConfigError

from . import actions, fields, layouts, objects, permissions, reports, tabs
from .names import mapping_problems

SOURCE_ROOT = "force-app/main/default"


@dataclass(frozen=True)
class Package:
    """Everything the package holds for one mapping, as values (the files are made from them)."""

    mapping: Mapping
    objects: list[objects.ObjectDef]
    fields: list[fields.FieldDef]
    actions: list[actions.ActionDef]
    layouts: list[layouts.LayoutDef]
    tabs: list[str]
    permission_sets: list[permissions.PermissionSetDef]
    reports: list[reports.ReportDef]


class MappingRefused(ConfigError):
    """The mapping names something Salesforce would not deploy; `problems` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def build_package(*, mapping: Mapping, qualified: bool = False) -> Package:
    """The package for `mapping` (names as written; its namespace, if any, goes in sfdx-project.json).

    `qualified`: the mapping's prefix is already applied (`load_mapping`), as the sandbox org takes
    it; the names then carry it and the project has no namespace of its own.
    Raises MappingRefused listing every name Salesforce would refuse.
    """
    problems = mapping_problems(mapping, qualified=qualified)
    if problems:
        raise MappingRefused(problems)
    package_fields = fields.package_fields(mapping)
    package_actions = actions.package_actions(mapping)
    return Package(
        mapping=mapping,
        objects=objects.package_objects(mapping),
        fields=package_fields,
        actions=package_actions,
        layouts=layouts.package_layouts(mapping, package_actions),
        tabs=tabs.package_tabs(mapping),
        permission_sets=[
            permissions.integration_set(mapping, package_fields),
            permissions.staff_set(mapping, package_fields),
        ],
        reports=reports.package_reports(mapping),
    )


def package_files(package: Package) -> dict[str, str]:
    """Each file of the DX project by its path relative to the project folder."""
    m = package.mapping
    src: dict[str, str] = {}
    for o in package.objects:
        src[objects.object_path(o)] = objects.object_xml(o)
    for f in package.fields:
        src[fields.field_path(f)] = fields.field_xml(f)
    for a in package.actions:
        src[actions.action_path(a)] = actions.action_xml(a)
    for layout in package.layouts:
        src[layouts.layout_path(layout)] = layouts.layout_xml(layout)
    for t in package.tabs:
        src[tabs.tab_path(t)] = tabs.tab_xml(t)
    for p in package.permission_sets:
        src[permissions.permission_set_path(p)] = permissions.permission_set_xml(p)
    src[reports.report_type_path()] = reports.report_type_xml(m)
    src[reports.folder_path()] = reports.folder_xml()
    src[reports.group_path()] = reports.group_xml()
    for r in package.reports:
        src[reports.report_path(r)] = reports.report_xml(r, m)
    project = {
        "packageDirectories": [{"path": "force-app", "default": True}],
        "name": "crm-stripe-sync",
        "namespace": m.namespace,
        "sourceApiVersion": PINNED_SALESFORCE_API_VERSION,
    }
    files = {"sfdx-project.json": json.dumps(project, indent=2) + "\n"}
    files.update({f"{SOURCE_ROOT}/{path}": text for path, text in sorted(src.items())})
    return files


def write_files(*, files: dict[str, str], out: Path) -> None:
    """Write `files` as the folder `out`, replacing what was there only once all are written.

    They go to a new folder beside `out` first, which then takes its place: a failure leaves `out`
    as it was, and a reader never sees half of one tree and half of another.
    """
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for path, text in files.items():
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(staging, out)
            shutil.rmtree(old)
        else:
            os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
