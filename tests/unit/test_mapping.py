from pathlib import Path

import pytest

from sync.config.mapping import PaymentFields, field_specs, load_mapping, qualify
from sync.domain.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Payment__c", "bpm__Payment__c"),
        ("Customer__r.Email", "bpm__Customer__r.Email"),
        ("Name", "Name"),
        ("other__Thing__c", "other__Thing__c"),  # already carries a prefix
        ("A__r.B__r.Email", "bpm__A__r.bpm__B__r.Email"),
    ],
)
def test_namespace_prefixes_custom_names_only(name, expected):
    assert qualify(name, "bpm") == expected


def test_default_mapping_loads_with_the_design_names():
    m = load_mapping(ROOT / "mappings/default.toml")
    assert m.payment.object == "Payment__c"
    assert m.project.fields.customer_email == "Customer__r.Email"
    assert m.payment.status.link_sent == "Link Sent"


def test_namespaced_example_mapping_is_fully_prefixed():
    m = load_mapping(ROOT / "mappings/namespaced-example.toml")
    assert m.project.object == "bpm__Job__c"
    assert m.payment.fields.request_key == "bpm__Intake_Key__c"
    assert m.payment.child_relationship == "bpm__Job_Payments__r"
    assert m.payment.status.requested == "New"


def test_every_payment_field_declares_its_type_and_access():
    specs = field_specs(PaymentFields)
    assert set(specs) == set(PaymentFields.model_fields)
    assert specs["request_key"].unique_external_id
    assert specs["amount"].kind == "currency"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.toml"
    path.write_text(text)
    return path


def test_a_typo_in_a_mapping_key_is_named(tmp_path):
    text = (ROOT / "mappings/default.toml").read_text().replace("link_url =", "link_ulr =")
    with pytest.raises(ConfigError) as err:
        load_mapping(_write(tmp_path, text))
    assert "payment.fields.link_ulr: unknown key (a typo?)" in str(err.value)
    assert "payment.fields.link_url: missing" in str(err.value)


def test_a_mapping_that_is_not_toml_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"CRM_MAPPING_FILE: .* is not valid TOML"):
        load_mapping(_write(tmp_path, "namespace = \n"))


def test_a_missing_mapping_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="CRM_MAPPING_FILE: no mapping file"):
        load_mapping(tmp_path / "nope.toml")


def test_a_bad_namespace_is_refused(tmp_path):
    text = (ROOT / "mappings/default.toml").read_text().replace('namespace = ""', 'namespace = "b p"')
    with pytest.raises(ConfigError, match="namespace"):
        load_mapping(_write(tmp_path, text))
