"""A durable snapshot hands over every archive table's rows of its worker and waits once (round 48,
part EPOCH48).

Bytewax calls the sinks' snapshots one after another at an epoch's end, and with a recovery store
each waited for its own table's write (last chunk, sort, encode, syncs) before the next table's
snapshot handed its rows over: the pause was the sum of the tables' writes. Now the first durable
snapshot of a worker hands over the rows of all its archive partitions (the run's other tables)
and waits for all their writers, which run together meanwhile (the group's turn is skipped while a
worker waits): the pause is about the longest write. Without a recovery store nothing changes, and
another worker thread's partitions are never touched.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from flows.dataflow.sinks.archive import ParquetArchiveSink
from flows.dataflow.sinks.archive_writer import FailureGroup
from tests.flows.test_archive_background import _held_writes
from tests.unit.test_serde import make_feature_vector


def _part(root: Path, group: FailureGroup, *, durable: bool = True) -> Any:
    sink = ParquetArchiveSink(root, "features", batch_rows=1000, flush_interval_s=1e9, run_id="r",
                              durable_snapshots=durable, failures=group)
    return sink.build_part("features_out_0", "w0", None)


def _rows(root: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in root.rglob("*.parquet"))


def _files(root: Path) -> int:
    return len(list(root.rglob("*.parquet")))


def test_a_durable_snapshot_leaves_every_table_of_its_worker_written(tmp_path: Path) -> None:
    run = FailureGroup()
    a, b = _part(tmp_path / "a", run), _part(tmp_path / "b", run)
    a.write_batch([make_feature_vector()] * 3)
    b.write_batch([make_feature_vector()] * 5)
    a.snapshot()  # was: b's 5 rows still buffered, written only at b's own snapshot
    assert (_rows(tmp_path / "a"), _rows(tmp_path / "b")) == (3, 5)
    assert (a.n_rows, b.n_rows) == (0, 0)
    b.write_batch([make_feature_vector()] * 2)  # more of the epoch's rows come to b after a's snapshot
    b.snapshot()
    assert _rows(tmp_path / "b") == 7
    assert _files(tmp_path / "b") == 2  # the epoch's rest: one more small file
    a.close()
    b.close()
    assert (_rows(tmp_path / "a"), _rows(tmp_path / "b")) == (3, 7)


def test_the_writers_a_durable_snapshot_waits_for_run_together(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Both tables' writes are under way at once while the worker waits (they took turns)."""
    started = _held_writes(monkeypatch, ("a", "b"))  # each write waits for started["release"]
    run = FailureGroup()
    a, b = _part(tmp_path / "a", run), _part(tmp_path / "b", run)
    errors: list[BaseException] = []

    def worker() -> None:  # one worker thread: both tables' batches, then a's snapshot
        try:
            a.write_batch([make_feature_vector()])
            b.write_batch([make_feature_vector()])
            a.snapshot()
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    snap = threading.Thread(target=worker)
    snap.start()
    running_at_once = started["a"].wait(timeout=10) and started["b"].wait(timeout=10)
    started["release"].set()
    snap.join(timeout=30)
    assert running_at_once  # was: b's rows not handed over (and the writers took turns)
    assert not errors
    assert (_rows(tmp_path / "a"), _rows(tmp_path / "b")) == (1, 1)
    a.close()
    b.close()


def test_another_worker_threads_partitions_are_not_touched(tmp_path: Path) -> None:
    run = FailureGroup()
    mine = _part(tmp_path / "mine", run)
    theirs = _part(tmp_path / "theirs", run)
    t = threading.Thread(target=theirs.write_batch, args=([make_feature_vector()] * 4,))
    t.start()
    t.join()
    mine.write_batch([make_feature_vector()])
    mine.snapshot()
    assert _rows(tmp_path / "mine") == 1
    assert theirs.n_rows == 4  # still buffered: only its own worker hands it over
    assert not (tmp_path / "theirs").exists()
    t = threading.Thread(target=theirs.snapshot)
    t.start()
    t.join()
    assert _rows(tmp_path / "theirs") == 4
    mine.close()
    theirs.close()


def test_without_a_recovery_store_a_snapshot_hands_over_its_own_rows_only(tmp_path: Path) -> None:
    run = FailureGroup()
    a, b = _part(tmp_path / "a", run, durable=False), _part(tmp_path / "b", run, durable=False)
    a.write_batch([make_feature_vector()])
    b.write_batch([make_feature_vector()] * 2)
    a.snapshot()
    assert b.n_rows == 2
    a.close()
    assert _rows(tmp_path / "a") == 1
    b.close()
    assert _rows(tmp_path / "b") == 2


def test_a_closed_partition_leaves_its_worker_s_members(tmp_path: Path) -> None:
    run = FailureGroup()
    a, b = _part(tmp_path / "a", run), _part(tmp_path / "b", run)
    a.write_batch([make_feature_vector()])
    b.write_batch([make_feature_vector()])
    b.close()
    assert run.mine() == [a]
    a.snapshot()
    a.close()
    assert run.mine() == []
    assert (_rows(tmp_path / "a"), _rows(tmp_path / "b")) == (1, 1)


def test_the_next_epochs_rows_of_a_table_ahead_wait_for_its_own_snapshot(tmp_path: Path) -> None:
    """Bytewax lets a table whose epoch closed first take the next epoch's rows while the others'
    snapshots are still to come: those rows stay buffered (a later table's snapshot handed them over
    as an extra small file) and go with the next epoch's files."""
    run = FailureGroup()
    a, b = _part(tmp_path / "a", run), _part(tmp_path / "b", run)
    for epoch in range(3):
        a.write_batch([make_feature_vector()] * 2)
        b.write_batch([make_feature_vector()] * 3)
        a.snapshot()  # the epoch's first: hands over a's and b's rows, waits for both
        a.write_batch([make_feature_vector()])  # a's next epoch, before b's snapshot of this one
        b.snapshot()
        assert a.n_rows == 1  # not handed over by b's snapshot
        assert (_rows(tmp_path / "a"), _rows(tmp_path / "b")) == (3 * epoch + 2, 3 * (epoch + 1))
    a.snapshot()
    a.close()
    b.close()
    assert (_files(tmp_path / "a"), _files(tmp_path / "b")) == (4, 3)  # one file a table an epoch
