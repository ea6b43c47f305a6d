"""``twin archive check``/``compact`` with odd names (round 29, HOSTILE29's notes): an archive path
holding a newline gives one summary line (it forged a second), and a file whose name is not UTF-8
is reported as such (the reason was ``unreadable Parquet: 'utf-8' codec can't encode ...``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from flows.archive.files import printable
from flows.cli.main import main
from tests.flows.archive_fixtures import small_archive
from tests.flows.test_archive_compact import _archive


def test_an_archive_path_with_a_newline_gives_one_summary_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _archive(tmp_path / "a\nb")
    assert main(["archive", "check", "--archive", str(root)]) == 0
    out = capsys.readouterr().out
    assert out == f"archive {printable(str(root))}: every file is readable\n", out
    assert "a\\nb" in out
    assert main(["archive", "compact", "--archive", str(root), "--before", "2026-01-03"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == f"archive {printable(str(root))}: 2 date folders compacted", last


def test_a_file_name_that_is_not_utf8_is_named_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _archive(tmp_path / "a")
    good = sorted((root / "features").rglob("part-*.parquet"))[0]
    odd = os.path.join(os.fsencode(good.parent), b"part-\xff.parquet")
    shutil.copyfile(good, odd)
    assert main(["archive", "check", "--archive", str(root)]) == 1
    lines = capsys.readouterr().out.splitlines()
    name = printable(str(Path(os.fsdecode(odd)).relative_to(root)))
    assert f"{name}: its name is not UTF-8" in lines, lines
    assert len(lines) == 2 and "unreadable or foreign file" in lines[1], lines


def test_a_folder_named_like_a_parquet_file_is_reported_and_moved_aside(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 32 (LOOSE32): a folder ``part-0.parquet/`` where a file should be was walked into and,
    empty, gave nothing: ``twin sql`` answered 0 rows with no warning and ``twin archive check``
    said every file is readable. It is a foreign entry now, as a FIFO of that name is."""
    root = small_archive(tmp_path / "a")
    (good,) = (root / "features").rglob("*.parquet")
    folder = good.parent / "part-0.parquet"
    folder.mkdir()
    (root / "features" / "late.parquet").mkdir()  # a second one, at the table's top
    assert main(["sql", "SELECT count(*) AS n FROM features", "--archive", str(root), "--format", "csv"]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines() == ["n", "6"]  # the real file's rows
    assert f"{folder.relative_to(root)} (foreign file: not a regular file (a folder))" in out.err, out.err
    assert "skipped 2 unreadable or foreign archive files" in out.err, out.err
    good.unlink()  # the table's only "files" are the folders: no longer 0 rows in silence
    assert main(["sql", "SELECT count(*) AS n FROM features", "--archive", str(root)]) == 2
    assert "skipped 2 unreadable or foreign archive files" in capsys.readouterr().err
    assert main(["archive", "check", "--archive", str(root)]) == 1
    lines = capsys.readouterr().out.splitlines()
    said = "foreign file: not a regular file (a folder)"
    assert lines[:2] == [f"features/date=2026-01-01/part-0.parquet: {said}",
                         f"features/late.parquet: {said}"], lines
    assert main(["archive", "check", "--archive", str(root), "--repair"]) == 0
    capsys.readouterr()
    assert not folder.exists() and (root / "_quarantine" / "features" / "late.parquet").is_dir()
    assert main(["archive", "check", "--archive", str(root)]) == 0
