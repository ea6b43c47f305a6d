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


@pytest.mark.parametrize(("returned", "code"),
                         [({"benchmark": "nab", "standard": 70.7}, 0), (None, 0), (0, 0), (3, 3)])
def test_a_main_that_returns_its_summary_exits_0_and_prints_nothing_more(
        returned: object, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    # round 34: nab.py, ims.py and kafka_sensor_faults.py return their summary dict, which
    # sys.exit printed a second time on stderr with exit 1 after a successful run
    from benchmarks.quality.common import run_main

    with pytest.raises(SystemExit) as exc:
        run_main(lambda: returned, "bench")
    assert exc.value.code == code
    assert capsys.readouterr().err == ""


def test_demo_sensors_answers_help_and_refuses_a_file_that_is_no_demo_summary(tmp_path: Path) -> None:
    # round 42: `demo_sensors.py --help` said "--help: no such file"; a JSON file that is not a demo's
    # summary ended in a KeyError traceback
    script = str(REPO_ROOT / "benchmarks" / "quality" / "demo_sensors.py")
    helped = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path, check=False)
    assert helped.returncode == 0 and "ON.json[:OFF.json]" in helped.stdout and "twin demo" in helped.stdout
    other = tmp_path / "other.json"
    other.write_text('{"faults": 3}')
    res = subprocess.run([sys.executable, script, str(other)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path, check=False)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith(f"demo_sensors: {other}: not a twin demo --json summary")
