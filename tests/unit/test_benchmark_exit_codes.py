"""The quality benchmarks as commands: a missing dataset folder is one line naming it and exit 2
(``run_main``), never a traceback and never exit 1 (a message given to ``SystemExit`` alone)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.quality.common import REPO_ROOT


@pytest.mark.parametrize("script", ["femto", "ims", "cmapss", "nab"])
def test_a_missing_dataset_folder_is_one_line_and_exit_2(script: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    res = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "quality" / f"{script}.py"),
                          "--data", str(missing)], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path, check=False)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, res.stderr
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"{script}: ")
    assert str(missing) in lines[0]
