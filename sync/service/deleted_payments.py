"""Payments staff deleted while their link was out: the link is turned off, money paid on it is said.

A Payment id the org does not show may be another org's on the same Stripe account, so it is left
alone; one in this org's recycle bin (queryAll, IsDeleted) is this org's. Its link, once checked to
be that Payment's own, is deactivated, and a payment made on it before that is posted to staff on
the Project (and logged), never silently kept. Found by the sweep's walk over active links and by
events that name such a Payment; each is handled once, as each event and active link is seen once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from sync.domain.errors import PermanentError, RetryableError
from sync.domain.stripe_results import StaffNotice, deleted_paid_notice
from sync.ports import ChatterPost, CrmGateway, PaymentsGateway
from sync.runtime.logs import log
from sync.runtime.retry import Retry


def settle_deleted(
    payment_ids: Iterable[str],
    gateway: PaymentsGateway,
    *,
    crm: CrmGateway,
    retry: Retry,
    post: Callable[[StaffNotice], ChatterPost | None],
) -> int:
    """Deactivate the live links of the deleted Payments among `payment_ids`; post what was paid. The
    number of links deactivated. A passing failure leaves the rest for the next sweep or event."""
    ids = sorted(set(payment_ids))
    if not ids:
        return 0
    try:
        deleted = retry(lambda: crm.deleted_payments(ids))
    except (RetryableError, PermanentError) as exc:
        log.warning("deleted_payments.read_failed", payments=len(ids), error=str(exc))
        return 0
    retired, posts = 0, []
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
                retired += 1
                bound.warning("payment_link.deactivated_payment_deleted")
            state = retry(lambda: gateway.payment_state(link.id, with_refunds=False))  # noqa: B023
        except (RetryableError, PermanentError) as exc:
            bound.warning("deleted_payments.link_failed", error=str(exc))
            continue
        if state.paid:
            bound.error("payment.paid_after_delete", charge_id=state.charge_id, amount_minor=state.amount_paid_minor)
            if payment.project_id:
                rendered = post(deleted_paid_notice(payment.project_id, state))
                if rendered is not None:
                    posts.append(rendered)
    if posts:
        try:
            for result in retry(lambda: crm.post(posts)):
                if result.error is not None:
                    log.warning("deleted_payments.post_refused", error=result.error)
        except (RetryableError, PermanentError) as exc:
            log.warning("deleted_payments.post_failed", posts=len(posts), error=str(exc))
    return retired
