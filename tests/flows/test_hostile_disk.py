"""A full disk (``/dev/full``: every write fails with ENOSPC) and a stop signal while a command writes
a file (round 26, part HOSTILE26): the message names the file or folder, nothing half-written is left.

The archive sink's own full-disk path is tests/flows/test_archive_robustness.py."""

from __future__ import annotations

import errno
import functools
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.app.out_dir import replace_file
from flows.archive import layout, merge
from flows.archive.compact import compact_archive
from flows.archive.query import query
from tests.flows.test_archive_compact import BEFORE, ROOT, VIEW, _archive, _files

FULL = Path("/dev/full")
pytestmark = pytest.mark.skipif(not (FULL.exists() and stat.S_ISCHR(FULL.stat().st_mode)),
                                reason="no /dev/full device here")


def full_at(monkeypatch: pytest.MonkeyPatch, target: Path) -> None:
    """A compaction's file ``target`` written to ``/dev/full``: its writes fail as on a full disk. (A
    link to it planted at the temporary name did that until round 47, HOSTILE47: such a link is now
    removed, never written through.)"""
    real = merge.new_file

    def full(path: str | Path, *args: Any, dir_fd: int | None = None) -> Any:
        # the date folder and name: the command may name the archive otherwise (round 50: a name in the
        # date folder held open, dir_fd)
        at = Path(path) if dir_fd is None else Path(os.readlink(f"/proc/self/fd/{dir_fd}")) / path
        if (at.parent.name, at.name) == (target.parent.name, target.name):
            return real(FULL, *args)
        return real(path, *args, dir_fd=dir_fd)

    monkeypatch.setattr(merge, "new_file", full)


def test_an_output_file_on_a_full_disk_is_named_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    """Main: `twin backtest` said `twin: error: [Errno 28] Error writing bytes to file. Detail: [errno
    28] No space left on device` (scores.parquet) or `[Errno 28] No space left on device` (a figure),
    naming no file."""
    target = tmp_path / "scores.parquet"

    def write(tmp: Path) -> None:
        tmp.write_bytes(b"PAR1 half a file")
        data = pa.table({"x": list(range(1000))})  # Arrow's own ENOSPC (never pq.write_table(data, path):
        layout.write_file(data, FULL, {})  # on a failure it deletes the path, /dev/full itself as root)

    with pytest.raises(OSError) as err:
        replace_file(target, write)
    assert str(err.value) == f"cannot write {target}: No space left on device"
    assert err.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_a_compaction_on_a_full_disk_names_the_folder_and_leaves_it_as_it_was(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Main: `twin: error: [Errno 28] Error writing bytes to file. Detail: ...`, naming no folder, and
    the half-written `.part-compact-*.parquet.tmp` left in the date folder, taking the room it had."""
    root = _archive(tmp_path / "a")
    view, files = query(root, VIEW), _files(root)
    folder = root / "features" / "date=2026-01-01"
    tmp = folder / ".part-compact-x.parquet.tmp"
    full_at(monkeypatch, tmp)  # the merged file's writes fail as on a full disk
    with pytest.raises(OSError) as err:
        compact_archive(root, BEFORE, "part-compact-x")
    assert str(err.value) == (f"cannot write the merged file of features 2026-01-01 in {folder}: No space "
                              "left on device; that folder is left as it was; 1 date folder after it not "
                              "tried (compact again once the archive has room and is writable)")
    assert not tmp.is_symlink() and not tmp.exists()
    assert _files(root) == files and query(root, VIEW) == view
    monkeypatch.undo()
    compact_archive(root, BEFORE, "part-compact-y")  # room again: it compacts
    assert query(root, VIEW) == view
    assert not list(root.rglob(".*.tmp"))


def test_a_compaction_stopped_by_a_full_disk_names_the_folders_it_had_merged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 27: the line named only the folder that failed; the date folders merged before it (complete:
    their merged files had replaced their sources) were not said anywhere."""
    from flows.cli.main import main
    from flows.dataflow.sinks import archive

    root = _archive(tmp_path / "a")
    view = query(root, VIEW)
    first = root / "features" / "date=2026-01-01"
    merged = [p for p in first.rglob("*.parquet") if p.name != "part-legacy.parquet"]  # legacy: left alone
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in merged)
    monkeypatch.setattr(archive, "new_run_id", lambda: "x")
    folder = root / "features" / "date=2026-01-02"
    full_at(monkeypatch, folder / ".part-compact-x.parquet.tmp")  # the second folder's merged file fails (the
    # first folder's was renamed into place before it)
    assert main(["archive", "compact", "--archive", str(root), "--before", "2026-01-03"]) == 2
    out, err = capsys.readouterr()
    assert out == (f"features 2026-01-01: {len(merged)} files -> features/date=2026-01-01/"
                   f"part-compact-x.parquet ({rows} rows)\narchive {root}: 1 date folder compacted\n")
    assert err == (f"twin: error: cannot write the merged file of features 2026-01-02 in {folder}: No space "
                   "left on device; that folder is left as it was; 1 date folder compacted before it "
                   "(complete): features 2026-01-01\n")
    assert _files(root) == ["date=2026-01-01/asset_id=pump%2F000/part-legacy.parquet",
                            "date=2026-01-01/part-compact-x.parquet",
                            "date=2026-01-02/part-r2-w0-000000.parquet",
                            "date=2026-01-02/part-r3-w0-000000.parquet"]
    assert (first / "part-compact-x.parquet").exists() and query(root, VIEW) == view


