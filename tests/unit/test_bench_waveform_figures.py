"""bench_waveform's figures: CPU per frame and minor page faults per frame (round 47: the floor's
bimodality on the AMD VM was page faults, so every floor and the run report them)."""

from __future__ import annotations

import mmap
import os
import resource
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_waveform  # noqa: E402


def test_figures_give_faults_per_frame_and_leave_uncounted_ones_none() -> None:
    f = bench_waveform.figures(0.5, 1000, 3000)
    assert f["ms_per_frame"] == 0.5
    assert f["frames_per_cpu_s"] == 2000.0
    assert f["channels_per_core"] == 320.0  # 2000 frames/s over 6.25 frames/s per 25.6 kHz channel
    assert f["faults_per_frame"] == 3.0
    assert bench_waveform.figures(0.5, 1000, None)["faults_per_frame"] is None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_cpu_s_reads_the_process_minor_faults_as_they_grow() -> None:
    _, before = bench_waveform._cpu_s(os.getpid())
    assert before >= resource.getrusage(resource.RUSAGE_SELF).ru_minflt - 1000  # same counter, all threads
    pages = 2048
    with mmap.mmap(-1, pages * mmap.PAGESIZE) as area:  # fresh anonymous pages: one fault each, touched
        for i in range(pages):
            area[i * mmap.PAGESIZE] = 1
        _, after = bench_waveform._cpu_s(os.getpid())
    assert after - before >= pages // 2  # the kernel may map a few together; most fault one by one


@pytest.mark.parametrize(("argv", "line"), [
    (["--assets", "0"], "--assets 0: must be at least 1"),
    (["--frames", "0"], "--frames 0: must be at least 1"),
    (["--frames", "-5"], "--frames -5: must be at least 1"),
    (["--batch", "0"], "--batch 0: must be at least 1"),
    (["--seed", "-1"], "--seed -1: must be 0 or more"),
    (["--frame-interval-s", "nan"], "--frame-interval-s nan: must be a number of seconds above 0"),
    (["--frame-interval-s", "0"], "--frame-interval-s 0.0: must be a number of seconds above 0"),
    # round 49 (HOSTILE49): no upper bound, each a traceback or a fleet no memory holds
    (["--frames", str(10**20)],
     f"--frames {10**20} of 8 asset(s) every 60 s: 8.681e+15 simulated days, at most 3650"),
    (["--frame-interval-s", "1e300"],
     "--frames 12000 of 8 asset(s) every 1e+300 s: 1.736e+298 simulated days, at most 3650"),
    (["--assets", "99999999999"], "--assets 99999999999: must be at most 10000"),
    (["--seed", str(2**32)], "--seed 4294967296: must be at most 4294967295"),
])
def test_a_bad_argument_is_one_line_and_exit_2_before_any_broker(
        argv: list[str], line: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Round 48 (HOSTILE48): each was a traceback (ZeroDivisionError, the simulator's or ``islice``'s
    ValueError) after a broker had been started, or (``--batch 0``) a run of batches of one frame."""
    def no_broker() -> None:
        msg = "a broker was started for arguments that cannot be measured"
        raise AssertionError(msg)

    monkeypatch.setattr(bench_waveform, "broker", no_broker)
    with pytest.raises(SystemExit) as exit_:
        bench_waveform.main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err == f"bench_waveform: {line}\n"
