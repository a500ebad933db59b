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
@pytest.mark.parametrize(("where", "banned"), [("sync/service/stripe_results.py", True), ("sync/adapters/x.py", False)])
def test_the_sdks_and_http_are_imported_only_by_the_adapters(module, where, banned):
    result = ruff("check", "--select", "TID251", "--stdin-filename", where, "-", stdin=f"import {module}\n")
    assert ("TID251" in result.stdout) is banned, result.stdout + result.stderr


def imports_of(path: Path) -> list[tuple[str, int, bool]]:
    """(module of ours, line, at module level) of each import of `sync...` in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from sync.domain import money` imports the module sync.domain.money
            names = [f"{node.module}.{a.name}" for a in node.names]
        found += [(n, node.lineno, id(node) in top) for n in names if n == "sync" or n.startswith("sync.")]
    return found


def layer_of(module: str) -> str:
    """`sync.domain.money` -> `domain`; `sync.ports` -> `ports`; `sync.__main__` -> `entry`."""
    parts = module.split(".")
    return "entry" if parts[1:2] == ["__main__"] else parts[1] if len(parts) > 1 else "sync"


# What each layer of sync/ may import of ours (README "Development"). The domain is pure; the service
# layer reaches Stripe and Salesforce only through the ports; adapters never call back into it.
ALLOWED = {
    "domain": {"domain"},
    "ports": {"domain", "ports"},
    "runtime": {"runtime"},
    "config": {"config", "domain", "runtime"},
    "adapters": {"adapters", "domain", "ports", "config", "runtime"},
    "service": {"service", "domain", "ports", "config", "runtime"},
    # The Salesforce package made from a mapping (`sync metadata`; the sandbox org is built from it).
    "package": {"package", "config", "domain"},
    "entry": {"entry", "service", "adapters", "package", "domain", "ports", "config", "runtime"},
    "sandbox": {"sandbox", "entry", "service", "adapters", "package", "domain", "ports", "config", "runtime"},
}
# Runtime helpers know no domain, but retry classifies the worker's error types.
EXCEPTIONS = {("runtime", "sync.domain.errors")}


def excepted(layer: str, module: str) -> bool:
    return any(layer == lay and (module == m or module.startswith(m + ".")) for lay, m in EXCEPTIONS)


def layer_offenders(root: Path) -> list[str]:
    """Each import under root/sync that its layer may not make, as `path:line (layer) imports module`."""
    offenders = []
    for path in sorted((root / "sync").rglob("*.py")):
        rel = path.relative_to(root)
        layer = layer_of(".".join(rel.with_suffix("").parts))
        if layer == "sync":
            continue  # sync/__init__.py
        for module, line, at_top in imports_of(path):
            target = layer_of(module)
            lazy_sandbox = target == "sandbox" and rel.as_posix() == "sync/entry/cli.py" and not at_top
            if target not in ALLOWED[layer] and not excepted(layer, module) and not lazy_sandbox:
                offenders.append(f"{rel}:{line} ({layer}) imports {module}")
    return offenders


def test_the_layers_import_only_what_they_may():
    assert layer_offenders(ROOT) == []


def test_the_layer_contract_sees_a_violation(tmp_path):
    # The control: a tree with an adapter calling the service layer, a domain module logging, and
    # a CLI importing the sandbox at module level.
    for rel, text in {
        "sync/adapters/stripe/x.py": "from sync.service.runner import Runner\nfrom sync.domain import money\n",
        "sync/domain/y.py": "from sync.runtime.logs import log\n",
        "sync/entry/cli.py": "from sync.sandbox import Sandbox\n\ndef f():\n    from sync.sandbox import demo\n",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert layer_offenders(tmp_path) == [
        "sync/adapters/stripe/x.py:1 (adapters) imports sync.service.runner.Runner",
        "sync/domain/y.py:1 (domain) imports sync.runtime.logs.log",
        "sync/entry/cli.py:1 (entry) imports sync.sandbox.Sandbox",
    ]


def test_the_sandbox_is_a_wing_the_worker_never_imports():
    sandbox_users = {
        str(p.relative_to(ROOT)): [(line, at_top) for m, line, at_top in imports_of(p) if layer_of(m) == "sandbox"]
        for p in (ROOT / "sync").rglob("*.py")
        if "sandbox" not in p.relative_to(ROOT / "sync").parts
    }
    offenders = {
        path: lines
        for path, lines in sandbox_users.items()
        if lines and (path != "sync/entry/cli.py" or any(at_top for _, at_top in lines))
    }
    assert offenders == {}, "only sync/entry/cli.py imports the sandbox, inside the commands that need it"
    assert sandbox_users["sync/entry/cli.py"], "the CLI's sandbox commands are found by this test"


def test_the_sandbox_api_is_public():
    from sync.sandbox import Sandbox
    from sync.sandbox.environment import Sandbox as Defined

    assert Sandbox is Defined
