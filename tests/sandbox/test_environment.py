"""The Sandbox as a whole: what it leaves behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.sandbox.environment import Sandbox
from sync.sandbox.salesforce.describe import describe_sobject
from sync.sandbox.salesforce.errors import ApiError


def test_a_sandbox_in_memory_leaves_no_folder_behind():
    sandbox = Sandbox()
    with sandbox:
        assert sandbox.tls.ca_bundle.exists()  # its TLS files live there while it runs
    assert not sandbox.dir.exists()


def test_a_sandbox_with_a_state_folder_keeps_it(tmp_path: Path):
    state = tmp_path / "state"
    with Sandbox(state_dir=state):
        pass
    assert (state / "credentials.json").exists()  # the next start reuses the same org and keys


def test_with_feed_tracking_off_a_post_on_the_object_is_refused_and_describe_says_so():
    with Sandbox() as sandbox:
        project = sandbox.add_project("Barn")
        org, name = sandbox.salesforce, sandbox.mapping.project.object
        described = describe_sobject(org.catalog, org.catalog.sobject(name), "64.0")  # type: ignore[arg-type]
        assert described["feedEnabled"] is True  # on, as the README has the admin set it up
        org.create_record("FeedItem", {"ParentId": project, "Body": "Deposit received"})
        org.set_feed_tracking(name, enabled=False)
        with pytest.raises(ApiError) as caught:
            org.create_record("FeedItem", {"ParentId": project, "Body": "Final received"})
        assert (caught.value.code, caught.value.fields) == ("FIELD_INTEGRITY_EXCEPTION", ["ParentId"])
        described = describe_sobject(org.catalog, org.catalog.sobject(name), "64.0")  # type: ignore[arg-type]
        assert described["feedEnabled"] is False


def test_the_stripe_account_can_start_on_an_older_api_version_and_another_currency():
    with Sandbox(stripe_api_version="2024-06-20", stripe_default_currency="gbp") as sandbox:
        assert sandbox.stripe.account_settings() == {"api_version": "2024-06-20", "default_currency": "gbp"}
        sandbox.set_stripe_account(api_version="2024-10-28.acacia")
        assert sandbox.stripe.api_version == "2024-10-28.acacia"
