"""``twin run``'s recovery folder held open and given as ``/proc/self/fd/N`` (round 43b, TIDY43b): the
store is made, locked, resumed and watched through the hold, never by its name."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from flows.app.held_recovery import recovery_moved
from flows.app.held_watch import NameWatch
from flows.app.out_held import held_folder
from flows.dataflow.recovery_store import lock_store, named, prepare_store, resume_point
from tests.flows.test_recovery_store import ITEMS, _run


def test_a_held_store_is_made_inside_the_held_folder_and_locked_beside_its_name(tmp_path: Path) -> None:
    """On 23a70f6 the partitions were made beside the folder and renamed over it: held, the folder
    given was /proc/self/fd/N, whose parent (/proc/self/fd) takes no folder (OSError)."""
    store = tmp_path / "rec"
    with held_folder(store, lambda: None) as at:
        assert named(at) == store
        lock_store(at)
        os.rename(store, tmp_path / "rec.moved")  # the name no longer leads to the held folder
        prepare_store(at, 2)
        out: list[int] = []
        _run(at, ITEMS, out)
        assert resume_point(at) is not None
    moved = tmp_path / "rec.moved"
    assert {p.name for p in moved.iterdir()} >= {"part-0.sqlite3", "part-1.sqlite3"}
    assert not [p for p in moved.iterdir() if p.name.startswith(".")]  # no temporary folder left
    assert not store.exists()  # nothing made at the name
    assert (tmp_path / ".rec.lock").is_file()  # the lock beside the folder, not in /proc


def test_a_held_store_whose_making_was_killed_is_made_again(tmp_path: Path) -> None:
    """A kill between the partitions moved in and the temporary folder removed: made again whole."""
    store = tmp_path / "rec"
    with held_folder(store, lambda: None) as at:
        prepare_store(at, 2)
        (store / "part-1.sqlite3").unlink()  # one partition moved in, not the other
        (store / ".twin-init-12345").mkdir()
        prepare_store(at, 2)
    assert sorted(p.name for p in store.iterdir()) == ["part-0.sqlite3", "part-1.sqlite3"]


def test_a_held_store_with_other_files_beside_a_temporary_folder_is_left_as_it_is(tmp_path: Path) -> None:
    store = tmp_path / "rec"
    with held_folder(store, lambda: None) as at:
        prepare_store(at, 1)
        (store / ".twin-init-12345").mkdir()
        (store / "notes.txt").write_text("mine")
        prepare_store(at, 1)
    assert (store / "notes.txt").read_text() == "mine" and (store / "part-0.sqlite3").is_file()


def test_a_moved_recovery_folder_is_said_in_its_own_words_and_a_removed_one_stops_once(
        tmp_path: Path) -> None:
    store, old = tmp_path / "rec", tmp_path / "rec.old"
    lines: list[str] = []
    stops: list[int] = []
    stopped = threading.Event()
    with held_folder(store, lambda: None) as at, \
            NameWatch(store, at, recovery_moved(store), lines.append, thread="twin-recovery-name",
                      every_s=0.01, on_removed=lambda: (stops.append(1), stopped.set())):
        time.sleep(0.1)
        assert lines == [] and stops == []
        os.rename(store, old)
        deadline = time.monotonic() + 10
        while not lines and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lines == [f"twin run: warning: --recovery-dir {store} leads to no folder now; this run goes "
                         f"on keeping its snapshots in the folder it started with, now at {old}: a restart "
                         f"resumes from them only if given that folder (move it back to {store}, or give "
                         f"--recovery-dir {old})"]
        shutil.rmtree(old)
        assert stopped.wait(10)
        time.sleep(0.1)
        assert stops == [1]


def test_a_renamed_store_stays_locked_under_its_new_name(tmp_path: Path) -> None:
    """Round 44: the lock was a file beside the folder's name: renamed mid-run (the watch's warning even
    says to give the new name to resume), a second `twin run` given the new name locked it too, and two
    executions wrote one store. Now the folder itself is locked as well (an ``flock`` on it)."""
    import subprocess
    import sys

    store, moved = tmp_path / "rec", tmp_path / "rec.moved"
    second = ("import sys; from pathlib import Path; from flows.dataflow.recovery_store import lock_store, "
              "RecoveryStoreError\ntry:\n    lock_store(Path(sys.argv[1]))\nexcept RecoveryStoreError as e:\n"
              "    sys.exit(str(e))\n")
    with held_folder(store, lambda: None) as at:
        lock_store(at)
        os.rename(store, moved)
        done = subprocess.run([sys.executable, "-c", second, str(moved)], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 1, done.stderr
        want = f"--recovery-dir {moved} is in use by process {os.getpid()} ("  # this one, holding it
        assert done.stderr.startswith(want), done.stderr
        assert (tmp_path / ".rec.moved.lock").read_text() == ""  # refused: no pid line written there
        store.mkdir()  # a new folder at the old name: refused by the lock file, which names the holder
        done = subprocess.run([sys.executable, "-c", second, str(store)], capture_output=True, text=True,
                              check=False)
        assert f"{store} is in use by twin run pid {os.getpid()}" in done.stderr, done.stderr


def test_a_store_folder_locked_by_an_archive_check_names_that_process_not_a_run(tmp_path: Path) -> None:
    """Round 45: a recovery folder that also holds an archive (a setup of an earlier round) is flocked,
    shared, by a `twin archive check` scanning it (exclusively by a compaction): a run starting then was
    told the folder was held by "a `twin run` started with it, perhaps under another name before a
    rename", and nothing named the process. Now its pid and command line are named."""
    import subprocess
    import sys

    from flows.dataflow.recovery_store import RecoveryStoreError

    store = tmp_path / "rec"
    store.mkdir()
    hold = ("import fcntl, os, sys, time\nfd = os.open(sys.argv[3], os.O_RDONLY | os.O_DIRECTORY)\n"
            "fcntl.flock(fd, fcntl.LOCK_SH)\nprint('held', flush=True)\ntime.sleep(60)\n")
    (script := tmp_path / "hold.py").write_text(hold)
    checker = subprocess.Popen([sys.executable, script.name, "archive", "check", store.name], cwd=tmp_path,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert checker.stdout is not None and checker.stdout.readline().strip() == "held"
        with pytest.raises(RecoveryStoreError) as refused:
            lock_store(store)
    finally:
        checker.kill()
        checker.wait()
    line = str(refused.value)
    assert f"in use by process {checker.pid} (" in line and "hold.py archive check " in line, line
    assert "twin run` started with it" not in line and "\n" not in line, line
    lock_store(store)  # the checker gone, the folder is the run's
