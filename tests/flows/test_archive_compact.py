"""``twin archive compact``: a date folder's files become one, every row kept exactly once, even
when the compaction is killed between its steps."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.archive.compact import compact_archive
from flows.archive.files import ArchiveFile, scan_table
from flows.archive.query import query
from flows.cli.main import main
from flows.dataflow.sinks.archive import write_rows
from tests.flows.archive_fixtures import T0
from tests.flows.test_archive_layout import _fleet_features, _to_old_layout

ROOT = Path(__file__).resolve().parents[2]
VIEW = "SELECT * FROM features ORDER BY asset_id, window_start"
BEFORE = date(2026, 1, 3)


def _archive(root: Path) -> Path:
    """Both layouts, several flushes per date, a resumed run's rewrites, and one legacy file
    without bookkeeping columns (left alone by compaction)."""
    rows = _fleet_features()
    _to_old_layout(_write(root / "tmp-old", rows[:60], "part-r1-w0-000000", "r1"), root)
    _write(root, rows[60:], "part-r2-w0-000000", "r2")
    _write(root, [{**r, "vib.rms": -1.0} for r in rows[100:130]], "part-r3-w0-000000", "r3")
    legacy = root / "features" / "date=2026-01-01" / "asset_id=pump%2F000"
    pq.write_table(pa.table({"window_start": [T0 - timedelta(hours=1)], "window_end": [T0], "n_records": [1],
                             "events": [""], "vib.rms": [9.0]}), legacy / "part-legacy.parquet")
    return root


def _write(root: Path, rows: list[dict[str, Any]], name: str, run: str) -> Path:
    write_rows(root, "features", rows, name, run)
    return root


def _read(f: ArchiveFile) -> pa.Table:
    """A file's rows with ``asset_id`` as a column whatever its layout."""
    data = pq.read_table(f.path)
    if f.asset_id is not None:
        data = data.append_column("asset_id", pa.array([f.asset_id] * data.num_rows, pa.string()))
    return data


def _raw(root: Path) -> list[tuple[Any, ...]]:
    """Every row the readers see (superseded files left out), bookkeeping included, sorted."""
    tf = scan_table(root, "features")
    out = []
    for f in tf.files:
        for r in _read(f).to_pylist():
            out.append(tuple(sorted((k, str(v)) for k, v in r.items() if v is not None)))
    return sorted(out)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root / "features")) for p in (root / "features").rglob("*.parquet"))


def test_compaction_keeps_every_row_once_and_the_views_unchanged(tmp_path: Path) -> None:
    root = _archive(tmp_path / "a")
    view, raw = query(root, VIEW), _raw(root)
    assert len(_files(root)) == 10
    done, finished = compact_archive(root, BEFORE, "part-compact-x")
    assert finished == 0
    assert [(c.date.isoformat(), c.rows) for c in done] == [("2026-01-01", 140), ("2026-01-02", 40)]
    assert _files(root) == ["date=2026-01-01/asset_id=pump%2F000/part-legacy.parquet",
                            "date=2026-01-01/part-compact-x.parquet",
                            "date=2026-01-02/part-compact-x.parquet"]
    assert query(root, VIEW) == view
    assert _raw(root) == raw
    assert compact_archive(root, BEFORE, "part-compact-y") == ([], 0)  # nothing left to merge
    meta = pq.ParquetFile(done[0].path).metadata  # the layout's settings: no feature statistics
    stats = {meta.schema.column(c).name: meta.row_group(0).column(c).is_stats_set
             for c in range(meta.num_columns)}
    assert sorted(n for n, has in stats.items() if not has) == ["vib.kurtosis", "vib.rms"]
    codecs = {meta.schema.column(c).name: meta.row_group(0).column(c).compression  # floats: no snappy
              for c in range(meta.num_columns)}
    assert sorted(n for n, codec in codecs.items() if codec != "SNAPPY") == ["vib.kurtosis", "vib.rms"]
    assert {codecs["vib.rms"], codecs["vib.kurtosis"]} == {"UNCOMPRESSED"}


def test_dates_from_before_on_are_left_alone(tmp_path: Path) -> None:
    root = _archive(tmp_path / "a")
    done, _ = compact_archive(root, date(2026, 1, 2), "part-compact-x")
    assert [c.date for c in done] == [date(2026, 1, 1)]
    assert len([f for f in _files(root) if f.startswith("date=2026-01-02")]) > 1


