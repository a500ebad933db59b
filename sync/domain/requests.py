"""Decide the actions of one cycle from the CRM snapshot and Stripe's readiness."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from sync.domain import messages, money
from sync.domain.actions import (
    Action,
    CreatePayment,
    CreatePaymentLink,
    EmailContext,
    EmailExistingLink,
    LinkSpec,
    PaymentDraft,
    ReportError,
    ReportFault,
    WaitForStripe,
)
from sync.domain.changes import PaymentChange
from sync.domain.models import (
    CreatedLink,
    CrmSnapshot,
    ExistingPayment,
    Payment,
    PaymentStatus,
    PaymentType,
    ProjectRequest,
)
from sync.domain.staff_actions import (
    ReminderPolicy,
    append_log,
    link_terms,
    next_reminder_at,
    next_revision,
    recorded_paid_status,
)
from sync.domain.stripe_results import PAID_FAMILY
from sync.domain.validation import (
    DESCRIPTION_LIMIT,
    amount_problem,
    description_problem,
    email_problem,
    normalise_currency,
    plain_text,
)

# Payments that no longer claim part of the contract when working out a Final balance.
_RELEASED = frozenset({PaymentStatus.CANCELED, PaymentStatus.ERROR})


@dataclass(frozen=True)
class Policy:
    """The knobs of the decision, from settings and the Stripe Setup record."""

    deposit_percent: Decimal = Decimal(50)
    default_currency: str = "usd"
    stripe_ready: bool = False
    statement_descriptor_suffix: str | None = None
    after_payment_message: str | None = None
    signing_stage: str | None = None  # deposit on signing: the Project stage that requests it (None: off)


def decide(snapshot: CrmSnapshot, *, policy: Policy) -> list[Action]:
    """Return the actions for every flagged Project and every Requested Payment."""
    return [
        *decide_intake(snapshot.project_requests, policy=policy),
        *decide_payments(snapshot.requested_payments, policy=policy),
    ]


def decide_intake(requests: Iterable[ProjectRequest], *, policy: Policy) -> list[CreatePayment]:
    """The Payments to create for the flagged Projects (and those due a deposit on signing)."""
    actions: list[CreatePayment] = []
    # Each record is planned on its own: one that raises (a fault of ours, or a value nobody foresaw)
    # is said on its own record and the others go on (invariant 6).
    for request in requests:
        plan = None
        if request.request_payment:
            plan = plan_intake
        elif policy.signing_stage and request.stage == policy.signing_stage and not request.signing_deposit_requested:
            plan = plan_signing_deposit
        if plan is not None:
            try:
                actions.append(plan(request, policy=policy))
            except Exception as exc:  # isolated per record; the message names its type
                actions.append(_faulty_intake(request, plan, exc))
    return actions


def decide_payments(payments: Iterable[Payment], *, policy: Policy) -> list[Action]:
    """The action for each Requested Payment (none for one that needs nothing)."""
    actions: list[Action] = []
    for payment in payments:
        try:
            action = plan_payment(payment, policy=policy)
        except Exception as exc:  # isolated per record; the message names its type
            message = messages.PLANNING_FAILED.format(error_type=type(exc).__name__)
            # Said once: a record already saying it is not written again every cycle.
            said = payment.sync_error == message
            action = (
                None if said else ReportFault(payment_id=payment.id, message=message, error_type=type(exc).__name__)
            )
        if action is not None:
            actions.append(action)
    return actions


def _faulty_intake(request: ProjectRequest, plan: object, exc: Exception) -> CreatePayment:
    """The request recorded as an Error Payment saying that planning it failed (so it is not lost)."""
    signing = plan is plan_signing_deposit
    key = f"{request.project_id}:signing-deposit" if signing else None
    draft = PaymentDraft(
        project_id=request.project_id,
        request_key=key or intake_key(request),
        type=PaymentType.DEPOSIT if signing else (request.request_type or PaymentType.CUSTOM),
        amount=None,
        currency=None,
        description=None,
        customer_email=None,
        status=PaymentStatus.ERROR,
        sync_error=messages.PLANNING_FAILED.format(error_type=type(exc).__name__),
    )
    return CreatePayment(
        project_id=request.project_id, project_last_modified=request.last_modified, draft=draft, signing_deposit=signing
    )


def request_key(project_id: str, requested_at: datetime | None, *, taken: Iterable[str | None] = ()) -> str:
    """The intake key: one Payment per click of Request Payment.

    The base is the Project and its Requested At, which automation may leave unchanged between two
    clicks, set to a date, or leave blank. A click is told from the last one by the Payments the
    Project already has under that base (`taken`, their keys): the same click read twice (a retry,
    two workers, a crash) gives the same key, which the CRM refuses a second time (an External ID,
    Unique); the next click, the next key (`<base>#1`, `#2`, ... one past the highest, so a deleted
    Payment never makes a key come round again).
    """
    stamp = f"{requested_at.strftime('%Y%m%dT%H%M%S.%f')[:-3]}Z" if requested_at else "no-time"
    base = f"{project_id}:{stamp}"
    used = [_suffix(key, base) for key in taken if key]
    highest = max((n for n in used if n is not None), default=None)
    return base if highest is None else f"{base}#{highest + 1}"


def _suffix(key: str, base: str) -> int | None:
    """0 for `base`, n for `base#n`, None for a key of another base."""
    if key == base:
        return 0
    head, _, number = key.rpartition("#")
    return int(number) if head == base and number.isdigit() else None


def intake_key(request: ProjectRequest) -> str:
    return request_key(request.project_id, request.requested_at, taken=(p.request_key for p in request.payments))


def link_idempotency_key(payment_id: str, revision: int) -> str:
    """Stripe idempotency key for a Payment's link; a new revision is a new link."""
    return f"crm-stripe-sync:payment-link:{payment_id}:r{revision}"


