"""The layout's write options are kept per schema (issue 10, ARCHIVE11) and are still each
schema's own: same names with other types, copies a caller may change, the row group size read
at every call; the sink's file schema (bookkeeping appended) is kept per equal schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.archive import layout
from flows.dataflow.sinks import archive_files
from flows.dataflow.sinks.archive import write_records
from tests.unit.test_archive_columns import _alerts, _features, _snapshots

TS = pa.timestamp("us", tz="UTC")


def _schema(x: pa.DataType) -> pa.Schema:
    return pa.schema([("asset_id", pa.string()), ("window_start", TS), ("x", x), ("run_id", pa.string())])


def test_same_names_other_types_get_their_own_lists() -> None:
    doubles, texts = _schema(pa.float64()), _schema(pa.string())
    first = layout.write_options("features", doubles)
    assert first["use_dictionary"] == ["asset_id", "run_id"]
    assert layout.write_options("features", texts)["use_dictionary"] == ["asset_id", "x", "run_id"]
    assert layout.write_options("features", doubles) == first
    assert layout.write_options("twin_state", doubles)["write_statistics"] == \
        layout.statistics_columns("twin_state", doubles)


def test_kept_lists_are_copied_and_the_row_group_size_is_read_each_call(
        monkeypatch: pytest.MonkeyPatch) -> None:
    schema = _schema(pa.float64())
    mine = layout.write_options("features", schema)
    mine["use_dictionary"].append("x")
    mine["write_statistics"].clear()
    again = layout.write_options("features", schema)
    assert again["use_dictionary"] == ["asset_id", "run_id"]
    assert again["write_statistics"] == ["asset_id", "window_start", "run_id"]
    monkeypatch.setattr(layout, "ROW_GROUP_ROWS", 24)
    assert layout.write_options("features", schema)["row_group_size"] == 24
    assert layout.write_options("features", schema)["write_batch_size"] == 24


def test_the_sink_keeps_one_file_schema_per_equal_schema() -> None:
    a, b = _schema(pa.float64()).remove(3), _schema(pa.float64()).remove(3)  # equal, distinct objects
    full = archive_files.file_schema(a)
    assert archive_files.file_schema(b) is full
    written = archive_files.bookkeeping(pa.Table.from_pylist([], schema=a), "run", 1).schema
    assert full.equals(written)
    other = archive_files.file_schema(_schema(pa.string()).remove(3))
    assert other is not full and other.field("x").type == pa.string()


def test_twin_state_json_text_has_no_statistics_and_its_distinct_text_no_dictionary(tmp_path: Path) -> None:
    """A window's context, top features and lineage are nearly all distinct JSON text: written
    plain; no query prunes on a JSON text's min/max: none written (round 28). The repeating
    quality states keep their dictionary; the other columns keep theirs and their statistics;
    ``alerts`` keeps the defaults."""
    write_records(tmp_path, "twin_state", _snapshots(), "part-x", "r")
    write_records(tmp_path, "alerts", _alerts() * 3, "part-x", "r")
    files = sorted((tmp_path / "twin_state").rglob("*.parquet"))
    assert files
    for path in files:
        chunks = _chunks(path)
        for name in ("top_features", "context", "lineage"):
            assert "RLE_DICTIONARY" not in chunks[name].encodings, name
        for name in ("top_features", "context", "lineage", "data_quality"):
            assert not chunks[name].is_stats_set, name
        for name in ("asset_id", "data_quality", "evidence", "condition", "run_id"):
            assert "RLE_DICTIONARY" in chunks[name].encodings, name
        for name in ("asset_id", "window_start", "timestamp", "condition", "evidence", "drift", "run_id"):
            assert chunks[name].is_stats_set, name
    for path in sorted((tmp_path / "alerts").rglob("*.parquet")):
        chunks = _chunks(path)
        assert all("RLE_DICTIONARY" in chunks[n].encodings and chunks[n].is_stats_set
                   for n in ("top_features", "lineage"))



def test_features_inputs_is_written_as_json_text(tmp_path: Path) -> None:
    """A window's ``inputs`` (its input ranges, JSON text) is distinct per window: no dictionary and
    no statistics, as twin_state's JSON text (round 29: ~8 % less write CPU on 100-asset files).
    The other text columns keep their dictionary and the named columns their statistics."""
    write_records(tmp_path, "features", _features(), "part-x", "r")
    files = sorted((tmp_path / "features").rglob("*.parquet"))
    assert files
    for path in files:
        chunks = _chunks(path)
        assert "RLE_DICTIONARY" not in chunks["inputs"].encodings
        assert not chunks["inputs"].is_stats_set
        for name in ("asset_id", "events", "run_id"):
            assert "RLE_DICTIONARY" in chunks[name].encodings, name
        for name in ("asset_id", "window_start", "window_end", "n_records", "events", "run_id"):
            assert chunks[name].is_stats_set, name

def _chunks(path: Path) -> dict[str, Any]:
    group = pq.ParquetFile(path).metadata.row_group(0)
    return {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}


def test_float_columns_are_written_uncompressed_and_every_other_column_with_snappy(tmp_path: Path) -> None:
    """Round 41 (ARCHIVE41): the sink's files hold their float columns (features, scores, RULs)
    without snappy, every other column with it; the rows read back are the records' (the row
    path's table: same values, nulls and order)."""
    from flows.dataflow.sinks.archive import feature_row, state_row, write_rows

    feats, snaps = _features(), _snapshots()
    write_records(tmp_path / "cols", "features", feats, "part-x", "r")
    write_records(tmp_path / "cols", "twin_state", snaps, "part-x", "r")
    write_rows(tmp_path / "rows", "features", list(map(feature_row, feats)), "part-x", "r")
    write_rows(tmp_path / "rows", "twin_state", list(map(state_row, snaps)), "part-x", "r")
    for table in ("features", "twin_state"):
        files = sorted((tmp_path / "cols" / table).rglob("*.parquet"))
        assert files
        floats = 0
        for path in files:
            schema = pq.read_schema(path)
            for name, chunk in _chunks(path).items():
                is_float = pa.types.is_floating(schema.field(name).type)
                floats += is_float
                assert chunk.compression == ("UNCOMPRESSED" if is_float else "SNAPPY"), (table, name)
            other = tmp_path / "rows" / path.relative_to(tmp_path / "cols")
            drop = ["_written_at", "_write_seq"]
            assert pq.read_table(path).drop_columns(drop).equals(pq.read_table(other).drop_columns(drop))
        assert floats > len(files)  # each file has float columns


def test_write_options_name_a_codec_for_every_column() -> None:
    """Given a mapping, Arrow writes a column it does not name uncompressed: every column is named."""
    schema = pa.schema([*_schema(pa.float64()), ("f32", pa.float32()), ("n", pa.int64())])
    codecs = layout.write_options("features", schema)["compression"]
    assert codecs == {"asset_id": "snappy", "window_start": "snappy", "x": "none", "run_id": "snappy",
                      "f32": "none", "n": "snappy"}
    codecs["x"] = "gzip"  # a copy: the kept one unchanged
    assert layout.write_options("features", schema)["compression"]["x"] == "none"
