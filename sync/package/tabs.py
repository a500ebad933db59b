"""Tabs for Payments and Stripe Setup (CustomTab:
developer.salesforce.com/docs/platform/api-metadata/references/meta-types/metadata-customtab.html;
an object's tab is `tabs/<Object>.tab-meta.xml` with `customObject` true). The motif is the
icon; "Custom41: Stack of Cash" is one a retrieved tab carries (ForceCLI/force's metadata tests).
"""

from __future__ import annotations

from sync.config.mapping import Mapping

from .xml import document

MOTIF = "Custom41: Stack of Cash"


def package_tabs(mapping: Mapping) -> list[str]:
    """The objects that get a tab."""
    return [mapping.payment.object, mapping.setup.object]


def tab_path(obj: str) -> str:
    return f"tabs/{obj}.tab-meta.xml"


def tab_xml(obj: str) -> str:
    return document("CustomTab", {"customObject": True, "motif": MOTIF})
