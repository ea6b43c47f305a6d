"""The compaction lock and ``twin archive check`` (round 29, part HOSTILE29).

Round 28's lock was exclusive for both commands: a compaction started while an ``archive check``
scanned the date folders for a killed compaction's files (0.3 s on 24,000 date folders) was refused
with ``another `twin archive compact` is compacting`` (none was), and of two checks at once the
second judged no file stale. Now a check holds the lock shared and a compaction waits for checks
(at most :data:`flows.archive.compact.CHECK_WAIT_S`); a compaction holding it is refused as before
(``test_hostile_compact.py``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import flows.archive.compact as compact
from flows.archive.query import query
from flows.cli.main import main
from tests.flows.test_archive_compact import VIEW, _archive
from tests.flows.test_stop_signals import sigint_interrupts

COMPACT = ["archive", "compact", "--before", "2026-01-03", "--archive"]


def _held_by_a_check(root: Path, seconds: float, release: threading.Event | None = None) -> threading.Thread:
    """Another `archive check`'s hold of the lock (its own function, on its own descriptor), for
    ``seconds`` or, with ``release``, until it is set (a bounded wait of a minute)."""
    holding = threading.Event()

    def check() -> None:
        with compact.compaction_lock(root, wait=True) as lock:
            assert lock.held
            holding.set()
            (release or threading.Event()).wait(seconds)

    thread = threading.Thread(target=check, daemon=True)
    thread.start()
    assert holding.wait(10)
    return thread


def test_a_compaction_started_while_a_check_scans_waits_for_it_and_compacts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _archive(tmp_path / "a")
    view = query(root, VIEW)
    thread = _held_by_a_check(root, 0.5)
    code = main([*COMPACT, str(root)])  # main: 2, "another `twin archive compact` is compacting"
    out, err = capsys.readouterr()
    thread.join()
    assert (code, err) == (0, ""), err
    assert out.splitlines()[-1] == f"archive {root}: 2 date folders compacted"
    assert query(root, VIEW) == view


def test_two_checks_at_once_both_report_a_killed_compaction_s_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _archive(tmp_path / "a")
    stale = root / "features" / "date=2026-01-01" / ".part-compact-killed.parquet.tmp"
    stale.write_bytes(b"a killed compaction's rows")
    thread = _held_by_a_check(root, 1.0)
    assert main(["archive", "check", "--archive", str(root)]) == 0
    out = capsys.readouterr().out
    thread.join()
    assert out.splitlines()[0].startswith("1 temporary file of a killed compaction"), out  # main: not said
    assert stale.exists()


def test_a_shared_hold_that_never_ends_is_one_line_not_a_wait_for_ever(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    root = _archive(tmp_path / "a")
    monkeypatch.setattr(compact, "CHECK_WAIT_S", 0.3)
    release = threading.Event()  # held until the compaction gave up, however slow the machine
    thread = _held_by_a_check(root, 60.0, release)
    assert main([*COMPACT, str(root)]) == 2
    release.set()
    out, err = capsys.readouterr()
    thread.join()
    assert out == ""
    assert err == (f"twin: error: the archive's lock on {root} has been held for 0.3 s by processes that "
                   "only read it (`twin archive check`, or another program's shared flock); try again\n")


_HOLD = ("import fcntl, os, sys, time\n"
         "fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX if sys.argv[2] == 'ex' else fcntl.LOCK_SH)\n"
         "print('held', flush=True)\n"
         "time.sleep(120)\n")


@contextlib.contextmanager
def _held_by_a_process(root: Path, *argv: str) -> Iterator[int]:
    """Another process holding the archive's lock (``ex``: exclusively, ``sh``: shared); its pid."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(root), *argv], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_another_program_holding_the_lock_exclusively_is_named_not_called_a_compaction(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 30: any program may flock the archive's folder exclusively (a reader, a backup script);
    the compaction said another compaction ran, and the user looked for one. Now one line names the
    process (the writer never waits for this lock, and a compaction never waits for an exclusive one)."""
    root = _archive(tmp_path / "a")
    view = query(root, VIEW)
    with _held_by_a_process(root, "ex") as pid:
        assert main([*COMPACT, str(root)]) == 2
        out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    assert err.startswith(f"twin: error: process {pid} ({sys.executable} -c import fcntl"), err
    assert err.endswith(f"holds the archive's lock on {root} exclusively (an flock on the folder, which only "
                        "`twin archive compact` should take): no compaction can run while it does; end that "
                        "process, then compact again\n"), err
    assert query(root, VIEW) == view
    assert main([*COMPACT, str(root)]) == 0  # released: compacts
    assert capsys.readouterr().out.splitlines()[-1] == f"archive {root}: 2 date folders compacted"


def test_a_running_compaction_is_named_by_its_process(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _archive(tmp_path / "a")
    with _held_by_a_process(root, "ex", "archive", "compact") as pid:  # as `twin archive compact`'s argv
        assert main([*COMPACT, str(root)]) == 2
        err = capsys.readouterr().err
    assert err == (f"twin: error: another `twin archive compact` (process {pid}) is compacting {root} (it "
                   "holds the archive's lock); wait for it to end\n")


def test_a_shared_hold_that_never_ends_names_its_holder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    root = _archive(tmp_path / "a")
    monkeypatch.setattr(compact, "CHECK_WAIT_S", 0.3)
    with _held_by_a_process(root, "sh") as pid:
        assert main([*COMPACT, str(root)]) == 2
        err = capsys.readouterr().err
    assert err.startswith(f"twin: error: the archive's lock on {root} has been held for 0.3 s by processes "
                          "that only read it (`twin archive check`, or another program's shared flock: "
                          f"process {pid} ({sys.executable} -c import fcntl"), err
    assert err.endswith("); try again\n") and err.count("\n") == 1, err


def test_a_compaction_stopped_by_a_signal_says_what_it_merged_before_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 30: Ctrl-C or SIGTERM while it merged said only ``twin: interrupted`` (exit 130), though the
    date folders merged before it were complete; now their lines, as a compaction that ended, and how
    many are left as they were. The rows are as before either way, and compacting again finishes."""
    root = _archive(tmp_path / "a")
    view = query(root, VIEW)
    merge = compact.compact_date
    calls = []

    def signalled_at_the_second(*args: object) -> compact.Compacted:
        calls.append(args)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # main's StopOnce: KeyboardInterrupt, here
        return merge(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(compact, "compact_date", signalled_at_the_second)
    # a suite run as a background job has SIGINT ignored, which main's StopOnce keeps (round 31: the
    # compaction then went on, exit 0): the signal's default handler, as test_sql_sandbox's Ctrl-C test
    with sigint_interrupts():
        assert main([*COMPACT, str(root)]) == 130
    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith("features 2026-01-01: "), out  # main: "" (nothing said)
    assert out.splitlines()[-1] == f"archive {root}: 1 date folder compacted", out
    assert err == "twin: interrupted; 1 date folder not compacted (left as it was): compact again to finish\n"
    assert query(root, VIEW) == view
    monkeypatch.setattr(compact, "compact_date", merge)
    assert main([*COMPACT, str(root)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"archive {root}: 1 date folder compacted"
    assert query(root, VIEW) == view
