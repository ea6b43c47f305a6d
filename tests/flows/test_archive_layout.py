"""Issue 10 archive layout: one file per (table, date) per flush, ``asset_id`` a sorted column.

Archives written before (one file per (date, asset) under ``date=/asset_id=/``, no ``asset_id``
column) must keep reading, alone or mixed with new files, with the same view rows."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from flows.archive import layout
from flows.archive.files import scan_table
from flows.archive.query import query
from flows.cli.main import main
from flows.dataflow.sinks import archive as sink
from flows.dataflow.sinks.archive import write_rows
from tests.flows.archive_fixtures import T0, alert_rows, feature_rows

RUN = "20260101T000000-aaaaaaaa"


def _fleet_features(assets: int = 5, windows: int = 30) -> list[dict[str, Any]]:
    """Hourly windows over two dates, assets interleaved as the sink receives them; asset 1 has
    an extra feature (feature sets differ between assets)."""
    rows = []
    for w in range(windows):
        start = T0 + timedelta(hours=w)
        for a in reversed(range(assets)):
            extra = {"vib.kurtosis": float(w)} if a == 1 else {}
            rows.append({"asset_id": f"pump/{a:03d}", "date": start.date().isoformat(),
                         "window_start": start, "window_end": start + timedelta(hours=1),
                         "n_records": 10, "events": "", "vib.rms": a + w / 100, **extra})
    return rows


def _to_old_layout(new: Path, old: Path) -> None:
    """Rewrite every new-layout file as the pre-issue-10 writer did: one file per (date, asset)
    under ``date=/asset_id=<quoted id>/``, same name and bookkeeping, no ``asset_id`` column."""
    for path in sorted(new.rglob("*.parquet")):
        table = pq.read_table(path)
        rel = path.relative_to(new)
        for asset in table.column("asset_id").unique().to_pylist():
            part = table.filter(pc.equal(table.column("asset_id"), asset)).drop_columns(["asset_id"])
            folder = old / rel.parent / f"asset_id={quote(asset, safe='')}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(part, folder / rel.name)


def _write_all(root: Path) -> Path:
    write_rows(root, "features", _fleet_features(), f"part-{RUN}-w0-000000", RUN)
    write_rows(root, "alerts", alert_rows(), f"part-{RUN}-w0-000000", RUN)
    return root


VIEWS = {"features": "SELECT * FROM features ORDER BY asset_id, window_start",
         "alerts": "SELECT * FROM alerts ORDER BY alert_id, sequence"}


def test_the_writer_makes_one_file_per_date_sorted_by_asset_and_time(tmp_path: Path) -> None:
    root = _write_all(tmp_path / "new")
    files = sorted((root / "features").rglob("*.parquet"))
    folders = [p.relative_to(root / "features").parent.name for p in files]
    assert folders == ["date=2026-01-01", "date=2026-01-02"]
    for path in files:
        got = pq.read_table(path)
        assert got.schema.names[0] == "asset_id"
        keys = list(zip(got.column("asset_id").to_pylist(), got.column("window_start").to_pylist(),
                        strict=True))
        assert keys == sorted(keys)


def test_new_layout_gives_the_same_view_rows_as_the_old_layout(tmp_path: Path) -> None:
    new = _write_all(tmp_path / "new")
    old = tmp_path / "old"
    _to_old_layout(new, old)
    assert all(p.parent.name.startswith("asset_id=") for p in old.rglob("*.parquet"))
    for table, sql in VIEWS.items():
        cols_new, rows_new = query(new, sql)
        cols_old, rows_old = query(old, sql)
        assert cols_new == cols_old, table
        assert rows_new == rows_old, table
    assert len(query(new, VIEWS["features"])[1]) == 150


def test_mixed_layouts_read_together_and_the_newest_write_wins(tmp_path: Path) -> None:
    """An archive begun by the old writer and resumed by the new one: the resumed run writes some
    windows again (newer values); each key shows once, with its newest write, in either order."""
    old_first = tmp_path / "mixed"
    _to_old_layout(_write_all(tmp_path / "new"), old_first)
    cut = T0 + timedelta(hours=20)
    again = [{**r, "vib.rms": -1.0} for r in _fleet_features() if r["window_start"] >= cut]
    write_rows(old_first, "features", again, "part-20260102T000000-bbbbbbbb-w0-000000", "resumed")
    assert {p.parent.name.startswith("asset_id=") for p in old_first.rglob("*.parquet")} == {True, False}
    rows = query(old_first, 'SELECT run_id, count(*), min("vib.rms") FROM features GROUP BY 1 ORDER BY 1')[1]
    assert rows == [(RUN, 100, 0.0), ("resumed", 50, -1.0)]
    assert query(old_first, "SELECT count(DISTINCT (asset_id, window_start)) FROM features")[1] == [(150,)]
    assert query(old_first, "SELECT count(*) FROM features WHERE asset_id = 'pump/001' "
                            "AND \"vib.kurtosis\" IS NOT NULL")[1] == [(30,)]
    assert main(["archive", "check", "--archive", str(old_first)]) == 0


def test_an_old_layout_write_after_a_new_one_still_wins_by_write_seq(tmp_path: Path) -> None:
    new = tmp_path / "a"
    write_rows(new, "features", feature_rows(rms=1.0), "part-zzzz-w0-000000", "first")
    later = tmp_path / "later"
    write_rows(later, "features", feature_rows(rms=2.0), "part-aaaa-w0-000000", "second")
    _to_old_layout(later, new)
    got = query(new, 'SELECT run_id, count(*), sum("vib.rms") FROM features GROUP BY 1')[1]
    assert got == [("second", 6, 18.0)]


@pytest.mark.parametrize(("where", "columns", "reason"), [
    ("date=2026-01-01", {"window_start": [T0]}, "no 'asset_id' column"),
    ("date=2026-01-01", {"asset_id": [7], "window_start": [T0]}, "'asset_id' is int64"),
    ("date=2026-01-01", {"asset_id": ["p"], "date": ["2026-01-01"], "window_start": [T0]}, "its own 'date'"),
    ("date=2026-01-01/asset_id=p", {"asset_id": ["p"], "window_start": [T0]}, "its own 'asset_id'"),
])
def test_files_that_fit_neither_layout_are_reported(tmp_path: Path, where: str, columns: dict[str, list[Any]],
                                                    reason: str) -> None:
    root = _write_all(tmp_path / "a")
    bad = root / "features" / where / "stray.parquet"
    bad.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), bad)
    found = scan_table(root, "features").bad
    assert [b.path for b in found] == [bad]
    assert reason in found[0].reason
    assert len(query(root, VIEWS["features"], on_skip=lambda _bad: None)[1]) == 150


def test_row_groups_cover_disjoint_asset_ranges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small row groups over rows sorted by asset: each group's statistics name a narrow asset
    range, which is what lets a one-asset query skip the others' groups."""
    monkeypatch.setattr(layout, "ROW_GROUP_ROWS", 24)
    write_rows(tmp_path, "features", _fleet_features(assets=5, windows=24), "part-x", "r")
    (path,) = (tmp_path / "features").rglob("*.parquet")
    meta = pq.ParquetFile(path).metadata
    col = meta.schema.to_arrow_schema().get_field_index("asset_id")
    ranges = [(meta.row_group(i).column(col).statistics.min, meta.row_group(i).column(col).statistics.max)
              for i in range(meta.num_row_groups)]
    assert ranges == [(f"pump/{a:03d}", f"pump/{a:03d}") for a in range(5)]


