from pathlib import Path

import pytest

from sync.config.settings import load_settings
from sync.domain.errors import ConfigError

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


def test_the_shipped_mapping_and_templates_are_found_from_any_working_folder(env, tmp_path):
    env.chdir(tmp_path)  # not the project's folder: no mappings/ or config/ here
    settings = load_settings(_env_file=None)
    assert settings.crm_mapping_file == ROOT / "mappings/default.toml"
    assert settings.email_template_file == ROOT / "config/email_templates.toml"
    (tmp_path / "mine.toml").write_text((ROOT / "mappings/default.toml").read_text())
    env.setenv("CRM_MAPPING_FILE", "mine.toml")  # one of the user's own, relative: from where they are
    assert load_settings(_env_file=None).crm_mapping_file.resolve() == tmp_path / "mine.toml"


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


@pytest.mark.parametrize("name", ["STRIPE_API_BASE", "SALESFORCE_LOGIN_URL", "SALESFORCE_INSTANCE_URL"])
@pytest.mark.parametrize(
    "url", ["http://api.stripe.com", "http://acme.my.salesforce.com", "http://10.0.0.5:8080", "http://127.0.0.2"]
)
def test_a_url_that_is_sent_a_secret_must_be_https_unless_loopback(env, name, url):
    env.setenv(name, url)
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None)
    assert f"{name}: must use https" in str(err.value)
    assert url.removeprefix("http://") not in str(err.value)


@pytest.mark.parametrize("name", ["STRIPE_API_BASE", "SALESFORCE_LOGIN_URL", "SALESFORCE_INSTANCE_URL"])
@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8111", "http://localhost:8111", "http://[::1]:8111", "https://127.0.0.1:8443"]
)
def test_the_sandbox_on_loopback_may_use_http(env, name, url):
    env.setenv(name, url)
    assert str(getattr(load_settings(_env_file=None), name.lower())).startswith(url)


@pytest.mark.parametrize(
    ("base", "is_stripe"),
    [
        (None, True),
        ("https://api.stripe.com", True),
        ("https://API.Stripe.com/", True),
        ("https://api.stripe.com:443", True),
        ("https://api.stripe.com:8443", False),
        ("https://api.stripe.com.example.net", False),
        ("https://files.stripe.com", False),
        ("https://127.0.0.1:8443", False),
        ("http://127.0.0.1:8111", False),
        ("http://localhost:8111", False),
    ],
)
def test_stripe_base_is_stripe_only_for_stripes_own_api_host(env, base, is_stripe):
    if base is not None:
        env.setenv("STRIPE_API_BASE", base)
    assert load_settings(_env_file=None).stripe_base_is_stripe is is_stripe
