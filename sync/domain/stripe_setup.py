"""Judge the Stripe Setup records: the key before it is tried, the account and descriptor after."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sync.domain import messages
from sync.domain.models import StripeMode, StripeSetup


@dataclass(frozen=True)
class SetupVerdict:
    """Which Setup to use, and the problem that stops it being used (None when it may be tried)."""

    setup: StripeSetup | None
    problem: str | None
    warning: str | None = None
    mode_mismatch: bool = False
    # With several active: the verdict on each of the others, so that each record says where it stands.
    others: tuple[SetupVerdict, ...] = ()


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


def judge_setups(setups: tuple[StripeSetup, ...], *, live_keys_allowed: bool = True) -> SetupVerdict:
    """Pick the Setup to use among the active ones, and check its key and mode agree.

    With several active, the newest whose key and mode pass is used (a blank or mistyped newer one
    does not stop an older one that works); when none passes, the newest, with its problem. Either
    way the record used says how many are active. Ties go to the larger record id: deterministic.

    `live_keys_allowed` is False when the worker talks to anything but Stripe's own API host: a live
    key is never sent there (an emulator, a proxy, a mistyped STRIPE_API_BASE).
    """
    if not setups:
        return SetupVerdict(setup=None, problem=messages.NO_ACTIVE_SETUP)
    newest_first = sorted(setups, key=lambda s: (s.last_modified, s.id), reverse=True)
    warning = messages.SEVERAL_ACTIVE_SETUPS.format(count=len(setups)) if len(setups) > 1 else None
    verdicts = [_judge(s, warning, live_keys_allowed=live_keys_allowed) for s in newest_first]
    chosen = next((v for v in verdicts if v.problem is None), verdicts[0])
    return replace(chosen, others=tuple(v for v in verdicts if v is not chosen))


# An encrypted field read without View Encrypted Data: mask characters (* or X), perhaps with the
# last four clear (the field's Mask Type). No Stripe key has either character.
_MASKED = re.compile(r"[*X]{4,}[A-Za-z0-9]{0,4}")


def _judge(setup: StripeSetup, warning: str | None, *, live_keys_allowed: bool) -> SetupVerdict:
    key = setup.secret_key.get_secret_value().strip() if setup.secret_key else ""
    if not key:
        return SetupVerdict(setup, messages.NO_KEY, warning)
    if setup.mode is None:
        return SetupVerdict(setup, messages.NO_MODE, warning)
    if _MASKED.fullmatch(key):
        return SetupVerdict(setup, messages.KEY_MASKED, warning)
    if key.startswith("pk_"):
        return SetupVerdict(setup, messages.PUBLISHABLE_KEY, warning)
    mode = key_mode(key)
    if mode is None:
        return SetupVerdict(setup, messages.MALFORMED_KEY, warning)
    if mode is not setup.mode:
        problem = messages.MODE_MISMATCH.format(key_mode=mode.value, record_mode=setup.mode.value)
        return SetupVerdict(setup, problem, warning, mode_mismatch=True)
    if mode is StripeMode.LIVE and not live_keys_allowed:
        return SetupVerdict(setup, messages.LIVE_KEY_OFF_STRIPE, warning)
    return SetupVerdict(setup, None, warning)


# Statement descriptor rules (docs.stripe.com/get-started/account/statement-descriptors): Latin
# characters only, at least one letter, none of < > \ ' " *, and the prefix, "* " and the suffix
# together at most 22 characters (OpenAPI spec: "Maximum 22 characters for the concatenated descriptor").
DESCRIPTOR_LIMIT = 22
_DESCRIPTOR_FORBIDDEN = frozenset("<>\\'\"*")


def descriptor_problem(suffix: str, prefix: str | None) -> str | None:
    """Why Stripe would refuse `suffix` after the account's `prefix`; None when it may be sent."""
    if any(ch in _DESCRIPTOR_FORBIDDEN for ch in suffix):
        return messages.DESCRIPTOR_FORBIDDEN
    if not (suffix.isascii() and suffix.isprintable()):
        return messages.DESCRIPTOR_NOT_LATIN
    if not any(ch.isalpha() for ch in suffix):
        return messages.DESCRIPTOR_NO_LETTER
    combined = f"{prefix}* {suffix}" if prefix else suffix
    if len(combined) > DESCRIPTOR_LIMIT:
        room = DESCRIPTOR_LIMIT - (len(prefix) + 2 if prefix else 0)
        return messages.DESCRIPTOR_TOO_LONG.format(
            prefix=prefix or "", combined=combined, length=len(combined), room=max(room, 0)
        )
    return None


@dataclass(frozen=True)
class DescriptorVerdict:
    """The suffix to send on new links (None: none), and the Setup note when the admin's is unusable."""

    suffix: str | None
    note: str | None


def judge_descriptor(suffix: str | None, prefix: str | None) -> DescriptorVerdict:
    """Judge the Setup's Statement Descriptor Suffix against the account's prefix.

    An unusable suffix would make Stripe refuse every new link; the links go out without it and the
    Setup says what to fix, since a missing suffix on a statement is better than no payments at all.
    """
    text = (suffix or "").strip()
    if not text:
        return DescriptorVerdict(None, None)
    why = descriptor_problem(text, prefix)
    if why is None:
        return DescriptorVerdict(text, None)
    return DescriptorVerdict(None, messages.DESCRIPTOR_SUFFIX_UNUSABLE.format(suffix=text, why=why))


@dataclass(frozen=True)
class AccountVerdict:
    """What to do about the Stripe account behind a verified key."""

    pin: str | None  # the account id to write on the Setup (clearing Confirm Account Change); None: nothing
    problem: str | None  # why Stripe must not be used (the key is another account's, unconfirmed)


def judge_account(actual: str, *, pinned: str | None, confirmed: bool, known: str | None) -> AccountVerdict:
    """Compare the key's account with the one pinned on the Setup (or, if the pin was cleared, the one
    this process has been using): another account stops Stripe until an admin confirms it.

    A ticked Confirm Account Change is cleared even when nothing changed, so a box ticked early cannot
    accept a later swap of the key.
    """
    expected = pinned or known
    if expected is not None and expected != actual and not confirmed:
        return AccountVerdict(None, messages.ACCOUNT_CHANGED.format(actual=actual, pinned=expected))
    return AccountVerdict(actual if (pinned != actual or confirmed) else None, None)
