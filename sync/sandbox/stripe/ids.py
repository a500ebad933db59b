"""Stripe-shaped identifiers, API-key modes and key masking."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits

# Body lengths seen in the official fixtures (e.g. plink_1Pgc78B7WZ01zgkWC75kX0jg, prod_QXg1hqf4jFNsqG).
_BODY_LENGTH = {
    "plink": 24,
    "price": 24,
    "prod": 14,
    "evt": 24,
    "li": 24,
    "acct": 16,
    "req": 14,
    "pi": 24,
    "ch": 24,
    "pm": 24,
    "re": 24,
    "dp": 24,
    "txn": 24,
}

KEY_MODES = {"sk_test_": "test", "rk_test_": "test", "sk_live_": "live", "rk_live_": "live"}


def new_id(prefix: str) -> str:
    """Return a fresh random id such as `plink_1Pgc78B7WZ01zgkWC75kX0jg`."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_BODY_LENGTH[prefix]))
    return f"{prefix}_{body}"


def new_session_id(mode: str) -> str:
    """Return a Checkout Session id; real ones are `cs_test_a1` or `cs_live_a1` plus 56 characters."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(56))
    return f"cs_{mode}_a1{body}"


def new_client_secret(intent_id: str) -> str:
    """Return a PaymentIntent client secret (`pi_..._secret_...`, as in the official fixture)."""
    return f"{intent_id}_secret_" + "".join(secrets.choice(_ALPHABET) for _ in range(25))


def new_link_token(mode: str) -> str:
    """Return the path part of a payment-link URL; real ones look like `test_eVa16Q1Vd7yU1Ne8ww`."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(18))
    return f"test_{body}" if mode == "test" else body


def mode_of_key(key: str) -> str | None:
    """Return "test" or "live" for a secret or restricted key, None for anything else."""
    for prefix, mode in KEY_MODES.items():
        if key.startswith(prefix):
            return mode
    return None


def mask_key(key: str) -> str:
    """Mask a key as Stripe's 401 message does: first 8 characters, one `*` per hidden one, last 4.

    Seen in real messages: `sk_test_***********************only`, `pi_1PiXF***…***zlzo`. For keys too
    short to hide anything that way, everything but the last 4 is starred (our choice: never echo a key).
    """
    if len(key) >= 20:
        return key[:8] + "*" * (len(key) - 12) + key[-4:]
    if len(key) > 4:
        return "*" * (len(key) - 4) + key[-4:]
    return "*" * len(key)


def last4(key: str) -> str:
    """The last four characters of a key, the only part the request log keeps."""
    return key[-4:] if len(key) >= 12 else ""
