"""The report type Payments with Refunds and the reports staff ask for, in a folder shared with a
public group (a folder is shared with groups or roles, not with permission sets), so whoever an
admin adds to the group Stripe Payments Staff reads them.

- ReportType (.../meta-types/metadata-reporttype.html): `baseObject`, a `join` on the child
  relationship name with `outerJoin` true (payments with or without refunds), and `sections` whose
  `table` is the object, or the dotted path `<Object>.<ChildRelationship>` for the joined one.
- Report (.../meta-types/metadata-report.html): `reportType` names a custom report type with a
  `__c` suffix; its columns are `<table>$<Field>`; `timeFrameFilter` takes a date column and an
  interval (INTERVAL_THISMONTH, INTERVAL_CUSTOM). Files: `reports/<Folder>/<Name>.report-meta.xml`
  and `reports/<Folder>.reportFolder-meta.xml`.
- Group (.../meta-types/metadata-group.html): `groups/<Name>.group-meta.xml`.
(Base: developer.salesforce.com/docs/platform/api-metadata/references/meta-types/.)
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.config.mapping import Mapping

from .xml import Element, document

REPORT_TYPE = "Payments_with_Refunds"
FOLDER = "Stripe_Payments"
GROUP = "Stripe_Payments_Staff"


@dataclass(frozen=True)
class ReportDef:
    name: str
    label: str
    format: str  # Tabular or Summary
    columns: tuple[str, ...]
    statuses: tuple[str, ...] = ()  # Payment Status values kept (none: all)
    date_column: str = ""
    interval: str = "INTERVAL_CUSTOM"
    group_by_week: str = ""  # a date column the rows are grouped by, week by week


def report_type_path() -> str:
    return f"reportTypes/{REPORT_TYPE}.reportType-meta.xml"


def report_type_xml(mapping: Mapping) -> str:
    pay, ref = mapping.payment, mapping.refund
    child = f"{pay.object}.{ref.child_relationship}"
    pay_cols = ["Name", *(v for v in pay.fields.model_dump().values() if v)]
    ref_cols = ["Name", *(v for k, v in ref.fields.model_dump().items() if v and k != "payment")]
    body: Element = {
        "label": "Payments with Refunds",
        "description": "Payments requested through Stripe, with or without their refunds.",
        "baseObject": pay.object,
        "category": "other",
        "deployed": True,
        "join": {"outerJoin": True, "relationship": ref.child_relationship},
        "sections": [
            {"masterLabel": "Payments", "columns": [_column(c, pay.object) for c in pay_cols]},
            {"masterLabel": "Refunds", "columns": [_column(c, child) for c in ref_cols]},
        ],
    }
    return document("ReportType", body)


def _column(field: str, table: str) -> Element:
    return {"checkedByDefault": False, "field": field, "table": table}


def package_reports(mapping: Mapping) -> list[ReportDef]:
    p, s = mapping.payment.fields, mapping.payment.status
    o, child = mapping.payment.object, f"{mapping.payment.object}.{mapping.refund.child_relationship}"
    r = mapping.refund.fields

    def col(field: str, table: str = o) -> str:
        return f"{table}${field}"

    return [
        ReportDef(
            "Outstanding_Payment_Requests", "Outstanding payment requests", "Summary",
            (col("Name"), col(p.status), col(p.amount), col(p.customer_email), col(p.last_sent_at), col("CreatedDate")),
            statuses=(s.requested, s.link_sent, s.payment_failed), date_column=col("CreatedDate"),
            group_by_week=col("CreatedDate"),
        ),
        ReportDef(
            "Paid_This_Month", "Paid this month", "Tabular",
            (col("Name"), col(p.amount_paid), col(p.paid_at), col(p.customer_email), col(p.receipt_url)),
            date_column=col(p.paid_at), interval="INTERVAL_THISMONTH",
        ),
        ReportDef(
            "Refunds_and_Disputes", "Refunds and disputes", "Tabular",
            (col("Name"), col(p.status), col(p.amount_paid), col(p.amount_refunded), col(p.amount_disputed),
             col(p.dispute_status), col(r.amount, child), col(r.status, child), col(r.source, child)),
            statuses=(s.partially_refunded, s.refunded, s.disputed), date_column=col("CreatedDate"),
        ),
    ]  # fmt: skip


def report_path(report: ReportDef) -> str:
    return f"reports/{FOLDER}/{report.name}.report-meta.xml"


def report_xml(report: ReportDef, mapping: Mapping) -> str:
    body: Element = {
        "name": report.label,
        "format": report.format,
        "reportType": f"{REPORT_TYPE}__c",
        "scope": "organization",
        "showDetails": True,
        "columns": [{"field": c} for c in report.columns if c != report.group_by_week],
        "timeFrameFilter": {"dateColumn": report.date_column, "interval": report.interval},
    }
    if report.statuses:
        body["filter"] = {
            "criteriaItems": {
                "column": f"{mapping.payment.object}${mapping.payment.fields.status}",
                "isUnlocked": True,
                "operator": "equals",
                "value": ",".join(report.statuses),
            }
        }
    if report.group_by_week:
        body["groupingsDown"] = {"dateGranularity": "Week", "field": report.group_by_week, "sortOrder": "Asc"}
    return document("Report", body)


def folder_path() -> str:
    return f"reports/{FOLDER}.reportFolder-meta.xml"


def folder_xml() -> str:
    share: Element = {"accessLevel": "View", "sharedTo": GROUP, "sharedToType": "Group"}
    return document("ReportFolder", {"name": "Stripe Payments", "folderShares": share})


def group_path() -> str:
    return f"groups/{GROUP}.group-meta.xml"


def group_xml() -> str:
    return document("Group", {"name": "Stripe Payments Staff", "doesIncludeBosses": False})
