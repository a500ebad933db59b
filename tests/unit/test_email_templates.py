from pathlib import Path

import pytest

from sync.config.email_templates import load_templates
from sync.domain.actions import EmailContext
from sync.domain.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = EmailContext(
    to="pat@example.com",
    project_name="Kitchen",
    payment_type="Deposit",
    amount="$20,000.00",
    description="Deposit\non signing",
)


def test_shipped_template_renders_with_the_link():
    templates = load_templates(ROOT / "config/email_templates.toml")
    subject, body = templates.payment_link.render(CONTEXT, link_url="https://pay.example/abc")
    assert "\n" not in subject and "$20,000.00" in subject
    assert "https://pay.example/abc" in body and "Kitchen" in body


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[payment_link]\nsubject='x'\n", "[payment_link] needs a subject and a body"),
        (
            "[payment_link]\nsubject='x'\nbody='$link_url'\n[reminder]\nsubject='x'\nbody='no link'\n",
            "the body of [reminder] must include $link_url",
        ),
        ("[payment_link]\nsubject='$nope'\nbody='$link_url'\n", "unknown placeholders ['nope']"),
        ("[payment_link]\nsubject='x'\nbody='no link'\n", "must include $link_url"),
        ("[payment_link]\nsubject='x'\nbody='$link_url $'\n", "malformed"),
        ("not toml [", "cannot read"),
    ],
)
def test_bad_template_file_stops_the_worker_with_a_named_reason(tmp_path, text, expected):
    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_templates(path)
    assert "EMAIL_TEMPLATE_FILE" in str(err.value) and expected in str(err.value)


def test_shipped_staff_notices_render_and_a_blank_one_is_not_posted(tmp_path):
    shipped = load_templates(ROOT / "config/email_templates.toml").staff_notices
    values = {"payment_type": "Deposit", "amount": "$5,000.00", "payer": "Pat Doe", "project": "Kitchen"}
    assert shipped.render("paid", values) == "Deposit of $5,000.00 received from Pat Doe for Kitchen."
    path = tmp_path / "t.toml"
    path.write_text("[payment_link]\nsubject='s'\nbody='$link_url'\n[staff_notices]\npaid='Paid'\ndisputed=''\n")
    notices = load_templates(path).staff_notices
    assert notices.for_kind("paid") is not None and notices.for_kind("disputed") is None


@pytest.mark.parametrize(
    ("notices", "expected"),
    [
        ("paid='$link_url'", "staff_notices.paid uses unknown placeholders ['link_url']"),
        ("refunded='x'", "unknown staff notices ['refunded']"),
        ("paid=3", "staff_notices.paid must be text"),
    ],
)
def test_staff_notice_mistakes_are_config_errors(tmp_path, notices, expected):
    path = tmp_path / "t.toml"
    path.write_text(f"[payment_link]\nsubject='s'\nbody='$link_url'\n[staff_notices]\n{notices}\n")
    with pytest.raises(ConfigError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        load_templates(path)
