"""The archive sink writes its files on a background thread (issue 10, part SINK: alert latency).

A flush used to run on the Bytewax worker: every window closing meanwhile waited for the Parquet
files. Now the worker hands the records over and goes on; a recovery snapshot still returns only
once its rows are on disk (``durable_snapshots``), close always waits, and a failed write stops
the flow from the worker thread as before.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from flows.dataflow.sinks import archive
from flows.dataflow.sinks.archive import ParquetArchiveSink
from flows.dataflow.sinks.archive_writer import FailureGroup
from tests.unit.test_serde import make_feature_vector


def _part(root: Path, durable: bool, batch_rows: int = 1000, run_id: str = "r",
          failures: FailureGroup | None = None) -> Any:
    sink = ParquetArchiveSink(root, "features", batch_rows=batch_rows, flush_interval_s=1e9, run_id=run_id,
                              durable_snapshots=durable, failures=failures)
    return sink.build_part("features_out_0", "w0", None)


def _rows(root: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in root.rglob("*.parquet"))


def test_without_recovery_a_snapshot_does_not_wait_for_the_files(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    release, written = threading.Event(), threading.Event()
    real = archive.write_records

    def slow_disk(*args: Any, **kwargs: Any) -> int:
        release.wait(timeout=30)
        n = real(*args, **kwargs)
        written.set()
        return n

    monkeypatch.setattr(archive, "write_records", slow_disk)
    part = _part(tmp_path, durable=False)
    part.write_batch([make_feature_vector()])
    part.snapshot()  # the old inline flush blocked here until the disk was done (30 s, then wrote)
    assert not written.is_set()
    part.write_batch([make_feature_vector()])  # the worker goes on meanwhile
    release.set()
    part.close()  # close waits for everything handed over
    assert written.is_set()
    assert _rows(tmp_path) == 2


def test_a_recovery_snapshot_returns_once_its_rows_are_on_disk(tmp_path: Path) -> None:
    part = _part(tmp_path, durable=True)
    for n in range(1, 4):
        part.write_batch([make_feature_vector()] * 5)
        part.snapshot()
        assert _rows(tmp_path) == 5 * n
    part.close()
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_failed_write_stops_the_flow_on_the_worker_thread(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(*_args: Any, **_kwargs: Any) -> int:
        msg = "No space left on device"
        raise OSError(msg)

    monkeypatch.setattr(archive, "write_records", disk_full)
    run = FailureGroup()  # one per run: the sinks of one flow share it
    part = _part(tmp_path, durable=False, batch_rows=1, run_id="failed-1", failures=run)
    part.write_batch([make_feature_vector()])  # handed over: the write fails on the writer thread
    with pytest.raises(OSError, match="No space left on device"):
        part.writer.drain()
    with pytest.raises(OSError, match="No space left on device"):
        part.write_batch([make_feature_vector()])
    # raised on the worker thread already: close (Bytewax's teardown, where a second exception
    # aborts the process) writes and raises nothing more, and only for this flow's sinks
    monkeypatch.undo()
    same = _part(tmp_path / "same", durable=False, batch_rows=2, run_id="failed-1", failures=run)
    other = _part(tmp_path / "other", durable=False, batch_rows=2, run_id="healthy-1")
    for p in (same, other):
        p.write_batch([make_feature_vector()])  # buffered: written at close
    part.close()
    same.close()
    other.close()
    assert not (tmp_path / "same").exists()
    assert len(list((tmp_path / "other").rglob("*.parquet"))) == 1


def test_a_failure_belongs_to_its_run_not_to_the_process(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs in one process under one run id (a library user's, the tests'): the failure raised
    in the first was remembered process-wide by run id, so the second run's sinks dropped the rows
    they held at close and only logged their own failure."""
    def disk_full(*_args: Any, **_kwargs: Any) -> int:
        msg = "No space left on device"
        raise OSError(msg)

    monkeypatch.setattr(archive, "write_records", disk_full)
    first = _part(tmp_path / "first", durable=False, batch_rows=1, run_id="same-id")
    first.write_batch([make_feature_vector()])
    with pytest.raises(OSError, match="No space left on device"):
        first.writer.drain()  # raised on the worker thread: the first run stops
    first.close()
    monkeypatch.undo()
    second = _part(tmp_path / "second", durable=False, batch_rows=10, run_id="same-id")
    second.write_batch([make_feature_vector()] * 3)  # buffered: written at close
    second.close()
    assert _rows(tmp_path / "second") == 3  # was 0: skipped, the first run's failure remembered
    monkeypatch.setattr(archive, "write_records", disk_full)
    third = _part(tmp_path / "third", durable=False, batch_rows=10, run_id="same-id")
    third.write_batch([make_feature_vector()])
    with pytest.raises(OSError, match="No space left on device"):
        third.close()  # was only logged: the run returned as if its archive were written


