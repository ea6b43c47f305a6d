"""Bytewax recovery store hygiene: atomic initialisation and a consistent resume point.

Bytewax 0.21 keeps recovery data in SQLite *partitions* (``part-<i>.sqlite3``): state snapshots
(``snaps``, one row per step, state key and epoch), each execution's start (``exs``), each worker's
frontier (``fronts``: every epoch below it is completely snapshotted) and the garbage-collection
mark (``commits``). A restart resumes from epoch ``R``: the smallest worker frontier of the latest
execution (or that execution's own resume epoch for a worker that wrote none), loading for every
state key its newest snapshot *below* ``R``.

Epoch numbers are reused: the restarted execution runs epochs ``R, R+1, ...`` again. But a
killed execution may already have written snapshots at epochs ``>= R`` (every epoch's snapshots
are written before the frontier that covers them). Bytewax overwrites such a row only when the
same step and key is snapshotted again *in the same epoch number*; a key that the new execution
touches in a different epoch keeps the dead execution's row, which later supersedes the real
state (it is the newest below the next resume epoch, and garbage collection keeps it and drops
the real one). Its contents belong to another cut of the stream than the source offsets
restored with it: records counted twice in the window open at the crash, or lost. So before
every resume, :func:`discard_unfinished_epochs` deletes the snapshots at epochs ``>= R``: they
belong to no completed epoch, and the resumed execution writes them again.

:func:`lock_store` makes sure no other live ``twin run`` (with the same process index) uses the
store: two executions writing one store (a "killed" run that was only its wrapper, a second
start by hand) interleave frontiers, garbage collection and snapshots, and the store ends up
refused as collected past its resume epoch, or inconsistent. The lock is an ``flock`` on a file
beside the store, released by the kernel when the process dies, even by ``kill -9``.

:func:`init_store` creates the partitions in a temporary folder renamed into place, so a kill
during initialisation never leaves a half-made store that later runs would refuse. ``twin run`` holds
its folder open (round 43b: given as ``/proc/self/fd/N``, :func:`named`): the partitions are then made
in a temporary folder inside it and moved in, the temporary folder removed last; a store still holding
one was killed while made, and is made again (:func:`_killed_init`). The lock file of a held store is
beside its real path.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import pickle
import re
import shutil
import sqlite3
import stat
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bytewax.recovery import init_db_dir

from twin_models.text import first_few

__all__ = ["ResumePoint", "check_flow", "check_snapshots", "discard_unfinished_epochs", "init_store",
           "join_store", "lock_store", "named", "prepare_store", "resume_point", "store_failure"]

log = logging.getLogger(__name__)

PART_GLOB = "*.sqlite3"
_INIT_PREFIX = ".twin-init-"
"""The temporary folder inside a held store its partitions are made in (:func:`init_store`)."""


def named(store: Path) -> Path:
    """``store`` by its real path when it is a held folder's ``/proc/self/fd/N`` (``twin run``'s
    ``--recovery-dir``, round 43b), which means nothing beside it (its lock file) nor to a user (a log
    line); else as given."""
    return Path(os.path.realpath(store)) if str(store).startswith("/proc/self/fd/") else store


class RecoveryStoreError(ValueError):
    """The recovery store cannot be used or resumed from without losing data (one-line message)."""


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def _partitions(store: Path) -> list[Path]:
    return sorted(p for p in store.glob(PART_GLOB) if p.is_file())


_SQLITE_FAILURE = re.compile(r"(?:SqliteFailure|RusqliteError)\b.*?Some\(\"([^\"]*)\"\)")


def store_failure(exc: BaseException) -> str | None:
    """SQLite's words when ``exc`` (or an error in its chain) is the engine failing to write its
    recovery store (a full or read-only disk): Bytewax raises it as ``RuntimeError`` or
    ``PanicException`` text (``called `Result::unwrap()` on an `Err` value: SqliteFailure(...,
    Some("database or disk is full"))``), which ``twin run`` reported as an internal error."""
    seen: BaseException | None = exc
    while seen is not None:
        if (found := _SQLITE_FAILURE.search(str(seen))) is not None:
            return found.group(1)
        seen = seen.__cause__ or seen.__context__
    return None


def init_store(store: Path, partitions: int) -> None:
    """Create ``partitions`` empty recovery partitions in ``store`` (missing or empty), atomically.
    A disk that cannot take them is one line naming the store, and leaves no temporary folder. A held
    store (``/proc/self/fd/N``: never replaced, the hold would name a removed folder) gets them moved in."""
    if named(store) != store:
        _init_in_place(store, partitions)
        return
    store.parent.mkdir(parents=True, exist_ok=True)
    tmp = store.parent / f".{store.name}.init-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        init_db_dir(tmp, partitions)
    except BaseException as exc:  # the engine's PanicException is a BaseException
        shutil.rmtree(tmp, ignore_errors=True)
        _init_failed(store, exc)
    if store.exists():
        store.rmdir()  # empty (checked by the caller); rename needs the name free
    os.replace(tmp, store)


def _init_failed(store: Path, exc: BaseException) -> None:
    """``init_db_dir``'s failure: one line when the disk could not take the partitions, else ``exc``."""
    why = store_failure(exc)
    if why is None:
        raise exc
    msg = f"--recovery-dir {named(store)}: cannot create its recovery partitions: {why}"
    raise RecoveryStoreError(msg) from None


