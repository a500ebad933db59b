"""The CRM's object, field and picklist names, read from `mappings/*.toml`.

Every API name the worker uses comes from here, so an org with other names (or a managed
package's namespace prefix) needs a new mapping file, not new code. Each field also declares the
Salesforce type it must have and whether the worker reads or writes it; `sync check` and the
sandbox's org set-up both read those declarations. `worker_owned` marks, once, the fields that
are the worker's alone (`worker_owned_fields`): the CRM package makes them read-only for staff.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sync.domain.errors import ConfigError

Access = Literal["read", "write"]


@dataclass(frozen=True)
class FieldSpec:
    """What the worker needs of a mapped field: its Salesforce type, access and size."""

    kind: str  # a Salesforce describe type: string, currency, boolean, picklist, ...
    access: Access
    length: int | None = None
    required: bool = False  # the worker cannot run without it
    reference_to: str | None = None  # logical object name, for lookups
    unique_external_id: bool = False
    scale: int | None = None  # decimal places, for numbers
    # Written by the worker alone, from what Stripe says (or what it did): staff need not edit it,
    # and an org should make it read-only for them. The worker never relies on that (invariant 7).
    worker_owned: bool = False


def _f(kind: str, access: Access, **kw: Any) -> Any:
    return Field(json_schema_extra={"spec": FieldSpec(kind, access, **kw).__dict__})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProjectFields(_Strict):
    name: Annotated[str, _f("string", "read")] = "Name"
    customer_email: Annotated[str, _f("email", "read")]
    contract_amount: Annotated[str, _f("currency", "read")]
    currency: Annotated[str, _f("string", "read", length=3)]
    request_payment: Annotated[str, _f("boolean", "write")]
    # Four decimal places, so that an amount staff typed too precisely reaches the worker as typed
    # and is refused with a reason, instead of being silently rounded by the field.
    requested_amount: Annotated[str, _f("currency", "write", scale=4)]
    request_type: Annotated[str, _f("picklist", "write")]
    request_description: Annotated[str, _f("textarea", "write")]
    requested_at: Annotated[str, _f("datetime", "write")]
    # Deposit on signing (optional; off unless DEPOSIT_ON_STAGE is set): the Project's stage, and
    # the box the worker ticks when it has requested that deposit, so it is requested only once.
    stage: Annotated[str | None, _f("picklist", "read")] = None
    signing_deposit_requested: Annotated[str | None, _f("boolean", "write")] = None
    # Why the last request could not be taken at all (the CRM refused even an Error Payment saying
    # why): shown on the Project, cleared when a request is taken. Optional: left out, a log line only.
    request_error: Annotated[str | None, _f("textarea", "write", length=255, worker_owned=True)] = None


class PaymentFields(_Strict):
    project: Annotated[str, _f("reference", "write", reference_to="project")]
    type: Annotated[str, _f("picklist", "write")]
    amount: Annotated[str, _f("currency", "write", scale=4)]  # see requested_amount
    currency: Annotated[str, _f("string", "write", length=3)]
    description: Annotated[str, _f("string", "write", length=255)]
    status: Annotated[str, _f("picklist", "write")]
    customer_email: Annotated[str, _f("email", "write")]
    link_url: Annotated[str, _f("url", "write", length=255, worker_owned=True)]
    payment_link_id: Annotated[str, _f("string", "write", length=255, worker_owned=True)]
    link_revision: Annotated[str, _f("double", "write", worker_owned=True)]
    request_key: Annotated[str, _f("string", "write", length=255, unique_external_id=True, worker_owned=True)]
    last_sent_at: Annotated[str, _f("datetime", "write", worker_owned=True)]
    sync_error: Annotated[str, _f("textarea", "write", length=32768, worker_owned=True)]
    last_synced_at: Annotated[str, _f("datetime", "write", worker_owned=True)]
    # Outcomes read back from Stripe (the worker writes them; staff read them).
    checkout_session_id: Annotated[str, _f("string", "write", length=255, worker_owned=True)]
    payment_intent_id: Annotated[str, _f("string", "write", length=255, worker_owned=True)]
    charge_id: Annotated[str, _f("string", "write", length=255, worker_owned=True)]
    amount_paid: Annotated[str, _f("currency", "write", worker_owned=True)]
    paid_at: Annotated[str, _f("datetime", "write", worker_owned=True)]
    # A Salesforce URL field holds 255 characters at most (the package's Receipt is one).
    receipt_url: Annotated[str, _f("url", "write", length=255, worker_owned=True)]
    amount_refunded: Annotated[str, _f("currency", "write", worker_owned=True)]
    last_failure_code: Annotated[str, _f("string", "write", length=255, worker_owned=True)]
    last_failure: Annotated[str, _f("textarea", "write", length=32768, worker_owned=True)]
    dispute_id: Annotated[str, _f("string", "write", length=255, worker_owned=True)]
    dispute_status: Annotated[str, _f("string", "write", length=255, worker_owned=True)]
    dispute_reason: Annotated[str, _f("string", "write", length=255, worker_owned=True)]
    amount_disputed: Annotated[str, _f("currency", "write", worker_owned=True)]
    # Staff actions (staff set the flags; the worker clears them) and what the worker keeps of them.
    resend: Annotated[str, _f("boolean", "write")]
    cancel_requested: Annotated[str, _f("boolean", "write")]
    no_reminders: Annotated[str, _f("boolean", "read")]
    times_sent: Annotated[str, _f("double", "write", worker_owned=True)]
    reminders_sent: Annotated[str, _f("double", "write", worker_owned=True)]
    next_reminder_at: Annotated[str, _f("datetime", "write", worker_owned=True)]
    link_terms: Annotated[str, _f("string", "write", length=255, worker_owned=True)]  # what the live link charges
    link_deactivated_at: Annotated[str, _f("datetime", "write", worker_owned=True)]
    # What the worker did, newest last.
    sync_log: Annotated[str, _f("textarea", "write", length=32768, worker_owned=True)]


class RefundFields(_Strict):
    payment: Annotated[str, _f("reference", "write", reference_to="payment")]
    amount: Annotated[str, _f("currency", "write", scale=4)]  # blank: all that is still refundable
    reason: Annotated[str, _f("string", "write", length=255)]
    status: Annotated[str, _f("picklist", "write")]
    source: Annotated[str, _f("picklist", "write", worker_owned=True)]
    stripe_refund_id: Annotated[str, _f("string", "write", length=255, unique_external_id=True, worker_owned=True)]
    failure_reason: Annotated[str, _f("textarea", "write", length=32768)]


class SetupFields(_Strict):
    active: Annotated[str, _f("boolean", "read")]
    mode: Annotated[str, _f("picklist", "read")]
    secret_key: Annotated[str, _f("encryptedstring", "read", length=175)]
    default_currency: Annotated[str, _f("string", "read", length=3)]
    statement_descriptor_suffix: Annotated[str, _f("string", "read", length=22)]
    after_payment_message: Annotated[str, _f("textarea", "read", length=500)]
    connection_status: Annotated[str, _f("picklist", "write")]
    last_verified_at: Annotated[str, _f("datetime", "write")]
    last_error: Annotated[str, _f("textarea", "write", length=32768)]
    # The id of the newest Stripe event applied: a restart on a fresh host resumes from it.
    events_cursor: Annotated[str, _f("string", "write", length=255)]
    # The Stripe account the key belonged to when first verified: a key of another account stops
    # payments until an admin ticks Confirm Account Change.
    stripe_account_id: Annotated[str, _f("string", "write", length=255, worker_owned=True)]
    confirm_account_change: Annotated[str, _f("boolean", "write")]


class PaymentStatuses(_Strict):
    requested: str = "Requested"
    link_sent: str = "Link Sent"
    payment_failed: str = "Payment Failed"
    paid: str = "Paid"
    partially_refunded: str = "Partially Refunded"
    refunded: str = "Refunded"
    disputed: str = "Disputed"
    canceled: str = "Canceled"
    error: str = "Error"


class PaymentTypes(_Strict):
    deposit: str = "Deposit"
    progress: str = "Progress"
    final: str = "Final"
    custom: str = "Custom"


class RefundStatuses(_Strict):
    requested: str = "Requested"
    pending: str = "Pending"
    succeeded: str = "Succeeded"
    failed: str = "Failed"
    canceled: str = "Canceled"
    error: str = "Error"  # refused before reaching Stripe, or refused by Stripe; the reason is on the record


class RefundSources(_Strict):
    crm: str = "CRM"
    stripe_dashboard: str = "Stripe Dashboard"


class SetupModes(_Strict):
    test: str = "Test"
    live: str = "Live"


class ConnectionStatuses(_Strict):
    connected: str = "Connected"
    invalid_key: str = "Invalid Key"
    mode_mismatch: str = "Mode Mismatch"
    account_changed: str = "Account Changed"
    error: str = "Error"
    not_in_use: str = "Not In Use"  # another active Setup is the one used


class ProjectMapping(_Strict):
    object: str
    fields: ProjectFields


class PaymentMapping(_Strict):
    object: str
    # The Project's child relationship name for Payments, used in subqueries.
    child_relationship: str
    fields: PaymentFields
    status: PaymentStatuses = PaymentStatuses()
    type: PaymentTypes = PaymentTypes()


class RefundMapping(_Strict):
    object: str
    # The Payment's child relationship name for its Refunds, used in subqueries.
    child_relationship: str
    fields: RefundFields
    status: RefundStatuses = RefundStatuses()
    source: RefundSources = RefundSources()


class SetupMapping(_Strict):
    object: str
    fields: SetupFields
    mode: SetupModes = SetupModes()
    connection_status: ConnectionStatuses = ConnectionStatuses()


class Mapping(_Strict):
    """A whole mapping file, with names as written (before the namespace prefix is applied)."""

    namespace: str = ""
    project: ProjectMapping
    payment: PaymentMapping
    refund: RefundMapping
    setup: SetupMapping

    @field_validator("namespace")
    @classmethod
    def _namespace_is_an_identifier(cls, value: str) -> str:
        if value and not (value.isidentifier() and "__" not in value):
            raise ValueError("must be a namespace prefix such as 'bpm' (letters, digits, underscores)")
        return value

    def qualified(self) -> Mapping:
        """Return the mapping with the namespace prefix applied to every custom API name."""
        if not self.namespace:
            return self
        data = self.model_dump()
        for section in ("project", "payment", "refund", "setup"):
            part = data[section]
            part["object"] = qualify(part["object"], self.namespace)
            if "child_relationship" in part:
                part["child_relationship"] = qualify(part["child_relationship"], self.namespace)
            part["fields"] = {k: qualify(v, self.namespace) if v else v for k, v in part["fields"].items()}
        data["namespace"] = ""
        return Mapping.model_validate(data)


def qualify(name: str, namespace: str) -> str:
    """Prefix each custom segment of an API name or path (`Customer__r.Email`) with `namespace__`."""
    if not namespace:
        return name
    return ".".join(_qualify_segment(part, namespace) for part in name.split("."))


def _qualify_segment(segment: str, namespace: str) -> str:
    is_custom = segment.endswith(("__c", "__r"))
    already_prefixed = segment.count("__") > 1
    return f"{namespace}__{segment}" if is_custom and not already_prefixed else segment


def field_specs(model: type[BaseModel]) -> dict[str, FieldSpec]:
    """The FieldSpec of every field of a `*Fields` model, by logical name."""
    specs = {}
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        assert isinstance(extra, dict)
        specs[name] = FieldSpec(**extra["spec"])  # type: ignore[arg-type]
    return specs


def worker_owned_fields(model: type[BaseModel]) -> list[str]:
    """The logical names of a `*Fields` model's fields that are the worker's alone."""
    return [name for name, spec in field_specs(model).items() if spec.worker_owned]


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping file; raise ConfigError naming the file and what is wrong."""
    return read_mapping(path).qualified()


def read_mapping(path: Path) -> Mapping:
    """Read and validate a mapping file, names as written (the namespace not yet applied).

    Raises ConfigError naming the file and what is wrong.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"CRM_MAPPING_FILE: no mapping file at {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"CRM_MAPPING_FILE: {path} is not valid TOML: {exc}") from None
    try:
        return Mapping.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {_plain(err)}" for err in exc.errors())
        raise ConfigError(f"CRM_MAPPING_FILE: {path} is not a valid mapping: {problems}") from None


def _plain(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key (a typo?)"
    if err["type"] == "missing":
        return "missing"
    return str(err["msg"])
