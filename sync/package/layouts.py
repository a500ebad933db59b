"""Page layouts: a Project with its Payments and the Request Payment button; a Payment with its
Refunds, its receipt and failure fields and its three buttons; a Refund; the Stripe Setup.

Layout (developer.salesforce.com/docs/platform/api-metadata/references/meta-types/metadata-layout.html):
the file is `layouts/<Object>-<Layout Name>.layout-meta.xml`; a related list of a custom child is
named `<ChildObject>.<LookupField>`, as a retrieved layout names it (e.g. `Payment__c.Account__c`);
its columns are field API names, `NAME` for the Name; `platformActionList` puts quick actions on
the record page.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from sync.config.mapping import Mapping, PaymentFields, field_specs

from .access import SETUP_READ_ONLY, staff_edits
from .actions import ActionDef
from .xml import Element, document


@dataclass(frozen=True)
class RelatedList:
    name: str  # <ChildObject>.<LookupField>
    columns: tuple[str, ...]


@dataclass(frozen=True)
class LayoutDef:
    object: str
    name: str
    sections: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # (label, ((field, behavior), ...))
    related: tuple[RelatedList, ...]
    actions: tuple[str, ...]  # quick action full names

    @property
    def full_name(self) -> str:
        return f"{self.object}-{self.name}"


def _lookup_field(path: str) -> str:
    relationship = path.split(".")[0]
    return relationship[:-3] + "__c" if relationship.endswith("__r") else relationship + "Id"


_PAYMENT_SECTIONS = (
    ("Request", ("project", "type", "amount", "currency", "description", "status", "customer_email")),
    ("Payment", ("link_url", "amount_paid", "paid_at", "receipt_url", "amount_refunded", "amount_disputed",
                 "dispute_status", "dispute_reason")),
    ("Last Failure", ("last_failure_code", "last_failure", "sync_error")),
    ("Sending", ("resend", "cancel_requested", "no_reminders", "times_sent", "reminders_sent", "last_sent_at",
                 "next_reminder_at")),
)  # fmt: skip
_PROJECT_REQUEST = ("request_type", "requested_amount", "request_description", "request_payment", "requested_at",
                    "request_error")  # fmt: skip
_REFUND_ROWS = ("amount", "reason", "status", "source", "stripe_refund_id", "failure_reason")

Rows = tuple[tuple[str, str], ...]


def _rows(section: str, names: BaseModel, logicals: tuple[str, ...]) -> Rows:
    """(field, behaviour) for each mapped field: Edit where staff edit it, else Readonly."""
    return tuple(
        (getattr(names, lg), "Edit" if staff_edits(section, lg) else "Readonly")
        for lg in logicals
        if getattr(names, lg) is not None
    )


def package_layouts(mapping: Mapping, actions: list[ActionDef]) -> list[LayoutDef]:
    """The four layouts for `mapping`."""
    by_object: dict[str, tuple[str, ...]] = {}
    for a in actions:
        by_object[a.object] = (*by_object.get(a.object, ()), a.full_name)
    pf, pay, ref, st = mapping.project.fields, mapping.payment.fields, mapping.refund.fields, mapping.setup.fields
    email = _lookup_field(pf.customer_email) if "." in pf.customer_email else pf.customer_email
    own = [name for name in (email, pf.contract_amount, pf.currency, pf.stage) if name]
    project_own: Rows = (("Name", "Required"), *((name, "Edit") for name in own))
    payments = RelatedList(
        f"{mapping.payment.object}.{pay.project}",
        ("NAME", pay.type, pay.amount, pay.status, pay.amount_paid, pay.amount_refunded, pay.link_url, pay.receipt_url),
    )
    refund_columns = ("NAME", ref.amount, ref.status, ref.source, ref.reason, ref.failure_reason)
    refunds = RelatedList(f"{mapping.refund.object}.{ref.payment}", refund_columns)
    shown = {lg for _, logicals in _PAYMENT_SECTIONS for lg in logicals}
    stripe_rows = tuple(lg for lg, s in field_specs(PaymentFields).items() if s.worker_owned and lg not in shown)
    payment_sections = [(label, _rows("payment", pay, logicals)) for label, logicals in _PAYMENT_SECTIONS]
    payment_sections[0] = ("Request", (("Name", "Readonly"), *payment_sections[0][1]))
    payment_sections.append(("Stripe", _rows("payment", pay, stripe_rows)))
    setup_rows: Rows = tuple(
        (name, "Readonly" if lg in SETUP_READ_ONLY else "Edit") for lg, name in st.model_dump().items() if name
    )
    refund_rows: Rows = (("Name", "Readonly"), (ref.payment, "Required"), *_rows("refund", ref, _REFUND_ROWS))
    project = mapping.project.object
    return [
        LayoutDef(
            project,
            "Project Payments Layout",
            sections=(("Project", project_own), ("Payment Request", _rows("project", pf, _PROJECT_REQUEST))),
            related=(payments,),
            actions=by_object.get(project, ()),
        ),
        LayoutDef(
            mapping.payment.object,
            "Payment Layout",
            sections=tuple(payment_sections),
            related=(refunds,),
            actions=by_object.get(mapping.payment.object, ()),
        ),
        LayoutDef(mapping.refund.object, "Refund Layout", sections=(("Refund", refund_rows),), related=(), actions=()),
        LayoutDef(
            mapping.setup.object,
            "Stripe Setup Layout",
            sections=(("Stripe Setup", (("Name", "Required"), *setup_rows)),),
            related=(),
            actions=(),
        ),
    ]


def layout_path(layout: LayoutDef) -> str:
    return f"layouts/{layout.full_name}.layout-meta.xml"


def layout_xml(layout: LayoutDef) -> str:
    """The Layout file of `layout`."""
    sections: list[Element] = []
    for label, items in layout.sections:
        column: list[Element] = [{"behavior": b, "field": f} for f, b in items]
        sections.append(
            {
                "customLabel": True,
                "detailHeading": True,
                "editHeading": True,
                "label": label,
                "layoutColumns": {"layoutItems": list(column)},
                "style": "OneColumn",
            }
        )
    body: Element = {
        "layoutSections": list(sections),
        "showEmailCheckbox": False,
        "showRunAssignmentRulesCheckbox": False,
        "showSubmitAndAttachButton": False,
    }
    if layout.related:
        body["relatedLists"] = [{"fields": list(r.columns), "relatedList": r.name} for r in layout.related]
    if layout.actions:
        body["platformActionList"] = {
            "actionListContext": "Record",
            "platformActionListItems": [
                {"actionName": name, "actionType": "QuickAction", "sortOrder": i}
                for i, name in enumerate(layout.actions)
            ],
        }
    return document("Layout", body)