STOPPED = """
import os, signal, sys, time
import flows.archive.compact as compact
from flows.cli.main import main
real = compact.write_merged
def stopped(*args):
    real(*args)  # the whole file, not renamed yet
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)
compact.write_merged = stopped
sys.exit(main(["archive", "compact", "--archive", sys.argv[1], "--before", "2026-01-03"]))
"""


def test_a_compaction_stopped_by_sigterm_while_writing_leaves_no_temporary_file(tmp_path: Path) -> None:
    """Main: exit 130 as now, but the merged file's hidden temporary copy stayed in the date folder for
    ever (no later command removes it)."""
    root = _archive(tmp_path / "a")
    view, files = query(root, VIEW), _files(root)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(STOPPED), str(root)], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 130, proc.stderr
    # round 30: what it merged before the stop (nothing here) and what it left, as a run that ended
    assert proc.stdout == f"archive {root}: 0 date folders compacted\n"
    assert proc.stderr == ("twin: interrupted; 2 date folders not compacted (left as they were): compact "
                           "again to finish\n")
    assert not list(root.rglob(".part-compact-*"))
    assert _files(root) == files and query(root, VIEW) == view


def _limited(limit: int) -> None:
    """In the child: files may not grow past ``limit`` bytes (writes fail with EFBIG, as on a full disk)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_dead_letters_past_the_room_left_end_in_one_line_and_complete_lines(tmp_path: Path) -> None:
    """Main: the process aborted (SIGABRT, exit 134, nothing said: the file's close raised again from the
    engine's destructors) and `dead_letters.jsonl` ended in the part of a line that fitted."""
    history = tmp_path / "future.csv"
    stamps = [f"2025-01-01 {i // 60:02d}:{i % 60:02d}:00" for i in range(600)]
    stamps += [f"2099-01-0{1 + i // 1440} {i // 60 % 24:02d}:{i % 60:02d}:00" for i in range(4000)]
    history.write_text("timestamp,value\n" + "".join(f"{t},1.0\n" for t in stamps))
    out = tmp_path / "bt"
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "backtest", str(history), "--out", str(out),
                           "--no-progress", "--no-report"], cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=120, preexec_fn=functools.partial(_limited, 1_000_000))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"twin: error: cannot write {out / 'dead_letters.jsonl'}: File too large; "
                                  f"--out {out} keeps ")
    text = (out / "dead_letters.jsonl").read_bytes()
    assert len(text) > 10_000 and text.endswith(b"\n")
    assert {json.loads(line)["reason"] for line in text.splitlines()} == {"future_timestamp"}


def test_a_query_result_to_a_full_disk_is_one_line_naming_standard_output(tmp_path: Path) -> None:
    """Main: `twin: error: [Errno 28] No space left on device`, naming neither the output nor the query."""
    root = _archive(tmp_path / "a")
    with FULL.open("w") as full:
        proc = subprocess.run([sys.executable, "-m", "flows.cli", "sql", VIEW, "--archive", str(root)],
                              cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True, check=False,
                              timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == "twin: error: cannot write the result to standard output: No space left on device\n"
