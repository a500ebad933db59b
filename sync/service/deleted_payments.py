"""Payments staff deleted while their link was out: the link is turned off, money paid on it is said.

A Payment id the org does not show may be another org's on the same Stripe account, so it is left
alone; one in this org's recycle bin (queryAll, IsDeleted) is this org's. Its link, once checked to
be that Payment's own, is deactivated, and a payment made on it before that is posted to staff on
the Project (and logged), never silently kept. Found by the sweep's walk over active links and by
events that name such a Payment (every later event about its charge too): the post is told once,
noted on the link's metadata in Stripe, as the CRM has no record left to note it on. Those not
settled (a refused post: feed tracking off on the Project; a failed read) are handed back, for the
caller to try at each sweep until they are: the link is off by then, so no walk would find it again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sync.domain.errors import PermanentError, RetryableError
from sync.domain.stripe_results import StaffNotice, deleted_paid_notice
from sync.ports import ChatterPost, CrmGateway, PaymentsGateway
from sync.runtime.logs import log
from sync.runtime.retry import Retry


@dataclass
class Settled:
    """What settling did: links deactivated, and the Payment ids still to settle (to tell, or read)."""

    retired: int = 0
    unsettled: set[str] = field(default_factory=set)


def settle_deleted(
    payment_ids: Iterable[str],
    gateway: PaymentsGateway,
    *,
    crm: CrmGateway,
    retry: Retry,
    post: Callable[[StaffNotice], ChatterPost | None],
) -> Settled:
    """Deactivate the live links of the deleted Payments among `payment_ids`; post what was paid."""
    ids = sorted(set(payment_ids))
    if not ids:
        return Settled()
    try:
        deleted = retry(lambda: crm.deleted_payments(ids))
    except (RetryableError, PermanentError) as exc:
        log.warning("deleted_payments.read_failed", payments=len(ids), error=str(exc))
        return Settled(unsettled=set(ids))
    done = Settled()
    to_tell: list[tuple[str, str, str, ChatterPost]] = []  # (payment id, link id, charge id, post)
    for payment in deleted:
        bound = log.bind(payment_id=payment.id, payment_link_id=payment.payment_link_id)
        if not payment.payment_link_id:
            continue
        link_id = payment.payment_link_id
        try:
            link = retry(lambda: gateway.link(link_id))  # noqa: B023 - called at once
            if link.payment_id != payment.id:
                continue  # the deleted record named another Payment's link: that one is not its to retire
            if link.active:
                retry(functools.partial(gateway.deactivate_link, link.id))
                done.retired += 1
                bound.warning("payment_link.deactivated_payment_deleted")
            # Read once the link is off (its open sessions expired): what it took is final.
            state = retry(lambda: gateway.payment_state(link.id, with_refunds=False))  # noqa: B023
        except (RetryableError, PermanentError) as exc:
            bound.warning("deleted_payments.link_failed", error=str(exc))
            done.unsettled.add(payment.id)
            continue
        # Told once: every later event about this charge (a refund, a dispute) finds it said on the link.
        if state.paid and state.charge_id and link.deleted_paid_said != state.charge_id:
            bound.error("payment.paid_after_delete", charge_id=state.charge_id, amount_minor=state.amount_paid_minor)
            rendered = post(deleted_paid_notice(payment.project_id, state)) if payment.project_id else None
            if rendered is not None:
                to_tell.append((payment.id, link.id, state.charge_id, rendered))
    if to_tell:
        done.unsettled |= _tell(to_tell, gateway, crm=crm, retry=retry)
    return done


def _tell(
    to_tell: list[tuple[str, str, str, ChatterPost]], gateway: PaymentsGateway, *, crm: CrmGateway, retry: Retry
) -> set[str]:
    """Post to staff, then note each post on its link: a crash in between posts twice, never not at all.
    The Payment ids whose post did not go (to be tried again)."""
    try:
        results = retry(lambda: crm.post([post for *_, post in to_tell]))
    except (RetryableError, PermanentError) as exc:
        log.warning("deleted_payments.post_failed", posts=len(to_tell), error=str(exc))
        return {payment_id for payment_id, *_ in to_tell}
    untold: set[str] = set()
    for (payment_id, link_id, charge_id, _), result in zip(to_tell, results, strict=True):
        if result.error is not None:
            log.warning(
                "deleted_payments.post_refused", payment_id=payment_id, payment_link_id=link_id, error=result.error
            )
            untold.add(payment_id)
            continue
        try:
            retry(functools.partial(gateway.note_deleted_paid_said, link_id, charge_id))
        except (RetryableError, PermanentError) as exc:
            log.warning("deleted_payments.said_not_noted", payment_link_id=link_id, error=str(exc))
    return untold
