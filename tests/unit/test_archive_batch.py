"""The ``features`` file made from its columns in one call is the file of the table path (round 26).

Issue 10 (archive write rate): the sink now hands each date's columns and schema
(:func:`~flows.dataflow.sinks.archive_features.block_columns`) to ``archive_files.write_file``, which appends
the bookkeeping columns and makes the file's table with one ``RecordBatch.from_arrays``, instead
of a ``Table.from_arrays`` and three ``append_column`` (the path every other table keeps). The
file must not change: written both ways with the same write stamp, the two files are the same
bytes (schema, metadata, encodings, statistics, values). The window bounds are viewed as
timestamps from int64 (:func:`~flows.dataflow.sinks.archive_features._times`): the same array as
``pa.array(us, timestamp)``; and the ``inputs`` text from int64 bounds equals the text from lists.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.codec.record_fields import spans_text
from flows.dataflow.sinks import archive_files
from flows.dataflow.sinks.archive_features import _TIME, _times, block_columns, block_tables
from flows.dataflow.sinks.archive_inputs import flat_inputs_column, source_codes
from flows.dataflow.sinks.feature_blocks import feature_blocks
from tests.unit.test_archive_reference import CASES, _stamped
from twin_models.records import InputSpan

STAMP = 1_780_000_000_123_456_789


@pytest.mark.parametrize("tails", [True, False], ids=["window-step-tails", "objects"])
@pytest.mark.parametrize("name", list(CASES))
def test_a_file_from_columns_is_the_bytes_of_the_table_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             name: str, tails: bool) -> None:
    records = [_stamped(r) for r in CASES[name]] if tails else CASES[name]
    blocks = feature_blocks(records)
    monkeypatch.setattr(archive_files, "write_seq", lambda: STAMP)  # both files get the same stamp
    columns = block_columns(blocks)
    tables = block_tables(blocks)
    assert list(columns) == list(tables)
    for date, (arrays, schema) in columns.items():
        archive_files.write_file(tmp_path / "columns", "features", date, (arrays, schema), "part-x", "run-x")
        archive_files.write_file(tmp_path / "table", "features", date, tables[date], "part-x", "run-x")
        new = (tmp_path / "columns" / "features" / f"date={date}" / "part-x.parquet").read_bytes()
        old = (tmp_path / "table" / "features" / f"date={date}" / "part-x.parquet").read_bytes()
        assert new == old, date
        assert pa.Table.from_batches([pa.RecordBatch.from_arrays(arrays, schema=schema)]).equals(tables[date])


def test_a_file_from_columns_has_the_bookkeeping_of_its_write(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The appended columns say who wrote the rows and when (one value per file), in the file
    schema's order, whatever the flush's size."""
    monkeypatch.setattr(archive_files, "write_seq", lambda: STAMP)
    date, (arrays, schema) = next(iter(block_columns(feature_blocks(CASES["fleet-across-midnight"])).items()))
    archive_files.write_file(tmp_path, "features", date, (arrays, schema), "part-y", "run-y")
    got = pq.read_table(tmp_path / "features" / f"date={date}" / "part-y.parquet")
    assert got.column_names == [*schema.names, "run_id", "_written_at", "_write_seq"]
    assert got.column("run_id").to_pylist() == ["run-y"] * len(arrays[0])
    assert got.column("_write_seq").to_pylist() == [STAMP] * len(arrays[0])
    assert got.column("_written_at").cast(pa.int64()).to_pylist() == [STAMP // 1000] * len(arrays[0])


@pytest.mark.parametrize("values", [
    [0], [-1, 1], [-62_135_596_800_000_000, 253_402_300_799_999_999],  # years 1 and 9999
    [1_780_000_000_000_000 + 3_600_000_000 * i for i in range(200)], [],
], ids=["epoch", "around-epoch", "year-1-and-9999", "a-flush", "none"])
def test_window_bounds_are_arrows_timestamps(values: list[int]) -> None:
    us = np.array(values, np.int64)
    got = _times(us)
    assert got.type == _TIME
    assert got.equals(pa.array(us, _TIME))
    assert got.to_pylist() == pa.array(values, pa.int64()).cast(_TIME).to_pylist()


def _spans(n: int) -> list[tuple[Any, ...]]:
    return [(InputSpan("kafka:t:0", 10 * i, 10 * i + 9),) for i in range(n)]


@pytest.mark.parametrize("kind", ["int64-arrays", "lists", "one-array-one-list", "object-arrays", "int32"])
def test_inputs_text_is_the_same_from_any_bounds(kind: str) -> None:
    spans = _spans(7)
    flat = [s for w in spans for s in w]
    first, last = [s.first for s in flat], [s.last for s in flat]
    given = {
        "int64-arrays": (np.array(first, np.int64), np.array(last, np.int64)),
        "lists": (first, last),
        "one-array-one-list": (np.array(first, np.int64), last),
        "object-arrays": (np.array(first, object), np.array(last, object)),
        "int32": (np.array(first, np.int32), np.array(last, np.int32)),
    }[kind]
    sources, codes = source_codes([s.source for s in flat])
    got = flat_inputs_column(np.ones(len(spans), np.int64), sources, codes, *given)
    assert got.to_pylist() == [spans_text(w) for w in spans]


def test_inputs_text_of_a_bound_beyond_int64_is_the_per_window_text() -> None:
    spans = [replace(w[0], last=2**64 + 7) if i == 2 else w[0] for i, w in enumerate(_spans(5))]
    first = np.array([s.first for s in spans], object)
    last = np.array([s.last for s in spans], object)
    sources, codes = source_codes([s.source for s in spans])
    got = flat_inputs_column(np.ones(len(spans), np.int64), sources, codes, first, last)
    assert got.to_pylist() == [spans_text((s,)) for s in spans]
