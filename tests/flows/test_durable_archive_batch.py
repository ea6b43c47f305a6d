"""A flush's parts are synced together, in the order durability needs (round 40, SYNC40).

Round 39 synced each part alone (its temporary file, its rename, its folder; a new folder in its
parent first), part after part. Now a flush of several dates fsyncs every part's temporary file
(issued as each is written, on a small pool), renames them all once all are synced, then fsyncs each
distinct folder once, all before the write returns; a folder made by the flush is synced once in its
parent. The calls are recorded through wrappers of ``os.fsync`` and ``os.replace`` (their threads'
order is the order the kernel saw them: each is recorded before it runs).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from flows.dataflow.sinks.archive import ParquetArchiveSink, write_rows
from flows.dataflow.sinks.archive_writer import ArchiveWriteError
from tests.flows.archive_fixtures import feature_rows
from tests.flows.test_durable_outputs import spied_syncs

DATES = ("2026-01-01", "2026-01-02", "2026-01-03")


def _rows(dates: tuple[str, ...] = DATES) -> list[dict[str, object]]:
    rows = []
    for d in dates:
        for row in feature_rows():
            rows.append({**row, "date": d})
    return rows


def _folders(root: Path, dates: tuple[str, ...] = DATES) -> list[Path]:
    return [root / "features" / f"date={d}" for d in dates]


def test_a_flushs_parts_are_all_synced_before_any_rename_and_each_folder_once_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "archive"
    write_rows(root, "features", _rows(), "part-r0-w0-000000", "r0")  # the folders exist now
    events = spied_syncs(monkeypatch)
    assert write_rows(root, "features", _rows(), "part-r1-w0-000000", "r1") == 3
    folders = _folders(root)
    tmps = {("fsync", str(f / ".part-r1-w0-000000.parquet.tmp")) for f in folders}
    finals = [("replace", str(f / "part-r1-w0-000000.parquet")) for f in folders]
    syncs = {("fsync", str(f)) for f in folders}
    assert len(events) == 9  # all of it before the write returned
    assert set(events[:3]) == tmps  # every part's bytes, then the names (round 39: part by part)
    assert events[3:6] == finals
    assert set(events[6:]) == syncs  # each folder once, after every rename
    assert all(pq.read_table(f / "part-r1-w0-000000.parquet").num_rows == 6 for f in folders)


def test_the_folders_a_flush_makes_are_synced_once_per_parent_before_the_renames(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three new date folders in one table folder: the table folder is synced once (round 39: once
    per new date folder, each before its part was written), the archive and its parent once."""
    root = tmp_path / "archive"
    events = spied_syncs(monkeypatch)
    write_rows(root, "features", _rows(), "part-r0-w0-000000", "r0")
    first_rename = next(i for i, e in enumerate(events) if e[0] == "replace")
    parents = [path for kind, path in events[:first_rename] if kind == "fsync" and not path.endswith(".tmp")]
    assert sorted(parents) == sorted([str(tmp_path), str(root), str(root / "features")])
    assert sorted(p for k, p in events[first_rename + 3:]) == sorted(map(str, _folders(root)))


def test_a_failing_fsync_names_no_part_of_the_flush_and_leaves_no_temporary_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second part's bytes cannot be synced (EIO): the flush fails as one write naming that part's
    folder; neither the first part (synced) nor any other is named (round 39 had named the first)."""
    root = tmp_path / "archive"
    write_rows(root, "features", _rows(), "part-r0-w0-000000", "r0")
    real = os.fsync

    def broken(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("date=2026-01-02/.part-r1-w0-000000.parquet.tmp"):
            raise OSError(errno.EIO, "Input/output error")
        real(fd)

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(ArchiveWriteError) as failed:
        write_rows(root, "features", _rows(), "part-r1-w0-000000", "r1")
    assert str(failed.value) == f"cannot write the archive in {_folders(root)[1]}: Input/output error"
    assert failed.value.errno == errno.EIO
    for folder in _folders(root):
        assert sorted(p.name for p in folder.iterdir()) == ["part-r0-w0-000000.parquet"]


def test_a_failing_rename_keeps_the_parts_renamed_before_it_and_removes_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "archive"
    events = spied_syncs(monkeypatch)
    spied = os.replace

    def refused(src: str, dst: str, **fds: int) -> None:  # in the date folder held open (round 49)
        if "date=2026-01-02" in os.readlink(f"/proc/self/fd/{fds['dst_dir_fd']}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        spied(src, dst, **fds)

    monkeypatch.setattr(os, "replace", refused)
    with pytest.raises(ArchiveWriteError, match="No space left on device") as failed:
        write_rows(root, "features", _rows(), "part-r0-w0-000000", "r0")
    assert str(_folders(root)[1]) in str(failed.value)
    first, second, third = (sorted(p.name for p in f.iterdir()) for f in _folders(root))
    assert (first, second, third) == (["part-r0-w0-000000.parquet"], [], [])
    assert events[-1] == ("fsync", str(_folders(root)[0]))  # the renamed part's folder, after it


def test_the_sinks_snapshot_raises_a_failed_fsync_as_before(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the sink: the flush fails on its writer thread and the snapshot (a commit point) raises
    it on the worker, as a full disk does; nothing of the flush is named."""
    from tests.flows.archive_fixtures import T0
    from twin_models.records import FeatureVector

    sink = ParquetArchiveSink(tmp_path, "features", run_id="r", durable_snapshots=True)
    part = sink.build_part("features_out", "w0", None)

    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken)
    part.write_batch([FeatureVector("pump-000", T0, T0, {"vib.rms": 1.0}, 1)])
    with pytest.raises(ArchiveWriteError, match="Input/output error"):
        part.snapshot()
    assert not list(tmp_path.rglob("*.parquet*"))
    part.close()  # raised once on the worker: the close stays quiet (archive_writer's FailureGroup)
    assert sink.failures.raised