def fallback_intake(action: CreatePayment, *, reason: str) -> CreatePayment:
    """The same request recorded with only its key and the reason, when the CRM refused the draft."""
    d = action.draft
    draft = PaymentDraft(
        project_id=d.project_id,
        request_key=d.request_key,
        type=d.type,
        amount=None,
        currency=None,
        description=None,
        customer_email=None,
        status=PaymentStatus.ERROR,
        sync_error=messages.REQUEST_NOT_RECORDABLE.format(detail=reason)[:1000],
    )
    return CreatePayment(project_id=action.project_id, project_last_modified=action.project_last_modified, draft=draft)


def plan_intake(request: ProjectRequest, *, policy: Policy) -> CreatePayment:
    """Turn a flagged Project into one Payment draft: Requested if valid, Error with a reason if not."""
    currency = normalise_currency(request.currency, policy.default_currency)
    amount, problem = (
        (None, request.unreadable) if request.unreadable else _requested_amount(request, currency, policy=policy)
    )
    if problem is None and request.request_type is None and request.request_type_raw:
        allowed = ", ".join(t.value.title() for t in PaymentType)
        problem = messages.TYPE_UNKNOWN.format(value=request.request_type_raw, allowed=allowed)
    problem = (
        problem
        or amount_problem(amount, currency)
        or email_problem(request.customer_email)
        or description_problem(request.description)
    )
    # Copy onto the Payment only what its fields can hold as given, so that an invalid request is
    # still recorded (with its reason) rather than refused by the CRM: an amount the 2-decimal
    # field would round, an email the email field would reject, an over-long description.
    storable = amount if amount is not None and amount == amount.quantize(Decimal("0.01")) else None
    email = (request.customer_email or "").strip() or None
    description = request.description
    if description is not None and len(description) > DESCRIPTION_LIMIT:
        description = description[: DESCRIPTION_LIMIT - 1] + "…"
    draft = PaymentDraft(
        project_id=request.project_id,
        request_key=intake_key(request),
        type=request.request_type or PaymentType.CUSTOM,
        amount=storable,
        currency=currency if len(currency) == 3 and currency.isalpha() else None,
        description=description,
        customer_email=email if email_problem(email) is None else None,
        status=PaymentStatus.ERROR if problem else PaymentStatus.REQUESTED,
        sync_error=problem,
    )
    return CreatePayment(project_id=request.project_id, project_last_modified=request.last_modified, draft=draft)


def plan_signing_deposit(request: ProjectRequest, *, policy: Policy) -> CreatePayment:
    """The deposit a Project's stage asks for: DEPOSIT_PERCENT of the contract, requested once.

    The request key is fixed per Project, so the deposit is made once however often the stage is
    reached (the CRM refuses a second Payment with the same key).
    """
    signing = request.model_copy(
        update={
            "requested_amount": None,
            "request_type": PaymentType.DEPOSIT,
            "request_type_raw": None,
            # Not the request description: that belongs to a click of Request Payment, not to this rule.
            "description": messages.SIGNING_DEPOSIT_DESCRIPTION.format(stage=request.stage),
            "requested_at": None,
        }
    )
    planned = plan_intake(signing, policy=policy)
    draft = replace(planned.draft, request_key=f"{request.project_id}:signing-deposit")
    return replace(planned, draft=draft, signing_deposit=True)


