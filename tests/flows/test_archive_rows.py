"""Archive files keep every row's columns, whatever the first row of the batch holds."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from flows.dataflow.sinks.archive import write_rows


def test_a_batch_starting_with_a_row_without_some_features_keeps_them_for_the_others(tmp_path: Path) -> None:
    """A window without vibration frames (downtime) first in a batch used to drop the vibration
    columns of every later row of that batch: the archive then depended on how rows fell into
    batches (flush timing), so two clean runs, or a run and its resume, disagreed."""
    rows = [{"asset_id": "p1", "date": "2026-01-08", "n_records": 16, "temperature.mean": 40.0},
            {"asset_id": "p1", "date": "2026-01-08", "n_records": 18, "temperature.mean": 41.0,
             "vib.rms": 0.147}]
    write_rows(tmp_path, "features", rows, "part-x")
    (path,) = (tmp_path / "features").rglob("*.parquet")
    got = pq.read_table(path).drop_columns(["run_id", "_written_at", "_write_seq"]).to_pylist()
    assert got == [{"n_records": 16, "temperature.mean": 40.0, "vib.rms": None},
                   {"n_records": 18, "temperature.mean": 41.0, "vib.rms": 0.147}]
