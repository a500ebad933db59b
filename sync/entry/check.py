"""`sync check`: tell an admin, in plain words, what the org is missing for the worker."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.adapters.salesforce.gateway import SalesforceCrm
from sync.config.mapping import (
    FieldSpec,
    Mapping,
    PaymentFields,
    ProjectFields,
    RefundFields,
    SetupFields,
    field_specs,
    load_mapping,
)
from sync.config.settings import Settings
from sync.domain import messages
from sync.domain.errors import PermanentError, RetryableError, StripeKeyRejected
from sync.domain.stripe_setup import judge_descriptor, judge_setups
from sync.entry.bootstrap import stripe_factory
from sync.package import MappingRefused, build_package
from sync.package.fields import FieldDef
from sync.runtime.retry import Retry, call_with_retries, no_retry

# Describe types that can hold what a FieldSpec kind needs.
_COMPATIBLE = {
    "string": {"string", "textarea", "picklist", "email", "url", "phone", "encryptedstring"},
    "textarea": {"textarea", "string"},
    "email": {"email", "string"},
    "url": {"url", "string"},
    "currency": {"currency", "double"},
    "double": {"double", "int", "currency", "percent"},
    "boolean": {"boolean"},
    "picklist": {"picklist", "string"},
    "datetime": {"datetime"},
    "reference": {"reference"},
    "encryptedstring": {"encryptedstring", "string"},
}


@dataclass
class Findings:
    problems: list[str]
    notes: list[str]
    # The objects ("Project", "Stripe Setup", ...) with a problem of their own: reading them would fail.
    broken: set[str] = field(default_factory=set)
    # Org settings a feature relies on that are off: the worker runs, without that feature.
    warnings: list[str] = field(default_factory=list)
    # Org settings without which customers get no email: the worker still runs (outcomes, refunds)
    # and says so on each Payment they hold up; `check` counts them as problems.
    blockers: list[str] = field(default_factory=list)


def check_org(*, crm: SalesforceCrm, mapping: Mapping, retry: Retry = no_retry, staff_notices: bool = True) -> Findings:
    """Describe every mapped object and report what is missing or not accessible.

    `retry` runs each describe call: a passing fault on one of them retries that call alone, not
    the whole check (five calls, each of which would otherwise have to pass in the same attempt).
    """
    findings = Findings(problems=[], notes=[])
    described: dict[str, dict[str, Any] | None] = {}

    def describe(name: str) -> dict[str, Any] | None:
        if name not in described:
            described[name] = retry(lambda: crm.describe(name))
        return described[name]

    sections = (
        ("Project", mapping.project.object, mapping.project.fields, ProjectFields, False),
        ("Payment", mapping.payment.object, mapping.payment.fields, PaymentFields, True),
        ("Refund", mapping.refund.object, mapping.refund.fields, RefundFields, True),
        ("Stripe Setup", mapping.setup.object, mapping.setup.fields, SetupFields, False),
    )
    for label, obj, names, model, creates in sections:
        before = len(findings.problems)
        _check_section(findings, label, obj, names, model, creates, describe)
        if len(findings.problems) > before:
            findings.broken.add(label)
    payment_info = describe(mapping.payment.object)
    refund_info = describe(mapping.refund.object)
    if refund_info is not None:
        refund_picklists = (
            (mapping.refund.fields.status, mapping.refund.status.model_dump().values()),
            (mapping.refund.fields.source, mapping.refund.source.model_dump().values()),
        )
        findings.problems.extend(_picklist_problems("Refund", refund_info, refund_picklists))
    if payment_info is not None:
        payment_picklists = (
            (mapping.payment.fields.status, mapping.payment.status.model_dump().values()),
            (mapping.payment.fields.type, mapping.payment.type.model_dump().values()),
        )
        findings.problems.extend(_picklist_problems("Payment", payment_info, payment_picklists))
        project_info = describe(mapping.project.object)
        rels = {r.get("relationshipName") for r in (project_info or {}).get("childRelationships", [])}
        if project_info is not None and mapping.payment.child_relationship not in rels:
            findings.problems.append(
                f"The Project object has no child relationship {mapping.payment.child_relationship} "
                f"for its Payments (set payment.child_relationship in the mapping)."
            )
        refund_rels = {r.get("relationshipName") for r in payment_info.get("childRelationships", [])}
        if refund_info is not None and mapping.refund.child_relationship not in refund_rels:
            findings.problems.append(
                f"The Payment object has no child relationship {mapping.refund.child_relationship} "
                f"for its Refunds (set refund.child_relationship in the mapping)."
            )
    findings.problems.extend(package_field_problems(mapping=mapping, describe=describe))
    project_info = describe(mapping.project.object)
    if staff_notices and project_info is not None and not project_info.get("feedEnabled", False):
        findings.warnings.append(messages.PROJECT_FEED_OFF.format(object=mapping.project.object))
    _check_email_settings(findings, crm, mapping, payment_info, describe, retry)
    setup_info = describe(mapping.setup.object)
    if setup_info is not None:
        setup_picklists = (
            (mapping.setup.fields.mode, mapping.setup.mode.model_dump().values()),
            (mapping.setup.fields.connection_status, mapping.setup.connection_status.model_dump().values()),
        )
        setup_problems = _picklist_problems("Stripe Setup", setup_info, setup_picklists)
        findings.problems.extend(setup_problems)
        if setup_problems:
            findings.broken.add("Stripe Setup")
    return findings


# What fixes a field the package would have made otherwise: deploy the package again (it updates
# the fields in place) and give the worker's user its permission set.
DEPLOY_FIX = (
    "python -m sync metadata --out salesforce-package && cd salesforce-package && "
    "sf project deploy start --target-org <org>"
)


def package_field_problems(*, mapping: Mapping, describe: Any) -> list[str]:
    """What the org's fields lack of the package's: size, decimals, uniqueness, picklist values.

    A missing field, or one of a type the worker cannot use, is reported by the section checks;
    this names what a field of the right type still lacks, each with the command that fixes it.
    `mapping` has its namespace applied, as the worker loads it.
    """
    try:
        package = build_package(mapping=mapping, qualified=True)
    except MappingRefused as exc:
        return [f"The mapping names what Salesforce would refuse, so no package can be made for it: {exc}"]
    labels = {"project": "Project", "payment": "Payment", "refund": "Refund", "setup": "Stripe Setup"}
    problems = []
    for f in package.fields:
        info = describe(f.object)
        if info is None:
            continue
        field = next((x for x in info["fields"] if x["name"].lower() == f.name.lower()), None)
        if field is None:
            continue
        lacks = _lacks(f, field)
        if lacks:
            where = f"{labels[f.section]} field {f.object}.{f.name}"
            problems.append(f"{where} {'; '.join(lacks)}. Fix: deploy the package ({DEPLOY_FIX}).")
    return problems


def _lacks(f: FieldDef, field: dict[str, Any]) -> list[str]:
    lacks = []
    if f.type in ("Text", "TextArea", "LongTextArea", "EncryptedText") and f.length:
        if field.get("type") in ("string", "textarea", "encryptedstring") and (field.get("length") or 0) < f.length:
            lacks.append(f"holds {field.get('length')} characters; the package makes it {f.length}")
    if f.type == "Currency" and f.scale is not None and (field.get("scale") or 0) < f.scale:
        lacks.append(f"has {field.get('scale')} decimal places; the package makes it {f.scale}")
    if f.unique_external_id and not (field.get("unique") and field.get("externalId")):
        lacks.append("is not External ID and Unique, which keeps a second record from being made for one request")
    # The Payment, Refund and Setup picklists are checked with their sections (`_picklist_problems`).
    if f.type == "Picklist" and f.section == "project" and field.get("type") == "picklist":
        values = {v["value"] for v in field.get("picklistValues", []) if v.get("active", True)}
        missing = [v for v in f.picklist if v not in values]
        if missing:
            lacks.append(f"lacks the picklist values {', '.join(missing)}")
    return lacks


def _check_section(
    findings: Findings, label: str, obj: str, names: Any, model: Any, creates: bool, describe: Any
) -> None:
    info = describe(obj)
    if info is None:
        findings.problems.append(f"The {label} object {obj} is missing, or the worker's user cannot see it.")
        return
    if creates and not info.get("createable", False):
        findings.problems.append(f"The worker's user cannot create {label} records ({obj}).")
    for logical, spec in field_specs(model).items():
        api_name = getattr(names, logical)
        if api_name is None:  # an optional field the mapping leaves out (its feature is off)
            continue
        problem = _field_problem(label, obj, api_name, spec, info, describe, creates)
        if problem:
            findings.problems.append(problem)


def _check_email_settings(
    findings: Findings,
    crm: SalesforceCrm,
    mapping: Mapping,
    payment_info: dict[str, Any] | None,
    describe: Any,
    retry: Retry,
) -> None:
    """What the link emails rely on: activities on the Payment (emails are logged there), the email
    log readable, a verified sender, and the day's email limit."""
    if payment_info is not None:
        # An object that allows activities has EmailMessage.RelatedToId among its child relationships.
        logged_here = any(
            r.get("childSObject") == "EmailMessage" and r.get("field") == "RelatedToId"
            for r in payment_info.get("childRelationships", [])
        )
        if not logged_here:
            findings.blockers.append(messages.PAYMENT_ACTIVITIES_OFF.format(object=mapping.payment.object))
    if describe("EmailMessage") is None:
        findings.blockers.append(messages.EMAIL_LOG_HIDDEN)
    verified = retry(crm.sender_verified)
    if verified is False:
        findings.blockers.append(messages.SENDER_NOT_VERIFIED)
    elif verified is None:
        findings.warnings.append(messages.SENDER_UNKNOWN)
    else:
        findings.notes.append("The worker's user has a verified email address.")
    limit = retry(crm.single_emails_left)
    if limit is not None:
        left, most = limit
        findings.notes.append(f"{left} of the org's {most} single emails a day are left today.")
        if left == 0:
            findings.blockers.append(messages.EMAIL_LIMIT_LOW.format(left=left, most=most))
        elif left < most / 10:
            findings.warnings.append(messages.EMAIL_LIMIT_LOW.format(left=left, most=most))


