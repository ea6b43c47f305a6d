"""`make pyc` compiles the project's bytecode ahead (PYTHONDONTWRITEBYTECODE makes Python never cache it,
and every process compiled its imports at start-up), with hash-checked .pyc files: an edited source is
never run from stale bytecode."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _dry_run(target: str) -> str:
    """What ``make -B TARGET`` would run (nothing is run)."""
    return subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout


def _compile_line(out: str) -> str:
    lines = [line for line in out.splitlines() if "compileall" in line]
    assert len(lines) == 1, out
    return lines[0]


def test_the_targets_that_run_code_compile_the_project_first() -> None:
    for target in ("venv", "pyc", "unit", "demo", "bench"):
        line = _compile_line(_dry_run(target))
        assert "--invalidation-mode checked-hash" in line
        assert line.split()[-3:] == ["flows", "twin_models", "benchmarks"]
    assert "__pycache__" in _dry_run("clean")


def test_an_edited_source_is_not_run_from_the_compiled_bytecode(tmp_path: Path) -> None:
    pkg = tmp_path / "flows"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text("VALUE = 1\n")
    for name in ("twin_models", "benchmarks"):
        (tmp_path / name).mkdir()
    args = shlex.split(_compile_line(_dry_run("pyc")))
    args[0] = sys.executable  # the venv's python, however make names it
    subprocess.run(args, cwd=tmp_path, check=True, capture_output=True)
    pyc = pkg / "__pycache__" / f"mod.{sys.implementation.cache_tag}.pyc"
    assert pyc.exists()
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 3  # checked hash-based
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(tmp_path)}
    show = [sys.executable, "-S", "-v", "-c", "import flows.mod; print(flows.mod.VALUE)"]  # -S, cwd: not ours

    def run() -> tuple[str, bool]:
        out = subprocess.run(show, env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
        return out.stdout, f"code object from '{pyc}'" in out.stderr

    assert run() == ("1\n", True)  # from the compiled bytecode
    stat = (pkg / "mod.py").stat()
    (pkg / "mod.py").write_text("VALUE = 2\n")  # same size and modification time: a timestamp .pyc
    os.utime(pkg / "mod.py", ns=(stat.st_atime_ns, stat.st_mtime_ns))  # would still be taken as fresh
    assert run() == ("2\n", False)  # compiled from the edited source
