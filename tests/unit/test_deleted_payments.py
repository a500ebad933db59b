"""Deleted Payments: their own live link is turned off, money paid on it said once, another's left alone."""

from __future__ import annotations

from sync.domain.models import CreatedLink, StripePaymentState
from sync.ports import ChatterPost, DeletedPayment
from sync.runtime.retry import no_retry
from sync.service.deleted_payments import Settled, settle_deleted
from tests.unit.fakes import FakeCrm, FakeStripe


def _link(link_id: str, owner: str) -> CreatedLink:
    return CreatedLink(id=link_id, url=f"https://pay.example/{link_id}", active=True, payment_id=owner)


def _settle(crm: FakeCrm, stripe: FakeStripe, ids: list[str]) -> Settled:
    return settle_deleted(
        ids, stripe, crm=crm, retry=no_retry, post=lambda n: ChatterPost(n.project_id, f"{n.kind}: {n.values}")
    )


def test_only_the_recycle_bins_payments_and_only_their_own_links_are_touched():
    crm = FakeCrm(
        deleted={
            "p1": DeletedPayment("p1", "proj1", "plink_1"),
            "p2": DeletedPayment("p2", "proj2", "plink_other"),  # named another Payment's link
        }
    )
    stripe = FakeStripe(existing={"plink_1": _link("plink_1", "p1"), "plink_other": _link("plink_other", "p9")})
    assert _settle(crm, stripe, ["p1", "p2", "p_of_another_org"]) == Settled(retired=1)
    assert stripe.deactivated == ["plink_1"]
    assert crm.posts == []  # nothing was paid


def test_a_payment_made_on_a_deleted_payments_link_is_posted_on_its_project():
    crm = FakeCrm(deleted={"p1": DeletedPayment("p1", "proj1", "plink_1")})
    stripe = FakeStripe(existing={"plink_1": _link("plink_1", "p1").model_copy(update={"active": False})})
    stripe.states["plink_1"] = StripePaymentState(
        payment_link_id="plink_1", paid=True, amount_paid_minor=500000, currency="usd", charge_id="ch_1", payer="Pat"
    )
    assert _settle(crm, stripe, ["p1"]) == Settled(retired=0)  # inactive already (a completed single-use link)
    [post] = crm.posts
    assert post.project_id == "proj1" and post.body.startswith("deleted_paid:")
    assert "$5,000.00" in post.body and "ch_1" in post.body and "Pat" in post.body


def test_the_post_is_noted_on_the_link_so_later_events_about_the_charge_tell_staff_nothing_more():
    crm = FakeCrm(deleted={"p1": DeletedPayment("p1", "proj1", "plink_1")})
    stripe = FakeStripe(existing={"plink_1": _link("plink_1", "p1")})
    stripe.states["plink_1"] = StripePaymentState(
        payment_link_id="plink_1", paid=True, amount_paid_minor=500000, currency="usd", charge_id="ch_1", payer="Pat"
    )
    _settle(crm, stripe, ["p1"])
    assert stripe.link("plink_1").deleted_paid_said == "ch_1"
    _settle(crm, stripe, ["p1"])  # a refund or dispute event names the deleted Payment again
    assert len(crm.posts) == 1


def test_a_post_the_crm_refused_is_not_noted_and_is_tried_again():
    crm = FakeCrm(deleted={"p1": DeletedPayment("p1", "proj1", "plink_1")}, refuse_posts=True)
    stripe = FakeStripe(existing={"plink_1": _link("plink_1", "p1")})
    stripe.states["plink_1"] = StripePaymentState(
        payment_link_id="plink_1", paid=True, amount_paid_minor=500000, currency="usd", charge_id="ch_1", payer="Pat"
    )
    assert _settle(crm, stripe, ["p1"]).unsettled == {"p1"}  # handed back, to be tried each sweep
    assert stripe.link("plink_1").deleted_paid_said is None
    crm.refuse_posts = False
    assert _settle(crm, stripe, ["p1"]).unsettled == set()
    assert len(crm.posts) == 1 and stripe.link("plink_1").deleted_paid_said == "ch_1"