def _requested_amount(request: ProjectRequest, currency: str, *, policy: Policy) -> tuple[Decimal | None, str | None]:
    if request.requested_amount is not None:
        return request.requested_amount, None
    if request.request_type not in (PaymentType.DEPOSIT, PaymentType.FINAL):
        return None, messages.AMOUNT_MISSING
    contract = request.contract_amount
    if contract is None:
        return None, messages.NO_CONTRACT_AMOUNT.format(type=request.request_type.value)
    shown = money.format_amount
    if contract <= 0:
        return None, messages.CONTRACT_NOT_POSITIVE.format(
            type=request.request_type.value, contract=shown(contract, currency)
        )
    if request.request_type is PaymentType.DEPOSIT:
        share = contract * policy.deposit_percent / Decimal(100)
        # To the currency's own smallest unit, half up: a JPY deposit is whole yen (money.decimals_for).
        unit = Decimal(1).scaleb(-money.decimals_for(currency))
        return share.quantize(unit, rounding=ROUND_HALF_UP), None
    requested = sum((_claimed(p) for p in request.payments if p.status not in _RELEASED), Decimal(0))
    balance = contract - requested
    if balance <= 0:
        return None, messages.NOTHING_LEFT_TO_REQUEST.format(
            contract=shown(contract, currency), requested=shown(requested, currency)
        )
    return balance, None


def _claimed(payment: ExistingPayment) -> Decimal:
    """What a Payment takes of the contract: for a paid one, what was charged (Amount is an editable
    field; Amount Paid is Stripe's), else what it asks."""
    if payment.status in PAID_FAMILY and payment.amount_paid is not None:
        return payment.amount_paid
    return payment.amount or Decimal(0)


def plan_payment(payment: Payment, *, policy: Policy) -> Action | None:
    """Decide what a Requested Payment needs next."""
    if payment.status is not PaymentStatus.REQUESTED or payment.cancel_requested:
        return None  # a cancel asked for is the staff-action path's to apply
    currency = normalise_currency(payment.currency or payment.project_currency, policy.default_currency)
    email = (payment.customer_email or payment.project_customer_email or "").strip() or None
    problem = (
        (messages.PROJECT_NOT_FOUND if payment.project_id is None else None)
        or amount_problem(payment.amount, currency)
        or email_problem(email)
        or description_problem(payment.description)
    )
    if problem is not None:
        return ReportError(payment_id=payment.id, message=problem)
    assert payment.amount is not None and email is not None  # checked above
    context = _email_context(payment, email=email, currency=currency)
    if payment.payment_link_id and payment.link_url:
        recorded_terms = payment.link_terms
        return EmailExistingLink(
            payment_id=payment.id,
            link_url=payment.link_url,
            email=context,
            link_id=payment.payment_link_id,
            link_revision=payment.link_revision,
            times_sent=payment.times_sent,
            no_reminders=payment.no_reminders,
            sync_log=payment.sync_log,
            written_back_at=payment.last_modified if payment.sync_error is None else None,
            charges=(currency, money.to_minor_units(payment.amount, currency)),
            terms_changed=recorded_terms is not None
            and recorded_terms != link_terms(payment, default_currency=policy.default_currency),
            recorded_paid=recorded_paid_status(payment) if payment.paid_at or payment.charge_id else None,
        )
    if not policy.stripe_ready:
        if payment.sync_error == messages.STRIPE_NOT_CONNECTED:
            return None  # already says so; nothing to write
        return WaitForStripe(payment_id=payment.id, message=messages.STRIPE_NOT_CONNECTED)
    return CreatePaymentLink(
        payment_id=payment.id,
        link_revision=payment.link_revision,
        spec=_link_spec(payment, currency=currency, policy=policy),
        email=context,
        terms=link_terms(payment, default_currency=policy.default_currency),
        times_sent=payment.times_sent,
        no_reminders=payment.no_reminders,
        sync_log=payment.sync_log,
    )


def sent_fields(
    action: CreatePaymentLink | EmailExistingLink, *, url: str, now: datetime, reminders: ReminderPolicy
) -> PaymentChange:
    """What a Payment records once its link was emailed as a request (a new link, or the link it
    holds set back to Requested): the resends and reminders decide theirs in `staff_actions`."""
    return PaymentChange(
        status=PaymentStatus.LINK_SENT,
        link_url=url,  # the URL emailed, which is the link's own in Stripe
        resend=False,  # a Resend ticked before the first send is this send
        last_sent_at=now,
        times_sent=action.times_sent + 1,
        reminders_sent=0,
        next_reminder_at=next_reminder_at(
            sent_at=now, reminders_sent=0, opted_out=action.no_reminders, policy=reminders
        ),
        sync_error=None,
        sync_log=append_log(
            action.sync_log, messages.LOG_SENT.format(revision=action.link_revision, to=action.email.to), now=now
        ),
    )


