"""The sandbox org's objects, made from a mapping file the way an admin would create them.

This is the README's "what the admin creates in the CRM", as data: the Project, Payment, Refund and
Stripe Setup objects with every mapped field at the type the worker needs, a Contact for the
customer's email when the mapping reads it through a lookup, FeedItem for Chatter posts, EmailMessage
for the emails logged on a Payment, and TwoFactorMethodsInfo for the users' email verification.
"""

from __future__ import annotations

from sync.config.mapping import (
    FieldSpec,
    Mapping,
    PaymentFields,
    ProjectFields,
    RefundFields,
    SetupFields,
    field_specs,
)
from sync.sandbox.salesforce.schema import FieldSchema, OrgSchema, SObjectSchema

CONTACT = SObjectSchema(
    name="Contact",
    label="Contact",
    key_prefix="003",
    fields=(
        FieldSchema("FirstName", "string", "First Name", length=40),
        FieldSchema("LastName", "string", "Last Name", length=80, required=True),
        FieldSchema("Email", "email", "Email", length=80),
        FieldSchema("Phone", "phone", "Phone", length=40),
    ),
)


# The sandbox's Project stages (an org has its own; DEPOSIT_ON_STAGE names one of them).
PROJECT_STAGES = ("Estimate", "Proposal Sent", "Signed", "In Progress", "Complete")


# Chatter posts to staff. Real FeedItem.ParentId is polymorphic; the worker only posts on Projects.
def _feed_item(project_object: str) -> SObjectSchema:
    return SObjectSchema(
        name="FeedItem",
        label="Feed Item",
        key_prefix="0D5",
        fields=(
            FieldSchema("ParentId", "reference", "Parent ID", reference_to=project_object, relationship_name="Parent",
                        required=True, updateable=False),
            FieldSchema("Body", "textarea", "Body", length=10000),
            FieldSchema("Type", "picklist", "Feed Item Type", picklist_values=("TextPost",), default="TextPost"),
            # FeedItem has no Name; the emulator adds one to every object, so it is made optional here.
            FieldSchema("Name", "string", "Title", length=255, createable=False, updateable=False),
        ),
    )  # fmt: skip


# The email an emailSimple call logs on its related record (`logEmailOnSend`), with Enhanced Email on
# (the default in orgs since Summer '19). Real RelatedToId is polymorphic over the objects that allow
# activities; the worker only logs on Payments, so it refers to the Payment object here.
def _email_message(payment_object: str) -> SObjectSchema:
    return SObjectSchema(
        name="EmailMessage",
        label="Email Message",
        key_prefix="02s",
        fields=(
            FieldSchema("RelatedToId", "reference", "Related To ID", reference_to=payment_object,
                        relationship_name="RelatedTo", child_relationship_name="Emails"),
            FieldSchema("Subject", "string", "Subject", length=3000),
            FieldSchema("TextBody", "textarea", "Text Body", length=131072),
            FieldSchema("ToAddress", "string", "To Address", length=4000),
            FieldSchema("FromAddress", "email", "From Address", length=80),
            FieldSchema("Status", "picklist", "Status", picklist_values=("0", "1", "2", "3", "4", "5"), default="3"),
            FieldSchema("Incoming", "boolean", "Is Incoming", default=False),
            FieldSchema("MessageDate", "datetime", "Message Date"),
            FieldSchema("Name", "string", "Email Message Name", length=255, createable=False, updateable=False),
        ),
    )  # fmt: skip


# A user's identity verification methods, one row a user; an admin reads HasUserVerifiedEmailAddress
# to see who may send email (help.salesforce.com, "Manage User Email Address Verification":
# xcloud.security_email_verification_manage.htm).
TWO_FACTOR_METHODS_INFO = SObjectSchema(
    name="TwoFactorMethodsInfo",
    label="Two Factor Methods Info",
    key_prefix="0tq",
    fields=(
        FieldSchema("UserId", "reference", "User ID", reference_to="User", relationship_name="User",
                    createable=True, updateable=False),
        FieldSchema("HasUserVerifiedEmailAddress", "boolean", "Has User Verified Email Address", default=True),
        FieldSchema("Name", "string", "Name", length=255, createable=False, updateable=False),
    ),
)  # fmt: skip


_PRECISION = {"currency": (16, 2), "double": (18, 0)}


def _relationship(field_name: str) -> str:
    return field_name[:-3] + "__r" if field_name.endswith("__c") else field_name.removesuffix("Id")