def _init_in_place(store: Path, partitions: int) -> None:
    """:func:`init_store` in the held (empty) folder ``store``: made in a temporary folder inside it,
    each partition moved in, the temporary folder removed last (until then :func:`_killed_init`)."""
    tmp = store / f"{_INIT_PREFIX}{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        init_db_dir(tmp, partitions)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        _init_failed(store, exc)
    for part in sorted(tmp.iterdir()):
        os.replace(part, store / part.name)
    tmp.rmdir()


def _killed_init(store: Path) -> bool:
    """Whether ``store`` is an initialisation in place a kill interrupted (:func:`_init_in_place`): its
    temporary folder is there and nothing but partitions beside it. Emptied, to be made again."""
    entries = list(store.iterdir()) if store.is_dir() else []
    if not any(e.name.startswith(_INIT_PREFIX) and e.is_dir() for e in entries):
        return False
    if not all(e.name.startswith(_INIT_PREFIX) or e.name.startswith("part-") for e in entries):
        return False
    for e in entries:
        if e.is_dir():
            shutil.rmtree(e)
        else:
            e.unlink()
    return True


@dataclass(frozen=True)
class ResumePoint:
    """Where Bytewax will resume: the next execution number and its resume epoch."""

    execution: int
    epoch: int
    commit_epochs: dict[int, int]

    @property
    def too_old(self) -> dict[int, int]:
        """Partitions whose garbage collection passed the resume epoch (Bytewax refuses them)."""
        return {p: c for p, c in self.commit_epochs.items() if c > self.epoch}


_ACCESS_CODES = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")
_ACCESS_WORDS = ("readonly", "read-only", "unable to open", "permission")


def _mode(path: Path) -> str:
    try:
        st = path.stat()
    except OSError as exc:
        return str(exc.strerror or exc)
    return f"owner uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o}"


def _access_refusal(part: Path, exc: sqlite3.Error) -> RecoveryStoreError | None:
    """The one-line refusal of a partition SQLite may not write or open (a read-only file, folder or
    file system, another user's): SQLite's error says so, by its code or its words. None otherwise."""
    code = str(getattr(exc, "sqlite_errorname", "") or "")
    if not (code.startswith(_ACCESS_CODES) or any(w in str(exc).lower() for w in _ACCESS_WORDS)):
        return None
    try:
        read_only_fs = bool(os.statvfs(part.parent).f_flag & os.ST_RDONLY)
    except OSError:
        read_only_fs = False
    where = f"the file: {_mode(part)}; the folder: {_mode(part.parent)}"
    where += "; on a read-only file system" if read_only_fs else ""
    msg = (f"recovery store {part.parent}: partition {part.name} cannot be written or opened as uid "
           f"{os.geteuid()} (SQLite: {exc}; {where}): "
           "make the folder and its files writable for this user, or run as their owner")
    return RecoveryStoreError(msg)


def _unreadable(part: Path, exc: sqlite3.Error) -> RecoveryStoreError:
    """The one-line refusal of a partition SQLite cannot read as Bytewax's (truncated, overwritten,
    zero bytes, tables of another layout): it used to stop ``twin run`` as an internal error. One it
    may not write or open (:func:`_access_refusal`) is said so: it was called damaged (round 28)."""
    if (refusal := _access_refusal(part, exc)) is not None:
        return refusal
    msg = (f"recovery store {part.parent}: partition {part.name} cannot be read as a Bytewax recovery "
           f"partition ({exc}): it is damaged or not Bytewax 0.21's; restore the folder from a backup, "
           "or give an empty --recovery-dir to start afresh")
    return RecoveryStoreError(msg)


def _rows(parts: list[Path], sql: str) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = []
    for part in parts:
        try:
            with closing(_connect(part)) as conn:
                out.extend(conn.execute(sql).fetchall())
        except sqlite3.Error as exc:
            raise _unreadable(part, exc) from None
    return out


