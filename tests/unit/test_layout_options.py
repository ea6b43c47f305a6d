"""The layout's write options are kept per schema (issue 10, ARCHIVE11) and are still each
schema's own: same names with other types, copies a caller may change, the row group size read
at every call; the sink's file schema (bookkeeping appended) is kept per equal schema."""

from __future__ import annotations

import pyarrow as pa
import pytest

from flows.archive import layout
from flows.dataflow.sinks import archive as sink

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
    full = sink._file_schema(a)
    assert sink._file_schema(b) is full
    written = sink._bookkeeping(pa.Table.from_pylist([], schema=a), "run", 1).schema
    assert full.equals(written)
    other = sink._file_schema(_schema(pa.string()).remove(3))
    assert other is not full and other.field("x").type == pa.string()
