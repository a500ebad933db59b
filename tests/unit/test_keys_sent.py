"""KeysSent: which link idempotency keys this process sent, so a replay of another's is told apart."""

from __future__ import annotations

from sync.adapters.stripe.payments import KeysSent


def test_a_key_counts_as_sent_from_its_first_use_and_only_the_latest_are_kept():
    keys = KeysSent(keep=2)
    assert keys.sent_before("a") is False
    assert keys.sent_before("a") is True  # a retry of this process's own request
    assert keys.sent_before("b") is False
    assert keys.sent_before("c") is False  # "a" is now the oldest of three: forgotten
    assert keys.sent_before("a") is False
    assert keys.sent_before("c") is True