def startup_error(problems: list[str], *, mapping_file: Path) -> str:
    """The one message the worker stops with when the org lacks what the mapping names."""
    shown = " ".join(problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return (
        f"the org does not match the mapping in CRM_MAPPING_FILE ({mapping_file}): {shown}{more} "
        "Correct the mapping file or the org; `python -m sync check` lists every problem."
    )


_FLS_FIX = ": give the user Edit access to it (field-level security, in its permission set)."


def _field_problem(
    label: str, obj: str, api_name: str, spec: FieldSpec, info: dict[str, Any], describe: Any, creates: bool
) -> str | None:
    parts = api_name.split(".")
    current, where = info, obj
    for relationship in parts[:-1]:
        ref = next(
            (f for f in current["fields"] if (f.get("relationshipName") or "").lower() == relationship.lower()),
            None,
        )
        if ref is None or not ref.get("referenceTo"):
            return f"{label} field {api_name}: {where} has no lookup {relationship} the worker can read."
        target = describe(ref["referenceTo"][0])
        if target is None:
            return f"{label} field {api_name}: the object {ref['referenceTo'][0]} is not visible to the worker's user."
        current, where = target, ref["referenceTo"][0]
    field = next((f for f in current["fields"] if f["name"].lower() == parts[-1].lower()), None)
    if field is None:
        return (
            f"{label} field {where}.{parts[-1]} is missing, or the worker's user cannot read it: create it, "
            "or give the user Read access to it (field-level security, in its permission set)."
        )
    if spec.kind in _COMPATIBLE and field.get("type") not in _COMPATIBLE[spec.kind]:
        return f"{label} field {where}.{field['name']} is of type {field.get('type')}; the worker needs {spec.kind}."
    if spec.access == "write" and len(parts) == 1:
        if not field.get("updateable", False):
            return f"{label} field {where}.{field['name']} is not editable by the worker's user{_FLS_FIX}"
        if creates and not field.get("createable", False):
            return f"{label} field {where}.{field['name']} cannot be set on new records by the worker's user{_FLS_FIX}"
    return None


def _picklist_problems(label: str, info: dict[str, Any], picklists: Any) -> list[str]:
    problems = []
    for field_name, words in picklists:
        field = next((f for f in info["fields"] if f["name"] == field_name), None)
        if field is None or field.get("type") != "picklist":
            continue
        values = {v["value"] for v in field.get("picklistValues", []) if v.get("active", True)}
        missing = [w for w in words if w not in values]
        if missing:
            problems.append(f"{label} picklist {field_name} lacks the values: {', '.join(missing)}.")
    return problems


def check_stripe(*, crm: SalesforceCrm, mapping: Mapping, settings: Settings) -> Findings:
    findings = Findings(problems=[], notes=[])
    setups = crm.read_active_setups()
    verdict = judge_setups(setups, live_keys_allowed=settings.stripe_base_is_stripe)
    if verdict.warning:
        findings.notes.append(verdict.warning)
    if verdict.setup is None or verdict.problem:
        findings.problems.append(f"Stripe Setup: {verdict.problem}")
        return findings
    assert verdict.setup.secret_key is not None
    try:
        account = stripe_factory(settings)(verdict.setup.secret_key).verify_key()
    except StripeKeyRejected as exc:
        reason = f"missing permission: {exc}" if exc.missing_permission else "invalid or revoked"
        findings.problems.append(f"Stripe Setup: Stripe refused the key ({reason}).")
        return findings
    except RetryableError as exc:
        findings.problems.append(f"Stripe Setup: Stripe could not be reached ({exc}).")
        return findings
    mode = verdict.setup.mode.value if verdict.setup.mode else "?"
    findings.notes.append(f"Stripe Setup: the {mode}-mode key works (Stripe account {account.id}).")
    pinned = verdict.setup.stripe_account_id
    if pinned and pinned != account.id and not verdict.setup.confirm_account_change:
        findings.problems.append(f"Stripe Setup: {messages.ACCOUNT_CHANGED.format(actual=account.id, pinned=pinned)}")
    descriptor = judge_descriptor(verdict.setup.statement_descriptor_suffix, account.descriptor_prefix)
    if descriptor.note:
        findings.notes.append(f"Stripe Setup: {descriptor.note}")
    return findings


def run_check(settings: Settings) -> int:
    mapping = load_mapping(settings.crm_mapping_file)
    crm = SalesforceCrm(settings=settings, mapping=mapping)
    try:
        crm.connect()
        org = check_org(crm=crm, mapping=mapping, retry=call_with_retries, staff_notices=settings.staff_notices)
        if "Stripe Setup" in org.broken:  # its records cannot be read until the mapping or the org is fixed
            stripe = Findings(
                problems=["Stripe Setup: not checked until its object and fields above are fixed."], notes=[]
            )
        else:
            stripe = check_stripe(crm=crm, mapping=mapping, settings=settings)
    except (RetryableError, PermanentError) as exc:
        print(f"Could not finish the check: {exc}")
        return 1
    problems = org.problems + stripe.problems
    print(f"Checked the org at {settings.salesforce_login_url} against {settings.crm_mapping_file}.")
    for note in org.notes + stripe.notes:
        print(f"  ok: {note}")
    for warning in org.warnings:
        print(f"  warning: {warning}")
    for blocker in org.blockers:
        print(f"  PROBLEM: {blocker}")
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    print(
        "All mapped objects and fields are present and accessible."
        if not org.problems
        else f"{len(org.problems)} problem(s) with objects and fields."
    )
    return 0 if not problems and not org.blockers else 1
