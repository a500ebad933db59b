from datetime import timedelta

import pytest
from pydantic import SecretStr

from sync.domain import messages
from sync.domain.models import StripeMode, StripeSetup
from sync.domain.stripe_setup import judge_setups, key_mode
from tests.unit.factories import T0


def setup(key: str | None = "rk_test_abc123", mode: StripeMode | None = StripeMode.TEST, **kw) -> StripeSetup:
    values = dict(
        id="a03000000000001AAA",
        mode=mode,
        mode_raw=mode.value.title() if mode else None,
        secret_key=SecretStr(key) if key else None,
        default_currency="usd",
        statement_descriptor_suffix=None,
        after_payment_message=None,
        connection_status=None,
        last_error=None,
        last_modified=T0,
    )
    values.update(kw)
    return StripeSetup(**values)


@pytest.mark.parametrize(
    ("key", "mode"),
    [
        ("sk_test_1", StripeMode.TEST),
        ("rk_test_1", StripeMode.TEST),
        ("sk_live_1", StripeMode.LIVE),
        ("rk_live_1", StripeMode.LIVE),
        ("pk_test_1", None),
        ("sk_test_", None),
        ("whatever", None),
    ],
)
def test_key_mode_comes_from_the_prefix(key, mode):
    assert key_mode(key) is mode


@pytest.mark.parametrize(
    ("record", "problem", "mismatch"),
    [
        (setup(), None, False),
        (setup(key="sk_live_abc", mode=StripeMode.LIVE), None, False),
        (setup(key="sk_live_abc"), "a live key but Mode is test", True),
        (setup(key="rk_test_abc", mode=StripeMode.LIVE), "a test key but Mode is live", True),
        (setup(key=None), messages.NO_KEY, False),
        (setup(key="   "), messages.NO_KEY, False),
        (setup(mode=None), messages.NO_MODE, False),
        (setup(key="pk_test_abc"), messages.PUBLISHABLE_KEY, False),
        (setup(key="hunter2"), messages.MALFORMED_KEY, False),
        (setup(key="*" * 107), messages.KEY_MASKED, False),  # read without View Encrypted Data
        (setup(key="XXXXXXXXXXXXXXXXa1B2"), messages.KEY_MASKED, False),  # the last four clear
    ],
)
def test_test_keys_never_serve_a_live_setup_and_vice_versa(record, problem, mismatch):
    verdict = judge_setups((record,))
    if problem is None:
        assert verdict.problem is None
    else:
        assert problem in verdict.problem
    assert verdict.mode_mismatch is mismatch


def test_no_setup_is_a_problem_with_a_clear_message():
    verdict = judge_setups(())
    assert verdict.setup is None and verdict.problem == messages.NO_ACTIVE_SETUP


def test_newest_of_several_active_setups_is_used_with_a_warning():
    old = setup(id="old", last_modified=T0)
    new = setup(id="new", last_modified=T0 + timedelta(hours=1))
    verdict = judge_setups((old, new))
    assert verdict.setup.id == "new"
    assert "2 Stripe Setup records are active" in verdict.warning


@pytest.mark.parametrize(
    ("newer", "problem"),
    [
        (dict(key=None), messages.NO_KEY),
        (dict(key="pk_test_abc"), messages.PUBLISHABLE_KEY),
        (dict(mode=StripeMode.LIVE), None),  # a test key on a Live record: a mode mismatch
    ],
)
def test_a_broken_newer_active_setup_does_not_stop_an_older_one_that_works(newer, problem):
    old = setup(id="old", last_modified=T0)
    new = setup(id="new", last_modified=T0 + timedelta(hours=1), **newer)
    verdict = judge_setups((new, old))
    assert verdict.setup.id == "old" and verdict.problem is None
    assert "2 Stripe Setup records are active" in verdict.warning
    if problem is not None:  # and when the older one is broken too, the newest is judged, with its problem
        assert judge_setups((new, setup(id="old", key=None))).problem == problem


def test_the_setups_not_used_are_judged_each_so_each_record_can_say_where_it_stands():
    broken = setup(id="broken", key=None, last_modified=T0 + timedelta(hours=2))
    spare = setup(id="spare", last_modified=T0)
    used = setup(id="used", last_modified=T0 + timedelta(hours=1))
    verdict = judge_setups((spare, broken, used))
    assert verdict.setup.id == "used"
    assert [(v.setup.id, v.problem) for v in verdict.others] == [("broken", messages.NO_KEY), ("spare", None)]
    assert judge_setups((used,)).others == ()


def test_the_choice_among_equally_new_setups_is_the_same_every_time():
    a, b = setup(id="a03A"), setup(id="a03B")
    assert judge_setups((a, b)).setup.id == judge_setups((b, a)).setup.id == "a03B"


def test_problem_messages_never_contain_the_key():
    for key in ("sk_live_SECRETVALUE", "pk_test_SECRETVALUE", "hunter2SECRETVALUE"):
        verdict = judge_setups((setup(key=key),))
        assert "SECRETVALUE" not in (verdict.problem or "")
