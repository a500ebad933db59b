"""The sandbox org's objects: the org's own, with the package `sync metadata` writes deployed on it.

Payment, Refund and Stripe Setup, and the fields the package adds to the Project, are read from the
very files an admin deploys (`sync.package`, parsed by `sync.sandbox.salesforce.metadata`), so the
tests and the demo run on the package itself. The rest is the org as it was: its Project with the
fields the worker only reads, a Contact for the customer's email when the mapping reads it through
a lookup, FeedItem for Chatter posts, EmailMessage for the emails logged on a Payment, and
TwoFactorMethodsInfo for the users' email verification.
"""

from __future__ import annotations

from sync.config.mapping import FieldSpec, Mapping, ProjectFields, field_specs
from sync.package import build_package, package_files
from sync.package.names import package_defines
from sync.sandbox.salesforce.metadata import read_objects
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


def _field(name: str, spec: FieldSpec, label: str, **extra: object) -> FieldSchema:
    """One of the org's own Project fields (the package only adds to that object)."""
    kind = spec.kind
    length = spec.length
    if kind in ("string", "url", "email") and length is None:
        length = 255
    precision, scale = _PRECISION.get(kind, (None, None))
    if spec.scale is not None:
        scale = spec.scale
    return FieldSchema(name=name, type=kind, label=label, length=length, precision=precision, scale=scale, **extra)  # type: ignore[arg-type]


def _project_own_fields(mapping: Mapping) -> list[FieldSchema]:
    """The fields the org's Project has before the package: what the worker only reads."""
    specs = field_specs(ProjectFields)
    out: list[FieldSchema] = []
    for logical, api_name in mapping.project.fields.model_dump().items():
        if api_name is None or api_name == "Name" or package_defines("project", logical):
            continue
        if "." in api_name:  # a lookup path such as Customer__r.Email: the lookup to Contact
            relationship = api_name.split(".")[0]
            lookup = relationship[:-3] + "__c" if relationship.endswith("__r") else relationship + "Id"
            out.append(
                FieldSchema(lookup, "reference", "Customer", reference_to="Contact", relationship_name=relationship)
            )
            continue
        extra: dict[str, object] = {"picklist_values": PROJECT_STAGES} if logical == "stage" else {}
        out.append(_field(api_name, specs[logical], logical.replace("_", " ").title(), **extra))
    return out


def org_schema_for(mapping: Mapping) -> OrgSchema:
    """Build the org an admin sets up for `mapping` (names already namespace-qualified): the org's
    own Project and Contact, with what `sync metadata` generates for the mapping deployed on top.

    Raises ValueError when a field the worker uses is in neither (the package would lack it).
    """
    deployed = read_objects(package_files(build_package(mapping=mapping, qualified=True)))
    project_object = deployed.get(mapping.project.object)
    project = SObjectSchema(
        mapping.project.object, "Project", "a01",
        tuple(_project_own_fields(mapping)) + (project_object.fields if project_object else ()),
    )  # fmt: skip

    def made(section: str, key_prefix: str) -> SObjectSchema:
        obj = deployed[getattr(mapping, section).object]
        assert obj.label is not None, f"the package does not create {obj.name}"
        return SObjectSchema(
            obj.name, obj.label, key_prefix, obj.fields, name_field_autonumber=obj.auto_number, label_plural=obj.plural
        )

    schema = OrgSchema(
        objects=(
            CONTACT,
            project,
            made("payment", "a02"),
            made("setup", "a03"),
            made("refund", "a04"),
            _feed_item(mapping.project.object),
            _email_message(mapping.payment.object),
            TWO_FACTOR_METHODS_INFO,
        )
    )
    _require_mapped_fields(schema, mapping)
    return schema


def _require_mapped_fields(schema: OrgSchema, mapping: Mapping) -> None:
    by_name = {o.name: {f.name for f in o.fields} | {"Name"} for o in schema.objects}
    missing = []
    for section in ("project", "payment", "refund", "setup"):
        part = getattr(mapping, section)
        for logical, api_name in part.fields.model_dump().items():
            if api_name is None:
                continue
            first = api_name.split(".")[0]
            name = (first[:-3] + "__c" if first.endswith("__r") else first + "Id") if "." in api_name else api_name
            if name not in by_name[part.object]:
                missing.append(f"{section}.fields.{logical} ({part.object}.{name})")
    if missing:
        raise ValueError(f"the package lacks fields the worker uses: {', '.join(missing)}")
