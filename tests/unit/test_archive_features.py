"""The sink's features files from FeatureMap rows are the row path's files (issue 10 round 3).

:func:`flows.dataflow.sinks.archive_features.feature_tables` stacks the windows' rows per key set
instead of reading their dicts (:mod:`flows.dataflow.sinks.archive_columns`). Each case writes the
same windows through the row path (``archive_row`` per record) and through the sink's
``write_records`` and compares every file: dates, column order, types, rows and their order, nulls.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.codec.record_fields import FEATURE_VECTOR
from flows.dataflow.sinks.archive import write_records, write_rows
from flows.dataflow.sinks.archive_columns import date_groups, records_table
from flows.dataflow.sinks.archive_features import feature_tables
from tests.unit.test_archive_columns import BOOKKEEPING, T, _features
from tests.unit.test_serde import make_event, make_feature_vector
from twin_models.feature_map import FeatureMap, feature_map


def _as_maps(records: list[Any]) -> list[Any]:
    """The windows whose values are all numbers as aggregate_window makes them (FeatureMap)."""
    return [r if None in r.features.values() else replace(r, features=feature_map(r.features))
            for r in records]


def _fleet() -> list[Any]:
    """One key set, 9 assets arriving in window order across midnight, a NaN, an inf, events."""
    base = make_feature_vector()
    out = []
    for w in range(30):
        for a in (3, 1, 8, 0, 5, 2, 7, 4, 6):
            start = T + timedelta(minutes=15 * w)
            values = {"vib.rms": 0.1 * a + w, "temperature.mean": 40.0 + w, "vib.kurtosis": 3.0}
            if (a + w) % 11 == 0:
                values["vib.kurtosis"] = math.nan if a % 2 else math.inf
            events = (make_event(kind="maintenance"),) if (a * w) % 17 == 5 else ()
            out.append(replace(base, asset_id=f"pump-{a:02d}", window_start=start,
                               window_end=start + timedelta(minutes=15), features=feature_map(values),
                               n_records=a + w, events=events))
    return out


def _files(root: Path) -> dict[str, pa.Table]:
    return {p.parent.name: pq.read_table(p).drop_columns(BOOKKEEPING)
            for p in sorted((root / "features").rglob("*.parquet"))}


@pytest.mark.parametrize("records",
                         [_fleet(), _as_maps(_features()), _features()[:2] + _as_maps(_features())],
                         ids=["one-key-set", "mixed-key-sets", "maps-and-dicts"])
def test_the_files_are_the_row_paths(tmp_path: Path, records: list[Any]) -> None:
    assert any(isinstance(r.features, FeatureMap) for r in records)
    rows = [FEATURE_VECTOR.archive_row(r) for r in records]
    n = write_rows(tmp_path / "rows", "features", rows, "part-x", "r")
    assert write_records(tmp_path / "records", "features", records, "part-x", "r") == n == 2
    want, got = _files(tmp_path / "rows"), _files(tmp_path / "records")
    assert list(got) == list(want) == ["date=2026-01-08", "date=2026-01-09"]
    for day, data in got.items():
        assert data.schema == want[day].schema
        assert data.to_pylist() == want[day].to_pylist()


def test_the_tables_are_the_columnar_paths_date_by_date() -> None:
    """Same Arrow tables as records_table per date group, in the same date order."""
    records = _as_maps(_features()) + _fleet()
    want = {d: records_table("features", part) for d, part in date_groups("features", records).items()}
    got = feature_tables(records)
    assert list(got) == list(want)
    for day, data in got.items():
        assert data.schema == want[day].schema
        assert data.to_pylist() == want[day].to_pylist()


def test_ties_keep_arrival_order_and_nulls_stay_nulls() -> None:
    first = _fleet()[0]
    again = replace(first, n_records=99, features=feature_map({**first.features, "vib.rms": math.inf}))
    table = feature_tables([first, again])["2026-01-08"]
    assert table.column("n_records").to_pylist() == [first.n_records, 99]
    assert table.column("vib.rms").to_pylist() == [first.features["vib.rms"], None]


def test_the_features_view_lists_its_columns_alike_whatever_the_files_order(tmp_path: Path) -> None:
    """Files order their open columns by first appearance in a write, and the view unites the
    files in path order: the same windows written in another order (as after a resume) must still
    give the same columns in the same order, and the same rows (a broker-down resume once read
    every value of a short window under another feature's name in a positional comparison)."""
    from flows.archive.query import query

    base = make_feature_vector()
    full = replace(base, asset_id="pump-01", window_start=T, window_end=T + timedelta(hours=1),
                   features=feature_map({"vib.rms": 1.0, "temp.mean": 40.0, "vib.kurtosis": 3.0}))
    short = replace(base, asset_id="pump-01", window_start=T + timedelta(hours=1),
                    window_end=T + timedelta(hours=2), features=feature_map({"vib.rms": 2.0}))
    views = []
    for name, batches in (("a", [[short], [full]]), ("b", [[full], [short]])):
        for i, batch in enumerate(batches):
            write_records(tmp_path / name, "features", batch, f"part-{i}", "r")
        views.append(query(tmp_path / name, "SELECT * EXCLUDE (run_id, _written_at) FROM features "
                                            "ORDER BY window_start"))
    (cols_a, rows_a), (cols_b, rows_b) = views
    assert cols_a == cols_b
    assert cols_a.index("temp.mean") < cols_a.index("vib.kurtosis") < cols_a.index("vib.rms")
    assert rows_a == rows_b


@pytest.mark.parametrize("windows", [0, 1, 255, 256, 257, 1000])
def test_the_sorted_columns_are_the_gathered_rows_transposed(windows: int) -> None:
    # round 14: gather and transpose fused, a chunk of windows at a time; chunk edges included
    from flows.dataflow.sinks.archive_features import _sorted_columns

    rng = np.random.default_rng(windows)
    rows = rng.standard_normal((windows, 7))
    rows[rng.random(rows.shape) < 0.05] = np.nan
    order = rng.permutation(windows)
    got = _sorted_columns(rows, order)
    assert got.flags.c_contiguous and got.shape == (7, windows)
    assert np.array_equal(got, rows[order].T, equal_nan=True)


@pytest.mark.parametrize(("windows", "width"), [(0, 3), (1, 3), (5461, 3), (5462, 3), (700, 50), (328, 50)])
def test_the_rows_bytes_gathered_in_pieces_are_the_sorted_columns(windows: int, width: int) -> None:
    # round 42: feature maps' rows gathered from their bytes a cache-sized piece at a time (no
    # joined copy of the flush first); piece edges (327 rows at 50 names, 5,461 at 3) included
    from flows.dataflow.sinks.archive_features import _gathered_columns, _sorted_columns

    rng = np.random.default_rng(windows + width)
    rows = rng.standard_normal((windows, width))
    rows[rng.random(rows.shape) < 0.05] = np.nan
    order = rng.permutation(windows)
    got = _gathered_columns([row.tobytes() for row in rows], order, width)
    assert got.flags.c_contiguous and got.shape == (width, windows)
    assert np.array_equal(got, _sorted_columns(rows, order), equal_nan=True)


@pytest.mark.parametrize("missing", [0.0, 0.03, 1.0])
def test_the_feature_values_array_has_a_null_for_each_value_not_finite(missing: float) -> None:
    # round 42: the validity bitmap packed by NumPy over the values' own buffer, not pa.array(mask=)
    from flows.dataflow.sinks.archive_features import _doubles

    rng = np.random.default_rng(7)
    flat = rng.standard_normal(1003)
    bad = rng.random(1003) < missing
    flat[bad] = rng.choice([np.nan, np.inf, -np.inf], int(bad.sum()))
    got = _doubles(flat)
    want = pa.array(flat, pa.float64(), mask=~np.isfinite(flat))
    assert got.type == pa.float64() and got.null_count == int(bad.sum())
    assert got.equals(want) and got.to_pylist() == want.to_pylist()
    for lo, n in ((0, 8), (3, 17), (997, 6)):  # the flow's columns are slices of it
        assert got.slice(lo, n).to_pylist() == want.slice(lo, n).to_pylist()