def resume_point(store: Path) -> ResumePoint | None:
    """Bytewax's resume calculation over every partition; ``None`` before any execution.

    The same rule as Bytewax's: for the latest execution, each worker's largest written frontier
    (its execution's resume epoch when it wrote none), and the smallest of those.
    """
    parts = _partitions(store)
    exs = _rows(parts, "SELECT ex_num, worker_count, resume_epoch FROM exs")
    if not exs:
        return None
    ex_num, workers, epoch = max(exs)
    fronts = _rows(parts, f"SELECT worker_index, worker_frontier FROM fronts WHERE ex_num = {int(ex_num)}")
    progress = dict.fromkeys(range(workers), epoch)
    for worker, front in fronts:
        progress[worker] = max(progress.get(worker, epoch), front)
    commits = {part: commit for part, commit in _rows(parts, "SELECT part_index, commit_epoch FROM commits")}
    return ResumePoint(ex_num + 1, min(progress.values()), commits)


def _complete(store: Path) -> bool:
    """Whether ``store`` holds every partition (the resume point needs all of them)."""
    rows = _rows(_partitions(store), "SELECT part_index, part_count FROM parts")
    counts = {count for _index, count in rows}
    return len(counts) == 1 and {index for index, _count in rows} == set(range(counts.pop()))


def discard_unfinished_epochs(store: Path, point: ResumePoint) -> int:
    """Delete the snapshots at epochs ``>= point.epoch`` (see the module docstring); returns how many."""
    removed = 0
    for part in _partitions(store):
        try:
            with closing(_connect(part)) as conn:
                conn.execute("BEGIN IMMEDIATE")
                cur = conn.execute("DELETE FROM snaps WHERE snap_epoch >= ?", (point.epoch,))
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _unreadable(part, exc) from None
        removed += max(cur.rowcount, 0)
    return removed


def check_snapshots(store: Path, loaded: Callable[[str, str, Any], None] | None = None) -> None:
    """Refuse in one line a store holding a snapshot the resume would load but cannot unpickle: the
    newest of each step and state key (those of unfinished epochs are discarded first). A snapshot
    of classes another twinflow version pickled (a name since removed) or damaged bytes made the
    engine stop mid-start as ``twin: internal error: UnpicklingError: ...``, naming neither the
    store nor the state. Costs one more unpickling of the state at start-up; ``loaded(step, key,
    state)`` is told each state so unpickled (what the resume restores)."""
    for part in _partitions(store):
        try:
            with closing(_connect(part)) as conn:
                rows = conn.execute("SELECT step_id, state_key, snap_epoch, ser_change FROM snaps "
                                    "ORDER BY step_id, state_key, snap_epoch DESC")
                last = None
                for step, key, epoch, blob in rows:
                    if (step, key) == last or blob is None:  # an older one, or a state discarded
                        continue
                    last = (step, key)
                    try:
                        state = pickle.loads(blob)  # noqa: S301 - what the engine itself loads next
                    except Exception as exc:  # noqa: BLE001 - any failure to load is the refusal
                        msg = (f"recovery store {store}: the snapshot of step {step}, key {key} (epoch "
                               f"{epoch}, {part.name}) cannot be read ({type(exc).__name__}: {exc}): "
                               "written by another twinflow version, or damaged; restore the folder from "
                               "a backup, or give an empty --recovery-dir to start afresh")
                        raise RecoveryStoreError(msg) from None
                    if loaded is not None:
                        loaded(step, key, state)
        except sqlite3.Error as exc:
            raise _unreadable(part, exc) from None


def check_flow(store: Path, flow_id: str) -> None:
    """Refuse in one line a store whose snapshots are all of another dataflow's steps (a Bytewax
    folder of another program): resumed, none of its state was loaded, and it was written a
    twinflow cluster record and twinflow's snapshots beside the other program's, without a word."""
    if not _partitions(store) or not _complete(store):
        return
    steps = sorted({step for (step,) in _rows(_partitions(store), "SELECT DISTINCT step_id FROM snaps")})
    if steps and not any(str(s).startswith(f"{flow_id}.") for s in steps):
        shown = first_few(steps, 3)
        msg = (f"--recovery-dir {store} holds the state of another dataflow (steps {shown}), not "
               f"{flow_id}'s: give an empty --recovery-dir to start afresh")
        raise RecoveryStoreError(msg)


_LOCKS: list[IO[str]] = []  # held for the life of the process


def _lock_file(store: Path, path: Path) -> IO[str]:
    """The lock file, opened without following a symbolic link: one planted there (``.rec.lock ->
    /etc/passwd``) had its target truncated and overwritten with the pid line. A lock that is a
    link, a folder or anything but a regular file is one line naming it."""
    try:
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        what = "a symbolic link (not followed)" if exc.errno == errno.ELOOP else os.strerror(exc.errno or 0)
        msg = f"--recovery-dir {store}: its lock file {path} cannot be used: {what}; remove it"
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and not os.path.lexists(path):
            # round 45: "remove it" of a file that is not there; the folder beside is what cannot be written
            msg = (f"--recovery-dir {store}: its lock file {path} cannot be made in {path.parent} ({what}): "
                   "a run keeps it beside its recovery folder; make that folder writable for this user, or "
                   "give a recovery folder in one that is")
        raise RecoveryStoreError(msg) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO, a device
        os.close(fd)
        msg = f"--recovery-dir {store}: its lock file {path} cannot be used: not a regular file; remove it"
        raise RecoveryStoreError(msg)
    return open(fd, "a+", encoding="utf-8", closefd=True)  # noqa: SIM115 - held for the process's life


