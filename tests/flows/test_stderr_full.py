"""A command whose stderr is on a full disk (round 37, DURABLE37; noticed by HOSTILE36).

Before (ae4dd4c): ``twin demo ... 2>/dev/full`` lost its warnings and notes silently and exited 0 (the
stderr filter's pump dropped every failed write), while under ``TWIN_DEBUG=1`` (no pump) the first
warning raised ENOSPC and stopped the demo before it ran (exit 1, nothing written). Now both run to
the end, keep their outputs and summary, and exit 74 (EX_IOERR): done, but lines were lost. A reader
gone (EIO, EPIPE) stays silence (tests/flows/test_stop_sighup.py); a failing command keeps its status.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from flows.cli.stderr import STDERR_LOST, _pump, lost_reset, lost_status
from tests.flows.test_hostile_stdout import NEEDS_FULL

ROOT = Path(__file__).resolve().parents[2]
ENTRY = "import sys; from flows.cli.entry import run; sys.exit(run())"  # as the console script


def _demo(out: Path, stdout: Path, *extra: str, debug: bool = False) -> int:
    env = {**os.environ, "TWIN_DEBUG": "1" if debug else "0"}
    with stdout.open("w") as so, open("/dev/full", "w") as full:
        return subprocess.run([sys.executable, "-c", ENTRY, "demo", "--assets", "1", "--days", "0.3",
                               "--no-progress", "--out", str(out),
                               *extra], stdout=so, stderr=full, cwd=ROOT, env=env, timeout=300,
                              check=False).returncode


@NEEDS_FULL
@pytest.mark.parametrize("debug", [False, True], ids=["filtered", "TWIN_DEBUG"])
def test_a_demo_whose_warning_cannot_be_written_finishes_and_exits_74(tmp_path: Path, debug: bool) -> None:
    out = tmp_path / "d"
    assert _demo(out, tmp_path / "first.txt", "--seed", "1", debug=debug) == 0  # nothing to say: 0
    # a second seed into the folder: "results will be mixed" goes to stderr, which is full
    assert _demo(out, tmp_path / "second.txt", "--seed", "2", debug=debug) == STDERR_LOST
    summary = (tmp_path / "second.txt").read_text()
    assert summary.lstrip().startswith("twinflow demo: 1 assets") and f"archive: {out}" in summary
    assert (out / "demo.png").is_file()


@NEEDS_FULL
def test_a_bad_argument_keeps_its_status_when_its_line_cannot_be_written(tmp_path: Path) -> None:
    assert _demo(tmp_path / "d", tmp_path / "o.txt", "--days", "-1") == 2


def _pumped(sink: int) -> int:
    lost_reset()
    read_fd, write_fd = os.pipe()
    pump = threading.Thread(target=_pump, args=(read_fd, sink), daemon=True)
    pump.start()
    os.write(write_fd, b"twin: warning: results will be mixed\n")
    os.close(write_fd)
    pump.join(10)
    return lost_status(0)


@NEEDS_FULL
def test_the_stderr_filter_notes_a_full_disk_and_not_a_gone_reader() -> None:
    fd = os.open("/dev/full", os.O_WRONLY)
    try:
        assert _pumped(fd) == STDERR_LOST
    finally:
        os.close(fd)
    gone_r, gone_w = os.pipe()
    os.close(gone_r)
    try:
        assert _pumped(gone_w) == 0
    finally:
        os.close(gone_w)
        lost_reset()
