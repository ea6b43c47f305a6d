"""A few records' archive table (round 27, SMALLFILE27): sorted in Python and converted by one
struct ``pa.array``, the same table and the same file bytes as Arrow's sort and a conversion per
column (``records_columns`` above :data:`~flows.dataflow.sinks.archive_columns.SMALL` records)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from flows.codec.archive_schema import BOOKKEEPING
from flows.dataflow.sinks import archive, archive_columns, archive_files
from flows.dataflow.sinks.archive_columns import (
    SMALL,
    _python_order,
    _sort_keys,
    records_columns,
    records_file,
)
from tests.factories import recommendation
from tests.unit.test_serde import make_alert, make_snapshot
from tests.whatif_samples import make_checkpoint
from twin_models.records import ChannelQuality

T = datetime(2026, 1, 8, 22, tzinfo=UTC)
EAST = timezone(timedelta(hours=5))
# text that sorts differently by code point than by case or by UTF-16 units; two ids per asset
ASSETS = ["p2", "P1", "p1", "é", "z", "\uffff", "\U0001f600", "", "p1 "]


def _spread(record: Any, field: str, n: int) -> list[Any]:
    """``n`` copies of ``record`` over ASSETS, some on the same (asset, time), some at the same
    instant written in another zone, some with a later wall clock but an earlier instant."""
    out = []
    for i in range(n):
        when = T + timedelta(minutes=(i * 7) % 5)
        if i % 3 == 1:
            when = when.astimezone(EAST)  # same instant, another zone
        if i % 4 == 3:
            when = (T - timedelta(minutes=i)).astimezone(EAST)  # earlier instant, later wall clock
        out.append(replace(record, asset_id=ASSETS[i % len(ASSETS)], **{field: when}))
    return out


RECORDS = {
    "alerts": (make_alert(), "timestamp"),
    "twin_state": (make_snapshot(), "window_start"),
    "recommendations": (recommendation(), "timestamp"),
    "damage_state": (make_checkpoint(), "timestamp"),
    "data_quality": (ChannelQuality("pump-001", "vib", T, "bad", "flatline", "no change"), "timestamp"),
}
CASES = [(table, n) for table in RECORDS for n in (1, 2, 5, SMALL - 1)]


def _arrow_path(table: str, records: list[Any],
                monkeypatch: pytest.MonkeyPatch) -> tuple[list[pa.Array], pa.Schema]:
    with monkeypatch.context() as m:
        m.setattr(archive_columns, "SMALL", 0)
        return records_columns(table, records)


@pytest.mark.parametrize(("table", "n"), CASES)
def test_a_few_records_give_the_columns_arrow_gives(table: str, n: int,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    record, field = RECORDS[table]
    records = _spread(record, field, n)
    assert _python_order(table, records) is not None  # the small path is the one taken
    made = records_file(table, records)
    assert callable(made)  # a FileTable: the cells and bookkeeping converted at the write
    small = made("run-1", 1_790_000_000_000_000_000)
    kept = small.schema.names[:-len(BOOKKEEPING)]
    assert small.schema.names[len(kept):] == [c.name for c in BOOKKEEPING]
    arrays, schema = small.select(kept).columns, small.select(kept).schema
    want_arrays, want_schema = _arrow_path(table, records, monkeypatch)
    assert schema.equals(want_schema, check_metadata=True)
    assert [a.type for a in arrays] == [a.type for a in want_arrays]
    assert pa.table(arrays, schema=schema).equals(pa.table(want_arrays, schema=want_schema))


@pytest.mark.parametrize(("table", "n"), CASES)
def test_a_few_records_are_written_as_the_same_bytes(tmp_path: Path, table: str, n: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    record, field = RECORDS[table]
    records = _spread(record, field, n)
    monkeypatch.setattr(archive_files, "write_seq", lambda: 1_790_000_000_000_000_000)
    archive.write_records(tmp_path / "small", table, records, "part-x", "run-1")
    monkeypatch.setattr(archive_columns, "SMALL", 0)
    archive.write_records(tmp_path / "arrow", table, records, "part-x", "run-1")
    small = sorted(p.relative_to(tmp_path / "small") for p in (tmp_path / "small").rglob("*.parquet"))
    assert small == sorted(p.relative_to(tmp_path / "arrow") for p in (tmp_path / "arrow").rglob("*.parquet"))
    assert small
    for rel in small:
        assert (tmp_path / "small" / rel).read_bytes() == (tmp_path / "arrow" / rel).read_bytes()


@pytest.mark.parametrize("n", [2, 3, 9, 40])
def test_python_orders_the_rows_as_arrow_does(n: int) -> None:
    records = _spread(make_alert(), "timestamp", n)
    assert _python_order("alerts", records) == _sort_keys("alerts", records)[2]


def test_ties_keep_their_arrival_order() -> None:
    first = replace(make_alert(), asset_id="a", timestamp=T, sequence=1)
    records = [replace(first, asset_id="b"), first, replace(first, sequence=2), replace(first, sequence=3)]
    assert _python_order("alerts", records) == [1, 2, 3, 0] == _sort_keys("alerts", records)[2]


@pytest.mark.parametrize("records", [
    [replace(make_alert(), asset_id=None), make_alert()],
    [replace(make_alert(), timestamp=T), replace(make_alert(), timestamp=T.replace(tzinfo=None))],
], ids=["a null asset next to an asset", "naive next to aware"])
def test_what_python_cannot_compare_is_sorted_by_arrow(records: list[Any],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert _python_order("alerts", records) is None
    try:
        want_arrays, want_schema = _arrow_path("alerts", records, monkeypatch)
    except (pa.ArrowException, TypeError, ValueError) as exc:  # Arrow refuses it: so does the sink
        with pytest.raises(type(exc)):
            records_columns("alerts", records)
        return
    arrays, schema = records_columns("alerts", records)
    assert pa.table(arrays, schema=schema).equals(pa.table(want_arrays, schema=want_schema))


def _columns_file(table: str, records: list[Any], run_id: str | None, seq: int) -> pa.Table:
    """The file's table as the columns' path makes it: ``records_columns`` and the sink's
    bookkeeping arrays, one ``RecordBatch.from_arrays``."""
    arrays, schema = records_columns(table, records)
    arrays = [*arrays, *archive_files.bookkeeping_arrays(len(arrays[0]), run_id, seq)]
    full = archive_files.file_schema(schema)
    return pa.Table.from_batches([pa.RecordBatch.from_arrays(arrays, schema=full)])


@pytest.mark.parametrize("run_id", ["run-1", None], ids=["run id", "no run id"])
@pytest.mark.parametrize(("table", "n"), CASES)
def test_a_few_records_file_converts_its_bookkeeping_with_its_cells(table: str, n: int,
                                                                    run_id: str | None) -> None:
    """Round 28 (SMALLFILE28): below SMALL records the file's table, bookkeeping included, is made by
    one struct conversion at its write; the same table (values, nulls, zones, schema) as the columns
    and three repeated bookkeeping scalars."""
    record, field = RECORDS[table]
    records = _spread(record, field, n)
    made = records_file(table, records)
    assert callable(made)
    for seq in (1_790_000_000_123_456_789, 1):
        got = made(run_id, seq)
        want = _columns_file(table, records, run_id, seq)
        assert got.schema.equals(want.schema, check_metadata=True)
        assert got.equals(want)
        assert got.column("_write_seq").to_pylist() == [seq] * n
        assert got.column("run_id").to_pylist() == [run_id] * n


@pytest.mark.parametrize("table", list(RECORDS))
def test_many_records_are_columns_the_sink_completes(table: str) -> None:
    """At SMALL records and more, ``records_file`` hands the sink the columns' path's columns."""
    record, field = RECORDS[table]
    records = _spread(record, field, SMALL)
    arrays, schema = records_file(table, records)  # type: ignore[misc]
    want_arrays, want_schema = records_columns(table, records)
    assert schema.equals(want_schema)
    assert pa.table(arrays, schema=schema).equals(pa.table(want_arrays, schema=want_schema))


@pytest.mark.parametrize("n", [1, 5])
def test_a_few_records_without_a_run_id_are_written_as_the_same_bytes(
        tmp_path: Path, n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file without a run id (``write_rows``' default) has a null ``run_id`` either way."""
    records = _spread(make_alert(), "timestamp", n)
    monkeypatch.setattr(archive_files, "write_seq", lambda: 1_790_000_000_000_000_000)
    archive.write_records(tmp_path / "small", "alerts", records, "part-x", None)
    monkeypatch.setattr(archive_columns, "SMALL", 0)
    archive.write_records(tmp_path / "arrow", "alerts", records, "part-x", None)
    files = sorted(p.relative_to(tmp_path / "small") for p in (tmp_path / "small").rglob("*.parquet"))
    assert files
    for rel in files:
        assert (tmp_path / "small" / rel).read_bytes() == (tmp_path / "arrow" / rel).read_bytes()
