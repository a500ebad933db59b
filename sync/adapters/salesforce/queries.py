"""Every SOQL statement the worker sends, built from the mapping."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sync.config.mapping import Mapping

_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def is_record_id(value: str) -> bool:
    """Whether `value` is a well-formed 15- or 18-character record id.

    An id filter holding a malformed id fails the whole query (INVALID_QUERY_FILTER_OPERATOR), and ids
    here come from Stripe metadata anyone with the key can write. The 18-character form ends in a
    checksum of the letter case of the first 15: one bit per character in each 5-character chunk.
    """
    if not _ID.match(value):
        return False
    if len(value) == 15:
        return True
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, char in enumerate(value[start : start + 5]) if "A" <= char <= "Z")
        suffix += _SUFFIX_ALPHABET[bits]
    return value[15:].upper() == suffix


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
            f.events_cursor,
            f.stripe_account_id,
            f.confirm_account_change,
        ]
    )
    return f"SELECT {fields} FROM {m.setup.object} WHERE {f.active} = TRUE ORDER BY LastModifiedDate DESC LIMIT 5"


def flagged_projects(m: Mapping, *, limit: int, signing_stage: str | None = None) -> str:
    """Projects whose Request Payment box is ticked, and (with `signing_stage`) those that reached
    that stage without their deposit on signing requested yet."""
    f = m.project.fields
    p = m.payment.fields
    children = f"SELECT {p.amount}, {p.amount_paid}, {p.status}, {p.request_key} FROM {m.payment.child_relationship}"
    where = f"{f.request_payment} = TRUE"
    signing: list[str] = []
    if signing_stage and f.stage and f.signing_deposit_requested:
        where += f" OR ({f.stage} = {quote(signing_stage)} AND {f.signing_deposit_requested} = FALSE)"
        signing = [f.stage, f.signing_deposit_requested]
    fields = ", ".join(
        [
            "Id",
            "LastModifiedDate",
            f.request_payment,
            *signing,
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
    return f"SELECT {fields} FROM {m.project.object} WHERE {where} ORDER BY LastModifiedDate ASC LIMIT {limit}"


def _payment_fields(m: Mapping) -> str:
    p = m.payment.fields
    project = relationship_of(p.project)
    pf = m.project.fields
    r = m.refund.fields
    refunds = (
        f"SELECT Id, {r.amount}, {r.reason}, {r.status}, {r.source}, {r.stripe_refund_id}, {r.failure_reason} "
        f"FROM {m.refund.child_relationship} ORDER BY CreatedDate ASC"
    )
    return ", ".join(
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
            p.checkout_session_id,
            p.payment_intent_id,
            p.charge_id,
            p.amount_paid,
            p.paid_at,
            p.receipt_url,
            p.amount_refunded,
            p.last_failure_code,
            p.last_failure,
            p.dispute_id,
            p.dispute_status,
            p.dispute_reason,
            p.amount_disputed,
            p.resend,
            p.cancel_requested,
            p.no_reminders,
            p.times_sent,
            p.reminders_sent,
            p.last_sent_at,
            p.next_reminder_at,
            p.link_terms,
            p.link_deactivated_at,
            p.sync_log,
            f"({refunds})",
        ]
    )


def payments_in_status(m: Mapping, *, status: str, limit: int) -> str:
    p = m.payment.fields
    return (
        f"SELECT {_payment_fields(m)} FROM {m.payment.object} WHERE {p.status} = {quote(status)} "
        f"ORDER BY CreatedDate ASC LIMIT {limit}"
    )


def payments_needing_action(
    m: Mapping,
    *,
    awaiting: list[str],
    canceled: str,
    paid: list[str],
    reminders_due_by: str | None,
    changed_after: tuple[str, str] | None,
    limit: int,
    others_than: str | None = None,
) -> str:
    """Payments with a staff action waiting, in the order they last changed.

    - Resend or Cancel Requested ticked;
    - Canceled, or marked paid by hand (a paid status, no Paid At or Charge Id from Stripe), with a
      link not yet deactivated (see domain.staff_actions.paid_by_hand_with_live_link);
    - awaiting payment with a reminder due by `reminders_due_by` (a SOQL datetime), unless opted out;
    - awaiting payment and changed after `changed_after` (a SOQL datetime and a record id, so a
      reader pages through a second of many changes): an edited amount or description shows here;
    - paid, and changed after `changed_after` by someone other than `others_than` (the worker's own
      user: its outcome writes are not edits to look at): an Amount edited on a paid Payment.
    """
    p = m.payment.fields
    statuses = _in_list(awaiting)
    conditions = [
        f"{p.resend} = TRUE",
        f"{p.cancel_requested} = TRUE",
        f"({p.status} = {quote(canceled)} AND {p.payment_link_id} != null AND {p.link_deactivated_at} = null)",
        f"({p.status} IN ({_in_list(paid)}) AND {p.paid_at} = null AND {p.charge_id} = null "
        f"AND {p.payment_link_id} != null AND {p.link_deactivated_at} = null)",
    ]
    if reminders_due_by is not None:
        conditions.append(
            f"({p.status} IN ({statuses}) AND {p.no_reminders} = FALSE AND {p.next_reminder_at} <= {reminders_due_by})"
        )
    since = None
    if changed_after is None:
        conditions.append(f"{p.status} IN ({statuses})")
    else:
        when, after_id = changed_after
        since = (
            f"(LastModifiedDate > {when} OR (LastModifiedDate = {when} AND Id > {quote(after_id)}))"
            if after_id
            else f"LastModifiedDate >= {when}"
        )
        conditions.append(f"({p.status} IN ({statuses}) AND {since})")
    if others_than is not None and is_record_id(others_than):
        # Last changed by someone else: the worker's own writes put every such edit right, so the
        # set stays small even from the start (no window yet).
        edited = f"{p.status} IN ({_in_list(paid)}) AND LastModifiedById != {quote(others_than)}"
        conditions.append(f"({edited})" if since is None else f"({edited} AND {since})")
    return (
        f"SELECT {_payment_fields(m)} FROM {m.payment.object} WHERE {' OR '.join(conditions)} "
        f"ORDER BY LastModifiedDate ASC, Id ASC LIMIT {limit}"
    )


def payments_with_refund_requests(m: Mapping, *, requested: str, limit: int) -> str:
    """Payments with a Refund record staff asked for that has not reached Stripe yet."""
    r = m.refund.fields
    asked = (
        f"SELECT {r.payment} FROM {m.refund.object} "
        f"WHERE {r.status} = {quote(requested)} AND {r.stripe_refund_id} = null"
    )
    return (
        f"SELECT {_payment_fields(m)} FROM {m.payment.object} WHERE Id IN ({asked}) "
        f"ORDER BY CreatedDate ASC LIMIT {limit}"
    )


def payments_by_id(m: Mapping, ids: list[str]) -> str:
    return f"SELECT {_payment_fields(m)} FROM {m.payment.object} WHERE Id IN ({_in_list(ids)})"


def deleted_payments_by_id(m: Mapping, ids: list[str]) -> str:
    """For queryAll: those of `ids` in the recycle bin, with their Project and link."""
    p = m.payment.fields
    return (
        f"SELECT Id, {p.project}, {p.payment_link_id} FROM {m.payment.object} "
        f"WHERE Id IN ({_in_list(ids)}) AND IsDeleted = TRUE"
    )


def payment_ids_by_intent(m: Mapping, intent_ids: list[str]) -> str:
    p = m.payment.fields
    where = f"{p.payment_intent_id} IN ({_in_list(intent_ids)})"
    return f"SELECT Id, {p.payment_intent_id} FROM {m.payment.object} WHERE {where}"


def payments_to_reconcile(m: Mapping, *, statuses: list[str]) -> str:
    """Payments whose link may still change in Stripe, oldest first; the caller pages through them."""
    p = m.payment.fields
    return (
        f"SELECT {_payment_fields(m)} FROM {m.payment.object} "
        f"WHERE {p.status} IN ({_in_list(statuses)}) AND {p.payment_link_id} != null ORDER BY CreatedDate ASC"
    )


def payments_with_refunds_in(m: Mapping, *, refund_statuses: list[str]) -> str:
    """Ids of Payments that have a Refund still moving (pending), whatever the Payment's status."""
    r = m.refund.fields
    return f"SELECT {r.payment} FROM {m.refund.object} WHERE {r.status} IN ({_in_list(refund_statuses)})"


def emails_logged_on(ids: list[str], *, since: datetime | None = None) -> str:
    """The emails logged on these records (the EmailMessage that emailSimple's logEmailOnSend creates).

    TextBody is a long text field, which SOQL cannot filter on: the caller matches it.
    """
    where = f"RelatedToId IN ({_in_list(ids)})"
    if since is not None:  # SOQL datetime literals are unquoted
        where += f" AND CreatedDate >= {since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"
    return f"SELECT RelatedToId, ToAddress, TextBody FROM EmailMessage WHERE {where} ORDER BY CreatedDate ASC"


def email_verification_of(user_id: str) -> str:
    return f"SELECT HasUserVerifiedEmailAddress FROM TwoFactorMethodsInfo WHERE UserId = {quote(user_id)}"


def _in_list(values: list[str]) -> str:
    return ", ".join(quote(v) for v in values)
