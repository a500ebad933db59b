"""requirements.lock pins every runtime dependency, with hashes, within what pyproject.toml allows."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _pins() -> dict[str, tuple[str, int]]:
    """Package -> (pinned version, number of sha256 hashes), from the lock's `name==version \\` blocks."""
    text = (ROOT / "requirements.lock").read_text()
    pins: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=\S)", text):
        head = re.match(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", block)
        if head:
            pins[canonicalize_name(head[1])] = (head[2], block.count("--hash=sha256:"))
    return pins


def _runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(spec) for spec in project["dependencies"]]


def test_every_runtime_dependency_is_pinned_with_hashes_inside_its_range():
    pins = _pins()
    for requirement in _runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements.lock: regenerate it"
        version, hashes = pins[name]
        assert hashes >= 1, f"{requirement.name} is pinned without a hash"
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {requirement.name}=={version}, outside {requirement.specifier}"
        )


def test_every_pin_in_the_lock_carries_a_hash():
    pins = _pins()
    assert len(pins) >= len(_runtime_requirements())
    assert [name for name, (_, hashes) in pins.items() if hashes == 0] == []


def test_the_lock_holds_no_test_tool():
    pins = _pins()
    assert not {"pytest", "hypothesis", "vcrpy", "ruff"} & set(pins)


def test_the_floors_stay_past_the_known_fixed_releases():
    floors = {canonicalize_name(r.name): r.specifier for r in _runtime_requirements()}
    for name, vulnerable in (("requests", "2.32.3"), ("pyjwt", "2.10.0"), ("cryptography", "44.0.0")):
        assert not floors[name].contains(vulnerable), f"{name} {vulnerable} is allowed again"
