"""The unit-test fakes refuse what the real adapters refuse, so a unit test cannot pass where
production fails (the first of the contract checks issue 15 asks for)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.adapters.salesforce.records import RecordCodec
from sync.config.mapping import load_mapping
from sync.domain.stripe_results import OutcomeWrite
from sync.ports import PaymentUpdate
from tests.unit.factories import T0, payment
from tests.unit.fakes import FakeCrm

ROOT = Path(__file__).resolve().parents[2]
CODEC = RecordCodec(load_mapping(ROOT / "mappings/default.toml"))


def test_a_payment_field_name_with_a_typo_is_refused_by_the_codec_and_the_fake_alike():
    typo = {"sync_eror": "x"}
    with pytest.raises(AttributeError):
        CODEC.payment_values(typo)
    crm = FakeCrm(payments={"p1": payment(id="p1")})
    with pytest.raises(AttributeError, match="sync_eror"):
        crm.update_payments([PaymentUpdate("p1", typo)])
    with pytest.raises(AttributeError, match="sync_eror"):
        crm.apply_outcomes([(OutcomeWrite(payment_id="p1", payment_last_modified=T0, fields=typo), ())])


def test_a_refund_field_name_with_a_typo_is_refused_by_the_codec_and_the_fake_alike():
    with pytest.raises(AttributeError):
        CODEC.refund_values({"stripe_refnd_id": "re_1"})
    assert CODEC.refund_values({"stripe_refund_id": "re_1"})  # the right name maps


def test_every_name_the_fake_accepts_the_codec_maps():
    crm = FakeCrm(payments={"p1": payment(id="p1")})
    fields = {"sync_error": "x", "sync_log": "y", "last_synced_at": T0, "link_url": "https://pay/1"}
    assert crm.update_payments([PaymentUpdate("p1", fields)])[0].error is None
    assert set(CODEC.payment_values(fields)) == {CODEC.m.payment.fields.model_dump()[k] for k in fields}