def test_without_the_pool_at_interpreter_exit_the_syncs_run_inline_in_the_same_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At exit (a run stopped by a signal writes what was handed over) the pool takes no work: the
    syncs are made on the writer's own thread, in the same order."""
    from concurrent.futures import ThreadPoolExecutor

    from flows.archive import synced_renames

    closed = ThreadPoolExecutor(1)
    closed.shutdown()
    monkeypatch.setattr(synced_renames, "_POOL", (os.getpid(), closed))
    root = tmp_path / "archive"
    write_rows(root, "features", _rows(), "part-r0-w0-000000", "r0")
    events = spied_syncs(monkeypatch)
    write_rows(root, "features", _rows(), "part-r1-w0-000000", "r1")
    assert [e[0] for e in events] == ["fsync"] * 3 + ["replace"] * 3 + ["fsync"] * 3
    assert synced_renames._POOL[1] is closed  # noqa: SLF001 - not replaced: the fallback ran


def test_a_flush_handed_over_and_written_at_interpreter_exit_is_whole(tmp_path: Path) -> None:
    """A process that ends without closing its sink (a run stopped by a signal): the writer's atexit
    writes the flush while the interpreter shuts down, where the pool takes no more work (a probe of
    ``_start`` saw every sync of this script done inline; which path runs is the threads' timing):
    either way the parts are whole and named, none left hidden."""
    import subprocess
    import sys

    script = f"""
from datetime import UTC, datetime, timedelta
from flows.dataflow.sinks.archive import ParquetArchiveSink
from twin_models.records import FeatureVector
t0 = datetime(2026, 1, 1, tzinfo=UTC)
part = ParquetArchiveSink({str(tmp_path)!r}, "features", run_id="r").build_part("f", "w0", None)
part.write_batch([FeatureVector("pump-000", t0 + timedelta(days=d), t0 + timedelta(days=d), {{"x": 1.0}}, 1)
                  for d in range(3)])
part.flush()  # handed to the writer thread, not waited for: the atexit writes it
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          check=False, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    parts = sorted((tmp_path / "features").rglob("*.parquet*"))
    assert [p.parent.name for p in parts] == ["date=2026-01-01", "date=2026-01-02", "date=2026-01-03"]
    assert all(p.name == "part-r-w0-000000.parquet" and pq.read_table(p).num_rows == 1 for p in parts)


def test_a_failed_flush_returns_with_none_of_its_syncs_still_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 41 (HOSTILE41): a flush failing before its renames (the disk full at its third part)
    waited for its parts' fsyncs but not for the syncs of the folders it had made, which ran on in
    the pool after the error was raised (the failure reported, the pool's work not done). Now the
    error is raised once every sync the flush started has finished."""
    import threading
    import time

    from flows.archive import layout

    running: list[str] = []
    lock = threading.Lock()
    real_fsync, real_write = os.fsync, layout.write_file

    def slow(fd: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}")
        with lock:
            running.append(name)
        try:
            time.sleep(0.3 if os.path.isdir(name) else 0.0)  # a folder's sync waits on the journal
            real_fsync(fd)
        finally:
            with lock:
                running.remove(name)

    def full(data: object, tmp: str, options: object, *, dir_fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{dir_fd}").endswith("date=2026-01-03"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(data, tmp, options, dir_fd=dir_fd)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "fsync", slow)
    monkeypatch.setattr(layout, "write_file", full)
    with pytest.raises(ArchiveWriteError, match="No space left on device"):
        write_rows(tmp_path / "archive", "features", _rows(), "part-r0-w0-000000", "r0")
    with lock:
        assert running == []
    assert not [p for p in (tmp_path / "archive").rglob("*") if p.is_file()]
