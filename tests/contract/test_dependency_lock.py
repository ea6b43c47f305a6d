"""constraints.txt pins every dependency within pyproject's ranges; state-bearing packages match it.

Recovery snapshots pickle River models, numpy arrays and Bytewax's own state, and the benchmark
figures were measured with the locked versions: a drift between lock, ranges and .venv is a bug.
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "constraints.txt"
# package -> the release part that may not move under recovery state written by the locked version
# (lightgbm: the fleet regression's model strings, in recovery snapshots and on the models topic)
STATE_PACKAGES = {"river": "minor", "bytewax": "minor", "numpy": "major", "lightgbm": "major"}
RANGE_PACKAGES = {**STATE_PACKAGES, "duckdb": "major"}


def _lock() -> dict[str, str]:
    """constraints.txt -> {canonical name: exact version}; every line must be ``name==version``."""
    pins = {}
    for raw in LOCK.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep and version and " " not in line, f"constraints.txt: not an exact pin: {line!r}"
        pins[canonicalize_name(name)] = version
    return pins


def _requirements() -> dict[str, Requirement]:
    """Runtime and test dependencies of pyproject.toml, by canonical name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    return {canonicalize_name(r.name): r for r in map(Requirement, reqs)}


def test_lock_does_not_pin_the_project_itself() -> None:
    assert "twinflow" not in _lock()  # make lock freezes with --exclude-editable


@pytest.mark.parametrize("name", sorted(_requirements()))
def test_every_dependency_is_locked_within_its_range(name: str) -> None:
    pins, req = _lock(), _requirements()[name]
    assert name in pins, f"{name} ({req}) is missing from constraints.txt: run make lock"
    assert req.specifier.contains(pins[name], prereleases=True), (
        f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {req}"
    )


@pytest.mark.parametrize(("name", "part"), sorted(RANGE_PACKAGES.items()))
def test_state_packages_are_bounded(name: str, part: str) -> None:
    """The next minor (River, Bytewax) or major (numpy, DuckDB) release is outside the range."""
    spec, locked = _requirements()[name].specifier, Version(_lock()[name])
    nxt = (f"{locked.major}.{locked.minor + 1}.0" if part == "minor" else f"{locked.major + 1}.0.0")
    assert spec.contains(locked) and not spec.contains(nxt), f"{name}{spec} admits {nxt}"


@pytest.mark.parametrize("name", sorted(STATE_PACKAGES))
def test_installed_state_packages_are_the_locked_ones(name: str) -> None:
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip(f"installed versions are checked in the project's .venv (make venv), not {sys.prefix}")
    installed, locked = metadata.version(name), _lock()[name]
    assert installed == locked, f"{name} {installed} is installed, constraints.txt has {locked}: make venv"
