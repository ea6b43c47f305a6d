"""Project conventions enforced by tools: ruff on the code, mypy --strict on twin_models and on flows,
doctests."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import flows
import twin_models

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          check=False)


def test_ruff_is_clean() -> None:
    res = _run("ruff", "check", "twin_models", "flows", "tests", "benchmarks", "infra")
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_strict_on_twin_models() -> None:
    res = _run("mypy", "--strict", "twin_models")
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_strict_on_flows() -> None:
    # --strict since round 37 (round 36 made flows clean under mypy's default checks)
    res = _run("mypy", "--strict", "flows")
    assert res.returncode == 0, res.stdout + res.stderr


def _modules() -> list[str]:
    names = []
    for pkg in (twin_models, flows):
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
    return names


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
