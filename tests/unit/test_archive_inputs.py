"""The archive's ``inputs`` column built by Arrow's string kernels is the per-window text, byte for
byte (issue 10, ARCHIVE6): any number of spans per window, odd source names, large and negative
positions, and values Arrow refuses (the per-window fallback)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.codec.record_fields import FEATURE_VECTOR, spans_text
from flows.dataflow.sinks.archive import write_records, write_rows
from flows.dataflow.sinks.archive_inputs import inputs_column, source_codes
from tests.unit.test_archive_columns import BOOKKEEPING, T
from tests.unit.test_serde import make_feature_vector
from twin_models.feature_map import feature_map
from twin_models.records import InputSpan

SOURCES = ["kafka:twin.telemetry.scalar.v1:3", 'file:we"ird\\name.csv', "file:pümpe-ß.csv", "sim:seed=7",
           "file:tab\there\u2028.csv", ""]


def _spans(i: int, n: int) -> tuple[InputSpan, ...]:
    return tuple(InputSpan(SOURCES[(i + k) % len(SOURCES)], 10 * i - 7, 10 * i + 2 ** 40 + k)
                 for k in range(n))


CASES = {
    "one-span-each": [_spans(i, 1) for i in range(50)],
    "none": [() for _ in range(5)],
    "mixed": [_spans(i, i % 4) for i in range(60)],
    "several-each": [_spans(i, 3) for i in range(20)],
    "empty-write": [],
    "extremes": [(InputSpan("a", -(2 ** 63), 2 ** 63 - 1),), (InputSpan("b", 0, 0),)],
    # a live flush: one source for every window, equal text in distinct objects (one C pass)
    "one-source": [(InputSpan("".join(["sim:seed=", str(7)]), 188 * i, 188 * i + 187),) for i in range(40)],
    "one-odd-source-mixed": [tuple(InputSpan(SOURCES[1], 3 * i + k, 2 ** 40 - k) for k in range(i % 3))
                             for i in range(12)],
}


@pytest.mark.parametrize("spans", CASES.values(), ids=list(CASES))
def test_the_column_is_the_per_window_text(spans: list[tuple[InputSpan, ...]]) -> None:
    got = inputs_column(spans)
    assert got.type == pa.string()
    assert got.to_pylist() == [spans_text(s) for s in spans]


def test_kept_source_texts_follow_each_flushs_source() -> None:
    """The one-source path keeps each source's constant text (round 23): flushes of 150 distinct
    sources in turn (past the 64 kept, so the kept texts are dropped and made again), then the
    first ones again, each with the text of its own source, one or several spans per window."""
    names = [f"kafka:twin.{k}:{k % 7}" for k in range(150)]
    names += ["kafka:twin.0:0", 'file:"q".csv', "kafka:twin.1:1"]
    for k, source in enumerate(names):
        spans = [tuple(InputSpan(source, 5 * i + j, 5 * i + k + j) for j in range(1 + (k % 2) * (i % 3)))
                 for i in range(4)]
        assert inputs_column(spans).to_pylist() == [spans_text(s) for s in spans]


def test_source_codes_of_one_source_and_of_several() -> None:
    """One source in distinct string objects (as a flow's windows hold it) is one distinct value
    with every code 0; several keep their order of first appearance."""
    one = ["".join(["kafka:t:", str(0)]) for _ in range(5)]
    assert len({id(s) for s in one}) == 5
    distinct, codes = source_codes(one)
    assert distinct == ["kafka:t:0"] and codes.tolist() == [0] * 5
    distinct, codes = source_codes(["b", "a", "b", "c", "a"])
    assert distinct == ["b", "a", "c"] and codes.tolist() == [0, 1, 0, 2, 1]
    distinct, codes = source_codes([])
    assert distinct == [] and codes.tolist() == []


def test_values_arrow_refuses_fall_back_to_the_per_window_text() -> None:
    spans = [(InputSpan("a", 1, 2 ** 64),), (InputSpan("b", True, 3),), _spans(3, 2)]  # type: ignore[arg-type]
    assert inputs_column(spans).to_pylist() == [spans_text(s) for s in spans]


def _windows() -> list[Any]:
    base = make_feature_vector()
    out = []
    for w in range(8):
        for a in (2, 0, 1):
            start = T + timedelta(hours=4 * w)
            values = feature_map({"vib.rms": 0.1 * a + w})
            out.append(replace(base, asset_id=f"pump-{a}", window_start=start, features=values,
                               window_end=start + timedelta(hours=1), inputs=_spans(w + a, (w + a) % 3)))
    return out


def test_the_sinks_files_hold_the_row_paths_inputs(tmp_path: Path) -> None:
    records = _windows()
    n = write_rows(tmp_path / "rows", "features", [FEATURE_VECTOR.archive_row(r) for r in records], "p", "r")
    assert write_records(tmp_path / "recs", "features", records, "p", "r") == n == 3
    for rows_file in sorted((tmp_path / "rows" / "features").rglob("*.parquet")):
        recs_file = tmp_path / "recs" / rows_file.relative_to(tmp_path / "rows")
        want, got = (pq.read_table(f).drop_columns(BOOKKEEPING) for f in (rows_file, recs_file))
        assert got.schema == want.schema
        assert got.column("inputs").to_pylist() == want.column("inputs").to_pylist()
        assert any(len(v) > 2 for v in got.column("inputs").to_pylist())
