"""Archive files keep every row's columns, whatever the first row of the batch holds, with the
declared types whatever the batch's values."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.codec.archive_schema import BOOKKEEPING, file_columns
from flows.dataflow.sinks.archive import alert_row, feature_row, state_row, write_rows
from tests.unit.test_serde import make_alert, make_feature_vector, make_snapshot


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
    assert got == [{"asset_id": "p1", "n_records": 16, "temperature.mean": 40.0, "vib.rms": None},
                   {"asset_id": "p1", "n_records": 18, "temperature.mean": 41.0, "vib.rms": 0.147}]


def _written(root: Path, table: str) -> pa.Table:
    (path,) = (root / table).rglob("*.parquet")
    return pq.read_table(path)


def test_column_types_do_not_depend_on_the_values_of_a_batch(tmp_path: Path) -> None:
    """A batch in which no snapshot has a RUL or a defect (a healthy fleet) used to write those
    columns with Arrow's ``null`` type, and an alert batch without RUL likewise: every file's types
    depended on its values. They are now the declared ones (``schemas/archive/*.v1.json``)."""
    snaps = [replace(make_snapshot(), rul_s=None, rul_lower_s=None, rul_upper_s=None, defect=None,
                     n_windows=i) for i in range(3)]
    write_rows(tmp_path, "twin_state", [state_row(s) for s in snaps], "part-x")
    write_rows(tmp_path, "alerts", [alert_row(replace(make_alert(), rul_s=None))], "part-x")
    for table in ("twin_state", "alerts"):
        got = _written(tmp_path, table)
        declared = [("asset_id", "string"),
                    *((c.name, c.arrow) for c in (*file_columns(table), *BOOKKEEPING))]
        assert [(f.name, str(f.type)) for f in got.schema] == declared
    state = _written(tmp_path, "twin_state")
    assert state.column("rul_s").to_pylist() == [None] * 3
    assert state.column("defect").to_pylist() == [None] * 3


def test_a_fixed_table_refuses_an_undeclared_column(tmp_path: Path) -> None:
    row = {**state_row(make_snapshot()), "new_score": 1.0}
    with pytest.raises(ValueError, match="archive table 'twin_state' has no column 'new_score'"):
        write_rows(tmp_path, "twin_state", [row], "part-x")
    assert not list(tmp_path.rglob("*.parquet"))


def test_feature_columns_are_doubles_even_when_all_null(tmp_path: Path) -> None:
    rows = [{**feature_row(make_feature_vector()), "vib.kurtosis": None}]
    write_rows(tmp_path, "features", rows, "part-x")
    got = _written(tmp_path, "features")
    assert str(got.schema.field("vib.kurtosis").type) == "double"
    assert str(got.schema.field("n_records").type) == "int64"
