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
