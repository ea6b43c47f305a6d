"""`twin simulate --write-truth` and `--write-metadata` write their JSON whole (round 41, TIDY41b).

Main (0d737e9): ``--write-truth`` wrote in place (``Path.write_text``), so a write failing midway (a
full disk; RLIMIT_FSIZE here, EFBIG) left a torn JSON file where the earlier one was, and
``--write-metadata`` wrote its own pid-named temporary file without clearing the name first, so a link
planted there had its target overwritten and was then renamed onto the output. Both now go through
``flows.app.out_dir.replace_file``. No broker: both files are written before connecting.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
from pathlib import Path

import pytest

from flows.cli.kafka_commands import write_fault_truth, write_fleet_metadata
from tests.flows.test_cli_errors import NO_BROKER, TWIN, one_error_line
from twin_models.simulator.fleet import FleetConfig

LIMIT = 4096  # bytes a process may write to one file: the truth and metadata files below are larger
OLD = '{"earlier": "file"}\n'


def _limited() -> None:  # in the child, before exec: its writes past LIMIT fail (EFBIG), not kill it
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _simulate_limited(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run([TWIN, "simulate", *NO_BROKER, "--assets", "40", *argv], env=env, text=True,
                          capture_output=True, timeout=120, check=False, preexec_fn=_limited)


@pytest.mark.parametrize("flag", ["--write-truth", "--write-metadata"])
def test_a_write_failing_midway_leaves_the_earlier_file_whole(tmp_path: Path, flag: str) -> None:
    out = tmp_path / "out.json"
    out.write_text(OLD)
    extra = ["--sensor-faults", "1"] if flag == "--write-truth" else []
    proc = _simulate_limited(*extra, flag, str(out))
    assert proc.returncode == 2, proc.stderr
    assert one_error_line(proc.stderr) == f"twin: error: {flag} {out}: cannot write it (File too large)"
    assert out.read_text() == OLD  # main, --write-truth: the first 4096 bytes of the new JSON, torn
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]  # no temporary left


@pytest.mark.parametrize("flag", ["--write-truth", "--write-metadata"])
def test_a_write_failing_midway_leaves_no_file_when_there_was_none(tmp_path: Path, flag: str) -> None:
    out = tmp_path / "out.json"
    extra = ["--sensor-faults", "1"] if flag == "--write-truth" else []
    proc = _simulate_limited(*extra, flag, str(out))
    assert proc.returncode == 2, proc.stderr
    assert list(tmp_path.iterdir()) == []  # main, --write-truth: a torn out.json


def _fleet() -> FleetConfig:
    return FleetConfig(n_assets=3, days=1.0, seed=5, sensor_fault_fraction=1.0)


@pytest.mark.parametrize("write", [write_fault_truth, write_fleet_metadata])
def test_a_link_planted_at_the_temporary_name_is_not_written_through(tmp_path: Path, write: object) -> None:
    """The temporary names are pid-derived (guessable): links are planted at this process's, main's
    ``.out.json.<pid>.tmp`` (``--write-metadata``) and ``replace_file``'s ``.out.tmp-<pid>.json``."""
    folder = tmp_path / "out"
    folder.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("not yours\n")
    pid = os.getpid()
    for name in (f".out.json.{pid}.tmp", f".out.tmp-{pid}.json"):
        (folder / name).symlink_to(victim)
    out = folder / "out.json"
    write(_fleet(), str(out))  # type: ignore[operator]
    assert victim.read_text() == "not yours\n"  # main, --write-metadata: the fleet's JSON
    assert not out.is_symlink() and json.loads(out.read_text())  # main: a link to the victim
    assert (folder / f".out.tmp-{pid}.json").is_symlink()  # round 42: no longer our name (each write's own)


def test_the_output_path_itself_a_link_is_replaced_not_written_through(tmp_path: Path) -> None:
    """Main: ``--write-truth`` wrote through a link at its own path (``truth.json -> ~/.bashrc``)."""
    victim = tmp_path / "victim.txt"
    victim.write_text("not yours\n")
    out = tmp_path / "truth.json"
    out.symlink_to(victim)
    n = write_fault_truth(_fleet(), str(out))
    assert victim.read_text() == "not yours\n"
    assert not out.is_symlink() and len(json.loads(out.read_text())["sensor_faults"]) == n > 0

