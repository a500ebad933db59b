import json

import pytest
import structlog

from sync.logs import configure_logging, mask_secrets
from sync.settings import LogFormat


@pytest.fixture(autouse=True)
def _restore_structlog():
    yield
    structlog.reset_defaults()


def test_mask_secrets_hides_keys_tokens_and_jwts():
    text = (
        "key sk_live_51HxYzAbC rk_test_abc123 whsec_abc Bearer 00Dxx0000001gPL!AQ4AQFoo.bar_baz "
        "jwt eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl"
    )
    masked = mask_secrets(text)
    for secret in (
        "sk_live_51HxYzAbC",
        "rk_test_abc123",
        "whsec_abc",
        "00Dxx0000001gPL!AQ4AQFoo",
        "eyJhbGciOiJSUzI1NiJ9",
    ):
        assert secret not in masked


def test_json_logs_are_named_events_and_never_carry_a_key(capsys):
    configure_logging(fmt=LogFormat.JSON)
    structlog.get_logger().info("payment_link.created", payment_id="a02", error="bad key sk_test_123456789")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["event"] == "payment_link.created" and line["payment_id"] == "a02"
    assert "sk_test_123456789" not in json.dumps(line)
