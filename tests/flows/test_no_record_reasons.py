"""Round 50 (LEFT50): a waveform file whose samples are all null said it ``holds no record (a header
only, or no row with a value)``, as if it had no rows. Input holding no record now says what its rows
held: frames of null samples (a reason of their own, ``null_frame``), non-finite values; a header
only, or only empty cells, say what they said."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.cli.main import main
from flows.dataflow.sources.files import ReadStats, read_records

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _frames(path: Path, samples: list[list[float | None]]) -> Path:
    n = len(samples)
    pq.write_table(pa.table({
        "timestamp": pa.array([T0 + timedelta(minutes=i) for i in range(n)]), "asset_id": ["b1"] * n,
        "sample_rate_hz": [25600.0] * n, "vib_h": pa.array(samples, pa.list_(pa.float32()))}), path)
    return path


def test_frames_of_null_samples_are_counted_apart(tmp_path: Path) -> None:
    path = _frames(tmp_path / "w.parquet", [[None] * 64, [1.0, None], [float("nan")] * 4, [1.0, 2.0]])
    stats = ReadStats()
    assert [f.samples.tolist() for f in read_records(path, stats=stats)] == [[1.0, 2.0]]
    assert stats.skipped == {"null_frame": 1, "non_finite_frame": 2}


@pytest.mark.parametrize("command", ["backtest", "replay"])
def test_input_of_null_frames_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    path = _frames(tmp_path / "w.parquet", [[None] * 64, [None] * 64])
    tail = (["--out", str(tmp_path / "o"), "--no-report"] if command == "backtest"
            else ["--brokers", "127.0.0.1:9"])
    assert main([command, str(path), "--no-progress", *tail]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"twin: error: input file {path} holds no record (2 frames whose samples are all null): "
        f"nothing to {command}"]
    nan = tmp_path / "nan.csv"
    nan.write_text("timestamp,value\n2026-01-01T00:00:00Z,NaN\n2026-01-01T00:01:00Z,\n")
    assert main([command, str(nan), str(path), "--no-progress", *tail]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "twin: error: none of the 2 input files holds a record (2 frames whose samples are all null, "
        f"1 empty cell, 1 NaN or infinite value): {nan}, {path}; nothing to {command}"]
