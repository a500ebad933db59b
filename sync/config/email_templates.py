"""Customer emails and staff notices (Chatter posts), from a TOML template file with $placeholders."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from string import Template

from sync.domain.actions import EmailContext
from sync.domain.errors import ConfigError

PLACEHOLDERS = frozenset({"project_name", "payment_type", "amount", "description", "link_url"})


@dataclass(frozen=True)
class EmailTemplate:
    subject: Template
    body: Template

    def render(self, context: EmailContext, *, link_url: str) -> tuple[str, str]:
        values = {
            "project_name": context.project_name,
            "payment_type": context.payment_type,
            "amount": context.amount,
            "description": context.description or f"{context.payment_type} payment",
            "link_url": link_url,
        }
        # The subject is one line whatever staff typed into the description.
        subject = " ".join(self.subject.substitute(values).split())
        return subject, self.body.substitute(values)


NOTICE_PLACEHOLDERS = {
    "paid": frozenset({"payment_type", "amount", "payer", "project"}),
    "disputed": frozenset({"payment_type", "amount", "reason", "project"}),
    "foreign": frozenset({"payment_type", "project", "problem"}),
    "paid_twice": frozenset({"payment_type", "amount", "payer", "project"}),
    "deleted_paid": frozenset({"amount", "payer", "charge"}),
}
# Posted even from a template file written before these notices existed: staff must hear of them
# (set one to "" to turn it off). `foreign`: a Stripe id on a Payment names another Payment's object;
# `paid_twice`: a Payment marked paid by hand was also paid on its link.
DEFAULT_FOREIGN_NOTICE = "The $payment_type for $project was not synced: $problem"
DEFAULT_DELETED_PAID_NOTICE = (
    "$payer paid $amount on the payment link of a Payment of this Project that was deleted (Stripe charge "
    "$charge). Restore the Payment from the Recycle Bin to record it, or refund the charge."
)
DEFAULT_PAID_TWICE_NOTICE = (
    "Check for a double payment: the $payment_type for $project was marked paid by hand, and $payer also paid "
    "$amount on its payment link. If both were paid, refund one."
)


@dataclass(frozen=True)
class NoticeTemplates:
    """One line per kind of staff notice; a kind left blank is not posted."""

    templates: dict[str, Template]

    def for_kind(self, kind: str) -> Template | None:
        template = self.templates.get(kind)
        return template if template is not None and template.template.strip() else None

    def render(self, kind: str, values: dict[str, str]) -> str:
        template = self.for_kind(kind)
        assert template is not None
        return " ".join(template.substitute(values).split())


@dataclass(frozen=True)
class EmailTemplates:
    payment_link: EmailTemplate
    staff_notices: NoticeTemplates
    reminder: EmailTemplate | None = None  # absent: reminders reuse the payment link email

    @property
    def reminder_template(self) -> EmailTemplate:
        return self.reminder or self.payment_link


def load_templates(path: Path) -> EmailTemplates:
    """Read the template file; ConfigError naming EMAIL_TEMPLATE_FILE when it is unusable."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"EMAIL_TEMPLATE_FILE: cannot read {path}: {exc}") from None
    template = _email(raw, "payment_link", path)
    if template is None:
        raise ConfigError(f"EMAIL_TEMPLATE_FILE: {path} needs [payment_link] with subject and body")
    return EmailTemplates(
        payment_link=template,
        staff_notices=_notices(raw.get("staff_notices", {}), path),
        reminder=_email(raw, "reminder", path),
    )


def _email(raw: dict[str, object], name: str, path: Path) -> EmailTemplate | None:
    """The [name] email template, checked; None when the file has no such section."""
    section = raw.get(name)
    if section is None:
        return None
    if not isinstance(section, dict) or not {"subject", "body"} <= section.keys():
        raise ConfigError(f"EMAIL_TEMPLATE_FILE: {path}: [{name}] needs a subject and a body")
    template = EmailTemplate(subject=Template(section["subject"]), body=Template(section["body"]))
    for part in (template.subject, template.body):
        if not part.is_valid():
            raise ConfigError(f"EMAIL_TEMPLATE_FILE: {path}: [{name}] has a malformed $placeholder")
        unknown = set(part.get_identifiers()) - PLACEHOLDERS
        if unknown:
            raise ConfigError(
                f"EMAIL_TEMPLATE_FILE: {path}: [{name}] uses unknown placeholders {sorted(unknown)}; "
                f"known: {sorted(PLACEHOLDERS)}"
            )
    if "link_url" not in template.body.get_identifiers():
        raise ConfigError(f"EMAIL_TEMPLATE_FILE: {path}: the body of [{name}] must include $link_url")
    return template


def _notices(section: object, path: Path) -> NoticeTemplates:
    if not isinstance(section, dict):
        raise ConfigError(f"EMAIL_TEMPLATE_FILE: {path}: [staff_notices] must be a table")
    unknown_kinds = set(section) - set(NOTICE_PLACEHOLDERS)
    if unknown_kinds:
        raise ConfigError(
            f"EMAIL_TEMPLATE_FILE: {path}: unknown staff notices {sorted(unknown_kinds)}; "
            f"known: {sorted(NOTICE_PLACEHOLDERS)}"
        )
    templates = {}
    for kind, text in section.items():
        if not isinstance(text, str):
            raise ConfigError(f"EMAIL_TEMPLATE_FILE: {path}: staff_notices.{kind} must be text")
        template = Template(text)
        if not template.is_valid():
            raise ConfigError(f"EMAIL_TEMPLATE_FILE: {path}: staff_notices.{kind} has a malformed $placeholder")
        unknown = set(template.get_identifiers()) - NOTICE_PLACEHOLDERS[kind]
        if unknown:
            raise ConfigError(
                f"EMAIL_TEMPLATE_FILE: {path}: staff_notices.{kind} uses unknown placeholders {sorted(unknown)}; "
                f"known: {sorted(NOTICE_PLACEHOLDERS[kind])}"
            )
        templates[kind] = template
    templates.setdefault("foreign", Template(DEFAULT_FOREIGN_NOTICE))
    templates.setdefault("paid_twice", Template(DEFAULT_PAID_TWICE_NOTICE))
    templates.setdefault("deleted_paid", Template(DEFAULT_DELETED_PAID_NOTICE))
    return NoticeTemplates(templates=templates)