KILL = """
import os, signal, sys
from datetime import date
from pathlib import Path
import flows.archive.compact as compact
{patch}
compact.compact_archive(Path(sys.argv[1]), date(2026, 1, 3), "part-compact-x")
"""
BEFORE_RENAME = """
def die(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)
compact.os.replace = die
"""
AFTER_RENAME = """
real = os.unlink
def die(path, *a, **k):  # round 50: by name in the folder held (dir_fd=)
    if "part-compact" not in os.path.basename(os.fspath(path)):
        os.kill(os.getpid(), signal.SIGKILL)
    real(path, *a, **k)
os.unlink = die
"""


@pytest.mark.parametrize("patch", [BEFORE_RENAME, AFTER_RENAME], ids=["before_rename", "after_rename"])
def test_a_compaction_killed_between_steps_loses_and_duplicates_nothing(tmp_path: Path, patch: str) -> None:
    root = _archive(tmp_path / "a")
    view, raw, files = query(root, VIEW), _raw(root), _files(root)
    code = textwrap.dedent(KILL.format(patch=patch))
    proc = subprocess.run([sys.executable, "-c", code, str(root)], cwd=ROOT, capture_output=True, check=False)
    assert proc.returncode == -9, proc.stderr.decode()
    assert query(root, VIEW) == view
    assert _raw(root) == raw
    assert main(["archive", "check", "--archive", str(root)]) == 0
    if patch is BEFORE_RENAME:
        assert _files(root) == files  # only a hidden temporary file was added
        assert list(root.rglob(".part-compact-x.parquet.tmp"))
    else:
        assert "date=2026-01-01/part-compact-x.parquet" in _files(root)
        assert scan_table(root, "features").superseded
    _done, _finished = compact_archive(root, BEFORE, "part-compact-y")  # the next run completes it
    assert query(root, VIEW) == view
    assert _raw(root) == raw
    assert len([f for f in _files(root) if "legacy" not in f]) == 2


def test_cli_compact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _archive(tmp_path / "a")
    assert main(["archive", "compact", "--archive", str(root), "--before", "2026-01-02"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == f"archive {root}: 1 date folder compacted"
    assert "features 2026-01-01:" in out and "(140 rows)" in out
    with pytest.raises(SystemExit) as exit_:
        main(["archive", "compact", "--archive", str(root), "--before", "Jan 2"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("twin: error: argument --before: not a date (YYYY-MM-DD): 'Jan 2'")


def _corrupt_pages(path: Path) -> None:
    """Flip the bytes of every column chunk's data (the footer stays intact: a footer check passes)."""
    meta = pq.ParquetFile(path).metadata
    data = bytearray(path.read_bytes())
    for c in range(meta.num_columns):
        col = meta.row_group(0).column(c)
        start = col.dictionary_page_offset or col.data_page_offset
        for i in range(start + 8, start + col.total_compressed_size):
            data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def test_a_file_with_corrupt_pages_leaves_its_folder_and_names_it_the_rest_is_compacted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 24 (HOSTILE24): on main the whole compaction stopped with `twin: error: Corrupt snappy
    compressed data.` (or another codec's words), naming neither the file nor the remedy."""
    root = _archive(tmp_path / "a")
    bad = sorted((root / "features" / "date=2026-01-02").glob("part-r2*.parquet"))[0]
    _corrupt_pages(bad)
    before = _files(root)
    assert main(["archive", "compact", "--archive", str(root), "--before", "2026-01-03"]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1
    assert err.startswith("twin: error: 1 date folder left as it was: features 2026-01-02: ")
    assert f"{bad} cannot be read (corrupt data pages: " in err
    assert f"`twin archive check --archive {root} --pages --repair`" in err
    assert "features 2026-01-01: 7 files -> " in out  # the other folder was compacted
    assert [f for f in _files(root) if f.startswith("date=2026-01-02")] == [
        f for f in before if f.startswith("date=2026-01-02")]
    assert main(["archive", "check", "--archive", str(root), "--pages", "--repair"]) == 0
    assert main(["archive", "compact", "--archive", str(root), "--before", "2026-01-03"]) == 0
    assert len([f for f in _files(root) if f.startswith("date=2026-01-02")]) == 1
