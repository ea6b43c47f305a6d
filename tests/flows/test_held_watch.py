"""``twin run``'s held archive moved on purpose (a rotation) is said once, in one warning line (round 42,
part HOLD42): the run writes on into the folder it started with until a restart."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from flows.app.held_watch import NameWatch, removed
from flows.app.out_held import held_folder
from flows.cli.run_checks import archive_moved


def _wait_for(lines: list[str], n: int) -> None:
    deadline = time.monotonic() + 10
    while len(lines) < n and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_rotated_archive_is_said_once_and_a_removed_one_is_left_to_the_flush(tmp_path: Path) -> None:
    archive = tmp_path / "twin-data"
    lines: list[str] = []
    with held_folder(archive, lambda: None, follow=True) as at, \
            NameWatch(archive, at, archive_moved("--archive", archive, True), lines.append,
                      thread="twin-archive-name", every_s=0.01):
        time.sleep(0.1)
        assert "twin-archive-name" in {t.name for t in threading.enumerate()}
        assert lines == []  # the name leads to the held folder: nothing to say
        os.rename(archive, tmp_path / "twin-data.2026-11")
        _wait_for(lines, 1)
        time.sleep(0.1)  # looked at again several times: said once
        assert lines == [f"twin run: warning: --archive {archive} leads to no folder now; this run goes on "
                         f"writing into the folder it started with, now at {tmp_path / 'twin-data.2026-11'}, "
                         f"until it is restarted (the same --recovery-dir resumes it, writing at {archive})"]
        archive.mkdir()  # the operator's new folder at the name: said again, as another folder
        _wait_for(lines, 2)
        assert len(lines) == 2 and f"--archive {archive} leads to another folder now" in lines[1]
        shutil.rmtree(tmp_path / "twin-data.2026-11")  # the held one removed: the next flush's own line
        time.sleep(0.1)
        assert len(lines) == 2


def test_the_watch_speaks_in_its_callers_words_under_its_callers_thread_name(tmp_path: Path) -> None:
    """Round 44 (TIDY44): the watch knew its callers (the archive's words unless the flag was
    ``--recovery-dir``, one thread name for both). Now each gives its own; and a run without
    ``--recovery-dir`` is no longer told that "the same --recovery-dir resumes it"."""
    folder = tmp_path / "held"
    lines: list[str] = []
    with held_folder(folder, lambda: None) as at, \
            NameWatch(folder, at, lambda what, where: f"mine: {what} | {where}", lines.append,
                      thread="twin-test-name", every_s=0.01):
        assert "twin-test-name" in {t.name for t in threading.enumerate()}
        os.rename(folder, tmp_path / "moved")
        _wait_for(lines, 1)
        assert lines == [f"mine: leads to no folder | {tmp_path / 'moved'}"]
    assert "twin-test-name" not in {t.name for t in threading.enumerate()}
    line = archive_moved("archive_dir", folder, False)("leads to another folder", "/x")
    assert line == (f"twin run: warning: archive_dir {folder} leads to another folder now; this run goes on "
                    "writing into the folder it started with, now at /x, until it is restarted (no "
                    f"--recovery-dir: a restart reads the topics again, writing at {folder})")


def test_a_held_folder_is_removed_once_no_name_leads_to_it(tmp_path: Path) -> None:
    """One test of "removed" for both its users: the watch's silence and ``twin run``'s last flush line
    (round 43, TIDY43: each had its own ``st_nlink`` check)."""
    archive = tmp_path / "twin-data"
    with held_folder(archive, lambda: None) as at:
        assert not removed(at) and not removed(archive)
        os.rename(archive, tmp_path / "moved")
        assert not removed(at)  # moved, not removed: still a name leads to it
        assert removed(archive)  # nothing at the name
        os.rmdir(tmp_path / "moved")
        assert removed(at)  # held open, its last name gone


def test_a_file_put_at_the_name_is_said_to_be_no_folder(tmp_path: Path) -> None:
    """Round 44: a file (or FIFO) put at the name was said to be "another folder"."""
    from flows.app.held_recovery import recovery_moved
    from flows.app.held_watch import moved_line
    from flows.cli.run_checks import archive_moved

    rec = tmp_path / "rec"
    with held_folder(rec, lambda: None) as at:
        os.rename(rec, tmp_path / "rec.old")
        rec.write_text("x")
        line = moved_line(rec, at, recovery_moved(rec))
        assert line is not None and f"--recovery-dir {rec} leads to a file, not a folder, now;" in line
        rec.unlink()
        os.mkfifo(rec)
        line = moved_line(rec, at, archive_moved("--archive", rec, False))
        assert line is not None and f"--archive {rec} leads to a FIFO, not a folder, now;" in line


def test_the_folders_a_moved_warning_suggests_are_shell_words_to_paste(tmp_path: Path) -> None:
    """Round 46 (HOSTILE46): a folder with a space (or a newline) in its name was printed bare, so the
    suggested ``--recovery-dir /srv/my rec.old`` pasted into a shell named two folders, neither it."""
    import shlex

    from flows.app.held_recovery import recovery_moved
    from flows.app.held_watch import moved_line

    rec, old = tmp_path / "my rec", tmp_path / "my rec.old"
    with held_folder(rec, lambda: None) as at:
        os.rename(rec, old)
        line = moved_line(rec, at, recovery_moved(rec))
        assert line is not None
        assert line.endswith(f"(move it back to {shlex.quote(str(rec))}, or give --recovery-dir "
                             f"{shlex.quote(str(old))})"), line
        assert f"now at {shlex.quote(str(old))}:" in line
        line = moved_line(rec, at, archive_moved("--archive", rec, True))
        assert line is not None and f"now at {shlex.quote(str(old))}, until" in line
        assert line.endswith(f"writing at {shlex.quote(str(rec))})"), line
        odd = tmp_path / "line\nbreak"
        os.rename(old, odd)  # not printable: bash's $'...' (still one word, still this folder)
        line = moved_line(rec, at, recovery_moved(rec))
        assert line is not None and line.endswith(f"--recovery-dir $'{tmp_path}/line\\x0abreak')"), line


def test_a_suggested_folder_with_a_run_of_spaces_survives_the_warnings_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 46: the warning is printed through ``print_error``, which folds runs of white space into
    one space: ``'my  rec.old'`` came out as ``'my rec.old'``, another folder. bash reads the word shown
    back as the folder's name."""
    import subprocess

    from flows.app.held_recovery import recovery_moved
    from flows.cli.args import print_error

    print_error(recovery_moved(tmp_path / "rec")("leads to no folder", f"{tmp_path}/my  rec.old"), prefix="")
    line = capsys.readouterr().err.strip()
    word = line.rpartition("give --recovery-dir ")[2].removesuffix(")")
    got = subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True, check=True).stdout
    assert got == os.fsencode(f"{tmp_path}/my  rec.old"), line
