"""``twin archive check`` names the hidden temporary part files a run stopped mid-write left (round
48): a ``twin run`` killed between a part's write and its rename left ``.part-<run>-w0-<seq>.parquet.tmp``
in its date folder, which no query reads and no command named or removed."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from flows.archive.compact import RUN_TEMP_AGE_S, left_run_temps
from flows.cli.main import main
from tests.flows.test_archive_compact import _archive


def _left_by_a_run(root: Path, name: str, age_s: float) -> Path:
    """A copy of a part (what a sink had written before its rename) at a run's temporary name,
    last changed ``age_s`` ago."""
    part = next((root / "features").rglob("part-*.parquet"))
    tmp = part.with_name(name)
    shutil.copyfile(part, tmp)
    then = time.time() - age_s
    os.utime(tmp, (then, then))
    return tmp


def test_check_names_a_stopped_runs_old_temporary_parts_and_not_a_fresh_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _archive(tmp_path / "a")
    old = _left_by_a_run(root, ".part-20260101T000000-0123abcd-w0-000007.parquet.tmp", 3 * 3600)
    _left_by_a_run(root, ".part-20260101T000000-4567cdef-w0-000001.parquet.tmp", 5)  # being written
    _left_by_a_run(root, ".part-compact-x.parquet.tmp", 3 * 3600)  # a compaction's: its own line
    assert [p for p, _ in left_run_temps(root, time.time())] == [old]
    assert main(["archive", "check", "--archive", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("1 temporary file of a killed compaction")
    assert lines[1] == (f"1 temporary file of a run's writes older than {RUN_TEMP_AGE_S / 60:g} minutes, "
                        "the oldest 3.0 h (hidden, no query reads them; a part's write takes seconds: "
                        "left by a run stopped mid-write, kill -9 or a power loss; nothing removes them: "
                        f"delete them once no run is stuck writing here): {old.relative_to(root)}")
    assert lines[2] == f"archive {root}: every file is readable"
    assert old.exists()  # check only reads


def test_a_link_or_a_folder_at_a_run_s_temporary_name_is_not_named(tmp_path: Path) -> None:
    root = _archive(tmp_path / "a")
    folder = next((root / "features").glob("date=*"))
    (folder / ".part-20260101T000000-0123abcd-w0-000002.parquet.tmp").mkdir()
    (folder / ".part-20260101T000000-0123abcd-w0-000003.parquet.tmp").symlink_to("/etc/passwd")
    assert left_run_temps(root, time.time() + 10 * RUN_TEMP_AGE_S) == []


def test_thousands_of_left_temporary_parts_are_counted_past_the_first_names(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A line naming every file of thousands was one no one reads (HOSTILE49's noticed): the first
    NAMES_SHOWN are named, the rest counted, with the command that lists them."""
    from flows.cli.archive_commands import NAMES_SHOWN

    root = _archive(tmp_path / "a")
    made = [_left_by_a_run(root, f".part-20260101T000000-0123abcd-w0-{i:06d}.parquet.tmp", 3 * 3600)
            for i in range(NAMES_SHOWN + 5)]
    assert main(["archive", "check", "--archive", str(root)]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith(f"{NAMES_SHOWN + 5} temporary files of a run's writes older than")
    named = [p for p in made if str(p.relative_to(root)) in line]
    assert len(named) == NAMES_SHOWN
    assert line.endswith(f" and 5 more (find {root} -name '.part-*.parquet.tmp')")


@pytest.mark.parametrize("folder", ["two\nlines", "esc\x1b[31mred"])
def test_the_command_listing_the_rest_lists_them_in_a_folder_whose_name_is_not_printable(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], folder: str) -> None:
    """Round 50 (HOSTILE50): the ``find`` command was ``shlex.quote``'d, then the line escaped for the
    terminal: ``find 'two\\nlines/a' ...`` pasted looked in a folder with a backslash in its name (no
    such folder). Now bash's ``$'...'`` word (:func:`flows.archive.shown_text.shell_word`)."""
    from flows.cli.archive_commands import NAMES_SHOWN

    root = _archive(tmp_path / folder / "a")
    for i in range(NAMES_SHOWN + 5):
        _left_by_a_run(root, f".part-20260101T000000-0123abcd-w0-{i:06d}.parquet.tmp", 3 * 3600)
    assert main(["archive", "check", "--archive", str(root)]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    command = line[line.rindex("(find ") + 1:-1]
    listed = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False)
    assert listed.returncode == 0, listed.stderr  # the base: No such file or directory
    assert listed.stdout.count(".parquet.tmp\n") == NAMES_SHOWN + 5
