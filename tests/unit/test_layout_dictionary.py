"""Number columns with few distinct values are dictionary-encoded, chosen per write (issue 10, ARCHIVE23).

:func:`flows.archive.layout.few_distinct_columns` picks, from a sample of each number column,
those whose dictionary encoding is estimated to halve their plain size (a constant, flatlined or
quantised sensor's features, the window's record count); the sink and the compaction pass the
rows to :func:`~flows.archive.layout.write_options`. Only the encoding changes: every file reads
back as the same Arrow table (values, schema, metadata) as one written with text-only dictionaries.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.archive import layout
from flows.archive.compact import compact_archive
from flows.dataflow.sinks.archive import write_records
from tests.unit.test_archive_reference import _fleet

DICTIONARY = {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}


def _chosen(columns: dict[str, np.ndarray]) -> list[str]:
    data = pa.table(columns)
    return layout.few_distinct_columns(data, layout.number_columns(data.schema))


@pytest.mark.parametrize("rows", [8, 192, 2400, 20_000])
def test_a_constant_column_is_chosen_and_an_all_distinct_one_is_not(rows: int) -> None:
    rng = np.random.default_rng(rows)
    chosen = _chosen({"flat": np.full(rows, 3.0), "noise": rng.random(rows),
                      "ramp": np.arange(rows, dtype=np.float64)})
    assert chosen == ["flat"]


@pytest.mark.parametrize("rows", [192, 2400, 20_000])
def test_quantised_and_integer_valued_columns_are_chosen(rows: int) -> None:
    rng = np.random.default_rng(7)
    chosen = _chosen({"steps": rng.integers(0, 8, rows) * 0.5, "count": rng.integers(20, 30, rows),
                      "small int": rng.integers(0, 16, rows).astype(np.int32),
                      "fine": rng.normal(size=rows)})
    assert chosen == ["steps", "count", "small int"]


def test_the_rule_stops_where_the_dictionary_no_longer_halves_the_column() -> None:
    # 192 rows (all sampled): d plain values + 192 indices of ceil(log2 d) bits <= half of 192 doubles
    rows = 192
    chosen = _chosen({f"d{d}": np.resize(np.arange(d, dtype=np.float64), rows) for d in (32, 64, 80, 96)})
    assert chosen == ["d32", "d64"]  # 64: 512 + 144 <= 768 bytes; 80: 640 + 168 > 768


def test_repeats_the_sample_cannot_see_are_not_chosen() -> None:
    # 2,400 rows cycling through 600 values: every 9th value is sampled, all distinct in the sample
    assert _chosen({"cycle": np.resize(np.arange(600, dtype=np.float64), 2400)}) == []


def test_nulls_count_as_distinct_and_one_row_chooses_nothing() -> None:
    assert _chosen({"gone": np.full(500, np.nan)}) == []
    assert _chosen({"flat": np.full(1, 2.0)}) == []
    assert layout.few_distinct_columns(pa.table({"name": ["a"] * 9}), []) == []


def test_write_options_add_the_chosen_columns_to_the_text_ones_and_never_the_bookkeeping() -> None:
    n = 300
    data = pa.table({"asset_id": ["a"] * n, "n_records": pa.array([26] * n, pa.int64()),
                     "vib.rms": np.linspace(0, 1, n), "vib.snr": np.zeros(n),
                     "run_id": ["r"] * n, "_written_at": pa.array([1] * n, pa.timestamp("us", tz="UTC")),
                     "_write_seq": pa.array([5] * n, pa.int64())})
    assert layout.write_options("features", data.schema)["use_dictionary"] == ["asset_id", "run_id"]
    chosen = layout.write_options("features", data.schema, data)["use_dictionary"]
    assert chosen == ["asset_id", "run_id", "n_records", "vib.snr"]


def _encodings(path: Path) -> dict[str, set[str]]:
    meta = pq.ParquetFile(path).metadata
    group = meta.row_group(0)
    return {group.column(i).path_in_schema: set(group.column(i).encodings) for i in range(meta.num_columns)}


def test_the_sinks_file_encodes_the_constant_feature_by_dictionary_and_reads_back_the_same(
        tmp_path: Path) -> None:
    records = _fleet(37, 6)  # vib.kurtosis is 3.0 in every window, vib.rms random
    write_records(tmp_path, "features", records, "part-test-w0-000000", "run-test")
    for path in sorted((tmp_path / "features").rglob("*.parquet")):
        enc = _encodings(path)
        assert enc["vib.kurtosis"] & DICTIONARY and enc["asset_id"] & DICTIONARY
        assert not enc["vib.rms"] & DICTIONARY and not enc["temperature.mean"] & DICTIONARY
        assert not enc["_write_seq"] & DICTIONARY
        written = pq.read_table(path)
        plain = tmp_path / "plain.parquet"
        layout.write_file(written, plain, layout.write_options("features", written.schema))
        assert not _encodings(plain)["vib.kurtosis"] & DICTIONARY
        again = pq.read_table(plain)
        assert written.equals(again, check_metadata=True)
        assert written.schema.equals(again.schema, check_metadata=True)


def test_the_compaction_chooses_from_the_merged_rows(tmp_path: Path) -> None:
    records = _fleet(20, 3)
    write_records(tmp_path, "features", records[:30], "part-a-w0-000000", "run-a")
    write_records(tmp_path, "features", records[30:], "part-b-w0-000000", "run-b")
    before = {p: pq.read_table(p) for p in (tmp_path / "features").rglob("*.parquet")}
    done, _ = compact_archive(tmp_path, date(2030, 1, 1), "compacted", ("features",))
    assert done and all(c.files == 2 for c in done)
    for c in done:
        enc = _encodings(c.path)
        assert enc["vib.kurtosis"] & DICTIONARY and not enc["vib.rms"] & DICTIONARY
        merged = pq.read_table(c.path)
        assert merged.num_rows == sum(t.num_rows for p, t in before.items() if p.parent == c.path.parent)
