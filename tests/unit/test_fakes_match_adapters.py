"""The unit-test fakes refuse what the real adapters refuse, so a unit test cannot pass where
production fails (the first of the contract checks issue 15 asks for)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sync.adapters.salesforce.records import RecordCodec
from sync.config.mapping import PaymentFields, RefundFields, load_mapping
from sync.domain.changes import PaymentChange, RefundChange
from sync.domain.stripe_results import OutcomeWrite
from sync.ports import PaymentUpdate
from tests.unit.factories import T0, payment
from tests.unit.fakes import FakeCrm

ROOT = Path(__file__).resolve().parents[2]
CODEC = RecordCodec(load_mapping(ROOT / "mappings/default.toml"))


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Misspelt(PaymentChange):
    """A change with a field no mapping has, as a typo in PaymentChange itself would be."""

    sync_eror: str | None = None


def test_a_field_name_with_a_typo_cannot_be_made_into_a_change():
    with pytest.raises(TypeError, match="sync_eror"):
        PaymentChange(sync_eror="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="stripe_refnd_id"):
        RefundChange(stripe_refnd_id="re_1")  # type: ignore[call-arg]


def test_a_change_field_the_mapping_lacks_is_refused_by_the_codec_and_the_fake_alike():
    typo = _Misspelt(sync_eror="x")
    with pytest.raises(KeyError, match="sync_eror"):
        CODEC.payment_values(typo)
    crm = FakeCrm(payments={"p1": payment(id="p1")})
    with pytest.raises(AttributeError, match="sync_eror"):
        crm.update_payments([PaymentUpdate("p1", typo)])
    with pytest.raises(AttributeError, match="sync_eror"):
        crm.apply_outcomes([(OutcomeWrite(payment_id="p1", payment_last_modified=T0, change=typo), ())])


def test_every_field_a_change_can_write_is_a_mapped_field():
    assert {f.name for f in dataclasses.fields(PaymentChange)} <= set(PaymentFields.model_fields)
    assert {f.name for f in dataclasses.fields(RefundChange)} <= set(RefundFields.model_fields)
    assert CODEC.refund_values(RefundChange(stripe_refund_id="re_1"))  # the right name maps


def test_every_name_the_fake_accepts_the_codec_maps():
    crm = FakeCrm(payments={"p1": payment(id="p1")})
    change = PaymentChange(sync_error="x", sync_log="y", last_synced_at=T0, link_url="https://pay/1")
    assert crm.update_payments([PaymentUpdate("p1", change)])[0].error is None
    names = change.written()
    assert set(CODEC.payment_values(change)) == {CODEC.m.payment.fields.model_dump()[k] for k in names}
