"""The suite's temp-directory rule (tests/conftest.py) fails a run that leaves something behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


def run_suite_of(tmp_path: Path, test: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_probe.py").write_text(test)
    # The probe run's temp directory is under tmp_path, so what it keeps is pytest's to clean.
    (tmp_path / "temp").mkdir()
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path / "temp")},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_run_that_leaves_a_folder_in_the_temp_directory_fails(tmp_path):
    leaky = "import tempfile\n\ndef test_leaks():\n    tempfile.mkdtemp(prefix='crm-stripe-sync-sandbox-')\n"
    result = run_suite_of(tmp_path, leaky)
    assert result.returncode == 1, result.stdout
    assert "left in the temp directory by this run" in result.stdout
    assert "crm-stripe-sync-sandbox-" in result.stdout


def test_a_run_that_cleans_up_passes_and_removes_its_temp_directory(tmp_path):
    tidy = "import tempfile\n\ndef test_tidy():\n    with tempfile.TemporaryDirectory():\n        pass\n"
    result = run_suite_of(tmp_path, tidy)
    assert result.returncode == 0, result.stdout
    assert "left in the temp directory" not in result.stdout
