"""A history Parquet file whose footer reads but one of its pages is damaged (round 49, HOSTILE49B).

The footer (schema, row groups) is read first and was fine, so the file was taken; the damaged page
failed only when its rows were read, with Arrow's own text: ``twin: error: Couldn't deserialize
thrift: ... Deserializing page header failed.``, naming no file (among several inputs, which?) nor
saying that the file is damaged. A file cut short or rewritten while a backtest reads it fails the
same way. Now the reader says ``<file>: is not a readable Parquet file past row N: <Arrow's text>``.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.dataflow.sources.readers import FileFormatError, read_records

START = datetime(2024, 1, 1, tzinfo=UTC)


def _damage(path: Path, group: int, column: int) -> None:
    """Overwrite the first bytes of a data page (its page header) with 0xff."""
    offset = pq.ParquetFile(path).metadata.row_group(group).column(column).data_page_offset
    data = bytearray(path.read_bytes())
    data[offset:offset + 40] = b"\xff" * 40
    path.write_bytes(bytes(data))


def scalar_table(path: Path, rows: int = 4000) -> Path:
    times = pa.array([START + timedelta(seconds=i) for i in range(rows)], pa.timestamp("us", tz="UTC"))
    values = np.random.default_rng(1).normal(40.0, 1.0, rows)
    table = pa.table({"timestamp": times, "asset_id": ["p1"] * rows, "temperature": values})
    pq.write_table(table, path, row_group_size=500)
    return path


def waveform_file(path: Path, rows: int = 40) -> Path:
    rng = np.random.default_rng(2)
    times = [START + timedelta(minutes=i) for i in range(rows)]
    table = pa.table({
        "timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
        "asset_id": ["p1"] * rows,
        "sample_rate_hz": [25600.0] * rows,
        "vib": pa.array([rng.normal(0, 0.3, 1024).astype(np.float32) for _ in range(rows)],
                        pa.list_(pa.float32())),
    })
    pq.write_table(table, path, row_group_size=10)
    return path


def _twin_backtest_err(tmp_path: Path, *inputs: Path) -> str:
    """``twin backtest`` of ``inputs`` as its own process: exit 2, and its stderr. Not in-process: the
    engine's panic text goes to descriptor 2, which ``twin`` filters (in-process, the engine could
    print it to a test's captured ``sys.stderr`` now and then, round 49's merge; round 50 moved the
    scalar case here too)."""
    argv = ["backtest", *map(str, inputs), "--out", str(tmp_path / "o"), "--no-report", "--no-progress"]
    proc = subprocess.run([str(Path(sys.executable).parent / "twin"), *argv], capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.returncode == 2, proc.stderr
    return proc.stderr


@pytest.mark.parametrize("column", [0, 2], ids=["timestamp", "values"])
def test_a_damaged_page_of_a_scalar_table_names_the_file(tmp_path: Path, column: int) -> None:
    good = scalar_table(tmp_path / "good.parquet")
    bad = scalar_table(tmp_path / "bad.parquet")
    _damage(bad, 5, column)
    err = _twin_backtest_err(tmp_path, good, bad)
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"twin: error: input file {bad}: is not a readable Parquet file past row "), err


@pytest.mark.parametrize("column", [0, 3], ids=["timestamp", "samples"])
def test_a_damaged_page_of_a_waveform_file_is_a_file_format_error_naming_it(tmp_path: Path,
                                                                             column: int) -> None:
    bad = waveform_file(tmp_path / "wave.parquet")
    _damage(bad, 2, column)
    with pytest.raises(FileFormatError, match="is not a readable Parquet file past row") as exc:
        list(read_records(bad))
    assert exc.value.path == bad


def test_a_damaged_page_of_a_waveform_backtest_names_the_file(tmp_path: Path) -> None:
    """The frames are read within the dataflow engine: the one line is the reader's error, not the
    Arrow error it was raised ``from None`` over (``flows.cli.stderr.engine_cause``)."""
    bad = waveform_file(tmp_path / "wave.parquet")
    _damage(bad, 2, 3)
    err = _twin_backtest_err(tmp_path, bad)
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"twin: error: input file {bad}: is not a readable Parquet file past row "), err