def _field(name: str, spec: FieldSpec, label: str, **extra: object) -> FieldSchema:
    kind = spec.kind
    length = spec.length
    if kind in ("string", "url", "email", "encryptedstring") and length is None:
        length = 255 if kind != "encryptedstring" else 175
    if kind == "textarea" and length is None:
        length = 32768
    precision, scale = _PRECISION.get(kind, (None, None))
    if spec.scale is not None:
        scale = spec.scale
    return FieldSchema(
        name=name,
        type=kind,
        label=label,
        length=length,
        precision=precision,
        scale=scale,
        external_id=spec.unique_external_id,
        unique=spec.unique_external_id,
        **extra,  # type: ignore[arg-type]
    )


def org_schema_for(mapping: Mapping) -> OrgSchema:
    """Build the org an admin would set up for `mapping` (names already namespace-qualified)."""
    project_fields: list[FieldSchema] = []
    specs = field_specs(ProjectFields)
    type_words = tuple(mapping.payment.type.model_dump().values())
    for logical, api_name in mapping.project.fields.model_dump().items():
        spec = specs[logical]
        if api_name is None or api_name == "Name":
            continue
        if "." in api_name:  # a lookup path such as Customer__r.Email: create the lookup to Contact
            relationship = api_name.split(".")[0]
            lookup = relationship[:-3] + "__c" if relationship.endswith("__r") else relationship + "Id"
            project_fields.append(
                FieldSchema(lookup, "reference", "Customer", reference_to="Contact", relationship_name=relationship)
            )
            continue
        extra: dict[str, object] = {}
        if logical == "request_type":
            extra = {"picklist_values": type_words}
        elif logical == "stage":
            extra = {"picklist_values": PROJECT_STAGES}
        project_fields.append(_field(api_name, spec, logical.replace("_", " ").title(), **extra))

    pay = mapping.payment
    payment_fields: list[FieldSchema] = []
    pay_specs = field_specs(PaymentFields)
    picklists = {"status": tuple(pay.status.model_dump().values()), "type": type_words}
    for logical, api_name in pay.fields.model_dump().items():
        spec = pay_specs[logical]
        label = logical.replace("_", " ").title()
        if logical == "project":
            payment_fields.append(
                FieldSchema(
                    api_name, "reference", "Project", reference_to=mapping.project.object,
                    relationship_name=_relationship(api_name), child_relationship_name=pay.child_relationship,
                )
            )  # fmt: skip
            continue
        extra = {"picklist_values": picklists[logical]} if logical in picklists else {}
        payment_fields.append(_field(api_name, spec, label, **extra))

    refund = mapping.refund
    refund_fields: list[FieldSchema] = []
    refund_specs = field_specs(RefundFields)
    refund_picklists = {
        "status": tuple(refund.status.model_dump().values()),
        "source": tuple(refund.source.model_dump().values()),
    }
    for logical, api_name in refund.fields.model_dump().items():
        label = logical.replace("_", " ").title()
        if logical == "payment":
            refund_fields.append(
                FieldSchema(
                    api_name, "reference", "Payment", reference_to=pay.object, required=True,
                    relationship_name=_relationship(api_name), child_relationship_name=refund.child_relationship,
                )
            )  # fmt: skip
            continue
        extra = {"picklist_values": refund_picklists[logical]} if logical in refund_picklists else {}
        if logical == "status":  # as the README asks the admin: a new Refund starts Requested
            extra["default"] = refund.status.requested
        refund_fields.append(_field(api_name, refund_specs[logical], label, **extra))

    setup = mapping.setup
    setup_fields: list[FieldSchema] = []
    setup_specs = field_specs(SetupFields)
    setup_picklists = {
        "mode": tuple(setup.mode.model_dump().values()),
        "connection_status": tuple(setup.connection_status.model_dump().values()),
    }
    for logical, api_name in setup.fields.model_dump().items():
        extra = {"picklist_values": setup_picklists[logical]} if logical in setup_picklists else {}
        setup_fields.append(_field(api_name, setup_specs[logical], logical.replace("_", " ").title(), **extra))

    return OrgSchema(
        objects=(
            CONTACT,
            SObjectSchema(mapping.project.object, "Project", "a01", tuple(project_fields)),
            SObjectSchema(pay.object, "Payment", "a02", tuple(payment_fields), name_field_autonumber="PAY-{00000}"),
            SObjectSchema(setup.object, "Stripe Setup", "a03", tuple(setup_fields)),
            SObjectSchema(refund.object, "Refund", "a04", tuple(refund_fields), name_field_autonumber="REF-{00000}"),
            _feed_item(mapping.project.object),
            _email_message(pay.object),
            TWO_FACTOR_METHODS_INFO,
        )
    )
