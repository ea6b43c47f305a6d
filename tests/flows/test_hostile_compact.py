"""``twin archive compact`` killed with ``kill -9`` while it writes, and two compactions at once
(round 28, part HOSTILE28): the killed one's hidden temporary file is never data, ``archive check``
reports it and the next compaction removes it; a second compaction is refused while one runs."""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flows.archive.files import scan_table
from flows.archive.query import query
from flows.cli.main import main
from tests.flows.test_archive_compact import AFTER_RENAME, KILL, ROOT, VIEW, _archive, _files
from tests.flows.test_hostile_disk import full_at

KILLED = """
import os, signal, sys
import flows.archive.compact as compact
from flows.cli.main import main
real = compact.write_merged
def killed(*args):
    real(*args)  # the whole merged file, not renamed yet
    os.kill(os.getpid(), signal.SIGKILL)
compact.write_merged = killed
sys.exit(main(["archive", "compact", "--archive", sys.argv[1], "--before", "2026-01-03"]))
"""


def _killed_compaction(root: Path) -> Path:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLED), str(root)], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == -9, proc.stderr
    (tmp,) = root.rglob(".part-compact-*.parquet.tmp")
    return tmp


def test_a_killed_compaction_s_file_is_reported_by_check_removed_by_the_next_and_never_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Main: the hidden `.part-compact-*.parquet.tmp` (a complete copy of a day's rows) stayed for
    ever, said by no command; `archive check` said "every file is readable" alone."""
    root = _archive(tmp_path / "a")
    view, files = query(root, VIEW), _files(root)
    tmp = _killed_compaction(root)
    name = str(tmp.relative_to(root))
    assert query(root, VIEW) == view and _files(root) == files  # no reader takes it for data
    assert main(["archive", "check", "--archive", str(root)]) == 0
    out = capsys.readouterr().out
    assert out == (f"1 temporary file of a killed compaction (hidden, no query reads them; the next "
                   f"`twin archive compact` removes them): {name}\n"
                   f"archive {root}: every file is readable\n")
    assert tmp.exists()  # check only reads
    assert main(["archive", "compact", "--archive", str(root), "--before", "2026-01-03"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"removed 1 temporary file a killed compaction had left: {name}"
    assert out.splitlines()[-1] == f"archive {root}: 2 date folders compacted"
    assert not list(root.rglob(".*.tmp")) and query(root, VIEW) == view
    assert main(["archive", "check", "--archive", str(root)]) == 0
    assert capsys.readouterr().out == f"archive {root}: every file is readable\n"


def test_a_second_compaction_while_one_runs_is_refused_and_its_file_left_alone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Main: a second compaction ran beside the first (both merging the same files); now one line,
    exit 2, and the running one's temporary file is neither removed nor reported by `archive check`."""
    root = _archive(tmp_path / "a")
    files = _files(root)
    running = root / "features" / "date=2026-01-01" / ".part-compact-running.parquet.tmp"
    running.write_bytes(b"being written")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a running compaction holds it
        assert main(["archive", "compact", "--archive", str(root), "--before", "2026-01-03"]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err == (f"twin: error: another `twin archive compact` is compacting {root} (it holds the "
                       "archive's lock); wait for it to end\n")
        assert main(["archive", "check", "--archive", str(root)]) == 0
        assert capsys.readouterr().out == f"archive {root}: every file is readable\n"
    finally:
        os.close(fd)
    assert running.exists() and _files(root) == files


FULL = Path("/dev/full")


@pytest.mark.skipif(not (FULL.exists() and stat.S_ISCHR(FULL.stat().st_mode)),
                    reason="no /dev/full device here")
def test_a_compaction_stopped_by_a_full_disk_says_what_it_did_as_a_run_that_ended(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 27 (CLEAN27 left it): the sources of a compaction killed after its rename were deleted but
    the "deleted N files" line was missing, and stdout held nothing; the line said no folder not tried."""
    from flows.dataflow.sinks import archive

    root = _archive(tmp_path / "a")
    view = query(root, VIEW)
    code = textwrap.dedent(KILL.format(patch=AFTER_RENAME))
    proc = subprocess.run([sys.executable, "-c", code, str(root)], cwd=ROOT, capture_output=True, check=False)
    assert proc.returncode == -9, proc.stderr.decode()
    left = len(scan_table(root, "features").superseded)
    assert left > 0
    monkeypatch.setattr(archive, "new_run_id", lambda: "y")
    folder = root / "features" / "date=2026-01-02"
    full_at(monkeypatch, folder / ".part-compact-y.parquet.tmp")  # its merged file's writes fail
    assert main(["archive", "compact", "--archive", str(root), "--before", "2026-01-03"]) == 2
    out, err = capsys.readouterr()
    assert out == (f"deleted {left} files a stopped compaction had merged\n"
                   f"archive {root}: 0 date folders compacted\n")
    assert err == (f"twin: error: cannot write the merged file of features 2026-01-02 in {folder}: No space "
                   "left on device; that folder is left as it was\n")
    assert not scan_table(root, "features").superseded and query(root, VIEW) == view
