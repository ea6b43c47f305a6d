"""Table readers on pyarrow's CSV reader: streaming, bounded sorting, line numbers that name the cell."""

from __future__ import annotations

import gzip
import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.dataflow.sources.files import FileFormatError, ReadStats, merge_files, read_records
from flows.dataflow.sources.readers import batches, tables
from twin_models.records import ScalarSample

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def _table(path: Path, rows: list[tuple[int, str, float]]) -> Path:
    """A scalar table ``timestamp,asset_id,temp`` with times in seconds after T0."""
    body = [f"{(T0 + timedelta(seconds=s)).isoformat()},{a},{v}" for s, a, v in rows]
    lines = ["timestamp,asset_id,temp", *body]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_unordered_table_over_several_spilled_runs_comes_out_in_stable_time_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tables, "RUN_ROWS", 50)  # 1000 rows -> 20 sorted runs, spilled and merged
    monkeypatch.setattr(tables, "KEEP_ROWS", 50)  # and read a second time to emit
    monkeypatch.setattr(tables, "SPILL_ROWS", 7)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    rng = random.Random(4)
    rows = [(rng.randrange(300), f"p{i % 3}", float(i)) for i in range(1000)]  # many equal times
    path = _table(tmp_path / "shuffled.csv", rows)
    stats = ReadStats()
    records = read_records(path, stats=stats)
    recs = [next(records)]
    assert len(list(tmp_path.glob("twin-sort-*/run-*.arrow"))) == 20  # sorted runs on disk while merging
    recs += records
    expected = sorted(rows, key=lambda r: r[0])  # stable: equal times keep file order
    assert [(r.timestamp, r.asset_id, r.value) for r in recs] == [
        (T0 + timedelta(seconds=s), a, v) for s, a, v in expected]
    assert stats.reordered and stats.rows == stats.records == 1000
    assert not list(tmp_path.glob("twin-sort-*"))  # removed at the end


def test_ordered_table_is_streamed_records_are_made_while_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[int] = []

    class Counted(ScalarSample):
        def __init__(self, *args: object) -> None:
            made.append(1)
            super().__init__(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(tables, "ScalarSample", Counted)
    monkeypatch.setattr(tables, "KEEP_ROWS", 100)  # a "large" file: streamed by a second pass
    monkeypatch.setattr(batches, "BLOCK_BYTES", 4096)  # ~100 rows a block
    path = _table(tmp_path / "ordered.csv", [(s, "p1", float(s)) for s in range(5000)])
    records = read_records(path)
    first = next(records)
    assert first.value == 0.0 and 1 <= len(made) <= 200  # the file was checked, one block's records made
    assert sum(1 for _ in records) == 4999 and len(made) == 5000


CASES = [
    # a quoted note spanning lines, a blank line and a row of empty cells count as lines
    ('timestamp,asset_id,event,note\n2024-05-01,p1,install,"two\nlines"\n\n,,,\n2024-05-02,p1,boom,\n',
     "line 6, column 'event': 'boom' is not an event kind"),
    # the first problem in file order wins: a bad number before a wrong-width row of the same block
    ("timestamp,value\n2024-05-01,1\n2024-05-01,x\n2024-05-01,1,2\n",
     "line 3, column 'value': 'x' is not a number"),
    ("timestamp,value\n2024-05-01,1\n2024-05-01,1,2\n2024-05-01,x\n",
     "line 3: has 3 fields, the header has 2 (separator ',')"),
    # within a row, the timestamp is named before the channels
    ("timestamp,a,b\n2024-05-01,1,2\nnever,y,z\n", "line 3, column 'timestamp': 'never' is not an ISO 8601"),
    ("timestamp,a,b\n2024-05-01,1,2\n2024-05-01,1,z\n", "line 3, column 'b': 'z' is not a number"),
    # Arrow reads nan(1) as NaN, Python's float() (the rule) refuses it
    ("timestamp,value\n2024-05-01,NaN\n2024-05-01,nan(1)\n",
     "line 3, column 'value': 'nan(1)' is not a number"),
    # a vectorised asset check still names the first bad row
    ("timestamp,asset_id,v\n2024-05-01,p1,1\n2024-05-01, ,1\n2024-05-01,,1\n",
     "line 3, column 'asset_id': asset_id must be text of 1..128 characters"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_errors_name_the_line_where_the_row_starts(tmp_path: Path, text: str, expected: str) -> None:
    for path in (tmp_path / "x.csv", tmp_path / "x.csv.gz"):
        data = text.encode()
        path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
        with pytest.raises(FileFormatError) as info:
            list(read_records(path))
        assert str(info.value).startswith(f"{path} {expected}"), str(info.value)


def test_header_only_and_empty_rows_give_no_records(tmp_path: Path) -> None:
    header_only = tmp_path / "h.csv"
    header_only.write_text("timestamp,value")
    stats = ReadStats()
    assert list(read_records(header_only, stats=stats)) == [] and stats.rows == 0
    blank = tmp_path / "b.csv"
    blank.write_text("timestamp;a;b\n;;\n\n2024-05-01T00:00:00Z;1;\n")
    assert [(r.channel, r.value) for r in read_records(blank, stats=stats)] == [("a", 1.0)]
    assert stats.rows == 1 and stats.skipped == {"empty": 1}


def test_cells_arrow_refuses_still_follow_the_cell_rules(tmp_path: Path) -> None:
    # date-only times, epoch seconds, mixed zones, padded and underscored numbers: the cell-by-cell path
    path = tmp_path / "mixed.csv"
    path.write_text("timestamp,value\n2024-05-01,1_000\n1714521601, 2 \n2024-05-01T02:00:02+02:00,inf\n"
                    "2024-05-01 00:00:03.1234567,-3\n")
    stats = ReadStats()
    recs = list(read_records(path, stats=stats))
    assert [(r.timestamp, r.value) for r in recs] == [
        (T0, 1000.0), (T0 + timedelta(seconds=1), 2.0),
        (T0 + timedelta(seconds=3, microseconds=123456), -3.0)]
    assert stats.skipped == {"non_finite": 1} and not stats.reordered


def test_merge_of_a_shuffled_and_an_ordered_file_stays_in_time_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tables, "RUN_ROWS", 16)
    rng = random.Random(9)
    times = list(range(0, 400, 2))
    rng.shuffle(times)
    a = _table(tmp_path / "a.csv", [(s, "a", float(s)) for s in times])
    b = _table(tmp_path / "b.csv", [(s, "b", float(s)) for s in range(1, 400, 2)])
    merged = list(merge_files([a, b]))
    assert [r.value for r in merged] == [float(s) for s in range(400)]
