"""`sync metadata`: write the Salesforce package for the mapping in use, or say why not."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sync.config.mapping import read_mapping
from sync.config.settings import project_file
from sync.domain.errors import ConfigError
from sync.package import MappingRefused, build_package, package_files, write_files

EXIT_OK = 0
EXIT_CONFIG = 2


def run_metadata(*, out: Path, mapping_file: Path | None) -> int:
    """Write the DX project to `out`; exit 2 with one line per problem when the mapping is refused."""
    path = mapping_file or Path(os.environ.get("CRM_MAPPING_FILE") or project_file("mappings/default.toml"))
    try:
        package = build_package(mapping=read_mapping(path))
    except MappingRefused as exc:
        print(f"crm-stripe-sync: {path}: Salesforce would refuse these names; nothing was written:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except ConfigError as exc:
        print(f"crm-stripe-sync: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    files = package_files(package)
    write_files(files=files, out=out)
    print(f"Wrote the Salesforce package for {path} to {out} ({len(files)} files).")
    print(f"Deploy it: cd {out} && sf project deploy start --target-org <alias>")
    return EXIT_OK
