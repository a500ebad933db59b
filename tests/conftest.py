"""Suite-wide rule: a run leaves nothing in the temp directory (issue 15, "no leftovers").

The run gets a temp directory of its own (TMPDIR, which the workers and sandboxes it starts inherit),
so what is left in it at the end was left by this run alone, whatever else the machine is running.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_own_temp: list[Path] = []


def pytest_configure(config: pytest.Config) -> None:
    if _own_temp:  # configured once per process
        return
    own = Path(tempfile.mkdtemp(prefix="crm-stripe-sync-tests-"))
    os.environ["TMPDIR"] = str(own)
    tempfile.tempdir = str(own)
    _own_temp.append(own)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _own_temp:
        return
    own = _own_temp[0]
    # pytest's own tmp_path folders (pytest-of-<user>) are its business; everything else is ours.
    left = sorted(p.name for p in own.iterdir() if not p.name.startswith("pytest-of-"))
    if left:
        print(f"\nleft in the temp directory by this run ({own}): {', '.join(left[:10])} ({len(left)} in all)")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif exitstatus == pytest.ExitCode.OK:
        shutil.rmtree(own, ignore_errors=True)
    else:
        print(f"\nthis run's temp directory, kept for its failures: {own}")
