"""The code rules the tools hold (pyproject's ruff settings), run with the suite."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def ruff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=120
    )


def test_the_tree_passes_ruff_lint_and_format():
    lint = ruff("check", "sync", "tests", "--output-format", "concise")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    form = ruff("format", "--check", "sync", "tests")
    assert form.returncode == 0, form.stdout + form.stderr


def test_the_domain_ports_and_service_layer_pass_mypy_strict():
    # The files and flags are pyproject's [tool.mypy]; the cache stays in the checkout (.mypy_cache).
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


@pytest.mark.parametrize("module", ["stripe", "stripe._util", "simple_salesforce", "requests.adapters"])
@pytest.mark.parametrize(("where", "banned"), [("sync/outcome_sync.py", True), ("sync/adapters/x.py", False)])
def test_the_sdks_and_http_are_imported_only_by_the_adapters(module, where, banned):
    result = ruff("check", "--select", "TID251", "--stdin-filename", where, "-", stdin=f"import {module}\n")
    assert ("TID251" in result.stdout) is banned, result.stdout + result.stderr


def sandbox_imports(path: Path) -> list[tuple[int, bool]]:
    """(line, at module level) of each import of sync.sandbox in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
        if any(n == "sync.sandbox" or n.startswith("sync.sandbox.") for n in names):
            found.append((node.lineno, id(node) in top))
    return found


def test_the_sandbox_is_a_wing_the_worker_never_imports():
    outside = [p for p in (ROOT / "sync").rglob("*.py") if "sandbox" not in p.relative_to(ROOT / "sync").parts]
    offenders = {
        str(p.relative_to(ROOT)): lines
        for p in outside
        if (lines := sandbox_imports(p)) and (p.name != "cli.py" or any(at_top for _, at_top in lines))
    }
    assert offenders == {}, "only sync/cli.py imports the sandbox, inside the commands that need it"
    assert sandbox_imports(ROOT / "sync" / "cli.py"), "the CLI's sandbox commands are found by this test"


def test_the_sandbox_api_is_public():
    from sync.sandbox import Sandbox
    from sync.sandbox.environment import Sandbox as Defined

    assert Sandbox is Defined