def test_a_failure_first_seen_at_close_is_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(*_args: Any, **_kwargs: Any) -> int:
        msg = "No space left on device"
        raise OSError(msg)

    monkeypatch.setattr(archive, "write_records", disk_full)
    part = _part(tmp_path, durable=False, batch_rows=10, run_id="failed-2")
    part.write_batch([make_feature_vector()])  # buffered: written at close
    with pytest.raises(OSError, match="No space left on device"):
        part.close()


def test_files_keep_the_order_they_were_handed_over_in(tmp_path: Path) -> None:
    """One writer per partition, jobs in order: sequence numbers and write stamps agree."""
    part = _part(tmp_path, durable=False, batch_rows=2)
    for i in range(10):
        part.write_batch([make_feature_vector()])
        assert part.seq == (i + 1) // 2
    part.close()
    files = sorted((tmp_path / "features").rglob("*.parquet"))
    stamps = [pq.read_table(p, columns=["_write_seq"]).column(0)[0].as_py() for p in files]
    assert len(files) == 5
    assert stamps == sorted(stamps)


def test_the_writers_of_one_run_write_one_file_at_a_time(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """At an epoch's end every table hands its rows over at once: without a recovery store (the
    worker goes on meanwhile) their writers take turns (round 46, LAT46: several converting
    together starved the worker thread of the GIL); a run's writers only: another run's go on."""
    started = _held_writes(monkeypatch, ("a", "b", "other"))
    run, other_run = FailureGroup(), FailureGroup()
    parts = {name: _part(tmp_path / name, durable=False, failures=group)
             for name, group in (("a", run), ("b", run), ("other", other_run))}
    for part in parts.values():
        part.write_batch([make_feature_vector()])
        part.snapshot()  # hands the row to its writer
    assert started["other"].wait(timeout=10)  # another run's writer is not held back
    deadline = time.monotonic() + 10
    while not (started["a"].is_set() or started["b"].is_set()) and time.monotonic() < deadline:
        time.sleep(0.01)
    second = "b" if started["a"].is_set() else "a"
    assert started["a" if second == "b" else "b"].is_set()
    assert not started[second].wait(timeout=1.0)  # the run's other writer waits for its turn
    _release_and_close(parts, started, tmp_path)


def _held_writes(monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...]) -> dict[str, threading.Event]:
    """Each write of a part rooted at ``tmp_path / name`` marks ``started[name]`` and then waits for
    ``started["release"]``."""
    started = {name: threading.Event() for name in (*names, "release")}
    real = archive.write_records

    def disk(root: Path, *args: Any, **kwargs: Any) -> int:
        started[root.name].set()
        started["release"].wait(timeout=30)
        return real(root, *args, **kwargs)

    monkeypatch.setattr(archive, "write_records", disk)
    return started


def _release_and_close(parts: dict[str, Any], started: dict[str, threading.Event], root: Path) -> None:
    started["release"].set()
    for part in parts.values():
        part.close()
    assert all(e.is_set() for e in started.values())
    assert all(_rows(root / name) == 1 for name in parts)
