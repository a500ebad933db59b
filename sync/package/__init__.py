"""The CRM side as a Salesforce DX project: objects, fields, actions, layouts, tabs, permission
sets and reports for a mapping (`python -m sync metadata`). One module a metadata kind; the
sandbox org is built from the same files (`sync/sandbox/org.py`)."""

from .tree import MappingRefused, Package, build_package, package_files, write_files

__all__ = ["MappingRefused", "Package", "build_package", "package_files", "write_files"]