def _lock_path(store: Path, process_id: int | None) -> Path:
    """The lock file of ``store`` for a single-process run (None) or process ``process_id`` of a cluster."""
    suffix = "" if process_id is None else f"-{process_id}"
    store = named(store)  # a held folder's: beside its real path, not in /proc (round 43b)
    return store.parent / f".{store.name}{suffix}.lock"


def lock_store(store: Path, process_id: int | None = None) -> None:
    """Lock ``store`` for this process (index ``process_id`` of a cluster; else the folder too), or refuse."""
    store.parent.mkdir(parents=True, exist_ok=True)
    path = _lock_path(store, process_id)
    handle = _lock_file(store, path)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        msg = (f"--recovery-dir {store} is in use by {holder} (lock {path}): one `twin run` per "
               "recovery folder (and process index)")
        raise RecoveryStoreError(msg) from None
    try:  # after the lock file, whose refusal names the holder's pid
        if process_id is None:
            from flows.dataflow.store_lock import lock_folder

            lock_folder(store)
    except RecoveryStoreError:
        handle.close()
        raise
    handle.seek(0)
    handle.truncate()
    handle.write(f"twin run pid {os.getpid()}\n")
    handle.flush()
    _LOCKS.append(handle)


def join_store(store: Path, process_id: int) -> None:
    """Make ``store`` ready for process ``process_id`` > 0 of a cluster, or refuse it in one line
    (round 28, part RECOV28). Process 0 creates and repairs the partitions in its own folder, and
    Bytewax finds each partition in whichever process's folder holds it; so another process's
    folder is empty (its own machine) or process 0's very folder (the same machine). Measured
    with 0.21 on a real broker: a missing folder stopped every process of the cluster with
    ``internal error: PanicException: Send thread panic``, exit 1 (it is created here); a folder
    holding a copy of the partitions (process 0's copied, a folder of another cluster) made two
    copies of each partition, and every start after began again at the topics' beginning, its
    state lost, exit 0, without a word. A folder with partitions counts as process 0's when process
    0 (or a single-process run) has locked it on this machine: its lock file is beside it."""
    if not store.exists():
        store.mkdir(parents=True)
        return
    parts = _partitions(store)
    shared = (_lock_path(store, 0), _lock_path(store, None))
    if not parts or any(lock.is_file() for lock in shared):
        return
    shown = first_few(parts, 3, show=lambda p: p.name)
    msg = (f"--recovery-dir {store} of process {process_id} holds recovery partitions ({shown}) that "
           f"process 0 has never used on this machine (no {shared[0].name} beside it): in a cluster, "
           "process 0 keeps the partitions in its --recovery-dir and the other processes give an empty "
           "folder (or process 0's, on its machine: start process 0 first); a copy here is taken for the "
           "same partitions and every "
           "resume starts again from the beginning; move its files away (or restore them to process 0's "
           "folder)")
    raise RecoveryStoreError(msg)


def prepare_store(store: Path, partitions: int,
                  loaded: Callable[[str, str, Any], None] | None = None) -> None:
    """Initialise an empty store, or make an existing one safe to resume from (``loaded``: told each
    state the resume restores, :func:`check_snapshots`)."""
    if not store.exists() or _killed_init(store) or not any(store.iterdir()):
        init_store(store, partitions)
        log.info("initialised %d recovery partitions in %s", partitions, named(store))
        return
    if not _partitions(store):
        msg = (f"--recovery-dir {store} is not empty but holds no recovery partitions "
               "(part-*.sqlite3): give an empty or a twinflow recovery folder")
        raise RecoveryStoreError(msg)
    if not _complete(store):
        log.info("recovery store %s holds part of the partitions only: resume repair skipped", named(store))
        return
    point = resume_point(store)
    if point is None:
        return
    if point.too_old:
        msg = (f"recovery store {store}: partitions {sorted(point.too_old)} were garbage-collected "
               f"past the resume epoch {point.epoch} (commit epochs {point.too_old}); its state "
               "cannot be restored without loss: restore a backup of the folder or start afresh "
               "with an empty one")
        raise RecoveryStoreError(msg)
    removed = discard_unfinished_epochs(store, point)
    check_snapshots(store, loaded)
    if removed:
        log.warning("recovery store %s: discarded %d snapshots of unfinished epochs >= %d (written by the "
                    "interrupted run; they are redone now)", named(store), removed, point.epoch)
