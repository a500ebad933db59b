"""The buttons staff click: Request Payment on a Project; Issue Refund, Resend Payment Link and
Cancel Payment Request on a Payment. Each ticks what the worker already acts on.

QuickAction (developer.salesforce.com/docs/platform/api-metadata/references/meta-types/metadata-quickaction.html):
`type` Update edits the record it is clicked on, Create makes a child (`targetObject`, with
`targetParentField` set to the record); `fieldOverrides` set fields the form does not show, by
`formula` or, for a picklist, `literalValue`; `quickActionLayout` lists the fields shown. Files are
`quickActions/<Object>.<Name>.quickAction-meta.xml`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.config.mapping import Mapping

from .xml import Element, document


@dataclass(frozen=True)
class Override:
    field: str
    formula: str | None = None
    literal: str | None = None


@dataclass(frozen=True)
class ActionDef:
    """One quick action: where it sits, what it shows and what it sets."""

    object: str  # the object it is clicked on
    name: str
    label: str
    type: str  # Update or Create
    shown: tuple[tuple[str, str], ...]  # (field, uiBehavior: Edit, Required or Readonly)
    overrides: tuple[Override, ...]
    target_object: str | None = None
    target_parent_field: str | None = None
    success: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.object}.{self.name}"


def package_actions(mapping: Mapping) -> list[ActionDef]:
    """The four quick actions for `mapping`."""
    pf, pay, ref = mapping.project.fields, mapping.payment.fields, mapping.refund.fields
    return [
        ActionDef(
            mapping.project.object, "Request_Payment", "Request Payment", "Update",
            shown=((pf.request_type, "Required"), (pf.requested_amount, "Required"), (pf.request_description, "Edit")),
            overrides=(Override(pf.request_payment, formula="TRUE"), Override(pf.requested_at, formula="NOW()")),
            success="Payment requested: the link is emailed within a minute.",
        ),
        ActionDef(
            mapping.payment.object, "Issue_Refund", "Issue Refund", "Create",
            shown=((ref.amount, "Edit"), (ref.reason, "Edit")),
            overrides=(
                Override(ref.status, literal=mapping.refund.status.requested),
                Override(ref.source, literal=mapping.refund.source.crm),
            ),
            target_object=mapping.refund.object, target_parent_field=ref.payment,
            success="Refund requested: leave Amount blank to refund everything still refundable.",
        ),
        ActionDef(
            mapping.payment.object, "Resend_Payment_Link", "Resend Payment Link", "Update",
            shown=((pay.customer_email, "Edit"), (pay.link_url, "Readonly")),
            overrides=(Override(pay.resend, formula="TRUE"),),
            success="The link is emailed again within a minute.",
        ),
        ActionDef(
            mapping.payment.object, "Cancel_Payment_Request", "Cancel Payment Request", "Update",
            shown=((pay.status, "Readonly"), (pay.amount, "Readonly"), (pay.description, "Readonly")),
            overrides=(Override(pay.cancel_requested, formula="TRUE"),),
            success="The request is withdrawn: its link stops working within a minute.",
        ),
    ]  # fmt: skip


def action_path(a: ActionDef) -> str:
    return f"quickActions/{a.full_name}.quickAction-meta.xml"


def action_xml(a: ActionDef) -> str:
    """The QuickAction file of `a`."""
    items: list[Element] = [{"emptySpace": False, "field": f, "uiBehavior": b} for f, b in a.shown]
    overrides: list[Element] = []
    for o in a.overrides:
        override: Element = {"field": o.field}
        override |= {"formula": o.formula} if o.formula is not None else {"literalValue": o.literal or ""}
        overrides.append(override)
    body: Element = {
        "label": a.label,
        "type": a.type,
        "optionsCreateFeedItem": False,
        "successMessage": a.success,
        "fieldOverrides": list(overrides),
        "quickActionLayout": {
            "layoutSectionStyle": "TwoColumnsLeftToRight",
            "quickActionLayoutColumns": [{"quickActionLayoutItems": list(items)}, {}],
        },
    }
    if a.target_object:
        body |= {"targetObject": a.target_object, "targetParentField": a.target_parent_field or ""}
    return document("QuickAction", body)
