"""Every SOQL statement the worker sends, built from the mapping."""

from __future__ import annotations

from sync.mapping import Mapping


def relationship_of(reference_field: str) -> str:
    """The parent relationship name of a lookup field: `Project__c` -> `Project__r`, `AccountId` -> `Account`."""
    if reference_field.endswith("__c"):
        return reference_field[:-3] + "__r"
    if reference_field.endswith("Id"):
        return reference_field[:-2]
    raise ValueError(f"{reference_field} is not a lookup field name")


def quote(value: str) -> str:
    """A SOQL string literal, escaped as the SOQL reference says (backslash and quote)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def active_setups(m: Mapping) -> str:
    f = m.setup.fields
    fields = ", ".join(
        [
            "Id",
            "LastModifiedDate",
            f.mode,
            f.secret_key,
            f.default_currency,
            f.statement_descriptor_suffix,
            f.after_payment_message,
            f.connection_status,
            f.last_error,
        ]
    )
    return f"SELECT {fields} FROM {m.setup.object} WHERE {f.active} = TRUE ORDER BY LastModifiedDate DESC LIMIT 5"


def flagged_projects(m: Mapping, *, limit: int) -> str:
    f = m.project.fields
    p = m.payment.fields
    children = f"SELECT {p.amount}, {p.status} FROM {m.payment.child_relationship}"
    fields = ", ".join(
        [
            "Id",
            "LastModifiedDate",
            f.name,
            f.customer_email,
            f.contract_amount,
            f.currency,
            f.requested_amount,
            f.request_type,
            f.request_description,
            f.requested_at,
            f"({children})",
        ]
    )
    return (
        f"SELECT {fields} FROM {m.project.object} WHERE {f.request_payment} = TRUE "
        f"ORDER BY LastModifiedDate ASC LIMIT {limit}"
    )


def payments_in_status(m: Mapping, *, status: str, limit: int) -> str:
    p = m.payment.fields
    project = relationship_of(p.project)
    pf = m.project.fields
    fields = ", ".join(
        [
            "Id",
            "LastModifiedDate",
            p.project,
            f"{project}.{pf.name}",
            f"{project}.{pf.customer_email}",
            f"{project}.{pf.currency}",
            p.type,
            p.amount,
            p.currency,
            p.description,
            p.status,
            p.customer_email,
            p.link_url,
            p.payment_link_id,
            p.link_revision,
            p.sync_error,
        ]
    )
    return (
        f"SELECT {fields} FROM {m.payment.object} WHERE {p.status} = {quote(status)} "
        f"ORDER BY CreatedDate ASC LIMIT {limit}"
    )
