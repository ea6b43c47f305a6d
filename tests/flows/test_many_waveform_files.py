"""More waveform files than the process may hold open at once (round 49, HOSTILE49B).

Waveform files are streamed side by side, each holding its file open, so a backtest of ~1,000 of them
under the usual ``ulimit -n`` of 1,024 stopped on ``twin: error: [Errno 24] Too many open files:
'w924.parquet'``, as if that file were at fault. Now the line says what happened and what to do.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 96


def _limit() -> None:  # in the child, before it runs
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


def test_too_many_waveform_files_for_the_open_file_limit_say_so(tmp_path: Path) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(LIMIT + 20):
        times = pa.array([start + timedelta(minutes=10 * j) for j in range(2)], pa.timestamp("us", tz="UTC"))
        frames = pa.array([np.full(256, j, np.float32) for j in range(2)], pa.list_(pa.float32()))
        table = pa.table({"timestamp": times, "asset_id": [f"a{i}"] * 2, "sample_rate_hz": [25600.0] * 2,
                          "vib": frames})
        pq.write_table(table, tmp_path / f"w{i:03d}.parquet")
    files = sorted(str(p) for p in tmp_path.glob("w*.parquet"))
    cmd = [sys.executable, "-m", "flows.cli.main", "backtest", *files, "--out", str(tmp_path / "o"),
           "--no-report", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
                          preexec_fn=_limit)  # noqa: PLW1509 - a resource limit, no threads here
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("twin: error: input file "), lines[0]
    assert f"cannot be opened: too many files open at once ({LIMIT} allowed, `ulimit -n`)" in lines[0]
    assert "give fewer at a time, or raise the limit" in lines[0]
