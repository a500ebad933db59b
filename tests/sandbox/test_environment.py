"""The Sandbox as a whole: what it leaves behind."""

from __future__ import annotations

from pathlib import Path

from sync.sandbox.environment import Sandbox


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
