from pathlib import Path

import pytest

from sync.errors import ConfigError
from sync.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "very-secret-value-123"


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    for name in list(__import__("os").environ):
        if name.startswith(("SALESFORCE_", "STRIPE_", "CRM_", "POLL_", "LOG_", "DEPOSIT_", "BATCH_", "EMAIL_")):
            monkeypatch.delenv(name)
    values = {
        "SALESFORCE_LOGIN_URL": "https://acme.my.salesforce.com",
        "SALESFORCE_CLIENT_ID": "3MVG9" + SECRET,
        "SALESFORCE_CLIENT_SECRET": SECRET,
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return monkeypatch


def test_valid_settings_load(env):
    settings = load_settings(_env_file=None)
    assert settings.salesforce_api_version == "64.0"
    assert settings.poll_interval_seconds == 30


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"SALESFORCE_LOGIN_URL": None}, "SALESFORCE_LOGIN_URL: missing"),
        ({"SALESFORCE_LOGIN_URL": "not a url"}, "SALESFORCE_LOGIN_URL:"),
        (
            {"SALESFORCE_CLIENT_SECRET": None},
            "SALESFORCE_CLIENT_SECRET: required when SALESFORCE_AUTH=client_credentials",
        ),
        ({"SALESFORCE_AUTH": "password"}, "SALESFORCE_AUTH:"),
        ({"SALESFORCE_AUTH": "jwt"}, "SALESFORCE_USERNAME: required when SALESFORCE_AUTH=jwt"),
        ({"POLL_INTERVAL_SECONDS": "0"}, "POLL_INTERVAL_SECONDS:"),
        ({"POLL_INTERVAL_SECONDS": "soon"}, "POLL_INTERVAL_SECONDS:"),
        ({"SALESFORCE_API_VERSION": "latest"}, "SALESFORCE_API_VERSION:"),
        ({"CRM_MAPPING_FILE": "nope.toml"}, "CRM_MAPPING_FILE: no such file"),
        ({"DEPOSIT_PERCENT": "150"}, "DEPOSIT_PERCENT:"),
    ],
)
def test_bad_setting_is_named_and_no_secret_is_printed(env, change, expected):
    for name, value in change.items():
        if value is None:
            env.delenv(name)
        else:
            env.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None)
    assert expected in str(err.value)
    assert SECRET not in str(err.value)


def test_a_secret_in_a_bad_field_is_not_echoed(env):
    env.setenv("POLL_INTERVAL_SECONDS", SECRET)
    env.setenv("SALESFORCE_LOGIN_URL", SECRET)
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None)
    assert SECRET not in str(err.value)
    assert "POLL_INTERVAL_SECONDS" in str(err.value) and "SALESFORCE_LOGIN_URL" in str(err.value)
