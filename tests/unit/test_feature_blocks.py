"""The features sink's column blocks (issue 10, ARCHIVE7/ARCHIVE8) write the row path's files.

Windows become :class:`~flows.dataflow.sinks.feature_blocks.FeatureBlock` s (the sink makes one
per flush of records on its writer thread; it also accepts blocks); the sink concatenates them.
Each case compares the files with those of the row path (``archive_row`` per record).
"""

from __future__ import annotations

import math
import pickle
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.codec.record_fields import FEATURE_VECTOR
from flows.dataflow.sinks.archive import ParquetArchiveSink, write_records, write_rows
from flows.dataflow.sinks.feature_blocks import FeatureBlock, feature_blocks
from tests.unit.test_archive_columns import BOOKKEEPING, T, _features
from tests.unit.test_archive_features import _as_maps, _fleet
from tests.unit.test_serde import make_feature_vector
from twin_models.feature_map import feature_map
from twin_models.records import InputSpan


def _mixed() -> list[Any]:
    """Two kinds interleaved, spans (none, one, several, an int beyond int64), a dict window."""
    out = []
    for i, rec in enumerate(_fleet()):
        if i % 7 == 3:  # another kind: other names, some shared
            rec = replace(rec, features=feature_map({"pressure.mean": 2.0 + i, "vib.rms": -1.0 * i}))
        spans = [(), (InputSpan("file:a.csv", i, i + 3),),
                 (InputSpan("kafka:t:0", i, i + 1), InputSpan('sim:"q"\\', 2 * i, 2 * i + 9))][i % 3]
        out.append(replace(rec, inputs=spans))
    return out + _features()[:2]


def _files(root: Path) -> dict[str, pa.Table]:
    return {p.parent.name: pq.read_table(p).drop_columns(BOOKKEEPING)
            for p in sorted((root / "features").rglob("*.parquet"))}


def _same_as_rows(tmp_path: Path, records: list[Any], items: list[Any]) -> None:
    rows = [FEATURE_VECTOR.archive_row(r) for r in records]
    n = write_rows(tmp_path / "rows", "features", rows, "part-x", "r")
    assert write_records(tmp_path / "blocks", "features", items, "part-x", "r") == n
    want, got = _files(tmp_path / "rows"), _files(tmp_path / "blocks")
    assert list(got) == list(want)
    for day, data in got.items():
        assert data.schema == want[day].schema
        assert data.to_pylist() == want[day].to_pylist()


@pytest.mark.parametrize("batch", [1, 5, 64, 10_000])
def test_blocks_of_any_batch_size_write_the_row_paths_files(tmp_path: Path, batch: int) -> None:
    records = _mixed()
    blocks = [b for i in range(0, len(records), batch) for b in feature_blocks(records[i:i + batch])]
    assert sum(map(len, blocks)) == len(records)
    assert len({b.names for b in blocks}) == 3  # two kinds and the dict windows' names
    _same_as_rows(tmp_path, records, blocks)


def test_blocks_and_records_mixed_and_a_pickled_block(tmp_path: Path) -> None:
    records = _as_maps(_features()) + _fleet()
    blocks = feature_blocks(records[:40])
    again = pickle.loads(pickle.dumps(blocks[0]))  # a block crossing workers
    assert type(again) is FeatureBlock and again.names == blocks[0].names
    assert np.array_equal(again.values, blocks[0].values) and again.assets == blocks[0].assets
    _same_as_rows(tmp_path, records, [again, *blocks[1:], *records[40:100], *feature_blocks(records[100:])])


def test_a_blocks_values_are_its_windows_rows_in_arrival_order() -> None:
    """(windows, names): row i is window i's values in the block's name order, for FeatureMap
    windows (their rows joined) and for plain dict windows alike."""
    records = _as_maps(_fleet())[:40]
    block = feature_blocks(records)[0]
    assert block.values.shape == (40, 3) and block.names == tuple(records[0].features)
    assert np.array_equal(block.values, np.stack([r.features.row for r in records]), equal_nan=True)
    dicts = [replace(r, features=dict(r.features)) for r in records[:5]]
    again = feature_blocks(dicts)[0]
    assert np.array_equal(again.values, block.values[:5], equal_nan=True)
    # round 42: a block of feature maps keeps each window's row bytes as they are (no copy of
    # the flush before the sink's gather); the plain dicts' are one matrix
    assert type(block.rows) is list
    assert all(b is r.features.raw for b, r in zip(block.rows, records, strict=True))
    assert type(again.rows) is np.ndarray and again.rows is again.values


def test_an_int_beyond_int64_in_a_span_falls_back_to_the_same_text(tmp_path: Path) -> None:
    rec = replace(_fleet()[0], inputs=(InputSpan("file:x", 0, 2**70),))
    block = feature_blocks([rec])[0]
    assert block.span_last.dtype == object
    _same_as_rows(tmp_path, [rec], [block])


def test_the_sink_counts_windows_not_blocks(tmp_path: Path) -> None:
    """``batch_rows`` counts windows: a write of blocks flushes at the same size as records."""
    sink = ParquetArchiveSink(tmp_path, "features", batch_rows=100, flush_interval_s=1e9, run_id="r")
    part = sink.build_part("features_out_0", "w0", None)
    records = _fleet()  # 270 windows
    for i in range(0, len(records), 30):
        part.write_batch(feature_blocks(records[i:i + 30]))  # the sink's items: the blocks
    assert part.seq == 2  # flushed after 120 and 240 windows
    part.close()
    got = sum(pq.read_metadata(p).num_rows for p in (tmp_path / "features").rglob("*.parquet"))
    assert got == len(records)


def test_an_empty_feature_row_and_a_nan_stay_null(tmp_path: Path) -> None:
    base = make_feature_vector()
    empty = replace(base, window_start=T, window_end=T + timedelta(hours=1), features=feature_map({}))
    nan = replace(base, window_start=T + timedelta(hours=1), window_end=T + timedelta(hours=2),
                  features=feature_map({"vib.rms": math.nan}))
    _same_as_rows(tmp_path, [empty, nan], feature_blocks([empty, nan]))


def test_times_equal_arrows_microseconds_in_any_zone_and_in_runs() -> None:
    """Start/end are converted once per run of equal values: runs of one instant in several
    zones, naive (= UTC) next to aware, far dates; each equals Arrow's own conversion."""
    from datetime import UTC, datetime, timezone

    east, west = timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    starts = [at, at, at.astimezone(east), at.astimezone(west), at.replace(tzinfo=None),
              at.replace(tzinfo=None), at + timedelta(microseconds=1), at,
              datetime(1900, 1, 1, tzinfo=UTC), datetime(2262, 4, 11, tzinfo=east),
              (datetime(1970, 1, 1, tzinfo=UTC) - timedelta(microseconds=1)).replace(tzinfo=None)]
    base = make_feature_vector()
    recs = [replace(base, asset_id=f"a{i % 3}", window_start=s, window_end=s + timedelta(hours=1))
            for i, s in enumerate(starts)]
    block = feature_blocks(recs)[0]

    def arrow_us(values: list[Any]) -> list[int]:
        aware = [v if v.tzinfo is not None else v.replace(tzinfo=UTC) for v in values]
        return pa.array(aware, pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()

    assert block.start_us.tolist() == arrow_us(starts)
    assert block.end_us.tolist() == arrow_us([r.window_end for r in recs])
    assert len(set(block.start_us.tolist())) == 5  # the equal instants did fall together