def test_a_crash_between_files_leaves_whole_files_and_a_resume_dedups(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _fleet_features()
    real = sink.layout.write_file
    calls: list[Path] = []

    def crash_on_second(data: Any, where: str, options: dict[str, Any], *, dir_fd: int) -> None:
        calls.append(Path(where))
        if len(calls) == 2:  # a partial temporary file (in the date folder held open), then the crash
            fd = os.open(where, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=dir_fd)
            os.write(fd, b"PAR1 half")
            os.close(fd)
            msg = "simulated crash"
            raise OSError(msg)
        real(data, where, options, dir_fd=dir_fd)

    monkeypatch.setattr(sink.layout, "write_file", crash_on_second)
    with pytest.raises(OSError, match="simulated crash"):
        write_rows(tmp_path, "features", rows, "part-run1-w0-000000", "run1")
    monkeypatch.setattr(sink.layout, "write_file", real)
    # round 40 (SYNC40): a write's parts are renamed only once all are written and synced, so the
    # failed write names none of its dates (round 39 had named the first date's part)
    assert [p.name for p in (tmp_path / "features").rglob("*.parquet*")] == []
    assert scan_table(tmp_path, "features").bad == []
    write_rows(tmp_path, "features", rows, "part-run2-w0-000000", "run2")  # the replay after restart
    got = query(tmp_path, "SELECT run_id, count(*) FROM features GROUP BY 1 ORDER BY 1")[1]
    assert got == [("run2", 150)]


def _statistics(path: Path) -> dict[str, bool]:
    """Per column of a file: whether every row group holds its statistics (min/max where a value
    is not null, the null count)."""
    meta = pq.ParquetFile(path).metadata
    names = meta.schema.to_arrow_schema().names
    return {n: all(meta.row_group(g).column(c).is_stats_set for g in range(meta.num_row_groups))
            for c, n in enumerate(names)}


def test_statistics_on_the_named_columns_only_and_the_rows_read_back_equal(tmp_path: Path) -> None:
    """The key, named and bookkeeping columns keep their min/max (the views push the key filters
    into the scan); the feature columns have none (no view filter on them reaches the scan)."""
    rows = _fleet_features()
    write_rows(tmp_path, "features", rows, "part-x", RUN)
    for path in sorted((tmp_path / "features").rglob("*.parquet")):
        stats = _statistics(path)
        assert [n for n, has in stats.items() if not has] == ["vib.rms", "vib.kurtosis"]
        with_stats = [n for n, has in stats.items() if has]
        assert layout.statistics_columns("features", pq.read_schema(path)) == with_stats
    got = query(tmp_path, "SELECT * EXCLUDE (run_id, _written_at) FROM features "
                          "ORDER BY asset_id, window_start")
    want = sorted(rows, key=lambda r: (r["asset_id"], r["window_start"]))
    assert [dict(zip(got[0], r, strict=True)) for r in got[1]] == [
        {**r, "date": r["window_start"].date(), "vib.kurtosis": r.get("vib.kurtosis")} for r in want]


def test_fixed_tables_keep_every_statistic(tmp_path: Path) -> None:
    write_rows(tmp_path, "alerts", alert_rows(), "part-x", RUN)
    for path in (tmp_path / "alerts").rglob("*.parquet"):
        assert all(_statistics(path).values())
