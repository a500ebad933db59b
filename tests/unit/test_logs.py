import json

import pytest
import structlog

from sync.config.settings import LogFormat
from sync.runtime.logs import configure_logging, mask_secrets


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


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("key sk_live_51HxYzAbC", "key [redacted]"),
        ("key sk_live_51Abc_def-ghi.jkl here", "key [redacted] here"),
        ("sk_test_4eC39HqLyjWDarjtT1zdp7dc.", "[redacted]."),  # a full stop ends a sentence, not the key
        ("(rk_live_51Abc-def_GHI.jkl)", "([redacted])"),
        ("rk_test_abc123", "[redacted]"),
        ("whsec_abc", "[redacted]"),
        ("secret=whsec_A1b2-C3_d4.E5, next", "secret=[redacted], next"),
        ("STRIPE_KEY_sk_live_abc", "STRIPE_KEY_[redacted]"),
        ("key%3Dsk_live_abc%26x", "key%3D[redacted]%26x"),
        ("'sk_live_a.b-c_d'", "'[redacted]'"),
        ("Bearer 00Dxx0000001gPL!AQ4AQFoo.bar_baz", "[redacted]"),
        ("jwt eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl", "jwt [redacted]"),
        ("sid 00Dxx0000001gPL!AQ4AQFoo.bar_baz-1234567890", "sid [redacted]"),
        # Not secrets: Stripe object ids, event names, words that merely contain a prefix.
        ("plink_1Abc cs_test_a1B2 pi_3Xyz ch_3Xyz", "plink_1Abc cs_test_a1B2 pi_3Xyz ch_3Xyz"),
        ("payment_link.created desk_test_plan risk_live_score", "payment_link.created desk_test_plan risk_live_score"),
        ("sk_live_ alone", "sk_live_ alone"),
    ],
)
def test_mask_secrets_table(text, masked):
    assert mask_secrets(text) == masked


def test_json_logs_are_named_events_and_never_carry_a_key(capsys):
    configure_logging(fmt=LogFormat.JSON)
    structlog.get_logger().info("payment_link.created", payment_id="a02", error="bad key sk_test_123456789")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["event"] == "payment_link.created" and line["payment_id"] == "a02"
    assert "sk_test_123456789" not in json.dumps(line)
