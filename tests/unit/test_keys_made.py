"""KeysMade: the link idempotency keys whose link this process's own request made."""

from __future__ import annotations

from sync.adapters.stripe.payments import KeysMade


def test_a_key_is_ours_once_its_first_answer_came_to_us_and_only_the_latest_are_kept():
    keys = KeysMade(keep=2)
    assert keys.made("a") is False  # sent, perhaps, but its answer never came: not known to be ours
    keys.add("a")
    assert keys.made("a") is True
    keys.add("b")
    keys.add("c")  # "a" is now the oldest of three: forgotten
    assert (keys.made("a"), keys.made("b"), keys.made("c")) == (False, True, True)