ExistingLinkVerdict = Literal["send", "paid", "dead", "differs", "emailed"]


def recipient_mark(email: str) -> str:
    """A short one-way mark of a recipient, kept on a link in Stripe: which address it was emailed
    to, without the address leaving the CRM."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]


def org_email_problem(detail: str | None) -> str | None:
    """What to say on a Payment whose email the org refused for a reason of its own, not of the
    record (the daily limit, activities off on the Payment): it waits, and is sent once fixed."""
    text = detail or ""
    if "SINGLE_EMAIL_LIMIT_EXCEEDED" in text:
        return messages.EMAIL_LIMIT_REACHED
    if "FIELD_INTEGRITY_EXCEPTION" in text and "Related To ID" in text:
        return messages.EMAIL_NOT_LOGGABLE
    return None


def judge_existing_link(
    action: EmailExistingLink, link: CreatedLink, *, paid: bool, logged: bool = False
) -> ExistingLinkVerdict:
    """Whether the link a Requested Payment holds may be emailed as it is (`send`), read from Stripe.

    A staff member sets a Payment back to Requested after it was paid, canceled or refused: its link
    is emailed only while it is live, unpaid and charges what the record now says, so the words of
    the email and the link never disagree. `paid`: the status is put back, nothing emailed; `dead`
    (inactive) and `differs` (to be deactivated first): the next link revision replaces it;
    `emailed`: it was emailed to this recipient already (the org logged it: `logged`, or the worker
    kept it on the link), and the CRM refused (or deferred) recording that: recorded now, not
    emailed again.
    """
    if paid:
        return "paid"
    if not link.active:
        return "dead"
    charged = (link.currency.lower(), link.amount_minor) if link.currency and link.amount_minor is not None else None
    if action.terms_changed or (charged is not None and charged != action.charges):
        return "differs"
    if logged or (link.emailed_to is not None and link.emailed_to == recipient_mark(action.email.to)):
        return "emailed"
    return "send"


def existing_link_change(action: EmailExistingLink, verdict: ExistingLinkVerdict, *, now: datetime) -> PaymentChange:
    """What the record gets in place of the email, for a verdict other than `send`."""
    if verdict == "paid":
        if action.recorded_paid is None:
            # Paid, and never recorded: the outcome path records it from Stripe (and tells staff).
            return PaymentChange(status=PaymentStatus.LINK_SENT)
        line = messages.REQUESTED_BUT_PAID
        return PaymentChange(
            status=action.recorded_paid, sync_error=line, sync_log=append_log(action.sync_log, line, now=now)
        )
    why = messages.LINK_NO_LONGER_ACTIVE if verdict == "dead" else messages.LINK_CHARGES_OTHERWISE
    old = action.link_revision
    line = messages.LOG_RELINKED_ON_REQUEST.format(old=old, why=why, new=old + 1)
    return next_revision(old, action.sync_log, line, now=now)


def email_context_for(payment: Payment, *, default_currency: str) -> EmailContext | None:
    """The link email's context for a Payment, or None when it has no valid recipient or amount."""
    currency = normalise_currency(payment.currency or payment.project_currency, default_currency)
    email = (payment.customer_email or payment.project_customer_email or "").strip() or None
    if payment.amount is None or email is None or email_problem(email) is not None:
        return None
    if currency not in money.SUPPORTED_CURRENCIES:
        return None
    return _email_context(payment, email=email, currency=currency)


def _label(payment: Payment) -> str:
    return (payment.type or PaymentType.CUSTOM).value.title()


def _link_spec(payment: Payment, *, currency: str, policy: Policy) -> LinkSpec:
    assert payment.amount is not None and payment.project_id is not None
    description = plain_text(payment.description)
    project = plain_text(payment.project_name) or "your project"
    product_name = description or f"{_label(payment)} payment – {project}"
    metadata = {
        "crm_payment_id": payment.id,
        "crm_project_id": payment.project_id,
        "crm_link_revision": str(payment.link_revision),
    }
    return LinkSpec(
        idempotency_key=link_idempotency_key(payment.id, payment.link_revision),
        amount_minor=money.to_minor_units(payment.amount, currency),
        currency=currency,
        product_name=product_name,
        payment_description=f"{project}: {product_name}"[:1000],
        metadata=metadata,
        statement_descriptor_suffix=policy.statement_descriptor_suffix or None,
        after_payment_message=policy.after_payment_message or None,
    )


def _email_context(payment: Payment, *, email: str, currency: str) -> EmailContext:
    assert payment.amount is not None
    return EmailContext(
        to=email,
        project_name=plain_text(payment.project_name),
        payment_type=_label(payment),
        amount=money.format_amount(payment.amount, currency),
        description=plain_text(payment.description),
    )
