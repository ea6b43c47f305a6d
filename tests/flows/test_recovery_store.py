"""The recovery store repair (flows.dataflow.recovery_store) against real Bytewax recovery partitions."""

from __future__ import annotations

import os
import pickle
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig
from bytewax.testing import TestingSink, TestingSource, run_main

from flows.dataflow.recovery_store import RecoveryStoreError, lock_store, prepare_store, resume_point

ITEMS = [1, 2, 3, 4, 5, 6]
SUM_STEP = "store_test.sum.stateful_flat_map.stateful.stateful_batch"  # as Bytewax names it


def _run(store: Path, items: list[Any], out: list[Any]) -> None:
    """A running sum per key (stateful step ``sum``) over ``items``, one epoch per item."""
    flow = Dataflow("store_test")
    keyed = op.key_on("key", op.input("inp", flow, TestingSource(items)), lambda _x: "k")
    sums = op.stateful_map("sum", keyed, lambda total, x: ((total or 0) + x, (total or 0) + x))
    op.output("out", sums, TestingSink(out))
    run_main(flow, epoch_interval=timedelta(0), recovery_config=RecoveryConfig(store))


def _sql(store: Path, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(store / "part-0.sqlite3") as conn:
        return conn.execute(query, args).fetchall()


def _aborted_store(tmp_path: Path) -> tuple[Path, list[Any]]:
    """A store left by a run that stopped after the first three items."""
    store = tmp_path / "recovery"
    prepare_store(store, 1)
    items: list[Any] = [*ITEMS[:3], TestingSource.ABORT(), *ITEMS[3:]]
    first: list[Any] = []
    _run(store, items, first)
    return store, items


def test_a_new_store_is_initialised_whole(tmp_path: Path) -> None:
    store = tmp_path / "deep" / "recovery"
    prepare_store(store, 2)
    assert sorted(p.name for p in store.iterdir()) == ["part-0.sqlite3", "part-1.sqlite3"]
    assert not [p for p in store.parent.iterdir() if p.name.startswith(".")]  # no temp folder left
    assert resume_point(store) is None


def test_resume_point_is_the_one_bytewax_resumes_from(tmp_path: Path) -> None:
    store, items = _aborted_store(tmp_path)
    point = resume_point(store)
    assert point is not None and point.epoch > 1
    out: list[Any] = []
    prepare_store(store, 1)
    _run(store, items, out)
    started = _sql(store, "SELECT ex_num, resume_epoch FROM exs ORDER BY ex_num DESC LIMIT 1")
    assert started == [(point.execution, point.epoch)]
    assert out[-1] == ("k", sum(ITEMS))  # the resumed run's sum counts every item once


def test_snapshots_of_unfinished_epochs_are_discarded_before_resuming(tmp_path: Path) -> None:
    """A killed run leaves snapshots at epochs >= the resume epoch (written before the frontier
    that covers them). They must not survive into the resumed run, where they would later pass
    for the newest state of their key."""
    store, items = _aborted_store(tmp_path)
    point = resume_point(store)
    assert point is not None
    kept = _sql(store, "SELECT step_id, state_key, snap_epoch FROM snaps WHERE snap_epoch < ?", point.epoch)
    stale = [(SUM_STEP, "k", point.epoch + e) for e in (0, 5)]
    with sqlite3.connect(store / "part-0.sqlite3") as conn:
        conn.executemany("INSERT INTO snaps (step_id, state_key, snap_epoch, ser_change) "
                         "VALUES (?, ?, ?, NULL)", stale)
    prepare_store(store, 1)
    assert _sql(store, "SELECT step_id, state_key, snap_epoch FROM snaps") == kept
    out: list[Any] = []
    _run(store, items, out)
    assert out[-1] == ("k", sum(ITEMS))


def test_a_stale_snapshot_never_passes_for_the_newest_state_after_later_crashes(tmp_path: Path) -> None:
    """End to end: a killed run's leftover snapshot of key ``b`` at an epoch the resumed run
    reaches without touching ``b``; a second crash later, the next resume would load it (it is
    the newest below the resume epoch) and count ``b``'s items wrongly, unless discarded."""
    store = tmp_path / "recovery"
    items: list[Any] = [("a", 1), ("b", 1), TestingSource.ABORT(), ("a", 1), ("a", 1), ("a", 1),
                        ("a", 1), TestingSource.ABORT(), ("a", 1), ("b", 1)]
    outs: list[list[Any]] = [[], [], []]
    prepare_store(store, 1)
    _run_pairs(store, items, outs[0])
    point = resume_point(store)
    assert point is not None
    leftover = (SUM_STEP, "b", point.epoch + 1, pickle.dumps(1000))
    with sqlite3.connect(store / "part-0.sqlite3") as conn:
        conn.execute("INSERT INTO snaps (step_id, state_key, snap_epoch, ser_change) VALUES (?, ?, ?, ?)",
                     leftover)
    for out in outs[1:]:
        prepare_store(store, 1)
        _run_pairs(store, items, out)
    assert outs[2][-1] == ("b", 2)


def _run_pairs(store: Path, items: list[Any], out: list[Any]) -> None:
    flow = Dataflow("store_test")
    keyed = op.key_on("key", op.input("inp", flow, TestingSource(items)), lambda kv: kv[0])
    sums = op.stateful_map("sum", op.map_value("val", keyed, lambda kv: kv[1]),
                           lambda total, x: ((total or 0) + x, (total or 0) + x))
    op.output("out", sums, TestingSink(out))
    run_main(flow, epoch_interval=timedelta(0), recovery_config=RecoveryConfig(store))


def test_a_store_collected_past_its_resume_epoch_is_refused_in_one_line(tmp_path: Path) -> None:
    store, _items = _aborted_store(tmp_path)
    point = resume_point(store)
    assert point is not None
    with sqlite3.connect(store / "part-0.sqlite3") as conn:
        conn.execute("UPDATE commits SET commit_epoch = ?", (point.epoch + 3,))
    with pytest.raises(RecoveryStoreError, match=r"garbage-collected past the resume epoch") as err:
        prepare_store(store, 1)
    assert "\n" not in str(err.value)


def test_a_folder_of_other_files_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "recovery"
    store.mkdir()
    (store / "notes.txt").write_text("not a recovery store")
    with pytest.raises(RecoveryStoreError, match="holds no recovery partitions"):
        prepare_store(store, 1)


def test_a_store_in_use_by_a_live_run_is_refused_until_that_run_dies(tmp_path: Path) -> None:
    store = tmp_path / "recovery"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from flows.dataflow.recovery_store import lock_store; lock_store(Path(sys.argv[1])); "
         "print('locked', flush=True); time.sleep(60)", str(store)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(RecoveryStoreError, match=f"in use by twin run pid {holder.pid}"):
            lock_store(store)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    lock_store(store)  # the kernel released the dead run's lock


def _damage(part: Path, how: str) -> None:
    if how == "truncated":
        part.write_bytes(part.read_bytes()[:1000])
    elif how == "overwritten":
        part.write_bytes(bytes(range(256)) * (part.stat().st_size // 256))
    elif how == "zero bytes":
        part.write_bytes(b"")
    else:  # a table of another layout (an older or newer Bytewax); closed: its checkpoint is done
        with closing(sqlite3.connect(part)) as conn:
            conn.execute(f"ALTER TABLE {how.split()[0]} RENAME TO {how.split()[0]}_old")


DAMAGES = ["truncated", "overwritten", "zero bytes", "exs renamed", "snaps renamed", "commits renamed"]


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_partition_is_refused_in_one_line_naming_it_and_left_as_it_is(tmp_path: Path,
                                                                              how: str) -> None:
    """Main: `twin: internal error: DatabaseError: database disk image is malformed` (also `file is
    not a database`, `OperationalError: no such table: parts`), naming neither the store nor the file."""
    store, _items = _aborted_store(tmp_path)
    part = store / "part-0.sqlite3"
    _damage(part, how)
    before = part.read_bytes()
    with pytest.raises(RecoveryStoreError) as err:
        prepare_store(store, 1)
    text = str(err.value)
    assert text.startswith(f"recovery store {store}: partition part-0.sqlite3 cannot be read as a Bytewax "
                           "recovery partition (")
    assert text.endswith("or give an empty --recovery-dir to start afresh")
    assert "\n" not in text
    assert part.read_bytes() == before
    if how != "snaps renamed":  # the resume point reads the other tables
        with pytest.raises(RecoveryStoreError, match="partition part-0.sqlite3 cannot be read"):
            resume_point(store)  # what the cluster check asks of a store without its record


LIMITED = """
import resource, signal, sys
from datetime import timedelta
from pathlib import Path
import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig
from bytewax.testing import TestingSink, TestingSource, run_main
from flows.dataflow.recovery_store import RecoveryStoreError, prepare_store
try:
    from flows.dataflow.recovery_store import store_failure
except ImportError:  # main's code: the engine's own error, as `twin run` reported it
    store_failure = lambda exc: f"{type(exc).__name__}: {exc}"

store, extra = Path(sys.argv[1]), int(sys.argv[2])
if extra:  # room for the partition, not for the snapshots
    prepare_store(store, 1)
limit = sum(p.stat().st_size for p in store.glob("*")) + extra if extra else 4096
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # writes past it fail (EFBIG): a full disk
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
try:
    if not extra:
        prepare_store(store, 1)
    flow = Dataflow("store_test")
    keyed = op.key_on("key", op.input("inp", flow, TestingSource(range(3000))), lambda x: str(x))
    op.output("out", op.stateful_map("sum", keyed, lambda t, x: (x, x)), TestingSink([]))
    run_main(flow, epoch_interval=timedelta(0), recovery_config=RecoveryConfig(store))
except RecoveryStoreError as exc:
    print("refused:", exc)
except BaseException as exc:
    print("engine:", store_failure(exc))
"""


@pytest.mark.parametrize("extra", [0, 8192], ids=["creating", "snapshotting"])
def test_a_store_on_a_full_disk_is_named_in_sqlite_s_words(tmp_path: Path, extra: int) -> None:
    """Main: `twin: internal error: PanicException: called `Result::unwrap()` on an `Err` value:
    RusqliteError { ... Some("disk I/O error") }` (its `.recovery.init-<pid>` folder left beside the
    store), and mid-run `internal error: RuntimeError: (src/run.rs:167:13) ... SqliteFailure(...)`;
    `twin run` now stops with one line naming the store (exit 2 when creating it, 1 mid-run)."""
    store = tmp_path / "recovery"
    proc = subprocess.run([sys.executable, "-c", LIMITED, str(store), str(extra)], capture_output=True,
                          text=True, check=False, timeout=120)
    words = ("disk I/O error", "database or disk is full")
    if extra:
        assert proc.stdout.strip() in {f"engine: {w}" for w in words}, proc.stdout + proc.stderr
    else:
        assert proc.stdout.strip() in {f"refused: --recovery-dir {store}: cannot create its recovery "
                                       f"partitions: {w}" for w in words}, proc.stdout + proc.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == [], list(tmp_path.iterdir())


GONE = b"ctwin_models.records\nSnapshotOfARemovedClass\n)\x81."  # a class a later version removed


@pytest.mark.parametrize("blob", [b"\x00\xff\x00", pickle.dumps(7)[:-3], GONE], ids=["junk", "cut", "gone"])
def test_a_snapshot_the_resume_would_load_but_cannot_read_is_refused_naming_it(tmp_path: Path,
                                                                             blob: bytes) -> None:
    """Main: `twin: internal error: UnpicklingError: invalid load key, '\\x00'.` (or `EOFError`,
    `AttributeError: Can't get attribute ...`) once the engine loaded it, naming no store or step."""
    store, _items = _aborted_store(tmp_path)
    point = resume_point(store)
    assert point is not None
    newest = _sql(store, "SELECT MAX(snap_epoch) FROM snaps WHERE step_id = ? AND snap_epoch < ?",
                  SUM_STEP, point.epoch)[0][0]
    with sqlite3.connect(store / "part-0.sqlite3") as conn:
        conn.execute("UPDATE snaps SET ser_change = ? WHERE step_id = ? AND snap_epoch = ?",
                     (blob, SUM_STEP, newest))
    with pytest.raises(RecoveryStoreError) as err:
        prepare_store(store, 1)
    assert str(err.value).startswith(f"recovery store {store}: the snapshot of step {SUM_STEP}, key k "
                                     f"(epoch {newest}, part-0.sqlite3) cannot be read (")
    assert "\n" not in str(err.value)


def test_a_damaged_snapshot_the_resume_would_not_load_is_no_reason_to_refuse(tmp_path: Path) -> None:
    store, items = _aborted_store(tmp_path)
    point = resume_point(store)
    assert point is not None
    newest = _sql(store, "SELECT MAX(snap_epoch) FROM snaps WHERE step_id = ?", SUM_STEP)[0][0]
    with sqlite3.connect(store / "part-0.sqlite3") as conn:  # an older, superseded one (a backup's)
        conn.execute("INSERT OR REPLACE INTO snaps (step_id, state_key, snap_epoch, ser_change) "
                     "VALUES (?, 'k', ?, ?)", (SUM_STEP, newest - 1, b"\x00"))
    prepare_store(store, 1)
    out: list[Any] = []
    _run(store, items, out)
    assert out[-1] == ("k", sum(ITEMS))


@pytest.mark.parametrize("planted", ["link", "folder", "fifo"])
def test_a_lock_file_that_is_not_a_regular_file_is_refused_and_nothing_written_through_it(
        tmp_path: Path, planted: str) -> None:
    """Main: a symbolic link planted as the lock (`.recovery.lock -> ~/.bashrc`) had its target
    truncated and overwritten with `twin run pid N`; a folder was `[Errno 21] Is a directory: ...`."""
    store = tmp_path / "recovery"
    lock, target = tmp_path / ".recovery.lock", tmp_path / "precious.txt"
    target.write_text("keep me\n")
    if planted == "link":
        lock.symlink_to(target)
    elif planted == "folder":
        lock.mkdir()
    else:
        os.mkfifo(lock)
    with pytest.raises(RecoveryStoreError) as err:
        lock_store(store)
    assert str(err.value).startswith(f"--recovery-dir {store}: its lock file {lock} cannot be used: ")
    assert str(err.value).endswith("; remove it")
    assert target.read_text() == "keep me\n"


def test_another_process_s_missing_folder_is_made_and_its_empty_or_shared_one_joins(tmp_path: Path) -> None:
    """A cluster's process 1 (round 28, part RECOV28): a missing folder (a new machine) stopped every
    process with the engine's `PanicException: Send thread panic`; it is made, empty. Process 0's very
    folder (its lock beside it, on the same machine) or a single-process run's is joined as it is."""
    from flows.dataflow.recovery_store import join_store

    missing = tmp_path / "node-b" / "recovery"
    join_store(missing, 1)
    assert missing.is_dir() and not any(missing.iterdir())
    join_store(missing, 1)  # empty: joined
    for lock in (".shared-0.lock", ".single.lock"):
        store = tmp_path / lock[1:].split("-")[0].split(".")[0]
        prepare_store(store, 2)
        (tmp_path / lock).write_text("twin run pid 1\n")
        before = sorted(p.name for p in store.iterdir())
        join_store(store, 1)
        assert sorted(p.name for p in store.iterdir()) == before


def test_another_process_s_folder_holding_partitions_process_0_never_used_is_refused(tmp_path: Path) -> None:
    """A copy of the store in process 1's folder (process 0's restored on the wrong machine, another
    cluster's): on a real broker (tests/integration/test_kafka_cluster_store.py) both copies were used
    and every start read the topics from their beginning; refused in one line, the folder untouched.
    A lock of another process index beside it is not process 0's."""
    from flows.dataflow.recovery_store import join_store

    store = tmp_path / "recovery"
    prepare_store(store, 3)
    (tmp_path / ".recovery-2.lock").write_text("twin run pid 1\n")
    before = {p.name: p.read_bytes() for p in store.iterdir()}
    with pytest.raises(RecoveryStoreError) as err:
        join_store(store, 2)
    assert str(err.value) == (
        f"--recovery-dir {store} of process 2 holds recovery partitions (part-0.sqlite3, part-1.sqlite3, "
        "part-2.sqlite3) that process 0 has never used on this machine (no .recovery-0.lock beside it): in "
        "a cluster, process 0 keeps the partitions in its --recovery-dir and the other processes give an "
        "empty folder (or process 0's, on its machine: start process 0 first); a copy here is taken for "
        "the same partitions and "
        "every resume starts again from the beginning; move its files away (or restore them to process "
        "0's folder)")
    assert {p.name: p.read_bytes() for p in store.iterdir()} == before


def test_a_folder_of_many_partitions_names_three_and_counts_the_rest(tmp_path: Path) -> None:
    """Round 42 (TIDY42): the first three, then ", ..."; now "and N more", as every such line says."""
    from flows.dataflow.recovery_store import join_store

    store = tmp_path / "recovery"
    prepare_store(store, 5)
    with pytest.raises(RecoveryStoreError) as err:
        join_store(store, 1)
    named = "part-0.sqlite3, part-1.sqlite3, part-2.sqlite3 and 2 more"
    assert f"holds recovery partitions ({named}) that" in str(err.value)
