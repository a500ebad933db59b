"""Judge the Stripe Setup records before any key is tried against Stripe."""

from __future__ import annotations

from dataclasses import dataclass

from sync.core import messages
from sync.models import StripeMode, StripeSetup


@dataclass(frozen=True)
class SetupVerdict:
    """Which Setup to use, and the problem that stops it being used (None when it may be tried)."""

    setup: StripeSetup | None
    problem: str | None
    warning: str | None = None
    mode_mismatch: bool = False


def key_mode(key: str) -> StripeMode | None:
    """The mode a secret or restricted key belongs to, from its prefix; None if not such a key."""
    for prefix, mode in (
        ("sk_test_", StripeMode.TEST),
        ("rk_test_", StripeMode.TEST),
        ("sk_live_", StripeMode.LIVE),
        ("rk_live_", StripeMode.LIVE),
    ):
        if key.startswith(prefix) and len(key) > len(prefix):
            return mode
    return None


def judge_setups(setups: tuple[StripeSetup, ...]) -> SetupVerdict:
    """Pick the active Setup (newest first) and check its key and mode agree."""
    if not setups:
        return SetupVerdict(setup=None, problem=messages.NO_ACTIVE_SETUP)
    setup = max(setups, key=lambda s: s.last_modified)
    warning = messages.SEVERAL_ACTIVE_SETUPS.format(count=len(setups)) if len(setups) > 1 else None
    key = setup.secret_key.get_secret_value().strip() if setup.secret_key else ""
    if not key:
        return SetupVerdict(setup, messages.NO_KEY, warning)
    if setup.mode is None:
        return SetupVerdict(setup, messages.NO_MODE, warning)
    if key.startswith("pk_"):
        return SetupVerdict(setup, messages.PUBLISHABLE_KEY, warning)
    mode = key_mode(key)
    if mode is None:
        return SetupVerdict(setup, messages.MALFORMED_KEY, warning)
    if mode is not setup.mode:
        problem = messages.MODE_MISMATCH.format(key_mode=mode.value, record_mode=setup.mode.value)
        return SetupVerdict(setup, problem, warning, mode_mismatch=True)
    return SetupVerdict(setup, None, warning)
